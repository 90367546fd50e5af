package supernode

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// prekeysEnv is one supernode host serving Prekeys, its auth server key and
// clock.
type prekeysEnv struct {
	t      *testing.T
	auth   crypto.PrivKey
	authID peer.ID
	clock  *sntest.Clock
	h      host.Host
	cfg    PrekeysConfig
	p      *Prekeys
}

func newPrekeysEnv(t *testing.T, cfg PrekeysConfig) *prekeysEnv {
	t.Helper()
	e := &prekeysEnv{t: t, auth: sntest.Key(t), clock: sntest.NewClock(), h: sntest.Host(t)}
	e.authID = sntest.ID(t, e.auth)
	cfg.AuthServer = e.authID
	if cfg.DBPath == "" {
		cfg.DBPath = filepath.Join(t.TempDir(), "prekeys.db")
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	e.cfg = cfg
	e.open()
	return e
}

func (e *prekeysEnv) open() {
	e.t.Helper()
	p, err := NewPrekeys(e.cfg)
	if err != nil {
		e.t.Fatalf("new prekeys: %v", err)
	}
	p.Attach(e.h)
	e.p = p
	e.t.Cleanup(func() { _ = p.Close() })
}

func (e *prekeysEnv) reopen() {
	e.t.Helper()
	if err := e.p.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.open()
}

// client returns a host connected to the supernode and a ticket for it
// under user, valid for wire.TicketLifetime from the env's clock.
func (e *prekeysEnv) client(user string) (host.Host, *wire.SignedTicket) {
	e.t.Helper()
	return e.clientFor(user, wire.TicketLifetime)
}

// clientFor is client with a ticket that lives d.
func (e *prekeysEnv) clientFor(user string, d time.Duration) (host.Host, *wire.SignedTicket) {
	e.t.Helper()
	h := sntest.Host(e.t)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: e.h.ID(), Addrs: e.h.Addrs()}); err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	now := e.clock.Now()
	return h, sntest.SignTicket(e.t, e.auth, user, h.ID(), now, now.Add(d))
}

// raw runs one request through the server's serve path as if from remote.
func (e *prekeysEnv) raw(t *testing.T, remote peer.ID, req *wire.PrekeysRequest) *wire.PrekeysResponse {
	t.Helper()
	var out bytes.Buffer
	if err := e.p.serve(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(frame(t, req)), &out}, remote); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var resp wire.PrekeysResponse
	if err := wire.ReadMsg(&out, wire.MaxPrekeysFrame, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

func rawPublish(st *wire.SignedTicket, bundle []byte, oneTime [][]byte) *wire.PrekeysRequest {
	return &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{Ticket: st, Bundle: bundle, OneTime: oneTime}}}
}

func rawFetch(st *wire.SignedTicket, user string) *wire.PrekeysRequest {
	return &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Fetch{Fetch: &wire.PrekeysFetch{Ticket: st, Username: user}}}
}

// otks returns n distinct one-time prekeys tagged tag: 4-byte id, 32 bytes.
func otks(tag string, n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		k := binary.BigEndian.AppendUint32(nil, uint32(i))
		keys[i] = append(k, bytes.Repeat([]byte(fmt.Sprintf("%s%04d", tag, i)), 8)[:32]...)
	}
	return keys
}

// bundleOf is a stand-in bundle of about the real size, distinct per tag.
func bundleOf(tag string) []byte {
	return append([]byte("bundle:"+tag+":"), bytes.Repeat([]byte{0xb5}, 1800)...)
}

func mustPublish(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, bundle []byte, oneTime [][]byte, replace bool, wantLeft int) {
	t.Helper()
	left, err := client.PublishPrekeys(sntest.Ctx(t), h, sn, st, bundle, oneTime, replace)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if left != wantLeft {
		t.Fatalf("publish: %d one-time prekeys left, want %d", left, wantLeft)
	}
}

func mustFetch(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, user string) []client.DevicePrekeys {
	t.Helper()
	ds, err := client.FetchPrekeys(sntest.Ctx(t), h, sn, st, user)
	if err != nil {
		t.Fatalf("fetch %s: %v", user, err)
	}
	return ds
}

// one fetches user's prekeys, expecting exactly the device dev with bundle.
func one(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, user string, dev peer.ID, bundle []byte) client.DevicePrekeys {
	t.Helper()
	ds := mustFetch(t, h, sn, st, user)
	if len(ds) != 1 {
		t.Fatalf("fetch %s: %d devices, want 1", user, len(ds))
	}
	d := ds[0]
	if d.Peer != dev || !bytes.Equal(d.Bundle, bundle) {
		t.Fatalf("fetch %s: device %s, bundle %q; want %s, %q", user, d.Peer, trim(d.Bundle), dev, trim(bundle))
	}
	return d
}

func TestPrekeysOwnerID(t *testing.T) {
	a, b := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	id := PrekeysOwnerID(a, "alice")
	if len(id) != 32 || bytes.Equal(id, PrekeysOwnerID(b, "alice")) || bytes.Equal(id, PrekeysOwnerID(a, "alicf")) {
		t.Fatal("owner IDs collide across servers or users")
	}
	// Its own domain: not the contact list's or the mailbox's key.
	if bytes.Equal(id, ContactsOwnerID(a, "alice")) || bytes.Equal(id, client.MailboxID(a, "alice")) {
		t.Fatal("prekey owner ID equals another service's key")
	}
}

