package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/ticket"
)

// The session's side of discovery.Host.

// Allowed are the visibility tokens that may see our record now.
func (s *session) Allowed() [][]byte { return s.contacts.Allowed() }

// Tokens are, by username, the visibility tokens contacts gave us.
func (s *session) Tokens() map[string][]byte { return s.contacts.Tokens() }

// PublishPrekeys puts our prekey bundle at our homes.
func (s *session) PublishPrekeys(ctx context.Context) error { return s.keys.Publish(ctx, false) }

// Greet sends our presence to username.
func (s *session) Greet(username string) { s.presence.SendTo(username) }

// Poke tries delivering what waits for username now.
func (s *session) Poke(username string) { s.delivery.Poke(username) }

// HomesChanged looks in the new homes' mailboxes.
func (s *session) HomesChanged() { s.delivery.PokeMail() }

// SawDevice records the device a contact was last seen on.
func (s *session) SawDevice(username string, t *ticket.Ticket) {
	s.contacts.Locked(func() error {
		c, err := s.store.Contact(username)
		if err != nil || api.Relation(c.Relation) == api.RelationBlocked || c.PeerID == t.Peer.String() {
			return nil
		}
		s.keys.NoteDevice(&c, t)
		if err := s.store.PutContact(c); err != nil {
			s.n.log.Warn("remembering contact device", "username", username, "err", err)
			return nil
		}
		s.contacts.Changed(username)
		return nil
	})
}

// DeviceGone forgets a contact's device when the last connection to it
// closed: a crashed or unplugged client says no goodbye. The contact shows
// offline only once its last device went (node/presence).
func (s *session) DeviceGone(p peer.ID) {
	s.contacts.Locked(func() error { s.presence.DeviceGone(p); return nil })
}
