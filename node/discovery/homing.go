package discovery

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

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
	// rememberFor is how long a supernode that left the registry's list
	// still counts among those that may hold mail for us: it dropped out
	// for a restart, or we were given a list cut down in a partition, and
	// a sender whose list still had it may have left our mail there.
	rememberFor = time.Hour
	// maxRemembered bounds the supernodes remembered beyond the current
	// list; past it the longest unlisted are forgotten first.
	maxRemembered = 256
)

type homing struct {
	mu    sync.Mutex
	known map[peer.ID]client.Supernode
	// listed is, for every supernode in a list we were given within
	// rememberFor (the current one's and those since dropped), its
	// addresses and when it was last in a list.
	listed map[peer.ID]listedSupernode
	saved  []peer.ID // the mailWindow of listed last stored (settingListed)
	dead   map[peer.ID]time.Time
	homes  []peer.ID     // our current homes
	kick   chan struct{} // re-home now
}

// listedSupernode is a supernode as last listed, and when.
type listedSupernode struct {
	addrs peer.AddrInfo
	at    time.Time
}

func newHoming() homing {
	return homing{known: map[peer.ID]client.Supernode{}, listed: map[peer.ID]listedSupernode{},
		dead: map[peer.ID]time.Time{}, kick: make(chan struct{}, 1)}
}

// SetSupernodes replaces the known supernodes with the registry's list. The
// ones it drops are remembered (rememberFor) as places our mail may wait;
// those of them that count for our mail in the store too: a node restarted
// while one was out of the registry signs in with a list that lacks it.
func (d *Discovery) SetSupernodes(list []client.Supernode) {
	h := &d.homes
	now := time.Now()
	h.mu.Lock()
	h.known = make(map[peer.ID]client.Supernode, len(list))
	for _, sn := range list {
		h.known[sn.Addrs.ID] = sn
		h.listed[sn.Addrs.ID] = listedSupernode{addrs: sn.Addrs, at: now}
		d.h.Libp2p().Peerstore().AddAddrs(sn.Addrs.ID, sn.Addrs.Addrs, peerstore.RecentlyConnectedAddrTTL)
	}
	forgetListed(h.listed, now, len(list)+maxRemembered)
	// Only the ones that count for our mail are stored (at most
	// wire.MailHomeWindow), and only when they change: the times alone
	// are not worth a write.
	var saved string
	window := d.mailWindow(h.listed)
	changed := !slices.Equal(window, h.saved)
	if changed {
		h.saved = window
		keep := make(map[peer.ID]listedSupernode, len(window))
		for _, id := range window {
			keep[id] = h.listed[id]
		}
		saved = encodeListed(keep)
	}
	h.mu.Unlock()
	if changed {
		if err := d.h.Store().SetSetting(settingListed, saved); err != nil {
			d.h.Log().Warn("remembering the supernodes listed", "err", err)
		}
	}
}

// forgetListed drops from listed the supernodes last listed longer than
// rememberFor before now (or in its future: a clock set back), then the
// longest unlisted until at most max are left; it returns how many it
// dropped.
func forgetListed(listed map[peer.ID]listedSupernode, now time.Time, max int) int {
	n := 0
	for id, l := range listed {
		if age := now.Sub(l.at); age > rememberFor || age < -rememberFor {
			delete(listed, id)
			n++
		}
	}
	for len(listed) > max {
		var oldest peer.ID
		for id, l := range listed {
			if oldest == "" || l.at.Before(listed[oldest].at) {
				oldest = id
			}
		}
		delete(listed, oldest)
		n++
	}
	return n
}

// settingListed keeps the mailWindow of homing.listed across sign-ins
// (encodeListed).
const settingListed = "discovery.listed"

// storedSupernode is one entry of settingListed.
type storedSupernode struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	At    int64    `json:"at"` // unix seconds it was last listed
}

// encodeListed is listed as settingListed stores it.
func encodeListed(listed map[peer.ID]listedSupernode) string {
	out := make([]storedSupernode, 0, len(listed))
	for id, l := range listed {
		e := storedSupernode{ID: id.String(), At: l.at.Unix()}
		for _, a := range l.addrs.Addrs {
			e.Addrs = append(e.Addrs, a.String())
		}
		out = append(out, e)
	}
	raw, _ := json.Marshal(out) // strings and numbers: cannot fail
	return string(raw)
}

