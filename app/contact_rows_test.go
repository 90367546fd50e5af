package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// contactRows are the contact rows the list has laid out, by username.
func contactRows(t *testing.T, a *App) map[string]*contactRow {
	t.Helper()
	shownRows(t, a) // sizes the window so every row is laid out
	rows := map[string]*contactRow{}
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.Visible() && r.body.Visible() && r.Size().Height > 0 {
			rows[r.row.contact.Username] = r
		}
	}
	return rows
}

// headerRow is a laid-out section header.
func headerRow(t *testing.T, a *App) *contactRow {
	t.Helper()
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.Visible() && r.head.Visible() && r.Size().Height > 0 {
			return r
		}
	}
	t.Fatal("no header laid out")
	return nil
}

// TestRowStatusWords: beside the dot, a row says in words what the colour
// only hints at — Busy, Away, On the phone... — as Windows Live Messenger
// did ("Bob (Busy)"); Available needs no words, and an offline contact
// says so only where it is listed among online ones, in its group.
func TestRowStatusWords(t *testing.T) {
	a, _ := grouped(t)
	want := []string{
		"Friends (2/3)", "Carol from school (Away) - carol's mood", "Dave - dave's mood", "Bob (Offline) - bob's mood",
		"Work (1/1)", "Erin (Busy) - erin's mood",
		"Online (1)", "Frank - Learning Go",
		"Offline (1)", "Grace - grace's mood",
	}
	if got := shownRows(t, a); !slices.Equal(got, want) {
		t.Fatalf("list shows\n%q\nwant\n%q", got, want)
	}
	tests := []struct {
		status api.Status
		want   string
	}{
		{api.StatusOnline, "Frank - Learning Go"},
		{api.StatusBusy, "Frank (Busy) - Learning Go"},
		{api.StatusAway, "Frank (Away) - Learning Go"},
		{api.StatusBRB, "Frank (Be right back) - Learning Go"},
		{api.StatusPhone, "Frank (On the phone) - Learning Go"},
		{api.StatusLunch, "Frank (Out to lunch) - Learning Go"},
	}
	for _, tt := range tests {
		frank := a.contacts["frank"]
		frank.Status = tt.status
		a.apply(api.Event{Contact: &frank})
		if got := contactRows(t, a)["frank"].text.String(); got != tt.want {
			t.Errorf("%s: row %q, want %q", tt.status, got, tt.want)
		}
	}
	// A contact who appears offline is shown to us as Offline, never as
	// hiding; in a group that says "(Offline)", as for Bob above.
	dave := a.contacts["dave"]
	dave.Status = api.StatusInvisible
	a.apply(api.Event{Contact: &dave})
	if got := contactRows(t, a)["dave"].text.String(); got != "Dave (Offline) - dave's mood" {
		t.Errorf("invisible dave: %q", got)
	}
}

// setPictures chooses the contact list's pictures in Options, as a user
// does.
func setPictures(t *testing.T, a *App, label string) {
	t.Helper()
	a.showOptions()
	a.settings.pictures.SetSelected(label)
	a.settings.win.Hide()
}

// TestContactPictureModes: contacts' display pictures show small beside
// their names by default, large on two lines, or not at all, as chosen in
// Options; the choice is the profile's and is kept. Rows stay aligned and
// only as tall as they need: with small pictures or none, as tall as a
// header.
func TestContactPictureModes(t *testing.T) {
	a, _ := grouped(t)
	pic := filepath.Join(t.TempDir(), "dog.png")
	if err := os.WriteFile(pic, assets.Pictures[1].PNG, 0o600); err != nil {
		t.Fatal(err)
	}
	frank := a.contacts["frank"]
	frank.AvatarPath = pic
	a.apply(api.Event{Contact: &frank})

	if a.pictureMode() != picturesSmall {
		t.Fatalf("default mode %q, want small", a.pictureMode())
	}
	tests := []struct {
		label    string
		mode     pictureMode
		pic      float32 // the picture's side; 0 for hidden
		taller   bool    // contact rows taller than headers
		twoLines bool
	}{
		{"Small", picturesSmall, smallPicture, false, false},
		{"None", picturesNone, 0, false, false},
		{"Large", picturesLarge, largePicture, true, true},
		{"Small", picturesSmall, smallPicture, false, false},
	}
	for _, tt := range tests {
		setPictures(t, a, tt.label)
		if got := a.pictureMode(); got != tt.mode {
			t.Errorf("%s: mode %q", tt.label, got)
		}
		rows := contactRows(t, a)
		head := headerRow(t, a)
		var textX float32 = -1
		for name, r := range rows {
			if tt.pic == 0 {
				if r.pic.Visible() {
					t.Errorf("%s: %s shows a picture", tt.label, name)
				}
			} else if !r.pic.Visible() || r.pic.Size() != fyne.NewSquareSize(tt.pic) {
				t.Errorf("%s: %s's picture visible %v, size %v", tt.label, name, r.pic.Visible(), r.pic.Size())
			}
			if h, hh := r.Size().Height, head.Size().Height; tt.taller != (h > hh) || (!tt.taller && h != hh) {
				t.Errorf("%s: %s's row %v high, a header %v", tt.label, name, h, hh)
			}
			// Everything stays inside its row.
			for _, o := range []fyne.CanvasObject{r.glyph, r.pic} {
				if o.Visible() && (o.Position().Y < 0 || o.Position().Y+o.Size().Height > r.Size().Height+0.5) {
					t.Errorf("%s: %s's %T at y %v..%v outside a row %v high", tt.label, name, o, o.Position().Y, o.Position().Y+o.Size().Height, r.Size().Height)
				}
			}
			if tt.pic > 0 && r.pic.Position().X < r.glyph.Position().X+r.glyph.Size().Width {
				t.Errorf("%s: %s's picture overlaps the dot", tt.label, name)
			}
			// Names start at the same x in every row.
			if textX >= 0 && r.text.Position().X != textX {
				t.Errorf("%s: %s's text at x %v, another's at %v", tt.label, name, r.text.Position().X, textX)
			}
			textX = r.text.Position().X
			if r.second.Visible() != tt.twoLines {
				t.Errorf("%s: %s's second line visible %v", tt.label, name, r.second.Visible())
			}
		}
		if tt.pic > 0 && rows["frank"].pic.img.File != pic {
			t.Errorf("%s: frank's picture %q, want %q", tt.label, rows["frank"].pic.img.File, pic)
		}
		if tt.pic > 0 && rows["bob"].pic.img.Resource != avatarResource {
			t.Errorf("%s: bob, who has none, does not show the default picture", tt.label)
		}
		if tt.twoLines && rows["frank"].text.String() != "Frank" || tt.twoLines && rows["frank"].second.String() != "Learning Go" {
			t.Errorf("%s: frank's lines %q / %q", tt.label, rows["frank"].text.String(), rows["frank"].second.String())
		}
	}
	// With none, a row is as tall as before pictures came: the text's
	// line and no more.
	setPictures(t, a, "None")
	r := contactRows(t, a)["frank"]
	_, above, below := rowInsets()
	if want := r.text.MinSize().Height - above - below; r.Size().Height != want {
		t.Errorf("none: row %v high, want %v", r.Size().Height, want)
	}
	// The choice is kept for the next run.
	again := New(a.fyne, newFakeAPI(), a.opts)
	if again.pictureMode() != picturesNone {
		t.Errorf("after a restart the mode is %q", again.pictureMode())
	}
}