// TestPrekeysPublishFetch: another account gets the bundle under the
// publishing device's peer ID, and one one-time prekey per fetch, each exactly once, oldest
// first; once they run out the bundle is still served. The directory has no
// notion of contacts: a contact and a stranger get the same answers.
func TestPrekeysPublishFetch(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	contact, contactT := e.client("bob")
	stranger, strangerT := e.client("mallory")

	if st, err := client.PrekeysStatus(sntest.Ctx(t), alice, sn, aliceT); err != nil || st.Found {
		t.Fatalf("status before publishing: %+v, %v", st, err)
	}
	keys := otks("a", 3)
	bundle := bundleOf("alice")
	mustPublish(t, alice, sn, aliceT, bundle, keys, false, 3)
	st, err := client.PrekeysStatus(sntest.Ctx(t), alice, sn, aliceT)
	if err != nil || !st.Found || st.OneTimeLeft != 3 {
		t.Fatalf("status after publishing: %+v, %v", st, err)
	}
	// The entry outlives the ticket: it is served a bundle TTL after the
	// publish.
	if want := e.clock.Now().Add(wire.PrekeyBundleTTL).Unix(); st.Expiry.Unix() != want {
		t.Fatalf("status expiry %v, want a bundle TTL on, %v", st.Expiry, time.Unix(want, 0))
	}

	var got [][]byte
	for i, f := range []struct {
		h  host.Host
		st *wire.SignedTicket
	}{{contact, contactT}, {stranger, strangerT}, {contact, contactT}} {
		d := one(t, f.h, sn, f.st, "alice", alice.ID(), bundle)
		if !bytes.Equal(d.OneTime, keys[i]) {
			t.Fatalf("fetch %d: one-time prekey %x, want the oldest left %x", i, d.OneTime, keys[i])
		}
		got = append(got, d.OneTime)
		if left, found, err := e.p.OneTimeLeft("alice", alice.ID()); err != nil || !found || left != 2-i {
			t.Fatalf("after fetch %d: %d left (found %v, %v), want %d", i, left, found, err, 2-i)
		}
	}
	// None left: the bundle is still served, with no one-time
	// prekey, to contact and stranger alike.
	for _, f := range []struct {
		h  host.Host
		st *wire.SignedTicket
	}{{contact, contactT}, {stranger, strangerT}} {
		if d := one(t, f.h, sn, f.st, "alice", alice.ID(), bundle); d.OneTime != nil {
			t.Fatalf("one-time prekey %x handed out after they ran out", d.OneTime)
		}
	}
	if devs, oneTime, err := e.p.Count(); err != nil || devs != 1 || oneTime != 0 {
		t.Fatalf("count: %d devices, %d one-time prekeys, %v", devs, oneTime, err)
	}
	s := e.p.Stats()
	if s.Publishes != 1 || s.Fetches != 5 || s.OneTimeHandedOut != 3 || s.OneTimeExhausted != 2 {
		t.Fatalf("stats %+v", s)
	}

	// A device asking for its own account's devices gets the others only:
	// it never starts a session with itself.
	phone, phoneT := e.client("alice")
	mustPublish(t, phone, sn, phoneT, bundleOf("phone"), otks("p", 1), false, 1)
	one(t, alice, sn, aliceT, "alice", phone.ID(), bundleOf("phone"))
	one(t, phone, sn, phoneT, "alice", alice.ID(), bundle)
}

// TestPrekeysConcurrentFetch: N fetchers racing for K one-time prekeys of
// each device get exactly K distinct keys per device between them; the
// rest get the bundle without one.
func TestPrekeysConcurrentFetch(t *testing.T) {
	const fetchers = 16
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn := e.h.ID()
	laptop, laptopT := e.client("alice")
	phone, phoneT := e.client("alice")
	want := map[peer.ID][][]byte{laptop.ID(): otks("laptop", 5), phone.ID(): otks("phone", 3)}
	mustPublish(t, laptop, sn, laptopT, bundleOf("laptop"), want[laptop.ID()], false, 5)
	mustPublish(t, phone, sn, phoneT, bundleOf("phone"), want[phone.ID()], false, 3)

	type result struct {
		ds  []client.DevicePrekeys
		err error
	}
	hosts := make([]host.Host, fetchers)
	tickets := make([]*wire.SignedTicket, fetchers)
	for i := range hosts {
		hosts[i], tickets[i] = e.client(fmt.Sprintf("fetcher%d", i))
	}
	results := make([]result, fetchers)
	ctx := sntest.Ctx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ds, err := client.FetchPrekeys(ctx, hosts[i], sn, tickets[i], "alice")
			results[i] = result{ds, err}
		}()
	}
	close(start)
	wg.Wait()

	handed := map[peer.ID]map[string]int{laptop.ID(): {}, phone.ID(): {}}
	none := map[peer.ID]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("fetcher %d: %v", i, r.err)
		}
		if len(r.ds) != 2 {
			t.Fatalf("fetcher %d: %d devices, want 2", i, len(r.ds))
		}
		for _, d := range r.ds {
			if d.OneTime == nil {
				none[d.Peer]++
				continue
			}
			handed[d.Peer][string(d.OneTime)]++
		}
	}
	for dev, keys := range want {
		if len(handed[dev]) != len(keys) || none[dev] != fetchers-len(keys) {
			t.Fatalf("device %s: %d distinct keys handed out, %d fetches without; want %d and %d",
				dev, len(handed[dev]), none[dev], len(keys), fetchers-len(keys))
		}
		for _, k := range keys {
			if n := handed[dev][string(k)]; n != 1 {
				t.Fatalf("device %s: key %x handed out %d times", dev, k, n)
			}
		}
	}
	if _, oneTime, err := e.p.Count(); err != nil || oneTime != 0 {
		t.Fatalf("%d one-time prekeys left after the race (%v)", oneTime, err)
	}
}

