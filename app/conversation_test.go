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
// online contacts not in it; inviting carol turns that window into the
// multi-party conversation (as MSN did), which names both, takes their
// messages (each under its author) and hides what stays two-party; a
// conversation with bob alone opens in a new window.
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
	if g != c || !g.shown || a.chats["bob"] != nil {
		t.Fatal("the conversation did not grow out of the window it was started from")
	}
	if !strings.Contains(g.win.Title(), "Bob and Carol") || g.status.Text != "(3 people)" {
		t.Fatalf("title %q, status %q", g.win.Title(), g.status.Text)
	}
	for _, b := range []*widget.Button{g.nudgeBtn, g.liveBtn} {
		if b.Visible() {
			t.Fatalf("%q shows in a multi-party conversation", b.Text)
		}
	}
	if !g.sendFile.Visible() {
		t.Fatal("no file button in a multi-party conversation")
	}
	a.openChat("bob")
	one := a.chats["bob"]
	if one == g || !g.leaveBtn.Visible() || !one.nudgeBtn.Visible() || one.leaveBtn.Visible() {
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

// TestInvitationTakesOverOpenWindow: chatting with bob, being invited by
// him turns that window into the conversation (MSN style), with what was
// said above; invited by someone whose window is not open, a new window
// opens.
func TestInvitationTakesOverOpenWindow(t *testing.T) {
	a, _ := signedIn(t)
	for _, ct := range []api.Contact{contact("bob", api.StatusOnline), contact("carol", api.StatusOnline)} {
		a.apply(api.Event{Contact: &ct})
	}
	a.openChat("bob")
	c := a.chats["bob"]
	a.apply(api.Event{Message: &api.Message{ID: "m1", From: "bob", To: "alice", Text: "let's ask carol", State: api.StateReceived}})
	id := "#000000000000000000000000000000b1"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "carol"}}, Joined: "alice", By: "bob"}})
	if a.chats[id] != c || a.chats["bob"] != nil || c.with != id {
		t.Fatal("the invitation opened a new window beside the one with bob")
	}
	if len(c.rows) != 1 || c.rows[0].text.Text != "let's ask carol" || !c.leaveBtn.Visible() || c.nudgeBtn.Visible() {
		t.Fatal("the window did not become the conversation with what was said above")
	}
	if !strings.Contains(c.win.Title(), "Bob and Carol") {
		t.Fatalf("title %q", c.win.Title())
	}
	// bob writes to alice alone: a new two-party window.
	a.apply(api.Event{Message: &api.Message{ID: "m2", From: "bob", To: "alice", Text: "just us", State: api.StateReceived}})
	if one := a.chats["bob"]; one == nil || one == c || len(one.rows) != 1 {
		t.Fatal("bob's two-party message did not open its own window")
	}

	// Invited by carol, whose window is not open: a new window.
	id2 := "#000000000000000000000000000000b2"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id2,
		Members: []string{"alice", "carol", "dave"}}, Joined: "alice", By: "carol"}})
	if g := a.chats[id2]; g == nil || g == c || g == a.chats["bob"] || !g.shown {
		t.Fatal("an invitation from someone we were not chatting with did not open its own window")
	}
}

// TestFilesInConversation: a multi-party window has the file button; a
// file sent there is offered to each member and shows in that window,
// even while a two-party window with a member is open.
func TestFilesInConversation(t *testing.T) {
	a, fake := signedIn(t)
	for _, ct := range []api.Contact{contact("bob", api.StatusOnline), contact("carol", api.StatusOnline)} {
		a.apply(api.Event{Contact: &ct})
	}
	id := "#000000000000000000000000000000c1"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "carol"}}, Joined: "alice", By: "bob"}})
	g := a.chats[id]
	a.openChat("bob")
	if !g.sendFile.Visible() {
		t.Fatal("no file button in the multi-party window")
	}
	g.sendFiles([]string{"/tmp/notes.txt"})
	if !fake.Called("SendFile bob /tmp/notes.txt") || !fake.Called("SendFile carol /tmp/notes.txt") {
		t.Fatalf("calls %v", fake.Calls())
	}
	offer := api.Transfer{ID: "t1", Peer: "bob", Outgoing: true, Name: "notes.txt", Size: 10, State: api.TransferOffered}
	a.apply(api.Event{Transfer: &offer})
	if g.tray.rows["t1"] == nil || a.chats["bob"].tray.rows["t1"] != nil {
		t.Fatal("the offer did not show in the window it was sent from")
	}
	// The node may report an offer before SendFile returns its ID.
	a.sending[pendingSend{"carol", "notes.txt"}] = g
	early := api.Transfer{ID: "t2", Peer: "carol", Outgoing: true, Name: "notes.txt", Size: 10, State: api.TransferOffered}
	a.apply(api.Event{Transfer: &early})
	if g.tray.rows["t2"] == nil {
		t.Fatal("an offer reported before SendFile returned went elsewhere")
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
