package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// The host the feature components see. Each component declares the narrow
// interface it needs (streams.Host, ...); the session implements them all
// with the methods below, so a component reaches the rest of the node only
// through what it declared.

// Libp2p is the session's libp2p host.
func (s *session) Libp2p() host.Host { return s.host }

// ContactOf names the contact whose device p is, or "".
func (s *session) ContactOf(p peer.ID) string { return s.contactOf(p) }

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
	return s.toContact(c), nil
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
	id := newID()
	acked := s.waitAck(id)
	defer s.forgetAck(id)
	if err := s.enqueueWithID(username, id, p); err != nil {
		return err
	}
	select {
	case <-acked:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Emit sends e to the front ends.
func (s *session) Emit(e api.Event) { s.n.emit(e) }