// emoticonImages counts the emoticon pictures drawn in o.
func emoticonImages(o fyne.CanvasObject) int {
	isEmoticon := map[fyne.Resource]bool{}
	for _, r := range emoticonResources {
		isEmoticon[r] = true
	}
	n := 0
	for _, o := range test.LaidOutObjects(o) {
		if img, ok := o.(*canvas.Image); ok && o.Visible() && img.Resource != nil && isEmoticon[img.Resource] {
			n++
		}
	}
	return n
}

// TestEmoticonsInNames: emoticons in nicks and personal messages show as
// pictures, as in the conversation: in the contact list's rows, our own
// name at its top and a conversation's header.
func TestEmoticonsInNames(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	bob.Nick, bob.Subnick = "Bob :)", "beach (y) (y)"
	a.apply(api.Event{Contact: &bob})
	acc := *a.account
	acc.Nick, acc.Subnick = "Alice <3", "sunny :D"
	a.apply(api.Event{Account: &acc})

	for _, mode := range []string{"Small", "Large", "None"} {
		setPictures(t, a, mode)
		r := contactRows(t, a)["bob"]
		if n := emoticonImages(r); n != 3 {
			t.Errorf("%s: bob's row shows %d emoticons, want 3", mode, n)
		}
	}
	if n := emoticonImages(a.main.nick); n != 1 {
		t.Errorf("our nick shows %d emoticons, want 1", n)
	}
	if n := emoticonImages(a.main.subnick); n != 1 {
		t.Errorf("our personal message shows %d emoticons, want 1", n)
	}
	// The codes stay the text: editing starts from them.
	if a.main.nick.label.Text != "Alice <3" {
		t.Errorf("nick label %q", a.main.nick.label.Text)
	}

	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	if n := emoticonImages(c.nick); n != 1 {
		t.Errorf("the conversation's header shows %d emoticons in the nick, want 1", n)
	}
	if n := emoticonImages(c.subnick); n != 2 {
		t.Errorf("the conversation's header shows %d emoticons in the personal message, want 2", n)
	}
	if c.nick.Text != "Bob :)" || c.subnick.Text != "beach (y) (y)" {
		t.Errorf("header %q %q", c.nick.Text, c.subnick.Text)
	}
}

// TestEmoticonLineLikeLabel: a line with emoticons is as tall as a label
// and puts its text where a label does, so it lines up beside labels; cut
// short it ends in "…" within its width.
func TestEmoticonLineLikeLabel(t *testing.T) {
	test.NewTempApp(t)
	for _, size := range []fyne.ThemeSizeName{"", "subHeadingText"} {
		l := newEmoticonLabel("hello :) there")
		l.SizeName = size
		l.Refresh()
		ref := widget.NewLabel("hello there")
		ref.SizeName = size
		if l.MinSize().Height != ref.MinSize().Height {
			t.Errorf("size %q: height %v, a label's %v", size, l.MinSize().Height, ref.MinSize().Height)
		}
	}
	l := newEmoticonLine(lineSegment{Text: "Bob (Busy)"}, lineSegment{Text: " - a long personal message (y) with words", ColorName: "placeholder"})
	l.Truncation = fyne.TextTruncateEllipsis
	w := test.NewWindow(l)
	defer w.Close()
	w.SetPadded(false)
	w.Resize(fyne.NewSize(150, 40))
	var last *canvas.Text
	for _, o := range test.WidgetRenderer(l).Objects() {
		if o.Position().X+o.Size().Width > 150 {
			t.Errorf("%T at %v wide %v runs past 150", o, o.Position().X, o.Size().Width)
		}
		if txt, ok := o.(*canvas.Text); ok {
			last = txt
		}
	}
	if last == nil || []rune(last.Text)[len([]rune(last.Text))-1] != '…' {
		t.Errorf("cut line ends %+v, want …", last)
	}
}
