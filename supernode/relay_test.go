package supernode

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/internal/poll"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

const sinkProto = protocol.ID("/eserver-test/sink/1.0.0")

// relayEnv is a supernode host running the relay, with its admissions.
type relayEnv struct {
	t     *testing.T
	clock *sntest.Clock
	rh    host.Host
	adm   *Admissions
	relay *Relay
}

func newRelayEnv(t *testing.T, cfg RelayConfig) *relayEnv {
	t.Helper()
	res, err := SupernodeResources(300)
	if err != nil {
		t.Fatalf("supernode resources: %v", err)
	}
	rh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), res)
	if err != nil {
		t.Fatalf("relay host: %v", err)
	}
	t.Cleanup(func() { _ = rh.Close() })
	e := &relayEnv{t: t, clock: sntest.NewClock(), rh: rh}
	if cfg.Admissions == nil {
		cfg.Admissions = NewAdmissions(0, e.clock.Now)
	}
	e.adm = cfg.Admissions
	e.relay, err = StartRelay(rh, cfg)
	if err != nil {
		t.Fatalf("start relay: %v", err)
	}
	t.Cleanup(func() { _ = e.relay.Close() })
	return e
}

// hiddenHost is a node nobody can dial: it listens on no address, only
// through relays (the circuit transport accepts relayed connections).
func hiddenHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.EnableRelay())
	if err != nil {
		t.Fatalf("hidden host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func (e *relayEnv) info() peer.AddrInfo { return peer.AddrInfo{ID: e.rh.ID(), Addrs: e.rh.Addrs()} }

// admit admits h for a day on the relay's clock.
func (e *relayEnv) admit(h host.Host) {
	if !e.adm.Admit(h.ID(), e.clock.Now().Add(wire.TicketLifetime)) {
		e.t.Fatalf("admitting %s refused", h.ID())
	}
}

// reserve connects h to the relay and asks for a reservation.
func (e *relayEnv) reserve(ctx context.Context, h host.Host) (*circuit.Reservation, error) {
	if err := h.Connect(ctx, e.info()); err != nil {
		e.t.Fatalf("connecting to relay: %v", err)
	}
	return circuit.Reserve(ctx, h, e.info())
}

// circuitTo is dest's address through the relay: the only one dest has.
func (e *relayEnv) circuitTo(dest peer.ID) peer.AddrInfo {
	a := e.rh.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + e.rh.ID().String() + "/p2p-circuit"))
	return peer.AddrInfo{ID: dest, Addrs: []ma.Multiaddr{a}}
}

// sinkResult is what the sink read from one stream.
type sinkResult struct {
	n   int64
	err error
}

// serveSink makes h read whole streams, answer with their SHA-256 and report
// how much it read.
func serveSink(h host.Host) <-chan sinkResult {
	out := make(chan sinkResult, 8)
	h.SetStreamHandler(sinkProto, func(s network.Stream) {
		_ = s.SetDeadline(time.Now().Add(30 * time.Second))
		hash := sha256.New()
		n, err := io.Copy(hash, s)
		out <- sinkResult{n, err}
		if err != nil {
			_ = s.Reset()
			return
		}
		_, _ = s.Write(hash.Sum(nil))
		_ = s.Close()
	})
	return out
}

