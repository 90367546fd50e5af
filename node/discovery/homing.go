package discovery

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/wire"
	"eserver/supernode/client"
)

// Homing: every node keeps wire.Homes supernodes (the seed's
// "Supernodes(3)"), chosen by rendezvous hashing of its mailbox ID (a hash
// of its username, client.UserHomes) over the live supernodes, so anyone can compute where a user's record and mailbox
// live. When a home dies the next one in hash order takes its place.
const (
	homingTick  = time.Second      // how often the homes are checked
	listRefresh = 10 * time.Second // how often the registry's list is fetched
	deadFor     = 30 * time.Second // a supernode seen failing is skipped this long
	homeDial    = 3 * time.Second
)

type homing struct {
	mu    sync.Mutex
	known map[peer.ID]client.Supernode
	dead  map[peer.ID]time.Time
	homes []peer.ID     // our current homes
	kick  chan struct{} // re-home now
}

func newHoming() homing {
	return homing{known: map[peer.ID]client.Supernode{}, dead: map[peer.ID]time.Time{}, kick: make(chan struct{}, 1)}
}

// SetSupernodes replaces the known supernodes with the registry's list.
func (d *Discovery) SetSupernodes(list []client.Supernode) {
	h := &d.homes
	h.mu.Lock()
	h.known = make(map[peer.ID]client.Supernode, len(list))
	for _, sn := range list {
		h.known[sn.Addrs.ID] = sn
		d.h.Libp2p().Peerstore().AddAddrs(sn.Addrs.ID, sn.Addrs.Addrs, peerstore.RecentlyConnectedAddrTTL)
	}
	h.mu.Unlock()
}

// live returns the supernodes not recently seen failing.
func (d *Discovery) live() []peer.ID {
	h := &d.homes
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	ids := make([]peer.ID, 0, len(h.known))
	for id := range h.known {
		if until, ok := h.dead[id]; ok && now.Before(until) {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

// HomesOf returns where username's record and mailbox live. With no
// supernodes known (a server without a registry), the auth server's own
// rendezvous is everyone's home.
func (d *Discovery) HomesOf(username string) []peer.AddrInfo {
	// Keyed by the mailbox ID senders address, under the auth server that
	// signed our ticket, as supernodes compute it.
	server := d.cfg.Server.ID
	if t := d.h.Ticket(); t != nil {
		server = t.Server
	}
	return d.addrsOr(client.UserHomes(server, username, d.live(), wire.Homes))
}

// MailHomes are where mail for us may wait: our homes and, after them in
// the same order, wire.MailSpareHomes more of the live supernodes — where
// a sender who saw our homes down left it.
func (d *Discovery) MailHomes() []peer.AddrInfo {
	return d.addrsOr(d.mailHomes())
}

func (d *Discovery) mailHomes() []peer.ID {
	server := d.cfg.Server.ID
	if t := d.h.Ticket(); t != nil {
		server = t.Server
	}
	return client.UserHomes(server, d.h.Me(), d.live(), wire.Homes+wire.MailSpareHomes)
}

// IsMailHome reports whether p is one of MailHomes: a notification of new
// mail from it is worth a fetch.
func (d *Discovery) IsMailHome(p peer.ID) bool {
	return slices.Contains(d.mailHomes(), p)
}

// RoomHomes are the chat room's home supernodes among the live ones, best
// first (client.RoomHomes); the rendezvous servers when none is known.
func (d *Discovery) RoomHomes(room string) []peer.AddrInfo {
	return d.addrsOr(client.RoomHomes(room, d.live(), wire.Homes))
}

// Supernodes are at most n of the live supernodes, in rendezvous order of
// a key of their own (so every node asks the same ones first); the
// rendezvous servers when none is known.
func (d *Discovery) Supernodes(n int) []peer.AddrInfo {
	return d.addrsOr(client.HomesFor(supernodesKey, d.live(), n))
}

// supernodesKey orders the supernodes for Supernodes: no mailbox ID or
// room (whose keys start "room/") has it.
const supernodesKey = "supernodes"

// addrsOr is ids with the addresses we know for them, in order; the
// rendezvous servers when ids is empty (no live supernode known yet).
func (d *Discovery) addrsOr(ids []peer.ID) []peer.AddrInfo {
	if len(ids) == 0 {
		return d.cfg.Rendezvous
	}
	out := make([]peer.AddrInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, peer.AddrInfo{ID: id, Addrs: d.h.Libp2p().Peerstore().Addrs(id)})
	}
	return out
}

// HasMailboxes reports whether supernodes (which keep mailboxes) are known.
func (d *Discovery) HasMailboxes() bool { return len(d.live()) > 0 }

// MarkDead excludes a supernode for a while and re-homes at once.
func (d *Discovery) MarkDead(p peer.ID) {
	h := &d.homes
	h.mu.Lock()
	_, known := h.known[p]
	if known {
		h.dead[p] = time.Now().Add(deadFor)
	}
	h.mu.Unlock()
	if known {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// IsHome reports whether p is one of our homes now.
func (d *Discovery) IsHome(p peer.ID) bool {
	h := &d.homes
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.homes, p)
}

// homingLoop keeps us connected to our homes, re-homes when one fails, and
// refreshes the list of live supernodes from the registry.
func (d *Discovery) homingLoop(ctx context.Context) {
	tick := time.NewTicker(homingTick)
	defer tick.Stop()
	lastList := time.Now()
	for {
		if time.Since(lastList) >= listRefresh {
			lastList = time.Now()
			lctx, cancel := context.WithTimeout(ctx, wire.RegistryTimeout)
			list, err := client.ListSupernodes(lctx, d.h.Libp2p(), d.cfg.Server.ID, d.h.Ticket().Signed)
			cancel()
			if err == nil && len(list) > 0 {
				d.SetSupernodes(list)
			}
		}
		d.Rehome()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.homes.kick:
		}
	}
}

// Rehome connects to the homes we should have; when the set changed, it
// republishes our record there and looks in the new homes' mailboxes.
func (d *Discovery) Rehome() {
	want := d.HomesOf(d.h.Me())
	h, ctx := d.h.Libp2p(), d.ctx()
	var ids []peer.ID
	for _, ai := range want {
		if h.Network().Connectedness(ai.ID) == network.Connected {
			ids = append(ids, ai.ID)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, homeDial)
		err := h.Connect(dctx, ai)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.h.Log().Debug("home unreachable", "supernode", ai.ID, "err", err)
				d.MarkDead(ai.ID)
			}
			continue
		}
		ids = append(ids, ai.ID)
	}
	slices.Sort(ids)
	hm := &d.homes
	hm.mu.Lock()
	changed := !slices.Equal(ids, hm.homes)
	hm.homes = ids
	hm.mu.Unlock()
	if changed && len(ids) > 0 {
		d.h.Log().Debug("homes", "supernodes", ids)
		d.Republish()
		d.h.HomesChanged()
	}
}

// Homes returns the peer IDs of the supernodes we are homed at now.
func (d *Discovery) Homes() []string {
	h := &d.homes
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.homes))
	for _, id := range h.homes {
		out = append(out, id.String())
	}
	return out
}
