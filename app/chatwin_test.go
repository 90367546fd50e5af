package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// newestInView reports whether the conversation's last item is wholly
// inside the visible part of the history.
func newestInView(c *chatWindow) bool {
	objs := c.history.Objects
	if len(objs) == 0 {
		return true
	}
	last := objs[len(objs)-1]
	bottom := last.Position().Y + last.Size().Height
	return last.Visible() && bottom <= c.scroll.Offset.Y+c.scroll.Size().Height+1 && last.Position().Y >= c.scroll.Offset.Y-1
}

// manyMessages are n messages with bob, long enough to wrap, a minute apart.
func manyMessages(n int, start time.Time) []api.Message {
	var ms []api.Message
	for i := range n {
		m := api.Message{ID: fmt.Sprintf("h%d", i), From: "bob", To: "alice", State: api.StateReceived,
			Time: start.Add(time.Duration(i) * time.Minute),
			Text: fmt.Sprintf("message %d: a line long enough to wrap in a narrow window, as people write them", i)}
		if i%3 == 0 {
			m.From, m.To, m.State = "alice", "bob", api.StateDelivered
		}
		ms = append(ms, m)
	}
	return ms
}

// TestNewestMessageInView: a conversation opened by a message shows that
// message, not the oldest ones; what we send and what arrives stays in
// view as the conversation grows, and after the window is resized.
func TestNewestMessageInView(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	start := time.Now().Add(-time.Hour)
	fake.Lock()
	fake.Messages["bob"] = manyMessages(40, start)
	fake.Unlock()
	// An offline message arrives at sign-in: the window opens with the
	// history above it.
	a.apply(api.Event{Message: &api.Message{ID: "new", From: "bob", To: "alice", Text: "are you there?", Time: time.Now(), State: api.StateReceived}})
	c := a.chats["bob"]
	if c == nil || !c.shown {
		t.Fatal("the message did not open the conversation")
	}
	if !newestInView(c) {
		t.Fatalf("opened by a message, the window shows offset %v of %v: the message is out of view", c.scroll.Offset.Y, c.scroll.Content.Size().Height)
	}
	c.entry.SetText("yes, just back")
	test.Type(c.entry, "\n")
	if !newestInView(c) {
		t.Fatalf("what we sent is out of view: offset %v of %v", c.scroll.Offset.Y, c.scroll.Content.Size().Height)
	}
	for i := range 5 {
		a.apply(api.Event{Message: &api.Message{ID: fmt.Sprint("r", i), From: "bob", To: "alice", Text: "and another thing I wanted to tell you about the weekend", Time: time.Now(), State: api.StateReceived}})
		if !newestInView(c) {
			t.Fatalf("arrival %d is out of view", i)
		}
	}
	c.win.Resize(fyne.NewSize(420, 360))
	if !newestInView(c) {
		t.Fatal("after a resize the newest message is out of view")
	}
	if c.newBelow.Visible() {
		t.Fatal("the new-messages marker shows while the newest message is in view")
	}
}

// TestNewMessagesMarker: someone who scrolled up to read is not pulled down
// by a new message; a "new messages" marker shows instead, and takes them
// down when tapped.
func TestNewMessagesMarker(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	fake.Lock()
	fake.Messages["bob"] = manyMessages(40, time.Now().Add(-time.Hour))
	fake.Unlock()
	a.openChat("bob")
	c := a.chats["bob"]
	// The person scrolls to the top to read.
	c.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.NewDelta(0, 1e6)})
	if c.scroll.Offset.Y != 0 {
		t.Fatalf("scrolling up left offset %v", c.scroll.Offset.Y)
	}
	a.apply(api.Event{Message: &api.Message{ID: "new", From: "bob", To: "alice", Text: "look at this", Time: time.Now(), State: api.StateReceived}})
	if c.scroll.Offset.Y != 0 {
		t.Fatalf("a new message pulled the reader down to %v", c.scroll.Offset.Y)
	}
	if !c.newBelow.Visible() {
		t.Fatal("no new-messages marker while the new message is out of view")
	}
	test.Tap(c.newBelow)
	if !newestInView(c) || c.newBelow.Visible() {
		t.Fatalf("the marker did not bring the newest message into view (offset %v) or stayed", c.scroll.Offset.Y)
	}
	// Back at the bottom, new messages are followed again.
	a.apply(api.Event{Message: &api.Message{ID: "new2", From: "bob", To: "alice", Text: "and this", Time: time.Now(), State: api.StateReceived}})
	if !newestInView(c) || c.newBelow.Visible() {
		t.Fatal("at the bottom, a new message was not followed")
	}
}

