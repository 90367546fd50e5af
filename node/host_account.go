package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/account"
	"eserver/node/delivery"
	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// AccountKey is our account identity's public key (keys.Host): nil while
// this device holds none.
func (s *session) AccountKey() ed25519.PublicKey { return s.identity.PublicKey() }

// Devices is our account's signed device list (delivery.Host).
func (s *session) Devices() *wire.SignedAccountDevices { return s.identity.Devices() }

// AdmitDevice is the account check of a contact's device (delivery.Host).
func (s *session) AdmitDevice(t *ticket.Ticket, presented *wire.SignedAccountDevices) error {
	return s.identity.Admit(t, presented)
}

// devicesChanged tells our contacts and our other devices that our
// account's device list changed: every courier's next stream says hello
// with the new list, our presence goes to each contact now to open one,
// each other device of ours is greeted, and our record at the rendezvous
// carries the new list soon.
func (s *session) devicesChanged() {
	s.delivery.Rehello()
	s.presence.Broadcast()
	s.discovery.Republish()
	for _, r := range s.ownRoutes() {
		s.delivery.Greet(r)
	}
}

// ownRoutes are the delivery routes to our account's other devices, as
// its newest list names them (none before we have one).
func (s *session) ownRoutes() []string {
	own := s.identity.Own()
	if own == nil {
		return nil
	}
	var rs []string
	for _, d := range own.Devices {
		if d.Peer != s.host.ID() {
			rs = append(rs, delivery.DeviceRoute(s.me(), d.Peer))
		}
	}
	return rs
}

// setUpIdentity takes up our account identity at sign-in: opened from the
// auth server's copy with exportKey (OPAQUE's, from this login), or made
// now when the account has none (its first device since identities), and
// then makes sure the list it signs names this device. held is what the
// server holds (nil: no identity yet). Until it succeeds this device
// speaks without a list, as older releases do.
func (s *session) setUpIdentity(ctx context.Context, exportKey []byte, held *wire.AccountIdentity) error {
	me := s.me()
	if held == nil {
		return s.makeIdentity(ctx, exportKey)
	}
	key := s.identity.Key()
	if len(held.Sealed) > 0 && len(exportKey) > 0 {
		k, err := account.Open(exportKey, me, held.Sealed)
		if err != nil {
			return fmt.Errorf("opening the account identity: %w", err)
		}
		key = k
	}
	if key == nil {
		return errors.New("the auth server gave our account identity without its seal")
	}
	if err := s.identity.Adopt(me, key, held.Devices); err != nil {
		return err
	}
	return s.listThisDevice(ctx)
}

// makeIdentity makes the account's identity and publishes its first list:
// this device and every device the account already had and did not remove
// (an account from before identities keeps talking from all of them). A
// device that made one first wins; we take its identity instead.
func (s *session) makeIdentity(ctx context.Context, exportKey []byte) error {
	if len(exportKey) == 0 {
		return errors.New("making the account identity: no export key from the login")
	}
	me, t, now := s.me(), s.tk(), s.Now()
	key, err := account.Generate()
	if err != nil {
		return err
	}
	sealed, err := account.Seal(exportKey, me, key)
	if err != nil {
		return err
	}
	ds := []ticket.Device{{Peer: t.Peer, BoxKey: t.BoxKey, Added: now}}
	others, _, err := login.Devices(ctx, s.host, s.server, t.Signed)
	if err != nil {
		return fmt.Errorf("making the account identity: listing the account's devices: %w", err)
	}
	for _, d := range others {
		if d.Revoked.IsZero() && d.Peer != t.Peer && len(ds) < wire.MaxAccountDevices {
			ds = append(ds, ticket.Device{Peer: d.Peer, Added: d.FirstLogin})
		}
	}
	sd, err := ticket.SignDevices(key, ticket.Devices{Username: me, Version: 1, Devices: ds, Issued: now})
	if err != nil {
		return err
	}
	held, err := login.PublishDevices(ctx, s.host, s.server, t.Signed, sd, sealed)
	switch {
	case err == nil:
		return s.identity.Adopt(me, key, held.Devices)
	case errors.Is(err, login.ErrStale) && held != nil && len(held.Sealed) > 0:
		s.n.log.Info("another device made the account identity first: taking it")
		return s.setUpIdentity(ctx, exportKey, held)
	}
	return fmt.Errorf("publishing the account's first device list: %w", err)
}

// listThisDevice publishes the next version of our list with this device
// in it (with its ticket's box key), unless it is there already. Another
// device publishing at the same moment makes ours stale: we take the
// server's list and try again. A list naming a device removed since is
// refused: it goes without the removed ones.
func (s *session) listThisDevice(ctx context.Context) error {
	return s.publishDevices(ctx, true, func(ds []ticket.Device) ([]ticket.Device, bool) {
		return account.WithDevice(ds, s.tk(), s.Now())
	})
}