// TestPrekeysOneTimeKeys: top-ups append, a retried publish adds nothing,
// replace_one_time replaces, the stored cap drops the oldest, and the
// answer's left count follows.
func TestPrekeysOneTimeKeys(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	b := bundleOf("v1")

	first := otks("first", 10)
	mustPublish(t, alice, sn, aliceT, b, first, false, 10)
	top := otks("top", 5)
	mustPublish(t, alice, sn, aliceT, b, top, false, 15)
	mustPublish(t, alice, sn, aliceT, b, top, false, 15) // a retry after a lost answer
	mustPublish(t, alice, sn, aliceT, b, nil, false, 15) // a bundle update keeps the keys
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), b); !bytes.Equal(d.OneTime, first[0]) {
		t.Fatalf("fetched %x, want the oldest %x", d.OneTime, first[0])
	}

	// Replacing: only the new keys are left, and they are handed out.
	repl := otks("repl", 3)
	mustPublish(t, alice, sn, aliceT, bundleOf("v2"), repl, true, 3)
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("v2")); !bytes.Equal(d.OneTime, repl[0]) {
		t.Fatalf("after replace fetched %x, want %x", d.OneTime, repl[0])
	}
	mustPublish(t, alice, sn, aliceT, bundleOf("v2"), nil, true, 0)
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("v2")); d.OneTime != nil {
		t.Fatalf("after replacing with none fetched %x", d.OneTime)
	}

	// The cap: three full publishes leave the newest MaxOneTimeStored.
	var batches [][][]byte
	for i := range 3 {
		batch := otks(fmt.Sprintf("cap%d-", i), wire.MaxOneTimePerPublish)
		batches = append(batches, batch)
		mustPublish(t, alice, sn, aliceT, b, batch, false, min((i+1)*wire.MaxOneTimePerPublish, wire.MaxOneTimeStored))
	}
	oldestKept := batches[3-wire.MaxOneTimeStored/wire.MaxOneTimePerPublish][0]
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), b); !bytes.Equal(d.OneTime, oldestKept) {
		t.Fatalf("past the cap fetched %x, want the oldest kept %x", d.OneTime, oldestKept)
	}
	if st, err := client.PrekeysStatus(sntest.Ctx(t), alice, sn, aliceT); err != nil || st.OneTimeLeft != wire.MaxOneTimeStored-1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
}

// TestPrekeysLimits: every limit is accepted exactly at the limit and
// refused one past it, by the client and by the server; a refused publish
// changes nothing.
func TestPrekeysLimits(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")

	fullBundle := bytes.Repeat([]byte{0x42}, wire.MaxPrekeyBundle)
	fullKeys := otks("full", wire.MaxOneTimePerPublish)
	fullKeys[0] = bytes.Repeat([]byte{7}, wire.MaxOneTimePrekey)
	fullKeys[1] = []byte{1} // one byte is a key too
	mustPublish(t, alice, sn, aliceT, fullBundle, fullKeys, false, wire.MaxOneTimePerPublish)
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), fullBundle); !bytes.Equal(d.OneTime, fullKeys[0]) {
		t.Fatalf("the longest key came back as %x", d.OneTime)
	}
	left := wire.MaxOneTimePerPublish - 1

	ok := otks("ok", 1)
	for name, tc := range map[string]struct {
		bundle []byte
		keys   [][]byte
	}{
		"bundle one byte over": {append(bytes.Clone(fullBundle), 0), ok},
		"empty bundle":         {nil, ok},
		"key one byte over":    {fullBundle, [][]byte{bytes.Repeat([]byte{7}, wire.MaxOneTimePrekey+1)}},
		"empty key":            {fullBundle, [][]byte{ok[0], {}}},
		"one key too many":     {fullBundle, otks("many", wire.MaxOneTimePerPublish+1)},
	} {
		if _, err := client.PublishPrekeys(sntest.Ctx(t), alice, sn, aliceT, tc.bundle, tc.keys, false); !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("client publish, %s: %v", name, err)
		}
		if resp := e.raw(t, alice.ID(), rawPublish(aliceT, tc.bundle, tc.keys)); resp.Error != wire.CodeBadRequest || resp.OneTimeLeft != 0 {
			t.Fatalf("server publish, %s: %+v", name, resp)
		}
		if n, _, _ := e.p.OneTimeLeft("alice", alice.ID()); n != left {
			t.Fatalf("%s: a refused publish changed the keys: %d left, want %d", name, n, left)
		}
	}
	// A bad username is refused on both sides too.
	for _, u := range []string{"", strings.Repeat("u", wire.MaxUsername+1)} {
		if _, err := client.FetchPrekeys(sntest.Ctx(t), bob, sn, bobT, u); !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("client fetch of a %d-byte name: %v", len(u), err)
		}
		if resp := e.raw(t, bob.ID(), rawFetch(bobT, u)); resp.Error != wire.CodeBadRequest {
			t.Fatalf("server fetch of a %d-byte name: %+v", len(u), resp)
		}
	}
	if resp := e.raw(t, bob.ID(), &wire.PrekeysRequest{}); resp.Error != wire.CodeBadRequest {
		t.Fatalf("request of no kind: %+v", resp)
	}
	one(t, bob, sn, bobT, "alice", alice.ID(), fullBundle)

	// A frame longer than wire.MaxPrekeysFrame is refused before its body
	// is read.
	var out bytes.Buffer
	err := e.p.serve(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(binary.AppendUvarint(nil, wire.MaxPrekeysFrame+1)), &out}, alice.ID())
	if !errors.Is(err, wire.ErrFrameTooLarge) || out.Len() != 0 {
		t.Fatalf("oversized frame: %v, answered %d bytes", err, out.Len())
	}
	// The largest publish (with a ticket at its limit), and the largest
	// fetch answer (every device at every limit, with the longest peer ID),
	// fit in a frame.
	bigKeys := make([][]byte, wire.MaxOneTimePerPublish)
	for i := range bigKeys {
		bigKeys[i] = bytes.Repeat([]byte{9}, wire.MaxOneTimePrekey)
	}
	bigTicket := &wire.SignedTicket{Ticket: bytes.Repeat([]byte{1}, wire.MaxPrekeyTicket-80), Signature: make([]byte, 64)}
	if n := proto.Size(bigTicket); n > wire.MaxPrekeyTicket {
		t.Fatalf("stand-in ticket of %d bytes", n)
	}
	if n := len(frame(t, &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
		Ticket: bigTicket, Bundle: fullBundle, OneTime: bigKeys, ReplaceOneTime: true,
	}}})); n > wire.MaxPrekeysFrame {
		t.Fatalf("the largest publish takes %d bytes, frame limit %d", n, wire.MaxPrekeysFrame)
	}
	resp := &wire.PrekeysResponse{}
	for range wire.MaxPrekeyDevices {
		resp.Devices = append(resp.Devices, &wire.PrekeyDevice{PeerId: make([]byte, client.MaxPrekeyPeerID), Bundle: fullBundle, OneTime: bigKeys[0]})
	}
	if n := len(frame(t, resp)); n > wire.MaxPrekeysFrame {
		t.Fatalf("the largest fetch answer takes %d bytes, frame limit %d", n, wire.MaxPrekeysFrame)
	}
}

