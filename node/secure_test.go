package node

import (
	"eserver/node/keys"
	"fmt"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/store"
)

// sessionsWith returns how many ratchet sessions tn holds with other's device.
func sessionsWith(t *testing.T, tn, other *testNode) int {
	t.Helper()
	s, _ := tn.current()
	o, _ := other.current()
	ss, err := s.store.Sessions(o.host.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

// TestRatchetChat: contacts talk over Double Ratchet sessions started from
// each other's published bundles; both sides hold a session afterwards and
// the conversation goes on in both directions.
func TestRatchetChat(t *testing.T) {
	svc := testBundle(t)
	alice := newTestNode(t, svc.Addr(), "alice")
	bob := newTestNode(t, svc.Addr(), "bob")
	alice.register()
	bob.register()
	alice.login()
	bob.login()
	bs, _ := bob.current()
	waitUntil(t, "bob's bundle at his home", func() bool {
		left, found, err := svc.Prekeys.OneTimeLeft("bob", bs.host.ID())
		return err == nil && found && left > 0
	})
	befriend(t, alice, bob)
	for i := range 10 {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		if _, err := from.Send(ctx(t), to.name, fmt.Sprintf("ratcheted %d", i)); err != nil {
			t.Fatal(err)
		}
		if m := to.collect(from.name, 1); m[0].Text != fmt.Sprintf("ratcheted %d", i) {
			t.Fatalf("message %d: %q", i, m[0].Text)
		}
	}
	if sessionsWith(t, alice, bob) == 0 || sessionsWith(t, bob, alice) == 0 {
		t.Fatalf("sessions: alice %d, bob %d", sessionsWith(t, alice, bob), sessionsWith(t, bob, alice))
	}
	if left, _, _ := svc.Prekeys.OneTimeLeft("bob", bs.host.ID()); left >= keys.OneTimeBatch {
		t.Fatalf("no one-time prekey of bob's was used (%d left)", left)
	}
}

// TestFirstMessageToOfflineContact: alice's first message to bob goes to
// his mailbox while he is offline, already end-to-end in a session started
// from his published bundle (PQXDH); bob reads it when he comes back, and
// answers in the same session.
func TestFirstMessageToOfflineContact(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	// Forget the sessions the befriending made, on both sides: the next
	// message starts a new one, from bob's bundle, while he is away.
	as, _ := alice.current()
	bs, _ := bob.current()
	bobPeer := bs.host.ID()
	if err := as.keys.Reset(bobPeer); err != nil {
		t.Fatal(err)
	}
	// And what alice remembers of an earlier fetch: if she asked bob's
	// homes during the befriending before his bundle was there, she would
	// otherwise not ask again for a while and start from the bundle she
	// kept, which carries no one-time prekey.
	as.keys.MarkNoBundle(bobPeer, time.Time{})
	oneTimeBefore, err := bs.store.Prekeys(store.PrekeyOneTime)
	if err != nil {
		t.Fatal(err)
	}
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	if _, err := alice.Send(ctx(t), "bob", "while you were out"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the message in bob's mailbox", func() bool {
		out, _ := as.store.Outbox("bob")
		return len(out) == 0 && as.delivery.Mailed("bob")
	})
	if ss, _ := as.store.Sessions(bobPeer.String()); len(ss) != 1 {
		t.Fatalf("alice holds %d sessions with bob's device, want the one she started", len(ss))
	}

	bob.open()
	bob.login()
	if m := bob.collect("alice", 1); m[0].Text != "while you were out" {
		t.Fatalf("bob read %q", m[0].Text)
	}
	bs, _ = bob.current()
	oneTimeAfter, err := bs.store.Prekeys(store.PrekeyOneTime)
	if err != nil {
		t.Fatal(err)
	}
	// The session start used one of bob's one-time prekeys, gone now.
	if len(oneTimeAfter) >= len(oneTimeBefore) {
		t.Fatalf("bob's one-time prekeys: %d before, %d after", len(oneTimeBefore), len(oneTimeAfter))
	}
	if _, err := bob.Send(ctx(t), "alice", "back now"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)
}

// TestV1ContactsCarryOn: a contact whose device published no bundle (an
// older release), never spoken to through the ratchet, gets v1 boxes, and
// they are read. Once the bundle is found, the conversation moves to the
// ratchet without a message lost, and the user is told (what they are
// told before is node/keys' TestFirstContactV1IsTold).
func TestV1ContactsCarryOn(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	alice.login()
	bob.login()
	as, _ := alice.current()
	bs, _ := bob.current()
	// Each believes the other published nothing (as an older release would).
	as.keys.MarkNoBundle(bs.host.ID(), time.Now().Add(time.Hour))
	bs.keys.MarkNoBundle(as.host.ID(), time.Now().Add(time.Hour))
	befriend(t, alice, bob)
	if _, err := alice.Send(ctx(t), "bob", "in a v1 box"); err != nil {
		t.Fatal(err)
	}
	if m := bob.collect("alice", 1); m[0].Text != "in a v1 box" {
		t.Fatalf("bob read %q", m[0].Text)
	}
	if n := sessionsWith(t, alice, bob); n != 0 {
		t.Fatalf("alice holds %d sessions after sending v1", n)
	}
	// The bundle is found again: the next message starts a session.
	as.keys.MarkNoBundle(bs.host.ID(), time.Time{})
	if _, err := alice.Send(ctx(t), "bob", "ratcheted now"); err != nil {
		t.Fatal(err)
	}
	if m := bob.collect("alice", 1); m[0].Text != "ratcheted now" {
		t.Fatalf("bob read %q", m[0].Text)
	}
	if n := sessionsWith(t, alice, bob); n == 0 {
		t.Fatal("alice did not move to the ratchet")
	}
	alice.waitSecurity("bob", api.SecurityProtected, "")
}

// TestSessionReset: bob loses his sessions (a restored old profile, say);
// alice's next message is refused with session_reset, she starts a new
// session, and the message arrives — once.
func TestSessionReset(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	if _, err := alice.Send(ctx(t), "bob", "before"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	// Let bob's reply settle alice's session out of its first flight, then
	// make bob forget.
	if _, err := bob.Send(ctx(t), "alice", "ok"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)
	as, _ := alice.current()
	bs, _ := bob.current()
	if err := bs.keys.Reset(as.host.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx(t), "bob", "after the loss"); err != nil {
		t.Fatal(err)
	}
	if m := bob.collect("alice", 1); m[0].Text != "after the loss" {
		t.Fatalf("bob read %q", m[0].Text)
	}
	waitDelivered(t, alice, "bob", 2)
	if h := fullHistory(t, bob, "alice"); len(h) != 3 {
		t.Fatalf("bob's history holds %d messages, want 3", len(h))
	}
}
