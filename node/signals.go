package node

import (
	"context"
	"fmt"

	"eserver/node/api"
)

// Typing and nudges are signals (node/presence), sent by the contact's
// courier (node/delivery).

// acceptedSession returns the session if to is an accepted contact.
func (n *Node) acceptedSession(to string) (*session, error) {
	s, err := n.sessionFor(to)
	if err != nil {
		return nil, err
	}
	if c, err := s.store.Contact(to); err != nil || api.Relation(c.Relation) != api.RelationAccepted {
		return nil, fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	return s, nil
}

// Typing implements API.
func (n *Node) Typing(ctx context.Context, to string) error {
	s, err := n.acceptedSession(to)
	if err != nil {
		return err
	}
	return s.presence.Typing(to)
}

// Nudge implements API.
func (n *Node) Nudge(ctx context.Context, to string) error {
	s, err := n.acceptedSession(to)
	if err != nil {
		return err
	}
	return s.presence.Nudge(ctx, to)
}
