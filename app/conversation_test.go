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
		if it.row == nil {
			out = append(out, it.note)
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
	if lines := chatLines(g); !slices.Contains(lines, "Bob invited you into a conversation with Bob and erin.") {
		t.Fatalf("lines %q", lines)
	}
}
