package app

import (
	"encoding/json"
	"io/fs"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"
)

// pseudoCode is the language tag the pseudo-locale registers as: Esperanto,
// which EServer does not ship, so nothing real is shadowed.
const pseudoCode = "eo"

// accented maps ASCII letters to accented look-alikes, so a string that
// skipped the catalogue stands out in plain ASCII on screen, and fonts are
// asked for the diacritics real languages need.
var accented = strings.NewReplacer(
	"a", "á", "e", "é", "i", "î", "o", "ö", "u", "ü", "c", "ç", "n", "ñ", "s", "š", "y", "ý", "z", "ž",
	"A", "Å", "E", "É", "I", "Î", "O", "Ö", "U", "Ü", "C", "Ç", "N", "Ñ", "S", "Š", "Y", "Ý", "Z", "Ž",
)

// pseudo is s as the pseudo-locale writes it: letters accented, template
// fields kept, 40 % longer (German and Portuguese run 30–40 % over
// English), bracketed so a cut end shows: "[Šîĝñ îñ···]".
func pseudo(s string) string {
	var b strings.Builder
	rest := s
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(accented.Replace(rest))
			break
		}
		b.WriteString(accented.Replace(rest[:i]))
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			b.WriteString(rest[i:])
			break
		}
		b.WriteString(rest[i : i+j+2])
		rest = rest[i+j+2:]
	}
	out := b.String()
	n := utf8.RuneCountInString(placeholder.ReplaceAllString(s, "xxxx"))
	pad := max(int(math.Ceil(0.4*float64(n)))-2, 0)
	return "[" + out + strings.Repeat("·", pad) + "]"
}

// usePseudoLocale registers a pseudo-translation of every English string
// and switches the app to it for the test.
func usePseudoLocale(t *testing.T) {
	t.Helper()
	names, err := fs.Glob(translations, "translations/*.en.json")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]any{}
	for _, name := range names {
		data, err := fs.ReadFile(translations, name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for k, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				all[k] = pseudo(s)
				continue
			}
			var forms map[string]string
			if err := json.Unmarshal(raw, &forms); err != nil {
				t.Fatalf("%s: %q: %v", name, k, err)
			}
			p := map[string]string{}
			for f, v := range forms {
				p[f] = pseudo(v)
			}
			all[k] = p
		}
	}
	data, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	if err := lang.AddTranslationsForLocale(data, fyne.Locale(pseudoCode)); err != nil {
		t.Fatal(err)
	}
	useLanguageForTest(t, pseudoCode)
	if got := lang.L("Today"); got != pseudo("Today") {
		t.Fatalf("the pseudo-locale is not in use: %q", got)
	}
}

