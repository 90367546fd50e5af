package supernode

// The relay: libp2p circuit relay v2 for EServer ticket holders only. It is
// the last resort after a direct dial and a DCUtR hole punch, so it carries
// whole conversations and file transfers, not just the hole-punch handshake
// the stock limits (2 min, 128 KiB per circuit) are sized for.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"eserver/node/ticket"
)

// Relay defaults. Each is the value a zero field of RelayConfig or its
// Resources takes.
const (
	// DefaultRelayDuration is how long one circuit may live. An hour carries
	// a long chat or a multi-gigabyte transfer at a few MB/s; a node whose
	// circuit ends simply re-opens one (or has hole-punched meanwhile).
	DefaultRelayDuration = time.Hour
	// DefaultRelayData is how many bytes one circuit may carry in each
	// direction: 4 GiB, a large file (a DVD image) with room to spare,
	// and about what an hour moves at the ~1 MB/s a relay share gets.
	DefaultRelayData = 4 << 30

	// DefaultMaxAdmissions bounds the admitted-peer table: a few devices
	// for each of the DefaultMaxNodes nodes a supernode serves
	// (CapsFor(0).Admissions; StartServices scales it with MaxNodes).
	DefaultMaxAdmissions = admissionsPerNode * DefaultMaxNodes

	// DefaultRelayReservationTTL is the stock one hour: clients refresh well
	// before it, and the ACL is asked again on every circuit anyway.
	DefaultRelayReservationTTL = time.Hour
	// DefaultRelayMaxReservations lets every node this supernode is sized
	// for hold its reservation.
	DefaultRelayMaxReservations = DefaultMaxNodes
	// DefaultRelayMaxCircuitsPerPeer caps the circuits one peer may have open
	// as source or as destination. A circuit carries every stream between two
	// peers, so it is one per contact the node is talking to through this
	// relay; 32 covers a busy session while one node cannot take more than
	// 32 × 2 × DefaultRelayBufferSize = 1 MiB of relay buffers.
	DefaultRelayMaxCircuitsPerPeer = 32
	// DefaultRelayBufferSize is the copy buffer of each circuit direction.
	// The stock 2 KiB costs one read and one muxer frame per 2 KiB; 16 KiB
	// moves a file with an eighth of the calls for 32 KiB per circuit.
	DefaultRelayBufferSize = 16 << 10
	// DefaultRelayReservationsPerIP is the stock 8 raised, because an office
	// or carrier-grade NAT puts many EServer users behind one address, and
	// only ticket holders may reserve at all.
	DefaultRelayReservationsPerIP = 64
	// DefaultRelayReservationsPerASN bounds reservations from one IPv6 ASN.
	DefaultRelayReservationsPerASN = 1024
)

// Errors callers branch on.
var (
	ErrNoAdmissions = errors.New("relay: no admissions: an open relay is refused")
)

// DefaultRelayLimit returns the per-circuit limits for ticket holders:
// DefaultRelayDuration and DefaultRelayData.
func DefaultRelayLimit() *relay.RelayLimit {
	return &relay.RelayLimit{Duration: DefaultRelayDuration, Data: DefaultRelayData}
}

// DefaultRelayResources returns the relay's resources for a supernode sized
// for DefaultMaxNodes nodes, with DefaultRelayLimit. The reasons for each
// number are on the constants it comes from.
func DefaultRelayResources() relay.Resources {
	return relay.Resources{
		Limit:                  DefaultRelayLimit(),
		ReservationTTL:         DefaultRelayReservationTTL,
		MaxReservations:        DefaultRelayMaxReservations,
		MaxCircuits:            DefaultRelayMaxCircuitsPerPeer,
		BufferSize:             DefaultRelayBufferSize,
		MaxReservationsPerPeer: 1,
		MaxReservationsPerIP:   DefaultRelayReservationsPerIP,
		MaxReservationsPerASN:  DefaultRelayReservationsPerASN,
	}
}

// Admissions is the set of peers that proved a valid ticket to this
// supernode, each until its ticket's expiry. The relay serves only them.
// It is bounded: when full, expired entries are swept, and if none has
// expired a new peer is refused (an admitted peer may still extend its entry).
// It is safe for concurrent use.
type Admissions struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	until     map[peer.ID]time.Time
	lastSweep time.Time

	refused atomic.Uint64 // new peers refused because the table was full
}

