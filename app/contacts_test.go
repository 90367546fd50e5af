package app

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// selectStatus picks label from the status menu, as a click on it does.
func selectStatus(t *testing.T, a *App, label string) {
	t.Helper()
	test.Tap(a.main.status) // the menu pops up over the window
	for _, it := range a.statusMenu().Items {
		if it.Label == label {
			it.Action()
			return
		}
	}
	t.Fatalf("no %q in the status menu", label)
}

// shownRows is what the contact list draws, top to bottom: a header's
// text ("+" before a folded one) or a contact row's text.
func shownRows(t *testing.T, a *App) []string {
	t.Helper()
	a.main.win.Resize(fyne.NewSize(360, 1200)) // tall enough that no row scrolls away
	var rows []*contactRow
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.Visible() && r.Size().Height > 0 {
			rows = append(rows, r)
		}
	}
	abs := fyne.CurrentApp().Driver().AbsolutePositionForObject
	sort.Slice(rows, func(i, j int) bool { return abs(rows[i]).Y < abs(rows[j]).Y })
	var out []string
	for _, r := range rows {
		switch {
		case r.head.Visible() && r.arrow.Resource.Name() == fyne.CurrentApp().Settings().Theme().Icon("menuExpand").Name():
			out = append(out, "+"+r.title.Text)
		case r.head.Visible():
			out = append(out, r.title.Text)
		default:
			out = append(out, r.text.String())
		}
	}
	return out
}

// grouped is a contact list with two groups and ungrouped contacts.
func grouped(t *testing.T) (*App, *fakeAPI) {
	a, fake := signedIn(t)
	mk := func(u string, st api.Status, group string) api.Contact {
		c := contact(u, st)
		c.Group = group
		return c
	}
	cs := []api.Contact{
		mk("bob", api.StatusOffline, "Friends"),
		mk("carol", api.StatusAway, "Friends"),
		mk("dave", api.StatusOnline, "Friends"),
		mk("erin", api.StatusBusy, "Work"),
		mk("frank", api.StatusOnline, ""),
		mk("grace", api.StatusOffline, ""),
	}
	cs[1].Alias = "Carol from school"
	cs[4].Subnick = "Learning Go"
	a.apply(api.Event{Snapshot: &api.Snapshot{Account: a.account, Contacts: cs}})
	return a, fake
}

func TestStatusMenu(t *testing.T) {
	a, fake := signedIn(t)
	menu := a.statusMenu()
	var labels []string
	for _, it := range menu.Items[:len(api.Statuses)] {
		labels = append(labels, it.Label)
		st, _ := statusFromLabel(it.Label)
		if it.Icon != glyph(st) {
			t.Errorf("%s shows glyph %v", it.Label, it.Icon)
		}
		if it.Checked != (st == api.StatusOnline) {
			t.Errorf("%s checked = %v", it.Label, it.Checked)
		}
	}
	want := []string{"Available", "Busy", "Away", "Be right back", "On the phone", "Out to lunch", "Appear offline"}
	if !slices.Equal(labels, want) {
		t.Fatalf("menu lists %q, want %q", labels, want)
	}

	selectStatus(t, a, "On the phone")
	if !fake.Called("SetPresence status=phone") {
		t.Fatalf("calls %v", fake.Calls())
	}
	if a.main.status.Text != "(On the phone)" || a.main.ownGlyph.Resource != glyphBusy ||
		a.main.avatar.frame.StrokeColor != statusColour(api.StatusBusy) {
		t.Errorf("header shows %q, glyph %s", a.main.status.Text, a.main.ownGlyph.Resource.Name())
	}

	// The node refusing puts back what is true.
	fake.Fail("SetPresence", api.ErrNotLoggedIn)
	selectStatus(t, a, "Appear offline")
	if a.main.status.Text != "(Available)" || a.main.ownGlyph.Resource != glyphOnline {
		t.Errorf("after a refusal the header shows %q", a.main.status.Text)
	}
}