func TestPseudo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sign in", "[Šîgñ îñ·]"},
		{"{{.Name}} is offline", "[{{.Name}} îš öfflîñé····]"},
		{"OK", "[ÖK]"},
	}
	for _, tt := range tests {
		if got := pseudo(tt.in); got != tt.want {
			t.Errorf("pseudo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fits fails t when w's content needs more room than size: a label that
// cannot wrap or cut itself grows its container's minimum past the window,
// and the end of the text (or a neighbour) is lost off the edge.
func fits(t *testing.T, name string, w fyne.Window, size fyne.Size) {
	t.Helper()
	w.Resize(size)
	min := w.Content().MinSize()
	if min.Width > size.Width || min.Height > size.Height {
		t.Errorf("%s needs %.0f×%.0f in its %.0f×%.0f window: something is cut off", name, min.Width, min.Height, size.Width, size.Height)
	}
}

// TestPseudoLocaleFits (issue 23): every main window, with every string 40 %
// longer and accented, still fits the size the app gives it.
func TestPseudoLocaleFits(t *testing.T) {
	usePseudoLocale(t)
	a, _ := signedInRender(t, themeLight)
	fits(t, "the contact list", a.main.win, fyne.NewSize(360, 620))
	c := a.chat("bob")
	c.show(false)
	fits(t, "a conversation", c.win, fyne.NewSize(600, 480))
	a.showOptions()
	for i, tab := range a.settings.tabs.Items {
		a.settings.tabs.SelectIndex(i)
		fits(t, "Options, "+tab.Text, a.settings.win, fyne.NewSize(640, 520))
	}

	a.showHistory()
	fits(t, "the message history", a.history.win, fyne.NewSize(560, 520))
	// Help's windows take the height they need at a fixed width.
	for _, h := range []struct {
		name  string
		show  func()
		width float32
	}{
		{"About", a.showAbout, 380},
		{"Where is my profile?", a.showProfileDir, 420},
		// Sized to its table, so only held under a small screen's width.
		{"Keyboard shortcuts", a.showShortcuts, 720},
	} {
		h.show()
		w := a.help.win
		fits(t, h.name, w, fyne.NewSize(h.width, w.Content().MinSize().Height))
	}

	s, _ := renderApp(t, themeLight)
	fits(t, "the sign-in window", s.signIn.win, signInSize)
	roomsFit(t)
}

// TestToolbarDropsWords: the conversation's buttons keep their words while
// they fit, drop them from the last button on in a window too narrow for
// them all (keeping their icons), and get them back when it widens.
func TestToolbarDropsWords(t *testing.T) {
	const all, some, none = "all", "some", "none" // none: only below the window's own minimum
	tests := []struct {
		name   string
		pseudo bool
		width  float32
		words  string
	}{
		{"English at 600", false, 600, all},
		{"pseudo-locale at 600", true, 600, some},
		{"pseudo-locale at 1000", true, 1000, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pseudo {
				usePseudoLocale(t)
			}
			a, _ := signedInRender(t, themeLight)
			c := a.chat("bob")
			c.show(false)
			c.win.Resize(fyne.NewSize(tt.width, 480))
			buttons := []*widget.Button{c.nudgeBtn, c.sendFile, c.liveBtn, c.inviteBtn}
			worded, dropped := 0, false
			for _, b := range buttons {
				if b.Icon == nil {
					t.Errorf("button %q lost its icon", b.Text)
				}
				switch {
				case b.Text == "":
					dropped = true
				case dropped:
					t.Errorf("button %q keeps its words after one to its left dropped them", b.Text)
				default:
					worded++
				}
			}
			got := some
			switch worded {
			case len(buttons):
				got = all
			case 0:
				got = none
			}
			if got != tt.words {
				t.Errorf("%d of %d buttons show words (%s), want %s", worded, len(buttons), got, tt.words)
			}
			if min := c.win.Content().MinSize().Width; min > tt.width {
				t.Errorf("the window needs %.0f of its %.0f", min, tt.width)
			}
		})
	}
}

// overlayFits fails t when the topmost dialog of w needs more width than
// the app gives it: the dialog would grow past its width, over a narrow
// window's edges.
func overlayFits(t *testing.T, name string, w fyne.Window, width float32) {
	t.Helper()
	top := w.Canvas().Overlays().Top()
	if top == nil {
		t.Errorf("%s: no dialog open", name)
		return
	}
	pop, ok := top.(*widget.PopUp)
	if !ok {
		t.Errorf("%s: the overlay is a %T", name, top)
		return
	}
	if min := pop.Content.MinSize().Width; min > width {
		t.Errorf("%s needs %.0f of its %.0f", name, min, width)
	}
	w.Canvas().Overlays().Remove(top)
}

// TestPseudoLocaleDialogsFit (issue 23): the dialogs and small windows,
// with every string 40 % longer, keep the widths the app gives them.
func TestPseudoLocaleDialogsFit(t *testing.T) {
	usePseudoLocale(t)
	s, _ := renderApp(t, themeLight)
	s.showSignUp()
	overlayFits(t, "Sign up", s.signIn.win, signUpWidth)

	a, _ := signedInRender(t, themeLight)
	a.showAddContact()
	overlayFits(t, "Add a contact", a.main.win, 340)
	a.showProfile("bob")
	fits(t, "a contact's profile", a.main.profile.win, fyne.NewSize(400, a.main.profile.win.Content().MinSize().Height))
	a.showAvatarPicker()
	fits(t, "the picture picker", a.main.picker.win, fyne.NewSize(560, 600))
	a.showChangePassword()
	overlayFits(t, "Change password", a.main.win, 420)
	c := a.chat("bob")
	c.show(false)
	c.showSafety()
	overlayFits(t, "Verify", c.win, safetyWidth)
	roomDialogsFit(t)
}
