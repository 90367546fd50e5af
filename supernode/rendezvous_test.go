package supernode

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// env is one rendezvous host, its auth server key and clock.
type env struct {
	t     *testing.T
	auth  crypto.PrivKey
	clock *sntest.Clock
	rvh   host.Host
	rv    *Rendezvous
}

func newEnv(t *testing.T, cfg RendezvousConfig) *env {
	t.Helper()
	e := &env{t: t, auth: sntest.Key(t), clock: sntest.NewClock(), rvh: sntest.Host(t)}
	cfg.AuthServer = sntest.ID(t, e.auth)
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	e.rv = NewRendezvous(cfg)
	e.rv.Attach(e.rvh)
	t.Cleanup(func() { _ = e.rv.Close() })
	return e
}

// client returns a host that knows the rendezvous' addresses, and a valid
// ticket for it under user.
func (e *env) client(user string) (host.Host, *wire.SignedTicket) {
	h := sntest.Host(e.t)
	h.Peerstore().AddAddrs(e.rvh.ID(), e.rvh.Addrs(), peerstore.PermanentAddrTTL)
	now := e.clock.Now()
	return h, sntest.SignTicket(e.t, e.auth, user, h.ID(), now, now.Add(wire.TicketLifetime))
}

func TestPublishLookup(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")

	// Alice shows her record to the holder of the token she gave bob.
	tokBob := []byte("token-for-bob-16")
	if err := (client.Rendezvous{Allowed: [][]byte{tokBob}}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatalf("publish: %v", err)
	}
	bobC := client.Rendezvous{Tokens: map[string][]byte{"alice": tokBob}}
	found, err := bobC.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice", "carol", "alice"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if len(found) != 1 {
		t.Fatalf("found %d entries, want 1: %+v", len(found), found)
	}
	f := found[0]
	if f.Username != "alice" || f.Ticket.Username != "alice" || f.Ticket.Peer != alice.ID() || f.Addrs.ID != alice.ID() {
		t.Fatalf("found %+v, want alice at %s", f, alice.ID())
	}
	if len(f.Addrs.Addrs) == 0 {
		t.Fatal("found no addresses")
	}
	if got := len(bob.Network().ConnsToPeer(alice.ID())); got != 0 {
		t.Fatalf("bob already connected to alice (%d conns)", got)
	}
	if err := bob.Connect(ctx, f.Addrs); err != nil {
		t.Fatalf("dialling alice at the looked-up addresses: %v", err)
	}

	// Latest device wins.
	alice2 := sntest.Host(t)
	alice2.Peerstore().AddAddrs(e.rvh.ID(), e.rvh.Addrs(), peerstore.PermanentAddrTTL)
	now := e.clock.Now()
	if err := (client.Rendezvous{Allowed: [][]byte{tokBob}}).Publish(ctx, alice2, e.rvh.ID(), sntest.SignTicket(t, e.auth, "alice", alice2.ID(), now, now.Add(time.Hour))); err != nil {
		t.Fatalf("publish second device: %v", err)
	}
	found, err = bobC.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if len(found) != 1 || found[0].Addrs.ID != alice2.ID() || len(found[0].Addrs.Addrs) == 0 {
		t.Fatalf("after second device found %+v, want %s", found, alice2.ID())
	}
}

// TestVisibility: a user's ticket and record are shown only to holders of a
// token it allowed; everyone else — no token, a wrong token, a token
// withdrawn by a block — gets the card alone: no device name, no sign-in
// time, no addresses.
// With a Known, the same: what the asker held before (the full entry,
// before a block) is never answered unchanged once it may see less.
func TestVisibility(t *testing.T) {
	for _, known := range []*client.Known{nil, {}} {
		t.Run(fmt.Sprintf("known=%t", known != nil), func(t *testing.T) { testVisibility(t, known) })
	}
}