// TestInPlaceEditTakesFirstKeys: the first click on the nick or the
// personal message puts the keyboard in the entry, so the first keys typed
// land there — also when the contact list is not the newest window (issue
// 14, item 5: the entry was focused through the driver's lookup of a
// widget never drawn, which found no canvas, so keys went nowhere until a
// second click).
func TestInPlaceEditTakesFirstKeys(t *testing.T) {
	a, fake := signedIn(t)
	m := a.main
	m.win.Show()
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob") // a newer window than the contact list
	for _, e := range []struct {
		edit *inlineEdit
		want string
	}{{m.subnick, "SetPresence subnick=gone fishing"}, {m.nick, "SetPresence nick=gone fishing"}} {
		test.Tap(e.edit.label)
		// The keys go where the window sends them: to its focused widget.
		focused := m.win.Canvas().Focused()
		if focused == nil {
			t.Fatal("after one click nothing in the contact list has the keyboard")
		}
		for _, r := range "gone fishing" {
			focused.TypedRune(r)
		}
		if e.edit.entry.Text != "gone fishing" {
			t.Fatalf("the first keys typed after one click: entry holds %q", e.edit.entry.Text)
		}
		focused.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
		if !fake.Called(e.want) {
			t.Fatalf("Enter did not save: %v", fake.Calls())
		}
	}
}

func TestInPlaceEdits(t *testing.T) {
	a, fake := signedIn(t)
	m := a.main
	if m.subnick.label.Text != "Share a quick message" || m.subnick.label.Importance != widget.LowImportance {
		t.Errorf("empty personal message shows %q", m.subnick.label.Text)
	}

	// Escape gives up an edit.
	test.Tap(m.subnick.label)
	if !m.subnick.entry.Visible() || m.win.Canvas().Focused() != m.subnick.entry {
		t.Fatal("tapping the personal message did not start editing it")
	}
	test.Type(m.subnick.entry, "gone fishing")
	m.subnick.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if fake.Called("SetPresence") || m.subnick.entry.Visible() || m.subnick.label.Text != "Share a quick message" {
		t.Fatalf("Escape: calls %v, label %q", fake.Calls(), m.subnick.label.Text)
	}

	// Clicking elsewhere saves it.
	test.Tap(m.subnick.label)
	test.Type(m.subnick.entry, "  gone fishing ")
	m.win.Canvas().Unfocus()
	if !fake.Called("SetPresence subnick=gone fishing") || m.subnick.label.Text != "gone fishing" {
		t.Fatalf("focus lost: calls %v, label %q", fake.Calls(), m.subnick.label.Text)
	}

	// A nick cannot be emptied: the name comes back, nothing is sent.
	n := len(fake.Calls())
	test.Tap(m.nick.label)
	m.nick.entry.SetText("  ")
	m.nick.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(fake.Calls()) != n || m.nick.label.Text != "alice" {
		t.Fatalf("empty nick: calls %v, label %q", fake.Calls()[n:], m.nick.label.Text)
	}

	// The node's own update does not disturb an edit in progress.
	test.Tap(m.nick.label)
	m.nick.entry.SetText("Ali")
	acc := *a.account
	acc.Subnick = "gone fishing"
	a.apply(api.Event{Account: &acc})
	if m.nick.entry.Text != "Ali" || !m.nick.entry.Visible() {
		t.Fatalf("an event interrupted the edit: %q", m.nick.entry.Text)
	}
	m.nick.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("SetPresence nick=Ali") {
		t.Fatalf("nick: calls %v", fake.Calls())
	}

	// What I'm listening to: set, then cleared with its button.
	if m.mediaClear.Visible() {
		t.Error("clear button shown with nothing playing")
	}
	test.Tap(m.media.label)
	test.Type(m.media.entry, "Daft Punk - One More Time")
	m.media.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("SetPresence media=Daft Punk - One More Time") || m.media.label.Text != "\u266a Daft Punk - One More Time" {
		t.Fatalf("media: calls %v, label %q", fake.Calls(), m.media.label.Text)
	}
	acc.Media = "Daft Punk - One More Time"
	a.apply(api.Event{Account: &acc})
	if !m.mediaClear.Visible() {
		t.Fatal("no way to clear the music")
	}
	test.Tap(m.mediaClear)
	if !fake.Called("SetPresence media=") || m.mediaClear.Visible() || m.media.label.Text != "\u266a What are you listening to?" {
		t.Fatalf("clearing media: calls %v, label %q", fake.Calls(), m.media.label.Text)
	}
}

