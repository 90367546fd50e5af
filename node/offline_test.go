package node

import (
	"slices"
	"testing"

	"eserver/node/api"
	"eserver/supernode/client"
)

// TestOfflineMessagesAtSignIn: what waited in bob's mailboxes when he
// signs in is summed up in one event after his account's — how many
// messages, from whom, in which conversations — for the "3 messages
// arrived while you were away" notice; a sign-in with nothing waiting
// has none.
func TestOfflineMessagesAtSignIn(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	alice, bob := friends(t, server)
	carol := newTestNode(t, server, "carol")
	carol.register()
	carol.login()
	befriend(t, carol, bob)

	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	carol.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	for _, m := range []struct {
		from *testNode
		text string
	}{
		{alice, "are you there?"}, {alice, "call me"}, {carol, "lunch tomorrow?"},
	} {
		if _, err := m.from.Send(ctx(t), "bob", m.text); err != nil {
			t.Fatal(err)
		}
		// One at a time into the mailbox, so the order of senders is known.
		s, _ := m.from.current()
		waitUntil(t, m.text+" in bob's mailbox", func() bool {
			out, _ := s.store.Outbox("bob")
			return len(out) == 0
		})
	}
	depth, err := svc.Mailbox.DepthOf(client.MailboxID(svc.Host.ID(), "bob"))
	if err != nil || depth != 3 {
		t.Fatalf("bob's mailbox holds %d items (%v), want 3", depth, err)
	}

	bob.open()
	bob.login()
	signedIn, received := false, 0
	e := bob.waitFor("the offline messages", func(e api.Event) bool {
		if e.Account != nil {
			signedIn = true
		}
		if e.Message != nil && e.Message.State == api.StateReceived {
			received++
		}
		return e.OfflineMessages != nil
	})
	if !signedIn || received != 3 {
		t.Errorf("before the summary: signed in %v, %d messages shown; want the account and all 3", signedIn, received)
	}
	got := *e.OfflineMessages
	if got.Count != 3 || !slices.Equal(got.From, []string{"alice", "carol"}) || !slices.Equal(got.In, []string{"alice", "carol"}) {
		t.Errorf("offline messages %+v, want 3 from alice and carol", got)
	}

	// Signing in again with an empty mailbox: no summary, and what comes
	// while signed in is not "while you were away".
	bob.stop()
	bob.open()
	bob.login()
	if _, err := alice.Send(ctx(t), "bob", "welcome back"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("alice's new message", func(e api.Event) bool {
		if e.OfflineMessages != nil {
			t.Errorf("a summary with nothing waiting: %+v", *e.OfflineMessages)
		}
		return e.Message != nil && e.Message.Text == "welcome back"
	})
}
