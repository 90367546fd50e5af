package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// SignedPrekey is the public half of a signed X25519 prekey.
type SignedPrekey struct {
	ID  uint32
	Pub []byte // KeySize bytes
	Sig []byte // Ed25519 over the peer ID, identity DH key, ID and Pub
}

// KEMPrekey is the public half of a signed ML-KEM-768 prekey, last-resort or
// one-time (the two are signed under different labels, so one cannot be
// passed off as the other).
type KEMPrekey struct {
	ID               uint32
	EncapsulationKey []byte // mlkem.EncapsulationKeySize768 bytes
	Sig              []byte
}

// OneTimePrekey is the public half of an X25519 one-time prekey. It is not
// signed (as in Signal): a substituted one only makes the session fail to
// start, since the other secrets still need the signed keys.
type OneTimePrekey struct {
	ID  uint32
	Pub []byte
}

// Bundle is what a device publishes so others can start sessions with it
// while it is offline.
type Bundle struct {
	PeerID       peer.ID
	IdentityDH   []byte // X25519 identity DH key
	IdentitySig  []byte // binds IdentityDH to PeerID
	SignedPrekey SignedPrekey
	KEMPrekey    KEMPrekey      // last resort: used when OneTimeKEM is nil
	OneTime      *OneTimePrekey // optional
	OneTimeKEM   *KEMPrekey     // optional
}

func signedPrekeyTranscript(id peer.ID, identityDH []byte, keyID uint32, pub []byte) []byte {
	return transcript(labelSignedPrekey, []byte(id), identityDH, be32(keyID), pub)
}

func kemPrekeyTranscript(oneTime bool, id peer.ID, identityDH []byte, keyID uint32, ek []byte) []byte {
	label := labelKEMPrekey
	if oneTime {
		label = labelOneTimeKEM
	}
	return transcript(label, []byte(id), identityDH, be32(keyID), ek)
}

// GenerateSignedPrekey makes a signed X25519 prekey with ID id. Keep the
// private key in the PrekeyStore until some while after it is rotated out,
// so late init messages still open.
func (i *Identity) GenerateSignedPrekey(id uint32) (SignedPrekey, *ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return SignedPrekey{}, nil, fmt.Errorf("ratchet: generate signed prekey: %w", err)
	}
	pub := k.PublicKey().Bytes()
	sig, err := i.key.Sign(signedPrekeyTranscript(i.pub.PeerID, i.pub.DH, id, pub))
	if err != nil {
		return SignedPrekey{}, nil, fmt.Errorf("ratchet: generate signed prekey: sign: %w", err)
	}
	return SignedPrekey{ID: id, Pub: pub, Sig: sig}, k, nil
}

// GenerateKEMPrekey makes a signed ML-KEM-768 last-resort prekey with ID id.
func (i *Identity) GenerateKEMPrekey(id uint32) (KEMPrekey, *mlkem.DecapsulationKey768, error) {
	return i.generateKEM(false, id)
}

// GenerateOneTimeKEMPrekeys makes n signed ML-KEM-768 one-time prekeys with
// IDs firstID, firstID+1, ...
func (i *Identity) GenerateOneTimeKEMPrekeys(firstID uint32, n int) ([]KEMPrekey, []*mlkem.DecapsulationKey768, error) {
	if err := checkBatch(firstID, n); err != nil {
		return nil, nil, fmt.Errorf("ratchet: generate one-time KEM prekeys: %w", err)
	}
	pubs := make([]KEMPrekey, 0, n)
	privs := make([]*mlkem.DecapsulationKey768, 0, n)
	for j := range n {
		pub, priv, err := i.generateKEM(true, firstID+uint32(j))
		if err != nil {
			return nil, nil, err
		}
		pubs, privs = append(pubs, pub), append(privs, priv)
	}
	return pubs, privs, nil
}

func (i *Identity) generateKEM(oneTime bool, id uint32) (KEMPrekey, *mlkem.DecapsulationKey768, error) {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return KEMPrekey{}, nil, fmt.Errorf("ratchet: generate KEM prekey: %w", err)
	}
	ek := dk.EncapsulationKey().Bytes()
	sig, err := i.key.Sign(kemPrekeyTranscript(oneTime, i.pub.PeerID, i.pub.DH, id, ek))
	if err != nil {
		return KEMPrekey{}, nil, fmt.Errorf("ratchet: generate KEM prekey: sign: %w", err)
	}
	return KEMPrekey{ID: id, EncapsulationKey: ek, Sig: sig}, dk, nil
}

