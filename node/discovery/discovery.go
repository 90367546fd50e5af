// Package discovery is how a node finds others and is found: its homes
// (the seed's "Supernodes(3)", chosen by rendezvous hashing of the username
// over the live supernodes), its record at their rendezvous (addresses in a
// signed peer record, shown only to holders of a visibility token), the
// lookups of contacts' records, the ways of reaching a device (direct, hole
// punched, relayed through a home; reach.go), and LAN announcements (mDNS).
//
// It knows nothing of contacts beyond what its Host tells it: which tokens
// may see us, which we were given, and whose device a peer is.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/task"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// publishInterval is how often we refresh our record at the rendezvous; its
// TTL is longer, so one missed refresh does not make us unreachable.
// publishGap is the least time between a publish and one asked for by a
// lookup that missed contacts: those come in bursts — a contact's courier
// misses her record once per message while she is offline — and the
// rendezvous limits an account's publishes and lookups together
// (supernode.DefaultRendezvousRate), so publishing at each of them would
// use up the lookups' share and make more of them miss. What changes our
// record (addresses, contacts, ticket) is published at once.
const (
	publishInterval = 5 * time.Minute
	publishRetry    = 10 * time.Second
	publishGap      = time.Second
)

// Host is what the capability needs from the node.
type Host interface {
	Store() *store.Store
	Libp2p() host.Host
	Ticket() *ticket.Ticket
	Me() string
	Now() time.Time
	Log() *slog.Logger
	// Allowed are the visibility tokens that may see our record now (none
	// while we appear offline).
	Allowed() [][]byte
	// Tokens are, by username, the tokens contacts gave us.
	Tokens() map[string][]byte
	// Devices is our account's device list signed by its identity, which
	// we publish with our record for our contacts; nil while we hold none.
	Devices() *wire.SignedAccountDevices
	// PublishPrekeys puts our prekey bundle at our homes, so contacts can
	// start sessions with us while we are offline.
	PublishPrekeys(ctx context.Context) error
	// Greet sends our presence to an accepted contact that may be online:
	// if it is, it answers with its own.
	Greet(username string)
	// Poke tries delivering what waits for username now.
	Poke(username string)
	// HomesChanged: our homes, or the supernodes where our mail may wait
	// (MailHomes), changed; look in the new ones' mailboxes.
	HomesChanged()
	// SawDevice records t as the device username was last seen on.
	SawDevice(username string, t *ticket.Ticket)
	// ContactOf names the contact whose device p is, or "".
	ContactOf(p peer.ID) string
	// ContactChanged: how we reach username changed.
	ContactChanged(username string)
	// DeviceGone: the last connection to p closed (a device says no
	// goodbye when it crashes or is unplugged).
	DeviceGone(p peer.ID)
}

// Config configures discovery for one session.
type Config struct {
	// Server is the auth server; its registry lists the supernodes.
	Server peer.AddrInfo
	// Rendezvous is everyone's home while no supernode is known (the auth
	// server serves rendezvous beside itself).
	Rendezvous []peer.AddrInfo
	// LookupInterval is how often contacts' records are refreshed.
	LookupInterval time.Duration
	// LAN announces this node on the local network (mDNS) and finds
	// contacts there.
	LAN bool
}

// Discovery is the capability for one session. New starts watching the
// host's connections; Start starts the loops; Close stops everything.
type Discovery struct {
	h         Host
	cfg       Config
	reach     *Reach
	homes     homing
	republish chan struct{} // asks publishLoop to publish now
	refresh   chan struct{} // asks publishLoop to publish within publishGap
	tasks     *task.Group
	notifiee  *network.NotifyBundle
	// known remembers the lookup answers verified last: the homes answer
	// the unchanged ones by name alone, and they are not verified again.
	known client.Known
}

// New returns discovery for a session whose context is ctx, on a host made
// by NewHost with r.
func New(ctx context.Context, h Host, cfg Config, r *Reach) *Discovery {
	d := &Discovery{h: h, cfg: cfg, reach: r, homes: newHoming(), republish: make(chan struct{}, 1), refresh: make(chan struct{}, 1), tasks: task.New(ctx)}
	d.loadListed()
	d.notifiee = &network.NotifyBundle{ConnectedF: d.connected, DisconnectedF: d.disconnected}
	h.Libp2p().Network().Notify(d.notifiee)
	return d
}

