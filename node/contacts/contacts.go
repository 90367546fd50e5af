// Package contacts is the contact list: the relations (MSN's
// authorization requests: asked, accepted, declined, blocked, removed), the
// user's own arrangement of the list (groups, names), who may see where we
// are (visibility tokens, visibility.go), and the account's synced state —
// the list and the rooms joined, end-to-end sealed at our homes and kept in
// step between the account's signed-in devices (backup.go).
//
// Every read-modify-write of a contact row goes through the list's one lock
// (Update, Locked): the store replaces whole rows, so two changes that did
// not serialize would lose one of them. The node's payload handlers run
// under the same lock.
package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/text"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Host is what the list needs from the node.
type Host interface {
	Store() *store.Store
	Me() string
	Now() time.Time
	Log() *slog.Logger
	Emit(e api.Event)
	// Enqueue queues p for username's devices, durably and in order.
	Enqueue(username string, p *wire.Payload, m *store.Message) error
	// View is an entry as the front ends see it: how the contact is
	// reached, whether its device is verified, its picture.
	View(c store.Contact) api.Contact
	// Greet sends our presence to username; HideFrom shows it we are
	// offline.
	Greet(username string)
	HideFrom(username string)
	// Invisible reports whether we appear offline (then no one may see
	// our record).
	Invisible() bool
	// Republish publishes our record again: the allow list changed.
	Republish()

	// For the backup, at our homes:
	Libp2p() host.Host
	Ticket() *ticket.Ticket
	HomesOf(username string) []peer.AddrInfo
	HasMailboxes() bool
	ConnectHome(ctx context.Context, home peer.AddrInfo) error
	// Devices is our account's signed device list (nil: none held): when
	// it changes, another device may bring changes to sync (backup.go).
	Devices() *wire.SignedAccountDevices
	// AccountStored: we stored a new version of the account's synced
	// state at our homes; our other devices should read it now rather
	// than at their next poll.
	AccountStored()
}

// Contacts is the list of one session.
type Contacts struct {
	h Host
	// mu serializes every read-modify-write of a contact row (API
	// commands, incoming payloads, lookups, disconnects).
	mu      sync.Mutex
	limiter *requestLimiter
	backup  backupState
}

// New returns the list; backupKey seals its backup (nil: no backup, when
// the auth server gave no export key).
func New(h Host, backupKey []byte) *Contacts {
	return &Contacts{h: h, limiter: newRequestLimiter(), backup: newBackupState(backupKey)}
}

// Kinds are the payload kinds of the list.
func (l *Contacts) Kinds() []payload.Kind {
	return append(l.contactKinds(), l.visibilityKinds()...)
}

// Locked runs f under the list's lock: for callers (the node's payload
// handlers, device bookkeeping) that read and write contact rows.
func (l *Contacts) Locked(f func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f()
}

// Lock is the list's lock, for a component that must hold it across its
// own read-modify-write (a multi-party conversation's membership).
func (l *Contacts) Lock() sync.Locker { return &l.mu }

// Update reads username's entry under the lock, lets change modify it,
// stores it and tells the front ends; api.ErrNotContact when there is no
// entry. An error from change stores nothing.
func (l *Contacts) Update(username string, change func(*store.Contact) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.h.Store().Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s is not in the list", api.ErrNotContact, username)
	}
	if err != nil {
		return err
	}
	if err := change(&c); err != nil {
		return err
	}
	if err := l.h.Store().PutContact(c); err != nil {
		return err
	}
	l.Changed(username)
	return nil
}

// Changed tells the front ends that username's entry changed or went away,
// and schedules a backup of the list.
func (l *Contacts) Changed(username string) {
	l.backupChanged()
	l.emit(username)
}

// emit tells the front ends that username's entry changed or went away.
func (l *Contacts) emit(username string) {
	c, err := l.h.Store().Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		l.h.Emit(api.Event{ContactRemoved: username})
		return
	}
	if err != nil {
		l.h.Log().Warn("reading contact", "username", username, "err", err)
		return
	}
	cc := l.h.View(c)
	l.h.Emit(api.Event{Contact: &cc})
}

