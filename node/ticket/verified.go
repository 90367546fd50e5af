package ticket

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// verifiedSigs remembers the auth server's signatures already checked, so
// the same ticket presented again — with every request a device makes,
// inside every room message it signs, by every member who reads that
// message — costs a hash, not an Ed25519 verification (about 50 µs). Only
// signatures that verified are remembered: a forger cannot fill it, and
// a hit stands for a verification of exactly these bytes under this
// server's key and context. Expiry and everything else in the document
// are still checked on every use.
var verifiedSigs = sigMemo{seen: map[[sha256.Size]byte]struct{}{}}

// sigMemoSize bounds the remembered signatures (32 bytes each): a
// supernode sees its nodes' tickets, a node its contacts' and its rooms'
// authors'. When full it is emptied and fills again.
const sigMemoSize = 16384

type sigMemo struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

// sigKey is the hash of everything a signature's verification depends
// on, each part length-prefixed so no two inputs share one.
func sigKey(server peer.ID, context string, body, sig []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, part := range [][]byte{[]byte(server), []byte(context), body, sig} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (m *sigMemo) has(k [sha256.Size]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.seen[k]
	return ok
}

func (m *sigMemo) add(k [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) >= sigMemoSize {
		clear(m.seen)
	}
	m.seen[k] = struct{}{}
}
