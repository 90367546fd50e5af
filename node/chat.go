package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"eserver/node/api"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"eserver/node/store"
	"eserver/node/wire"
)

// newID returns a random 128-bit message ID. IDs are chosen by the sender
// and stay the same across retries, which is what lets receivers drop
// duplicates.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Send implements API. It returns once the message is durably in the outbox:
// from then on a crash cannot lose it.
func (n *Node) Send(ctx context.Context, to, text string) (string, error) {
	if text == "" || len(text) > wire.MaxChatText || !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: text must be 1–%d bytes of UTF-8", api.ErrBadRequest, wire.MaxChatText)
	}
	if api.IsConversation(to) {
		s, err := n.current()
		if err != nil {
			return "", err
		}
		return s.sendGroup(to, text)
	}
	s, err := n.sessionFor(to)
	if err != nil {
		return "", err
	}
	c, err := s.store.Contact(to)
	if errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(c.Relation) != api.RelationAccepted) {
		return "", fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	if err != nil {
		return "", err
	}
	now := n.cfg.Now()
	id := newID()
	m := &store.Message{ID: id, Peer: to, Outgoing: true, Text: text, Time: now, State: string(api.StateQueued)}
	if err := s.enqueue(to, &wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}}, m); err != nil {
		return "", err
	}
	msg := s.toMessage(*m)
	n.emit(api.Event{Message: &msg})
	return id, nil
}

// enqueue stores p (and the chat message m, if any) in the durable outbox
// for username and wakes that contact's courier.
// enqueueWithID is enqueue for a payload whose outbox ID the caller chose
// (to wait for its acknowledgement).
func (s *session) enqueueWithID(username, id string, p *wire.Payload) error {
	return s.enqueueEntry(username, id, p, nil)
}

func (s *session) enqueue(username string, p *wire.Payload, m *store.Message) error {
	id := newID()
	if m != nil {
		id = m.ID
	}
	return s.enqueueEntry(username, id, p, m)
}

func (s *session) enqueueEntry(username, id string, p *wire.Payload, m *store.Message) error {
	now := s.n.cfg.Now()
	p.SentUnixMilli = now.UnixMilli()
	raw, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding payload: %w", err)
	}
	if _, err := s.store.Enqueue(m, store.OutboxEntry{ID: id, Peer: username, Payload: raw, Created: now}); err != nil {
		return fmt.Errorf("queueing for %s: %w", username, err)
	}
	s.courierFor(username).poke()
	return nil
}

func (s *session) toMessage(m store.Message) api.Message {
	out := api.Message{ID: m.ID, Text: m.Text, Time: m.Time, State: api.MessageState(m.State)}
	if api.IsConversation(m.Peer) {
		out.From, out.To = m.Sender, m.Peer
		if m.Outgoing {
			out.From = s.me()
		}
		return out
	}
	if m.Outgoing {
		out.From, out.To = s.me(), m.Peer
	} else {
		out.From, out.To = m.Peer, s.me()
	}
	return out
}

// History implements API.
func (n *Node) History(ctx context.Context, with string, limit int, before string) ([]api.Message, error) {
	var s *session
	var err error
	if api.IsConversation(with) {
		if _, err = parseConvID(with); err != nil {
			return nil, err
		}
		s, err = n.current()
	} else {
		s, err = n.sessionFor(with)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	ms, err := s.store.History(with, limit, before)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no message %q with %s", api.ErrBadRequest, before, with)
	}
	if err != nil {
		return nil, err
	}
	out := make([]api.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, s.toMessage(m))
	}
	return out, nil
}
