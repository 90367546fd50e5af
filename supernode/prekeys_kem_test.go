package supernode

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"golang.org/x/time/rate"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// kems returns n distinct stand-in one-time KEM prekeys tagged tag, of the
// real size (4-byte id, 1,184-byte key, 64-byte signature).
func kems(tag string, n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = bytes.Repeat([]byte(fmt.Sprintf("%s%04d", tag, i)), 1252)[:1252]
	}
	return keys
}

// TestPrekeysOneTimeKEM: one-time KEM prekeys are kept beside the X25519
// ones: every fetch takes one of each kind from each device, oldest first,
// so two session starts never get the same KEM prekey, and once they run
// out the bundle is served without one; counts come back on publish and
// status, and replace drops both kinds. Before, the directory had no place
// for them and every session start used the device's last-resort KEM key.
func TestPrekeysOneTimeKEM(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	ctx := sntest.Ctx(t)
	keys := kems("k", 3)
	n, err := client.PublishAllPrekeys(ctx, alice, sn, aliceT, bundleOf("a"), otks("a", 2), keys, false)
	if err != nil || n != (client.PrekeyCounts{OneTime: 2, OneTimeKEM: 3}) {
		t.Fatalf("publish: %+v, %v", n, err)
	}
	seen := map[string]bool{}
	for i := range 4 {
		d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a"))
		if i >= len(keys) {
			if d.OneTimeKEM != nil {
				t.Fatalf("fetch %d: a KEM prekey handed out after they ran out", i)
			}
			continue
		}
		if !bytes.Equal(d.OneTimeKEM, keys[i]) || seen[string(d.OneTimeKEM)] {
			t.Fatalf("fetch %d: KEM prekey %q, want the oldest left %q, never one seen before", i, trim(d.OneTimeKEM), trim(keys[i]))
		}
		seen[string(d.OneTimeKEM)] = true
	}
	if left, _, _ := e.p.OneTimeKEMLeft("alice", alice.ID()); left != 0 {
		t.Fatalf("%d KEM prekeys left after three were handed out", left)
	}
	// A top-up and a replace.
	n, err = client.PublishAllPrekeys(ctx, alice, sn, aliceT, bundleOf("a"), nil, kems("m", 2), false)
	if err != nil || n.OneTimeKEM != 2 {
		t.Fatalf("top-up: %+v, %v", n, err)
	}
	if st, err := client.PrekeysStatus(ctx, alice, sn, aliceT); err != nil || st.OneTimeKEMLeft != 2 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	n, err = client.PublishAllPrekeys(ctx, alice, sn, aliceT, bundleOf("a"), nil, kems("r", 1), true)
	if err != nil || n != (client.PrekeyCounts{OneTime: 0, OneTimeKEM: 1}) {
		t.Fatalf("replace: %+v, %v", n, err)
	}
	// Past the cap, the oldest go.
	for i := range 2 {
		if _, err := client.PublishAllPrekeys(ctx, alice, sn, aliceT, bundleOf("a"), nil, kems(fmt.Sprint("c", i), wire.MaxOneTimeKEMPerPublish), false); err != nil {
			t.Fatal(err)
		}
	}
	if left, _, _ := e.p.OneTimeKEMLeft("alice", alice.ID()); left != wire.MaxOneTimeKEMStored {
		t.Fatalf("%d KEM prekeys stored, want the cap %d", left, wire.MaxOneTimeKEMStored)
	}
	s := e.p.Stats()
	if s.OneTimeKEMHandedOut != 3 || s.OneTimeKEMExhausted != 1 {
		t.Fatalf("stats %+v", s)
	}

	// The limits, on both sides.
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{
		{"too many", kems("x", wire.MaxOneTimeKEMPerPublish+1)},
		{"too long", [][]byte{make([]byte, wire.MaxOneTimeKEMPrekey+1)}},
		{"empty", [][]byte{{}}},
	} {
		if _, err := client.PublishAllPrekeys(ctx, alice, sn, aliceT, bundleOf("a"), nil, tc.keys, false); !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("%s: client sent it (%v)", tc.name, err)
		}
		req := &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{Ticket: aliceT, Bundle: bundleOf("a"), OneTimeKem: tc.keys}}}
		if resp := e.raw(t, alice.ID(), req); resp.Error != wire.CodeBadRequest {
			t.Fatalf("%s: server answered %q", tc.name, resp.Error)
		}
	}
	// At the limit, a publish fits in a frame, and so does a fetch answer
	// with every device at every limit.
	full := kems("f", wire.MaxOneTimeKEMPerPublish)
	for i := range full {
		full[i] = bytes.Repeat([]byte{7}, wire.MaxOneTimeKEMPrekey)
	}
	if _, err := client.PublishAllPrekeys(ctx, alice, sn, aliceT, bytes.Repeat([]byte{1}, wire.MaxPrekeyBundle), otks("f", wire.MaxOneTimePerPublish), full, false); err != nil {
		t.Fatalf("publish at every limit: %v", err)
	}
	resp := &wire.PrekeysResponse{}
	for range wire.MaxPrekeyDevices {
		resp.Devices = append(resp.Devices, &wire.PrekeyDevice{PeerId: make([]byte, client.MaxPrekeyPeerID),
			Bundle: make([]byte, wire.MaxPrekeyBundle), OneTime: make([]byte, wire.MaxOneTimePrekey), OneTimeKem: full[0]})
	}
	if n := len(frame(t, resp)); n > wire.MaxPrekeysFrame {
		t.Fatalf("the largest fetch answer takes %d bytes, frame limit %d", n, wire.MaxPrekeysFrame)
	}
}