func TestGroupsWithCounts(t *testing.T) {
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

	// Tapping a header folds its section; its count stays.
	a.main.list.ScrollToTop()
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.row.header == "Friends (2/3)" {
			test.Tap(r)
			break
		}
	}
	want = []string{"+Friends (2/3)", "Work (1/1)", "Erin (Busy) - erin's mood", "Online (1)", "Frank - Learning Go", "Offline (1)", "Grace - grace's mood"}
	if got := shownRows(t, a); !slices.Equal(got, want) {
		t.Fatalf("folded, the list shows\n%q\nwant\n%q", got, want)
	}
	// A contact signing in counts in the folded header.
	bob := contact("bob", api.StatusOnline)
	bob.Group = "Friends"
	a.apply(api.Event{Contact: &bob})
	if got := shownRows(t, a)[0]; got != "+Friends (3/3)" {
		t.Errorf("folded header %q after bob signed in", got)
	}
	a.toggleSection("group:Friends")
	if got := shownRows(t, a)[1]; got != "Bob - bob's mood" {
		t.Errorf("unfolded, the first row is %q", got)
	}

	// Folded sections are remembered for the next run.
	a.toggleSection("group:Work")
	again := New(a.fyne, newFakeAPI(), a.opts)
	if !again.main.collapsed["group:Work"] || again.main.collapsed["group:Friends"] {
		t.Errorf("folded sections after a restart: %v", again.main.collapsed)
	}
	a.toggleSection("group:Work")

	// A blocked contact stays in its group, struck through and not counted online.
	erin := a.contacts["erin"]
	erin.Relation = api.RelationBlocked
	a.apply(api.Event{Contact: &erin})
	shownRows(t, a)
	var row *contactRow
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.row.contact.Username == "erin" {
			row = r
		}
	}
	if row == nil || row.text.String() != "Erin (blocked) - erin's mood" || row.glyph.Resource != glyphBlocked {
		t.Fatalf("blocked row: %+v", row)
	}
	if !slices.Contains(rowTexts(a), "Work (0/1)") {
		t.Errorf("rows %q", rowTexts(a))
	}
}

func TestSearchFilters(t *testing.T) {
	a, _ := grouped(t)
	a.toggleSection("group:Work") // a search shows matches in folded sections too
	tests := []struct {
		search string
		want   []string
	}{
		{"SCHOOL", []string{"Friends (1/1)", "Carol from school (Away) - carol's mood", "Work (0/0)", "Online (0)", "Offline (0)"}}, // alias
		{"erin", []string{"Friends (0/0)", "Work (1/1)", "Erin (Busy) - erin's mood", "Online (0)", "Offline (0)"}},                 // username
		{"learning", []string{"Friends (0/0)", "Work (0/0)", "Online (1)", "Frank - Learning Go", "Offline (0)"}},                   // subnick
		{"gRa", []string{"Friends (0/0)", "Work (0/0)", "Online (0)", "Offline (1)", "Grace - grace's mood"}},                       // nick
		{"nobody", []string{"Friends (0/0)", "Work (0/0)", "Online (0)", "Offline (0)"}},
	}
	for _, tt := range tests {
		test.Type(a.main.search, tt.search)
		if got := shownRows(t, a); !slices.Equal(got, tt.want) {
			t.Errorf("search %q shows\n%q\nwant\n%q", tt.search, got, tt.want)
		}
		a.main.search.SetText("")
	}

	// Enter opens a conversation with the first match.
	test.Type(a.main.search, "gra")
	a.main.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if c := a.chats["grace"]; c == nil || !c.shown {
		t.Error("Enter in the search did not open the conversation with grace")
	}
	a.main.search.SetText("")

	// Escape clears the search and the list is whole again.
	test.Type(a.main.search, "erin")
	a.main.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if a.main.search.Text != "" {
		t.Fatalf("Escape left %q", a.main.search.Text)
	}
	if got := shownRows(t, a); len(got) != 9 || got[4] != "+Work (1/1)" {
		t.Errorf("after Escape the list shows %q", got)
	}
}

