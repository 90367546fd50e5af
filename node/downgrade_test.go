package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"eserver/authserver"
	"eserver/node/api"
	"eserver/node/keys"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
	"eserver/supernode/client"
)

// testClock is a clock a test moves forward: the wall clock plus an offset.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// clockedNetwork starts an auth server and the supernode services on one
// host on 127.0.0.1, all on clock, and returns the server's address and the
// services.
func clockedNetwork(t *testing.T, clock *testClock) (string, *supernode.Services) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Now: clock.Now, Logger: testLogger(), SelfSupernode: true, RegisterRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: h.ID(), MailboxDB: filepath.Join(dir, "mailbox.db"), Logger: testLogger(), Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	srv.Attach(h)
	addr, err := pipeline.DialAddr(h)
	if err != nil {
		t.Fatal(err)
	}
	return addr.String(), sn
}

// chatBothWays has a and b exchange a message each way.
func chatBothWays(t *testing.T, a, b *testNode) {
	t.Helper()
	for _, p := range [][2]*testNode{{a, b}, {b, a}} {
		text := "hello from " + p[0].name
		if _, err := p[0].Send(ctx(t), p[1].name, text); err != nil {
			t.Fatal(err)
		}
		if m := p[1].collect(p[0].name, 1); m[0].Text != text {
			t.Fatalf("%s read %q", p[1].name, m[0].Text)
		}
	}
}

// waitSecurity waits for a security event about contact of kind want,
// failing if one of kind never arrives first.
func (tn *testNode) waitSecurity(contact string, want, never api.SecurityKind) {
	tn.t.Helper()
	e := tn.waitFor(fmt.Sprintf("security event %s about %s", want, contact), func(e api.Event) bool {
		s := e.Security
		return s != nil && s.Contact == contact && (s.Kind == want || s.Kind == never)
	})
	if e.Security.Kind == never {
		tn.t.Fatalf("%s: security event %s about %s", tn.name, never, contact)
	}
}

// TestContactAwayTwoDays: alice and bob have spoken through the ratchet;
// bob goes offline for two days, long past his ticket, and alice's session
// with him is gone (a reset). Her next message still starts a ratchet
// session, from the bundle his home still serves (fresh: a one-time key
// of his is taken), and he reads it when he is back. Before, the home
// dropped his bundle with his ticket after a day and the message went in a
// v1 box.
func TestContactAwayTwoDays(t *testing.T) {
	clock := &testClock{}
	server, sn := clockedNetwork(t, clock)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.now, bob.now = clock.Now, clock.Now
	alice.stop()
	bob.stop()
	alice.open()
	bob.open()
	alice.register()
	bob.register()
	alice.login()
	bob.login()
	bs, _ := bob.current()
	bobPeer := bs.host.ID()
	waitUntil(t, "bob's bundle at his home", func() bool {
		left, found, err := sn.Prekeys.OneTimeLeft("bob", bobPeer)
		return err == nil && found && left > 0
	})
	befriend(t, alice, bob)
	chatBothWays(t, alice, bob)

	bob.stop()
	alice.stop()
	clock.Advance(2 * wire.TicketLifetime)
	alice.open()
	alice.login()
	as, _ := alice.current()
	if err := as.keys.Reset(bobPeer); err != nil {
		t.Fatal(err)
	}
	before, found, err := sn.Prekeys.OneTimeLeft("bob", bobPeer)
	if err != nil || !found {
		t.Fatalf("two days on, bob's home serves no bundle of his (%v)", err)
	}
	if _, err := alice.Send(ctx(t), "bob", "two days later"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the message in bob's mailbox", func() bool {
		out, _ := as.store.Outbox("bob")
		return len(out) == 0 && as.delivery.Mailed("bob")
	})
	if ss, err := as.store.Sessions(bobPeer.String()); err != nil || len(ss) != 1 {
		t.Fatalf("alice holds %d sessions with bob's device (%v): the message went without the ratchet", len(ss), err)
	}
	if after, _, _ := sn.Prekeys.OneTimeLeft("bob", bobPeer); after != before-1 {
		t.Fatalf("bob's one-time keys at his home: %d before, %d after; want one taken by a fresh fetch", before, after)
	}
	bob.open()
	bob.login()
	if m := bob.collect("alice", 1); m[0].Text != "two days later" {
		t.Fatalf("bob read %q", m[0].Text)
	}
}

// withhold makes the prekey directory on h a malicious one: every request
// is answered as if it held nothing (no bundles, nothing stored).
func withhold(h host.Host) {
	h.SetStreamHandler(wire.ProtoPrekeys, func(st network.Stream) {
		defer st.Close()
		st.SetDeadline(time.Now().Add(wire.PrekeysTimeout))
		var req wire.PrekeysRequest
		if err := wire.ReadMsg(st, wire.MaxPrekeysFrame, &req); err != nil {
			st.Reset()
			return
		}
		wire.WriteMsg(st, &wire.PrekeysResponse{})
	})
}