// TestPrekeysDeviceCap: a user keeps at most wire.MaxPrekeyDevices entries;
// a new device past that evicts the one whose entry ends first (the one
// republished least recently), with its one-time prekeys; a device already
// listed republishes without evicting.
func TestPrekeysDeviceCap(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	bob, bobT := e.client("bob")
	var devs []host.Host
	var tickets []*wire.SignedTicket
	for i := range wire.MaxPrekeyDevices + 1 {
		h, st := e.client("alice")
		devs, tickets = append(devs, h), append(tickets, st)
		e.clock.Advance(time.Minute) // each next ticket expires later
		if i < wire.MaxPrekeyDevices {
			mustPublish(t, h, sn, st, bundleOf(fmt.Sprint(i)), otks(fmt.Sprint(i), 2), false, 2)
		}
	}
	listed := func() map[peer.ID]bool {
		t.Helper()
		m := map[peer.ID]bool{}
		for _, d := range mustFetch(t, bob, sn, bobT, "alice") {
			m[d.Peer] = true
		}
		return m
	}
	if got := listed(); len(got) != wire.MaxPrekeyDevices {
		t.Fatalf("%d devices listed, want %d", len(got), wire.MaxPrekeyDevices)
	}
	// Republishing a listed device, even the oldest, evicts no one.
	mustPublish(t, devs[0], sn, tickets[0], bundleOf("0b"), nil, false, 1)
	if got := listed(); len(got) != wire.MaxPrekeyDevices {
		t.Fatalf("after a republish %d devices listed", len(got))
	}
	// The 9th evicts device 1, published least recently now that device 0
	// republished.
	last := wire.MaxPrekeyDevices
	mustPublish(t, devs[last], sn, tickets[last], bundleOf("new"), otks("new", 4), false, 4)
	got := listed()
	if len(got) != wire.MaxPrekeyDevices || got[devs[1].ID()] || !got[devs[0].ID()] || !got[devs[last].ID()] {
		t.Fatalf("after the 9th: %d listed, device 1 listed %v, device 0 %v, newest %v", len(got), got[devs[1].ID()], got[devs[0].ID()], got[devs[last].ID()])
	}
	if _, found, err := e.p.OneTimeLeft("alice", devs[1].ID()); err != nil || found {
		t.Fatalf("evicted device still has an entry (%v)", err)
	}
	// Its one-time prekeys went with it. The first eight had 2 each, and
	// each of the first two listings took one from every device; the new
	// one had 4, less the one the last listing took.
	devCount, oneTime, err := e.p.Count()
	if err != nil || devCount != wire.MaxPrekeyDevices || oneTime != 3 {
		t.Fatalf("count: %d devices, %d one-time prekeys, %v; want %d, 3", devCount, oneTime, err, wire.MaxPrekeyDevices)
	}
}

