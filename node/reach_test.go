package node

import (
	"fmt"
	"testing"

	"eserver/node/api"
)

// TestRelayedChat: alice and bob both accept no direct connections (they
// listen nowhere, as behind strict NATs, so no hole punch can work); they
// chat through the relays at their homes, and see how they are connected.
func TestRelayedChat(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	for _, tn := range []*testNode{alice, bob} {
		tn.relayOnly = true
		tn.stop()
		tn.open()
	}
	alice.register()
	bob.register()
	alice.login()
	bob.login()

	// Bob listens nowhere: his record holds only circuit addresses through
	// the relays where he has reservations.
	s, _ := bob.current()
	if len(s.host.Addrs()) != 0 {
		t.Fatalf("bob listens at %v", s.host.Addrs())
	}
	waitUntil(t, "bob has a relay reservation", func() bool { return len(s.reach.circuitAddrs()) > 0 })

	befriend(t, alice, bob)
	const n = 20
	for i := range n {
		if _, err := alice.Send(ctx(t), "bob", fmt.Sprintf("through the relay %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := bob.collect("alice", n)
	for i, m := range got {
		if m.Text != fmt.Sprintf("through the relay %d", i) {
			t.Fatalf("message %d: %q", i, m.Text)
		}
	}
	if _, err := bob.Send(ctx(t), "alice", "and back"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)

	cs, err := alice.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Via != api.ViaRelayed {
		t.Fatalf("alice's contacts: %+v, %v; want bob via relay", cs, err)
	}

	bob.stop()
	waitUntil(t, "bob shown reachable only by mailbox", func() bool {
		cs, _ := alice.Contacts(ctx(t))
		return len(cs) == 1 && cs[0].Via == api.ViaMailbox
	})
}
