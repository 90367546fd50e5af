// Package conversation is the chat capability: text messages between two
// accepted contacts, multi-party conversations, the message history with
// its full-text search, and unread marks, which the account's devices keep
// in step (read.go).
//
// A message to a contact goes into the node's durable outbox (Host.Enqueue)
// together with its history entry, in one transaction: once Send returns, a
// crash cannot lose it; the node's courier delivers it in order, directly
// or through the contact's mailboxes.
//
// Multi-party conversations work as MSN's "invite someone to this
// conversation", without a server in the middle. Every event (a message,
// an invitation, a departure) goes from its author to each member who is
// the author's contact, inside that pair's end-to-end channel, and every
// member passes an event it sees for the first time on, unchanged, to the
// members it has as contacts; so members who are not each other's contacts
// still hear each other — through the one who invited them, at least. The
// author signs each event with its device key and attaches its ticket, so a
// member passing it on can neither forge nor change it, and whoever passes
// an event on must itself be a member. Members are trusted to invite, as in
// MSN: any member may bring in one of their contacts. A conversation's ID is
// "#" and 32 hex digits (api.IsConversation).
//
// A member signed in on several devices takes part on all of them: the
// host spreads each event over a member's devices, and every event we
// author also goes to our own other devices, which apply it as ours
// (receive, in group.go).
package conversation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Limits of the capability.
const (
	DefaultHistory = 100 // messages History returns when asked for none
	MaxHistory     = 1000
	// MaxSkew is how far in the past a sender's clock may put a message;
	// anything older, or in the future, is stamped with our time.
	MaxSkew = 30 * 24 * time.Hour
)

// ErrStaleEvent: a multi-party event signed longer ago than mail lives
// (wire.MailTTL), or dated in the future. Such an event is refused however
// genuine: the node remembers revocations, and the events it applied, only
// that long.
var ErrStaleEvent = errors.New("conversation event out of date")

// Host is what the capability needs from the node.
type Host interface {
	// Me is our username.
	Me() string
	// Ticket is our current ticket (its Server verifies others' tickets;
	// its Signed form goes with the events we author).
	Ticket() *ticket.Ticket
	// Now is the session's clock.
	Now() time.Time
	// Store is the account's database: messages and conversations.
	Store() *store.Store
	// Log is the node's logger.
	Log() *slog.Logger
	// Emit tells the front ends.
	Emit(e api.Event)
	// Enqueue stores p (and the chat message m, if any, in the history)
	// in the durable outbox for username and wakes its courier.
	Enqueue(username string, p *wire.Payload, m *store.Message) error
	// EnqueueOwn stores p in the durable outbox for each other device of
	// our own account (none when it has one) and wakes their couriers.
	EnqueueOwn(p *wire.Payload) error
	// EnqueueFanout stores one multi-party event (and m, the message it
	// carries, if any, in conversation conv's history) in the outbox for
	// several members at once, in one transaction, and wakes their
	// couriers.
	EnqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry) error
	// EnqueueFanoutWith queues an event passed on, as EnqueueFanout does
	// without a message, and commits ops (applying it) in the same
	// transaction.
	EnqueueFanoutWith(conv string, entries []store.OutboxEntry, ops ...store.Op) error
	// Accepted reports whether username is our accepted contact.
	Accepted(username string) bool
	// ContactLock serializes every change of the contact list and of
	// conversations: payload handlers run under it, API commands take it.
	ContactLock() sync.Locker
	// Sign signs b with our device key.
	Sign(b []byte) ([]byte, error)
	// AuthenticateAt is the pipeline's Authenticate stage for an event
	// passed on by another member: st must be signed by our auth server,
	// valid when its author wrote the event (at; an event may be passed on
	// long after) and not revoked now.
	AuthenticateAt(st *wire.SignedTicket, at time.Time) (*ticket.Ticket, error)
}

// Conversations is the capability for one session. Make it with New and
// register its Kinds; it has no goroutines of its own. Its state is the
// account's store, read and changed under the host's contact lock.
type Conversations struct {
	h Host
}

// New returns the capability on h.
func New(h Host) *Conversations { return &Conversations{h: h} }

// Kinds are the payload kinds the capability handles: chat from a contact
// and the events of multi-party conversations, from accepted contacts
// only — and both from our own other devices, which send us copies of
// what they send and pass on — and read marks from our own other devices
// only.
func (c *Conversations) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_Chat)(nil), From: payload.AcceptedOrOwn, Handle: c.receiveChat},
		{Of: (*wire.Payload_GroupEvent)(nil), From: payload.AcceptedOrOwn, Handle: func(in *payload.Inbound) error {
			return c.receive(arrival{from: in.From(), own: in.Own, envelope: in.ID}, in.Payload.GetGroupEvent())
		}},
		{Of: (*wire.Payload_ReadMark)(nil), From: payload.OwnOnly, Handle: c.receiveReadMark},
	}
}

// CheckText refuses a message text that is empty, too long or not UTF-8.
func CheckText(text string) error {
	if text == "" || len(text) > wire.MaxChatText || !utf8.ValidString(text) {
		return fmt.Errorf("%w: text must be 1–%d bytes of UTF-8", api.ErrBadRequest, wire.MaxChatText)
	}
	return nil
}

