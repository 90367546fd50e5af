package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"eserver/node/payload"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Multi-party conversations, as MSN's "invite someone to this
// conversation". There is no server in the middle: every event (a message,
// an invitation, a departure) goes from its author to each member who is
// the author's contact, inside that pair's end-to-end channel, and every
// member passes an event it sees for the first time on, unchanged, to the
// members it has as contacts. So members who are not each other's contacts
// still hear each other — through the one who invited them, at least. The
// author signs each event with its device key and attaches its ticket, so
// a member passing it on can neither forge nor change it; whoever passes
// an event on must itself be a member. Members are trusted to invite, as in
// MSN: any member may bring in one of their contacts.

// groupSigningContext separates these signatures from every other use of a
// device key.
const groupSigningContext = "eserver-group-event-v1\x00"

func convID(raw []byte) string { return "#" + hex.EncodeToString(raw) }

func parseConvID(id string) ([]byte, error) {
	if !api.IsConversation(id) {
		return nil, fmt.Errorf("%w: %q is not a conversation", api.ErrBadRequest, id)
	}
	raw, err := hex.DecodeString(id[1:])
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("%w: %q is not a conversation", api.ErrBadRequest, id)
	}
	return raw, nil
}

// groupSigningBytes is what an event's author signs: every field but the
// signature and the ticket, each length-prefixed, members in sorted order.
func groupSigningBytes(ev *wire.GroupEvent) []byte {
	b := []byte(groupSigningContext)
	field := func(v []byte) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field(ev.Conversation)
	field([]byte(ev.Id))
	b = binary.BigEndian.AppendUint64(b, uint64(ev.SentUnixMilli))
	field([]byte(ev.Author))
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		b = append(b, 1)
		field([]byte(k.Text))
	case *wire.GroupEvent_Joined:
		b = append(b, 2)
		field([]byte(k.Joined))
	case *wire.GroupEvent_Left:
		b = append(b, 3)
	default:
		b = append(b, 0)
	}
	members := slices.Clone(ev.Members)
	slices.Sort(members)
	b = binary.AppendUvarint(b, uint64(len(members)))
	for _, m := range members {
		field([]byte(m))
	}
	return b
}

func (s *session) toConversation(c store.Conversation) api.Conversation {
	return api.Conversation{ID: c.ID, Members: slices.Clone(c.Members), Left: c.Left}
}

func (s *session) emitConversation(c store.Conversation, joined, left, by string) {
	s.n.emit(api.Event{Conversation: &api.ConversationEvent{Conversation: s.toConversation(c), Joined: joined, Left: left, By: by}})
}

// accepted reports whether username is our accepted contact.
func (s *session) accepted(username string) bool {
	c, err := s.store.Contact(username)
	return err == nil && api.Relation(c.Relation) == api.RelationAccepted
}

// publishGroup signs ev as ours and queues it for every member who is our
// contact (and m, the message it carries, in our history), in one
// transaction.
func (s *session) publishGroup(conv store.Conversation, ev *wire.GroupEvent, m *store.Message) error {
	raw, err := parseConvID(conv.ID)
	if err != nil {
		return err
	}
	ev.Conversation = raw
	if ev.Id == "" {
		ev.Id = newID()
	}
	ev.SentUnixMilli = s.n.cfg.Now().UnixMilli()
	ev.Author = s.me()
	ev.AuthorTicket = s.tk().Signed
	ev.Members = slices.Clone(conv.Members)
	key := s.host.Peerstore().PrivKey(s.host.ID())
	if key == nil {
		return errors.New("signing a conversation event: no device key")
	}
	if ev.Signature, err = key.Sign(groupSigningBytes(ev)); err != nil {
		return fmt.Errorf("signing a conversation event: %w", err)
	}
	return s.passOn(conv, ev, m, "")
}

// passOn queues ev for every member who is our contact, except its author
// and the contact we had it from.
func (s *session) passOn(conv store.Conversation, ev *wire.GroupEvent, m *store.Message, from string) error {
	raw := mustMarshal(&wire.Payload{SentUnixMilli: s.n.cfg.Now().UnixMilli(), Kind: &wire.Payload_GroupEvent{GroupEvent: ev}})
	var entries []store.OutboxEntry
	var to []string
	for _, member := range conv.Members {
		if member == s.me() || member == ev.Author || member == from || !s.accepted(member) {
			continue
		}
		entries = append(entries, store.OutboxEntry{ID: store.FanoutID(ev.Id, member), Peer: member, Payload: raw})
		to = append(to, member)
	}
	if m == nil && len(entries) == 0 {
		return nil
	}
	if err := s.store.EnqueueFanout(m, conv.ID, entries); err != nil {
		return err
	}
	for _, member := range to {
		s.courierFor(member).poke()
	}
	return nil
}

