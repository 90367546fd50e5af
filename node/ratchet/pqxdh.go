package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Initiate starts a session with device to from its bundle, as local. It
// verifies the bundle against to first. The session's messages carry the
// init header until it has decrypted a reply (AwaitingReply).
func Initiate(local *Identity, to peer.ID, remote *Bundle) (*Session, error) {
	if local == nil {
		return nil, errors.New("ratchet: initiate: nil identity")
	}
	if err := remote.verify(to); err != nil {
		return nil, fmt.Errorf("ratchet: initiate: %w", err)
	}
	s, err := initiate(local.Public(), local.sig, remote, local.dh.ECDH)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: %w", err)
	}
	return s, nil
}

// initiate is Initiate on a verified bundle, with DH1 = DH(IK_A, SPK_B) left
// to dh1, so a test can play an attacker who lacks IK_A's private key.
func initiate(localPub PublicIdentity, identitySig []byte, b *Bundle, dh1 func(*ecdh.PublicKey) ([]byte, error)) (*Session, error) {
	if b.PeerID == localPub.PeerID {
		return nil, fmt.Errorf("%w: a session with oneself", ErrWrongPeer)
	}
	x := ecdh.X25519()
	ikB, err := x.NewPublicKey(b.IdentityDH)
	if err != nil {
		return nil, fmt.Errorf("%w: identity DH key: %v", ErrMalformed, err)
	}
	spkB, err := x.NewPublicKey(b.SignedPrekey.Pub)
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrMalformed, err)
	}
	kem, kemOneTime := b.KEMPrekey, false
	if b.OneTimeKEM != nil {
		kem, kemOneTime = *b.OneTimeKEM, true
	}
	ekKEM, err := mlkem.NewEncapsulationKey768(kem.EncapsulationKey)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM prekey: %v", ErrMalformed, err)
	}
	ek, err := x.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	in := pqxdhInput{initiator: localPub, responder: PublicIdentity{PeerID: b.PeerID, DH: b.IdentityDH}}
	defer in.wipe()
	ss, ct := ekKEM.Encapsulate()
	in.ss = ss
	if in.dh1, err = dh1(spkB); err != nil {
		return nil, fmt.Errorf("%w: DH1: %v", ErrMalformed, err)
	}
	if in.dh2, err = ek.ECDH(ikB); err != nil {
		return nil, fmt.Errorf("%w: DH2: %v", ErrMalformed, err)
	}
	if in.dh3, err = ek.ECDH(spkB); err != nil {
		return nil, fmt.Errorf("%w: DH3: %v", ErrMalformed, err)
	}
	w := &WireInit{
		PeerId:         []byte(localPub.PeerID),
		IdentityDh:     bytes.Clone(localPub.DH),
		IdentitySig:    bytes.Clone(identitySig),
		Ephemeral:      ek.PublicKey().Bytes(),
		KemCiphertext:  ct,
		SignedPrekeyId: b.SignedPrekey.ID,
		KemPrekeyId:    kem.ID,
		KemOneTime:     kemOneTime,
	}
	if b.OneTime != nil {
		opk, err := x.NewPublicKey(b.OneTime.Pub)
		if err != nil {
			return nil, fmt.Errorf("%w: one-time prekey: %v", ErrMalformed, err)
		}
		if in.dh4, err = ek.ECDH(opk); err != nil {
			return nil, fmt.Errorf("%w: DH4: %v", ErrMalformed, err)
		}
		id := b.OneTime.ID
		w.OneTimeId = &id
		in.opkPub = b.OneTime.Pub
	}
	in.initID = initIDOf(w)
	in.spkPub, in.kemEK = b.SignedPrekey.Pub, kem.EncapsulationKey
	rk0, hka, nhkb, err := in.derive()
	if err != nil {
		return nil, err
	}
	defer clear(rk0[:])
	defer clear(hka[:])
	defer clear(nhkb[:])

	// The initiator's first ratchet step is against SPK_B, which the
	// responder uses as its first ratchet key (spec RatchetInitAliceHE).
	dhs, err := x.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ratchet key: %w", err)
	}
	st := state{dhs: dhs, rk: rk0, hks: hka, nhkr: nhkb}
	copy(st.dhsPub[:], dhs.PublicKey().Bytes())
	copy(st.dhr[:], b.SignedPrekey.Pub)
	if err := rootStep(&st, dhs, spkB, &st.cks, &st.nhks); err != nil {
		st.wipe()
		return nil, err
	}
	remote := PublicIdentity{PeerID: b.PeerID, DH: bytes.Clone(b.IdentityDH)}
	s := newSession(true, localPub.clone(), remote, in.initID, w, st)
	st.wipe() // the session has its own copy
	return s, nil
}