// send writes data to dest's sink (or the one proto names) through any
// (limited) connection and returns what it answered: the sink's digest.
func send(ctx context.Context, h host.Host, dest peer.ID, data []byte, proto ...protocol.ID) ([]byte, error) {
	if len(proto) == 0 {
		proto = []protocol.ID{sinkProto}
	}
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "relayed transfer"), dest, proto...)
	if err != nil {
		return nil, err
	}
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.Write(data); err != nil {
		_ = s.Reset()
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, err
	}
	sum, err := io.ReadAll(s)
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	_ = s.Close()
	return sum, nil
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRelayTransfer10MiB(t *testing.T) {
	e := newRelayEnv(t, RelayConfig{})
	ctx := sntest.Ctx(t)
	a, b := hiddenHost(t), hiddenHost(t)
	e.admit(a)
	e.admit(b)
	sink := serveSink(b)

	rsvp, err := e.reserve(ctx, b)
	if err != nil {
		t.Fatalf("b reserving: %v", err)
	}
	if rsvp.LimitDuration != DefaultRelayDuration || rsvp.LimitData != DefaultRelayData {
		t.Fatalf("reservation limits %v / %d, want %v / %d", rsvp.LimitDuration, rsvp.LimitData, DefaultRelayDuration, uint64(DefaultRelayData))
	}
	if err := a.Connect(ctx, e.info()); err != nil {
		t.Fatalf("a connecting to relay: %v", err)
	}

	// Neither can reach the other directly: b has no address but the circuit.
	if len(b.Addrs()) != 0 {
		t.Fatalf("b listens on %v, want nothing", b.Addrs())
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: e.rh.Addrs()}); err == nil {
		t.Fatal("a dialled b without the relay")
	}

	if err := a.Connect(ctx, e.circuitTo(b.ID())); err != nil {
		t.Fatalf("a connecting to b through the relay: %v", err)
	}
	conns := a.Network().ConnsToPeer(b.ID())
	if len(conns) != 1 || !conns[0].Stat().Limited || !strings.Contains(conns[0].RemoteMultiaddr().String(), "/p2p-circuit") {
		t.Fatalf("a's connections to b: %v, want one limited circuit", conns)
	}

	data := randomBytes(t, 10<<20)
	want := sha256.Sum256(data)
	got, err := send(ctx, a, b.ID(), data)
	if err != nil {
		t.Fatalf("sending 10 MiB through the relay: %v", err)
	}
	if r := <-sink; r.err != nil || r.n != int64(len(data)) {
		t.Fatalf("sink read %d bytes, err %v; want %d", r.n, r.err, len(data))
	}
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("digest %x, want %x", got, want)
	}

	st := e.relay.Stats()
	if st.BytesRelayed < uint64(len(data)) {
		t.Fatalf("relayed %d bytes, want at least %d", st.BytesRelayed, len(data))
	}
	if st.CircuitsOpened != 1 || st.ActiveCircuits != 1 || st.ActiveReservations != 1 {
		t.Fatalf("stats %+v, want one circuit open, one reservation", st)
	}
	t.Logf("relayed %d bytes for a %d-byte transfer", st.BytesRelayed, len(data))

	// Closing the circuit closes it at the relay.
	for _, c := range conns {
		_ = c.Close()
	}
	poll.Until(t, "the circuit to close", func() bool { return e.relay.Stats().ActiveCircuits == 0 })
}

func TestRelayAdmitsThroughRendezvous(t *testing.T) {
	adm := NewAdmissions(0, nil)
	e := newRelayEnv(t, RelayConfig{Admissions: adm})
	auth := sntest.Key(t)
	rv := NewRendezvous(RendezvousConfig{AuthServer: sntest.ID(t, auth), OnTicket: adm.AdmitTicket})
	rv.Attach(e.rh)
	t.Cleanup(func() { _ = rv.Close() })
	ctx := sntest.Ctx(t)

	b := hiddenHost(t)
	b.Peerstore().AddAddrs(e.rh.ID(), e.rh.Addrs(), peerstore.PermanentAddrTTL)
	if _, err := e.reserve(ctx, b); err == nil {
		t.Fatal("reserved before proving a ticket")
	}
	now := time.Now()
	if _, err := client.Lookup(ctx, b, e.rh.ID(), sntest.SignTicket(t, auth, "bob", b.ID(), now, now.Add(time.Hour)), []string{"alice"}); err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if !adm.Allowed(b.ID()) {
		t.Fatal("the ticket did not admit b")
	}
	if _, err := e.reserve(ctx, b); err != nil {
		t.Fatalf("reserving after a lookup: %v", err)
	}

	// A ticket for another peer, or of another server, admits nobody.
	c := hiddenHost(t)
	c.Peerstore().AddAddrs(e.rh.ID(), e.rh.Addrs(), peerstore.PermanentAddrTTL)
	if _, err := client.Lookup(ctx, c, e.rh.ID(), sntest.SignTicket(t, auth, "carol", b.ID(), now, now.Add(time.Hour)), []string{"alice"}); err == nil {
		t.Fatal("lookup with b's ticket succeeded for c")
	}
	if _, err := client.Lookup(ctx, c, e.rh.ID(), sntest.SignTicket(t, sntest.Key(t), "carol", c.ID(), now, now.Add(time.Hour)), []string{"alice"}); err == nil {
		t.Fatal("lookup with another server's ticket succeeded")
	}
	if adm.Allowed(c.ID()) {
		t.Fatal("c admitted without a valid ticket of its own")
	}
}

