package delivery

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// A route is what one courier delivers to, and what the outbox files an
// entry under: a contact's account ("alice": whichever device answers — a
// contact whose account's device list we do not know, as with older
// peers), or one device of an account ("alice/12D3Koo…": every device of a
// contact whose list we know gets its own copy, and every other device of
// ours a copy of what we send). A username holds no '/'
// (wire.ValidUsername), so the two never meet.

// DeviceRoute is the route to device p of username.
func DeviceRoute(username string, p peer.ID) string { return username + "/" + p.String() }

// splitRoute is the account and device of a route; device is "" for an
// account's route.
func splitRoute(route string) (username string, device peer.ID, err error) {
	u, d, ok := strings.Cut(route, "/")
	if !ok {
		return route, "", nil
	}
	p, err := peer.Decode(d)
	if err != nil {
		return "", "", fmt.Errorf("route %q: %w", route, err)
	}
	return u, p, nil
}

// routeUser is the account of a route.
func routeUser(route string) string {
	u, _, _ := strings.Cut(route, "/")
	return u
}

// routes is where something for username goes, theirs being the devices
// of username's newest list we know: one route per device when it lists
// several, else the account's route (one device, or an older peer's
// account whose list we do not know).
func routes(username string, theirs []ticket.Device) []string {
	if len(theirs) <= 1 {
		return []string{username}
	}
	out := make([]string, 0, len(theirs))
	for _, dv := range theirs {
		out = append(out, DeviceRoute(username, dv.Peer))
	}
	return out
}

// Routes is where something for username goes now (routes, with the
// devices Host.Fanout knows).
func (d *Delivery) Routes(username string) []string {
	theirs, _ := d.h.Fanout(username)
	return routes(username, theirs)
}

// expand spreads entries queued for accounts over their devices: an entry
// for a contact whose list names several devices becomes one entry per
// device, its ID store.FanoutID of the entry's message ID and the device's
// route (so each device's copy is acknowledged on its own, and the first
// ack of a conversation's copy marks the message delivered); one for our
// own account becomes a copy for each of our other devices (none when we
// have none), returned apart because their acks deliver nothing. An entry
// already on a device's route, or for an account with one device, is
// left as it is — and so is one for anyone not our accepted contact (a
// room's member): a stranger's devices are neither found nor mailed one by
// one (the rendezvous shows them to contacts only, and we hold no box key
// of theirs), so the account's route is the one that reaches it.
func (d *Delivery) expand(entries []store.OutboxEntry) (out, copies []store.OutboxEntry) {
	me := d.h.Ticket().Username
	for _, e := range entries {
		if strings.Contains(e.Peer, "/") || (e.Peer != me && !d.h.Accepted(e.Peer)) {
			out = append(out, e)
			continue
		}
		theirs, ours := d.h.Fanout(e.Peer)
		if e.Peer == me {
			for _, dv := range ours {
				c := e
				c.Peer = DeviceRoute(me, dv.Peer)
				c.ID = store.FanoutID(store.FanoutMessageID(e.ID), c.Peer)
				copies = append(copies, c)
			}
			continue
		}
		rs := routes(e.Peer, theirs)
		if len(rs) == 1 {
			out = append(out, e)
			continue
		}
		for _, r := range rs {
			c := e
			c.Peer, c.ID = r, store.FanoutID(store.FanoutMessageID(e.ID), r)
			out = append(out, c)
		}
	}
	return out, copies
}

// enqueueDevices stores the chat message m (to username) with one outbox
// entry per device of username's in theirs — or, for a contact with one
// device or none we know, one on the account's route as before — and a
// copy for each of our own other devices in ours, in one transaction, and
// wakes their couriers. The first device that acknowledges its entry
// marks m delivered.
func (d *Delivery) enqueueDevices(username string, p *wire.Payload, m *store.Message, theirs, ours []ticket.Device) error {
	now := d.h.Now()
	p.SentUnixMilli = now.UnixMilli()
	raw, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding payload: %w", err)
	}
	var entries, copies []store.OutboxEntry
	for _, r := range routes(username, theirs) {
		id := store.FanoutID(m.ID, r)
		if r == username {
			// One device, or none known: the account's route, as before
			// several devices (the account's mailbox, whichever device
			// answers), under the message's own ID, with copies for our
			// own devices beside it.
			id = m.ID
		}
		entries = append(entries, store.OutboxEntry{ID: id, Peer: r, Payload: raw, Created: now})
	}
	if chat := p.GetChat(); chat != nil && len(ours) > 0 {
		cp := proto.Clone(p).(*wire.Payload)
		cp.GetChat().To = username
		craw, err := proto.Marshal(cp)
		if err != nil {
			return fmt.Errorf("encoding payload: %w", err)
		}
		me := d.h.Ticket().Username
		for _, dv := range ours {
			r := DeviceRoute(me, dv.Peer)
			copies = append(copies, store.OutboxEntry{ID: store.FanoutID(m.ID, r), Peer: r, Payload: craw, Created: now})
		}
	}
	op, err := d.h.Store().DevicesOp(m, username, entries, copies)
	if err != nil {
		return err
	}
	d.rec.queuedChat(m.ID)
	if err := d.h.Store().Commit(op); err != nil {
		d.rec.forget(m.ID)
		return fmt.Errorf("queueing for %s: %w", username, err)
	}
	for _, e := range append(entries, copies...) {
		d.Poke(e.Peer)
	}
	return nil
}