// TestPrekeysConcurrentKEMFetch: fetchers racing for K one-time KEM
// prekeys get K distinct keys between them, each once.
func TestPrekeysConcurrentKEMFetch(t *testing.T) {
	const fetchers = 12
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	keys := kems("k", 5)
	if _, err := client.PublishAllPrekeys(sntest.Ctx(t), alice, sn, aliceT, bundleOf("a"), nil, keys, false); err != nil {
		t.Fatal(err)
	}
	hosts := make([]host.Host, fetchers)
	tickets := make([]*wire.SignedTicket, fetchers)
	for i := range hosts {
		hosts[i], tickets[i] = e.client(fmt.Sprintf("fetcher%d", i))
	}
	got := make([][]byte, fetchers)
	errs := make([]error, fetchers)
	ctx := sntest.Ctx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ds, err := client.FetchPrekeys(ctx, hosts[i], sn, tickets[i], "alice")
			if err == nil && len(ds) == 1 {
				got[i] = ds[0].OneTimeKEM
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	handed := map[string]int{}
	for i, k := range got {
		if errs[i] != nil {
			t.Fatalf("fetcher %d: %v", i, errs[i])
		}
		if k != nil {
			handed[string(k)]++
		}
	}
	if len(handed) != len(keys) {
		t.Fatalf("%d distinct KEM prekeys handed out, want %d", len(handed), len(keys))
	}
	for _, k := range keys {
		if handed[string(k)] != 1 {
			t.Fatalf("KEM prekey %q handed out %d times", trim(k), handed[string(k)])
		}
	}
}

// TestPrekeysRevokedOutlivesNoTicket: bundles outlive their tickets, but
// not a revocation: a revoked device's entry is not served, and is gone by
// the time the revocation list forgets the device (at its last ticket's
// expiry), so it is not served again in the days its TTL would have left.
func TestPrekeysRevokedOutlivesNoTicket(t *testing.T) {
	rev := &client.Revocations{}
	e := newPrekeysEnv(t, PrekeysConfig{Revocations: rev, Rate: rate.Inf})
	rev.Auth = e.authID
	rev.Now = e.clock.Now
	sn := e.h.ID()
	bob, bobT := e.clientFor("bob", 30*24*time.Hour)
	stolen, stolenT := e.clientFor("alice", time.Hour)
	kept, keptT := e.clientFor("alice", time.Hour)
	mustPublish(t, stolen, sn, stolenT, bundleOf("stolen"), otks("s", 1), false, 1)
	mustPublish(t, kept, sn, keptT, bundleOf("kept"), nil, false, 0)
	if ds := mustFetch(t, bob, sn, bobT, "alice"); len(ds) != 2 {
		t.Fatalf("%d devices before the revocation", len(ds))
	}
	if err := rev.Apply(sntest.RevocationList(t, e.auth, 0, 1, false,
		ticket.Revocation{Serial: 1, Peer: stolen.ID(), Horizon: e.clock.Now().Add(time.Hour)})); err != nil {
		t.Fatal(err)
	}
	// The sweep after the revocation drops the entry even with no fetch.
	if n, err := e.p.Sweep(sntest.Ctx(t)); err != nil || n != 1 {
		t.Fatalf("sweep after a revocation: %d, %v; want 1", n, err)
	}
	// Past the horizon the list has forgotten the device; its entry is gone.
	e.clock.Advance(2 * time.Hour)
	if err := rev.Apply(sntest.RevocationList(t, e.auth, 1, 1, false)); err != nil {
		t.Fatal(err)
	}
	ds := mustFetch(t, bob, sn, bobT, "alice")
	if len(ds) != 1 || ds[0].Peer != kept.ID() {
		t.Fatalf("after the horizon: %d devices served, want only the kept one", len(ds))
	}
	if e.p.Stats().RevokedDropped != 1 {
		t.Fatalf("stats %+v", e.p.Stats())
	}
}

// TestPrekeysRevokedAtFetch: a revoked device's entry is not served even
// before a sweep, and the fetch deletes it.
func TestPrekeysRevokedAtFetch(t *testing.T) {
	rev := &client.Revocations{}
	e := newPrekeysEnv(t, PrekeysConfig{Revocations: rev, Rate: rate.Inf})
	rev.Auth = e.authID
	rev.Now = e.clock.Now
	sn := e.h.ID()
	bob, bobT := e.client("bob")
	stolen, stolenT := e.client("alice")
	mustPublish(t, stolen, sn, stolenT, bundleOf("stolen"), nil, false, 0)
	if err := rev.Apply(sntest.RevocationList(t, e.auth, 0, 1, false,
		ticket.Revocation{Serial: 1, Peer: stolen.ID(), Horizon: e.clock.Now().Add(time.Hour)})); err != nil {
		t.Fatal(err)
	}
	if ds := mustFetch(t, bob, sn, bobT, "alice"); len(ds) != 0 {
		t.Fatalf("a revoked device's bundle was served")
	}
	if devs, _, _ := e.p.Count(); devs != 0 {
		t.Fatalf("%d entries left after the fetch", devs)
	}
}
