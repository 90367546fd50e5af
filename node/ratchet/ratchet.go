// Package ratchet is EServer's end-to-end encryption v2: a session between two
// devices, started with PQXDH and continued with the Double Ratchet with
// header encryption, after Signal's specifications
// (https://signal.org/docs/specifications/pqxdh/ and
// https://signal.org/docs/specifications/doubleratchet/ §3–§4), adapted to
// EServer's identities. It replaces node/e2e's v1 scheme, whose messages are
// sealed one by one to a long-term key and so lose every past message when
// that key leaks.
//
// # Identities
//
// A device is its libp2p Ed25519 key (its peer ID) plus a long-term X25519
// "identity DH key" (v1's box key). Signal signs with its X25519 identity key
// through XEdDSA; we already have an Ed25519 key, so the DH key is bound to
// the peer ID by an Ed25519 signature instead (the identity signature), and
// every signed prekey is signed over the peer ID and the DH key too. Every
// signature covers a labelled, length-prefixed transcript, so no signature
// made for one purpose verifies for another.
//
// # Session start (PQXDH)
//
// A responder publishes a Bundle at its supernodes: identity DH key, a signed
// X25519 prekey SPK, a signed ML-KEM-768 last-resort prekey and, while it has
// them, an X25519 one-time prekey OPK and a signed one-time ML-KEM prekey. The
// initiator computes DH1=DH(IK_A,SPK_B), DH2=DH(EK_A,IK_B), DH3=DH(EK_A,SPK_B),
// DH4=DH(EK_A,OPK_B) if there is a one-time prekey, and (CT,SS) =
// Encaps(KEM prekey), then derives the session secret with HKDF-SHA256 over
// 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 ‖ [DH4] ‖ SS, with a hash of the whole transcript
// (both peer IDs, both identity keys, every prekey and its ID, the ephemeral
// key and the KEM ciphertext) as info. X25519 protects against today's
// attackers; ML-KEM keeps recorded traffic secret against a future quantum
// computer ("harvest now, decrypt later"). DH1 needs the initiator's identity
// private key, so nobody else can start a session in its name — not even an
// attacker who holds the responder's identity keys (key-compromise
// impersonation), as long as the responder's signed prekey stays secret.
//
// The initiator's messages carry the init header until it has decrypted a
// reply, so whichever of them arrives first starts the responder's session.
// The responder looks its private prekeys up in a PrekeyStore (declared here,
// kept by the node) and, only once the first message has decrypted, asks the
// store to consume the one-time prekeys and remember the init message, so a
// replayed init message cannot start a second session and a tampered one
// burns nothing.
//
// # Messages (Double Ratchet with header encryption)
//
// Each message advances a symmetric chain (HMAC-SHA256), and every reply
// brings a new X25519 ratchet key into the root chain (HKDF-SHA256): keys of
// past messages cannot be rebuilt from today's state (forward secrecy), and a
// stolen state stops working once the victim has received and answered one
// message (post-compromise security). Headers — ratchet key and counters —
// are encrypted too: mail waits at supernodes, and plaintext headers would
// let them link a conversation's messages and see who answers whom. Keys of
// skipped messages are kept, boundedly (MaxSkip per chain, MaxSkippedKeys in
// all, oldest evicted), so out-of-order delivery works.
//
// Bodies and headers are sealed with XChaCha20-Poly1305. The body key is
// derived from the message key by HKDF; the nonce is random. A message key is
// never meant to be used twice, but a session restored from an older copy
// (a crash between sending and saving, a restored backup) would reuse it; a
// random 192-bit nonce makes that harmless for the cipher, for 24 bytes a
// message. The associated data of every message binds the caller's ad, both
// peer IDs and both identity keys in sender-to-receiver order, and the
// encrypted header.
//
// Decrypt is transactional: it works on a copy and commits only when the body
// has authenticated, so garbage, tampered, truncated or replayed input changes
// nothing. Keys we drop are zeroed where we hold them; Go's crypto/ecdh and
// crypto/mlkem keep private keys in their own memory, which we cannot wipe.
//
// # What callers must do
//
// To route an incoming message: with a session for the sender, Decrypt it;
// on ErrNewSession (the sender started over, or both sides initiated at
// once), or with no session, call Respond — IsInit and ParseInit tell which
// prekeys it names without trusting it.
//
// The sender of an init message is never taken from the message: Respond takes
// the authenticated sender (the libp2p remote peer, or the signer of the inner
// envelope) and fails unless the message names that peer and carries its
// identity signature. A Session is safe for concurrent use; store it with
// MarshalBinary after each Encrypt and Decrypt, sealed at rest, since it holds
// secrets. Compare safety numbers (SafetyNumber, SafetyCode) out of band to rule
// out a supernode handing out a bundle of its own.
package ratchet

