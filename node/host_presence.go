package node

import (
	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// The session's side of presence.Host.

// AccountChanged tells the front ends our account as it is now.
func (s *session) AccountChanged() {
	acct := s.account()
	s.n.emit(api.Event{Account: &acct})
}

// SendPresence puts p in username's courier slot for presence.
func (s *session) SendPresence(username string, p *wire.Presence) {
	s.delivery.SendPresence(username, p)
}

// Signal queues a signal in username's courier for its next round.
func (s *session) Signal(username string, kind wire.Signal_Kind) (<-chan error, bool) {
	return s.delivery.Signal(username, kind)
}

// VisibilityChanged re-publishes who may see our record.
func (s *session) VisibilityChanged() { s.discovery.Republish() }

// ContactPicture notes the picture contact c shows (pictures.go).
func (s *session) ContactPicture(c *store.Contact, raw []byte) error {
	return s.contactPicture(c, raw)
}
