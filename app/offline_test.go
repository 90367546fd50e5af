package app

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestOfflineMessagesNotice: the node's summary of what waited in the
// mailboxes at sign-in shows as one line on the contact list, naming who
// wrote; clicking it opens their conversations, × puts it away, and
// signing out forgets it.
func TestOfflineMessagesNotice(t *testing.T) {
	tests := []struct {
		name string
		ev   api.OfflineMessagesEvent
		want string
	}{
		{"one", api.OfflineMessagesEvent{Count: 1, From: []string{"bob"}, In: []string{"bob"}},
			"1 message arrived while you were away, from Bob"},
		{"two people", api.OfflineMessagesEvent{Count: 3, From: []string{"bob", "carol"}, In: []string{"bob", "carol"}},
			"3 messages arrived while you were away, from Bob and Carol"},
		{"many people", api.OfflineMessagesEvent{Count: 9, From: []string{"bob", "carol", "dave", "erin", "frank"},
			In: []string{"bob", "carol", "dave", "erin", "frank"}},
			"9 messages arrived while you were away, from Bob, Carol, Dave and 2 others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := signedIn(t)
			for _, u := range []string{"bob", "carol", "dave", "erin", "frank"} {
				c := contact(u, api.StatusOnline)
				a.apply(api.Event{Contact: &c})
			}
			n := a.main.offline
			if n.box.Visible() {
				t.Fatal("a notice before anything waited")
			}
			ev := tt.ev
			a.apply(api.Event{OfflineMessages: &ev})
			if !n.box.Visible() || !strings.Contains(n.link.Text, tt.want) {
				t.Fatalf("notice %q (visible %v), want %q", n.link.Text, n.box.Visible(), tt.want)
			}
			// A link takes only clicks on its text: lay it out, as the
			// desktop driver does when a hidden object appears.
			a.main.win.Content().Refresh()
			test.TapAt(n.link, fyne.NewPos(20, n.link.Size().Height/2))
			for _, u := range tt.ev.In {
				if c := a.chats[u]; c == nil || !c.shown {
					t.Errorf("the conversation with %s is not open", u)
				}
			}
			if n.box.Visible() {
				t.Error("the notice stays after opening the conversations")
			}
		})
	}

	a, _ := signedIn(t)
	a.apply(api.Event{OfflineMessages: &api.OfflineMessagesEvent{Count: 2, From: []string{"bob"}, In: []string{"bob"}}})
	test.Tap(a.main.offline.close)
	if a.main.offline.box.Visible() || len(a.chats) != 0 {
		t.Errorf("× left the notice (%v) or opened %d conversations", a.main.offline.box.Visible(), len(a.chats))
	}
	a.apply(api.Event{OfflineMessages: &api.OfflineMessagesEvent{Count: 2, From: []string{"bob"}, In: []string{"bob"}}})
	a.main.signOutItem.Action()
	if a.main.offline.box.Visible() {
		t.Error("the notice outlives signing out")
	}
}

// TestContactOfflineLine: writing to an offline contact says once, in the
// conversation, that the messages wait for them — not under every
// message, and again only after they were back online and left again.
func TestContactOfflineLine(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOffline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	send := func(text string) {
		c.entry.SetText(text)
		test.Tap(c.send)
	}
	const line = "Bob is offline and will get your messages when they sign in."
	count := func() int {
		return len(slices.DeleteFunc(chatLines(c), func(s string) bool { return s != line }))
	}
	send("are you there?")
	send("call me")
	if got := count(); got != 1 {
		t.Fatalf("said %d times for two messages (lines %q), want once", got, chatLines(c))
	}
	online := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &online})
	send("ah, there you are")
	if got := count(); got != 1 {
		t.Fatalf("said while bob is online (lines %q)", chatLines(c))
	}
	a.apply(api.Event{Contact: &bob})
	send("gone again?")
	if got := count(); got != 2 {
		t.Fatalf("said %d times after bob left again, want 2", got)
	}
	// Someone who has not accepted us gets no such promise.
	carol := contact("carol", api.StatusOffline)
	carol.Relation = api.RelationPendingOut
	a.apply(api.Event{Contact: &carol})
	a.openChat("carol")
	a.chats["carol"].entry.SetText("hello?")
	test.Tap(a.chats["carol"].send)
	for _, l := range chatLines(a.chats["carol"]) {
		if strings.Contains(l, "is offline") {
			t.Errorf("a pending contact's conversation says %q", l)
		}
	}
}