// NewAdmissions returns an empty admission table holding at most max peers
// (zero means DefaultMaxAdmissions), on the clock now (nil means time.Now).
func NewAdmissions(max int, now func() time.Time) *Admissions {
	if max <= 0 {
		max = DefaultMaxAdmissions
	}
	if now == nil {
		now = time.Now
	}
	return &Admissions{max: max, now: now, until: make(map[peer.ID]time.Time)}
}

// sweepEvery bounds how often a full table is swept, so a flood of new peers
// against a table full of live entries costs one pass, not one per peer.
const sweepEvery = time.Second

// Admit lets p use the relay until the given time; a later until for an
// admitted peer extends it, an earlier one is ignored (the peer may hold
// several tickets). It reports whether p is admitted.
func (a *Admissions) Admit(p peer.ID, until time.Time) bool {
	now := a.now()
	if !now.Before(until) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.until[p]; ok {
		if until.After(old) {
			a.until[p] = until
		}
		return true
	}
	if len(a.until) >= a.max && now.Sub(a.lastSweep) >= sweepEvery {
		for q, u := range a.until {
			if !now.Before(u) {
				delete(a.until, q)
			}
		}
		a.lastSweep = now
	}
	if len(a.until) >= a.max {
		a.refused.Add(1)
		return false
	}
	a.until[p] = until
	return true
}

// Cap is the most peers the table holds.
func (a *Admissions) Cap() int { return a.max }

// Refused is how many new peers were refused because the table was full.
func (a *Admissions) Refused() uint64 { return a.refused.Load() }

// AdmitTicket admits t's peer until t's expiry. Its signature fits
// RendezvousConfig.OnTicket; the ticket must already be verified.
func (a *Admissions) AdmitTicket(t *ticket.Ticket) {
	a.Admit(t.Peer, t.Expiry)
}

// Allowed reports whether p is admitted now.
func (a *Admissions) Allowed(p peer.ID) bool {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.until[p]
	if !ok {
		return false
	}
	if !now.Before(u) {
		delete(a.until, p)
		return false
	}
	return true
}

// Revoke forgets p: it may reserve or open circuits no more until it proves
// a ticket again. Circuits already open are not cut.
func (a *Admissions) Revoke(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.until, p)
}

// Len is the number of entries, expired ones not yet swept included.
func (a *Admissions) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.until)
}

