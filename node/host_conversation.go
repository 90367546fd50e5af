package node

import (
	"errors"
	"sync"
	"time"

	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// The host methods node/conversation needs beyond those in host.go.

// EnqueueFanout stores one multi-party event for several members (and m,
// the message it carries, if any, in conversation conv's history) in one
// transaction, and wakes each member's courier.
func (s *session) EnqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry) error {
	return s.delivery.EnqueueFanout(m, conv, entries)
}

// EnqueueFanoutWith is EnqueueFanout with ops committed in the same
// transaction (a conversation event applied and passed on at once).
func (s *session) EnqueueFanoutWith(conv string, entries []store.OutboxEntry, ops ...store.Op) error {
	return s.delivery.EnqueueFanoutWith(nil, conv, entries, ops...)
}

// Accepted reports whether username is our accepted contact.
func (s *session) Accepted(username string) bool { return s.contacts.Accepted(username) }

// ContactLock is the lock every read-modify-write of a contact row (and of
// a conversation) holds; payload handlers run under it.
func (s *session) ContactLock() sync.Locker { return s.contacts.Lock() }

// Sign signs b with our device key.
func (s *session) Sign(b []byte) ([]byte, error) {
	key := s.host.Peerstore().PrivKey(s.host.ID())
	if key == nil {
		return nil, errors.New("no device key")
	}
	return key.Sign(b)
}

// AuthenticateAt is the pipeline's Authenticate stage for an item that did
// not come from its author's own stream (pipeline.Authenticator.AuthenticateAt).
func (s *session) AuthenticateAt(st *wire.SignedTicket, at time.Time) (*ticket.Ticket, error) {
	return s.auth.AuthenticateAt(st, at)
}