// Invite implements API.
func (n *Node) Invite(ctx context.Context, with, username string) (string, error) {
	s, err := n.acceptedSession(username)
	if err != nil {
		return "", err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	var conv store.Conversation
	var first []string // members told of the conversation before username
	if api.IsConversation(with) {
		if _, err := parseConvID(with); err != nil {
			return "", err
		}
		if conv, err = s.store.Conversation(with); errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("%w: no conversation %s", api.ErrBadRequest, with)
		} else if err != nil {
			return "", err
		}
		if conv.Left {
			return "", fmt.Errorf("%w: we left conversation %s", api.ErrBadRequest, with)
		}
		if slices.Contains(conv.Members, username) {
			return conv.ID, nil
		}
	} else {
		if with == username {
			return "", fmt.Errorf("%w: %s is already in the conversation", api.ErrBadRequest, username)
		}
		if _, err := n.acceptedSession(with); err != nil {
			return "", err
		}
		raw := make([]byte, 16)
		rand.Read(raw)
		conv = store.Conversation{ID: convID(raw), Members: []string{s.me(), with}, Created: n.cfg.Now()}
		first = []string{with}
	}
	if len(conv.Members)+1 > api.MaxConversationMembers {
		return "", fmt.Errorf("%w: a conversation holds at most %d people", api.ErrBadRequest, api.MaxConversationMembers)
	}
	conv.Members = append(conv.Members, username)
	slices.Sort(conv.Members)
	conv.Departed = slices.DeleteFunc(conv.Departed, func(d string) bool { return d == username })
	if err := s.store.PutConversation(conv); err != nil {
		return "", err
	}
	for _, joined := range append(first, username) {
		if err := s.publishGroup(conv, &wire.GroupEvent{Kind: &wire.GroupEvent_Joined{Joined: joined}}, nil); err != nil {
			return "", err
		}
	}
	s.emitConversation(conv, username, "", s.me())
	return conv.ID, nil
}

// LeaveConversation implements API.
func (n *Node) LeaveConversation(ctx context.Context, id string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	if _, err := parseConvID(id); err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	conv, err := s.store.Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no conversation %s", api.ErrBadRequest, id)
	}
	if err != nil || conv.Left {
		return err
	}
	if err := s.publishGroup(conv, &wire.GroupEvent{Kind: &wire.GroupEvent_Left{Left: true}}, nil); err != nil {
		return err
	}
	conv.Left = true
	if err := s.store.PutConversation(conv); err != nil {
		return err
	}
	s.emitConversation(conv, "", s.me(), "")
	return nil
}

// Conversations implements API.
func (n *Node) Conversations(ctx context.Context) ([]api.Conversation, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	cs, err := s.store.Conversations()
	if err != nil {
		return nil, err
	}
	out := make([]api.Conversation, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.toConversation(c))
	}
	return out, nil
}

// sendGroup is Send to a multi-party conversation.
func (s *session) sendGroup(id, text string) (string, error) {
	if _, err := parseConvID(id); err != nil {
		return "", err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	conv, err := s.store.Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: no conversation %s", api.ErrBadRequest, id)
	}
	if err != nil {
		return "", err
	}
	if conv.Left {
		return "", fmt.Errorf("%w: we left conversation %s", api.ErrBadRequest, id)
	}
	ev := &wire.GroupEvent{Id: newID(), Kind: &wire.GroupEvent_Text{Text: text}}
	m := &store.Message{ID: ev.Id, Peer: id, Outgoing: true, Text: text, Time: s.n.cfg.Now(), State: string(api.StateQueued)}
	if err := s.publishGroup(conv, ev, m); err != nil {
		return "", err
	}
	msg := s.toMessage(*m)
	s.n.emit(api.Event{Message: &msg})
	return m.ID, nil
}

