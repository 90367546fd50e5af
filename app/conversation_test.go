package app

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// chatLines is the text of a conversation's lines from the app.
func chatLines(c *chatWindow) []string {
	var out []string
	for _, it := range c.items {
		if l, ok := it.box.(*widget.Label); ok && it.row == nil {
			out = append(out, l.Text)
		}
	}
	return out
}

// TestInviteThirdContact: from a conversation with bob, Invite offers the
// online contacts not in it; inviting carol opens the multi-party
// conversation, whose window names both, takes their messages (each under
// its author) and hides what stays two-party.
func TestInviteThirdContact(t *testing.T) {
	a, fake := signedIn(t)
	for _, ct := range []api.Contact{contact("bob", api.StatusOnline), contact("carol", api.StatusBusy), contact("dave", api.StatusOffline)} {
		a.apply(api.Event{Contact: &ct})
	}
	a.openChat("bob")
	c := a.chats["bob"]
	test.Tap(c.inviteBtn)
	if c.invitePick == nil || !slices.Equal(c.invitePick.Options, []string{"Carol (carol)"}) {
		t.Fatalf("invite choices: %+v", c.invitePick)
	}
	c.invite("carol")
	if !fake.Called("Invite bob carol") {
		t.Fatalf("calls %v", fake.Calls())
	}
	id := "#00000000000000000000000000000001"
	g := a.chats[id]
	if g == nil || !g.shown {
		t.Fatal("the multi-party conversation did not open")
	}
	if !strings.Contains(g.win.Title(), "Bob and Carol") || g.status.Text != "(3 people)" {
		t.Fatalf("title %q, status %q", g.win.Title(), g.status.Text)
	}
	for _, b := range []*widget.Button{g.nudgeBtn, g.sendFile, g.liveBtn} {
		if b.Visible() {
			t.Fatalf("%q shows in a multi-party conversation", b.Text)
		}
	}
	if !g.leaveBtn.Visible() || !c.nudgeBtn.Visible() || c.leaveBtn.Visible() {
		t.Fatal("Leave belongs to multi-party windows only")
	}

	// carol's message lands in the conversation's window, under her name.
	a.apply(api.Event{Message: &api.Message{ID: "m1", From: "carol", To: id, Text: "hi all", State: api.StateReceived}})
	if a.chats["carol"] != nil {
		t.Fatal("carol's message in the conversation opened a window with her alone")
	}
	if len(g.rows) != 1 || !strings.Contains(g.rows[0].from.Text, "Carol says:") {
		t.Fatalf("rows %+v", g.rows)
	}
	// Typing in it tells no one (typing is two-party).
	g.entry.SetText("hello")
	if fake.Called("Typing") {
		t.Fatal("typing signalled in a multi-party conversation")
	}

	// dave joins (invited by bob), then carol leaves.
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "carol", "dave"}}, Joined: "dave", By: "bob"}})
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "dave"}}, Left: "carol"}})
	lines := chatLines(g)
	if !slices.Contains(lines, "Dave has joined the conversation.") || !slices.Contains(lines, "Carol has left the conversation.") {
		t.Fatalf("lines %q", lines)
	}
	if !strings.Contains(g.win.Title(), "Bob and Dave") {
		t.Fatalf("title after the changes: %q", g.win.Title())
	}

	test.Tap(g.leaveBtn)
	if !fake.Called("LeaveConversation "+id) || g.shown {
		t.Fatalf("leave: calls %v, shown %v", fake.Calls(), g.shown)
	}
}

// TestInvitedIntoConversation: being invited opens the conversation with a
// line saying who invited us and who is there.
func TestInvitedIntoConversation(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	id := "#0000000000000000000000000000abcd"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "erin"}}, Joined: "alice", By: "bob"}})
	g := a.chats[id]
	if g == nil || !g.shown {
		t.Fatal("an invitation did not open the conversation")
	}
	// The inviter is named once (issue 14, item 9: "Bob invited you into
	// a conversation with Bob and erin").
	if lines := chatLines(g); !slices.Contains(lines, "Bob invited you into a conversation with erin.") {
		t.Fatalf("lines %q", lines)
	}
}

// TestMemberSignsOut: a member of a multi-party conversation who quits
// (signs out) no longer shows as there: the window says so in a line and
// in its header, and its glyph goes grey once no one else is online; the
// member coming back is said too (issue 14, item 9).
func TestMemberSignsOut(t *testing.T) {
	a, _ := signedIn(t)
	bob, carol := contact("bob", api.StatusOnline), contact("carol", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.apply(api.Event{Contact: &carol})
	id := "#0000000000000000000000000000beef"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "carol"}}, Joined: "alice", By: "bob"}})
	g := a.chats[id]
	if g.status.Text != "(3 people)" || g.glyph.Resource != glyphOnline {
		t.Fatalf("all there: status %q, glyph %s", g.status.Text, g.glyph.Resource.Name())
	}

	carol.Status = api.StatusOffline
	a.apply(api.Event{Contact: &carol})
	if lines := chatLines(g); !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "Carol has signed out.") }) {
		t.Fatalf("no line for carol signing out: %q", lines)
	}
	if g.status.Text != "(3 people · Carol offline)" || g.glyph.Resource != glyphOnline {
		t.Fatalf("carol out: status %q, glyph %s", g.status.Text, g.glyph.Resource.Name())
	}
	bob.Status = api.StatusOffline
	a.apply(api.Event{Contact: &bob})
	if g.status.Text != "(3 people · Bob and Carol offline)" || g.glyph.Resource != glyphOffline {
		t.Fatalf("everyone out: status %q, glyph %s", g.status.Text, g.glyph.Resource.Name())
	}
	// A change that is not of presence says nothing.
	n := len(chatLines(g))
	bob.Subnick = "brb"
	a.apply(api.Event{Contact: &bob})
	if len(chatLines(g)) != n {
		t.Fatalf("a new personal message made a line: %q", chatLines(g)[n:])
	}
	carol.Status = api.StatusAway
	a.apply(api.Event{Contact: &carol})
	if lines := chatLines(g); lines[len(lines)-1] != "Carol is back online." || g.glyph.Resource != glyphOnline {
		t.Fatalf("carol back: lines %q, glyph %s", lines, g.glyph.Resource.Name())
	}
}

// TestOfflineContactHeader: an offline contact's conversation never says
// "(Offline) · connected directly" (issue 14, item 9); what an offline
// contact's mailbox does is still said.
func TestOfflineContactHeader(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	bob.Via = api.ViaDirect
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	if c.status.Text != "(Available) · connected directly" {
		t.Fatalf("online: %q", c.status.Text)
	}
	for _, tt := range []struct {
		status api.Status
		via    api.Via
		want   string
	}{
		{api.StatusOffline, api.ViaDirect, "(Offline)"},
		{api.StatusInvisible, api.ViaHolePunched, "(Offline)"},
		{api.StatusOffline, api.ViaRelayed, "(Offline)"},
		{api.StatusOffline, api.ViaMailbox, "(Offline) · messages will wait in their mailbox"},
	} {
		bob.Status, bob.Via = tt.status, tt.via
		a.apply(api.Event{Contact: &bob})
		if c.status.Text != tt.want {
			t.Errorf("%s via %s: %q, want %q", tt.status, tt.via, c.status.Text, tt.want)
		}
	}
}