func TestRelayRefusesStrangers(t *testing.T) {
	e := newRelayEnv(t, RelayConfig{})
	ctx := sntest.Ctx(t)
	a, b, stranger := hiddenHost(t), hiddenHost(t), hiddenHost(t)
	e.admit(a)
	e.admit(b)
	serveSink(b)
	serveSink(stranger)
	if _, err := e.reserve(ctx, b); err != nil {
		t.Fatalf("b reserving: %v", err)
	}

	// A stranger cannot reserve...
	_, err := e.reserve(ctx, stranger)
	var rerr circuit.ReservationError
	if !errors.As(err, &rerr) || rerr.Status != pbv2.Status_PERMISSION_DENIED {
		t.Fatalf("stranger reserving: %v, want permission denied", err)
	}
	// ...nor reach an admitted peer.
	if err := stranger.Connect(ctx, e.circuitTo(b.ID())); err == nil {
		t.Fatal("stranger connected to b through the relay")
	}

	// An admitted peer cannot reach one no longer admitted, though it still
	// holds a reservation.
	e.admit(stranger)
	if _, err := e.reserve(ctx, stranger); err != nil {
		t.Fatalf("reserving once admitted: %v", err)
	}
	e.adm.Revoke(stranger.ID())
	if err := a.Connect(ctx, e.circuitTo(stranger.ID())); err == nil {
		t.Fatal("a connected to a revoked peer")
	}

	// Admission ends with the ticket.
	e.clock.Advance(wire.TicketLifetime)
	if err := a.Connect(ctx, e.circuitTo(b.ID())); err == nil {
		t.Fatal("a connected after its admission expired")
	}
	if e.adm.Allowed(a.ID()) || e.adm.Allowed(b.ID()) {
		t.Fatal("expired admissions still allowed")
	}

	// The relay counts a refusal after the client has already seen it.
	poll.Until(t, "3 refused circuits counted", func() bool { return e.relay.Stats().CircuitsRefused == 3 })
	st := e.relay.Stats()
	if st.ReservationsRefused != 1 || st.CircuitsRefused != 3 || st.CircuitsOpened != 0 || st.BytesRelayed != 0 {
		t.Fatalf("stats %+v, want 1 reservation and 3 circuits refused, nothing relayed", st)
	}
}

func TestRelayDataLimit(t *testing.T) {
	const limit = 64 << 10
	e := newRelayEnv(t, RelayConfig{Limit: &relay.RelayLimit{Duration: time.Minute, Data: limit}})
	ctx := sntest.Ctx(t)
	a, b := hiddenHost(t), hiddenHost(t)
	e.admit(a)
	e.admit(b)
	sink := serveSink(b)
	rsvp, err := e.reserve(ctx, b)
	if err != nil {
		t.Fatalf("b reserving: %v", err)
	}
	if rsvp.LimitData != limit {
		t.Fatalf("reservation data limit %d, want %d", rsvp.LimitData, limit)
	}
	if err := a.Connect(ctx, e.info()); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, e.circuitTo(b.ID())); err != nil {
		t.Fatalf("a connecting to b: %v", err)
	}

	data := randomBytes(t, 1<<20)
	if _, err := send(ctx, a, b.ID(), data); err == nil {
		t.Fatal("1 MiB went through a circuit limited to 64 KiB")
	}
	poll.Until(t, "the limited circuit to close", func() bool { return e.relay.Stats().ActiveCircuits == 0 })
	// The cut may come before the stream's protocol was even negotiated at
	// b, in which case b's handler never ran; if it ran, it must have seen
	// the stream fail within the limit.
	select {
	case r := <-sink:
		if r.err == nil || r.n > limit {
			t.Fatalf("sink read %d bytes, err %v; want an error within %d bytes", r.n, r.err, limit)
		}
	case <-time.After(2 * time.Second):
	}
	// Each direction may carry the limit, no more.
	if st := e.relay.Stats(); st.BytesRelayed > 2*limit {
		t.Fatalf("relayed %d bytes, limit %d each way", st.BytesRelayed, limit)
	}
}