// TestPrekeysExpiry: an entry outlives its ticket: it is served until
// wire.PrekeyBundleTTL after its last publish (a contact away for two days is
// still reachable with forward secrecy), then not served, not counted
// toward the device cap and swept; a republish extends it, one-time
// prekeys included. Before the fix, an entry went with its ticket, after a
// day at most.
func TestPrekeysExpiry(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	bob, bobT := e.clientFor("bob", 30*24*time.Hour)
	away, awayT := e.clientFor("alice", time.Hour)
	renewing, renewingT := e.clientFor("alice", time.Hour)
	mustPublish(t, away, sn, awayT, bundleOf("away"), otks("s", 2), false, 2)
	mustPublish(t, renewing, sn, renewingT, bundleOf("renewing"), otks("r", 3), false, 3)

	// Two days on, both tickets long expired: both bundles are served.
	e.clock.Advance(2 * wire.TicketLifetime)
	if ds := mustFetch(t, bob, sn, bobT, "alice"); len(ds) != 2 {
		t.Fatalf("%d devices two days after their tickets expired, want 2", len(ds))
	}

	// The renewing device republishes with a fresh ticket: same device, so
	// its keys stay, and its entry is served a TTL from now.
	now := e.clock.Now()
	renewedT := sntest.SignTicket(t, e.auth, "alice", renewing.ID(), now, now.Add(3*time.Hour))
	mustPublish(t, renewing, sn, renewedT, bundleOf("renewing"), nil, false, 2)
	if st, err := client.PrekeysStatus(sntest.Ctx(t), renewing, sn, renewedT); err != nil || !st.Found || st.Expiry.Unix() != now.Add(wire.PrekeyBundleTTL).Unix() {
		t.Fatalf("status after renewing: %+v, %v; want served a bundle TTL from the republish", st, err)
	}

	// The away device's TTL runs out.
	e.clock.Advance(wire.PrekeyBundleTTL - 2*wire.TicketLifetime)
	one(t, bob, sn, bobT, "alice", renewing.ID(), bundleOf("renewing"))
	if devs, _, _ := e.p.Count(); devs != 2 {
		t.Fatalf("%d entries before the sweep, want 2 (expired ones are kept until swept)", devs)
	}
	if _, found, _ := e.p.OneTimeLeft("alice", away.ID()); found {
		t.Fatal("an expired entry reported as found")
	}
	if n, err := e.p.Sweep(sntest.Ctx(t)); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1", n, err)
	}
	// The renewing device had 3 keys and two fetches took one each; the
	// expired device's key went with its entry.
	if devs, oneTime, err := e.p.Count(); err != nil || devs != 1 || oneTime != 1 {
		t.Fatalf("after the sweep: %d entries, %d one-time prekeys, %v; want 1, 1", devs, oneTime, err)
	}

	// Expired entries take no place among the user's devices: fill the
	// cap, let them expire, and a new device evicts no live one.
	for range wire.MaxPrekeyDevices - 1 {
		h, st := e.clientFor("alice", time.Minute)
		mustPublish(t, h, sn, st, bundleOf("brief"), nil, false, 0)
	}
	e.clock.Advance(wire.PrekeyBundleTTL / 4) // the renewing device's entry is still live
	renewedT = sntest.SignTicket(t, e.auth, "alice", renewing.ID(), e.clock.Now(), e.clock.Now().Add(time.Hour))
	mustPublish(t, renewing, sn, renewedT, bundleOf("renewing"), nil, false, 1)
	e.clock.Advance(3*wire.PrekeyBundleTTL/4 + time.Minute) // the brief ones' have ended
	late, lateT := e.client("alice")
	mustPublish(t, late, sn, lateT, bundleOf("late"), nil, false, 0)
	ds := mustFetch(t, bob, sn, bobT, "alice")
	if len(ds) != 2 {
		t.Fatalf("%d devices listed, want the renewing and the late one", len(ds))
	}
	if devs, _, _ := e.p.Count(); devs != 2 {
		t.Fatalf("%d entries stored: the owner's expired ones were not dropped on publish", devs)
	}

	// Past every TTL, nothing is served, and the sweep leaves nothing.
	e.clock.Advance(wire.PrekeyBundleTTL)
	if ds := mustFetch(t, bob, sn, bobT, "alice"); len(ds) != 0 {
		t.Fatalf("%d devices served past their TTL", len(ds))
	}
	if _, err := e.p.Sweep(sntest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if devs, oneTime, err := e.p.Count(); err != nil || devs != 0 || oneTime != 0 {
		t.Fatalf("after the last sweep: %d entries, %d one-time prekeys, %v", devs, oneTime, err)
	}
}

// TestPrekeysUnknownUser: a user never seen and a user whose entries are
// gone get the same empty answer, not an error.
func TestPrekeysUnknownUser(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn := e.h.ID()
	bob, bobT := e.clientFor("bob", 30*24*time.Hour)
	alice, aliceT := e.clientFor("alice", time.Hour)
	mustPublish(t, alice, sn, aliceT, bundleOf("a"), nil, false, 0)
	e.clock.Advance(wire.PrekeyBundleTTL)
	unknown := e.raw(t, bob.ID(), rawFetch(bobT, "nobody"))
	gone := e.raw(t, bob.ID(), rawFetch(bobT, "alice"))
	if unknown.Error != "" || len(unknown.Devices) != 0 || !proto.Equal(unknown, gone) {
		t.Fatalf("unknown user %+v, expired user %+v", unknown, gone)
	}
	if ds, err := client.FetchPrekeys(sntest.Ctx(t), bob, sn, bobT, "nobody"); err != nil || len(ds) != 0 {
		t.Fatalf("client fetch of an unknown user: %v, %v", ds, err)
	}
}

// TestPrekeysRateLimit: fetches are limited per fetching account, across
// its devices; a refused fetch takes no one-time prekey; other accounts are
// not affected; the bucket refills.
func TestPrekeysRateLimit(t *testing.T) {
	const burst = 3
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Every(time.Minute), Burst: burst})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	bobPhone, bobPhoneT := e.client("bob")
	carol, carolT := e.client("carol")
	mustPublish(t, alice, sn, aliceT, bundleOf("a"), otks("a", 10), false, 10)
	for range burst - 1 {
		one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a"))
	}
	one(t, bobPhone, sn, bobPhoneT, "alice", alice.ID(), bundleOf("a"))
	for _, f := range []struct {
		h  host.Host
		st *wire.SignedTicket
	}{{bob, bobT}, {bobPhone, bobPhoneT}} {
		if _, err := client.FetchPrekeys(sntest.Ctx(t), f.h, sn, f.st, "alice"); !errors.Is(err, client.ErrRateLimited) {
			t.Fatalf("fetch past the burst: %v", err)
		}
	}
	if left, _, _ := e.p.OneTimeLeft("alice", alice.ID()); left != 10-burst {
		t.Fatalf("%d one-time prekeys left, want %d: a refused fetch took one", left, 10-burst)
	}
	one(t, carol, sn, carolT, "alice", alice.ID(), bundleOf("a"))
	if e.p.Stats().RateLimited != 2 {
		t.Fatalf("stats %+v", e.p.Stats())
	}
	e.clock.Advance(time.Minute)
	one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a"))
}

