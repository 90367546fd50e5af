package ticket

import (
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// verifiedRecords remembers the signed peer records already checked, so a
// record a node keeps getting back — its contacts' records, in every
// lookup, until they publish anew — costs a hash, not an Ed25519
// verification (about 70 µs; a lookup of 50 contacts spent most of its
// time on them). Only records that verified are remembered, under the
// hash of their signer and exact bytes: a hit stands for a verification of
// exactly this envelope as signed by this peer for this peer, and gives
// back a copy of what that verification returned.
var verifiedRecords = recordMemo{seen: map[[sha256.Size]byte]*peer.PeerRecord{}}

// recordMemoSize bounds the remembered records (each its addresses, well
// under MaxPeerRecord): a node sees its contacts', a supernode its
// publishers'. When full it is emptied and fills again.
const recordMemoSize = 4096

type recordMemo struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]*peer.PeerRecord
}

// recordKey is the hash of a record's signer and envelope, length-prefixed
// as sigKey does.
func recordKey(signer peer.ID, envelope []byte) [sha256.Size]byte {
	return sigKey(signer, "peer-record", envelope, nil)
}

// get returns a copy of the record remembered under k, or nil.
func (m *recordMemo) get(k [sha256.Size]byte) *peer.PeerRecord {
	m.mu.Lock()
	rec := m.seen[k]
	m.mu.Unlock()
	if rec == nil {
		return nil
	}
	return copyRecord(rec)
}

// add remembers a copy of rec, so the caller may change its own.
func (m *recordMemo) add(k [sha256.Size]byte, rec *peer.PeerRecord) {
	c := copyRecord(rec)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) >= recordMemoSize {
		clear(m.seen)
	}
	m.seen[k] = c
}

// copyRecord copies rec and its address list (addresses themselves are
// immutable).
func copyRecord(rec *peer.PeerRecord) *peer.PeerRecord {
	c := *rec
	c.Addrs = slices.Clone(rec.Addrs)
	return &c
}
