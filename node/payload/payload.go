// Package payload is the node's table of payload kinds: which component
// handles each kind of wire.Payload that arrives from a contact, and which
// relation the sender must have with us for it to be processed at all.
//
// It is the process stage of the node's message pipeline (listen →
// authenticate → security → process → output). A feature component
// registers the kinds it handles when it is built; the node's message
// handler and the mail drain both dispatch through the same Registry, so a
// payload is held to the same relation whether it came on a direct stream
// or out of a mailbox. Adding a payload kind means: the message in
// wire.proto, a Kind registered by its component, and the API — nothing
// else.
package payload

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Refusal is an inbound payload refused with a code that the sender reads
// in its Ack. Wrap one (fmt.Errorf("%w: ...", ErrBadRequest)) to add
// detail for the log; the code sent is the Refusal's.
type Refusal string

func (r Refusal) Error() string { return string(r) }

// Refusals, by the code the sender's courier branches on.
const (
	// ErrNotContact: the sender is not in the relation the kind needs.
	// The sender marks the message failed.
	ErrNotContact Refusal = "not_contact"
	// ErrBadRequest: malformed, oversized or unknown. Failed at the sender.
	ErrBadRequest Refusal = "bad_request"
	// ErrRateLimited: try again later, in order.
	ErrRateLimited Refusal = "rate_limited"
	// ErrInternal: we failed (e.g. the disk); try again later, in order.
	ErrInternal Refusal = "internal"
	// ErrSessionReset: the envelope is a ratchet message no session of ours
	// opens. The sender drops its sessions with us and resends.
	ErrSessionReset Refusal = "session_reset"
)

// Code is the Ack code for the outcome err of processing a payload: "" for
// success, the Refusal's code for a refusal, ErrInternal for any other
// error (ours, not the sender's).
func Code(err error) string {
	if err == nil {
		return ""
	}
	var r Refusal
	if errors.As(err, &r) {
		return string(r)
	}
	return string(ErrInternal)
}

// From is the set of relations a sender must have with us for a kind to be
// processed. The zero value admits anyone, strangers included.
type From struct {
	// Relations admitted; empty admits anyone (strangers too).
	Relations []api.Relation
	// Else is what a sender outside Relations gets: nil drops the payload
	// silently (acknowledged, nothing done — for kinds where a refusal
	// would tell the sender something it must not learn, or stale
	// answers), otherwise the refusal to send back.
	Else error
	// Own admits the other devices of our own account (their device
	// checked against the list our account signed): the copies of what
	// we sent there. Without it a kind treats them as it treats a sender
	// outside Relations, even a kind that admits anyone.
	Own bool
	// ownOnly admits no one but our own other devices (OwnOnly): an empty
	// Relations alone would admit anyone.
	ownOnly bool
}

// Accepted admits accepted contacts and refuses everyone else — strangers
// and blocked users alike, so a block cannot be told from a stranger.
var Accepted = From{Relations: []api.Relation{api.RelationAccepted}, Else: ErrNotContact}

// AcceptedOrOwn is Accepted and our own other devices.
var AcceptedOrOwn = From{Relations: []api.Relation{api.RelationAccepted}, Else: ErrNotContact, Own: true}

// ErrNotOwnDevice refuses a kind that only the devices of our own account
// may send (OwnOnly) to anyone else: a contact, however trusted, cannot
// say what we read. The sender reads it as ErrNotContact.
var ErrNotOwnDevice = fmt.Errorf("%w: only another device of our own account may send this", ErrNotContact)

// OwnOnly admits our own other devices and refuses everyone else,
// accepted contacts included, with ErrNotOwnDevice.
var OwnOnly = From{Else: ErrNotOwnDevice, Own: true, ownOnly: true}

// Anyone admits every sender with a valid ticket.
var Anyone = From{}

// AnyoneOrOwn is Anyone and our own other devices.
var AnyoneOrOwn = From{Own: true}

// admits reports whether a sender in relation rel (known is false for a
// sender with no contact record; own is true for our own other devices)
// may be processed.
func (f From) admits(rel api.Relation, known, own bool) bool {
	if own {
		return f.Own
	}
	if f.ownOnly {
		return false
	}
	if len(f.Relations) == 0 {
		return true
	}
	return known && slices.Contains(f.Relations, rel)
}

