package node

import (
	"testing"

	"eserver/node/api"
	"eserver/node/ticket"
	"eserver/supernode/client"
)

// TestVisibility: at the supernodes, a stranger and a blocked user cannot
// see where a user is — exactly as if the user were offline — while its
// contacts can; unblocking restores it, and appearing offline hides the
// user from everyone.
func TestVisibility(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	carol := newTestNode(t, server, "carol")
	for _, tn := range []*testNode{alice, bob, carol} {
		tn.register()
		tn.login()
	}
	befriend(t, alice, bob)

	// sees asks bob's homes, as asker would (with the token bob gave it).
	lookup := func(asker *testNode) client.Found {
		t.Helper()
		s, err := asker.current()
		if err != nil {
			t.Fatal(err)
		}
		found, err := s.discovery.Lookup(ctx(t), []string{"bob"})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := found["bob"]
		if !ok {
			t.Fatalf("%s got not even bob's card", asker.name)
		}
		return f
	}
	sees := func(asker *testNode) bool { t.Helper(); return len(lookup(asker).Addrs.Addrs) > 0 }
	// cardOnly checks that asker learns what a contact request needs and
	// nothing more: no device name, no sign-in time.
	cardOnly := func(asker *testNode) {
		t.Helper()
		f := lookup(asker)
		if tk := f.Ticket; !tk.Card || tk.Device != "" || tk.Issued.Truncate(ticket.CardGrain) != tk.Issued || len(tk.BoxKey) == 0 {
			t.Fatalf("%s, not bob's contact, got %+v", asker.name, tk)
		}
	}
	bobSession, _ := bob.current()
	republished := func() {
		t.Helper()
		if !bobSession.discovery.Publish() {
			t.Fatal("bob could not publish")
		}
	}
	waitUntil(t, "alice sees bob", func() bool { return sees(alice) })
	if sees(carol) {
		t.Fatal("a stranger sees where bob is")
	}
	cardOnly(carol)
	if tk := lookup(alice).Ticket; tk.Card || tk.Device == "" {
		t.Fatalf("bob's contact got %+v, want his ticket", tk)
	}

	if err := bob.BlockContact(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	republished()
	if sees(alice) {
		t.Fatal("a blocked user sees where bob is")
	}
	cardOnly(alice)
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline) // and sees him offline

	if err := bob.UnblockContact(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	republished()
	if !sees(alice) {
		t.Fatal("unblocked contact cannot see bob")
	}

	invisible := api.StatusInvisible
	if err := bob.SetPresence(ctx(t), api.PresenceUpdate{Status: &invisible}); err != nil {
		t.Fatal(err)
	}
	republished()
	if sees(alice) || sees(carol) {
		t.Fatal("appearing offline still shows where bob is")
	}
}
