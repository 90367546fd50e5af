// Package supernode holds the services a supernode runs on any libp2p host.
// The first is rendezvous: ticket holders publish their signed peer records
// and look up their contacts' records, so peers can find each other before
// presence, mailboxes and relay exist.
//
// Every service handles a stream in the seed's layers: listen (the libp2p
// stream handler), authentication (the ticket check against the remote peer),
// process (the request's handler), output (encode and send the answer).
package supernode

import (
	"crypto/sha256"
	"eserver/node/ticket"

	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxPeerRecord bounds the signed peer record a publisher may store, so that
// one looked-up entry always fits in a rendezvous frame.
const MaxPeerRecord = ticket.MaxPeerRecord

// Stable error codes carried in RendezvousResponse.error.
const (
	CodeUnauthorized = "unauthorized"
	CodeBadRequest   = "bad_request"
	CodeTooMany      = "too_many"
)

// ErrBadRecord is a peer record that does not open or names another peer.
var ErrBadRecord = ticket.ErrBadRecord

// openRecord checks that b is a libp2p signed envelope holding a peer record
// for want, signed by want itself, and returns the record.
func openRecord(b []byte, want peer.ID) (*peer.PeerRecord, error) {
	return ticket.VerifyRecord(want, b)
}

// MaxAllowed bounds the visibility-token hashes one user may publish: its
// contact list.
const MaxAllowed = 5000

// VisibilityTokenSize is the size of a visibility token: a random secret a
// user gives each contact, which the contact presents to look up the user's
// peer record.
const VisibilityTokenSize = 16

// VisibilityHash is what a user publishes for a token it gave out: the
// supernode can check a presented token but learns nothing it could present.
func VisibilityHash(token []byte) [32]byte {
	return sha256.Sum256(append([]byte("eserver-visibility-v1"), token...))
}
