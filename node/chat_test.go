package node

import (
	"eserver/node/api"
	"fmt"
	"testing"
	"time"
)

// collect reads n messages from peer on tn's event stream, in arrival order.
func (tn *testNode) collect(from string, n int) []api.Message {
	tn.t.Helper()
	var got []api.Message
	for len(got) < n {
		e := tn.waitFor(fmt.Sprintf("message %d/%d from %s", len(got)+1, n, from), func(e api.Event) bool {
			return e.Message != nil && e.Message.From == from
		})
		got = append(got, *e.Message)
	}
	return got
}

func TestThousandMessagesEachWayExactlyOnceInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	server := testServer(t)
	alice, bob := friends(t, server)

	const n = 1000
	done := make(chan error, 2)
	send := func(from *testNode, to string) {
		for i := range n {
			if _, err := from.Send(ctx(t), to, fmt.Sprintf("%s #%d", from.name, i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}
	go send(alice, "bob")
	go send(bob, "alice")
	check := func(tn *testNode, from string) {
		got := tn.collect(from, n)
		for i, m := range got {
			if want := fmt.Sprintf("%s #%d", from, i); m.Text != want {
				t.Fatalf("%s: message %d is %q, want %q", tn.name, i, m.Text, want)
			}
		}
	}
	check(bob, "alice")
	check(alice, "bob")
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Exactly once: the history has each message once, in order, and every
	// outgoing one is delivered.
	for _, tn := range []*testNode{alice, bob} {
		peer := "bob"
		if tn == bob {
			peer = "alice"
		}
		all := fullHistory(t, tn, peer)
		if len(all) != 2*n {
			t.Fatalf("%s: history has %d messages, want %d", tn.name, len(all), 2*n)
		}
		seen := map[string]bool{}
		next := map[string]int{}
		for _, m := range all {
			if seen[m.ID] {
				t.Fatalf("%s: duplicate %s", tn.name, m.ID)
			}
			seen[m.ID] = true
			if want := fmt.Sprintf("%s #%d", m.From, next[m.From]); m.Text != want {
				t.Fatalf("%s: history out of order: %q, want %q", tn.name, m.Text, want)
			}
			next[m.From]++
		}
	}
	waitDelivered(t, alice, "bob", n)
	waitDelivered(t, bob, "alice", n)
}

// fullHistory pages through the whole conversation with peer.
func fullHistory(t *testing.T, tn *testNode, peer string) []api.Message {
	t.Helper()
	h, err := tn.History(ctx(t), peer, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	all := h
	for len(h) == 1000 {
		if h, err = tn.History(ctx(t), peer, 1000, all[0].ID); err != nil {
			t.Fatal(err)
		}
		all = append(h, all...)
	}
	return all
}

// waitDelivered waits until all n outgoing messages to peer are delivered.
func waitDelivered(t *testing.T, tn *testNode, peer string, n int) {
	t.Helper()
	delivered := 0
	for range 300 {
		delivered = 0
		for _, m := range fullHistory(t, tn, peer) {
			if m.From == tn.name && m.State == api.StateDelivered {
				delivered++
			}
		}
		if delivered >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %d of %d messages to %s delivered", tn.name, delivered, n, peer)
}

func TestRestartKeepsHistoryAndOfflineDelivery(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	if _, err := alice.Send(ctx(t), "bob", "before restart"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)

	// Bob goes away; alice writes while he is unreachable.
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	id, err := alice.Send(ctx(t), "bob", "while you were out")
	if err != nil {
		t.Fatal(err)
	}

	// Bob comes back (same profile): history kept, the queued message arrives once.
	bob.open()
	bob.login()
	got := bob.collect("alice", 1)
	if got[0].ID != id || got[0].Text != "while you were out" {
		t.Fatalf("bob got %+v", got[0])
	}
	alice.waitFor("delivered", func(e api.Event) bool { return e.Delivered != nil && e.Delivered.ID == id })
	h, err := bob.History(ctx(t), "alice", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Text != "before restart" || h[1].Text != "while you were out" {
		t.Fatalf("bob's history after restart: %+v", h)
	}
	cs, err := bob.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Relation != api.RelationAccepted {
		t.Fatalf("bob's contacts after restart: %+v, %v", cs, err)
	}

	// Alice restarts with a message still queued for an offline bob; it
	// survives her restart and is delivered when both are back. Bob was
	// back so briefly that his presence may not have reached alice before
	// his goodbye: she may show him offline all along, and is told of it
	// only when it changes, so wait for the state, not for an event.
	bob.stop()
	waitUntil(t, "alice to show bob offline", func() bool {
		cs, err := alice.Contacts(ctx(t))
		return err == nil && len(cs) == 1 && cs[0].Status == api.StatusOffline
	})
	id2, err := alice.Send(ctx(t), "bob", "queued across restart")
	if err != nil {
		t.Fatal(err)
	}
	alice.stop()
	alice.open()
	alice.login()
	bob.open()
	bob.login()
	got = bob.collect("alice", 1)
	if got[0].ID != id2 {
		t.Fatalf("bob got %+v, want %s", got[0], id2)
	}
}

func TestContactAuthorization(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	carol := newTestNode(t, server, "carol")
	for _, tn := range []*testNode{alice, bob, carol} {
		tn.register()
		tn.login()
	}
	// Sending to a non-contact is refused locally.
	if _, err := alice.Send(ctx(t), "bob", "hi"); api.Code(err) != "not_contact" {
		t.Fatalf("send to stranger: %v", err)
	}
	// Decline: the request disappears on both sides.
	if err := carol.AddContact(ctx(t), "bob", "carol here"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("request", func(e api.Event) bool { return e.ContactRequest != nil && e.ContactRequest.Message == "carol here" })
	cs, _ := bob.Contacts(ctx(t))
	if len(cs) != 1 || cs[0].Relation != api.RelationPendingIn || cs[0].RequestMessage != "carol here" {
		t.Fatalf("bob's contacts: %+v", cs)
	}
	if err := bob.DeclineContact(ctx(t), "carol"); err != nil {
		t.Fatal(err)
	}
	carol.waitFor("declined", func(e api.Event) bool { return e.ContactRemoved == "bob" })

	// Block: a blocked user's request is dropped silently.
	if err := bob.BlockContact(ctx(t), "carol"); err != nil {
		t.Fatal(err)
	}
	if err := carol.AddContact(ctx(t), "bob", "again"); err != nil {
		t.Fatal(err)
	}
	befriend(t, alice, bob) // meanwhile a normal friendship works
	cs, _ = bob.Contacts(ctx(t))
	for _, c := range cs {
		if c.Username == "carol" && c.Relation != api.RelationBlocked {
			t.Fatalf("carol's request got through a block: %+v", c)
		}
	}
	// Remove: symmetric.
	if err := alice.RemoveContact(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("removed", func(e api.Event) bool { return e.ContactRemoved == "alice" })
	if _, err := bob.Send(ctx(t), "alice", "still there?"); api.Code(err) != "not_contact" {
		t.Fatalf("send after removal: %v", err)
	}
}
