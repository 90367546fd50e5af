package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Contact is one row of the contact list.
type Contact struct {
	Username, Relation           string
	Status, Nick, Subnick, Media string
	RequestMessage               string
	PeerID                       string
	Ticket                       []byte // last seen wire.SignedTicket bytes
	Updated                      time.Time
	// MyToken is the visibility token we gave the contact; TheirToken the
	// one it gave us (see supernode/client.VisibilityHash).
	MyToken, TheirToken []byte
	// VerifiedKey is the fingerprint of the device identity the user
	// verified (safety numbers compared); KeyChanged is when the contact's
	// device identity last changed from one we knew (zero: never).
	VerifiedKey []byte
	KeyChanged  time.Time
	// Group and Alias are how the user files and names the contact in
	// their list; Avatar is the hex SHA-256 of the display picture the
	// contact advertises ("" = the default picture).
	Group, Alias, Avatar string
	// AccountKey is the contact's account identity (Ed25519 public key)
	// as first seen, or as the user accepted it when it changed; nil
	// while none was seen (an older peer). Devices is the newest device
	// list (wire.SignedAccountDevices bytes) it signed that we have seen.
	AccountKey, Devices []byte
}

const contactColumns = `username, relation, status, nick, subnick, media, request_message, peer_id, ticket, updated, my_token, their_token, verified_key, key_changed, grp, alias, avatar, account_key, devices`

func scanContact(sc interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var updated, changed int64
	err := sc.Scan(&c.Username, &c.Relation, &c.Status, &c.Nick, &c.Subnick, &c.Media,
		&c.RequestMessage, &c.PeerID, &c.Ticket, &updated, &c.MyToken, &c.TheirToken, &c.VerifiedKey, &changed,
		&c.Group, &c.Alias, &c.Avatar, &c.AccountKey, &c.Devices)
	c.Updated = fromNanos(updated)
	c.KeyChanged = fromNanos(changed)
	return c, err
}

// Contacts returns every contact, ordered by username.
func (s *Store) Contacts() ([]Contact, error) {
	rows, err := s.db.Query(`SELECT ` + contactColumns + ` FROM contacts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	defer rows.Close()
	var cs []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: contacts: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	return cs, nil
}

// Contact returns the contact username, or ErrNotFound.
func (s *Store) Contact(username string) (Contact, error) {
	c, err := scanContact(s.db.QueryRow(`SELECT `+contactColumns+` FROM contacts WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("store: contact %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("store: contact %q: %w", username, err)
	}
	return c, nil
}

// PutContact inserts c or replaces the contact with the same username.
func (s *Store) PutContact(c Contact) error {
	if c.Username == "" || c.Relation == "" {
		return fmt.Errorf("store: put contact %q: empty username or relation", c.Username)
	}
	_, err := s.db.Exec(`INSERT INTO contacts (`+contactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET relation = excluded.relation, status = excluded.status,
			nick = excluded.nick, subnick = excluded.subnick, media = excluded.media,
			request_message = excluded.request_message, peer_id = excluded.peer_id,
			ticket = excluded.ticket, updated = excluded.updated,
			my_token = excluded.my_token, their_token = excluded.their_token,
			verified_key = excluded.verified_key, key_changed = excluded.key_changed,
			grp = excluded.grp, alias = excluded.alias, avatar = excluded.avatar,
			account_key = excluded.account_key, devices = excluded.devices`,
		c.Username, c.Relation, c.Status, c.Nick, c.Subnick, c.Media, c.RequestMessage, c.PeerID,
		c.Ticket, nanos(c.Updated), c.MyToken, c.TheirToken, c.VerifiedKey, nanos(c.KeyChanged),
		c.Group, c.Alias, c.Avatar, c.AccountKey, c.Devices)
	if err != nil {
		return fmt.Errorf("store: put contact %q: %w", c.Username, err)
	}
	return nil
}

// DeleteContact removes the contact username; ErrNotFound if there is none.
// The conversation history is kept.
func (s *Store) DeleteContact(username string) error {
	res, err := s.db.Exec(`DELETE FROM contacts WHERE username = ?`, username)
	if err != nil {
		return fmt.Errorf("store: delete contact %q: %w", username, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete contact %q: %w", username, err)
	} else if n == 0 {
		return fmt.Errorf("store: delete contact %q: %w", username, ErrNotFound)
	}
	return nil
}
