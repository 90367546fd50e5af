package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// received is an incoming message event from bob.
func received(id string) api.Event {
	return api.Event{Message: &api.Message{ID: id, From: "bob", To: "alice", Text: "message " + id, Time: time.Now(), State: api.StateReceived}}
}

// markReads are the MarkRead calls the fake saw.
func markReads(fake *fakeAPI) []string {
	var out []string
	for _, c := range fake.Calls() {
		if strings.HasPrefix(c, "MarkRead ") {
			out = append(out, c)
		}
	}
	return out
}

// nameSegment is the first segment of a contact's row: its name, with the
// unread count and status.
func nameSegment(t *testing.T, a *App, username string) lineSegment {
	t.Helper()
	r := contactRows(t, a)[username]
	if r == nil || len(r.text.Segments) == 0 {
		t.Fatalf("no row for %s", username)
	}
	return r.text.Segments[0]
}

// TestUnreadInContactList: messages that arrive while their conversation
// is not in front make the contact's name bold with their count, as MSN
// showed a conversation waiting; the count the node has comes with the
// contact list and with each Read event, and a Read event that brings it
// to 0 clears the row and takes back the notifications about it, those
// about other conversations staying.
func TestUnreadInContactList(t *testing.T) {
	a, fake, _, rec := newDesktopApp(t, true)
	signIn(t, a)
	bob, carol := contact("bob", api.StatusOnline), contact("carol", api.StatusAway)
	carol.Unread = 3 // waiting since before this session, the node says
	a.apply(api.Event{Contact: &bob})
	a.apply(api.Event{Contact: &carol})

	steps := []struct {
		name      string
		ev        api.Event
		bob       string // bob's name segment
		bold      bool
		withdrawn []uint32
	}{
		{"nothing waits", api.Event{}, "Bob", false, nil},
		{"a message", received("m1"), "Bob (1)", true, nil},
		{"another", received("m2"), "Bob (2)", true, nil},
		{"read in part elsewhere", api.Event{Read: &api.ReadEvent{Conversation: "bob", Unread: 1}}, "Bob (1)", true, nil},
		{"read elsewhere", api.Event{Read: &api.ReadEvent{Conversation: "bob", Unread: 0}}, "Bob", false, []uint32{1, 2}},
		{"read again: nothing left to take back", api.Event{Read: &api.ReadEvent{Conversation: "bob", Unread: 0}}, "Bob", false, []uint32{1, 2}},
	}
	for _, st := range steps {
		a.apply(st.ev)
		seg := nameSegment(t, a, "bob")
		if seg.Text != st.bob || seg.Style.Bold != st.bold {
			t.Fatalf("%s: bob's row %q bold %v, want %q bold %v", st.name, seg.Text, seg.Style.Bold, st.bob, st.bold)
		}
		if !slices.Equal(rec.withdrawn, st.withdrawn) {
			t.Fatalf("%s: withdrew notifications %v, want %v", st.name, rec.withdrawn, st.withdrawn)
		}
	}
	if seg := nameSegment(t, a, "carol"); seg.Text != "Carol (3) (Away)" || !seg.Style.Bold {
		t.Fatalf("carol's row %q bold %v, want %q bold", seg.Text, seg.Style.Bold, "Carol (3) (Away)")
	}
	if got := markReads(fake); len(got) != 0 {
		t.Fatalf("nothing was in front, yet the app marked %v read", got)
	}
	// A contact event carries the node's count, which wins.
	carol.Unread = 0
	a.apply(api.Event{Contact: &carol})
	if seg := nameSegment(t, a, "carol"); seg.Text != "Carol (Away)" || seg.Style.Bold {
		t.Fatalf("carol's row %q bold %v after her count went", seg.Text, seg.Style.Bold)
	}
}