// List is every entry as the front ends see it.
func (l *Contacts) List() ([]api.Contact, error) {
	cs, err := l.h.Store().Contacts()
	if err != nil {
		return nil, err
	}
	out := make([]api.Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, l.h.View(c))
	}
	return out, nil
}

// Accepted reports whether username is an accepted contact.
func (l *Contacts) Accepted(username string) bool {
	c, err := l.h.Store().Contact(username)
	return err == nil && api.Relation(c.Relation) == api.RelationAccepted
}

// Settings keys in the account store.
const (
	settingBlockedPrev = "blocked-prev." // + username: relation before a block
)

// Add sends username an authorization request, as MSN did.
func (l *Contacts) Add(username, message string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(message) > wire.MaxRequestMessage {
		return fmt.Errorf("%w: request message longer than %d bytes", api.ErrBadRequest, wire.MaxRequestMessage)
	}
	c, err := l.h.Store().Contact(username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = store.Contact{Username: username}
	case err != nil:
		return err
	}
	switch api.Relation(c.Relation) {
	case api.RelationAccepted, api.RelationPendingOut:
		return nil
	case api.RelationPendingIn:
		return l.accept(username)
	case api.RelationBlocked:
		return fmt.Errorf("%w: unblock %s first", api.ErrBlocked, username)
	}
	return l.become(c, api.RelationPendingOut, &wire.Payload{Kind: &wire.Payload_ContactRequest{ContactRequest: &wire.ContactRequest{Message: message}}})
}

// accepted is the answer yes.
func accepted() *wire.Payload {
	return &wire.Payload{Kind: &wire.Payload_ContactResponse{ContactResponse: &wire.ContactResponse{Accepted: true}}}
}

// become moves c into relation rel and stores it, sends say (the request or
// the answer that goes with the move, if any), then gives c our visibility
// token — after say, so a contact never gets a token before it knows of us
// — tells the front ends, and greets a contact just accepted with our
// presence. The caller holds l.mu.
func (l *Contacts) become(c store.Contact, rel api.Relation, say *wire.Payload) error {
	c.Relation = string(rel)
	c.Updated = l.h.Now()
	if err := l.h.Store().PutContact(c); err != nil {
		return err
	}
	if say != nil {
		if err := l.h.Enqueue(c.Username, say, nil); err != nil {
			return err
		}
	}
	if err := l.grantAndStore(&c); err != nil {
		return err
	}
	l.Changed(c.Username)
	if rel == api.RelationAccepted {
		l.h.Greet(c.Username)
	}
	return nil
}

// grantAndStore gives c our visibility token and stores c if that changed it.
func (l *Contacts) grantAndStore(c *store.Contact) error {
	changed, err := l.grantVisibility(c)
	if err != nil {
		return err
	}
	if changed {
		if err := l.h.Store().PutContact(*c); err != nil {
			return err
		}
	}
	l.h.Republish()
	return nil
}

// Accept answers username's request with yes.
func (l *Contacts) Accept(username string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accept(username)
}

// rowIn reads username's row, which must be in relation rel; otherwise
// the answer is refusal.
func (l *Contacts) rowIn(username string, rel api.Relation, refusal error) (store.Contact, error) {
	c, err := l.h.Store().Contact(username)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(c.Relation) != rel):
		return store.Contact{}, refusal
	case err != nil:
		return store.Contact{}, err
	}
	return c, nil
}

// accept answers username's request with yes; the caller holds l.mu.
func (l *Contacts) accept(username string) error {
	c, err := l.rowIn(username, api.RelationPendingIn, fmt.Errorf("%w: no request from %s", api.ErrBadRequest, username))
	if err != nil {
		return err
	}
	c.RequestMessage = ""
	return l.become(c, api.RelationAccepted, accepted())
}