// menuItem finds the item labelled label in menu.
func menuItem(t *testing.T, menu *fyne.Menu, label string) *fyne.MenuItem {
	t.Helper()
	for _, it := range menu.Items {
		if it.Label == label {
			return it
		}
	}
	t.Fatalf("no %q in menu %q", label, menu.Label)
	return nil
}

func TestContactMenuActions(t *testing.T) {
	a, fake := grouped(t)
	carol := a.contacts["carol"]
	menu := a.contactMenu(carol)
	if menu.Label != "Carol from school" {
		t.Errorf("menu titled %q", menu.Label)
	}

	// Rename in list...: the alias, then empty to restore the nick.
	menuItem(t, menu, "Rename in list...").Action()
	d := a.main.textDialog
	if d.entry.Text != "Carol from school" {
		t.Errorf("rename starts from %q", d.entry.Text)
	}
	d.entry.SetText(" Caz ")
	test.Tap(d.ok)
	menuItem(t, menu, "Rename in list...").Action()
	a.main.textDialog.entry.SetText("")
	a.main.textDialog.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("RenameContact carol Caz") || !fake.Called("RenameContact carol ") {
		t.Fatalf("rename: calls %v", fake.Calls())
	}
	carol.Alias = "Caz"
	a.apply(api.Event{Contact: &carol})
	if got := shownRows(t, a)[1]; got != "Caz (Away) - carol's mood" {
		t.Errorf("renamed row shows %q", got)
	}
	menu = a.contactMenu(carol) // as the next right-click builds it

	// Move to group ▸ lists the groups, carol's checked.
	move := menuItem(t, menu, "Move to group").ChildMenu
	var groups []string
	for _, it := range move.Items {
		if it.Label != "" {
			groups = append(groups, it.Label)
		}
		if it.Checked != (it.Label == "Friends") {
			t.Errorf("%q checked = %v", it.Label, it.Checked)
		}
	}
	if want := []string{"Friends", "Work", "No group", "New group..."}; !slices.Equal(groups, want) {
		t.Fatalf("Move to group lists %q, want %q", groups, want)
	}
	menuItem(t, move, "Work").Action()
	menuItem(t, move, "No group").Action()
	menuItem(t, move, "New group...").Action()
	d = a.main.textDialog
	test.Tap(d.ok)
	if !d.errText.Visible() || fake.Called("SetContactGroup carol Gym") {
		t.Fatal("an empty group name was accepted")
	}
	d.entry.SetText("Gym")
	test.Tap(d.ok)
	for _, call := range []string{"SetContactGroup carol Work", "SetContactGroup carol ", "SetContactGroup carol Gym"} {
		if !fake.Called(call) {
			t.Errorf("no %q in %v", call, fake.Calls())
		}
	}

	// Block, and Delete only once confirmed.
	menuItem(t, menu, "Block contact").Action()
	if !fake.Called("BlockContact carol") {
		t.Errorf("block: calls %v", fake.Calls())
	}
	menuItem(t, menu, "Delete contact").Action()
	if !strings.Contains(a.main.confirm.text.Text, "Caz (carol)") {
		t.Errorf("confirmation says %q", a.main.confirm.text.Text)
	}
	test.Tap(a.main.confirm.no)
	if fake.Called("RemoveContact") {
		t.Fatal("deleted without confirmation")
	}
	menuItem(t, menu, "Delete contact").Action()
	test.Tap(a.main.confirm.yes)
	if !fake.Called("RemoveContact carol") {
		t.Errorf("delete: calls %v", fake.Calls())
	}

	// Send an instant message and View profile open their windows.
	menuItem(t, menu, "Send an instant message").Action()
	menuItem(t, menu, "View profile").Action()
	if a.chats["carol"] == nil || a.main.profile == nil || a.main.profile.username != "carol" {
		t.Error("send message or view profile did not open")
	}
}