// TestChatMarksRead: a conversation is marked read when its window is in
// front with its newest message in view: opened by the user, a message
// arriving in it while it is focused, the window coming to the front, the
// user scrolling down to the newest or typing. Not while it sits behind
// another window, nor while the user reads further up.
func TestChatMarksRead(t *testing.T) {
	a, fake, _, _ := newDesktopApp(t, true)
	signIn(t, a)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	fake.Lock()
	fake.Messages["bob"] = manyMessages(40, time.Now().Add(-time.Hour))
	fake.Unlock()
	focused := false
	a.windowFocused = func(w fyne.Window) bool { return focused && a.chats["bob"] != nil && w == a.chats["bob"].win }
	// Reads what the node would say after each MarkRead.
	read := func() { a.apply(api.Event{Read: &api.ReadEvent{Conversation: "bob"}}) }

	// A message pops the window up behind: unread.
	a.apply(received("m1"))
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(420, 360))
	if got := markReads(fake); len(got) != 0 || a.unread("bob") != 1 {
		t.Fatalf("a window behind marked %v read, count %d", got, a.unread("bob"))
	}
	// The user brings it to the front.
	focused = true
	a.fg.onFront()
	if got, want := markReads(fake), []string{"MarkRead bob"}; !slices.Equal(got, want) {
		t.Fatalf("coming to the front marked %v, want %v", got, want)
	}
	read()
	// In front and following: what arrives is read as it comes.
	a.apply(received("m2"))
	if got := markReads(fake); len(got) != 2 || a.unread("bob") != 0 {
		t.Fatalf("a message in a focused conversation: calls %v, count %d; want it marked read, never counted", got, a.unread("bob"))
	}
	// Nothing waits: focusing again calls nobody.
	a.fg.onFront()
	if got := markReads(fake); len(got) != 2 {
		t.Fatalf("MarkRead calls %v, want the one for m2", got)
	}
	read()

	// The user scrolls up to read: what arrives waits below, unread.
	c.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.NewDelta(0, 1e6)})
	a.apply(received("m3"))
	if got := markReads(fake); len(got) != 2 || a.unread("bob") != 1 {
		t.Fatalf("reading further up: calls %v, count %d; want no call and 1", got, a.unread("bob"))
	}
	// Down to the newest with the marker: read.
	test.Tap(c.newBelow)
	if got := markReads(fake); len(got) != 3 {
		t.Fatalf("the new-messages marker marked %v", got)
	}
	read()

	// Behind another window: a message waits; the user opens the
	// conversation from the list: read.
	focused = false
	a.apply(received("m4"))
	if a.unread("bob") != 1 || len(markReads(fake)) != 3 {
		t.Fatalf("behind: count %d, calls %v", a.unread("bob"), markReads(fake))
	}
	a.openChat("bob")
	if got := markReads(fake); len(got) != 4 {
		t.Fatalf("opening the conversation marked %v", got)
	}
	read()
	// Or types in it.
	a.apply(received("m5"))
	test.Type(c.entry, "o")
	if got := markReads(fake); len(got) != 5 {
		t.Fatalf("typing in the conversation marked %v", got)
	}
}

// TestReadWithdrawsToasts: where notifications show as toasts, reading a
// conversation (here or on another device) takes its toasts away and
// leaves the others'.
func TestReadWithdrawsToasts(t *testing.T) {
	useFakeClock(t, time.Date(2026, 12, 7, 10, 0, 0, 0, time.Local))
	a, _, _, _ := newDesktopApp(t, true)
	a.main.toasts.logf = func(string, error) {}
	a.notifySink = func(_ context.Context, n *fyne.Notification) (uint32, error) {
		return 0, errors.New("no notification service")
	}
	signIn(t, a)
	a.main.win.Resize(fyne.NewSize(360, 620))
	for _, u := range []string{"bob", "carol"} {
		c := contact(u, api.StatusOnline)
		a.apply(api.Event{Contact: &c})
	}
	a.apply(received("m1"))
	a.apply(api.Event{Message: &api.Message{ID: "c1", From: "carol", To: "alice", Text: "hello", Time: time.Now(), State: api.StateReceived}})
	a.apply(received("m2"))
	if got := len(toastTexts(a)); got != 3 {
		t.Fatalf("toasts %q, want three", toastTexts(a))
	}
	a.apply(api.Event{Read: &api.ReadEvent{Conversation: "bob", Unread: 1}})
	if got := len(toastTexts(a)); got != 3 {
		t.Fatalf("a conversation read in part took toasts away: %q", toastTexts(a))
	}
	a.apply(api.Event{Read: &api.ReadEvent{Conversation: "bob", Unread: 0}})
	if got, want := toastTexts(a), []string{"Carol says:|hello"}; !slices.Equal(got, want) {
		t.Fatalf("toasts %q after bob's conversation was read, want %q", got, want)
	}
	for i, tt := range a.main.toasts.toasts {
		if !tt.Visible() || tt.chat != "carol" {
			t.Fatalf("toast %d about %q left", i, tt.chat)
		}
	}
}