// Decline answers username's request with no.
func (l *Contacts) Decline(username string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.rowIn(username, api.RelationPendingIn, fmt.Errorf("%w: no request from %s", api.ErrBadRequest, username)); err != nil {
		return err
	}
	if err := l.h.Store().DeleteContact(username); err != nil {
		return err
	}
	if err := l.h.Enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactResponse{ContactResponse: &wire.ContactResponse{Accepted: false}}}, nil); err != nil {
		return err
	}
	l.Changed(username)
	return nil
}

// Block blocks username. A blocked user sees us offline and whatever
// it sends is refused exactly as a stranger's would be.
func (l *Contacts) Block(username string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.h.Store().Contact(username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = store.Contact{Username: username}
	case err != nil:
		return err
	}
	if api.Relation(c.Relation) == api.RelationBlocked {
		return nil
	}
	wasAccepted := api.Relation(c.Relation) == api.RelationAccepted
	if err := l.h.Store().SetSetting(settingBlockedPrev+username, c.Relation); err != nil {
		return err
	}
	c.Relation = string(api.RelationBlocked)
	c.Status = string(api.StatusOffline)
	c.Updated = l.h.Now()
	if err := l.h.Store().PutContact(c); err != nil {
		return err
	}
	if wasAccepted {
		l.h.HideFrom(username)
	}
	l.h.Republish() // the blocked user no longer finds us
	l.Changed(username)
	return nil
}

// Unblock lifts a block. A contact that was accepted before the
// block is accepted again; anyone else is simply forgotten.
func (l *Contacts) Unblock(username string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.rowIn(username, api.RelationBlocked, fmt.Errorf("%w: %s is not blocked", api.ErrBadRequest, username))
	if err != nil {
		return err
	}
	prev, err := l.h.Store().Setting(settingBlockedPrev + username)
	if err != nil {
		return err
	}
	if api.Relation(prev) == api.RelationAccepted {
		c.Relation = prev
		c.Updated = l.h.Now()
		err = l.h.Store().PutContact(c)
	} else {
		err = l.h.Store().DeleteContact(username)
	}
	if err != nil {
		return err
	}
	if err := l.h.Store().SetSetting(settingBlockedPrev+username, ""); err != nil {
		return err
	}
	l.Changed(username)
	if api.Relation(prev) == api.RelationAccepted {
		l.h.Republish()
		l.h.Greet(username)
	}
	return nil
}

// Remove drops username from our list. Relations are symmetric: the other side is
// told, and drops us too.
func (l *Contacts) Remove(username string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.h.Store().Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := l.h.Store().DeleteContact(username); err != nil {
		return err
	}
	if api.Relation(c.Relation) != api.RelationBlocked {
		if err := l.h.Enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactRemoved{ContactRemoved: &wire.ContactRemoved{}}}, nil); err != nil {
			return err
		}
	}
	l.h.Republish()
	l.Changed(username)
	return nil
}

// ---------------------------------------------------------------- request limits

// requestLimiter bounds contact requests from strangers: per sender and in
// total, so nobody can flood a user with requests.
type requestLimiter struct {
	mu     sync.Mutex
	total  *rate.Limiter
	perKey map[string]*rate.Limiter
}

func newRequestLimiter() *requestLimiter {
	return &requestLimiter{
		total:  rate.NewLimiter(rate.Every(2*time.Second), 30),
		perKey: map[string]*rate.Limiter{},
	}
}

func (l *requestLimiter) allow(from string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	pl, ok := l.perKey[from]
	if !ok {
		if len(l.perKey) > 10000 {
			l.perKey = map[string]*rate.Limiter{} // bounded memory; total still applies
		}
		pl = rate.NewLimiter(rate.Every(10*time.Minute), 3)
		l.perKey[from] = pl
	}
	return pl.Allow() && l.total.Allow()
}