// decodeListed reads what encodeListed wrote, skipping entries that do not
// parse and those forgetListed would drop now; at most max.
func decodeListed(raw string, now time.Time, max int) map[peer.ID]listedSupernode {
	listed := map[peer.ID]listedSupernode{}
	var in []storedSupernode
	if raw == "" || json.Unmarshal([]byte(raw), &in) != nil {
		return listed
	}
	for _, e := range in {
		id, err := peer.Decode(e.ID)
		if err != nil {
			continue
		}
		l := listedSupernode{addrs: peer.AddrInfo{ID: id}, at: time.Unix(e.At, 0)}
		for _, s := range e.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				l.addrs.Addrs = append(l.addrs.Addrs, a)
			}
		}
		listed[id] = l
	}
	forgetListed(listed, now, max)
	return listed
}

// loadListed reads the supernodes that counted for our mail in the last
// session (its mailWindow), less those listed longer than rememberFor ago.
func (d *Discovery) loadListed() {
	raw, err := d.h.Store().Setting(settingListed)
	if err != nil {
		d.h.Log().Warn("reading the supernodes listed before", "err", err)
		return
	}
	listed := decodeListed(raw, time.Now(), wire.MailHomeWindow)
	h := &d.homes
	h.mu.Lock()
	h.listed = listed
	h.saved = d.mailWindow(listed)
	h.mu.Unlock()
}

// mailWindow is the first wire.MailHomeWindow of our order over listed:
// the ones mailHomesAmong fetches from whether live or not.
func (d *Discovery) mailWindow(listed map[peer.ID]listedSupernode) []peer.ID {
	all := make([]peer.ID, 0, len(listed))
	for id := range listed {
		all = append(all, id)
	}
	return client.UserHomes(d.server(), d.h.Me(), all, wire.MailHomeWindow)
}

// server is the auth server whose mailbox IDs we compute, as supernodes
// do: the one that signed our ticket.
func (d *Discovery) server() peer.ID {
	if t := d.h.Ticket(); t != nil {
		return t.Server
	}
	return d.cfg.Server.ID
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
	return d.addrsOr(client.UserHomes(d.server(), username, d.live(), wire.Homes))
}

// MailHomes are where mail for us may wait (mailHomes), with their
// addresses; none while no supernode is known.
func (d *Discovery) MailHomes() []peer.AddrInfo {
	ids := d.mailHomes()
	h := &d.homes
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(ids))
	for _, id := range ids {
		// The peerstore forgets the addresses of a supernode that left
		// the list; the list's are kept with it.
		addrs := d.h.Libp2p().Peerstore().Addrs(id)
		if len(addrs) == 0 {
			addrs = h.listed[id].addrs.Addrs
		}
		out = append(out, peer.AddrInfo{ID: id, Addrs: addrs})
	}
	return out
}

func (d *Discovery) mailHomes() []peer.ID {
	h := &d.homes
	h.mu.Lock()
	all := make([]peer.ID, 0, len(h.listed))
	for id := range h.listed {
		all = append(all, id)
	}
	h.mu.Unlock()
	return mailHomesAmong(d.server(), d.h.Me(), d.live(), all)
}

// mailHomesAmong is where mail for me may wait, given the supernodes live
// in our view and all those listed within rememberFor, dead or not: our
// homes and, after them in the same order, wire.MailSpareHomes more of the
// live ones (where a sender who saw our homes down left it); then, of all,
// the first wire.MailHomeWindow in our order, as many as a supernode takes
// mail for (where a sender whose list differs from ours left it: we saw one
// fail that it did not, or our list lost one that its list has).
func mailHomesAmong(server peer.ID, me string, live, all []peer.ID) []peer.ID {
	out := client.UserHomes(server, me, live, wire.Homes+wire.MailSpareHomes)
	for _, id := range client.UserHomes(server, me, all, wire.MailHomeWindow) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
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
				before := d.mailHomes()
				d.SetSupernodes(list)
				clearBackoff(d.h.Libp2p(), list)
				// A supernode new to where our mail may wait may hold
				// some already: look now, not at the next poll.
				for _, id := range d.mailHomes() {
					if !slices.Contains(before, id) {
						d.h.HomesChanged()
						break
					}
				}
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

// clearBackoff forgets h's dial backoff for the listed supernodes it is
// not connected to: the registry lists only supernodes that
// heartbeated a moment ago, which is fresher news than our failed dials. A
// node cut off for a few minutes (a partition) has backed off from every
// supernode for up to swarm.BackoffMax; without this it would reach none
// of them, nor their mail, for as long after the cut healed.
func clearBackoff(h host.Host, list []client.Supernode) {
	sw, ok := h.Network().(interface{ Backoff() *swarm.DialBackoff })
	if !ok {
		return
	}
	for _, sn := range list {
		if h.Network().Connectedness(sn.Addrs.ID) != network.Connected {
			sw.Backoff().Clear(sn.Addrs.ID)
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
