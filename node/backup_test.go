package node

import (
	"testing"

	"eserver/node/api"
	"eserver/node/wire"
	"eserver/supernode/client"
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

// TestContactBackupNotFrozen is issue 13's item 10: the backup's version
// was chosen by the client and only went up, so one put of garbage at the
// highest version (by a device stolen while signed in, before its
// revocation) froze the backup forever: every later upload was refused as
// stale and the garbage never opened. Now a put replaces the blob the owner
// last read, whatever its version, so the next change backs up again.
func TestContactBackupNotFrozen(t *testing.T) {
	server := testServer(t)
	alice, _ := friends(t, server)
	s, _ := alice.current()
	waitUntil(t, "alice's list backed up", func() bool { return s.contacts.BackupVersion() > 0 })

	// The thief reads what is stored, as the owner's devices do, and
	// replaces it with garbage at the highest version.
	for _, home := range s.HomesOf("alice") {
		_, stored, _, err := client.GetContacts(ctx(t), s.Libp2p(), home.ID, s.Ticket().Signed)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Call[*wire.ContactsResponse](ctx(t), s.Libp2p(), home.ID, wire.ProtoContacts, &wire.ContactsRequest{
			Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{
				Ticket: s.Ticket().Signed, Version: client.MaxContactsVersion, Blob: []byte("garbage"),
				Replaces: client.ContactsHash(stored),
			}},
		})
		if err != nil {
			t.Fatalf("the thief's put at %s: %v (%+v)", home.ID, err, resp)
		}
	}

	before := s.contacts.BackupVersion()
	if err := alice.SetContactGroup(ctx(t), "bob", "work"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "alice's changed list backed up over the garbage", func() bool { return s.contacts.BackupVersion() > before })
	alice.stop()

	laptop := newTestNode(t, server, "alice")
	laptop.login()
	cs, err := laptop.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Username != "bob" || cs[0].Group != "work" {
		t.Fatalf("contacts restored on a new device: %+v, %v", cs, err)
	}
}