func testVisibility(t *testing.T, known *client.Known) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	tokBob, tokCarol := []byte("token-for-bob-16"), []byte("token-for-carol1")
	publish := func(allowed ...[]byte) {
		t.Helper()
		if err := (client.Rendezvous{Allowed: allowed, Card: sntest.Card(t, e.auth, aliceT)}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
			t.Fatal(err)
		}
	}
	sees := func(token []byte) bool {
		t.Helper()
		found, err := client.Rendezvous{Tokens: map[string][]byte{"alice": token}, Known: known}.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"})
		if err != nil || len(found) != 1 || found[0].Ticket.Peer != alice.ID() {
			t.Fatalf("lookup: %+v, %v (a stranger gets the card: enough to write to alice)", found, err)
		}
		seen := found[0].Ticket
		if seen.Card {
			// What a stranger must not learn: the device's name and when it signed in.
			if seen.Device != "" || seen.Role != "" || seen.Issued.Truncate(ticket.CardGrain) != seen.Issued || len(found[0].Addrs.Addrs) > 0 {
				t.Fatalf("a stranger's card tells too much: %+v", seen)
			}
			return false
		}
		if seen.Device == "" || len(found[0].Addrs.Addrs) == 0 {
			t.Fatalf("an allowed asker got %+v", found[0])
		}
		return true
	}
	publish(tokBob, tokCarol)
	if !sees(tokBob) || !sees(tokCarol) {
		t.Fatal("an allowed token does not see the record")
	}
	if sees(nil) || sees([]byte("token-guessed-00")) {
		t.Fatal("a stranger sees the record")
	}
	publish(tokCarol) // alice blocks bob
	if sees(tokBob) {
		t.Fatal("a blocked contact still sees the record")
	}
	publish() // alice shows herself to no one (invisible)
	if sees(tokCarol) {
		t.Fatal("record shown with an empty allow list")
	}
}