func TestRelayCloseEndsCircuits(t *testing.T) {
	e := newRelayEnv(t, RelayConfig{})
	ctx := sntest.Ctx(t)
	a, b := hiddenHost(t), hiddenHost(t)
	e.admit(a)
	e.admit(b)
	started, ended := make(chan struct{}), make(chan error, 1)
	b.SetStreamHandler(sinkProto, func(s network.Stream) {
		_ = s.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil {
			ended <- err
			return
		}
		close(started)
		_, err := io.Copy(io.Discard, s)
		ended <- err
		_ = s.Reset()
	})
	if _, err := e.reserve(ctx, b); err != nil {
		t.Fatalf("b reserving: %v", err)
	}
	if err := a.Connect(ctx, e.info()); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, e.circuitTo(b.ID())); err != nil {
		t.Fatalf("a connecting to b: %v", err)
	}
	s, err := a.NewStream(network.WithAllowLimitedConn(ctx, "test"), b.ID(), sinkProto)
	if err != nil {
		t.Fatalf("stream through the relay: %v", err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case err := <-ended:
		t.Fatalf("sink failed before close: %v", err)
	case <-ctx.Done():
		t.Fatal("sink never got the stream")
	}

	if err := e.relay.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("sink stream ended cleanly; want it cut")
		}
	case <-ctx.Done():
		t.Fatal("the circuit outlived the relay")
	}
	poll.Until(t, "the circuit to close", func() bool { return e.relay.Stats().ActiveCircuits == 0 })
	if st := e.relay.Stats(); st.ActiveReservations != 0 {
		t.Fatalf("after close: %+v", st)
	}
	if _, err := e.reserve(ctx, a); err == nil {
		t.Fatal("reserved at a closed relay")
	}
}

func TestStartRelayRefusesOpenRelay(t *testing.T) {
	if _, err := StartRelay(sntest.Host(t), RelayConfig{}); !errors.Is(err, ErrNoAdmissions) {
		t.Fatalf("StartRelay without admissions: %v, want ErrNoAdmissions", err)
	}
	bad := RelayConfig{Admissions: NewAdmissions(0, nil), Limit: &relay.RelayLimit{Duration: time.Millisecond, Data: 1}}
	if _, err := StartRelay(sntest.Host(t), bad); err == nil {
		t.Fatal("StartRelay accepted a sub-second duration limit")
	}
}

