// Package account is the account identity on a node: the Ed25519 key that
// speaks for the whole account, whichever of its devices is signed in, and
// the rules by which a node judges a device claiming to be a contact's.
//
// The identity key is made once, by the account's first device, and never
// derived from the password: a password change seals the same key afresh
// (Seal, under a key derived from OPAQUE's export key, which the auth
// server cannot compute), and every device that signs in with the password
// opens the copy the auth server keeps (Open). The identity signs the
// account's device list (node/ticket.SignDevices); contacts pin the
// identity the first time they see it and accept a device only when the
// newest list they have seen names it (Judge). A device the auth server
// vouches for but the account never listed is not the account's.
package account

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"eserver/node/wire"
)

// sealLabel names the key the identity is sealed under, and binds each
// seal to its format.
const sealLabel = "eserver-account-key-v1"

// sealFormat is the first byte of a sealed key.
const sealFormat = 1

// ErrSealed is what Open returns, wrapped, for a sealed key that does not
// open: another password's export key, another account, or damaged bytes.
var ErrSealed = errors.New("account identity does not open")

// Generate makes a new account identity key.
func Generate() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making the account identity: %w", err)
	}
	return priv, nil
}

// sealAEAD is the cipher of seals under an OPAQUE export key: its key
// derived with HKDF-SHA256 under sealLabel.
func sealAEAD(exportKey []byte) (cipher.AEAD, error) {
	if len(exportKey) < 32 {
		return nil, fmt.Errorf("%w: export key of %d bytes", ErrSealed, len(exportKey))
	}
	k, err := hkdf.Key(sha256.New, exportKey, nil, sealLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(k)
}

// Seal seals the identity key for username under exportKey (OPAQUE's, for
// the account's password): format byte, nonce, XChaCha20-Poly1305 of the
// seed with the label and username as associated data, so a seal moved to
// another account does not open.
func Seal(exportKey []byte, username string, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("sealing the account identity: not an Ed25519 key")
	}
	aead, err := sealAEAD(exportKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+ed25519.SeedSize+aead.Overhead())
	out[0] = sealFormat
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], key.Seed(), sealAD(username)), nil
}

// Open opens what Seal sealed for username under the same export key.
func Open(exportKey []byte, username string, sealed []byte) (ed25519.PrivateKey, error) {
	aead, err := sealAEAD(exportKey)
	if err != nil {
		return nil, err
	}
	n := 1 + aead.NonceSize()
	if len(sealed) > wire.MaxAccountKeySealed || len(sealed) != n+ed25519.SeedSize+aead.Overhead() || sealed[0] != sealFormat {
		return nil, fmt.Errorf("%w: %d bytes, not a sealed key", ErrSealed, len(sealed))
	}
	seed, err := aead.Open(nil, sealed[1:n], sealed[n:], sealAD(username))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func sealAD(username string) []byte {
	return append([]byte(sealLabel+"\x00"), username...)
}
