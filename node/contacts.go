package node

import (
	"context"
	"errors"
	"eserver/node/api"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"eserver/node/store"
	"eserver/node/wire"
)

// Settings keys in the account store.
const (
	settingBlockedPrev = "blocked-prev." // + username: relation before a block
)

func (s *session) toContact(c store.Contact) api.Contact {
	out := api.Contact{
		Via:            s.discovery.Via(c),
		Username:       c.Username,
		Relation:       api.Relation(c.Relation),
		RequestMessage: c.RequestMessage,
		Presence:       api.Presence{Status: api.Status(c.Status), Nick: c.Nick, Subnick: c.Subnick, Media: c.Media, Avatar: c.Avatar},
		Group:          c.Group,
		Alias:          c.Alias,
	}
	out.Verified = s.keys.Verified(c)
	if !c.KeyChanged.IsZero() {
		at := c.KeyChanged
		out.KeyChanged = &at
	}
	// Presence is only meaningful for accepted contacts; others always
	// show offline, whatever was stored before.
	if out.Relation != api.RelationAccepted || out.Status == "" {
		out.Status = api.StatusOffline
	}
	if out.Relation == api.RelationAccepted {
		out.AvatarPath = s.n.picturePath(c.Avatar)
	} else {
		out.Avatar = ""
	}
	return out
}

func (s *session) contacts() ([]api.Contact, error) {
	cs, err := s.store.Contacts()
	if err != nil {
		return nil, err
	}
	out := make([]api.Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.toContact(c))
	}
	return out, nil
}

func (s *session) emitContact(username string) {
	s.backupChanged()
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		s.n.emit(api.Event{ContactRemoved: username})
		return
	}
	if err != nil {
		s.n.log.Warn("reading contact", "username", username, "err", err)
		return
	}
	cc := s.toContact(c)
	s.n.emit(api.Event{Contact: &cc})
}

// Contacts implements API.
func (n *Node) Contacts(ctx context.Context) ([]api.Contact, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.contacts()
}

func (n *Node) sessionFor(username string) (*session, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	if wire.ValidUsername(username) != nil {
		return nil, fmt.Errorf("%w: invalid username %q", api.ErrBadRequest, username)
	}
	if username == s.me() {
		return nil, fmt.Errorf("%w: that is you", api.ErrBadRequest)
	}
	return s, nil
}

// AddContact implements API: it sends an authorization request, as MSN did.
func (n *Node) AddContact(ctx context.Context, username, message string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	if len(message) > wire.MaxRequestMessage {
		return fmt.Errorf("%w: request message longer than %d bytes", api.ErrBadRequest, wire.MaxRequestMessage)
	}
	c, err := s.store.Contact(username)
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
		return s.accept(username)
	case api.RelationBlocked:
		return fmt.Errorf("%w: unblock %s first", api.ErrBlocked, username)
	}
	c.Relation = string(api.RelationPendingOut)
	c.Updated = s.n.cfg.Now()
	if err := s.store.PutContact(c); err != nil {
		return err
	}
	if err := s.enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactRequest{ContactRequest: &wire.ContactRequest{Message: message}}}, nil); err != nil {
		return err
	}
	if err := s.grantAndStore(&c); err != nil {
		return err
	}
	s.emitContact(username)
	return nil
}

// grantAndStore gives c our visibility token and stores c if that changed it.
func (s *session) grantAndStore(c *store.Contact) error {
	changed, err := s.grantVisibility(c)
	if err != nil {
		return err
	}
	if changed {
		if err := s.store.PutContact(*c); err != nil {
			return err
		}
	}
	s.visibilityChanged()
	return nil
}

// AcceptContact implements API.
func (n *Node) AcceptContact(ctx context.Context, username string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	return s.accept(username)
}

// accept answers username's request with yes; the caller holds contactMu.
func (s *session) accept(username string) error {
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(c.Relation) != api.RelationPendingIn) {
		return fmt.Errorf("%w: no request from %s", api.ErrBadRequest, username)
	}
	if err != nil {
		return err
	}
	c.Relation = string(api.RelationAccepted)
	c.RequestMessage = ""
	c.Updated = s.n.cfg.Now()
	if err := s.store.PutContact(c); err != nil {
		return err
	}
	if err := s.enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactResponse{ContactResponse: &wire.ContactResponse{Accepted: true}}}, nil); err != nil {
		return err
	}
	if err := s.grantAndStore(&c); err != nil {
		return err
	}
	s.emitContact(username)
	s.presence.SendTo(username)
	return nil
}