// RelayConfig configures a Relay. Zero values are documented defaults.
type RelayConfig struct {
	// Admissions decides who may reserve and open circuits; required.
	Admissions *Admissions
	// Limit is the per-circuit duration and data limit; nil means
	// DefaultRelayLimit. There is no unlimited setting: a circuit that
	// outlives its limit is re-opened by the node.
	Limit *relay.RelayLimit
	// Resources overrides the relay's resources field by field: each zero
	// field takes DefaultRelayResources' value. Its Limit is ignored (see
	// Limit).
	Resources relay.Resources
	// AdvertisePrivate puts non-public addresses (LAN, loopback) of this
	// host in reservations; by default only public ones are, as clients
	// behind NAT can use no others.
	AdvertisePrivate bool
	// Tracer, if set, also receives every relay event (e.g. libp2p's
	// Prometheus relay.NewMetricsTracer()).
	Tracer relay.MetricsTracer
	// UploadRate caps, in bytes per second, what the relay sends on all
	// its circuits together: the upload bandwidth the user grants to
	// supernode duty. Zero means no cap.
	UploadRate int64
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Relay is a circuit relay v2 service on one host, for admitted peers only.
type Relay struct {
	h     host.Host
	r     *relay.Relay
	res   relay.Resources
	stats *relayTracer
	log   *slog.Logger
	shape *shaper
	stop  context.CancelFunc // wakes writers paced by the upload cap

	closeOnce sync.Once
}

// RelayStats are the relay's counters since it started.
type RelayStats struct {
	BytesRelayed        uint64 // payload bytes copied, both directions of every circuit
	ActiveCircuits      int64
	CircuitsOpened      uint64
	CircuitsRefused     uint64 // connect requests refused (ACL, no reservation, limits) or failed
	ActiveReservations  int64
	ReservationsRefused uint64
}

// StartRelay serves circuit relay v2 on h for the peers cfg.Admissions
// admits. h must not also run libp2p's own relay service
// (libp2p.EnableRelayService): both would claim the hop protocol.
func StartRelay(h host.Host, cfg RelayConfig) (*Relay, error) {
	if cfg.Admissions == nil {
		return nil, ErrNoAdmissions
	}
	res := resolveResources(cfg.Resources)
	res.Limit = cfg.Limit
	if res.Limit == nil {
		res.Limit = DefaultRelayLimit()
	}
	if res.Limit.Duration < time.Second || res.Limit.Data <= 0 {
		// The limit travels as whole seconds; under a second reads as none.
		return nil, fmt.Errorf("relay limit %v / %d bytes: want at least 1s and 1 byte", res.Limit.Duration, res.Limit.Data)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "relay")
	tr := &relayTracer{next: cfg.Tracer}
	opts := []relay.Option{
		relay.WithResources(res),
		relay.WithACL(admissionACL{a: cfg.Admissions, log: log}),
		relay.WithMetricsTracer(tr),
	}
	if cfg.AdvertisePrivate {
		opts = append(opts, relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
	} else {
		opts = append(opts, relay.WithReservationAddressFilter(manet.IsPublicAddr))
	}
	if cfg.UploadRate < 0 {
		return nil, fmt.Errorf("relay upload rate %d bytes/s: want 0 (no cap) or more", cfg.UploadRate)
	}
	// The relay always gets the paced host, so that a cap set later
	// (SetUploadRate) also slows circuits already open.
	ctx, stop := context.WithCancel(context.Background())
	shape := newShaper(ctx, cfg.UploadRate)
	r, err := relay.New(shapedHost{Host: h, s: shape}, opts...)
	if err != nil {
		stop()
		return nil, fmt.Errorf("starting circuit relay: %w", err)
	}
	log.Debug("relay started", "duration", res.Limit.Duration, "data", res.Limit.Data,
		"max_reservations", res.MaxReservations, "max_circuits_per_peer", res.MaxCircuits,
		"upload_rate", cfg.UploadRate)
	return &Relay{h: h, r: r, res: res, stats: tr, log: log, shape: shape, stop: stop}, nil
}

// resolveResources fills the zero fields of o from DefaultRelayResources.
func resolveResources(o relay.Resources) relay.Resources {
	d := DefaultRelayResources()
	if o.ReservationTTL > 0 {
		d.ReservationTTL = o.ReservationTTL
	}
	if o.MaxReservations > 0 {
		d.MaxReservations = o.MaxReservations
	}
	if o.MaxCircuits > 0 {
		d.MaxCircuits = o.MaxCircuits
	}
	if o.BufferSize > 0 {
		d.BufferSize = o.BufferSize
	}
	if o.MaxReservationsPerPeer > 0 { // deprecated upstream, still honoured
		d.MaxReservationsPerPeer = o.MaxReservationsPerPeer
	}
	if o.MaxReservationsPerIP > 0 {
		d.MaxReservationsPerIP = o.MaxReservationsPerIP
	}
	if o.MaxReservationsPerASN > 0 {
		d.MaxReservationsPerASN = o.MaxReservationsPerASN
	}
	return d
}

// Resources returns the relay's effective resources and limit.
func (r *Relay) Resources() relay.Resources {
	res := r.res
	l := *r.res.Limit
	res.Limit = &l
	return res
}

// SetUploadRate changes the upload cap (RelayConfig.UploadRate) at once,
// for open circuits too; zero removes it, a negative rate is refused.
func (r *Relay) SetUploadRate(bytesPerSec int64) error {
	if bytesPerSec < 0 {
		return fmt.Errorf("relay upload rate %d bytes/s: want 0 (no cap) or more", bytesPerSec)
	}
	r.shape.set(bytesPerSec)
	r.log.Debug("relay upload rate", "bytes_per_sec", bytesPerSec)
	return nil
}

// UploadRate returns the upload cap in bytes per second; 0: none.
func (r *Relay) UploadRate() int64 { return r.shape.rate() }

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats { return r.stats.snapshot() }

// Close stops the relay: no new reservations or circuits, and the circuits
// in flight are reset, so that none outlives it (a demoted supernode hands
// its nodes over; they re-open circuits elsewhere).
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		_ = r.r.Close()
		r.stop()
		// libp2p's Close leaves running circuits to their limits. This
		// host's relay-service streams are the inbound hop and the outbound
		// stop streams; as a relay client it has only the opposite ones, so
		// those are left alone.
		n := 0
		for _, c := range r.h.Network().Conns() {
			for _, s := range c.GetStreams() {
				d := s.Stat().Direction
				if (s.Protocol() == proto.ProtoIDv2Hop && d == network.DirInbound) ||
					(s.Protocol() == proto.ProtoIDv2Stop && d == network.DirOutbound) {
					_ = s.Reset()
					n++
				}
			}
		}
		r.log.Debug("relay closed", "streams_reset", n)
	})
	return nil
}