func TestViewProfile(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusAway)
	bob.Media, bob.Alias, bob.Group, bob.Via, bob.Verified = "Queen - Bohemian Rhapsody", "Bobby", "Friends", api.ViaRelayed, true
	a.apply(api.Event{Contact: &bob})
	a.showProfile("bob")
	p := a.main.profile
	shown := map[string]string{
		"nick": p.nick.Text, "subnick": p.subnick.Text, "media": p.media.Text, "username": p.user.Text,
		"alias": p.alias.Text, "group": p.group.Text, "status": p.status.Text, "via": p.via.Text,
	}
	want := map[string]string{
		"nick": "Bob", "subnick": "bob's mood", "media": "\u266a Queen - Bohemian Rhapsody", "username": "bob",
		"alias": "Bobby", "group": "Friends", "status": "Away", "via": "connected through a relay",
	}
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("%s shows %q, want %q", k, shown[k], v)
		}
	}
	if !strings.HasPrefix(p.verified.Text, "Verified") || p.glyph.Resource != glyphAway || !p.media.Visible() {
		t.Errorf("verified %q, glyph %s", p.verified.Text, p.glyph.Resource.Name())
	}
	if p.win.Title() != "Bobby \u2014 Profile" {
		t.Errorf("title %q", p.win.Title())
	}

	// The open profile follows the contact.
	bob.Status, bob.Media, bob.Verified, bob.Via = api.StatusOffline, "", false, api.ViaMailbox
	a.apply(api.Event{Contact: &bob})
	if p.status.Text != "Offline" || p.media.Visible() || !strings.HasPrefix(p.verified.Text, "Not verified") ||
		p.via.Text != "messages will wait in their mailbox" {
		t.Errorf("after an update: status %q, verified %q, via %q", p.status.Text, p.verified.Text, p.via.Text)
	}
	test.Tap(p.send)
	if a.chats["bob"] == nil {
		t.Error("Send a message did not open the conversation")
	}

	// Signing out closes it.
	a.apply(api.Event{SignedOut: true})
	if a.main.profile != nil || slices.Contains(a.fyne.Driver().AllWindows(), p.win) {
		t.Error("the profile outlived the session")
	}
}

// writePNG writes a w×h picture: left half red, right half blue.
func writePNG(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{0xff, 0, 0, 0xff}
			if x >= w/2 {
				c = color.NRGBA{0, 0, 0xff, 0xff}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	path := filepath.Join(t.TempDir(), "me.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func TestAvatarPicker(t *testing.T) {
	a, fake := signedIn(t)
	test.Tap(a.main.avatar)
	p := a.main.picker
	if p == nil || !p.ok.Disabled() {
		t.Fatal("clicking our picture did not open the picker, or OK works with no picture")
	}
	p.win.Resize(fyne.NewSize(560, 500))

	// A file that is no picture says so.
	junk := filepath.Join(t.TempDir(), "notes.png")
	os.WriteFile(junk, []byte("not a picture"), 0o600)
	p.load(junk)
	if !p.errText.Visible() || !strings.Contains(p.errText.Text, "not a picture") || !p.ok.Disabled() {
		t.Fatalf("junk file: %q", p.errText.Text)
	}

	// A 200×100 picture starts with its largest centred square.
	path := writePNG(t, 200, 100)
	p.load(path)
	if p.errText.Visible() || p.crop != (api.Crop{X: 50, Y: 0, Size: 100}) || !p.y.Disabled() {
		t.Fatalf("loaded: crop %+v, error %q", p.crop, p.errText.Text)
	}
	// Smaller, about its centre; then to the left edge.
	p.size.SetValue(60)
	if p.crop != (api.Crop{X: 70, Y: 20, Size: 60}) {
		t.Fatalf("sized: crop %+v", p.crop)
	}
	p.x.SetValue(0)
	if p.crop != (api.Crop{X: 0, Y: 20, Size: 60}) || p.preview.Image.Bounds() != image.Rect(0, 20, 60, 80) {
		t.Fatalf("moved: crop %+v, preview %v", p.crop, p.preview.Image.Bounds())
	}
	if _, _, b, _ := p.preview.Image.At(30, 50).RGBA(); b != 0 {
		t.Error("the preview does not show the left (red) half")
	}
	// Dragging moves it by picture pixels, and never out of the picture.
	p.view.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(10*p.view.scale, -5*p.view.scale)})
	p.view.DragEnd()
	if p.crop != (api.Crop{X: 10, Y: 15, Size: 60}) || p.x.Value != 10 || p.y.Value != 15 {
		t.Fatalf("dragged: crop %+v, sliders %v %v", p.crop, p.x.Value, p.y.Value)
	}
	p.view.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(-1000, 1000)})
	p.view.DragEnd()
	if p.crop != (api.Crop{X: 0, Y: 40, Size: 60}) {
		t.Fatalf("dragged too far: crop %+v", p.crop)
	}

	test.Tap(p.ok)
	if !fake.Called("SetAvatar " + path + " 0 40 60") {
		t.Fatalf("OK: calls %v", fake.Calls())
	}
	if p.ok.Disabled() || p.reset.Disabled() {
		t.Error("OK left the picker's buttons disabled")
	}

	// The node's answer shows the new picture in the header.
	acc := *a.account
	acc.AvatarPath = path
	a.apply(api.Event{Account: &acc})
	if a.main.avatar.img.File != path {
		t.Errorf("header picture %q, want %q", a.main.avatar.img.File, path)
	}

	// Default picture goes back to the default; an error keeps the window open.
	a.showAvatarPicker()
	fake.ResetCalls()
	test.Tap(p.reset)
	if !fake.Called(`SetAvatar  0 0 0`) {
		t.Fatalf("Default picture: calls %v", fake.Calls())
	}
}