// TestTransfersLeaveRoom: however many files move, the conversation keeps
// most of the window and the window does not grow; finished transfers
// leave the tray.
func TestTransfersLeaveRoom(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	size := fyne.NewSize(600, 480)
	c.win.Resize(size)
	for i := range 8 {
		tr := api.Transfer{ID: fmt.Sprint("t", i), Peer: "bob", Name: fmt.Sprintf("photo-%d.png", i), Size: 19 << 10,
			State: api.TransferActive, Bytes: 5 << 10}
		if i < 2 {
			tr.State, tr.Bytes, tr.Path = api.TransferDone, tr.Size, "/tmp/in/"+tr.Name
		}
		if i == 2 {
			tr.Outgoing, tr.State = true, api.TransferOffered
		}
		a.apply(api.Event{Transfer: &tr})
		// The desktop driver grows a window to its content's minimum
		// size and lays it out again; the test driver needs asking.
		if min := c.win.Content().MinSize(); min.Height > size.Height || min.Width > size.Width {
			t.Fatalf("after %d transfers the window must grow to %v", i+1, min)
		}
		c.win.Content().Refresh()
		// The header, toolbar, entry and status bar are fixed; of the rest
		// the transfers take a small share.
		if h := c.scroll.Size().Height; h < 0.3*size.Height {
			t.Fatalf("after %d transfers the conversation is %v px of %v", i+1, h, size.Height)
		}
		if h := c.tray.view.Size().Height; h > 0.16*size.Height {
			t.Fatalf("after %d transfers the tray is %v px of %v", i+1, h, size.Height)
		}
	}
	if len(c.tray.rows) != 6 {
		t.Fatalf("the tray holds %d transfers, want the 6 moving", len(c.tray.rows))
	}
	var lines []string
	for _, it := range c.items {
		if it.transfer != nil {
			lines = append(lines, it.note)
		}
	}
	want := []string{
		"photo-0.png (19 KB) received from Bob — Open · Show in folder\nSaved in /tmp/in",
		"photo-1.png (19 KB) received from Bob — Open · Show in folder\nSaved in /tmp/in",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("the conversation tells %q, want %q", lines, want)
	}
}

// overlayText is the text shown in w's topmost overlay (a dialog), or "".
func overlayText(w fyne.Window) string {
	top := w.Canvas().Overlays().Top()
	if top == nil {
		return ""
	}
	var parts []string
	for _, o := range test.LaidOutObjects(top) {
		switch o := o.(type) {
		case *widget.Label:
			parts = append(parts, o.Text)
		case *canvas.Text:
			parts = append(parts, o.Text)
		}
	}
	return strings.Join(parts, " ")
}

// TestOpenReceivedFile: a received file's line opens the file and its
// folder through the desktop; when nothing can, the conversation's window
// says so in plain words and where the file is — not the contact list, and
// no raw exec error.
func TestOpenReceivedFile(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	dir := t.TempDir()
	path := filepath.Join(dir, "photo.png")
	if err := os.WriteFile(path, []byte("png"), 0o600); err != nil {
		t.Fatal(err)
	}
	var opened []string
	a.openURL = func(u *url.URL) error { opened = append(opened, u.String()); return nil }
	a.portal = func(string, bool) error { t.Error("the portal was asked though Fyne opened it"); return nil }
	done := api.Transfer{ID: "t1", Peer: "bob", Name: "photo.png", Size: 19 << 10, State: api.TransferDone, Bytes: 19 << 10, Path: path}
	a.apply(api.Event{Transfer: &done})
	line := c.items[len(c.items)-1].transfer
	if line == nil || line.open == nil || !strings.Contains(line.text.String(), "Saved in "+dir) {
		t.Fatalf("no line saying where the file went: %+v", c.items[len(c.items)-1])
	}
	line.open.OnTapped()
	line.folder.OnTapped()
	if want := []string{"file://" + path, "file://" + dir}; !slices.Equal(opened, want) {
		t.Fatalf("opened %q, want %q", opened, want)
	}

	// No xdg-open, no portal.
	a.openURL = func(*url.URL) error { return &exec.Error{Name: "xdg-open", Err: exec.ErrNotFound} }
	var asked []string
	a.portal = func(p string, folder bool) error {
		asked = append(asked, fmt.Sprintf("%s %v", p, folder))
		return errors.New("no portal")
	}
	line.folder.OnTapped()
	if !slices.Equal(asked, []string{path + " true"}) {
		t.Fatalf("portal asked %q, want the file's folder", asked)
	}
	got := overlayText(c.win)
	if !strings.Contains(got, "photo.png is saved in "+dir) || strings.Contains(got, "exec") || strings.Contains(got, "xdg-open") {
		t.Fatalf("the conversation says %q", got)
	}
	if a.main.win.Canvas().Overlays().Top() != nil {
		t.Fatalf("the contact list shows %q", overlayText(a.main.win))
	}
}

// TestStreamButtonSaysWhatItDoes: the button that streams a growing file
// is not called "Live" with a record icon (which reads as a call), and its
// picker says what will happen.
func TestStreamButtonSaysWhatItDoes(t *testing.T) {
	a, _ := signedIn(t)
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	if c.liveBtn.Text != "Stream a file" || c.liveBtn.Icon == theme.MediaRecordIcon() {
		t.Fatalf("the button reads %q", c.liveBtn.Text)
	}
	test.Tap(c.liveBtn)
	if got := overlayText(c.win); !strings.Contains(got, "as it grows") {
		t.Fatalf("the picker says %q", got)
	}
}