// admissionACL lets only admitted peers reserve, and connects two peers only
// when both are admitted: a stranger can neither use the relay nor be
// reached through it.
type admissionACL struct {
	a   *Admissions
	log *slog.Logger
}

func (acl admissionACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	ok := acl.a.Allowed(p)
	if !ok {
		acl.log.Debug("reservation refused: not admitted", "peer", p)
	}
	return ok
}

func (acl admissionACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	ok := acl.a.Allowed(src) && acl.a.Allowed(dest)
	if !ok {
		acl.log.Debug("circuit refused: not admitted", "src", src, "dest", dest)
	}
	return ok
}

// relayTracer counts relay events for Stats and passes them on.
type relayTracer struct {
	next relay.MetricsTracer

	bytes        atomic.Uint64
	circuits     atomic.Int64
	opened       atomic.Uint64
	refused      atomic.Uint64
	reservations atomic.Int64
	resvRefused  atomic.Uint64
}

var _ relay.MetricsTracer = (*relayTracer)(nil)

func (t *relayTracer) snapshot() RelayStats {
	return RelayStats{
		BytesRelayed:        t.bytes.Load(),
		ActiveCircuits:      t.circuits.Load(),
		CircuitsOpened:      t.opened.Load(),
		CircuitsRefused:     t.refused.Load(),
		ActiveReservations:  t.reservations.Load(),
		ReservationsRefused: t.resvRefused.Load(),
	}
}

func (t *relayTracer) RelayStatus(enabled bool) {
	if t.next != nil {
		t.next.RelayStatus(enabled)
	}
}

func (t *relayTracer) ConnectionOpened() {
	t.circuits.Add(1)
	t.opened.Add(1)
	if t.next != nil {
		t.next.ConnectionOpened()
	}
}

func (t *relayTracer) ConnectionClosed(d time.Duration) {
	t.circuits.Add(-1)
	if t.next != nil {
		t.next.ConnectionClosed(d)
	}
}

func (t *relayTracer) ConnectionRequestHandled(status pbv2.Status) {
	if status != pbv2.Status_OK {
		t.refused.Add(1)
	}
	if t.next != nil {
		t.next.ConnectionRequestHandled(status)
	}
}

func (t *relayTracer) ReservationAllowed(isRenewal bool) {
	if !isRenewal {
		t.reservations.Add(1)
	}
	if t.next != nil {
		t.next.ReservationAllowed(isRenewal)
	}
}

func (t *relayTracer) ReservationClosed(cnt int) {
	t.reservations.Add(-int64(cnt))
	if t.next != nil {
		t.next.ReservationClosed(cnt)
	}
}

func (t *relayTracer) ReservationRequestHandled(status pbv2.Status) {
	if status != pbv2.Status_OK {
		t.resvRefused.Add(1)
	}
	if t.next != nil {
		t.next.ReservationRequestHandled(status)
	}
}

func (t *relayTracer) BytesTransferred(cnt int) {
	t.bytes.Add(uint64(cnt))
	if t.next != nil {
		t.next.BytesTransferred(cnt)
	}
}