// Send sends text to the accepted contact or the conversation to. It
// returns the message's ID once the message is durably in the outbox: from
// then on a crash cannot lose it.
func (c *Conversations) Send(to, text string) (string, error) {
	if err := CheckText(text); err != nil {
		return "", err
	}
	if api.IsConversation(to) {
		return c.sendGroup(to, text)
	}
	ct, err := c.h.Store().Contact(to)
	if errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(ct.Relation) != api.RelationAccepted) {
		return "", fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	if err != nil {
		return "", err
	}
	m := &store.Message{ID: wire.NewID(), Peer: to, Outgoing: true, Text: text, Time: c.h.Now(), State: string(api.StateQueued)}
	if err := c.h.Enqueue(to, &wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}}, m); err != nil {
		return "", err
	}
	c.emitMessage(*m)
	return m.ID, nil
}

// Message is a stored message as the front ends see it.
func (c *Conversations) Message(m store.Message) api.Message {
	out := api.Message{ID: m.ID, Text: m.Text, Time: m.Time, State: api.MessageState(m.State), Kind: api.MessageKind(m.Kind)}
	if m.File != nil {
		out.File = &api.FileNote{Size: m.File.Size, State: api.TransferState(m.File.State)}
	}
	if m.Call != nil {
		out.Call = &api.CallNote{Reason: m.Call.Reason, Duration: m.Call.Duration}
	}
	switch {
	case api.IsConversation(m.Peer):
		out.From, out.To = m.Sender, m.Peer
		if m.Outgoing {
			out.From = c.h.Me()
		}
	case m.Outgoing:
		out.From, out.To = c.h.Me(), m.Peer
	default:
		out.From, out.To = m.Peer, c.h.Me()
	}
	return out
}

func (c *Conversations) emitMessage(m store.Message) {
	msg := c.Message(m)
	c.h.Emit(api.Event{Message: &msg})
}

// History returns up to limit messages exchanged with the contact or in the
// conversation with, before the message before ("": the newest), oldest
// first. limit is DefaultHistory when not positive and at most MaxHistory.
func (c *Conversations) History(with string, limit int, before string) ([]api.Message, error) {
	if api.IsConversation(with) {
		if _, err := ParseID(with); err != nil {
			return nil, err
		}
	}
	switch {
	case limit <= 0:
		limit = DefaultHistory
	case limit > MaxHistory:
		limit = MaxHistory
	}
	ms, err := c.h.Store().History(with, limit, before)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no message %q with %s", api.ErrBadRequest, before, with)
	}
	if err != nil {
		return nil, err
	}
	out := make([]api.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, c.Message(m))
	}
	return out, nil
}

// Search is full-text search over every conversation, or the one q.With
// names, newest first (see store.Search for the matching rules). A query
// with no words, a negative Limit or Before, or a malformed conversation
// is a bad request; Limit is capped, not refused, so a client asking for
// "a lot" gets the most we serve.
func (c *Conversations) Search(ctx context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	if api.IsConversation(q.With) {
		if _, err := ParseID(q.With); err != nil {
			return nil, err
		}
	}
	if q.Limit < 0 || q.Before < 0 {
		return nil, fmt.Errorf("%w: negative limit or before", api.ErrBadRequest)
	}
	hits, err := c.h.Store().Search(ctx, store.SearchQuery{Text: q.Text, Peer: q.With, Limit: q.Limit, Before: q.Before})
	if errors.Is(err, store.ErrEmptyQuery) || errors.Is(err, store.ErrQueryTooLong) {
		return nil, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("searching history: %w", err)
	}
	out := make([]api.HistoryHit, 0, len(hits))
	for _, h := range hits {
		out = append(out, api.HistoryHit{Message: c.Message(h.Message), Seq: h.Seq, Snippet: h.Snippet, Marks: h.Marks})
	}
	return out, nil
}

// sentAt is when a message was sent: the sender's clock is only a hint,
// never in the future, never absurd.
func (c *Conversations) sentAt(unixMilli int64) time.Time {
	now := c.h.Now()
	at := time.UnixMilli(unixMilli)
	if at.After(now) || at.Before(now.Add(-MaxSkew)) {
		return now
	}
	return at
}

// receiveChat stores a contact's message, or, while a mail backlog is
// applied, adds it to the backlog for the caller to store with the rest.
func (c *Conversations) receiveChat(in *payload.Inbound) error {
	chat := in.Payload.GetChat()
	if chat.Text == "" || len(chat.Text) > wire.MaxChatText {
		return payload.ErrBadRequest
	}
	order := in.Order // shown in its author's order
	if chat.Order != 0 {
		order = chat.Order // sent again: where it was first sent
	}
	// A message fanned out to each of our devices comes under an envelope
	// ID per device; every device keeps it under the message's own.
	m := store.Message{ID: store.FanoutMessageID(in.ID), Peer: in.From(), Text: chat.Text, Time: c.sentAt(in.Payload.SentUnixMilli), State: string(api.StateReceived),
		Device: in.Ticket.Peer.String(), Order: order}
	if in.Own {
		// A copy of what we sent from another device: shown here as sent
		// to the contact it went to.
		if wire.ValidUsername(chat.To) != nil || chat.To == in.From() {
			return fmt.Errorf("%w: a copy of our message to %q", payload.ErrBadRequest, chat.To)
		}
		m.Peer, m.Outgoing, m.State = chat.To, true, string(api.StateDelivered)
	}
	if in.Backlog != nil {
		*in.Backlog = append(*in.Backlog, m)
		return nil
	}
	inserted, err := c.h.Store().AddIncoming(m)
	if err != nil {
		return fmt.Errorf("storing message: %w", err)
	}
	if inserted {
		c.emitMessage(m)
	}
	return nil
}
