package client

// The supernode's (and the node's) side of the auth server's registry
// (wire.ProtoRegistry): heartbeat to stay listed, list the live supernodes.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Supernode is one live supernode as the registry lists it, verified: its
// role-supernode ticket was issued by the auth server and its addresses come
// from a record signed by the ticket's peer.
type Supernode struct {
	Ticket *ticket.Ticket
	Addrs  peer.AddrInfo
}

// Heartbeat tells the auth server auth that h runs the supernode services,
// with h's current addresses in a signed peer record, under the operator's
// device ticket t (which must be h's). It returns the role-supernode ticket
// the server issued, verified. auth's addresses must be known to h's
// peerstore (or a connection open).
func Heartbeat(ctx context.Context, h host.Host, auth peer.ID, t *wire.SignedTicket) (*ticket.Ticket, error) {
	key := h.Peerstore().PrivKey(h.ID())
	if key == nil {
		return nil, fmt.Errorf("heartbeat: no private key for %s", h.ID())
	}
	rec, err := ticket.SealRecord(key, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	resp, err := Call[*wire.RegistryResponse](ctx, h, auth, wire.ProtoRegistry, &wire.RegistryRequest{
		Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{Ticket: t, PeerRecord: rec}},
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	st, err := ticket.VerifyFor(auth, h.ID(), resp.GetSupernodeTicket(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w: supernode ticket: %v", ErrProtocol, err)
	}
	if st.Role != ticket.RoleSupernode {
		return nil, fmt.Errorf("heartbeat: %w: ticket role %q", ErrProtocol, st.Role)
	}
	return st, nil
}

// ListSupernodes asks the auth server auth for the live supernodes,
// presenting the caller's ticket t. Entries that do not verify (see
// ParseSupernodes) are dropped.
func ListSupernodes(ctx context.Context, h host.Host, auth peer.ID, t *wire.SignedTicket) ([]Supernode, error) {
	resp, err := Call[*wire.RegistryResponse](ctx, h, auth, wire.ProtoRegistry, &wire.RegistryRequest{
		Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: t}},
	})
	if err != nil {
		return nil, fmt.Errorf("listing supernodes: %w", err)
	}
	return ParseSupernodes(auth, resp.GetSupernodes()), nil
}

// SupernodeIDs returns the peer IDs of list, in its order.
func SupernodeIDs(list []Supernode) []peer.ID {
	ids := make([]peer.ID, 0, len(list))
	for _, sn := range list {
		ids = append(ids, sn.Addrs.ID)
	}
	return ids
}

// SupernodeLister returns a function that lists the live supernodes' peer
// IDs at the registry of auth, asking from h with the ticket t returns at
// the time (h's, any role): a supernode's view of the others, for
// supernode.ServicesConfig.Supernodes. auth's addresses must be in h's
// peerstore (or a connection open).
func SupernodeLister(h host.Host, auth peer.ID, t func() *wire.SignedTicket) func(context.Context) ([]peer.ID, error) {
	return func(ctx context.Context) ([]peer.ID, error) {
		st := t()
		if st == nil {
			return nil, errors.New("listing supernodes: no ticket yet")
		}
		list, err := ListSupernodes(ctx, h, auth, st)
		if err != nil {
			return nil, err
		}
		return SupernodeIDs(list), nil
	}
}

// ParseSupernodes verifies a supernode list (a registry answer or
// LoginResult.supernodes): each ticket must be a valid role-supernode ticket
// issued by auth, and each record signed by the ticket's peer. Bad entries
// and repeated peers are dropped, so a tampered list can hide supernodes but
// not invent them.
func ParseSupernodes(auth peer.ID, infos []*wire.SupernodeInfo) []Supernode {
	now := time.Now()
	out := make([]Supernode, 0, len(infos))
	seen := make(map[peer.ID]bool, len(infos))
	for _, in := range infos {
		t, err := ticket.Verify(auth, in.GetTicket(), now)
		if err != nil || t.Role != ticket.RoleSupernode || seen[t.Peer] {
			continue
		}
		rec, err := ticket.VerifyRecord(t.Peer, in.GetPeerRecord())
		if err != nil {
			continue
		}
		seen[t.Peer] = true
		out = append(out, Supernode{Ticket: t, Addrs: peer.AddrInfo{ID: t.Peer, Addrs: rec.Addrs}})
	}
	return out
}

// Heartbeater keeps a supernode listed at the auth server: it heartbeats
// every Interval until its context ends, logging failures and carrying on,
// and keeps the latest role-supernode ticket for the services that present
// it. Set the exported fields, then call Serve once.
type Heartbeater struct {
	// Host runs the supernode services. Required.
	Host host.Host
	// Auth is the auth server's peer ID; its addresses must be in Host's
	// peerstore. Required.
	Auth peer.ID
	// Ticket returns the operator's current device ticket for Host; it is
	// called before every heartbeat, so a renewed login is picked up.
	// Required.
	Ticket func() *wire.SignedTicket
	// Interval between heartbeats; zero means wire.HeartbeatInterval.
	Interval time.Duration
	// Logger; nil discards.
	Logger *slog.Logger

	mu     sync.Mutex
	latest *ticket.Ticket
	ready  chan struct{} // closed at the first successful heartbeat
	once   sync.Once
}

func (hb *Heartbeater) init() {
	hb.once.Do(func() { hb.ready = make(chan struct{}) })
}

// SupernodeTicket returns the role-supernode ticket of the latest successful
// heartbeat, or nil before the first.
func (hb *Heartbeater) SupernodeTicket() *ticket.Ticket {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.latest
}

// Ready is closed once the first heartbeat has succeeded: from then on the
// supernode is listed.
func (hb *Heartbeater) Ready() <-chan struct{} {
	hb.init()
	return hb.ready
}

// Serve heartbeats at once and then every Interval until ctx ends, and
// returns nil then. A failed heartbeat is logged and retried at the next
// tick: a supernode outlives its auth server's restarts.
func (hb *Heartbeater) Serve(ctx context.Context) error {
	hb.init()
	if hb.Host == nil || hb.Auth == "" || hb.Ticket == nil {
		return errors.New("heartbeater: Host, Auth and Ticket are required")
	}
	log := hb.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return pollLoop(ctx, log, hb.Interval, wire.HeartbeatInterval, "heartbeat", nil, func(ctx context.Context, interval time.Duration) error {
		// One heartbeat may take no longer than the interval, so a slow
		// server never delays the next beat past the TTL.
		bctx, cancel := context.WithTimeout(ctx, interval)
		t, err := Heartbeat(bctx, hb.Host, hb.Auth, hb.Ticket())
		cancel()
		if err == nil && ctx.Err() == nil {
			hb.mu.Lock()
			first := hb.latest == nil
			hb.latest = t
			hb.mu.Unlock()
			if first {
				close(hb.ready)
				log.Info("registered as a supernode", "auth", hb.Auth, "expiry", t.Expiry)
			}
		}
		return err
	}, "auth", hb.Auth)
}