// Inbound is one payload that passed the earlier stages: its sender's
// ticket verified, its envelope opened.
type Inbound struct {
	Ticket *ticket.Ticket // the sender's device, verified
	ID     string         // the envelope ID (the message ID of a chat)
	// Order is the sending device's outbox position of the envelope
	// (wire.Envelope.Order, wire.MailItem.Order); 0 when not said.
	Order   uint64
	Payload *wire.Payload
	// Contact is the sender's record, read under the node's contact lock
	// (held while the handler runs); Known is false when there is none and
	// Contact is then the zero value.
	Contact store.Contact
	Known   bool
	// Own is true when the sender is another device of our own account.
	Own bool
	// Backlog is non-nil while a mail backlog is applied: a handler that
	// stores messages may append them here for the caller to store in one
	// transaction, instead of one transaction each.
	Backlog *[]store.Message
}

// From is the sender's username.
func (in *Inbound) From() string { return in.Ticket.Username }

// Handler processes one inbound payload. A Refusal (possibly wrapped) is
// sent back to the sender as its code; any other error is ErrInternal.
type Handler func(in *Inbound) error

// Kind is one payload kind and its handler.
type Kind struct {
	// Of is the oneof wrapper the kind arrives in, as a typed nil:
	// (*wire.Payload_Chat)(nil).
	Of any
	// From is who may send it.
	From From
	// Handle processes it.
	Handle Handler
}

// Registry maps payload kinds to their handlers. Its zero value is empty
// and ready; it is safe for concurrent use. Registration happens while the
// node's components are built; dispatch for the rest of the session.
type Registry struct {
	mu      sync.RWMutex
	kinds   map[reflect.Type]Kind
	tallies map[reflect.Type]*tally
}

// tally counts the payloads of one kind that reached its handler and
// those refused before or by it.
type tally struct{ handled, refused atomic.Int64 }

// Register adds kinds. It panics on a kind registered twice or without a
// handler: both are programming errors that every test would hit.
func (r *Registry) Register(kinds ...Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[reflect.Type]Kind{}
		r.tallies = map[reflect.Type]*tally{}
	}
	for _, k := range kinds {
		t := reflect.TypeOf(k.Of)
		if t == nil || k.Handle == nil {
			panic(fmt.Sprintf("payload: kind %v registered without a type or handler", t))
		}
		if _, dup := r.kinds[t]; dup {
			panic(fmt.Sprintf("payload: kind %v registered twice", t))
		}
		r.kinds[t] = k
		r.tallies[t] = &tally{}
	}
}

// Registered reports whether a kind is handled, by its oneof wrapper.
func (r *Registry) Registered(of any) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.kinds[reflect.TypeOf(of)]
	return ok
}

// Tally reports, for metrics and tests, how many payloads of a kind (by
// its oneof wrapper) were handled and how many were refused — by the
// sender's relation or by the handler — since the registry was made:
// a test can tell that a kind never reached a node at all.
func (r *Registry) Tally(of any) (handled, refused int64) {
	r.mu.RLock()
	t, ok := r.tallies[reflect.TypeOf(of)]
	r.mu.RUnlock()
	if !ok {
		return 0, 0
	}
	return t.handled.Load(), t.refused.Load()
}

// Dispatch checks in's sender against its kind's relation and runs the
// kind's handler. An unknown or empty kind is ErrBadRequest: a newer peer's
// payload we cannot read is refused, never half-applied.
func (r *Registry) Dispatch(in *Inbound) error {
	if in.Payload == nil || in.Payload.Kind == nil {
		return fmt.Errorf("%w: empty payload", ErrBadRequest)
	}
	r.mu.RLock()
	k, ok := r.kinds[reflect.TypeOf(in.Payload.Kind)]
	t := r.tallies[reflect.TypeOf(in.Payload.Kind)]
	r.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: unknown payload kind %T", ErrBadRequest, in.Payload.Kind)
	}
	if !k.From.admits(api.Relation(in.Contact.Relation), in.Known, in.Own) {
		t.refused.Add(1)
		return k.From.Else
	}
	err := k.Handle(in)
	if err != nil {
		t.refused.Add(1)
	} else {
		t.handled.Add(1)
	}
	return err
}
