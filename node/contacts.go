package node

import (
	"context"
	"errors"
	"fmt"

	"eserver/node/api"
	"eserver/node/login"
	"eserver/node/store"
	"eserver/node/text"
	"eserver/node/wire"
)

// The contact list's API (the list itself is node/contacts).

// Contacts implements API.
func (n *Node) Contacts(ctx context.Context) ([]api.Contact, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.contacts.List()
}

// sessionFor returns the session, if username is a name someone else could
// have.
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

// listCommand runs a contact-list command for username.
func (n *Node) listCommand(username string, do func(s *session) error) error {
	s, err := n.sessionFor(username)
	if err != nil {
		return err
	}
	return do(s)
}

// AddContact implements API: it sends an authorization request, as MSN did.
// A name new to our list is first looked up at the auth server, so a
// mistyped one fails at once with api.ErrNoSuchUser and leaves no entry
// that nobody would ever answer.
func (n *Node) AddContact(ctx context.Context, username, message string) error {
	return n.listCommand(username, func(s *session) error {
		if err := s.checkUserExists(ctx, username); err != nil {
			return err
		}
		return s.contacts.Add(username, message)
	})
}

// checkUserExists asks the auth server whether username has an account,
// unless it is in our list already (then it does, or did: what Add does
// with it is the list's business).
func (s *session) checkUserExists(ctx context.Context, username string) error {
	if _, err := s.store.Contact(username); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
	defer cancel()
	exists, err := login.UserExists(ctx, s.host, s.server, s.tk().Signed, username)
	switch {
	case errors.Is(err, login.ErrBadRequest):
		// A server from before lookups: add as before, unchecked.
		s.n.log.Debug("the auth server cannot look users up; adding unchecked", "user", username, "err", err)
		return nil
	case err != nil:
		return mapLoginErr(err)
	case !exists:
		return fmt.Errorf("%w: no account is called %q", api.ErrNoSuchUser, username)
	}
	return nil
}

// AcceptContact implements API.
func (n *Node) AcceptContact(ctx context.Context, username string) error {
	return n.listCommand(username, func(s *session) error { return s.contacts.Accept(username) })
}

// DeclineContact implements API.
func (n *Node) DeclineContact(ctx context.Context, username string) error {
	return n.listCommand(username, func(s *session) error { return s.contacts.Decline(username) })
}

// BlockContact implements API. A blocked user sees us offline and whatever
// it sends is refused exactly as a stranger's would be.
func (n *Node) BlockContact(ctx context.Context, username string) error {
	return n.listCommand(username, func(s *session) error { return s.contacts.Block(username) })
}

// UnblockContact implements API.
func (n *Node) UnblockContact(ctx context.Context, username string) error {
	return n.listCommand(username, func(s *session) error { return s.contacts.Unblock(username) })
}

// RemoveContact implements API.
func (n *Node) RemoveContact(ctx context.Context, username string) error {
	return n.listCommand(username, func(s *session) error { return s.contacts.Remove(username) })
}

// SetContactGroup implements API.
func (n *Node) SetContactGroup(ctx context.Context, username, group string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.contacts.SetGroup(username, group)
}

// RenameContact implements API.
func (n *Node) RenameContact(ctx context.Context, username, alias string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.contacts.Rename(username, alias)
}

// SetPresence implements API.
func (n *Node) SetPresence(ctx context.Context, u api.PresenceUpdate) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.presence.Set(u)
}

// View is a contact row as the front ends see it: the row, plus how we
// reach the contact now (discovery), whether its device is the one the user
// verified (keys), and its picture as a local file. What the contact chose
// (nick, personal message, now playing, request note) is cleaned when it
// arrives; cleaning again here covers rows stored before that, so no front
// end shows a bidi override (issue 13, item 12).
func (s *session) View(c store.Contact) api.Contact {
	out := api.Contact{
		Via:            s.discovery.Via(c),
		Username:       c.Username,
		Relation:       api.Relation(c.Relation),
		RequestMessage: text.Clean(c.RequestMessage),
		Presence: api.Presence{Status: api.Status(c.Status), Nick: text.Clean(c.Nick), Subnick: text.Clean(c.Subnick),
			Media: text.Clean(c.Media), Avatar: c.Avatar},
		Group: c.Group,
		Alias: c.Alias,
	}
	out.Verified = s.keys.Verified(c)
	out.Unread = s.conv.Unread(c.Username)
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
