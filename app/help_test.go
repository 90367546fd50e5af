package app

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// theHelpMenu is the contact list's Help menu, failing the test without one.
func theHelpMenu(t *testing.T, a *App) *fyne.Menu {
	t.Helper()
	mm := a.main.win.MainMenu()
	if mm == nil {
		t.Fatal("the contact list has no menu bar")
	}
	for _, m := range mm.Items {
		if m.Label == "Help" {
			return m
		}
	}
	t.Fatal("the contact list has no Help menu")
	return nil
}

// windowText is the text of w's labels, "" without a window.
func windowText(w fyne.Window) string {
	if w == nil {
		return ""
	}
	var parts []string
	for _, o := range test.LaidOutObjects(w.Content()) {
		switch o := o.(type) {
		case *widget.Label:
			parts = append(parts, o.Text)
		case *canvas.Text:
			parts = append(parts, o.Text)
		}
	}
	return strings.Join(parts, " ")
}

// TestHelpMenu: the contact list's Help menu has About (name, version,
// what EServer is), "Where is my profile?" (the profile folder, with a
// button that opens it) and the keyboard shortcuts the app really has.
func TestHelpMenu(t *testing.T) {
	a, fake := signedIn(t)
	dir := t.TempDir()
	a.opts.ProfileDir = dir
	a.opts.Version = "1.2.3 (abc1234)"

	tests := []struct {
		item string
		want []string
	}{
		{"About EServer", []string{"EServer", "Version 1.2.3 (abc1234)", "peer-to-peer"}},
		{"Where is my profile?", []string{dir, "settings"}},
		{"Keyboard shortcuts", []string{
			"Enter", "Shift+Enter", "Escape",
			// Every shortcut a conversation window registers is listed.
			shortcutText(nudgeShortcut), shortcutText(acceptShortcut), shortcutText(declineShortcut),
		}},
	}
	menu := theHelpMenu(t, a)
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			it := findMenuItem(menu, tt.item)
			if it == nil {
				t.Fatalf("no %q in the Help menu", tt.item)
			}
			it.Action()
			got := windowText(a.help.win)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q shows %q, want it to say %q", tt.item, got, w)
				}
			}
		})
	}
	for _, s := range []*desktop.CustomShortcut{nudgeShortcut, acceptShortcut, declineShortcut} {
		if txt := shortcutText(s); txt == "" || strings.Contains(txt, "+ ") {
			t.Errorf("shortcut %v written %q", s, txt)
		}
	}
	if got := shortcutText(acceptShortcut); got != "Alt+C" {
		t.Errorf("accept shortcut written %q, want Alt+C", got)
	}

	// The profile dialog's button opens the profile folder.
	findMenuItem(menu, "Where is my profile?").Action()
	var opened []string
	a.openURL = func(u *url.URL) error { opened = append(opened, u.Path); return nil }
	test.Tap(a.help.openProfile)
	if len(opened) != 1 || filepath.Clean(opened[0]) != filepath.Clean(dir) {
		t.Errorf("opened %v, want the profile folder %s (calls %v)", opened, dir, fake.Calls())
	}
}

// TestHelpProfileUnknown: without a profile folder (tests, an embedder)
// the dialog says so and offers nothing to open.
func TestHelpProfileUnknown(t *testing.T) {
	a, _ := signedIn(t)
	a.opts.ProfileDir = ""
	findMenuItem(theHelpMenu(t, a), "Where is my profile?").Action()
	if got := windowText(a.help.win); !strings.Contains(got, "not known") {
		t.Errorf("profile dialog says %q", got)
	}
	if !a.help.openProfile.Disabled() {
		t.Error("Open folder offered without a folder")
	}
}