// Start runs the loops: homes, publication (published: whether the first
// Publish went everywhere), lookups, and the LAN.
func (d *Discovery) Start(published bool) {
	d.tasks.Go(d.homingLoop)
	d.tasks.Go(func(ctx context.Context) { d.publishLoop(ctx, published) })
	d.tasks.Go(d.lookupLoop)
	if d.cfg.LAN {
		d.startLAN()
	}
}

// Close stops the loops and waits for them.
func (d *Discovery) Close() {
	d.h.Libp2p().Network().StopNotify(d.notifiee)
	d.tasks.Close()
}

// Republish asks for our record to be published again soon: the allow
// list, our ticket or our addresses changed.
func (d *Discovery) Republish() {
	select {
	case d.republish <- struct{}{}:
	default:
	}
}

// refreshRecord asks for our record to be published again within
// publishGap: a lookup missed contacts, which may mean a rendezvous
// restarted and lost every record, ours included.
func (d *Discovery) refreshRecord() {
	select {
	case d.refresh <- struct{}{}:
	default:
	}
}

func (d *Discovery) ctx() context.Context { return d.tasks.Context() }

// Connect connects to a supernode (a home, a rendezvous), marking it dead
// for a while when it does not answer.
func (d *Discovery) Connect(ctx context.Context, rv peer.AddrInfo) error {
	h := d.h.Libp2p()
	h.Peerstore().AddAddrs(rv.ID, rv.Addrs, peerstore.PermanentAddrTTL)
	if err := h.Connect(ctx, rv); err != nil {
		if d.ctx().Err() == nil {
			d.MarkDead(rv.ID) // a supernode that does not answer is skipped for a while
		}
		return fmt.Errorf("%w: rendezvous %s: %v", api.ErrUnreachable, rv.ID, err)
	}
	return nil
}

// Publish puts our record and our prekeys at our homes; it reports
// whether all took them.
func (d *Discovery) Publish() bool {
	ok, admitted := d.publishOnce()
	// Publishing admitted us to our homes' relays: keep reservations there,
	// and publish again when that gave us new circuit addresses.
	if d.reserve(admitted) {
		ok, _ = d.publishOnce()
	}
	// And our prekeys, so contacts can start sessions with us offline.
	ctx, cancel := context.WithTimeout(d.ctx(), 2*wire.PrekeysTimeout)
	defer cancel()
	if err := d.h.PublishPrekeys(ctx); err != nil && d.ctx().Err() == nil {
		ok = false
		d.h.Log().Warn("publishing our prekeys", "err", err)
	}
	return ok
}

// publishOnce publishes our record, with our circuit addresses, at our
// homes, and returns whether all took it and which did.
func (d *Discovery) publishOnce() (bool, []peer.AddrInfo) {
	ok := true
	allowed := d.h.Allowed()
	extra := d.reach.circuitAddrs()
	devices := d.ourDevices()
	var admitted []peer.AddrInfo
	for _, rv := range d.HomesOf(d.h.Me()) {
		ctx, cancel := context.WithTimeout(d.ctx(), wire.RendezvousTimeout)
		err := d.Connect(ctx, rv)
		if err == nil {
			err = client.Rendezvous{Allowed: allowed, Extra: extra, Card: d.h.Ticket().PublicCard, Devices: devices}.Publish(ctx, d.h.Libp2p(), rv.ID, d.h.Ticket().Signed)
		}
		cancel()
		if err != nil {
			if d.ctx().Err() == nil {
				ok = false
				d.h.Log().Warn("publishing our record", "rendezvous", rv.ID, "err", err)
			}
			continue
		}
		admitted = append(admitted, peer.AddrInfo{ID: rv.ID, Addrs: d.h.Libp2p().Peerstore().Addrs(rv.ID)})
	}
	return ok, admitted
}

// ourDevices is our account's device list to publish with our record:
// only one that names this device as our ticket does, since a rendezvous
// refuses a publish whose list does not (bad_devices), and our record
// with it; nil until then (while the identity is being set up, or after
// a renewal gave us another box key), as a device without a list
// publishes.
func (d *Discovery) ourDevices() *wire.SignedAccountDevices {
	sd := d.h.Devices()
	if sd == nil {
		return nil
	}
	l, err := ticket.VerifyDevices(sd)
	if err == nil {
		err = l.Check(d.h.Ticket())
	}
	if err != nil {
		d.h.Log().Debug("publishing our record without our device list", "err", err)
		return nil
	}
	return sd
}

