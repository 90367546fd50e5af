package node

import (
	"context"
	"errors"
	"fmt"

	"eserver/node/api"
	"eserver/node/wire"
)

// Typing and nudges are signals (node/presence): news of the moment for a
// contact who is reachable now. They ride the contact's courier after its
// presence, encrypted like everything else, but are never stored or mailed;
// a signal that cannot go in one delivery round is dropped.

// maxPendingSignals bounds what waits in one courier: a burst of nudges to
// an unreachable contact cannot pile up.
const maxPendingSignals = 4

type pendingSignal struct {
	kind wire.Signal_Kind
	done chan error // how it went; buffered, one result
}

func (sg pendingSignal) finish(err error) {
	if errors.Is(err, errNoRoute) {
		err = fmt.Errorf("%w: %v", api.ErrUnreachable, err)
	}
	sg.done <- err
}

// signal queues a signal for the contact; false when too many wait.
func (c *courier) signal(sg pendingSignal) bool {
	c.mu <- struct{}{}
	if len(c.signals) >= maxPendingSignals {
		<-c.mu
		return false
	}
	c.signals = append(c.signals, sg)
	<-c.mu
	c.poke()
	return true
}

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
