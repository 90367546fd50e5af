package ticket

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// MaxPeerRecord bounds a signed peer record anyone stores or passes on, so
// that lists of them fit in one frame.
const MaxPeerRecord = 8 << 10

// ErrBadRecord means a signed peer record is malformed, too large, or not
// signed by the peer it should be.
var ErrBadRecord = errors.New("peer record invalid")

// VerifyRecord checks that envelope is a libp2p signed envelope holding a
// peer.PeerRecord for signer, signed by signer itself, and returns the
// record. It lives beside tickets because every service that accepts a
// ticket holder's addresses (rendezvous, registry) needs the same check.
func VerifyRecord(signer peer.ID, envelope []byte) (*peer.PeerRecord, error) {
	if len(envelope) == 0 || len(envelope) > MaxPeerRecord {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRecord, len(envelope), MaxPeerRecord)
	}
	k := recordKey(signer, envelope)
	if rec := verifiedRecords.get(k); rec != nil {
		return rec, nil
	}
	var rec peer.PeerRecord
	env, err := record.ConsumeTypedEnvelope(envelope, &rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	// ConsumeTypedEnvelope checks the signature under the peer-record domain
	// but not the payload type; a record of another type must not pass.
	if !bytes.Equal(env.PayloadType, peer.PeerRecordEnvelopePayloadType) {
		return nil, fmt.Errorf("%w: payload type %x", ErrBadRecord, env.PayloadType)
	}
	by, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signer: %v", ErrBadRecord, err)
	}
	if by != signer || rec.PeerID != signer {
		return nil, fmt.Errorf("%w: signed by %s for %s, want %s", ErrBadRecord, by, rec.PeerID, signer)
	}
	verifiedRecords.add(k, &rec)
	return &rec, nil
}

// SealRecord signs a peer record of ai with key (which must be ai.ID's) and
// returns the marshalled envelope, the form VerifyRecord checks.
func SealRecord(key crypto.PrivKey, ai peer.AddrInfo) ([]byte, error) {
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(ai), key)
	if err != nil {
		return nil, fmt.Errorf("sealing peer record: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding peer record: %w", err)
	}
	return b, nil
}