// TestWithheldBundlesCannotDowngrade: a home that withholds bundles cannot
// make a pair that has spoken through the ratchet fall back to static
// keys. When alice's session with bob is gone she starts a new one from the
// bundle of his she kept; when bob loses his (the session-reset attack: an
// attacker's junk mail, or a restored profile) he has no bundle of hers to
// start from, so his message waits — and he is told — until her next
// message starts a session, and then goes in it. Before, both went in v1
// boxes.
func TestWithheldBundlesCannotDowngrade(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	chatBothWays(t, alice, bob)
	as, _ := alice.current()
	bs, _ := bob.current()
	withhold(svc.Host)
	if _, err := client.FetchPrekeys(ctx(t), as.host, svc.Host.ID(), as.tk().Signed, "bob"); err != nil {
		t.Fatal(err)
	}

	// Alice's session is reset.
	if err := as.keys.Reset(bs.host.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx(t), "bob", "after my reset"); err != nil {
		t.Fatal(err)
	}
	if m := bob.collect("alice", 1); m[0].Text != "after my reset" {
		t.Fatalf("bob read %q", m[0].Text)
	}
	if n := sessionsWith(t, alice, bob); n == 0 {
		t.Fatal("alice sent without a ratchet session while the home withheld bundles")
	}
	// Bob answers in the new session, which settles it.
	if _, err := bob.Send(ctx(t), "alice", "got it"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)

	// Bob's session is reset (what the reset attack does).
	if err := bs.keys.Reset(as.host.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx(t), "alice", "after my reset"); err != nil {
		t.Fatal(err)
	}
	bob.waitSecurity("alice", api.SecurityWaitingForKeys, api.SecuritySentUnprotected)
	if out, _ := bs.store.Outbox("alice"); len(out) == 0 {
		t.Fatal("bob's message left while he had no way to seal it")
	}
	if n := sessionsWith(t, bob, alice); n != 0 {
		t.Fatalf("bob holds %d sessions with alice", n)
	}
	// Alice writes: bob cannot open it in a session he lost, she starts
	// a new one (from her kept bundle), and bob's reply goes in it.
	if _, err := alice.Send(ctx(t), "bob", "are you there?"); err != nil {
		t.Fatal(err)
	}
	bob.waitSecurity("alice", api.SecurityProtected, api.SecuritySentUnprotected)
	bob.collect("alice", 1)
	if m := alice.collect("bob", 1); m[0].Text != "after my reset" {
		t.Fatalf("alice read %q", m[0].Text)
	}
	if n := sessionsWith(t, bob, alice); n == 0 {
		t.Fatal("bob's message went without a ratchet session")
	}
}

// TestOneTimeKEMPrekeys: each session start with a device uses its own
// one-time KEM prekey: alice and carol start sessions with bob's device
// and two distinct KEM keys of his are used up, each once; when his home
// runs low, his node tops it up. Before, no one-time KEM keys were
// published and every session start used the last-resort KEM key.
func TestOneTimeKEMPrekeys(t *testing.T) {
	svc := testBundle(t)
	alice := newTestNode(t, svc.Addr(), "alice")
	bob := newTestNode(t, svc.Addr(), "bob")
	carol := newTestNode(t, svc.Addr(), "carol")
	for _, n := range []*testNode{alice, bob, carol} {
		n.register()
		n.login()
	}
	bs, _ := bob.current()
	bobPeer := bs.host.ID()
	waitUntil(t, "bob's one-time KEM keys at his home", func() bool {
		left, found, err := svc.Prekeys.OneTimeKEMLeft("bob", bobPeer)
		return err == nil && found && left == keys.OneTimeKEMBatch
	})
	mine := func() map[uint32]bool {
		ids, err := bs.store.Prekeys(store.PrekeyKEMOneTime)
		if err != nil {
			t.Fatal(err)
		}
		m := map[uint32]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	before := mine()
	if len(before) != keys.OneTimeKEMBatch {
		t.Fatalf("bob holds %d one-time KEM keys, want %d", len(before), keys.OneTimeKEMBatch)
	}
	befriend(t, alice, bob)
	befriend(t, carol, bob)
	chatBothWays(t, alice, bob)
	chatBothWays(t, carol, bob)
	after := mine()
	var used []uint32
	for id := range before {
		if !after[id] {
			used = append(used, id)
		}
	}
	if len(used) != 2 {
		t.Fatalf("two session starts used %d of bob's one-time KEM keys (%v), want two distinct ones", len(used), used)
	}

	// Drain his home below the mark: each fetch takes one, never one
	// handed out before.
	as, _ := alice.current()
	seen := map[string]bool{}
	for {
		left, _, err := svc.Prekeys.OneTimeKEMLeft("bob", bobPeer)
		if err != nil {
			t.Fatal(err)
		}
		if left < 8 { // the node's mark for a top-up
			break
		}
		ds, err := client.FetchPrekeys(ctx(t), as.host, svc.Host.ID(), as.tk().Signed, "bob")
		if errors.Is(err, client.ErrRateLimited) {
			time.Sleep(time.Second)
			continue
		}
		if err != nil || len(ds) != 1 || ds[0].OneTimeKEM == nil || seen[string(ds[0].OneTimeKEM)] {
			t.Fatalf("fetch: %d devices, %v; or a KEM key handed out twice", len(ds), err)
		}
		seen[string(ds[0].OneTimeKEM)] = true
	}
	// At bob's next publish his home reports the batch low, and he tops
	// it up.
	if err := bs.keys.Publish(ctx(t), true); err != nil {
		t.Fatal(err)
	}
	if left, _, _ := svc.Prekeys.OneTimeKEMLeft("bob", bobPeer); left < keys.OneTimeKEMBatch {
		t.Fatalf("bob's home holds %d one-time KEM keys after the top-up", left)
	}
}