func TestAvatarPickerError(t *testing.T) {
	a, _ := signedIn(t)
	failing := &failingAvatar{fakeAPI: newFakeAPI(), err: errors.New("disk full")}
	a.api = failing
	a.showAvatarPicker()
	p := a.main.picker
	p.load(writePNG(t, 64, 64))
	test.Tap(p.ok)
	// The Go error is logged, not shown: the window says something went wrong.
	if !p.errText.Visible() || !strings.Contains(p.errText.Text, "Something went wrong") || p.ok.Disabled() {
		t.Fatalf("error %q visible %v, OK disabled %v", p.errText.Text, p.errText.Visible(), p.ok.Disabled())
	}
}

// TestAvatarGallery: the picker offers every ready-made picture; choosing
// one shows it whole, OK gives the node a file holding exactly its PNG
// (written once, into the app's storage), and choosing a file afterwards
// goes back to cropping.
func TestAvatarGallery(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir) // the test app's storage lives in the temporary directory
	a, fake := signedIn(t)
	a.showAvatarPicker()
	p := a.main.picker
	if len(p.gallery) != len(assets.Pictures) || len(p.gallery) == 0 {
		t.Fatalf("%d thumbnails for %d pictures", len(p.gallery), len(assets.Pictures))
	}
	for i, c := range p.gallery {
		if !c.Visible() || c.img.Resource != pictureResources[i] || c.selected {
			t.Errorf("thumbnail %d: visible %v, resource %v, selected %v", i, c.Visible(), c.img.Resource, c.selected)
		}
		if got, want := c.img.Resource.Content(), assets.Pictures[i].PNG; !bytes.Equal(got, want) {
			t.Errorf("thumbnail %d does not show %s", i, assets.Pictures[i].Name)
		}
	}
	if !p.ok.Disabled() {
		t.Fatal("OK works before anything is chosen")
	}

	const duck = 0
	test.Tap(p.gallery[duck])
	if p.chosen != duck || !p.gallery[duck].selected || p.gallery[1].selected {
		t.Fatalf("chosen %d; selected %v %v", p.chosen, p.gallery[duck].selected, p.gallery[1].selected)
	}
	if p.preview.Resource != pictureResources[duck] || p.preview.File != "" || p.ok.Disabled() {
		t.Fatalf("the preview does not show the duck, or OK is disabled (%v)", p.ok.Disabled())
	}
	if !p.size.Disabled() || !p.x.Disabled() || !p.y.Disabled() || p.view.box.Visible() || !p.view.pic.Visible() {
		t.Error("a gallery picture shows the crop square or its sliders")
	}
	// Dragging has no square to move.
	p.view.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(10, 10)})
	p.view.DragEnd()
	if p.crop != (api.Crop{Size: api.AvatarSize}) {
		t.Errorf("dragging a gallery picture moved the crop to %+v", p.crop)
	}
	// Choosing another moves the choice.
	test.Tap(p.gallery[2])
	test.Tap(p.gallery[duck])
	if p.gallery[2].selected || !p.gallery[duck].selected {
		t.Error("an earlier choice stays selected")
	}

	test.Tap(p.ok)
	saved := setAvatarPath(t, fake)
	if !strings.HasPrefix(saved, dir) {
		t.Errorf("the picture was written to %s, not the app's storage in %s", saved, dir)
	}
	if data, err := os.ReadFile(saved); err != nil || !bytes.Equal(data, assets.Pictures[duck].PNG) {
		t.Fatalf("the file given to SetAvatar does not hold the duck's PNG (%v)", err)
	}
	if !fake.Called("SetAvatar " + saved + " 0 0 0") {
		t.Errorf("SetAvatar was given a crop: %v", fake.Calls())
	}

	// Choosing it again uses the same file without writing it again.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(saved, old, old); err != nil {
		t.Fatal(err)
	}
	a.showAvatarPicker()
	if p.chosen != -1 || p.gallery[duck].selected {
		t.Error("reopening the picker keeps the last choice")
	}
	resetCalls(fake)
	test.Tap(p.gallery[duck])
	test.Tap(p.ok)
	if again := setAvatarPath(t, fake); again != saved {
		t.Errorf("second time: %s, want %s", again, saved)
	}
	if fi, err := os.Stat(saved); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("the picture was written again (%v)", err)
	}

	// A file chosen afterwards is cropped again.
	a.showAvatarPicker()
	test.Tap(p.gallery[3])
	path := writePNG(t, 200, 100)
	p.load(path)
	if p.chosen != -1 || p.gallery[3].selected {
		t.Fatal("choosing a file kept the gallery picture chosen")
	}
	if p.crop != (api.Crop{X: 50, Y: 0, Size: 100}) || p.size.Disabled() || !p.view.box.Visible() ||
		p.preview.Resource != nil || p.preview.Image == nil || p.preview.Image.Bounds() != image.Rect(50, 0, 150, 100) {
		t.Fatalf("back to cropping: crop %+v, size disabled %v, square shown %v, preview resource %v",
			p.crop, p.size.Disabled(), p.view.box.Visible(), p.preview.Resource != nil)
	}
	resetCalls(fake)
	test.Tap(p.ok)
	if !fake.Called("SetAvatar " + path + " 50 0 100") {
		t.Errorf("OK after choosing a file: %v", fake.Calls())
	}
}