//go:generate protoc --go_out=. --go_opt=paths=source_relative ratchet.proto

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Errors callers branch on. Errors of the package wrap these with context,
// after a "ratchet: <operation>:" prefix.
var (
	// ErrMalformed is input that does not decode: wrong version, wrong key
	// lengths, unknown fields, too large.
	ErrMalformed = errors.New("malformed input")
	// ErrOpen is a message that does not authenticate under any key of the
	// session: forged, tampered, for another session, or so old that its
	// keys are gone.
	ErrOpen = errors.New("cannot decrypt message")
	// ErrDuplicate is a message of a chain the session still tracks whose key
	// was already used (or evicted): a duplicate or a replay.
	ErrDuplicate = errors.New("message already received")
	// ErrTooManySkipped is a message that would need more than MaxSkip keys
	// of one chain to be skipped.
	ErrTooManySkipped = errors.New("too many skipped messages")
	// ErrBadSignature is a bundle or init message whose signature does not
	// verify under the peer ID's key.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongPeer is a bundle or init message of another peer than the one
	// expected, or a session with oneself.
	ErrWrongPeer = errors.New("wrong peer")
	// ErrNoPrekey is an init message naming a prekey the store does not have
	// (never had, rotated out, or a one-time prekey already used).
	ErrNoPrekey = errors.New("no such prekey")
	// ErrReplay is an init message the store has already accepted once.
	ErrReplay = errors.New("init message replayed")
	// ErrNewSession is an init message given to Decrypt of a session it did
	// not start: the peer started a new session; call Respond.
	ErrNewSession = errors.New("message starts a new session")
	// ErrTooLarge is a plaintext or input over the limits below.
	ErrTooLarge = errors.New("too large")
	// ErrSafetyMismatch is a scanned safety code of other identities.
	ErrSafetyMismatch = errors.New("safety codes differ")
)

// Limits and sizes, in one place.
const (
	// MaxPlaintext is the largest plaintext of one message.
	MaxPlaintext = 1 << 20
	// MaxMessageSize is the largest encoded message: MaxPlaintext plus
	// room for the init header (~1.3 KiB), the encrypted header and framing.
	MaxMessageSize = MaxPlaintext + 4<<10
	// MaxSkip is how many message keys of one chain a single message may
	// make the session skip and keep.
	MaxSkip = 1000
	// MaxSkippedKeys is how many skipped message keys a session keeps in
	// all; the oldest are evicted (and zeroed) first.
	MaxSkippedKeys = 2000
	// MaxBundleSize is the largest encoded Bundle (~2.9 KiB with both
	// optional one-time prekeys).
	MaxBundleSize = 8 << 10
	// MaxSessionSize is the largest encoded Session (~150 KiB with
	// MaxSkippedKeys skipped keys).
	MaxSessionSize = 256 << 10
	// MaxPrekeyBatch is the most one-time prekeys one Generate call makes.
	MaxPrekeyBatch = 1000

	// KeySize is the size of X25519 keys and of every symmetric key.
	KeySize = 32
	// SafetyCodeSize is the size of a SafetyCode: a format byte and 32
	// bytes of each side's fingerprint.
	SafetyCodeSize = 1 + 2*safetyFPSize
	safetyFPSize   = 32

	version         = 1
	sigSize         = 64 // Ed25519
	maxPeerIDSize   = 64 // an Ed25519 peer ID is 38 bytes
	nonceSize       = 24 // XChaCha20-Poly1305
	tagSize         = 16
	headerPlainSize = KeySize + 4 + 4
	headerSize      = nonceSize + headerPlainSize + tagSize
	bodyOverhead    = nonceSize + tagSize
)

// Domain-separation labels; the version is in every one.
const (
	labelIdentity     = "eserver-ratchet-v1 identity"
	labelSignedPrekey = "eserver-ratchet-v1 signed prekey"
	labelKEMPrekey    = "eserver-ratchet-v1 kem last-resort prekey"
	labelOneTimeKEM   = "eserver-ratchet-v1 kem one-time prekey"
	labelInitID       = "eserver-ratchet-v1 init"
	labelTranscript   = "eserver-ratchet-v1 pqxdh transcript"
	labelPQXDH        = "eserver-ratchet-v1 pqxdh "
	labelRoot         = "eserver-ratchet-v1 root"
	labelMessageKey   = "eserver-ratchet-v1 message key"
	labelHeaderAD     = "eserver-ratchet-v1 header"
	labelBodyAD       = "eserver-ratchet-v1 body"
)

