package app

import (
	"path/filepath"
	"runtime"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// helpMenu is the contact list's Help menu, as MSN's: what this program
// is and which version, where the profile lives, and the keys it knows.
// Each item opens a small window of its own: the contact list is too
// narrow for them as dialogs.
type helpMenu struct {
	menu        *fyne.Menu
	win         fyne.Window    // the last window an item opened, for tests
	openProfile *widget.Button // in the last "Where is my profile?" window
}

// about is the line About says on what EServer is.
func about() string {
	return lang.L("EServer is an open, peer-to-peer instant messenger in the spirit of Windows Live Messenger. Your messages go straight to your contacts' computers, end-to-end encrypted; when a contact is offline they wait, still encrypted, in a mailbox on the network until the contact signs in.")
}

// newHelpMenu makes the Help menu (a.help).
func (a *App) newHelpMenu() *helpMenu {
	h := &helpMenu{}
	a.help = h
	h.menu = fyne.NewMenu(lang.L("Help"),
		fyne.NewMenuItem(lang.L("Keyboard shortcuts"), a.showShortcuts),
		fyne.NewMenuItem(lang.L("Where is my profile?"), a.showProfileDir),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(lang.L("About EServer"), a.showAbout),
	)
	return h
}

// version is what About says of the version: the one the binary was built
// with (main sets it from the Makefile's ldflags).
func (a *App) version() string {
	if a.opts.Version != "" {
		return lang.L("Version {{.Version}}", map[string]any{"Version": a.opts.Version})
	}
	return lang.L("Development build")
}

func (a *App) showAbout() {
	logo := canvas.NewImageFromResource(iconResource)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSquareSize(64))
	name := widget.NewLabelWithStyle("EServer Messenger", fyne.TextAlignCenter, fyne.TextStyle{Bold: true}) // not translated: the program's name
	name.SizeName = theme.SizeNameSubHeadingText
	ver := widget.NewLabelWithStyle(a.version(), fyne.TextAlignCenter, fyne.TextStyle{})
	what := widget.NewLabel(about())
	what.Wrapping = fyne.TextWrapWord
	a.showHelpWindow(lang.L("About EServer"), 380, container.NewVBox(container.NewCenter(logo), name, ver, what))
}

// showHelpWindow opens a window of the Help menu, width wide, with a Close
// button under content.
func (a *App) showHelpWindow(title string, width float32, content fyne.CanvasObject) {
	w := a.fyne.NewWindow(a.title(title))
	closeBtn := widget.NewButton(lang.L("Close"), w.Close)
	w.SetContent(container.NewPadded(container.NewVBox(content, container.NewCenter(closeBtn))))
	w.Resize(fyne.NewSize(width, 0))
	w.SetIcon(iconResource)
	a.help.win = w
	w.Show()
}

// showProfileDir says where the profile lives — the account's history and
// keys, the received pictures, this program's settings — with a button
// that opens the folder.
func (a *App) showProfileDir() {
	dir := a.opts.ProfileDir
	path := widget.NewLabel(dir)
	path.Wrapping = fyne.TextWrapBreak
	path.TextStyle = fyne.TextStyle{Monospace: true}
	text := widget.NewLabel(lang.L("Your profile folder holds your accounts' message history and keys, the display pictures you received and EServer's settings for this profile. Keep it private; copy it to keep a backup."))
	text.Wrapping = fyne.TextWrapWord
	var win fyne.Window
	a.help.openProfile = widget.NewButtonWithIcon(lang.L("Open folder"), theme.FolderOpenIcon(), func() {
		// openPath shows the folder holding a file: the settings file is
		// in the profile folder.
		a.openPath(win, filepath.Join(dir, PrefsFile), true)
	})
	if dir == "" {
		path.SetText(lang.L("(not known: this copy of EServer was started without a profile folder)"))
		a.help.openProfile.Disable()
	}
	content := container.NewVBox(text, path, container.NewHBox(a.help.openProfile))
	a.showHelpWindow(lang.L("Where is my profile?"), 420, content)
	win = a.help.win
}

// shortcut is one line of the keyboard shortcuts: the keys and what they do.
type shortcut struct{ keys, what string }

// shortcuts are the keys the app knows, by window. The conversation's come
// from the shortcuts its windows register, so the list cannot drift.
func shortcuts() []struct {
	window string
	keys   []shortcut
} {
	enter, escape := enterKey(), lang.L("Escape")
	return []struct {
		window string
		keys   []shortcut
	}{
		{lang.L("In a conversation"), []shortcut{
			{enter, lang.L("Send the message")},
			{shiftKey() + "+" + enter, lang.L("Start a new line")},
			{shortcutText(nudgeShortcut), lang.L("Send a nudge")},
			{shortcutText(acceptShortcut), lang.L("Accept the newest file offered")},
			{shortcutText(declineShortcut), lang.L("Decline the newest file offered")},
		}},
		{lang.L("In the contact list"), []shortcut{
			{enter, lang.L("In the search box: talk to the first contact found")},
			{escape, lang.L("In the search box: clear the search")},
			{enter + ", " + escape, lang.L("Editing your name or message: keep it, give up")},
		}},
		{lang.L("Signing in"), []shortcut{
			{enter, lang.L("In Username: go to the password; in Password: sign in")},
		}},
	}
}

// Keys named as the keyboards of the language in use label them: Strg
// and Umschalt on a German one, Mayús and Intro on a Spanish one.
func enterKey() string { return lang.L("Enter") }
func shiftKey() string { return lang.L("Shift") }

func (a *App) showShortcuts() {
	grid := container.New(layout.NewFormLayout())
	for _, w := range shortcuts() {
		grid.Add(widget.NewLabelWithStyle(w.window, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		grid.Add(layout.NewSpacer())
		for _, s := range w.keys {
			grid.Add(widget.NewLabelWithStyle(s.keys, fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true}))
			grid.Add(widget.NewLabel(s.what))
		}
	}
	anywhere := widget.NewLabel(lang.L("Typing anywhere in a conversation window writes the message."))
	anywhere.Importance = widget.LowImportance
	a.showHelpWindow(lang.L("Keyboard shortcuts"), 0, container.NewVBox(grid, anywhere))
}

// shortcutText writes s as people read it: "Ctrl+G", "Alt+C".
func shortcutText(s *desktop.CustomShortcut) string {
	var parts []string
	for _, m := range []struct {
		mod  fyne.KeyModifier
		name string
	}{
		{fyne.KeyModifierControl, lang.L("Ctrl")},
		{fyne.KeyModifierAlt, "Alt"}, // not translated: the key is Alt on every keyboard
		{fyne.KeyModifierShift, shiftKey()},
		{fyne.KeyModifierSuper, superName()},
	} {
		if s.Modifier&m.mod != 0 {
			parts = append(parts, m.name)
		}
	}
	return strings.Join(append(parts, string(s.KeyName)), "+")
}

// superName is what the Super key is called where the app runs: Cmd on a
// Mac, where it is the shortcut key.
func superName() string {
	if runtime.GOOS == "darwin" {
		return "Cmd" // not translated: a key's name
	}
	return "Super" // not translated: a key's name
}