// setAvatarPath is the path of the one SetAvatar call so far.
func setAvatarPath(t *testing.T, fake *fakeAPI) string {
	t.Helper()
	var paths []string
	for _, c := range fake.Calls() {
		if f := strings.Fields(c); f[0] == "SetAvatar" && len(f) == 5 {
			paths = append(paths, f[1])
		}
	}
	if len(paths) != 1 {
		t.Fatalf("want one SetAvatar with a file: %v", fake.Calls())
	}
	return paths[0]
}

func resetCalls(fake *fakeAPI) {
	fake.ResetCalls()
}

// failingAvatar is the fake with SetAvatar failing.
type failingAvatar struct {
	*fakeAPI
	err error
}

func (f *failingAvatar) SetAvatar(ctx context.Context, path string, crop api.Crop) error {
	f.fakeAPI.SetAvatar(ctx, path, crop)
	return f.err
}

func TestGroupHeaderMenu(t *testing.T) {
	a, fake := grouped(t)
	menu := a.groupHeaderMenu("Friends")
	menuItem(t, menu, "Rename group...").Action()
	d := a.main.textDialog
	if d.entry.Text != "Friends" {
		t.Errorf("rename starts from %q", d.entry.Text)
	}
	d.entry.SetText("Mates")
	test.Tap(d.ok)
	for _, u := range []string{"bob", "carol", "dave"} {
		if !fake.Called("SetContactGroup " + u + " Mates") {
			t.Errorf("%s not moved to Mates: %v", u, fake.Calls())
		}
	}
	if fake.Called("SetContactGroup erin") || fake.Called("SetContactGroup frank") {
		t.Errorf("contacts outside the group moved: %v", fake.Calls())
	}

	menuItem(t, a.groupHeaderMenu("Work"), "Delete group").Action()
	test.Tap(a.main.confirm.yes)
	if !fake.Called("SetContactGroup erin ") {
		t.Errorf("delete group: %v", fake.Calls())
	}
}