// GenerateOneTimePrekeys makes n X25519 one-time prekeys with IDs firstID,
// firstID+1, ...
func GenerateOneTimePrekeys(firstID uint32, n int) ([]OneTimePrekey, []*ecdh.PrivateKey, error) {
	if err := checkBatch(firstID, n); err != nil {
		return nil, nil, fmt.Errorf("ratchet: generate one-time prekeys: %w", err)
	}
	pubs := make([]OneTimePrekey, 0, n)
	privs := make([]*ecdh.PrivateKey, 0, n)
	for j := range n {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("ratchet: generate one-time prekeys: %w", err)
		}
		pubs = append(pubs, OneTimePrekey{ID: firstID + uint32(j), Pub: k.PublicKey().Bytes()})
		privs = append(privs, k)
	}
	return pubs, privs, nil
}

func checkBatch(firstID uint32, n int) error {
	if n < 1 || n > MaxPrekeyBatch {
		return fmt.Errorf("batch of %d, want 1 to %d", n, MaxPrekeyBatch)
	}
	if uint64(firstID)+uint64(n)-1 > math.MaxUint32 {
		return fmt.Errorf("IDs from %d overflow", firstID)
	}
	return nil
}

// NewBundle assembles this device's bundle from its public prekeys, and
// checks it as a peer would, so a prekey of another identity is caught here
// rather than by everyone who fetches the bundle.
func (i *Identity) NewBundle(spk SignedPrekey, kem KEMPrekey, oneTime *OneTimePrekey, oneTimeKEM *KEMPrekey) (*Bundle, error) {
	b := &Bundle{
		PeerID:       i.pub.PeerID,
		IdentityDH:   bytes.Clone(i.pub.DH),
		IdentitySig:  bytes.Clone(i.sig),
		SignedPrekey: SignedPrekey{ID: spk.ID, Pub: bytes.Clone(spk.Pub), Sig: bytes.Clone(spk.Sig)},
		KEMPrekey:    cloneKEM(kem),
	}
	if oneTime != nil {
		b.OneTime = &OneTimePrekey{ID: oneTime.ID, Pub: bytes.Clone(oneTime.Pub)}
	}
	if oneTimeKEM != nil {
		k := cloneKEM(*oneTimeKEM)
		b.OneTimeKEM = &k
	}
	if err := b.verify(i.pub.PeerID); err != nil {
		return nil, fmt.Errorf("ratchet: new bundle: %w", err)
	}
	return b, nil
}

func cloneKEM(k KEMPrekey) KEMPrekey {
	return KEMPrekey{ID: k.ID, EncapsulationKey: bytes.Clone(k.EncapsulationKey), Sig: bytes.Clone(k.Sig)}
}

// Verify checks that b is expected's bundle: its peer ID is expected, every
// key has its size and every signature verifies under expected's key. The
// peer ID embeds the signing key, so a supernode can withhold a bundle or
// serve an old one, but cannot forge one for a peer ID; whether a peer ID is
// really the person is what safety numbers check.
func (b *Bundle) Verify(expected peer.ID) error {
	if err := b.verify(expected); err != nil {
		return fmt.Errorf("ratchet: verify bundle: %w", err)
	}
	return nil
}

func (b *Bundle) verify(expected peer.ID) error {
	if b == nil {
		return fmt.Errorf("%w: nil bundle", ErrMalformed)
	}
	if expected == "" {
		return fmt.Errorf("%w: no expected peer given", ErrWrongPeer)
	}
	if b.PeerID != expected {
		return fmt.Errorf("%w: bundle of %s, want %s", ErrWrongPeer, b.PeerID, expected)
	}
	if err := b.checkShape(); err != nil {
		return err
	}
	if err := verifySig(b.PeerID, identityTranscript(b.PeerID, b.IdentityDH), b.IdentitySig, "identity key"); err != nil {
		return err
	}
	spk := b.SignedPrekey
	if err := verifySig(b.PeerID, signedPrekeyTranscript(b.PeerID, b.IdentityDH, spk.ID, spk.Pub), spk.Sig, "signed prekey"); err != nil {
		return err
	}
	kem := b.KEMPrekey
	if err := verifySig(b.PeerID, kemPrekeyTranscript(false, b.PeerID, b.IdentityDH, kem.ID, kem.EncapsulationKey), kem.Sig, "KEM prekey"); err != nil {
		return err
	}
	if k := b.OneTimeKEM; k != nil {
		if err := verifySig(b.PeerID, kemPrekeyTranscript(true, b.PeerID, b.IdentityDH, k.ID, k.EncapsulationKey), k.Sig, "one-time KEM prekey"); err != nil {
			return err
		}
	}
	return nil
}