// Respond starts the responder's side of a session from the first message
// that reached it, and returns the session and that message's plaintext.
//
// from is the authenticated sender — the libp2p remote peer, or the signer of
// the envelope the message came in — never a field of the message: the
// message must name from and carry from's signature over the identity DH key
// it uses, and only the holder of that key's private half can produce a
// message that decrypts. Remote() of the session is from with that key.
//
// If the caller already knows from's identity DH key (from its ticket, or a
// contact verified by safety number), it should compare it with
// Remote().DH: a new key means a new safety number to show the user.
//
// The store's one-time prekeys are consumed only once the message has
// decrypted; a second Respond to the same init message fails with ErrReplay
// or ErrNoPrekey.
func Respond(local *Identity, store PrekeyStore, from peer.ID, first, ad []byte) (*Session, []byte, error) {
	s, pt, err := respond(local, store, from, first, ad)
	if err != nil {
		return nil, nil, fmt.Errorf("ratchet: respond: %w", err)
	}
	return s, pt, nil
}

func respond(local *Identity, store PrekeyStore, from peer.ID, first, ad []byte) (*Session, []byte, error) {
	if local == nil || store == nil {
		return nil, nil, errors.New("nil identity or store")
	}
	if from == "" {
		return nil, nil, fmt.Errorf("%w: no authenticated sender given", ErrWrongPeer)
	}
	m, err := decodeMessage(first)
	if err != nil {
		return nil, nil, err
	}
	w := m.Init
	if w == nil {
		return nil, nil, fmt.Errorf("%w: not an init message", ErrMalformed)
	}
	if claimed := peer.ID(w.PeerId); claimed != from {
		return nil, nil, fmt.Errorf("%w: init message of %s came from %s", ErrWrongPeer, claimed, from)
	}
	if from == local.pub.PeerID {
		return nil, nil, fmt.Errorf("%w: a session with oneself", ErrWrongPeer)
	}
	if err := verifySig(from, identityTranscript(from, w.IdentityDh), w.IdentitySig, "initiator identity key"); err != nil {
		return nil, nil, err
	}

	spk, err := store.SignedPrekey(w.SignedPrekeyId)
	if err != nil {
		return nil, nil, fmt.Errorf("signed prekey %d: %w", w.SignedPrekeyId, err)
	}
	var dk *mlkem.DecapsulationKey768
	if w.KemOneTime {
		dk, err = store.OneTimeKEMPrekey(w.KemPrekeyId)
	} else {
		dk, err = store.KEMPrekey(w.KemPrekeyId)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("KEM prekey %d: %w", w.KemPrekeyId, err)
	}
	var opk *ecdh.PrivateKey
	if w.OneTimeId != nil {
		if opk, err = store.OneTimePrekey(*w.OneTimeId); err != nil {
			return nil, nil, fmt.Errorf("one-time prekey %d: %w", *w.OneTimeId, err)
		}
	}
	if spk == nil || dk == nil || (w.OneTimeId != nil && opk == nil) {
		return nil, nil, fmt.Errorf("%w: store returned a nil key", ErrNoPrekey)
	}

	x := ecdh.X25519()
	ikA, err := x.NewPublicKey(w.IdentityDh)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: identity DH key: %v", ErrMalformed, err)
	}
	ekA, err := x.NewPublicKey(w.Ephemeral)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrMalformed, err)
	}
	remote := PublicIdentity{PeerID: from, DH: bytes.Clone(w.IdentityDh)}
	in := pqxdhInput{
		initID:    initIDOf(w),
		initiator: remote,
		responder: local.pub,
		spkPub:    spk.PublicKey().Bytes(),
		kemEK:     dk.EncapsulationKey().Bytes(),
	}
	defer in.wipe()
	if in.dh1, err = spk.ECDH(ikA); err != nil {
		return nil, nil, fmt.Errorf("%w: DH1: %v", ErrMalformed, err)
	}
	if in.dh2, err = local.dh.ECDH(ekA); err != nil {
		return nil, nil, fmt.Errorf("%w: DH2: %v", ErrMalformed, err)
	}
	if in.dh3, err = spk.ECDH(ekA); err != nil {
		return nil, nil, fmt.Errorf("%w: DH3: %v", ErrMalformed, err)
	}
	if opk != nil {
		if in.dh4, err = opk.ECDH(ekA); err != nil {
			return nil, nil, fmt.Errorf("%w: DH4: %v", ErrMalformed, err)
		}
		in.opkPub = opk.PublicKey().Bytes()
	}
	// ML-KEM decapsulation never fails on a well-sized ciphertext: a wrong
	// one yields an unrelated secret (implicit rejection), caught below.
	if in.ss, err = dk.Decapsulate(w.KemCiphertext); err != nil {
		return nil, nil, fmt.Errorf("%w: KEM: %v", ErrMalformed, err)
	}
	rk0, hka, nhkb, err := in.derive()
	if err != nil {
		return nil, nil, err
	}
	// The responder's first ratchet key is its signed prekey (spec
	// RatchetInitBobHE); opening the first message ratchets past it at once,
	// so the session never holds the prekey.
	st := state{dhs: spk, rk: rk0, nhks: nhkb, nhkr: hka}
	copy(st.dhsPub[:], in.spkPub)
	clear(rk0[:])
	clear(hka[:])
	clear(nhkb[:])
	s := newSession(false, local.Public(), remote, in.initID, nil, st)
	st.wipe()
	pt, tx, err := s.open(m, ad)
	if err != nil {
		s.wipe()
		return nil, nil, err
	}
	c := Consumption{InitID: in.initID, SignedPrekeyID: w.SignedPrekeyId}
	if w.OneTimeId != nil {
		c.OneTimeID, c.HasOneTime = *w.OneTimeId, true
	}
	if w.KemOneTime {
		c.OneTimeKEMID, c.HasOneTimeKEM = w.KemPrekeyId, true
	}
	if err := store.Consume(c); err != nil {
		tx.discard()
		s.wipe()
		return nil, nil, fmt.Errorf("consume prekeys: %w", err)
	}
	s.commit(tx)
	return s, pt, nil
}