func TestRelayResources(t *testing.T) {
	h := sntest.Host(t)
	r, err := StartRelay(h, RelayConfig{
		Admissions: NewAdmissions(0, nil),
		Resources:  relay.Resources{MaxCircuits: 4, Limit: &relay.RelayLimit{Duration: time.Second, Data: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := r.Resources()
	d := DefaultRelayResources()
	if res.MaxCircuits != 4 || res.BufferSize != d.BufferSize || res.MaxReservations != d.MaxReservations ||
		res.MaxReservationsPerIP != d.MaxReservationsPerIP || *res.Limit != *DefaultRelayLimit() {
		t.Fatalf("resources %+v (limit %+v), want defaults with MaxCircuits 4", res, *res.Limit)
	}
}

func TestAdmissions(t *testing.T) {
	c := sntest.NewClock()
	a := NewAdmissions(2, c.Now)
	p1, p2, p3 := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	now := c.Now()

	if a.Admit(p1, now) {
		t.Fatal("admitted until now")
	}
	if !a.Admit(p1, now.Add(time.Minute)) || !a.Admit(p2, now.Add(time.Hour)) {
		t.Fatal("admit refused")
	}
	if a.Admit(p3, now.Add(time.Hour)) {
		t.Fatal("admitted past the bound with nothing expired")
	}
	if a.Refused() != 1 || a.Cap() != 2 {
		t.Fatalf("refused %d (want 1), cap %d (want 2)", a.Refused(), a.Cap())
	}
	// An earlier expiry does not shorten an admission; a later one extends it.
	a.Admit(p1, now.Add(time.Second))
	if !a.Admit(p1, now.Add(2*time.Minute)) {
		t.Fatal("extending refused")
	}
	c.Advance(90 * time.Second)
	if !a.Allowed(p1) || !a.Allowed(p2) || a.Allowed(p3) {
		t.Fatal("wrong peers allowed after 90 s")
	}
	c.Advance(time.Minute) // p1 expired: its slot is free again
	if !a.Admit(p3, c.Now().Add(time.Hour)) {
		t.Fatal("expired entry not swept for a new peer")
	}
	if a.Allowed(p1) || !a.Allowed(p3) || a.Len() != 2 {
		t.Fatalf("after sweep: p1 %v p3 %v len %d", a.Allowed(p1), a.Allowed(p3), a.Len())
	}
	a.Revoke(p3)
	if a.Allowed(p3) {
		t.Fatal("revoked peer allowed")
	}

	a.AdmitTicket(&ticket.Ticket{Username: "carol", Peer: p3, Expiry: c.Now().Add(time.Hour)})
	if !a.Allowed(p3) {
		t.Fatal("AdmitTicket did not admit the ticket's peer")
	}
}

// starved is the upload cap the limit checks set: 1 B/s, so that over a
// test's whole bound (poll.Bound) the bucket refills by a few dozen bytes and
// its size, minUploadBurst, is all the relay may send. With it the cap is
// checked by counting bytes, not by timing a transfer.
const starved = 1

// starvedBudget is what the relay may send under the starved cap: the full
// bucket, and a generous allowance for refill during the test.
const starvedBudget = minUploadBurst + 1<<10

// TestRelayUploadCap: the relay's writes draw on a token bucket of the cap,
// both for a cap it was started with and for one set on an open circuit.
// Under a starved cap it relays a bucketful and no more; under a real cap a
// transfer is paced (not timed here) and arrives intact.
func TestRelayUploadCap(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		e, a, b := capCircuit(t, RelayConfig{UploadRate: starved})
		if got := e.relay.UploadRate(); got != starved {
			t.Fatalf("UploadRate() = %d, want %d", got, starved)
		}
		e.checkStarved(a, b)
	})
	t.Run("set while relaying", func(t *testing.T) {
		e, a, b := capCircuit(t, RelayConfig{})
		if got := e.relay.UploadRate(); got != 0 {
			t.Fatalf("UploadRate() = %d with no cap configured", got)
		}
		sink := serveSink(b)
		e.sendIntact(a, b, sink, 1<<20) // uncapped
		const rate = 1 << 20
		if err := e.relay.SetUploadRate(rate); err != nil {
			t.Fatal(err)
		}
		if err := e.relay.SetUploadRate(-1); err == nil {
			t.Fatal("SetUploadRate accepted a negative rate")
		}
		if got := e.relay.UploadRate(); got != rate {
			t.Fatalf("UploadRate() = %d, want %d", got, rate)
		}
		// Three bucketfuls: most of it waits for tokens on the way.
		e.sendIntact(a, b, sink, 3*rate)
		// The cap applies to the circuit already open.
		if err := e.relay.SetUploadRate(starved); err != nil {
			t.Fatal(err)
		}
		e.checkStarved(a, b)
	})
}

// capCircuit starts a relay with cfg and opens a circuit from a to b
// through it.
func capCircuit(t *testing.T, cfg RelayConfig) (e *relayEnv, a, b host.Host) {
	t.Helper()
	e = newRelayEnv(t, cfg)
	ctx := sntest.Ctx(t)
	a, b = hiddenHost(t), hiddenHost(t)
	e.admit(a)
	e.admit(b)
	if _, err := e.reserve(ctx, b); err != nil {
		t.Fatalf("b reserving: %v", err)
	}
	if err := a.Connect(ctx, e.info()); err != nil {
		t.Fatalf("a connecting to relay: %v", err)
	}
	if err := a.Connect(ctx, e.circuitTo(b.ID())); err != nil {
		t.Fatalf("a connecting to b through the relay: %v", err)
	}
	return e, a, b
}

// sendIntact sends n random bytes from a to b's sink and checks that all of
// them arrived, unchanged.
func (e *relayEnv) sendIntact(a, b host.Host, sink <-chan sinkResult, n int) {
	e.t.Helper()
	data := randomBytes(e.t, n)
	want := sha256.Sum256(data)
	got, err := send(sntest.Ctx(e.t), a, b.ID(), data)
	if err != nil {
		e.t.Fatalf("sending %d bytes through the relay (cap %d B/s): %v", n, e.relay.UploadRate(), err)
	}
	if r := poll.Receive(e.t, sink, "the sink's result"); r.err != nil || r.n != int64(n) || !bytes.Equal(got, want[:]) {
		e.t.Fatalf("sink read %d bytes (err %v), digest %x; want %d bytes, %x", r.n, r.err, got, n, want)
	}
}

// checkStarved sends four bucketfuls from a to b under the starved cap and
// checks that the relay stops at one: once a relay write waits for tokens,
// b has received no more than the bucket and not the end of the stream, and
// the relay has counted no more.
func (e *relayEnv) checkStarved(a, b host.Host) {
	e.t.Helper()
	got, eof := serveCounter(b)
	before := e.relay.Stats().BytesRelayed
	data := randomBytes(e.t, 4*minUploadBurst)
	sent := make(chan error, 1)
	go func() {
		_, err := send(sntest.Ctx(e.t), a, b.ID(), data, countProto)
		sent <- err
	}()
	// The bucket is spent once a write holds a reservation it cannot cover
	// (b may not have decrypted a byte yet: a frame arrives whole or not at
	// all).
	poll.Until(e.t, "a relay write to wait for tokens the cap does not grant", func() bool {
		return e.relay.shape.lim.Tokens() < 0
	})
	if n := got.Load(); n > starvedBudget {
		e.t.Fatalf("b received %d bytes through a relay with a %d-byte bucket and a %d B/s cap", n, minUploadBurst, starved)
	}
	if r := e.relay.Stats().BytesRelayed - before; r > starvedBudget {
		e.t.Fatalf("relay counted %d bytes under a %d-byte bucket", r, minUploadBurst)
	}
	if eof.Load() {
		e.t.Fatalf("%d bytes arrived whole through a %d-byte bucket", len(data), minUploadBurst)
	}
	select {
	case err := <-sent:
		if err == nil {
			e.t.Fatal("the starved transfer completed")
		}
	default:
	}
}

const countProto = protocol.ID("/eserver-test/count/1.0.0")

// serveCounter makes h read countProto streams, counting the bytes as they
// arrive; eof is set when one ends whole.
func serveCounter(h host.Host) (got *atomic.Int64, eof *atomic.Bool) {
	got, eof = new(atomic.Int64), new(atomic.Bool)
	h.SetStreamHandler(countProto, func(s network.Stream) {
		_ = s.SetDeadline(time.Now().Add(poll.Bound))
		_, err := io.Copy(io.Discard, countingReader{s, got})
		if err != nil {
			_ = s.Reset()
			return
		}
		eof.Store(true)
		_ = s.Close()
	})
	return got, eof
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func TestStartRelayRefusesNegativeUploadRate(t *testing.T) {
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := StartRelay(h, RelayConfig{Admissions: NewAdmissions(0, nil), UploadRate: -1}); err == nil {
		t.Fatal("StartRelay accepted a negative upload rate")
	}
}
