package node

import (
	"testing"
	"time"

	"eserver/node/api"
)

// syncEvery is the sync interval of the devices in these tests: short, so
// the test runs in seconds, and long enough that two devices of one
// account stay under their homes' per-account rate limit.
const syncEvery = time.Second

// syncingDevice opens and signs in a device of name's account (registered
// already or not) that syncs every syncEvery.
func syncingDevice(t *testing.T, server, name, pass string) *testNode {
	tn := &testNode{t: t, dir: t.TempDir(), server: server, name: name, pass: pass, syncEvery: syncEvery}
	tn.open()
	t.Cleanup(tn.stop)
	return tn
}

// contactOf is username's entry at tn, or a zero Contact.
func contactOf(t *testing.T, tn *testNode, username string) api.Contact {
	t.Helper()
	cs, err := tn.Contacts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Username == username {
			return c
		}
	}
	return api.Contact{}
}

// joined reports whether tn's session has room among the rooms it rejoins.
func joined(t *testing.T, tn *testNode, room string) bool {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.store.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Room == room {
			return true
		}
	}
	return false
}

// TestAccountSyncAcrossDevices is issue 17's "settings that belong to the
// account sync across devices", with two devices of alice's signed in at
// once: a rename and a group made on the laptop show on the desktop (with
// a contact event), a block made on the desktop applies on the laptop and
// so does the unblock, and a room joined on one is joined on the other,
// then left on both.
func TestAccountSyncAcrossDevices(t *testing.T) {
	server := testServer(t)
	laptop := syncingDevice(t, server, "alice", "pw-alice")
	bob, carol := newTestNode(t, server, "bob"), newTestNode(t, server, "carol")
	for _, tn := range []*testNode{laptop, bob, carol} {
		tn.register()
		tn.login()
	}
	befriend(t, laptop, bob)
	befriend(t, laptop, carol)
	ls, _ := laptop.current()
	waitUntil(t, "alice's list backed up", func() bool { return ls.contacts.BackupVersion() > 0 })

	desktop := syncingDevice(t, server, "alice", laptop.pass)
	desktop.login()
	waitUntil(t, "bob and carol on the desktop", func() bool {
		return contactOf(t, desktop, "bob").Relation == api.RelationAccepted && contactOf(t, desktop, "carol").Relation == api.RelationAccepted
	})

	// The laptop arranges the list; the desktop, already signed in, follows.
	if err := laptop.RenameContact(ctx(t), "bob", "Bobby"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.SetContactGroup(ctx(t), "bob", "Work"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	desktop.waitFor("bob renamed and filed on the desktop", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "bob" && e.Contact.Alias == "Bobby" && e.Contact.Group == "Work"
	})
	t.Logf("a rename on the laptop reached the desktop in %v (sync interval %v)", time.Since(start).Round(10*time.Millisecond), syncEvery)

	// A block on the desktop blocks carol on the laptop; an unblock there
	// makes her a contact again on both.
	if err := desktop.BlockContact(ctx(t), "carol"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "carol blocked on the laptop", func() bool { return contactOf(t, laptop, "carol").Relation == api.RelationBlocked })
	if err := laptop.UnblockContact(ctx(t), "carol"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "carol unblocked on the desktop", func() bool { return contactOf(t, desktop, "carol").Relation == api.RelationAccepted })
	if c := contactOf(t, desktop, "bob"); c.Alias != "Bobby" || c.Group != "Work" {
		t.Fatalf("bob on the desktop after the block and unblock: %+v", c)
	}

	// A room joined on the laptop is joined on the desktop; left on the
	// desktop, it is left on the laptop.
	const room = "wombatparlour"
	if err := laptop.CreateRoom(ctx(t), api.RoomSpec{Room: room, Public: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.JoinRoom(ctx(t), room, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the room joined on the desktop", func() bool { return joined(t, desktop, room) })
	if err := desktop.LeaveRoom(ctx(t), room); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the room left on the laptop", func() bool { return !joined(t, laptop, room) })
	// And the left room stays left: neither device joins it back.
	time.Sleep(3 * syncEvery)
	if joined(t, laptop, room) || joined(t, desktop, room) {
		t.Fatal("a room left came back")
	}
}

// TestAccountChangeToldAtOnce: a device that stores a change of the
// account's state tells the account's other devices, which read it at
// once — here they would not poll for an hour. A contact's acceptance that
// reached one device reaches the other this way too.
func TestAccountChangeToldAtOnce(t *testing.T) {
	server := testServer(t)
	device := func(pass string) *testNode {
		tn := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: pass, syncEvery: time.Hour}
		tn.open()
		t.Cleanup(tn.stop)
		return tn
	}
	laptop := device("pw-alice")
	bob, dave := newTestNode(t, server, "bob"), newTestNode(t, server, "dave")
	for _, tn := range []*testNode{laptop, bob, dave} {
		tn.register()
		tn.login()
	}
	befriend(t, laptop, bob)
	ls, _ := laptop.current()
	waitUntil(t, "alice's list backed up", func() bool { return ls.contacts.BackupVersion() > 0 })
	desktop := device(laptop.pass)
	desktop.login()
	waitUntil(t, "bob on the desktop", func() bool { return contactOf(t, desktop, "bob").Relation == api.RelationAccepted })

	if err := laptop.RenameContact(ctx(t), "bob", "Bobby"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the rename on the desktop", func() bool { return contactOf(t, desktop, "bob").Alias == "Bobby" })

	// Dave's acceptance of the desktop's request reaches one of alice's
	// devices; both hold dave as a contact soon after.
	if err := desktop.AddContact(ctx(t), "dave", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "dave asked", func() bool { return contactOf(t, dave, "alice").Relation == api.RelationPendingIn })
	if err := dave.AcceptContact(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{laptop, desktop} {
		waitUntil(t, "dave accepted on each of alice's devices", func() bool { return contactOf(t, tn, "dave").Relation == api.RelationAccepted })
	}
}