func TestRefused(t *testing.T) {
	e := newEnv(t, RendezvousConfig{MaxLookup: 3})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	mallory, malloryT := e.client("mallory")
	aliceCard := sntest.Card(t, e.auth, aliceT)
	if err := (client.Rendezvous{Card: aliceCard}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatalf("publish: %v", err)
	}
	now := e.clock.Now()
	expired := sntest.SignTicket(t, e.auth, "mallory", mallory.ID(), now.Add(-2*time.Hour), now.Add(-time.Hour))
	otherServer := sntest.SignTicket(t, sntest.Key(t), "mallory", mallory.ID(), now, now.Add(time.Hour))
	auth := sntest.ID(t, e.auth)
	rv := e.rvh.ID()

	// A record for mallory's own peer but signed by another key.
	forged, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: mallory.ID(), Addrs: mallory.Addrs()}), sntest.Key(t))
	if err != nil {
		t.Fatal(err)
	}
	forgedBytes, err := forged.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// A genuine record of alice's, presented by mallory with mallory's ticket.
	aliceRec, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: alice.ID(), Addrs: alice.Addrs()}), alice.Peerstore().PrivKey(alice.ID()))
	if err != nil {
		t.Fatal(err)
	}
	aliceRecBytes, err := aliceRec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rawLookup := func(names ...string) error {
		_, err := client.Call[*wire.RendezvousResponse](ctx, mallory, rv, wire.ProtoRendezvous, &wire.RendezvousRequest{
			Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: malloryT, Usernames: names}},
		})
		return err
	}
	rawPublish := func(st *wire.SignedTicket, rec []byte) error {
		_, err := client.Call[*wire.RendezvousResponse](ctx, mallory, rv, wire.ProtoRendezvous, &wire.RendezvousRequest{
			Kind: &wire.RendezvousRequest_Publish{Publish: &wire.Publish{Ticket: st, PeerRecord: rec}},
		})
		return err
	}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"publish stolen ticket", func() error { return client.Publish(ctx, mallory, rv, aliceT) }, client.ErrUnauthorized},
		{"lookup stolen ticket", func() error { _, err := client.Lookup(ctx, mallory, rv, aliceT, []string{"alice"}); return err }, client.ErrUnauthorized},
		{"publish expired ticket", func() error { return client.Publish(ctx, mallory, rv, expired) }, client.ErrUnauthorized},
		{"lookup expired ticket", func() error { _, err := client.Lookup(ctx, mallory, rv, expired, []string{"alice"}); return err }, client.ErrUnauthorized},
		{"lookup no ticket", func() error {
			_, err := client.Rendezvous{AuthServer: auth}.Lookup(ctx, mallory, rv, nil, []string{"alice"})
			return err
		}, client.ErrUnauthorized},
		{"publish no ticket", func() error { return client.Publish(ctx, mallory, rv, nil) }, client.ErrUnauthorized},
		{"lookup other server's ticket", func() error {
			_, err := client.Lookup(ctx, mallory, rv, otherServer, []string{"alice"})
			return err
		}, client.ErrUnauthorized},
		{"publish other server's ticket", func() error { return client.Publish(ctx, mallory, rv, otherServer) }, client.ErrUnauthorized},
		{"publish record signed by another key", func() error { return rawPublish(malloryT, forgedBytes) }, client.ErrBadRequest},
		{"publish someone else's record", func() error { return rawPublish(malloryT, aliceRecBytes) }, client.ErrBadRequest},
		{"publish someone else's card", func() error {
			return client.Rendezvous{Card: aliceCard}.Publish(ctx, mallory, rv, malloryT)
		}, client.ErrBadRequest},
		{"publish the ticket as its card", func() error {
			return client.Rendezvous{Card: malloryT}.Publish(ctx, mallory, rv, malloryT)
		}, client.ErrBadRequest},
		{"publish garbage record", func() error { return rawPublish(malloryT, []byte("not an envelope")) }, client.ErrBadRequest},
		{"publish oversized record", func() error { return rawPublish(malloryT, make([]byte, MaxPeerRecord+1)) }, client.ErrBadRequest},
		{"request of no kind", func() error {
			_, err := client.Call[*wire.RendezvousResponse](ctx, mallory, rv, wire.ProtoRendezvous, &wire.RendezvousRequest{})
			return err
		}, client.ErrBadRequest},
		{"lookup more than MaxLookup", func() error { return rawLookup("a", "b", "c", "d") }, client.ErrTooMany},
		{"lookup at MaxLookup", func() error { return rawLookup("a", "b", "c") }, nil},
		{"lookup empty username", func() error { return rawLookup("") }, client.ErrBadRequest},
		{"lookup overlong username", func() error { return rawLookup(strings.Repeat("x", wire.MaxUsername+1)) }, client.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}

	// None of the refused publishes changed alice's entry.
	found, err := client.Lookup(ctx, mallory, rv, malloryT, []string{"alice", "mallory"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if len(found) != 1 || found[0].Addrs.ID != alice.ID() {
		t.Fatalf("found %+v, want only alice at %s", found, alice.ID())
	}
}

// TestStale: records are returned while fresh, tickets until they
// expire; with a Known remembering the last answers alike.
func TestStale(t *testing.T) {
	for _, known := range []*client.Known{nil, {}} {
		t.Run(fmt.Sprintf("known=%t", known != nil), func(t *testing.T) { testStale(t, known) })
	}
}

func testStale(t *testing.T, known *client.Known) {
	const ttl = 10 * time.Minute
	e := newEnv(t, RendezvousConfig{TTL: ttl})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	carol := sntest.Host(t)
	carol.Peerstore().AddAddrs(e.rvh.ID(), e.rvh.Addrs(), peerstore.PermanentAddrTTL)
	now := e.clock.Now()
	carolT := sntest.SignTicket(t, e.auth, "carol", carol.ID(), now, now.Add(5*time.Minute)) // expires before the TTL
	bob, bobT := e.client("bob")

	tok := []byte("token-for-bob-16")
	allowed := client.Rendezvous{Allowed: [][]byte{tok}}
	if err := allowed.Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatalf("publish alice: %v", err)
	}
	if err := allowed.Publish(ctx, carol, e.rvh.ID(), carolT); err != nil {
		t.Fatalf("publish carol: %v", err)
	}
	bobC := client.Rendezvous{Now: e.clock.Now, Tokens: map[string][]byte{"alice": tok, "carol": tok}, Known: known}
	// Records are returned while fresh; tickets (public keys) until they expire.
	steps := []struct {
		advance          time.Duration
		tickets, records []string
	}{
		{0, []string{"alice", "carol"}, []string{"alice", "carol"}},
		{4 * time.Minute, []string{"alice", "carol"}, []string{"alice", "carol"}},
		{2 * time.Minute, []string{"alice"}, []string{"alice"}}, // carol's ticket expired
		{ttl - 6*time.Minute - time.Second, []string{"alice"}, []string{"alice"}},
		{time.Second, []string{"alice"}, nil}, // alice's record is TTL old
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		found, err := bobC.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice", "carol"})
		if err != nil {
			t.Fatalf("step %d: lookup: %v", i, err)
		}
		var tickets, records []string
		for _, f := range found {
			tickets = append(tickets, f.Username)
			if len(f.Addrs.Addrs) > 0 {
				records = append(records, f.Username)
			}
		}
		if strings.Join(tickets, ",") != strings.Join(s.tickets, ",") || strings.Join(records, ",") != strings.Join(s.records, ",") {
			t.Fatalf("step %d: tickets %v records %v, want %v and %v", i, tickets, records, s.tickets, s.records)
		}
	}
	// Re-publishing makes the record fresh again.
	if err := allowed.Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatalf("re-publish: %v", err)
	}
	found, err := bobC.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"})
	if err != nil || len(found) != 1 || len(found[0].Addrs.Addrs) == 0 {
		t.Fatalf("after re-publish: %v, %+v", err, found)
	}
}