// pqxdhInput is what both sides feed the PQXDH key derivation.
type pqxdhInput struct {
	initID                 [32]byte // hash of the init header (initIDOf)
	initiator, responder   PublicIdentity
	spkPub, kemEK, opkPub  []byte // the responder's prekeys used; opkPub nil if none
	dh1, dh2, dh3, dh4, ss []byte // dh4 nil if no one-time prekey
}

func (in *pqxdhInput) wipe() {
	for _, b := range [][]byte{in.dh1, in.dh2, in.dh3, in.dh4, in.ss} {
		clear(b)
	}
}

// derive returns the initial root key and the two shared header keys (the
// initiator's first sending header key and the responder's next one):
// HKDF-SHA256 with a zero salt over F ‖ DH1 ‖ DH2 ‖ DH3 ‖ [DH4] ‖ SS, where F
// is 32 0xFF bytes as in the PQXDH spec, and info the label and the hash of
// the whole transcript.
func (in *pqxdhInput) derive() (rk, hka, nhkb [KeySize]byte, err error) {
	ikm := make([]byte, 0, 6*KeySize)
	ikm = append(ikm, bytes.Repeat([]byte{0xFF}, KeySize)...)
	ikm = append(ikm, in.dh1...)
	ikm = append(ikm, in.dh2...)
	ikm = append(ikm, in.dh3...)
	ikm = append(ikm, in.dh4...)
	ikm = append(ikm, in.ss...)
	defer clear(ikm)
	th := sha256.Sum256(transcript(labelTranscript, in.initID[:],
		[]byte(in.initiator.PeerID), in.initiator.DH,
		[]byte(in.responder.PeerID), in.responder.DH,
		in.spkPub, in.kemEK, in.opkPub))
	prk, err := hkdf.Extract(sha256.New, ikm, make([]byte, sha256.Size))
	if err != nil {
		return rk, hka, nhkb, fmt.Errorf("PQXDH extract: %w", err)
	}
	defer clear(prk)
	okm, err := hkdf.Expand(sha256.New, prk, labelPQXDH+string(th[:]), 3*KeySize)
	if err != nil {
		return rk, hka, nhkb, fmt.Errorf("PQXDH expand: %w", err)
	}
	defer clear(okm)
	copy(rk[:], okm)
	copy(hka[:], okm[KeySize:])
	copy(nhkb[:], okm[2*KeySize:])
	return rk, hka, nhkb, nil
}

