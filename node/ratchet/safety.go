package ratchet

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strings"
)

// Safety numbers, after Signal's numeric fingerprints: each device's
// fingerprint is SHA-512 iterated over its identity, of which 30 digits are
// shown; the two halves are sorted so both devices show the same 60 digits.
// The iterations make finding a second identity with the same 30 digits (a
// 100-bit target) expensive enough per attempt.
const (
	safetyVersion = 1 // of the hash input; Signal's is 0, and its keys are encoded differently
	// accountSafetyVersion is the version of an account identity's
	// fingerprint (AccountIdentity).
	accountSafetyVersion = 2
	safetyIterations     = 5200
	safetyCodeFormat     = 1 // first byte of SafetyCode
	safetyDigits         = 30
)

// fingerprint is SHA-512 iterated safetyIterations times: hash₀ = version(2
// bytes) ‖ key ‖ peer ID, hashᵢ₊₁ = SHA-512(hashᵢ ‖ key), where key is the
// Ed25519 key followed by the identity DH key, so changing either changes
// the number.
func fingerprint(p PublicIdentity) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	pub, err := ed25519Key(p.PeerID)
	if err != nil {
		return nil, err
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("%w: peer key: %v", ErrMalformed, err)
	}
	return iterate(safetyVersion, append(raw, p.DH...), []byte(p.PeerID)), nil
}

// iterate is the iterated hash of a fingerprint: hash₀ = version ‖ key ‖
// id, hashᵢ₊₁ = SHA-512(hashᵢ ‖ key).
func iterate(version uint16, key, id []byte) []byte {
	hash := binary.BigEndian.AppendUint16(nil, version)
	hash = append(hash, key...)
	hash = append(hash, id...)
	h := sha512.New()
	for range safetyIterations {
		h.Reset()
		h.Write(hash)
		h.Write(key)
		hash = h.Sum(hash[:0])
	}
	return hash
}

// A SafetyIdentity is what a safety number is computed over: one
// device's identity (PublicIdentity) or a whole account's
// (AccountIdentity).
type SafetyIdentity interface {
	fingerprint() ([]byte, error)
}

func (p PublicIdentity) fingerprint() ([]byte, error) { return fingerprint(p) }

// AccountIdentity is an account's identity key (node/account): what the
// safety number between two accounts with identities is computed over, so
// that it stays the same whichever of their devices are signed in and
// changes only when an identity does. Its fingerprints are hashed under
// their own version, never equal to a device's.
type AccountIdentity struct {
	Username string
	Key      ed25519.PublicKey
}

func (a AccountIdentity) fingerprint() ([]byte, error) {
	if len(a.Key) != ed25519.PublicKeySize || a.Username == "" {
		return nil, fmt.Errorf("%w: account identity", ErrMalformed)
	}
	return iterate(accountSafetyVersion, a.Key, []byte(a.Username)), nil
}

// digits renders the first 30 bytes of a fingerprint as 30 digits: six
// 5-byte chunks, each big-endian mod 100000.
func digits(fp []byte) string {
	var b strings.Builder
	for i := range safetyDigits / 5 {
		c := fp[i*5 : i*5+5]
		v := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		fmt.Fprintf(&b, "%05d", v%100000)
	}
	return b.String()
}

// SafetyNumber returns the safety number of a conversation between a and b:
// 60 digits in 12 groups of 5, the same whichever side computes it. Users
// compare it out of band; if it matches, no one sits between them.
func SafetyNumber(a, b SafetyIdentity) (string, error) {
	fa, err := a.fingerprint()
	if err != nil {
		return "", fmt.Errorf("ratchet: safety number: %w", err)
	}
	fb, err := b.fingerprint()
	if err != nil {
		return "", fmt.Errorf("ratchet: safety number: %w", err)
	}
	da, db := digits(fa), digits(fb)
	if db < da {
		da, db = db, da
	}
	all := da + db
	groups := make([]string, 0, len(all)/5)
	for i := 0; i < len(all); i += 5 {
		groups = append(groups, all[i:i+5])
	}
	return strings.Join(groups, " "), nil
}

// SafetyCode returns the compact form to show as a QR code: a format byte,
// then 32 bytes of local's fingerprint and 32 of remote's. Unlike the number
// it is directional; the other side checks it with CompareSafetyCode.
func SafetyCode(local, remote SafetyIdentity) ([]byte, error) {
	fl, err := local.fingerprint()
	if err != nil {
		return nil, fmt.Errorf("ratchet: safety code: %w", err)
	}
	fr, err := remote.fingerprint()
	if err != nil {
		return nil, fmt.Errorf("ratchet: safety code: %w", err)
	}
	code := make([]byte, 0, SafetyCodeSize)
	code = append(code, safetyCodeFormat)
	code = append(code, fl[:safetyFPSize]...)
	return append(code, fr[:safetyFPSize]...), nil
}

// CompareSafetyCode checks a code scanned from remote's screen: it must
// name remote as its local side and local as its remote side. It returns nil,
// ErrSafetyMismatch, or ErrMalformed for a code that is not one.
func CompareSafetyCode(local, remote SafetyIdentity, scanned []byte) error {
	if len(scanned) != SafetyCodeSize || scanned[0] != safetyCodeFormat {
		return fmt.Errorf("ratchet: compare safety code: %w: not a safety code", ErrMalformed)
	}
	want, err := SafetyCode(remote, local)
	if err != nil {
		return fmt.Errorf("ratchet: compare safety code: %w", err)
	}
	if subtle.ConstantTimeCompare(scanned, want) != 1 {
		return fmt.Errorf("ratchet: compare safety code: %w", ErrSafetyMismatch)
	}
	return nil
}