func TestSplitLink(t *testing.T) {
	for _, tc := range []struct{ word, pre, link, target, post string }{
		{"https://example.org/a?b=1.", "", "https://example.org/a?b=1", "https://example.org/a?b=1", "."},
		{"(www.example.org)", "(", "www.example.org", "https://www.example.org", ")"},
		{"https://en.wikipedia.org/wiki/Go_(language)", "", "https://en.wikipedia.org/wiki/Go_(language)", "https://en.wikipedia.org/wiki/Go_(language)", ""},
		{"mailto:bob@example.org,", "", "mailto:bob@example.org", "mailto:bob@example.org", ","},
		{`"http://x.org/"!`, `"`, "http://x.org/", "http://x.org/", `"!`},
		{"file:///etc/passwd", "file:///etc/passwd", "", "", ""},
		{"javascript://alert(1)", "javascript://alert(1)", "", "", ""},
		{"https://", "https://", "", "", ""},
		{"hello", "hello", "", "", ""},
	} {
		pre, link, target, post := splitLink(tc.word)
		if pre != tc.pre || link != tc.link || target != tc.target || post != tc.post {
			t.Errorf("splitLink(%q) = %q %q %q %q, want %q %q %q %q", tc.word, pre, link, target, post, tc.pre, tc.link, tc.target, tc.post)
		}
	}
}

// TestMessageLinks: an address in a message is drawn as a link and a click
// on it opens it through the desktop; a click beside it opens nothing.
func TestMessageLinks(t *testing.T) {
	a, _ := signedIn(t)
	var opened []string
	a.openURL = func(u *url.URL) error { opened = append(opened, u.String()); return nil }
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	a.apply(api.Event{Message: &api.Message{ID: "r1", From: "bob", To: "alice", Text: "see https://example.org/beach, or file:///etc/passwd :)",
		Time: time.Now(), State: api.StateReceived}})
	text := c.rows[len(c.rows)-1].text
	var link *flowItem
	items, _ := text.r.lay(text.Size().Width)
	for i := range items {
		if items[i].link != "" {
			if link != nil {
				t.Fatalf("more than one link in %+v", items)
			}
			link = &items[i]
		}
	}
	if link == nil || link.text != "https://example.org/beach" || link.link != "https://example.org/beach" {
		t.Fatalf("the address is not a link: %+v", items)
	}
	_, texts := messageObjects(text)
	underlined := 0
	for _, tx := range texts {
		if tx.TextStyle.Underline {
			underlined++
		}
	}
	if underlined != 1 {
		t.Fatalf("%d underlined runs, want the link's", underlined)
	}
	_, lineH, _, pad := text.r.metrics()
	y := pad/2 + float32(link.line)*lineH + lineH/2
	test.TapAt(text, fyne.NewPos(pad+1, y)) // "see"
	if len(opened) != 0 {
		t.Fatalf("a click on plain text opened %q", opened)
	}
	test.TapAt(text, fyne.NewPos(pad+link.x+link.w/2, y))
	if !slices.Equal(opened, []string{"https://example.org/beach"}) {
		t.Fatalf("a click on the link opened %q", opened)
	}
}

// TestOfferKeys: Alt+C accepts the newest offer and Alt+D declines it, as
// in MSN, whether the entry has the cursor or nothing has.
func TestOfferKeys(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	for _, id := range []string{"t1", "t2"} {
		offer := api.Transfer{ID: id, Peer: "bob", Name: id + ".png", Size: 10, State: api.TransferIncoming}
		a.apply(api.Event{Transfer: &offer})
	}
	c := a.chats["bob"]
	c.win.Canvas().Focus(c.entry)
	c.entry.TypedShortcut(acceptShortcut)
	if !fake.Called("AcceptFile t2 ") || fake.Called("AcceptFile t1") {
		t.Fatalf("Alt+C in the entry: calls %v", fake.Calls())
	}
	// Until the node reports it, the answered offer takes no second answer:
	// Alt+D now declines the other one.
	if r := c.tray.rows["t2"]; r.accept.Visible() || r.decline.Visible() {
		t.Fatal("an answered offer still shows its buttons")
	}
	c.win.Canvas().Unfocus()
	c.win.Canvas().(fyne.Shortcutable).TypedShortcut(declineShortcut)
	if fake.Called("DeclineFile t2") || !fake.Called("DeclineFile t1") {
		t.Fatalf("Alt+D in the window: calls %v", fake.Calls())
	}
	if r := c.tray.rows["t1"]; r == nil || r.accept.Text != "Accept (Alt+C)" {
		t.Fatal("the offer's button does not say its key")
	}
}
