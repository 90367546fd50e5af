package node

import (
	"eserver/supernode"
	"fmt"
	"testing"
	"time"

	"eserver/node/api"
)

// TestOfflineDeliveryThroughMailboxes: alice writes 100 messages while bob
// is offline, then goes offline herself; bob signs in later and gets each
// exactly once, in order, from his mailboxes, which are empty afterwards;
// when alice is back, bob's receipts mark her messages delivered.
func TestOfflineDeliveryThroughMailboxes(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	alice.login()
	bob.login()
	befriend(t, alice, bob)

	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	const n = 100
	var ids []string
	for i := range n {
		id, err := alice.Send(ctx(t), "bob", fmt.Sprintf("offline #%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Bob's mailbox only: bob's receipts to the absent alice wait in hers.
	depth := func() int {
		d, err := svc.Mailbox.DepthOf(supernode.MailboxID(svc.Host.ID(), "bob"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitUntil(t, "all 100 in bob's mailbox", func() bool { return depth() == n })
	s, _ := alice.current()
	if out, _ := s.store.Outbox("bob"); len(out) != 0 {
		t.Fatalf("alice's outbox still holds %d entries after hand-over", len(out))
	}
	alice.stop() // only the mailbox can deliver now

	bob.open()
	bob.login()
	got := bob.collect("alice", n)
	for i, m := range got {
		if m.ID != ids[i] || m.Text != fmt.Sprintf("offline #%d", i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if h := fullHistory(t, bob, "alice"); len(h) != n {
		t.Fatalf("bob's history holds %d messages, want %d", len(h), n)
	}
	waitUntil(t, "bob's mailbox emptied", func() bool { return depth() == 0 })

	// Alice comes back and learns, from bob's receipts, that all arrived.
	alice.open()
	alice.login()
	waitDelivered(t, alice, "bob", n)
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 300 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}
