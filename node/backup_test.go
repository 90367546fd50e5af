package node

import (
	"testing"

	"eserver/node/api"
)

// TestContactListRestoredOnNewDevice: alice's contact list is backed up,
// sealed, at her homes; on a new device (a fresh profile) she signs in and
// has bob back, accepted, and can chat with him at once.
func TestContactListRestoredOnNewDevice(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	s, _ := alice.current()
	waitUntil(t, "alice's list backed up", func() bool { return s.contacts.BackupVersion() > 0 })
	alice.stop()

	laptop := newTestNode(t, server, "alice") // same account, new profile: a new device
	laptop.login()
	cs, err := laptop.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Username != "bob" || cs[0].Relation != api.RelationAccepted {
		t.Fatalf("contacts on the new device: %+v, %v", cs, err)
	}
	if _, err := laptop.Send(ctx(t), "bob", "hi from my laptop"); err != nil {
		t.Fatal(err)
	}
	got := bob.collect("alice", 1)
	if got[0].Text != "hi from my laptop" {
		t.Fatalf("bob got %q", got[0].Text)
	}
	if _, err := bob.Send(ctx(t), "alice", "welcome back"); err != nil {
		t.Fatal(err)
	}
	laptop.collect("bob", 1)
}
