package node

import (
	"context"
	"errors"
	"eserver/node/api"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/proto"

	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode"
)

// publishInterval is how often we refresh our record at the rendezvous; its
// TTL is longer, so one missed refresh does not make us unreachable.
const (
	publishInterval = 5 * time.Minute
	publishRetry    = 10 * time.Second
)

// run starts the session's background work: serving the message protocol,
// publishing our record, refreshing contacts' records, and announcing our
// presence.
func (s *session) run() {
	s.host.Network().Notify(&network.NotifyBundle{ConnectedF: s.connected, DisconnectedF: s.disconnected})
	// Mail first, direct streams after: what waited in our mailboxes is older
	// than anything a contact sends once it sees us online.
	s.rehome()
	ctx, cancel := context.WithTimeout(s.ctx, 2*wire.MailboxTimeout)
	if err := s.restoreContacts(ctx); err != nil {
		s.n.log.Warn("restoring the contact list", "err", err)
	}
	if err := s.drainMail(ctx); err != nil {
		s.n.log.Warn("fetching mail at sign-in", "err", err)
	}
	cancel()
	s.host.SetStreamHandler(msgProtocol, s.handleStream)
	s.host.SetStreamHandler(wire.ProtoMailNotify, s.handleMailNotify)
	s.streams.Start(s.ctx)
	s.files.Start(s.ctx)
	// Publish before returning from sign-in, so that contacts find us (and
	// send directly) as soon as we show online.
	published := s.publish()
	s.upgradeVisibility()
	s.goTracked(s.homingLoop)
	s.goTracked(s.mailLoop)
	s.goTracked(func() { s.publishLoop(published) })
	s.goTracked(s.lookupLoop)
	s.goTracked(s.renewLoop)
	s.goTracked(s.backupLoop)
	s.goTracked(func() {
		if err := s.revs.Serve(s.ctx); err != nil && s.ctx.Err() == nil {
			s.n.log.Warn("revocations", "err", err)
		}
	})
	if !s.n.cfg.NoLAN {
		s.startLAN()
	}
	s.startRole()
	// Couriers for every contact with something queued from an earlier run.
	if peers, err := s.store.OutboxPeers(); err == nil {
		for _, p := range peers {
			s.courierFor(p).poke()
		}
	}
}

// goTracked runs f in a goroutine that the session's close waits for.
func (s *session) goTracked(f func()) { s.tasks.Go(func(context.Context) { f() }) }

func (s *session) connectRendezvous(ctx context.Context, rv peer.AddrInfo) error {
	s.host.Peerstore().AddAddrs(rv.ID, rv.Addrs, peerstore.PermanentAddrTTL)
	if err := s.host.Connect(ctx, rv); err != nil {
		if s.ctx.Err() == nil {
			s.markDead(rv.ID) // a supernode that does not answer is skipped for a while
		}
		return fmt.Errorf("%w: rendezvous %s: %v", api.ErrUnreachable, rv.ID, err)
	}
	return nil
}

// publish puts our record at our homes; it reports whether all took it.
func (s *session) publish() bool {
	ok, admitted := s.publishOnce()
	// Publishing admitted us to our homes' relays: keep reservations there,
	// and publish again when that gave us new circuit addresses.
	if s.reserve(admitted) {
		ok, _ = s.publishOnce()
	}
	// And our prekeys, so contacts can start sessions with us offline.
	ctx, cancel := context.WithTimeout(s.ctx, 2*wire.PrekeysTimeout)
	defer cancel()
	if err := s.publishPrekeys(ctx, false); err != nil && s.ctx.Err() == nil {
		ok = false
		s.n.log.Warn("publishing our prekeys", "err", err)
	}
	return ok
}

// publishOnce publishes our record, with our circuit addresses, at our
// homes, and returns whether all took it and which did.
func (s *session) publishOnce() (bool, []peer.AddrInfo) {
	ok := true
	allowed := s.allowed()
	extra := s.reach.circuitAddrs()
	var admitted []peer.AddrInfo
	for _, rv := range s.homesOf(s.me()) {
		ctx, cancel := context.WithTimeout(s.ctx, wire.RendezvousTimeout)
		err := s.connectRendezvous(ctx, rv)
		if err == nil {
			err = supernode.Client{Allowed: allowed, Extra: extra}.Publish(ctx, s.host, rv.ID, s.tk().Signed)
		}
		cancel()
		if err != nil {
			if s.ctx.Err() == nil {
				ok = false
				s.n.log.Warn("publishing our record", "rendezvous", rv.ID, "err", err)
			}
			continue
		}
		admitted = append(admitted, peer.AddrInfo{ID: rv.ID, Addrs: s.host.Peerstore().Addrs(rv.ID)})
	}
	return ok, admitted
}

// publishLoop republishes our record: every publishInterval, when our
// addresses or homes change, and soon after a failure.
func (s *session) publishLoop(published bool) {
	sub, err := s.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		s.n.log.Warn("subscribing to address updates", "err", err)
		return
	}
	defer sub.Close()
	tick := time.NewTicker(publishInterval)
	defer tick.Stop()
	for {
		// A restarted rendezvous has forgotten us: retry soon, not in minutes.
		if published {
			tick.Reset(publishInterval)
		} else {
			tick.Reset(publishRetry)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		case <-sub.Out():
		case <-s.republish:
		}
		published = s.publish()
	}
}