// checkShape checks sizes and encodings, not signatures.
func (b *Bundle) checkShape() error {
	if _, err := ed25519Key(b.PeerID); err != nil {
		return err
	}
	if err := checkKey(b.IdentityDH, "identity DH key"); err != nil {
		return err
	}
	if len(b.IdentitySig) != sigSize || len(b.SignedPrekey.Sig) != sigSize || len(b.KEMPrekey.Sig) != sigSize {
		return fmt.Errorf("%w: bundle signature of wrong size", ErrMalformed)
	}
	if err := checkKey(b.SignedPrekey.Pub, "signed prekey"); err != nil {
		return err
	}
	if err := checkKEMKey(b.KEMPrekey.EncapsulationKey); err != nil {
		return err
	}
	if b.OneTime != nil {
		if err := checkKey(b.OneTime.Pub, "one-time prekey"); err != nil {
			return err
		}
	}
	if b.OneTimeKEM != nil {
		if len(b.OneTimeKEM.Sig) != sigSize {
			return fmt.Errorf("%w: one-time KEM prekey signature of %d bytes", ErrMalformed, len(b.OneTimeKEM.Sig))
		}
		if err := checkKEMKey(b.OneTimeKEM.EncapsulationKey); err != nil {
			return err
		}
	}
	return nil
}

func checkKEMKey(ek []byte) error {
	if len(ek) != mlkem.EncapsulationKeySize768 {
		return fmt.Errorf("%w: KEM prekey of %d bytes, want %d", ErrMalformed, len(ek), mlkem.EncapsulationKeySize768)
	}
	// FIPS 203's modulus check: coefficients must be reduced.
	if _, err := mlkem.NewEncapsulationKey768(ek); err != nil {
		return fmt.Errorf("%w: KEM prekey: %v", ErrMalformed, err)
	}
	return nil
}

// MarshalBinary encodes b for publishing.
func (b *Bundle) MarshalBinary() ([]byte, error) {
	if b == nil {
		return nil, errors.New("ratchet: marshal bundle: nil bundle")
	}
	w := &WireBundle{
		Version:     version,
		PeerId:      []byte(b.PeerID),
		IdentityDh:  b.IdentityDH,
		IdentitySig: b.IdentitySig,
		SignedPrekey: &WireSignedPrekey{
			Id: b.SignedPrekey.ID, Pub: b.SignedPrekey.Pub, Sig: b.SignedPrekey.Sig,
		},
		KemPrekey: &WireKEMPrekey{
			Id: b.KEMPrekey.ID, EncapsulationKey: b.KEMPrekey.EncapsulationKey, Sig: b.KEMPrekey.Sig,
		},
	}
	if b.OneTime != nil {
		w.OneTime = &WireOneTimePrekey{Id: b.OneTime.ID, Pub: b.OneTime.Pub}
	}
	if k := b.OneTimeKEM; k != nil {
		w.OneTimeKem = &WireKEMPrekey{Id: k.ID, EncapsulationKey: k.EncapsulationKey, Sig: k.Sig}
	}
	out, err := proto.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("ratchet: marshal bundle: %w", err)
	}
	if len(out) > MaxBundleSize {
		return nil, fmt.Errorf("ratchet: marshal bundle: %w: %d bytes", ErrTooLarge, len(out))
	}
	return out, nil
}

// UnmarshalBundle decodes a bundle and checks its shape. It does not check
// signatures: call Verify with the peer you meant to reach (Initiate does).
func UnmarshalBundle(data []byte) (*Bundle, error) {
	b, err := unmarshalBundle(data)
	if err != nil {
		return nil, fmt.Errorf("ratchet: unmarshal bundle: %w", err)
	}
	return b, nil
}

func unmarshalBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %w: bundle of %d bytes, limit %d", ErrMalformed, ErrTooLarge, len(data), MaxBundleSize)
	}
	var w WireBundle
	if err := proto.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", ErrMalformed, err)
	}
	if hasUnknown(w.ProtoReflect()) {
		return nil, fmt.Errorf("%w: bundle has unknown fields", ErrMalformed)
	}
	if w.Version != version {
		return nil, fmt.Errorf("%w: bundle version %d, want %d", ErrMalformed, w.Version, version)
	}
	if w.SignedPrekey == nil || w.KemPrekey == nil {
		return nil, fmt.Errorf("%w: bundle without signed prekeys", ErrMalformed)
	}
	id, err := decodePeerID(w.PeerId)
	if err != nil {
		return nil, err
	}
	b := &Bundle{
		PeerID:       id,
		IdentityDH:   w.IdentityDh,
		IdentitySig:  w.IdentitySig,
		SignedPrekey: SignedPrekey{ID: w.SignedPrekey.Id, Pub: w.SignedPrekey.Pub, Sig: w.SignedPrekey.Sig},
		KEMPrekey:    KEMPrekey{ID: w.KemPrekey.Id, EncapsulationKey: w.KemPrekey.EncapsulationKey, Sig: w.KemPrekey.Sig},
	}
	if w.OneTime != nil {
		b.OneTime = &OneTimePrekey{ID: w.OneTime.Id, Pub: w.OneTime.Pub}
	}
	if k := w.OneTimeKem; k != nil {
		b.OneTimeKEM = &KEMPrekey{ID: k.Id, EncapsulationKey: k.EncapsulationKey, Sig: k.Sig}
	}
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	return b, nil
}