// publishDevices signs and publishes the next version of our list with
// change applied, up to three times when other devices publish meanwhile.
// When change says it changes nothing the list is not published — if our
// list is fresh (just taken from the server). Otherwise another device may
// have published since, with what change would change: the list goes
// anyway, to be refused as stale and tried again on the server's.
func (s *session) publishDevices(ctx context.Context, fresh bool, change func([]ticket.Device) ([]ticket.Device, bool)) error {
	me, t := s.me(), s.tk()
	var dropRevoked bool
	for range 3 {
		key := s.identity.Key()
		var next []ticket.Device
		changed := false
		sd, err := s.identity.Sign(me, func(ds []ticket.Device) []ticket.Device {
			next, changed = change(ds)
			if dropRevoked {
				next = s.withoutRevoked(ctx, next)
				changed = true
			}
			return next
		})
		if err != nil {
			return err
		}
		if !changed && fresh {
			return nil
		}
		fresh = true // from the second attempt on, the server's list is ours
		held, err := login.PublishDevices(ctx, s.host, s.server, t.Signed, sd, nil)
		switch {
		case err == nil:
			return s.identity.Adopt(me, key, held.Devices)
		case errors.Is(err, login.ErrStale) && held != nil:
			if err := s.identity.Adopt(me, key, held.Devices); err != nil {
				return fmt.Errorf("taking the server's device list: %w", err)
			}
		case errors.Is(err, login.ErrListedRevoked) && !dropRevoked:
			dropRevoked = true
		default:
			return fmt.Errorf("publishing our device list: %w", err)
		}
	}
	return errors.New("publishing our device list: other devices kept publishing first")
}

// withoutRevoked is ds less the devices the auth server lists as removed.
func (s *session) withoutRevoked(ctx context.Context, ds []ticket.Device) []ticket.Device {
	all, _, err := login.Devices(ctx, s.host, s.server, s.tk().Signed)
	if err != nil {
		s.n.log.Warn("listing the account's devices", "err", err)
		return ds
	}
	for _, d := range all {
		if !d.Revoked.IsZero() {
			ds = account.WithoutDevice(ds, d.Peer)
		}
	}
	return ds
}

// Fanout is where a chat message to username goes (delivery.Host): every
// device of username's newest list we hold, and a copy to each other
// device of ours.
func (s *session) Fanout(username string) (theirs, ours []ticket.Device) {
	if own := s.identity.Own(); own != nil {
		for _, d := range own.Devices {
			if d.Peer != s.host.ID() {
				ours = append(ours, d)
			}
		}
	}
	c, err := s.store.Contact(username)
	if err != nil {
		return nil, ours
	}
	k, err := s.identity.Contact(c)
	if err != nil || k.Devices == nil {
		return nil, ours
	}
	return k.Devices.Devices, ours
}

// EnqueueOwn queues p for each other device of our account
// (conversation.Host): what only our own devices share, such as how far
// the user has read. Nothing goes when the account has one device.
func (s *session) EnqueueOwn(p *wire.Payload) error {
	for _, r := range s.ownRoutes() {
		// A copy each: queueing stamps the payload's sending time.
		cp := proto.Clone(p).(*wire.Payload)
		if err := s.delivery.Enqueue(r, cp, nil); err != nil {
			return fmt.Errorf("queueing for our device %s: %w", r, err)
		}
	}
	return nil
}

// DeviceTicket is what seals mail to device p of username's
// (delivery.Host): its box key from the account's list, or from the
// contact's last ticket when that is the device's.
func (s *session) DeviceTicket(username string, p peer.ID) (*ticket.Ticket, bool) {
	var list *ticket.Devices
	if username == s.me() {
		list = s.identity.Own()
	} else if c, err := s.store.Contact(username); err == nil {
		if k, err := s.identity.Contact(c); err == nil {
			list = k.Devices
		}
		if len(c.Ticket) > 0 {
			var st wire.SignedTicket
			if proto.Unmarshal(c.Ticket, &st) == nil {
				if t, err := ticket.VerifySignature(s.tk().Server, &st); err == nil && t.Peer == p && t.Username == username {
					return t, true
				}
			}
		}
	}
	if d, ok := list.Device(p); ok && len(d.BoxKey) > 0 {
		return &ticket.Ticket{Username: username, Peer: p, BoxKey: d.BoxKey, Server: s.tk().Server}, true
	}
	return nil, false
}

// DevicesRemoved drops what waited for devices their account removed
// (account.Host): revoking a device stops what we send it at once.
func (s *session) DevicesRemoved(username string, removed []peer.ID) {
	for _, p := range removed {
		n, err := s.store.DropOutbox(delivery.DeviceRoute(username, p))
		if err != nil {
			s.n.log.Warn("dropping what waited for a removed device", "username", username, "peer", p, "err", err)
			continue
		}
		if n > 0 {
			s.n.log.Info("dropped what waited for a removed device", "username", username, "peer", p, "entries", n)
		}
	}
}

// AccountStored tells our other devices that the account's synced state
// changed at our homes (contacts.Host), so that a rename, a block or a
// contact's acceptance made or received here shows there at once, not at
// their next poll. A device offline now reads it when it signs in.
func (s *session) AccountStored() {
	for _, r := range s.ownRoutes() {
		s.delivery.Signal(r, wire.Signal_ACCOUNT_CHANGED)
	}
}

// SyncAccount reads the account's synced state from our homes now
// (presence.Host): another device of ours stored a change.
func (s *session) SyncAccount() { s.contacts.SyncNow() }