// lookupLoop keeps contacts' addresses fresh, and greets accepted contacts
// that are shown offline but have a fresh record: if they are online, they
// answer with their presence.
func (s *session) lookupLoop() {
	tick := time.NewTicker(s.n.cfg.LookupInterval)
	defer tick.Stop()
	first := true
	for {
		cs, err := s.store.Contacts()
		if err == nil {
			var names []string
			for _, c := range cs {
				if r := api.Relation(c.Relation); r == api.RelationAccepted || r == api.RelationPendingOut {
					names = append(names, c.Username)
				}
			}
			ctx, cancel := context.WithTimeout(s.ctx, wire.RendezvousTimeout)
			found, _ := s.lookup(ctx, names)
			cancel()
			for _, c := range cs {
				if api.Relation(c.Relation) != api.RelationAccepted {
					continue
				}
				offline := c.Status == "" || api.Status(c.Status) == api.StatusOffline
				if f, ok := found[c.Username]; ok && len(f.Addrs.Addrs) > 0 && (offline || first) {
					s.sendPresence(c.Username)
				}
			}
		}
		first = false
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lookup asks each username's homes for its record, remembers what it
// learns, and returns what it found by username: always the ticket, and the
// addresses where the user let us see them (the newest device, and an
// answer with addresses over one without, when homes disagree).
func (s *session) lookup(ctx context.Context, usernames []string) (map[string]supernode.Found, error) {
	out := map[string]supernode.Found{}
	if len(usernames) == 0 {
		return out, nil
	}
	// One request per supernode, for every username homed there.
	ask := map[peer.ID][]string{}
	addrs := map[peer.ID]peer.AddrInfo{}
	for _, u := range usernames {
		for _, home := range s.homesOf(u) {
			ask[home.ID] = append(ask[home.ID], u)
			addrs[home.ID] = home
		}
	}
	tokens := s.tokens()
	var errs []error
	answered := 0
	for id, names := range ask {
		if err := s.connectRendezvous(ctx, addrs[id]); err != nil {
			errs = append(errs, err)
			continue
		}
		found, err := supernode.Client{Tokens: tokens}.Lookup(ctx, s.host, id, s.tk().Signed, names)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered++
		for _, f := range found {
			if f.Ticket.Server != s.tk().Server {
				continue
			}
			if old, ok := out[f.Username]; ok && !better(f, old) {
				continue
			}
			s.host.Peerstore().AddAddrs(f.Addrs.ID, f.Addrs.Addrs, time.Hour)
			out[f.Username] = f
		}
	}
	for u, f := range out {
		s.remember(u, f.Ticket)
	}
	if len(out) < len(usernames) {
		// Missing contacts may mean a home restarted and lost every
		// record, ours included: publish again (cheap, idempotent).
		select {
		case s.republish <- struct{}{}:
		default:
		}
	}
	if answered == 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// better reports whether lookup answer a beats b: a reachable device, then
// the newer ticket.
func better(a, b supernode.Found) bool {
	ra, rb := len(a.Addrs.Addrs) > 0, len(b.Addrs.Addrs) > 0
	if ra != rb {
		return ra
	}
	return a.Ticket.Issued.After(b.Ticket.Issued)
}

// remember stores the device a contact was last seen on.
func (s *session) remember(username string, t *ticket.Ticket) {
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
	if err != nil || api.Relation(c.Relation) == api.RelationBlocked || c.PeerID == t.Peer.String() {
		return
	}
	s.newDevice(&c, t)
	if err := s.store.PutContact(c); err != nil {
		s.n.log.Warn("remembering contact device", "username", username, "err", err)
		return
	}
	s.emitContact(username)
}

// resolve returns the contact's current device ticket: the stored one, or,
// when refresh is set or none is stored (or it expired), a fresh lookup.
func (s *session) resolve(ctx context.Context, username string, refresh bool) (*ticket.Ticket, error) {
	if !refresh {
		if c, err := s.store.Contact(username); err == nil && len(c.Ticket) > 0 {
			var st wire.SignedTicket
			if proto.Unmarshal(c.Ticket, &st) == nil {
				if t, err := ticket.Verify(s.tk().Server, &st, s.n.cfg.Now()); err == nil {
					return t, nil
				}
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	found, err := s.lookup(ctx, []string{username})
	if f, ok := found[username]; ok {
		return f.Ticket, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s is not online", username)
}

// disconnected marks a contact offline when the last connection to its
// device closes: a crashed or unplugged client says no goodbye.
func (s *session) disconnected(_ network.Network, conn network.Conn) {
	p := conn.RemotePeer()
	if s.ctx.Err() != nil || s.host.Network().Connectedness(p) == network.Connected {
		return
	}
	if s.isHome(p) {
		s.markDead(p) // re-home now, not at the next tick
		return
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	cs, err := s.store.Contacts()
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.PeerID != p.String() || api.Relation(c.Relation) != api.RelationAccepted || api.Status(c.Status) == api.StatusOffline {
			continue
		}
		c.Status = string(api.StatusOffline)
		if err := s.store.PutContact(c); err == nil {
			s.emitContact(c.Username)
		}
	}
}
