package wire

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a random 128-bit message ID (32 hex digits). IDs are chosen
// by the sender and stay the same across retries, which is what lets
// receivers drop duplicates.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand's documented contract)
	return hex.EncodeToString(b[:])
}