// TestPrekeysUnauthorized: the ticket must be the stream peer's, from the
// right server and live; otherwise nothing is published, fetched or told.
func TestPrekeysUnauthorized(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn, ctx := e.h.ID(), sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	mustPublish(t, alice, sn, aliceT, bundleOf("a"), otks("a", 2), false, 2)

	now := e.clock.Now()
	other := sntest.SignTicket(t, sntest.Key(t), "bob", bob.ID(), now, now.Add(time.Hour))
	expired := sntest.SignTicket(t, e.auth, "bob", bob.ID(), now.Add(-2*time.Hour), now.Add(-time.Hour))
	for name, st := range map[string]*wire.SignedTicket{"alice's": aliceT, "other server's": other, "expired": expired, "no": nil} {
		if _, err := client.PublishPrekeys(ctx, bob, sn, st, bundleOf("evil"), otks("evil", 1), true); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("publish with %s ticket: %v", name, err)
		}
		if _, err := client.FetchPrekeys(ctx, bob, sn, st, "alice"); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("fetch with %s ticket: %v", name, err)
		}
		if resp := e.raw(t, bob.ID(), rawFetch(st, "alice")); resp.Error != wire.CodeUnauthorized || len(resp.Devices) != 0 {
			t.Fatalf("raw fetch with %s ticket: %+v", name, resp)
		}
		if _, err := client.PrekeysStatus(ctx, bob, sn, st); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("status with %s ticket: %v", name, err)
		}
	}
	d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a"))
	if !bytes.Equal(d.OneTime, otks("a", 1)[0]) {
		t.Fatal("a refused request took a one-time prekey or replaced them")
	}
}

// TestPrekeysClientVerifies: the client keeps only entries of well-formed
// form: a peer ID that decodes, within its limit, not the fetcher's own and
// listed once, with a bundle and one-time prekey within the limits. Binding
// an entry to the user is the caller's job (it matches Peer against the
// ticket it trusts), so what is kept is exactly what the supernode said.
func TestPrekeysClientVerifies(t *testing.T) {
	auth := sntest.Key(t)
	sn, h := sntest.Host(t), sntest.Host(t)
	if err := h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: sn.ID(), Addrs: sn.Addrs()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dev1, dev2, dev3, dev4 := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	// Identity multihashes: valid peer IDs of any length, here exactly at
	// the limit and one byte past it.
	longest := append([]byte{0x00, client.MaxPrekeyPeerID - 2}, bytes.Repeat([]byte{0x11}, client.MaxPrekeyPeerID-2)...)
	tooLong := append([]byte{0x00, client.MaxPrekeyPeerID - 1}, bytes.Repeat([]byte{0x22}, client.MaxPrekeyPeerID-1)...)
	for _, b := range [][]byte{longest, tooLong} {
		if _, err := peer.IDFromBytes(b); err != nil {
			t.Fatalf("stand-in peer ID of %d bytes does not decode: %v", len(b), err)
		}
	}
	answer := &wire.PrekeysResponse{Devices: []*wire.PrekeyDevice{
		{PeerId: []byte(dev1), Bundle: []byte("good"), OneTime: []byte("k1")},
		{PeerId: []byte(dev1), Bundle: []byte("duplicate")},
		{Bundle: []byte("no peer")},
		{PeerId: []byte("not a multihash"), Bundle: []byte("bad peer")},
		{PeerId: tooLong, Bundle: []byte("peer too long")},
		{PeerId: []byte(h.ID()), Bundle: []byte("the fetcher itself")},
		{PeerId: []byte(dev2), Bundle: make([]byte, wire.MaxPrekeyBundle+1)},
		{PeerId: []byte(dev2)},
		{PeerId: []byte(dev2), Bundle: []byte("key too long"), OneTime: make([]byte, wire.MaxOneTimePrekey+1)},
		{PeerId: []byte(dev3), Bundle: make([]byte, wire.MaxPrekeyBundle), OneTime: make([]byte, wire.MaxOneTimePrekey)},
		{PeerId: longest, Bundle: []byte("longest peer")},
		{PeerId: []byte(dev4), Bundle: []byte("no key"), OneTime: []byte{}},
	}}
	var mu sync.Mutex
	sn.SetStreamHandler(wire.ProtoPrekeys, func(s network.Stream) {
		var req wire.PrekeysRequest
		if err := wire.ReadMsg(s, wire.MaxPrekeysFrame, &req); err != nil {
			_ = s.Reset()
			return
		}
		mu.Lock()
		a := answer
		mu.Unlock()
		_ = wire.WriteMsg(s, a)
		_ = s.Close()
	})
	setAnswer := func(a *wire.PrekeysResponse) {
		mu.Lock()
		answer = a
		mu.Unlock()
	}
	st := sntest.SignTicket(t, auth, "bob", h.ID(), now, now.Add(time.Hour))

	// Too many devices is a malformed answer, whatever they hold.
	if _, err := client.FetchPrekeys(sntest.Ctx(t), h, sn.ID(), st, "alice"); err == nil {
		t.Fatalf("an answer of %d devices passed", len(answer.Devices))
	}
	kept := func(devs ...*wire.PrekeyDevice) []client.DevicePrekeys {
		t.Helper()
		setAnswer(&wire.PrekeysResponse{Devices: devs})
		ds, err := client.FetchPrekeys(sntest.Ctx(t), h, sn.ID(), st, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	all := answer.Devices
	var ds []client.DevicePrekeys
	for i := 0; i < len(all); i += wire.MaxPrekeyDevices {
		ds = append(ds, kept(all[i:min(i+wire.MaxPrekeyDevices, len(all))]...)...)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Peer.String()+"="+string(trim(d.Bundle)))
	}
	want := []client.DevicePrekeys{
		{Peer: dev1, Bundle: []byte("good"), OneTime: []byte("k1")},
		{Peer: dev3, Bundle: make([]byte, wire.MaxPrekeyBundle), OneTime: make([]byte, wire.MaxOneTimePrekey)},
		{Peer: peer.ID(longest), Bundle: []byte("longest peer")},
		{Peer: dev4, Bundle: []byte("no key")},
	}
	if len(ds) != len(want) {
		t.Fatalf("kept %d entries, want %d: %q", len(ds), len(want), got)
	}
	for i, w := range want {
		if ds[i].Peer != w.Peer || !bytes.Equal(ds[i].Bundle, w.Bundle) || !bytes.Equal(ds[i].OneTime, w.OneTime) || (w.OneTime == nil) != (ds[i].OneTime == nil) {
			t.Fatalf("entry %d: %s %q %x, want %s %q %x", i, ds[i].Peer, trim(ds[i].Bundle), ds[i].OneTime, w.Peer, trim(w.Bundle), w.OneTime)
		}
	}
	// Exactly MaxPrekeyDevices is fine.
	var full []*wire.PrekeyDevice
	for range wire.MaxPrekeyDevices {
		full = append(full, &wire.PrekeyDevice{PeerId: []byte(sntest.ID(t, sntest.Key(t))), Bundle: []byte("b")})
	}
	if ds := kept(full...); len(ds) != wire.MaxPrekeyDevices {
		t.Fatalf("%d of %d devices kept", len(ds), wire.MaxPrekeyDevices)
	}

	// Unknown codes and impossible counts are errors.
	setAnswer(&wire.PrekeysResponse{Error: "teapot"})
	if _, err := client.FetchPrekeys(sntest.Ctx(t), h, sn.ID(), st, "alice"); err == nil {
		t.Fatal("an unknown error code passed")
	}
	setAnswer(&wire.PrekeysResponse{OneTimeLeft: wire.MaxOneTimeStored + 1})
	if _, err := client.PublishPrekeys(sntest.Ctx(t), h, sn.ID(), st, []byte("b"), nil, false); err == nil {
		t.Fatal("an impossible left count passed")
	}
}

// TestPrekeysDBHoldsNoUsernames: supernode blindness. After publishes,
// fetches and status checks by users with distinctive names and devices,
// no file of the database, open (WAL included) or closed, holds a username
// or a device name, while the bundles are there to be found.
func TestPrekeysDBHoldsNoUsernames(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{Rate: rate.Inf})
	sn := e.h.ID()
	secrets := []string{"zebracornelius", "quokkamarigold", "yellowhammerbob"} // usernames
	devices := []string{"zanzibar-laptop-xq7", "kilimanjaro-phone-vv3", "tasmania-tablet-jj9"}
	// login is e.client with a ticket naming a device.
	login := func(user, device string) (host.Host, *wire.SignedTicket) {
		t.Helper()
		h := sntest.Host(t)
		if err := h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: sn, Addrs: e.h.Addrs()}); err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		st, err := ticket.Sign(e.auth, ticket.Ticket{
			Username: user, Peer: h.ID(), Device: device,
			Issued: now, Expiry: now.Add(wire.TicketLifetime), Role: ticket.RoleNode,
		})
		if err != nil {
			t.Fatal(err)
		}
		return h, st
	}
	zebra, zebraT := login(secrets[0], devices[0])
	zebraPhone, zebraPhoneT := login(secrets[0], devices[1])
	quokka, quokkaT := login(secrets[1], devices[2])
	fetcher, fetcherT := login(secrets[2], devices[2]+"-fetcher")
	mustPublish(t, zebra, sn, zebraT, bundleOf("control-z1"), otks("z1", 3), false, 3)
	mustPublish(t, zebraPhone, sn, zebraPhoneT, bundleOf("control-z2"), otks("z2", 3), false, 3)
	mustPublish(t, quokka, sn, quokkaT, bundleOf("control-q"), otks("q", 3), false, 3)
	mustPublish(t, zebra, sn, zebraT, bundleOf("control-z1"), otks("z1b", 2), false, 5) // a top-up
	if ds := mustFetch(t, fetcher, sn, fetcherT, secrets[0]); len(ds) != 2 {
		t.Fatalf("%d devices of %s", len(ds), secrets[0])
	}
	one(t, fetcher, sn, fetcherT, secrets[1], quokka.ID(), bundleOf("control-q"))
	one(t, zebra, sn, zebraT, secrets[0], zebraPhone.ID(), bundleOf("control-z2")) // own account's other device
	// A user with no entry is asked for too.
	if ds := mustFetch(t, quokka, sn, quokkaT, secrets[2]); len(ds) != 0 {
		t.Fatalf("%d devices of a user who never published", len(ds))
	}
	if st, err := client.PrekeysStatus(sntest.Ctx(t), quokka, sn, quokkaT); err != nil || !st.Found || st.OneTimeLeft != 2 {
		t.Fatalf("status: %+v, %v", st, err)
	}

	check := func(when string) {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(filepath.Dir(e.cfg.DBPath), "prekeys.db*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no database files (%v)", when, err)
		}
		control := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(append([]string(nil), secrets...), devices...) {
				for _, form := range []string{s, strings.ToUpper(s)} {
					if bytes.Contains(b, []byte(form)) {
						t.Fatalf("%s: %s holds %q", when, filepath.Base(f), form)
					}
				}
			}
			control = control || bytes.Contains(b, []byte("bundle:control-q:"))
		}
		if !control {
			t.Fatalf("%s: the bundle is in none of %q: the search sees nothing", when, files)
		}
	}
	check("open")
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}

