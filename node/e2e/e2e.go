// Package e2e is end-to-end encryption between two EServer devices, behind
// the Scheme interface so the v1 scheme here can be replaced (PQXDH and the
// Double Ratchet are planned).
//
// v1 seals each message on its own: an ephemeral X25519 key agreed with the
// recipient's box key, HKDF-SHA256 to a one-time XChaCha20-Poly1305 key, then
// an Ed25519 signature by the sender's libp2p identity key over the whole
// transcript, so the recipient knows which device sent it. It has no forward
// secrecy against compromise of the recipient's box key and no replay
// protection of its own (the message layer de-duplicates by envelope ID).
package e2e

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// Errors callers branch on.
var (
	// ErrOpen is any failure to authenticate or decrypt a sealed message.
	ErrOpen = errors.New("e2e: cannot open message")
	// ErrMalformed is input that does not decode as a sealed message.
	ErrMalformed = errors.New("e2e: malformed sealed message")
)

// Sizes.
const (
	BoxKeySize    = 32               // X25519 public or private key
	MaxSealedSize = wire.MaxMsgFrame // a sealed message fits in one msg frame
	signatureSize = 64               // Ed25519
	nonceSize     = chacha20poly1305.NonceSizeX
	overhead      = chacha20poly1305.Overhead
)

// Domain-separation labels of v1.
const (
	labelKey  = "eserver-e2e-v1 key"
	labelAEAD = "eserver-e2e-v1 aead"
	labelSig  = "eserver-e2e-v1 sig"
)

// Peer is the other end of a conversation: one device.
type Peer struct {
	ID     peer.ID // libp2p peer ID (Ed25519)
	BoxKey []byte  // X25519 public key, 32 bytes
}

// Scheme seals messages to peers and opens messages from them. ad is
// associated data authenticated with the message but not encrypted; Open
// must be given the same ad as Seal.
type Scheme interface {
	Seal(to Peer, ad, plaintext []byte) ([]byte, error)
	Open(from Peer, ad, sealed []byte) ([]byte, error)
	// OpenAnonymous opens a box sealed with SealAnonymous to this device.
	OpenAnonymous(sealed []byte) ([]byte, error)
}

// V1 is the v1 scheme for one local device.
type V1 struct {
	identity crypto.PrivKey
	id       peer.ID
	box      *ecdh.PrivateKey
	boxPub   []byte
}

var _ Scheme = (*V1)(nil)

// GenerateBoxKey returns a new X25519 private key.
func GenerateBoxKey() (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("e2e: generate box key: %w", err)
	}
	return k, nil
}

// NewV1 returns the v1 scheme of the device with libp2p Ed25519 key identity
// and X25519 key box.
func NewV1(identity crypto.PrivKey, box *ecdh.PrivateKey) (*V1, error) {
	if identity == nil || identity.Type() != pb.KeyType_Ed25519 {
		return nil, errors.New("e2e: new v1: identity must be an Ed25519 key")
	}
	if box == nil || box.Curve() != ecdh.X25519() {
		return nil, errors.New("e2e: new v1: box key must be X25519")
	}
	id, err := peer.IDFromPrivateKey(identity)
	if err != nil {
		return nil, fmt.Errorf("e2e: new v1: %w", err)
	}
	return &V1{identity: identity, id: id, box: box, boxPub: box.PublicKey().Bytes()}, nil
}

// Self returns this device as a Peer, as others see it.
func (v *V1) Self() Peer {
	return Peer{ID: v.id, BoxKey: append([]byte(nil), v.boxPub...)}
}