// DeclineContact implements API.
func (n *Node) DeclineContact(ctx context.Context, username string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(c.Relation) != api.RelationPendingIn) {
		return fmt.Errorf("%w: no request from %s", api.ErrBadRequest, username)
	}
	if err != nil {
		return err
	}
	if err := s.store.DeleteContact(username); err != nil {
		return err
	}
	if err := s.enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactResponse{ContactResponse: &wire.ContactResponse{Accepted: false}}}, nil); err != nil {
		return err
	}
	s.emitContact(username)
	return nil
}

// BlockContact implements API. A blocked user sees us offline and whatever
// it sends is refused exactly as a stranger's would be.
func (n *Node) BlockContact(ctx context.Context, username string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
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
	if err := s.store.SetSetting(settingBlockedPrev+username, c.Relation); err != nil {
		return err
	}
	c.Relation = string(api.RelationBlocked)
	c.Status = string(api.StatusOffline)
	c.Updated = s.n.cfg.Now()
	if err := s.store.PutContact(c); err != nil {
		return err
	}
	if wasAccepted {
		s.presence.SendOffline(username)
	}
	s.visibilityChanged() // the blocked user no longer finds us
	s.emitContact(username)
	return nil
}

// UnblockContact implements API. A contact that was accepted before the
// block is accepted again; anyone else is simply forgotten.
func (n *Node) UnblockContact(ctx context.Context, username string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && api.Relation(c.Relation) != api.RelationBlocked) {
		return fmt.Errorf("%w: %s is not blocked", api.ErrBadRequest, username)
	}
	if err != nil {
		return err
	}
	prev, err := s.store.Setting(settingBlockedPrev + username)
	if err != nil {
		return err
	}
	if api.Relation(prev) == api.RelationAccepted {
		c.Relation = prev
		c.Updated = s.n.cfg.Now()
		err = s.store.PutContact(c)
	} else {
		err = s.store.DeleteContact(username)
	}
	if err != nil {
		return err
	}
	if err := s.store.SetSetting(settingBlockedPrev+username, ""); err != nil {
		return err
	}
	s.emitContact(username)
	if api.Relation(prev) == api.RelationAccepted {
		s.visibilityChanged()
		s.presence.SendTo(username)
	}
	return nil
}

// RemoveContact implements API. Relations are symmetric: the other side is
// told, and drops us too.
func (n *Node) RemoveContact(ctx context.Context, username string) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.store.DeleteContact(username); err != nil {
		return err
	}
	if api.Relation(c.Relation) != api.RelationBlocked {
		if err := s.enqueue(username, &wire.Payload{Kind: &wire.Payload_ContactRemoved{ContactRemoved: &wire.ContactRemoved{}}}, nil); err != nil {
			return err
		}
	}
	s.visibilityChanged()
	s.emitContact(username)
	return nil
}

// SetPresence implements API.
func (n *Node) SetPresence(ctx context.Context, u api.PresenceUpdate) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.presence.Set(u)
}

// goodbye tells online contacts we are leaving, best effort and bounded.
func (s *session) goodbye(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.mu.Lock()
	cs := make([]*courier, 0, len(s.couriers))
	for _, c := range s.couriers {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sayGoodbye(ctx)
		}()
	}
	wg.Wait()
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
	maxGroupName = 64
	maxAlias     = wire.MaxNick
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

// arrange changes one contact's row under contactMu and tells the front
// ends (and the backup).
func (n *Node) arrange(username string, change func(*store.Contact)) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s is not in the list", api.ErrNotContact, username)
	}
	if err != nil {
		return err
	}
	change(&c)
	if err := s.store.PutContact(c); err != nil {
		return err
	}
	s.emitContact(username)
	return nil
}

// SetContactGroup implements API.
func (n *Node) SetContactGroup(ctx context.Context, username, group string) error {
	group, err := listName("group name", group, maxGroupName)
	if err != nil {
		return err
	}
	return n.arrange(username, func(c *store.Contact) { c.Group = group })
}

// RenameContact implements API.
func (n *Node) RenameContact(ctx context.Context, username, alias string) error {
	alias, err := listName("name", alias, maxAlias)
	if err != nil {
		return err
	}
	return n.arrange(username, func(c *store.Contact) { c.Alias = alias })
}