// TestLookupBatches checks that the client splits a long list when the
// rendezvous answers too_many, instead of failing.
func TestLookupBatches(t *testing.T) {
	e := newEnv(t, RendezvousConfig{MaxLookup: 2})
	ctx := sntest.Ctx(t)
	users := []string{"u1", "u2", "u3"}
	for _, u := range users {
		h, st := e.client(u)
		if err := (client.Rendezvous{Card: sntest.Card(t, e.auth, st)}).Publish(ctx, h, e.rvh.ID(), st); err != nil {
			t.Fatalf("publish %s: %v", u, err)
		}
	}
	bob, bobT := e.client("bob")
	found, err := client.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"u1", "x", "u2", "y", "u3"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if len(found) != 3 {
		t.Fatalf("found %d, want 3: %+v", len(found), found)
	}
}

// TestBadFrames checks that a malformed or oversized frame costs the sender
// that stream only: the connection and the service stay up.
func TestBadFrames(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	bob, bobT := e.client("bob")
	oversized := binary.AppendUvarint(nil, wire.MaxRendezvousFrame+1)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"undecodable body", []byte{2, 0, 0}},
		{"truncated body", []byte{10, 1, 2, 3}},
		{"oversized length", oversized},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11)},
		{"empty stream", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := bob.NewStream(ctx, e.rvh.ID(), wire.ProtoRendezvous)
			if err != nil {
				t.Fatalf("new stream: %v", err)
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(wire.RendezvousTimeout))
			if _, err := s.Write(tt.frame); err != nil {
				t.Fatalf("write: %v", err)
			}
			_ = s.CloseWrite()
			var resp wire.RendezvousResponse
			if err := wire.ReadMsg(s, wire.MaxRendezvousFrame, &resp); err == nil {
				t.Fatalf("got a response %v to a bad frame", &resp)
			}
			if _, err := client.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"}); err != nil {
				t.Fatalf("lookup after a bad frame: %v", err)
			}
			if bob.Network().Connectedness(e.rvh.ID()) != network.Connected {
				t.Fatal("connection to the rendezvous dropped")
			}
		})
	}
}

// handlerGoroutines counts goroutines running the rendezvous stream handler.
func handlerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "supernode.(*Rendezvous).serve(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func (r *Rendezvous) inFlight() int { return r.listen.InFlight() }

