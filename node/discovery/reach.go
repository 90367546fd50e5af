package discovery

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/api"
	"eserver/node/store"
)

// Reaching contacts, in the order tried: a direct dial to the addresses
// the contact's homes show us; a hole punch (DCUtR) when the first
// connection had to go through a relay; the relay itself (libp2p circuit
// relay v2 at our homes, which admit ticket holders); and, with no
// connection at all, the contact's mailboxes.

// reservationRenew is how long before its expiry a relay reservation is
// renewed.
const reservationRenew = 10 * time.Minute

// Reach is what the host needs before the session exists (which peers we
// reached by hole punching), plus our relay reservations at our homes.
type Reach struct {
	mu           sync.Mutex
	punched      map[peer.ID]time.Time // last successful hole punch per peer
	reservations map[peer.ID]reservation
}

type reservation struct {
	expiry time.Time
	addrs  []ma.Multiaddr // our circuit addresses through this relay
}

// NewReach returns an empty Reach for NewHost.
func NewReach() *Reach {
	return &Reach{punched: map[peer.ID]time.Time{}, reservations: map[peer.ID]reservation{}}
}

// Trace records successful hole punches (holepunch.EventTracer).
func (r *Reach) Trace(evt *holepunch.Event) {
	if evt.Type != holepunch.EndHolePunchEvtT {
		return
	}
	if end, ok := evt.Evt.(*holepunch.EndHolePunchEvt); ok && end.Success {
		r.mu.Lock()
		r.punched[evt.Remote] = time.Now()
		r.mu.Unlock()
	}
}

func (r *Reach) punchedSince(p peer.ID, t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.punched[p]
	return ok && !at.Before(t)
}

// NewHost builds a node's host: TCP and QUIC, hole punching, and autorelay
// at our homes. relayOnly makes a host that accepts no direct connections
// (it listens nowhere and believes itself behind a NAT) — what a node
// behind a strict NAT is, and how tests make one.
func NewHost(key crypto.PrivKey, listen []string, r *Reach, relayOnly bool) (host.Host, error) {
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.EnableRelay(), // dial /p2p-circuit addresses, accept relayed connections
		libp2p.EnableHolePunching(holepunch.WithTracer(r)),
	}
	if relayOnly {
		opts = append(opts, libp2p.NoListenAddrs, libp2p.ForceReachabilityPrivate())
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// reserve keeps a relay reservation at each of homes (which must have
// admitted us: we published there) and drops those at former homes. It
// reports whether our circuit addresses changed. Reservations are made
// here rather than by libp2p's autorelay so that a node keeps them exactly
// at its homes, and so that circuit addresses are built from the homes'
// addresses as we know them (autorelay keeps only public ones).
func (d *Discovery) reserve(homes []peer.AddrInfo) (changed bool) {
	r, h := d.reach, d.h.Libp2p()
	now := time.Now()
	keep := map[peer.ID]bool{}
	for _, home := range homes {
		keep[home.ID] = true
		r.mu.Lock()
		cur, ok := r.reservations[home.ID]
		r.mu.Unlock()
		if ok && now.Before(cur.expiry.Add(-reservationRenew)) {
			continue
		}
		ctx, cancel := context.WithTimeout(d.ctx(), homeDial)
		rsvp, err := client.Reserve(ctx, h, home)
		cancel()
		if err != nil {
			d.h.Log().Debug("relay reservation", "supernode", home.ID, "err", err)
			continue
		}
		var addrs []ma.Multiaddr
		circuit := ma.StringCast("/p2p/" + home.ID.String() + "/p2p-circuit")
		for _, a := range h.Peerstore().Addrs(home.ID) {
			if !isCircuit(a) {
				addrs = append(addrs, a.Encapsulate(circuit))
			}
		}
		r.mu.Lock()
		r.reservations[home.ID] = reservation{expiry: rsvp.Expiration, addrs: addrs}
		r.mu.Unlock()
		changed = changed || !ok
	}
	r.mu.Lock()
	for id := range r.reservations {
		if !keep[id] {
			delete(r.reservations, id)
			changed = true
		}
	}
	r.mu.Unlock()
	return changed
}

// circuitAddrs are the addresses at which contacts reach us through our
// homes' relays.
func (r *Reach) circuitAddrs() []ma.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ma.Multiaddr
	for _, res := range r.reservations {
		out = append(out, res.addrs...)
	}
	return out
}

// Via says how we reach a contact now.
func (d *Discovery) Via(c store.Contact) api.Via {
	if c.PeerID != "" {
		if id, err := peer.Decode(c.PeerID); err == nil {
			if v, ok := d.connVia(id); ok {
				return v
			}
		}
	}
	if d.HasMailboxes() {
		return api.ViaMailbox
	}
	return api.ViaOffline
}

// connVia classifies our best open connection to p.
func (d *Discovery) connVia(p peer.ID) (api.Via, bool) {
	best, ok := api.Via(""), false
	for _, conn := range d.h.Libp2p().Network().ConnsToPeer(p) {
		v := api.ViaDirect
		switch {
		case conn.Stat().Limited || isCircuit(conn.RemoteMultiaddr()):
			v = api.ViaRelayed
		case d.reach.punchedSince(p, conn.Stat().Opened.Add(-time.Second)):
			v = api.ViaHolePunched
		}
		if !ok || rank(v) < rank(best) {
			best, ok = v, true
		}
	}
	return best, ok
}

func rank(v api.Via) int {
	switch v {
	case api.ViaDirect:
		return 0
	case api.ViaHolePunched:
		return 1
	default:
		return 2
	}
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// CircuitAddrs are the addresses at which contacts reach us through our
// homes' relays (none until a home granted a reservation).
func (d *Discovery) CircuitAddrs() []ma.Multiaddr { return d.reach.circuitAddrs() }
