package node

import (
	"errors"
	"slices"
	"testing"
	"time"

	"eserver/node/api"
)

// TestConversationOfThree: alice invites carol into her conversation with
// bob. bob and carol are not each other's contacts, yet each gets the
// other's messages (passed on by alice), exactly once, with the right
// author; everyone sees the same members; when carol leaves, the others are
// told and her later messages cannot be sent.
func TestConversationOfThree(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	carol := newTestNode(t, server, "carol")
	carol.register()
	carol.login()
	befriend(t, alice, carol)

	id, err := alice.Invite(ctx(t), "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !api.IsConversation(id) {
		t.Fatalf("Invite returned %q, not a conversation", id)
	}
	want := []string{"alice", "bob", "carol"}
	for _, tn := range []*testNode{bob, carol} {
		ev := tn.waitFor("the conversation", func(e api.Event) bool {
			return e.Conversation != nil && e.Conversation.ID == id && len(e.Conversation.Members) == 3
		})
		if !slices.Equal(ev.Conversation.Members, want) {
			t.Fatalf("%s sees members %v", tn.name, ev.Conversation.Members)
		}
	}

	texts := map[*testNode]string{alice: "hi both", bob: "hello carol", carol: "hi bob, nice to meet you"}
	for _, tn := range []*testNode{alice, bob, carol} {
		if _, err := tn.Send(ctx(t), id, texts[tn]); err != nil {
			t.Fatalf("%s sends: %v", tn.name, err)
		}
	}
	for _, tn := range []*testNode{alice, bob, carol} {
		// The other two's messages, in whichever order they come.
		got := map[string]string{}
		tn.waitFor("the others' messages", func(e api.Event) bool {
			if m := e.Message; m != nil && m.To == id && m.From != tn.name {
				if _, dup := got[m.From]; dup {
					t.Errorf("%s got %s's message twice", tn.name, m.From)
				}
				got[m.From] = m.Text
			}
			return len(got) == 2
		})
		for from, text := range texts {
			if from != tn && got[from.name] != text {
				t.Fatalf("%s got %q from %s", tn.name, got[from.name], from.name)
			}
		}
	}
	// Each history holds the three messages once, with their authors
	// (beside who was invited: TestHistoryEntries).
	for _, tn := range []*testNode{alice, bob, carol} {
		h, err := tn.History(ctx(t), id, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range h {
			if m.Kind != api.KindMessage {
				continue
			}
			if _, dup := got[m.From]; dup {
				t.Fatalf("%s's history repeats %s's message: %+v", tn.name, m.From, h)
			}
			got[m.From] = m.Text
		}
		for from, text := range texts {
			if got[from.name] != text {
				t.Fatalf("%s's history: %v", tn.name, got)
			}
		}
	}
	// Our own message is marked delivered once a member has it (by now
	// alice has passed it on, so she acknowledged it; bob may read her
	// ack a moment after carol has the message).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h, err := bob.History(ctx(t), id, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(h, func(m api.Message) bool { return m.From == "bob" })
		if i >= 0 && h[i].State == api.StateDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's own message never marked delivered: %+v", h)
		}
	}

	// Search finds a message of the conversation with its author, also
	// within that conversation alone.
	for _, with := range []string{"", id} {
		hits, err := bob.SearchHistory(ctx(t), api.HistoryQuery{Text: "meet", With: with})
		if err != nil || len(hits) != 1 || hits[0].From != "carol" || hits[0].To != id {
			t.Fatalf("search with %q: %+v (%v)", with, hits, err)
		}
	}

	if err := carol.LeaveConversation(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob} {
		tn.waitFor("carol left", func(e api.Event) bool {
			return e.Conversation != nil && e.Conversation.Left == "carol" && !slices.Contains(e.Conversation.Members, "carol")
		})
	}
	if _, err := carol.Send(ctx(t), id, "one more thing"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("sending after leaving: %v", err)
	}
	cs, err := carol.Conversations(ctx(t))
	if err != nil || len(cs) != 1 || !cs[0].Left {
		t.Fatalf("carol's conversations after leaving: %+v (%v)", cs, err)
	}
	// Inviting into it again brings her back.
	if _, err := alice.Invite(ctx(t), id, "carol"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("carol back", func(e api.Event) bool {
		return e.Conversation != nil && e.Conversation.Joined == "carol" && e.Conversation.By == "alice"
	})
}

func TestInviteRefusals(t *testing.T) {
	alice, bob := friends(t, testServer(t))
	for name, tc := range map[string]struct {
		with, who string
		want      error
	}{
		"a stranger":             {"bob", "mallory", api.ErrNotContact},
		"the contact itself":     {"bob", "bob", api.ErrBadRequest},
		"unknown conversation":   {"#00112233445566778899aabbccddeeff", "bob", api.ErrBadRequest},
		"malformed conversation": {"#xyz", "bob", api.ErrBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := alice.Invite(ctx(t), tc.with, tc.who); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := alice.Send(ctx(t), "#00112233445566778899aabbccddeeff", "hi"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("send to an unknown conversation: %v", err)
	}
	if cs, err := bob.Conversations(ctx(t)); err != nil || len(cs) != 0 {
		t.Fatalf("refused invitations left conversations: %+v (%v)", cs, err)
	}
}