// initIDOf identifies an init header by all its fields. Its ephemeral key is
// fresh, so two init messages share an ID only if one replays the other.
func initIDOf(w *WireInit) [32]byte {
	kemKind := []byte{0}
	if w.KemOneTime {
		kemKind[0] = 1
	}
	opk := []byte{0}
	if w.OneTimeId != nil {
		opk = append([]byte{1}, be32(*w.OneTimeId)...)
	}
	return sha256.Sum256(transcript(labelInitID, w.PeerId, w.IdentityDh, w.IdentitySig, w.Ephemeral,
		w.KemCiphertext, be32(w.SignedPrekeyId), be32(w.KemPrekeyId), kemKind, opk))
}

// InitInfo is what an init message claims. None of it is authenticated until
// Respond succeeds; use it to pick the store or the contact, not to trust.
type InitInfo struct {
	Sender         peer.ID
	IdentityDH     []byte
	SignedPrekeyID uint32
	KEMPrekeyID    uint32
	KEMOneTime     bool
	OneTimeID      uint32
	HasOneTime     bool
}

// ParseInit decodes msg and, if it carries an init header, returns what the
// header claims and true. A well-formed message without one gives false and
// no error.
func ParseInit(msg []byte) (InitInfo, bool, error) {
	m, err := decodeMessage(msg)
	if err != nil {
		return InitInfo{}, false, fmt.Errorf("ratchet: parse init: %w", err)
	}
	w := m.Init
	if w == nil {
		return InitInfo{}, false, nil
	}
	info := InitInfo{
		Sender:         peer.ID(w.PeerId),
		IdentityDH:     w.IdentityDh,
		SignedPrekeyID: w.SignedPrekeyId,
		KEMPrekeyID:    w.KemPrekeyId,
		KEMOneTime:     w.KemOneTime,
	}
	if w.OneTimeId != nil {
		info.OneTimeID, info.HasOneTime = *w.OneTimeId, true
	}
	return info, true, nil
}

// IsInit reports whether msg is a well-formed message that carries an init
// header, i.e. one that may start a session (see Respond).
func IsInit(msg []byte) bool {
	_, ok, err := ParseInit(msg)
	return ok && err == nil
}
