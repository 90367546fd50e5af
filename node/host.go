package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// The host the feature components see. Each component declares the narrow
// interface it needs (streams.Host, ...); the session implements them all
// with the methods below, so a component reaches the rest of the node only
// through what it declared.

// Libp2p is the session's libp2p host.
func (s *session) Libp2p() host.Host { return s.host }

// ContactOf names the contact whose device p is, or "".
func (s *session) ContactOf(p peer.ID) string {
	cs, err := s.store.Contacts()
	if err != nil {
		return ""
	}
	for _, c := range cs {
		if c.PeerID == p.String() {
			return c.Username
		}
	}
	return ""
}

// Contact returns username's entry in our list, as the front ends see it;
// api.ErrNotContact when there is none.
func (s *session) Contact(username string) (api.Contact, error) {
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return api.Contact{}, fmt.Errorf("%w: %s", api.ErrNotContact, username)
	}
	if err != nil {
		return api.Contact{}, err
	}
	return s.View(c), nil
}

// Device is the device of username we last heard from.
func (s *session) Device(username string) (peer.ID, error) {
	c, err := s.store.Contact(username)
	if err != nil {
		return "", err
	}
	return peer.Decode(c.PeerID)
}

// Deliver queues p for username and waits until the contact's node
// acknowledged it; when ctx ends first, p stays queued.
func (s *session) Deliver(ctx context.Context, username string, p *wire.Payload) error {
	return s.delivery.Deliver(ctx, username, p)
}

// Emit sends e to the front ends.
func (s *session) Emit(e api.Event) {
	if t := s.offline.Load(); t != nil && e.Message != nil {
		t.add(*e.Message)
	}
	s.n.emit(e)
}

// Store is the account's database.
func (s *session) Store() *store.Store { return s.store }

// Enqueue stores p (and the chat message m, if any, in the history) in the
// durable outbox for username and wakes that contact's courier: it is
// delivered in order, directly or through the contact's mailboxes, however
// long that takes.
func (s *session) Enqueue(username string, p *wire.Payload, m *store.Message) error {
	return s.delivery.Enqueue(username, p, m)
}

// Message is a stored message as the front ends see it.
func (s *session) Message(m store.Message) api.Message { return s.conv.Message(m) }

// Me is our username.
func (s *session) Me() string { return s.me() }

// Ticket is our current ticket.
func (s *session) Ticket() *ticket.Ticket { return s.tk() }

// RegionPass is our region pass and the ticket it was issued with, to be
// presented together (ticket.VerifyPass checks that they belong together);
// the pass is nil when the auth server placed our address in no region.
// It is for the rooms feature, to show a regional room's homes that we may
// post there; nothing else sends it: our country goes nowhere else.
func (s *session) RegionPass() (*ticket.Ticket, *ticket.Pass) {
	c := s.creds.Load()
	if c == nil {
		return nil, nil
	}
	return c.ticket, c.pass
}

// Now is the session's clock (Config.Now).
func (s *session) Now() time.Time { return s.n.cfg.Now() }

// Log is the node's logger.
func (s *session) Log() *slog.Logger { return s.n.log }

// ContactChanged tells the front ends (and the contact-list backup) that
// username's entry changed or went away.
func (s *session) ContactChanged(username string) { s.contacts.Changed(username) }

// HomesOf are username's home supernodes (rendezvous hashing).
func (s *session) HomesOf(username string) []peer.AddrInfo { return s.discovery.HomesOf(username) }

// ConnectHome connects to a home, marking it dead when it does not answer.
func (s *session) ConnectHome(ctx context.Context, home peer.AddrInfo) error {
	return s.discovery.Connect(ctx, home)
}

// UpdateContact changes username's entry under the contact list's lock
// (contacts.Update).
func (s *session) UpdateContact(username string, change func(*store.Contact) error) error {
	return s.contacts.Update(username, change)
}