// ---------------------------------------------------------------- the list as the user arranges it

// Limits of the names a user gives in their own list.
const (
	MaxGroupName = 64
	MaxAlias     = wire.MaxNick
)

// listName checks a group name or alias: printable UTF-8 of at most max
// bytes, spaces at either end trimmed.
func listName(what, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > max {
		return "", fmt.Errorf("%w: %s longer than %d bytes", api.ErrBadRequest, what, max)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", fmt.Errorf("%w: %s must be printable text", api.ErrBadRequest, what)
	}
	return v, nil
}

// SetGroup files username under group in our list ("" for none).
func (l *Contacts) SetGroup(username, group string) error {
	group, err := listName("group name", group, MaxGroupName)
	if err != nil {
		return err
	}
	return l.Update(username, func(c *store.Contact) error { c.Group = group; return nil })
}

// Rename gives username a name of ours in our list ("" shows its nick).
func (l *Contacts) Rename(username, alias string) error {
	alias, err := listName("name", alias, MaxAlias)
	if err != nil {
		return err
	}
	return l.Update(username, func(c *store.Contact) error { c.Alias = alias; return nil })
}

// contactKinds are the payload kinds of the contact list: requests, their
// answers and removals.
func (l *Contacts) contactKinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_ContactRequest)(nil), From: payload.Anyone, Handle: l.receiveRequest},
		// An answer to no question of ours is stale or unsolicited:
		// acknowledged, nothing done.
		{Of: (*wire.Payload_ContactResponse)(nil), From: payload.From{Relations: []api.Relation{api.RelationPendingOut}}, Handle: l.receiveResponse},
		// A removal from a stranger or a blocked user changes nothing.
		{Of: (*wire.Payload_ContactRemoved)(nil), From: payload.From{Relations: []api.Relation{api.RelationAccepted, api.RelationPendingIn, api.RelationPendingOut}}, Handle: l.receiveRemoved},
	}
}

func (l *Contacts) receiveResponse(in *payload.Inbound) error {
	c, from := in.Contact, in.From()
	if in.Payload.GetContactResponse().Accepted {
		return l.become(c, api.RelationAccepted, nil)
	}
	if err := l.h.Store().DeleteContact(from); err != nil {
		return err
	}
	l.Changed(from)
	return nil
}

func (l *Contacts) receiveRemoved(in *payload.Inbound) error {
	if err := l.h.Store().DeleteContact(in.From()); err != nil {
		return err
	}
	l.Changed(in.From())
	return nil
}

func (l *Contacts) receiveRequest(in *payload.Inbound) error {
	c, t, req := in.Contact, in.Ticket, in.Payload.GetContactRequest()
	from := t.Username
	if len(req.Message) > wire.MaxRequestMessage {
		return payload.ErrBadRequest
	}
	switch api.Relation(c.Relation) {
	case api.RelationBlocked:
		return nil // silently dropped: the sender cannot tell a block from a pending request
	case api.RelationAccepted:
		// They lost their list (new install): confirm again.
		return l.h.Enqueue(from, accepted(), nil)
	case api.RelationPendingIn:
		return nil // duplicate
	case api.RelationPendingOut:
		// Both asked: that is a yes from both sides.
		return l.become(c, api.RelationAccepted, accepted())
	}
	if !l.limiter.allow(from) {
		return payload.ErrRateLimited
	}
	note := text.Clean(req.Message) // a stranger's words, shown as they are (issue 13, item 12)
	c = store.Contact{
		Username: from, Relation: string(api.RelationPendingIn), RequestMessage: note,
		PeerID: t.Peer.String(), Ticket: wire.MustMarshal(t.Signed), Updated: l.h.Now(),
	}
	if err := l.h.Store().PutContact(c); err != nil {
		return err
	}
	l.h.Emit(api.Event{ContactRequest: &api.ContactRequestEvent{From: from, Message: note}})
	l.Changed(from)
	return nil
}