// checkGroupEvent checks an event's shape and its author's signature, and
// returns the author's ticket.
func (s *session) checkGroupEvent(ev *wire.GroupEvent) error {
	if len(ev.Conversation) != 16 || ev.Id == "" || len(ev.Id) > 64 || ev.Author == "" || len(ev.Author) > wire.MaxUsername ||
		len(ev.Members) == 0 || len(ev.Members) > api.MaxConversationMembers || !slices.Contains(ev.Members, ev.Author) {
		return errors.New("malformed conversation event")
	}
	for _, m := range ev.Members {
		if wire.ValidUsername(m) != nil {
			return fmt.Errorf("conversation member %q", m)
		}
	}
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		if k.Text == "" || len(k.Text) > wire.MaxChatText || !utf8.ValidString(k.Text) {
			return errors.New("conversation message text")
		}
	case *wire.GroupEvent_Joined:
		if wire.ValidUsername(k.Joined) != nil || !slices.Contains(ev.Members, k.Joined) {
			return errors.New("conversation invitation")
		}
	case *wire.GroupEvent_Left:
	default:
		return errors.New("unknown conversation event")
	}
	t, err := ticket.VerifySignature(s.tk().Server, ev.AuthorTicket)
	if err == nil {
		err = s.revs.Check(t)
	}
	if err != nil {
		return fmt.Errorf("author's ticket: %w", err)
	}
	if t.Username != ev.Author {
		return fmt.Errorf("event by %q carries the ticket of %q", ev.Author, t.Username)
	}
	pub, err := t.Peer.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("author's device key: %w", err)
	}
	if ok, err := pub.Verify(groupSigningBytes(ev), ev.Signature); err != nil || !ok {
		return errors.New("conversation event: bad signature")
	}
	return nil
}

// receiveGroup applies a conversation event a contact passed us, and passes
// it on the first time we see it. Called with contactMu held.
func (s *session) receiveGroup(from string, ev *wire.GroupEvent) error {
	if err := s.checkGroupEvent(ev); err != nil {
		return fmt.Errorf("%w: %v", payload.ErrBadRequest, err)
	}
	me, id := s.me(), convID(ev.Conversation)
	conv, err := s.store.Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		// Only an invitation of us, by the contact who invites, starts one.
		if ev.GetJoined() != me || ev.Author != from || !slices.Contains(ev.Members, me) {
			return nil
		}
		conv = store.Conversation{ID: id, Members: slices.Clone(ev.Members), Created: s.n.cfg.Now()}
		slices.Sort(conv.Members)
		if err := s.store.PutConversation(conv); err != nil {
			return err
		}
		s.emitConversation(conv, me, "", from)
		return nil
	}
	if err != nil {
		return err
	}
	if conv.Left {
		return nil // nothing reaches us once we left
	}
	// The author must be a member as we know it — or one whom a member we
	// know (the contact passing it on) knows as a member: invitations and
	// messages may overtake each other on different paths.
	if !slices.Contains(conv.Members, ev.Author) && !(slices.Contains(conv.Members, from) && slices.Contains(ev.Members, ev.Author)) {
		return nil
	}
	first, changed := false, false
	var joined, left string
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		now := s.n.cfg.Now()
		at := time.UnixMilli(ev.SentUnixMilli)
		if at.After(now) || at.Before(now.Add(-30*24*time.Hour)) {
			at = now
		}
		m := store.Message{ID: ev.Id, Peer: id, Text: k.Text, Time: at, State: string(api.StateReceived), Sender: ev.Author}
		if first, err = s.store.AddIncoming(m); err != nil {
			return fmt.Errorf("storing message: %w", err)
		}
		if first {
			msg := s.toMessage(m)
			defer s.n.emit(api.Event{Message: &msg})
		}
	case *wire.GroupEvent_Joined:
		if !slices.Contains(conv.Members, k.Joined) {
			joined, first = k.Joined, true
		}
	case *wire.GroupEvent_Left:
		if slices.Contains(conv.Members, ev.Author) {
			left, first = ev.Author, true
		}
	}
	// Learn the members the author knows that we missed (never one who
	// left, unless invited again), and apply a departure.
	for _, m := range ev.Members {
		if left == "" && !slices.Contains(conv.Members, m) && (m == joined || !slices.Contains(conv.Departed, m)) &&
			len(conv.Members) < api.MaxConversationMembers {
			conv.Members = append(conv.Members, m)
			changed = true
		}
	}
	if joined != "" {
		conv.Departed = slices.DeleteFunc(conv.Departed, func(d string) bool { return d == joined })
	}
	if left != "" {
		conv.Members = slices.DeleteFunc(conv.Members, func(m string) bool { return m == left })
		conv.Departed = append(conv.Departed, left)
		changed = true
	}
	if changed {
		slices.Sort(conv.Members)
		if err := s.store.PutConversation(conv); err != nil {
			return err
		}
		by := ""
		if joined != "" {
			by = ev.Author
		}
		s.emitConversation(conv, joined, left, by)
	}
	if !first {
		return nil
	}
	return s.passOn(conv, ev, nil, from)
}

// groupKinds: the events of multi-party conversations.
func (s *session) groupKinds() []payload.Kind {
	return []payload.Kind{{Of: (*wire.Payload_GroupEvent)(nil), From: payload.Accepted,
		Handle: func(in *payload.Inbound) error { return s.receiveGroup(in.From(), in.Payload.GetGroupEvent()) }}}
}