// PublicIdentity is a device as others see it.
type PublicIdentity struct {
	PeerID peer.ID // libp2p peer ID of its Ed25519 key
	DH     []byte  // X25519 identity DH key, KeySize bytes
}

// Equal reports whether p and q are the same identity.
func (p PublicIdentity) Equal(q PublicIdentity) bool {
	return p.PeerID == q.PeerID && bytes.Equal(p.DH, q.DH)
}

func (p PublicIdentity) clone() PublicIdentity {
	return PublicIdentity{PeerID: p.PeerID, DH: bytes.Clone(p.DH)}
}

// check reports whether p is well formed: a canonical Ed25519 peer ID and a
// DH key of the right size.
func (p PublicIdentity) check() error {
	if _, err := ed25519Key(p.PeerID); err != nil {
		return err
	}
	if len(p.DH) != KeySize {
		return fmt.Errorf("%w: identity DH key of %d bytes", ErrMalformed, len(p.DH))
	}
	return nil
}

// Identity is the local device's long-term keys.
type Identity struct {
	key crypto.PrivKey
	dh  *ecdh.PrivateKey
	pub PublicIdentity
	sig []byte // identity signature: binds pub.DH to pub.PeerID
}

// NewIdentity returns the identity of the device with libp2p Ed25519 key key
// and X25519 identity DH key dh (v1's box key).
func NewIdentity(key crypto.PrivKey, dh *ecdh.PrivateKey) (*Identity, error) {
	if key == nil || key.Type() != pb.KeyType_Ed25519 {
		return nil, errors.New("ratchet: new identity: key must be Ed25519")
	}
	if dh == nil || dh.Curve() != ecdh.X25519() {
		return nil, errors.New("ratchet: new identity: DH key must be X25519")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ratchet: new identity: %w", err)
	}
	pub := PublicIdentity{PeerID: id, DH: dh.PublicKey().Bytes()}
	sig, err := key.Sign(identityTranscript(id, pub.DH))
	if err != nil {
		return nil, fmt.Errorf("ratchet: new identity: sign: %w", err)
	}
	return &Identity{key: key, dh: dh, pub: pub, sig: sig}, nil
}

// PeerID returns the device's peer ID.
func (i *Identity) PeerID() peer.ID { return i.pub.PeerID }

// Public returns the device as others see it.
func (i *Identity) Public() PublicIdentity { return i.pub.clone() }

func identityTranscript(id peer.ID, dh []byte) []byte {
	return transcript(labelIdentity, []byte(id), dh)
}

// ed25519Key returns the Ed25519 key a peer ID embeds. Only canonical
// Ed25519 peer IDs pass, so one device has exactly one peer ID.
func ed25519Key(id peer.ID) (crypto.PubKey, error) {
	if id == "" || len(id) > maxPeerIDSize {
		return nil, fmt.Errorf("%w: peer ID of %d bytes", ErrMalformed, len(id))
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %v", ErrMalformed, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: peer ID of a %s key, want Ed25519", ErrMalformed, pub.Type())
	}
	canon, err := peer.IDFromPublicKey(pub)
	if err != nil || canon != id {
		return nil, fmt.Errorf("%w: peer ID not in canonical form", ErrMalformed)
	}
	return pub, nil
}

// decodePeerID decodes a binary peer ID from the wire.
func decodePeerID(b []byte) (peer.ID, error) {
	id := peer.ID(b)
	if _, err := ed25519Key(id); err != nil {
		return "", err
	}
	return id, nil
}

// verifySig checks sig over msg by the key of id.
func verifySig(id peer.ID, msg, sig []byte, what string) error {
	pub, err := ed25519Key(id)
	if err != nil {
		return err
	}
	if len(sig) != sigSize {
		return fmt.Errorf("%w: %s signature of %d bytes", ErrMalformed, what, len(sig))
	}
	ok, err := pub.Verify(msg, sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: %s by %s", ErrBadSignature, what, id)
	}
	return nil
}

// transcript encodes label and parts unambiguously: each is preceded by its
// length as a 4-byte big-endian integer.
func transcript(label string, parts ...[]byte) []byte {
	n := 4 + len(label)
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	b = appendPart(b, []byte(label))
	for _, p := range parts {
		b = appendPart(b, p)
	}
	return b
}

func appendPart(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// hasUnknown reports whether m or any message in it carries fields this
// version does not know. Decoders reject those: a field we ignore could be a
// tampered tag, and a newer peer bumps the version anyway.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// checkKey checks that b is a key of KeySize bytes.
func checkKey(b []byte, what string) error {
	if len(b) != KeySize {
		return fmt.Errorf("%w: %s of %d bytes, want %d", ErrMalformed, what, len(b), KeySize)
	}
	return nil
}