func TestCloseWaitsForHandlers(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	bob, bobT := e.client("bob")

	// Streams that never send a request keep their handlers blocked reading.
	const n = 3
	for range n {
		s, err := bob.NewStream(ctx, e.rvh.ID(), wire.ProtoRendezvous)
		if err != nil {
			t.Fatalf("new stream: %v", err)
		}
		t.Cleanup(func() { _ = s.Reset() })
		if _, err := s.Write([]byte{5}); err != nil { // a length, then nothing: forces the protocol negotiation through
			t.Fatalf("write: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.rv.inFlight() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers in flight, want %d", e.rv.inFlight(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := handlerGoroutines(); got < n {
		t.Fatalf("%d handler goroutines, want at least %d", got, n)
	}

	if err := e.rv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Close returned, so no handler may still be running: no wait here.
	if got := handlerGoroutines(); got != 0 {
		t.Fatalf("%d handler goroutines outlived Close", got)
	}
	if got := e.rv.inFlight(); got != 0 {
		t.Fatalf("%d streams tracked after Close", got)
	}
	if _, err := client.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"}); err == nil {
		t.Fatal("lookup succeeded after Close")
	}
	if err := e.rv.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	e.rv.Attach(e.rvh) // after Close: a no-op
	if _, err := client.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"}); err == nil {
		t.Fatal("lookup succeeded after Attach on a closed rendezvous")
	}
}

// fixedKey derives a deterministic key, so fuzz corpora stay meaningful
// across runs.
func fixedKey(t testing.TB, b byte) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func frame(t testing.TB, m proto.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := wire.WriteMsg(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzRendezvousRequest feeds arbitrary stream bytes, from the fixed remote
// peer, to the server's read-decode-process-answer path.
func FuzzRendezvousRequest(f *testing.F) {
	authKey, peerKey := fixedKey(f, 1), fixedKey(f, 2)
	auth, remote := sntest.ID(f, authKey), sntest.ID(f, peerKey)
	now := time.Unix(1_700_000_000, 0)
	st := sntest.SignTicket(f, authKey, "alice", remote, now, now.Add(wire.TicketLifetime))
	addrs := sntest.Host(f).Addrs()
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: remote, Addrs: addrs}), peerKey)
	if err != nil {
		f.Fatal(err)
	}
	rec, err := env.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	// A device list of alice's naming the remote, signed by a fixed key.
	devices, err := ticket.SignDevices(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)), ticket.Devices{
		Username: "alice", Version: 1, Issued: now, Devices: []ticket.Device{{Peer: remote, Added: now}}})
	if err != nil {
		f.Fatal(err)
	}
	publish := &wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Publish{Publish: &wire.Publish{Ticket: st, PeerRecord: rec, Devices: devices}}}
	f.Add(frame(f, &wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Publish{Publish: &wire.Publish{Ticket: st, PeerRecord: rec}}}))
	f.Add(frame(f, publish))
	f.Add(frame(f, &wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: st, Usernames: []string{"alice", "bob"}}}}))
	f.Add(frame(f, &wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: st, Usernames: []string{"alice", "bob"}, AllDevices: true,
		Tokens: [][]byte{[]byte("token-for-bob-16"), nil}, KnownDevices: [][]byte{make([]byte, 2*wire.RendezvousTagSize), {1, 2}}}}}))
	f.Add(frame(f, &wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: st, Usernames: []string{"alice", "bob"},
		Tokens: [][]byte{[]byte("token-for-bob-16"), nil}, Known: [][]byte{make([]byte, wire.RendezvousTagSize), {1, 2}}}}}))
	f.Add(frame(f, &wire.RendezvousRequest{}))
	f.Add([]byte{2, 0, 0})
	f.Add(binary.AppendUvarint(nil, wire.MaxRendezvousFrame+1))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewRendezvous(RendezvousConfig{AuthServer: auth, Now: func() time.Time { return now }})
		// Publish once first, with a device list, so lookups have something
		// to find.
		var pre bytes.Buffer
		if err := r.serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(frame(t, publish)), &pre}, remote); err != nil {
			t.Fatalf("seed publish: %v", err)
		}
		var preResp wire.RendezvousResponse
		if err := wire.ReadMsg(&pre, wire.MaxRendezvousFrame, &preResp); err != nil || preResp.Error != "" {
			t.Fatalf("seed publish refused: %v, %q", err, preResp.Error)
		}
		var out bytes.Buffer
		err := r.serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), &out}, remote)
		if err == nil {
			var resp wire.RendezvousResponse
			if err := wire.ReadMsg(&out, wire.MaxRendezvousFrame, &resp); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
		} else if out.Len() != 0 {
			t.Fatalf("wrote %d bytes and failed: %v", out.Len(), err)
		}
		// Whatever came in, every stored entry is still a verified one.
		r.mu.Lock()
		defer r.mu.Unlock()
		for name, u := range r.users {
			if len(u.entries) == 0 || len(u.entries) > wire.MaxAccountDevices {
				t.Fatalf("user %q holds %d entries", name, len(u.entries))
			}
			for _, e := range u.entries {
				tk, err := ticket.VerifyFor(auth, e.peer, e.ticket, now)
				if err != nil || tk.Username != name {
					t.Fatalf("stored entry %q has a bad ticket: %v", name, err)
				}
				if _, err := ticket.VerifyRecord(e.peer, e.record); err != nil {
					t.Fatalf("stored entry %q has a bad record: %v", name, err)
				}
			}
			if u.list != nil {
				d, err := ticket.VerifyDevices(u.list.signed)
				if err != nil || d.Username != name {
					t.Fatalf("user %q keeps a bad device list: %v", name, err)
				}
			}
		}
	})
}

// TestRendezvousRateLimit: an account's publishes and lookups share one
// bucket (its devices too); past the burst it is refused until tokens
// return, while other accounts go on unaffected.
func TestRendezvousRateLimit(t *testing.T) {
	e := newEnv(t, RendezvousConfig{Rate: 1, Burst: 3})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	if err := (client.Rendezvous{}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatalf("publish: %v", err)
	}
	for i := range 2 { // the burst is 3: one publish and two lookups
		if _, err := client.Lookup(ctx, alice, e.rvh.ID(), aliceT, []string{"bob"}); err != nil {
			t.Fatalf("lookup %d within the burst: %v", i, err)
		}
	}
	if _, err := client.Lookup(ctx, alice, e.rvh.ID(), aliceT, []string{"bob"}); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("lookup over the burst: %v, want ErrRateLimited", err)
	}
	if err := (client.Rendezvous{}).Publish(ctx, alice, e.rvh.ID(), aliceT); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("publish over the burst: %v, want ErrRateLimited", err)
	}
	if _, err := client.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"}); err != nil {
		t.Fatalf("another account: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := client.Lookup(ctx, alice, e.rvh.ID(), aliceT, []string{"bob"}); err != nil {
		t.Fatalf("after a token returned: %v", err)
	}
}
