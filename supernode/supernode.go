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
	"bytes"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// MaxPeerRecord bounds the signed peer record a publisher may store, so that
// one looked-up entry always fits in a rendezvous frame.
const MaxPeerRecord = 8 << 10

// Stable error codes carried in RendezvousResponse.error.
const (
	CodeUnauthorized = "unauthorized"
	CodeBadRequest   = "bad_request"
	CodeTooMany      = "too_many"
)

// Errors callers branch on.
var (
	ErrUnauthorized = errors.New("rendezvous: unauthorized")
	ErrBadRequest   = errors.New("rendezvous: bad request")
	ErrTooMany      = errors.New("rendezvous: too many usernames in one lookup")
	ErrBadRecord    = errors.New("peer record invalid")
)

// openRecord checks that b is a libp2p signed envelope holding a peer record
// for want, signed by want itself, and returns the record.
func openRecord(b []byte, want peer.ID) (*peer.PeerRecord, error) {
	if len(b) == 0 || len(b) > MaxPeerRecord {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRecord, len(b), MaxPeerRecord)
	}
	var rec peer.PeerRecord
	env, err := record.ConsumeTypedEnvelope(b, &rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	// ConsumeTypedEnvelope checks the signature under the peer-record domain
	// but not the payload type; a record of another type must not pass.
	if !bytes.Equal(env.PayloadType, peer.PeerRecordEnvelopePayloadType) {
		return nil, fmt.Errorf("%w: payload type %x", ErrBadRecord, env.PayloadType)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signer: %v", ErrBadRecord, err)
	}
	if signer != want || rec.PeerID != want {
		return nil, fmt.Errorf("%w: signed by %s for %s, want %s", ErrBadRecord, signer, rec.PeerID, want)
	}
	return &rec, nil
}

// codeErr maps an error code from a response to a sentinel.
func codeErr(code string) error {
	switch code {
	case "":
		return nil
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeBadRequest:
		return ErrBadRequest
	case CodeTooMany:
		return ErrTooMany
	default:
		return fmt.Errorf("rendezvous: unknown error code %q", code)
	}
}