// publishLoop republishes our record: every publishInterval, when our
// addresses or homes change, and soon after a failure.
func (d *Discovery) publishLoop(ctx context.Context, published bool) {
	sub, err := d.h.Libp2p().EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		d.h.Log().Warn("subscribing to address updates", "err", err)
		return
	}
	defer sub.Close()
	tick := time.NewTicker(publishInterval)
	defer tick.Stop()
	var last time.Time
	var due <-chan time.Time // a publish asked for, waiting out publishGap
	for {
		// A restarted rendezvous has forgotten us: retry soon, not in minutes.
		if published {
			tick.Reset(publishInterval)
		} else {
			tick.Reset(publishRetry)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				break wait
			case <-sub.Out():
				break wait
			case <-d.republish:
				break wait
			case <-due:
				break wait
			case <-d.refresh:
				if due == nil {
					due = time.After(max(publishGap-time.Since(last), 0))
				}
			}
		}
		due = nil
		last = time.Now()
		published = d.Publish()
	}
}

// lookupLoop keeps contacts' addresses fresh, and greets accepted contacts
// that are shown offline but have a fresh record: if they are online, they
// answer with their presence.
func (d *Discovery) lookupLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.LookupInterval)
	defer tick.Stop()
	first := true
	for {
		cs, err := d.h.Store().Contacts()
		if err == nil {
			var names []string
			for _, c := range cs {
				if r := api.Relation(c.Relation); r == api.RelationAccepted || r == api.RelationPendingOut {
					names = append(names, c.Username)
				}
			}
			lctx, cancel := context.WithTimeout(ctx, wire.RendezvousTimeout)
			found, _ := d.Lookup(lctx, names)
			cancel()
			for _, c := range cs {
				if api.Relation(c.Relation) != api.RelationAccepted {
					continue
				}
				offline := c.Status == "" || api.Status(c.Status) == api.StatusOffline
				if f, ok := found[c.Username]; ok && len(f.Addrs.Addrs) > 0 && (offline || first) {
					d.h.Greet(c.Username)
				}
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Lookup asks each username's homes for its record, remembers what it
// learns, and returns what it found by username: always the ticket, and the
// addresses where the user let us see them (the newest device, and an
// answer with addresses over one without, when homes disagree).
func (d *Discovery) Lookup(ctx context.Context, usernames []string) (map[string]client.Found, error) {
	out := map[string]client.Found{}
	if len(usernames) == 0 {
		return out, nil
	}
	// One request per supernode, for every username homed there.
	ask := map[peer.ID][]string{}
	addrs := map[peer.ID]peer.AddrInfo{}
	for _, u := range usernames {
		for _, home := range d.HomesOf(u) {
			ask[home.ID] = append(ask[home.ID], u)
			addrs[home.ID] = home
		}
	}
	tokens := d.h.Tokens()
	var errs []error
	answered := 0
	for id, names := range ask {
		if err := d.Connect(ctx, addrs[id]); err != nil {
			errs = append(errs, err)
			continue
		}
		found, err := client.Rendezvous{Tokens: tokens, Known: &d.known}.Lookup(ctx, d.h.Libp2p(), id, d.h.Ticket().Signed, names)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered++
		for _, f := range found {
			if f.Ticket.Server != d.h.Ticket().Server {
				continue
			}
			if old, ok := out[f.Username]; ok && !better(f, old) {
				continue
			}
			d.h.Libp2p().Peerstore().AddAddrs(f.Addrs.ID, f.Addrs.Addrs, time.Hour)
			out[f.Username] = f
		}
	}
	for u, f := range out {
		if !f.Ticket.Card { // a card is a stranger's view: it names no device to remember
			d.remember(u, f.Ticket)
		}
	}
	if len(out) < len(usernames) {
		// Missing contacts may mean a home restarted and lost every
		// record, ours included: publish again (cheap, idempotent).
		d.refreshRecord()
	}
	if answered == 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// better reports whether lookup answer a beats b: a reachable device, then
// a ticket over a card, then the newer ticket.
func better(a, b client.Found) bool {
	ra, rb := len(a.Addrs.Addrs) > 0, len(b.Addrs.Addrs) > 0
	if ra != rb {
		return ra
	}
	if a.Ticket.Card != b.Ticket.Card {
		return !a.Ticket.Card // a home that saw our token beats one that did not
	}
	return a.Ticket.Issued.After(b.Ticket.Issued)
}

// Resolve returns the contact's current device ticket: the stored one, or,
// when refresh is set or none is stored (or it expired), a fresh lookup.
func (d *Discovery) Resolve(ctx context.Context, username string, refresh bool) (*ticket.Ticket, error) {
	if !refresh {
		if c, err := d.h.Store().Contact(username); err == nil && len(c.Ticket) > 0 {
			var st wire.SignedTicket
			if proto.Unmarshal(c.Ticket, &st) == nil {
				if t, err := ticket.Verify(d.h.Ticket().Server, &st, d.h.Now()); err == nil {
					return t, nil
				}
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	found, err := d.Lookup(ctx, []string{username})
	if f, ok := found[username]; ok {
		return f.Ticket, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s is not online", username)
}

// ResolveDevice is Resolve for device p of username's (a contact's, or
// one of our own): the device's ticket as the rendezvous at username's
// homes shows it to us, with its addresses. The contact's last device is
// taken from its record unless refresh is set. A device no home shows
// with addresses is not reachable now: what waits for it goes to its
// mailbox.
func (d *Discovery) ResolveDevice(ctx context.Context, username string, p peer.ID, refresh bool) (*ticket.Ticket, error) {
	if !refresh {
		if t, err := d.Resolve(ctx, username, false); err == nil && t.Peer == p {
			return t, nil
		}
	}
	live, _, errs := d.liveDevices(ctx, username)
	var best *client.Found
	for i := range live {
		if f := &live[i]; f.Ticket.Peer == p && (best == nil || better(*f, *best)) {
			best = f
		}
	}
	if best == nil {
		if len(errs) > 0 {
			return nil, fmt.Errorf("device %s of %s: %w", p, username, errors.Join(errs...))
		}
		return nil, fmt.Errorf("device %s of %s is not online", p, username)
	}
	d.h.Libp2p().Peerstore().AddAddrs(best.Addrs.ID, best.Addrs.Addrs, time.Hour)
	return best.Ticket, nil
}

// OnlineDevices reports which devices of username's the rendezvous at
// username's homes shows as reachable now (a ticket, not a card, with
// fresh addresses): for our own account, which of our devices are signed
// in. An error means no home answered; some homes failing is no error, as
// every device publishes at each of its homes.
func (d *Discovery) OnlineDevices(ctx context.Context, username string) (map[peer.ID]bool, error) {
	live, answered, errs := d.liveDevices(ctx, username)
	if answered == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("devices of %s: no home to ask", username)
		}
		return nil, fmt.Errorf("devices of %s: %w", username, errors.Join(errs...))
	}
	out := make(map[peer.ID]bool, len(live))
	for _, f := range live {
		out[f.Ticket.Peer] = true
	}
	return out, nil
}

// liveDevices asks each of username's homes for its devices and returns
// every answer that shows one reachable: a ticket of our auth server's
// (not a card) with addresses. A device may appear once per home.
// answered counts the homes that answered; errs has one error for each
// that did not.
func (d *Discovery) liveDevices(ctx context.Context, username string) (live []client.Found, answered int, errs []error) {
	server := d.h.Ticket().Server
	for _, home := range d.HomesOf(username) {
		if err := d.Connect(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		users, err := client.Rendezvous{Tokens: d.h.Tokens(), Known: &d.known}.LookupDevices(ctx, d.h.Libp2p(), home.ID, d.h.Ticket().Signed, []string{username})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered++
		for _, u := range users {
			for _, f := range u.Devices {
				if u.Username == username && f.Ticket.Server == server && !f.Ticket.Card && len(f.Addrs.Addrs) > 0 {
					live = append(live, f)
				}
			}
		}
	}
	return live, answered, errs
}

// remember records the device a contact was last seen on.
func (d *Discovery) remember(username string, t *ticket.Ticket) { d.h.SawDevice(username, t) }

// connected re-reports a contact whose way of being reached changed.
func (d *Discovery) connected(_ network.Network, conn network.Conn) {
	if d.ctx().Err() != nil {
		return
	}
	if u := d.h.ContactOf(conn.RemotePeer()); u != "" {
		d.h.ContactChanged(u)
	}
}

// disconnected re-homes when a home went away, and tells the node when a
// device's last connection closed.
func (d *Discovery) disconnected(_ network.Network, conn network.Conn) {
	p := conn.RemotePeer()
	if d.ctx().Err() != nil || d.h.Libp2p().Network().Connectedness(p) == network.Connected {
		return
	}
	if d.IsHome(p) {
		d.MarkDead(p) // re-home now, not at the next tick
		return
	}
	d.h.DeviceGone(p)
}
