package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/store"
	"eserver/node/wire"
)

// The session's side of call.Host.

// SendNow sends p to username's device (every device: "") if it can go
// now, never storing or mailing it.
func (s *session) SendNow(username string, device peer.ID, p *wire.Payload, done func(peer.ID, error)) int {
	return s.delivery.SendNow(username, device, p, done)
}

// Record stores a history entry. It comes live as its own event (a
// call's end), as nudges and transfers do, not as a message.
func (s *session) Record(m store.Message) {
	if _, err := s.store.AddEntry(m); err != nil {
		s.n.log.Warn("recording a history entry", "kind", m.Kind, "with", m.Peer, "err", err)
	}
}