// TestPrekeysRestart: entries, the one-time prekeys left and the deletion of
// those handed out survive closing and reopening the database.
func TestPrekeysRestart(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{})
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	keys := otks("a", 3)
	mustPublish(t, alice, sn, aliceT, bundleOf("a"), keys, false, 3)
	if d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a")); !bytes.Equal(d.OneTime, keys[0]) {
		t.Fatal("first fetch")
	}
	e.reopen()
	d := one(t, bob, sn, bobT, "alice", alice.ID(), bundleOf("a"))
	if !bytes.Equal(d.OneTime, keys[1]) {
		t.Fatalf("after restart fetched %x, want %x (the first must not come back)", d.OneTime, keys[1])
	}
	if st, err := client.PrekeysStatus(sntest.Ctx(t), alice, sn, aliceT); err != nil || !st.Found || st.OneTimeLeft != 1 {
		t.Fatalf("status after restart: %+v, %v", st, err)
	}
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	// The schema version is recorded, and a newer one is refused.
	db, err := sql.Open("sqlite3", e.cfg.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("user_version %d, %v; want 3", v, err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if p, err := NewPrekeys(e.cfg); err == nil {
		p.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if _, err := NewPrekeys(PrekeysConfig{AuthServer: e.authID}); err == nil {
		t.Fatal("opened prekeys with no database path")
	}
	if _, err := NewPrekeys(PrekeysConfig{DBPath: filepath.Join(t.TempDir(), "x.db")}); err == nil {
		t.Fatal("opened prekeys with no auth server")
	}
}

// TestPrekeysCloseStopsEverything: after Close, no handler or sweeper
// goroutine is left and requests fail.
func TestPrekeysCloseStopsEverything(t *testing.T) {
	e := newPrekeysEnv(t, PrekeysConfig{})
	alice, aliceT := e.client("alice")
	if got := goroutinesIn("supernode.(*Prekeys).sweeper("); got == 0 {
		t.Fatal("no sweeper running")
	}
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := goroutinesIn("supernode.(*Prekeys).sweeper("); got != 0 {
		t.Fatalf("%d sweepers left after Close", got)
	}
	if _, err := client.PublishPrekeys(sntest.Ctx(t), alice, e.h.ID(), aliceT, bundleOf("a"), nil, false); err == nil {
		t.Fatal("publish succeeded after Close")
	}
	e.p.Attach(e.h) // after Close: does nothing
	if _, err := client.PublishPrekeys(sntest.Ctx(t), alice, e.h.ID(), aliceT, bundleOf("a"), nil, false); err == nil {
		t.Fatal("publish succeeded after Attach on a closed service")
	}
}

// FuzzPrekeysRequest feeds arbitrary stream bytes, from the fixed remote
// peer, to the server's read-decode-process-answer path, on one database
// shared by all inputs, and checks that the store stays within its limits.
func FuzzPrekeysRequest(f *testing.F) {
	authKey, peerKey := fixedKey(f, 1), fixedKey(f, 2)
	auth, remote := sntest.ID(f, authKey), sntest.ID(f, peerKey)
	now := time.Unix(1_700_000_000, 0)
	st := sntest.SignTicket(f, authKey, "alice", remote, now, now.Add(wire.TicketLifetime))
	p, err := NewPrekeys(PrekeysConfig{
		DBPath: filepath.Join(f.TempDir(), "prekeys.db"), AuthServer: auth,
		Now: func() time.Time { return now }, Rate: rate.Inf,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Close() })

	pub := func(bundle []byte, keys [][]byte, replace bool) []byte {
		return frame(f, &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
			Ticket: st, Bundle: bundle, OneTime: keys, ReplaceOneTime: replace}}})
	}
	f.Add(pub([]byte("bundle"), otks("f", 3), false))
	f.Add(pub([]byte("bundle"), otks("g", wire.MaxOneTimePerPublish), false))
	f.Add(pub([]byte("bundle"), nil, true))
	f.Add(pub(nil, otks("h", 1), false))
	f.Add(pub([]byte("b"), [][]byte{{}}, false))
	f.Add(frame(f, &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
		Ticket: st, Bundle: []byte("bundle"), OneTimeKem: kems("k", 2)}}}))
	f.Add(frame(f, &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
		Ticket: st, Bundle: []byte("bundle"), OneTimeKem: [][]byte{{}}}}}))
	f.Add(frame(f, rawFetch(st, "alice")))
	f.Add(frame(f, rawFetch(st, "")))
	f.Add(frame(f, rawFetch(nil, "alice")))
	f.Add(frame(f, &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Status{Status: &wire.PrekeysStatus{Ticket: st}}}))
	f.Add(frame(f, &wire.PrekeysRequest{}))
	f.Add([]byte{2, 0, 0})
	f.Add(binary.AppendUvarint(nil, wire.MaxPrekeysFrame+1))

	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := p.serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), &out}, remote)
		if err == nil {
			var resp wire.PrekeysResponse
			if err := wire.ReadMsg(&out, wire.MaxPrekeysFrame, &resp); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
			switch resp.Error {
			case "":
				if resp.OneTimeLeft > wire.MaxOneTimeStored || len(resp.Devices) > wire.MaxPrekeyDevices {
					t.Fatalf("answer past the limits: %d left, %d devices", resp.OneTimeLeft, len(resp.Devices))
				}
			case wire.CodeUnauthorized, wire.CodeBadRequest, wire.CodeRateLimited:
				if resp.OneTimeLeft != 0 || resp.Devices != nil || resp.Found || resp.ExpiryUnix != 0 {
					t.Fatalf("refusal %q carries data", resp.Error)
				}
			default:
				t.Fatalf("answer carries an unknown code %q", resp.Error)
			}
		} else if out.Len() != 0 {
			t.Fatalf("wrote %d bytes and failed: %v", out.Len(), err)
		}
		// Whatever came in, the store holds only rows within the limits.
		var bad int
		err = p.db.db.QueryRow(`SELECT
			(SELECT count(*) FROM prekey_devices WHERE length(owner) != 32 OR length(bundle) NOT BETWEEN 1 AND ?1
				OR length(peer) NOT BETWEEN 1 AND ?2) +
			(SELECT count(*) FROM prekey_onetime WHERE length(key) NOT BETWEEN 1 AND ?3) +
			(SELECT count(*) FROM (SELECT device FROM prekey_onetime GROUP BY device HAVING count(*) > ?4)) +
			(SELECT count(*) FROM (SELECT owner FROM prekey_devices GROUP BY owner HAVING count(*) > ?5))`,
			wire.MaxPrekeyBundle, client.MaxPrekeyPeerID, wire.MaxOneTimePrekey, wire.MaxOneTimeStored, wire.MaxPrekeyDevices).Scan(&bad)
		if err != nil {
			t.Fatal(err)
		}
		if bad != 0 {
			t.Fatalf("store holds %d rows or groups past the limits", bad)
		}
	})
}