// Seal encrypts plaintext for to, binding ad, and signs it as from this device.
func (v *V1) Seal(to Peer, ad, plaintext []byte) ([]byte, error) {
	if len(to.BoxKey) != BoxKeySize {
		return nil, fmt.Errorf("e2e: seal: recipient box key of %d bytes, want %d", len(to.BoxKey), BoxKeySize)
	}
	if to.ID == "" {
		return nil, errors.New("e2e: seal: empty recipient peer ID")
	}
	recipient, err := ecdh.X25519().NewPublicKey(to.BoxKey)
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: recipient box key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: ephemeral key: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	shared, err := eph.ECDH(recipient)
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: key agreement: %w", err)
	}
	aead, err := newAEAD(shared, ephPub, to.BoxKey, v.id, to.ID)
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: %w", err)
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("e2e: seal: nonce: %w", err)
	}
	ct := aead.Seal(nil, nonce, plaintext, aeadAD(v.id, to.ID, ephPub, ad))
	sig, err := v.identity.Sign(sigInput(v.id, to.ID, to.BoxKey, ephPub, nonce, ct, ad))
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: sign: %w", err)
	}
	out, err := proto.Marshal(&wire.SealedBox{Ephemeral: ephPub, Nonce: nonce, Ciphertext: ct, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("e2e: seal: encode: %w", err)
	}
	if len(out) > MaxSealedSize {
		return nil, fmt.Errorf("e2e: seal: sealed message of %d bytes exceeds %d", len(out), MaxSealedSize)
	}
	return out, nil
}

// Open checks that sealed was sealed by from for this device with ad, and
// returns the plaintext. It fails with ErrMalformed or ErrOpen.
func (v *V1) Open(from Peer, ad, sealed []byte) ([]byte, error) {
	if len(sealed) > MaxSealedSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(sealed), MaxSealedSize)
	}
	var box wire.SealedBox
	if err := proto.Unmarshal(sealed, &box); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case len(box.Ephemeral) != BoxKeySize:
		return nil, fmt.Errorf("%w: ephemeral key of %d bytes", ErrMalformed, len(box.Ephemeral))
	case len(box.Nonce) != nonceSize:
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrMalformed, len(box.Nonce))
	case len(box.Signature) != signatureSize:
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(box.Signature))
	case len(box.Ciphertext) < overhead:
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", ErrMalformed, len(box.Ciphertext))
	}
	pub, err := from.ID.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: sender key from peer ID %s: %v", ErrOpen, from.ID, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: sender key is %s, not Ed25519", ErrOpen, pub.Type())
	}
	ok, err := pub.Verify(sigInput(from.ID, v.id, v.boxPub, box.Ephemeral, box.Nonce, box.Ciphertext, ad), box.Signature)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: bad signature from %s", ErrOpen, from.ID)
	}
	ephPub, err := ecdh.X25519().NewPublicKey(box.Ephemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrOpen, err)
	}
	shared, err := v.box.ECDH(ephPub)
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement: %v", ErrOpen, err)
	}
	aead, err := newAEAD(shared, box.Ephemeral, v.boxPub, from.ID, v.id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	pt, err := aead.Open(nil, box.Nonce, box.Ciphertext, aeadAD(from.ID, v.id, box.Ephemeral, ad))
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt: %v", ErrOpen, err)
	}
	return pt, nil
}

// newAEAD derives the message key: HKDF-SHA256 of the shared secret, salted
// with eph||recipientBox, with info binding the label and both peer IDs.
func newAEAD(shared, eph, recipientBox []byte, sender, recipient peer.ID) (aeadCipher, error) {
	defer clear(shared)
	salt := make([]byte, 0, len(eph)+len(recipientBox))
	salt = append(append(salt, eph...), recipientBox...)
	info := transcript(labelKey, []byte(sender), []byte(recipient))
	key, err := hkdf.Key(sha256.New, shared, salt, string(info), chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

type aeadCipher interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

func aeadAD(sender, recipient peer.ID, eph, ad []byte) []byte {
	return transcript(labelAEAD, []byte(sender), []byte(recipient), eph, ad)
}

func sigInput(sender, recipient peer.ID, recipientBox, eph, nonce, ct, ad []byte) []byte {
	return transcript(labelSig, []byte(sender), []byte(recipient), recipientBox, eph, nonce, ct, ad)
}

// transcript encodes label and parts unambiguously: each part is preceded by
// its length as a 4-byte big-endian integer.
func transcript(label string, parts ...[]byte) []byte {
	n := 4 + len(label)
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(label)))
	b = append(b, label...)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}
