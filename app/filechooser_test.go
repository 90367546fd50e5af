package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// chooserTree is a folder holding photos/ (a.png, b.txt), .hidden/ and
// notes.txt.
func chooserTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"photos", ".hidden"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"photos/a.png", "photos/b.txt", "notes.txt", ".hidden/secret.png"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func chooserNames(c *fileChooser) []string {
	var out []string
	for _, it := range c.items {
		if it.folder {
			out = append(out, it.name+"/")
		} else {
			out = append(out, it.name)
		}
	}
	return out
}

// TestFileChooserPathBox (issue 14): the file chooser has a box to type a
// path: Enter on a folder lists it, on a file chooses it; a path that
// leads nowhere, or to the wrong kind of thing, says so and chooses
// nothing.
func TestFileChooserPathBox(t *testing.T) {
	test.NewTempApp(t)
	w := test.NewWindow(nil)
	defer w.Close()
	w.Resize(fyne.NewSize(600, 480))
	root := chooserTree(t)
	var chosen []string
	c := pickFile(w, "Send a file", "Send", root, nil, func(p string) { chosen = append(chosen, p) })
	if w.Canvas().Focused() != c.path || c.path.Text != root {
		t.Fatalf("the path box shows %q, focused %v", c.path.Text, w.Canvas().Focused() == c.path)
	}
	if got := chooserNames(c); !slices.Equal(got, []string{"photos/", "notes.txt"}) {
		t.Fatalf("listed %q", got)
	}
	for _, tc := range []struct {
		typed   string
		problem string // "" when it works
		dir     string // the folder listed after
		chosen  string
	}{
		{"photos", "", filepath.Join(root, "photos"), ""},
		{"nowhere/x.png", "There is no file or folder at " + filepath.Join(root, "photos", "nowhere", "x.png") + ".", filepath.Join(root, "photos"), ""},
		{filepath.Join(root, ".hidden"), "", filepath.Join(root, ".hidden"), ""},
		{filepath.Join(root, "notes.txt"), "", filepath.Join(root, ".hidden"), filepath.Join(root, "notes.txt")},
	} {
		chosen = nil
		c.dlg.Show()
		c.path.SetText("")
		test.Type(c.path, tc.typed)
		c.path.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
		shown := ""
		if c.problem.Visible() {
			shown = c.problem.Text
		}
		if shown != tc.problem || c.dir != tc.dir || (tc.chosen == "") != (len(chosen) == 0) ||
			(tc.chosen != "" && chosen[0] != tc.chosen) {
			t.Errorf("typed %q: problem %q, listing %q, chosen %q; want %q, %q, %q",
				tc.typed, shown, c.dir, chosen, tc.problem, tc.dir, tc.chosen)
		}
	}

	// Only pictures: other files are not listed, and typed they are refused.
	chosen = nil
	c = pickFile(w, "Display picture", "Open", filepath.Join(root, "photos"), []string{".png", ".jpg"},
		func(p string) { chosen = append(chosen, p) })
	if got := chooserNames(c); !slices.Equal(got, []string{"a.png"}) {
		t.Fatalf("pictures listed %q", got)
	}
	c.path.SetText("b.txt")
	test.Tap(c.choose)
	if len(chosen) != 0 || !c.problem.Visible() || !strings.Contains(c.problem.Text, "not a kind of file") {
		t.Fatalf("a text file as a picture: chosen %q, problem %q", chosen, c.problem.Text)
	}
	// A click on a file selects it; the button chooses it.
	c.list.Select(0)
	test.Tap(c.choose)
	if !slices.Equal(chosen, []string{filepath.Join(root, "photos", "a.png")}) {
		t.Fatalf("chosen %q", chosen)
	}
}

// TestFolderChooserPathBox: the folder chooser lists folders only; Enter
// on a folder goes there, the button chooses the folder typed or listed,
// and a file typed is refused in words.
func TestFolderChooserPathBox(t *testing.T) {
	test.NewTempApp(t)
	w := test.NewWindow(nil)
	defer w.Close()
	w.Resize(fyne.NewSize(600, 480))
	root := chooserTree(t)
	var chosen []string
	c := pickFolder(w, "Save received files in", root, func(p string) { chosen = append(chosen, p) })
	if got := chooserNames(c); !slices.Equal(got, []string{"photos/"}) {
		t.Fatalf("listed %q", got)
	}
	test.Type(c.path, "/photos")
	c.path.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if c.dir != filepath.Join(root, "photos") || len(chosen) != 0 {
		t.Fatalf("Enter on a folder: listing %q, chosen %q", c.dir, chosen)
	}
	c.path.SetText(filepath.Join(root, "notes.txt"))
	test.Tap(c.choose)
	if len(chosen) != 0 || c.problem.Text != filepath.Join(root, "notes.txt")+" is a file: choose a folder." {
		t.Fatalf("a file as a folder: chosen %q, problem %q", chosen, c.problem.Text)
	}
	c.path.SetText(filepath.Join(root, "photos"))
	test.Tap(c.choose)
	if !slices.Equal(chosen, []string{filepath.Join(root, "photos")}) {
		t.Fatalf("chosen %q", chosen)
	}
}

// TestChoosersHavePathBox: every chooser the app opens — send a file,
// stream a file, a display picture, the folder for received files — is
// the one with the path box.
func TestChoosersHavePathBox(t *testing.T) {
	a, _ := signedIn(t)
	a.openChat("bob")
	chat := a.chats["bob"]
	chat.win.Resize(fyne.NewSize(600, 480))
	test.Tap(a.main.avatar)
	picker := a.main.picker
	a.showOptions()
	settings := a.settings
	for _, tc := range []struct {
		name string
		win  fyne.Window
		open func()
	}{
		{"Send a file", chat.win, func() { test.Tap(chat.sendFile) }},
		{"Stream a file", chat.win, func() { test.Tap(chat.liveBtn) }},
		{"Display picture", picker.win, func() { test.Tap(picker.browse) }},
		{"Received files", settings.win, func() { test.Tap(settings.chooseFolder) }},
	} {
		tc.open()
		top := tc.win.Canvas().Overlays().Top()
		found := false
		if top != nil {
			for _, o := range test.LaidOutObjects(top) {
				if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == "Type a path and press Enter" && e.Visible() {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: the chooser has no box to type a path", tc.name)
		}
		if top != nil {
			tc.win.Canvas().Overlays().Remove(top)
		}
	}
}
