package node

import (
	"context"
	"errors"
	"eserver/node/payload"
	"fmt"
	"sync"
	"time"

	"eserver/node/api"
	"eserver/node/wire"
)

// Typing and nudges are signals: news of the moment for a contact who is
// reachable now. They ride the contact's courier after its presence,
// encrypted like everything else, but are never stored or mailed; a signal
// that cannot go in one delivery round is dropped.

// signalWait bounds how long Nudge waits to learn whether its nudge
// arrived (finding and dialling the contact included).
const signalWait = 15 * time.Second

// maxPendingSignals bounds what waits in one courier: a burst of nudges to
// an unreachable contact cannot pile up.
const maxPendingSignals = 4

type pendingSignal struct {
	kind wire.Signal_Kind
	done chan error // nil: nobody waits (typing)
}

func (sg pendingSignal) finish(err error) {
	if sg.done != nil {
		sg.done <- err // buffered, one result per signal
	}
}

// signals remembers when we last sent and received each kind of signal, per
// contact, for the rate limits.
type signals struct {
	mu         sync.Mutex
	sentTyping map[string]time.Time
	sentNudge  map[string]time.Time
	gotTyping  map[string]time.Time
	gotNudge   map[string]time.Time
}

// allow reports whether key's last event in *m is at least every ago, and
// if so records now.
func (g *signals) allow(m *map[string]time.Time, key string, now time.Time, every time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if last, ok := (*m)[key]; ok && now.Sub(last) < every && !now.Before(last) {
		return false
	}
	if len(*m) > 10000 {
		clear(*m)
	}
	(*m)[key] = now
	return true
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
	if !s.signals.allow(&s.signals.sentTyping, to, n.cfg.Now(), api.TypingInterval) {
		return nil // they heard from us a moment ago: still typing
	}
	s.courierFor(to).signal(pendingSignal{kind: wire.Signal_TYPING})
	return nil
}

// Nudge implements API.
func (n *Node) Nudge(ctx context.Context, to string) error {
	s, err := n.acceptedSession(to)
	if err != nil {
		return err
	}
	if !s.signals.allow(&s.signals.sentNudge, to, n.cfg.Now(), api.NudgeInterval) {
		return fmt.Errorf("%w: one nudge every %v", api.ErrRateLimited, api.NudgeInterval)
	}
	sg := pendingSignal{kind: wire.Signal_NUDGE, done: make(chan error, 1)}
	if !s.courierFor(to).signal(sg) {
		return fmt.Errorf("%w: nudges waiting for %s", api.ErrRateLimited, to)
	}
	ctx, cancel := context.WithTimeout(ctx, signalWait)
	defer cancel()
	select {
	case err := <-sg.done:
		if errors.Is(err, errNoRoute) {
			return fmt.Errorf("%w: %s cannot be reached now", api.ErrUnreachable, to)
		}
		if err != nil {
			return fmt.Errorf("%w: nudge to %s: %v", api.ErrUnreachable, to, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: nudge to %s: %v", api.ErrUnreachable, to, ctx.Err())
	}
}

// receiveSignal shows a contact's signal, within the rate limits: a
// contact cannot shake our window more than once per NudgeInterval.
func (s *session) receiveSignal(from string, sg *wire.Signal) {
	now := s.n.cfg.Now()
	switch sg.Kind {
	case wire.Signal_TYPING:
		if s.signals.allow(&s.signals.gotTyping, from, now, time.Second) {
			s.n.emit(api.Event{Typing: &api.TypingEvent{From: from}})
		}
	case wire.Signal_NUDGE:
		if s.signals.allow(&s.signals.gotNudge, from, now, api.NudgeInterval) {
			s.n.emit(api.Event{Nudge: &api.NudgeEvent{From: from, Time: now}})
		}
	}
}

// signalKinds: typing and nudges.
func (s *session) signalKinds() []payload.Kind {
	return []payload.Kind{{Of: (*wire.Payload_Signal)(nil), From: payload.Accepted,
		Handle: func(in *payload.Inbound) error { s.receiveSignal(in.From(), in.Payload.GetSignal()); return nil }}}
}
