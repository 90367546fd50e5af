package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/wire"
	"eserver/supernode"
)

// Homing: every node keeps wire.Homes supernodes (the seed's
// "Supernodes(3)"), chosen by rendezvous hashing of its username over the
// live supernodes, so anyone can compute where a user's record and mailbox
// live. When a home dies the next one in hash order takes its place.
const (
	homingTick  = time.Second      // how often the homes are checked
	listRefresh = 10 * time.Second // how often the registry's list is fetched
	deadFor     = 30 * time.Second // a supernode seen failing is skipped this long
	homeDial    = 3 * time.Second
)

type homing struct {
	mu    sync.Mutex
	known map[peer.ID]supernode.Supernode
	dead  map[peer.ID]time.Time
	homes []peer.ID     // our current homes
	kick  chan struct{} // re-home now
}

func newHoming() *homing {
	return &homing{known: map[peer.ID]supernode.Supernode{}, dead: map[peer.ID]time.Time{}, kick: make(chan struct{}, 1)}
}

// setSupernodes replaces the known supernodes with the registry's list.
func (s *session) setSupernodes(list []supernode.Supernode) {
	h := s.homing
	h.mu.Lock()
	h.known = make(map[peer.ID]supernode.Supernode, len(list))
	for _, sn := range list {
		h.known[sn.Addrs.ID] = sn
		s.host.Peerstore().AddAddrs(sn.Addrs.ID, sn.Addrs.Addrs, peerstore.RecentlyConnectedAddrTTL)
	}
	h.mu.Unlock()
}

// live returns the supernodes not recently seen failing.
func (s *session) live() []peer.ID {
	h := s.homing
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

// homesOf returns where username's record and mailbox live. With no
// supernodes known (a server without a registry), the auth server's own
// rendezvous is everyone's home.
func (s *session) homesOf(username string) []peer.AddrInfo {
	ids := supernode.HomesFor(username, s.live(), wire.Homes)
	if len(ids) == 0 {
		return s.rv
	}
	out := make([]peer.AddrInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, peer.AddrInfo{ID: id, Addrs: s.host.Peerstore().Addrs(id)})
	}
	return out
}

// hasMailboxes reports whether supernodes (which keep mailboxes) are known.
func (s *session) hasMailboxes() bool { return len(s.live()) > 0 }

// markDead excludes a supernode for a while and re-homes at once.
func (s *session) markDead(p peer.ID) {
	h := s.homing
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

func (s *session) isHome(p peer.ID) bool {
	h := s.homing
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.homes, p)
}

// homingLoop keeps us connected to our homes, re-homes when one fails, and
// refreshes the list of live supernodes from the registry.
func (s *session) homingLoop() {
	tick := time.NewTicker(homingTick)
	defer tick.Stop()
	lastList := time.Now()
	for {
		if time.Since(lastList) >= listRefresh {
			lastList = time.Now()
			ctx, cancel := context.WithTimeout(s.ctx, wire.RegistryTimeout)
			list, err := supernode.ListSupernodes(ctx, s.host, s.server.ID, s.tk().Signed)
			cancel()
			if err == nil && len(list) > 0 {
				s.setSupernodes(list)
			}
		}
		s.rehome()
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		case <-s.homing.kick:
		}
	}
}

// rehome connects to the homes we should have; when the set changed, it
// republishes our record there and looks in the new homes' mailboxes.
func (s *session) rehome() {
	want := s.homesOf(s.me())
	var ids []peer.ID
	for _, ai := range want {
		if s.host.Network().Connectedness(ai.ID) == network.Connected {
			ids = append(ids, ai.ID)
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, homeDial)
		err := s.host.Connect(ctx, ai)
		cancel()
		if err != nil {
			if s.ctx.Err() == nil {
				s.n.log.Debug("home unreachable", "supernode", ai.ID, "err", err)
				s.markDead(ai.ID)
			}
			continue
		}
		ids = append(ids, ai.ID)
	}
	slices.Sort(ids)
	h := s.homing
	h.mu.Lock()
	changed := !slices.Equal(ids, h.homes)
	h.homes = ids
	h.mu.Unlock()
	if changed && len(ids) > 0 {
		s.n.log.Debug("homes", "supernodes", ids)
		select {
		case s.republish <- struct{}{}:
		default:
		}
		s.pokeMail()
	}
}

// Homes returns the peer IDs of the supernodes this node is homed at now,
// for diagnostics and tests; nil when signed out.
func (n *Node) Homes() []string {
	s, err := n.current()
	if err != nil {
		return nil
	}
	h := s.homing
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.homes))
	for _, id := range h.homes {
		out = append(out, id.String())
	}
	return out
}

// Pending returns how many items wait in the outbox for username: neither
// delivered directly nor left in its mailboxes yet. For diagnostics and tests.
func (n *Node) Pending(username string) (int, error) {
	s, err := n.current()
	if err != nil {
		return 0, err
	}
	out, err := s.store.Outbox(username)
	return len(out), err
}
