package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
)

// The app's two looks. The light one is the default: Windows Live
// Messenger's whites and sky blues, with dark blue-grey text that keeps
// ordinary labels well above 7:1 contrast. The dark one keeps the same blue
// accent for people who work at night. Fonts, icons and sizes stay Fyne's;
// only the colours are ours.
const (
	themeLight = "light"
	themeDark  = "dark"
)

// themeChoices are the Appearance choices, in order, with their labels in
// the language in use (so not a package variable, which would be English:
// it is set before the language is chosen).
func themeChoices() []struct{ name, label string } {
	return []struct{ name, label string }{
		{themeLight, lang.L("Messenger blue (light)")},
		{themeDark, lang.L("Dark")},
	}
}

// messengerTheme is a fyne.Theme with a fixed variant: the user picks light
// or dark in Options, independently of the desktop's setting, because the
// blue look is the app's identity.
type messengerTheme struct {
	name    string
	variant fyne.ThemeVariant
	colors  map[fyne.ThemeColorName]color.Color
}

var _ fyne.Theme = (*messengerTheme)(nil)

func rgb(hex uint32) color.NRGBA {
	return color.NRGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

func rgba(hex uint32, a uint8) color.NRGBA {
	c := rgb(hex)
	c.A = a
	return c
}

var lightColors = map[fyne.ThemeColorName]color.Color{
	theme.ColorNameBackground:          rgb(0xf3f7fc),
	theme.ColorNameForeground:          rgb(0x1a2b3c),
	theme.ColorNamePrimary:             rgb(0x1c6bc6),
	theme.ColorNameForegroundOnPrimary: rgb(0xffffff),
	theme.ColorNameButton:              rgb(0xe1ecf9),
	theme.ColorNameDisabledButton:      rgb(0xe8edf3),
	theme.ColorNameDisabled:            rgb(0x8a99ab),
	theme.ColorNameInputBackground:     rgb(0xffffff),
	theme.ColorNameInputBorder:         rgb(0x9dbde3),
	theme.ColorNamePlaceHolder:         rgb(0x687c92),
	theme.ColorNameHover:               rgba(0x5b9ee8, 0x2e),
	theme.ColorNamePressed:             rgba(0x1c6bc6, 0x40),
	theme.ColorNameFocus:               rgba(0x3a8ee6, 0x80),
	theme.ColorNameSelection:           rgba(0x5b9ee8, 0x55),
	theme.ColorNameSeparator:           rgb(0xc9dbef),
	theme.ColorNameScrollBar:           rgba(0x3a6fae, 0x99),
	theme.ColorNameShadow:              rgba(0x0a3c78, 0x30),
	theme.ColorNameHeaderBackground:    rgb(0xdceaf9),
	theme.ColorNameMenuBackground:      rgb(0xffffff),
	theme.ColorNameOverlayBackground:   rgb(0xffffff),
	theme.ColorNameHyperlink:           rgb(0x0b5cb5),
	theme.ColorNameSuccess:             rgb(0x2e8b37),
	theme.ColorNameWarning:             rgb(0xc77700),
	theme.ColorNameError:               rgb(0xc62828),
}

var darkColors = map[fyne.ThemeColorName]color.Color{
	theme.ColorNameBackground:          rgb(0x14202e),
	theme.ColorNameForeground:          rgb(0xe6eef7),
	theme.ColorNamePrimary:             rgb(0x4a9bf0),
	theme.ColorNameForegroundOnPrimary: rgb(0x0b1724),
	theme.ColorNameButton:              rgb(0x22344a),
	theme.ColorNameDisabledButton:      rgb(0x1c2a3a),
	theme.ColorNameDisabled:            rgb(0x6f8399),
	theme.ColorNameInputBackground:     rgb(0x1b2a3b),
	theme.ColorNameInputBorder:         rgb(0x3c5878),
	theme.ColorNamePlaceHolder:         rgb(0x8ea3ba),
	theme.ColorNameHover:               rgba(0x4a9bf0, 0x2e),
	theme.ColorNamePressed:             rgba(0x4a9bf0, 0x50),
	theme.ColorNameFocus:               rgba(0x4a9bf0, 0x90),
	theme.ColorNameSelection:           rgba(0x4a9bf0, 0x55),
	theme.ColorNameSeparator:           rgb(0x2a3d53),
	theme.ColorNameScrollBar:           rgba(0x8ea3ba, 0x99),
	theme.ColorNameShadow:              rgba(0x000000, 0x66),
	theme.ColorNameHeaderBackground:    rgb(0x1c2d40),
	theme.ColorNameMenuBackground:      rgb(0x1b2a3b),
	theme.ColorNameOverlayBackground:   rgb(0x1b2a3b),
	theme.ColorNameHyperlink:           rgb(0x7ab8ff),
	theme.ColorNameSuccess:             rgb(0x5cc46a),
	theme.ColorNameWarning:             rgb(0xf0a030),
	theme.ColorNameError:               rgb(0xff6b6b),
}

// newTheme is the theme called name; unknown names get the light one, so a
// preference written by a later version still starts the app.
func newTheme(name string) *messengerTheme {
	if name == themeDark {
		return &messengerTheme{name: themeDark, variant: theme.VariantDark, colors: darkColors}
	}
	return &messengerTheme{name: themeLight, variant: theme.VariantLight, colors: lightColors}
}

// Color ignores the desktop's variant: the user chose ours.
func (t *messengerTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	if c, ok := t.colors[n]; ok {
		return c
	}
	return theme.DefaultTheme().Color(n, t.variant)
}

func (t *messengerTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }
func (t *messengerTheme) Icon(n fyne.ThemeIconName) fyne.Resource {
	return theme.DefaultTheme().Icon(n)
}
func (t *messengerTheme) Size(n fyne.ThemeSizeName) float32 { return theme.DefaultTheme().Size(n) }

// prefTheme is the Preferences key of the chosen theme.
const prefTheme = "appearance.theme"

// themeName is the theme the user chose (light when never chosen).
func (a *App) themeName() string {
	return newTheme(a.prefs.String(prefTheme)).name
}

// setTheme applies the theme called name to every window at once and
// remembers it for the next start.
func (a *App) setTheme(name string) {
	t := newTheme(name)
	a.prefs.SetString(prefTheme, t.name)
	a.fyne.Settings().SetTheme(t)
}
