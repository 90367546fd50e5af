package node

import (
	"eserver/node/api"
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

// OfferAvatar offers our picture to a contact as a transfer.
func (s *session) OfferAvatar(to, path string) error { return s.files.OfferAvatar(to, path) }

// FetchAvatar takes a contact's offer of its picture into dir.
func (s *session) FetchAvatar(from string, o *wire.FileOffer, dir string) error {
	return s.files.FetchAvatar(from, o, dir)
}
