package ratchet

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"
)

// Session is one end of an end-to-end encrypted conversation between two
// devices. It is safe for concurrent use.
type Session struct {
	mu          sync.Mutex
	initiator   bool
	local       PublicIdentity
	remote      PublicIdentity
	initID      [32]byte
	pendingInit *WireInit // initiator only: sent along until it has a reply
	st          state
	skipped     []skippedKey // oldest first

	// Associated-data prefixes, derived from the identities, in
	// sender-to-receiver order.
	sendHeaderAD, recvHeaderAD []byte
	sendBodyAD, recvBodyAD     []byte
}

// state is the Double Ratchet state (spec §3.2, §4.2) apart from the skipped
// keys. It is plain data, so a copy is a transaction: Decrypt works on one
// and assigns it back only when the message authenticated.
type state struct {
	dhs     *ecdh.PrivateKey // our ratchet key; never mutated, only replaced
	dhsPub  [KeySize]byte
	dhr     [KeySize]byte // their ratchet key
	rk      [KeySize]byte
	cks     [KeySize]byte
	ckr     [KeySize]byte
	hks     [KeySize]byte
	hkr     [KeySize]byte
	nhks    [KeySize]byte
	nhkr    [KeySize]byte
	hasRecv bool // ckr and hkr are set: we have received from their current ratchet key
	ns      uint32
	nr      uint32
	pn      uint32
}

// wipe zeroes the keys st holds. The ecdh key cannot be wiped; it is dropped.
func (st *state) wipe() {
	for _, k := range []*[KeySize]byte{&st.rk, &st.cks, &st.ckr, &st.hks, &st.hkr, &st.nhks, &st.nhkr} {
		clear(k[:])
	}
	*st = state{}
}

// skippedKey is a message key kept for a message that has not arrived yet,
// found by the header key of its chain and its number.
type skippedKey struct {
	hk [KeySize]byte
	n  uint32
	mk [KeySize]byte
}

// header is the plaintext of an encrypted header.
type header struct {
	dh [KeySize]byte
	pn uint32 // length of the sender's previous sending chain
	n  uint32 // number of this message in its chain
}

func (h *header) marshal() [headerPlainSize]byte {
	var b [headerPlainSize]byte
	copy(b[:], h.dh[:])
	binary.BigEndian.PutUint32(b[KeySize:], h.pn)
	binary.BigEndian.PutUint32(b[KeySize+4:], h.n)
	return b
}

func newSession(initiator bool, local, remote PublicIdentity, initID [32]byte, pending *WireInit, st state) *Session {
	s := &Session{
		initiator:   initiator,
		local:       local,
		remote:      remote,
		initID:      initID,
		pendingInit: pending,
		st:          st,
	}
	l, r := []byte(local.PeerID), []byte(remote.PeerID)
	s.sendHeaderAD = transcript(labelHeaderAD, l, local.DH, r, remote.DH)
	s.recvHeaderAD = transcript(labelHeaderAD, r, remote.DH, l, local.DH)
	s.sendBodyAD = transcript(labelBodyAD, l, local.DH, r, remote.DH)
	s.recvBodyAD = transcript(labelBodyAD, r, remote.DH, l, local.DH)
	return s
}

// errUninitialised is the error of a Session not made by this package.
var errUninitialised = errors.New("ratchet: session not started (use Initiate, Respond or UnmarshalSession)")

// Remote returns the identity of the other device, as authenticated when the
// session started.
func (s *Session) Remote() PublicIdentity { return s.remote.clone() }

// Local returns this device's identity as the session knows it.
func (s *Session) Local() PublicIdentity { return s.local.clone() }

// AwaitingReply reports whether this is the initiator's session and it has not
// decrypted a reply yet, so its messages still carry the init header.
func (s *Session) AwaitingReply() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingInit != nil
}

// Encrypt seals plaintext for the other device, binding ad (which Decrypt
// must be given too). Save the session after it: a restored older copy would
// reuse message keys (harmless for the cipher, see the package doc, but the
// receiver drops such messages as duplicates).
func (s *Session) Encrypt(plaintext, ad []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("ratchet: encrypt: %w: plaintext of %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.dhs == nil {
		return nil, errUninitialised
	}
	if s.st.ns == math.MaxUint32 {
		return nil, errors.New("ratchet: encrypt: sending chain exhausted")
	}
	ck := s.st.cks
	mk := kdfCK(&ck)
	defer clear(ck[:])
	defer clear(mk[:])
	h := header{dh: s.st.dhsPub, pn: s.st.pn, n: s.st.ns}
	encHeader, err := sealHeader(&s.st.hks, &h, s.sendHeaderAD)
	if err != nil {
		return nil, fmt.Errorf("ratchet: encrypt: %w", err)
	}
	body, err := sealBody(&mk, plaintext, bodyAD(s.sendBodyAD, encHeader, ad))
	if err != nil {
		return nil, fmt.Errorf("ratchet: encrypt: %w", err)
	}
	out, err := proto.Marshal(&WireMessage{Version: version, Init: s.pendingInit, Header: encHeader, Body: body})
	if err != nil {
		return nil, fmt.Errorf("ratchet: encrypt: encode: %w", err)
	}
	s.st.cks = ck
	s.st.ns++
	return out, nil
}

// Decrypt opens a message from the other device, sealed with ad. On any
// error the session is unchanged. It fails with ErrMalformed, ErrOpen,
// ErrDuplicate, ErrTooManySkipped, or ErrNewSession for an init message of
// another session (call Respond).
func (s *Session) Decrypt(msg, ad []byte) ([]byte, error) {
	m, err := decodeMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("ratchet: decrypt: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.dhs == nil {
		return nil, errUninitialised
	}
	if m.Init != nil {
		// The responder's session was started by this init header; the
		// initiator's by none. Its fields are bound into the session's
		// keys, so a matching header needs no further check.
		if s.initiator || initIDOf(m.Init) != s.initID {
			return nil, fmt.Errorf("ratchet: decrypt: %w", ErrNewSession)
		}
	}
	pt, tx, err := s.open(m, ad)
	if err != nil {
		return nil, fmt.Errorf("ratchet: decrypt: %w", err)
	}
	s.commit(tx)
	return pt, nil
}

// decryptTx is a decryption in progress: a copy of the state, the skipped
// keys to add, and the index of the skipped key used (or -1).
type decryptTx struct {
	st    state
	added []skippedKey
	used  int
}

func (tx *decryptTx) discard() {
	tx.st.wipe()
	for i := range tx.added {
		clear(tx.added[i].mk[:])
	}
	tx.added = nil
}

// open decrypts m (spec §4.3, RatchetDecryptHE) without changing s; the
// caller commits the returned transaction.
func (s *Session) open(m *WireMessage, ad []byte) ([]byte, *decryptTx, error) {
	tx := &decryptTx{st: s.st, used: -1}
	pt, err := s.openTx(tx, m, ad)
	if err != nil {
		tx.discard()
		return nil, nil, err
	}
	return pt, tx, nil
}

func (s *Session) openTx(tx *decryptTx, m *WireMessage, ad []byte) ([]byte, error) {
	enc := m.Header
	bad := bodyAD(s.recvBodyAD, enc, ad)
	// The current receiving chain: the common case, tried first.
	if tx.st.hasRecv {
		if h, ok := openHeader(&tx.st.hkr, enc, s.recvHeaderAD); ok {
			if h.dh != tx.st.dhr {
				return nil, fmt.Errorf("%w: header of the current chain names another ratchet key", ErrMalformed)
			}
			if h.n < tx.st.nr {
				return s.openSkipped(tx, &tx.st.hkr, h.n, m.Body, bad)
			}
			if err := tx.skip(h.n); err != nil {
				return nil, err
			}
			return s.openNext(tx, m.Body, bad)
		}
	}
	// The next chain: the peer has received our ratchet key and sent a new
	// one of its own.
	if h, ok := openHeader(&tx.st.nhkr, enc, s.recvHeaderAD); ok {
		if tx.st.hasRecv {
			if h.dh == tx.st.dhr {
				return nil, fmt.Errorf("%w: new chain with the old ratchet key", ErrMalformed)
			}
			if err := tx.skip(h.pn); err != nil {
				return nil, err
			}
		}
		if err := tx.ratchet(h.dh); err != nil {
			return nil, err
		}
		if err := tx.skip(h.n); err != nil {
			return nil, err
		}
		return s.openNext(tx, m.Body, bad)
	}
	// Older chains we still hold skipped keys of. Each chain's keys are
	// contiguous, so each header key is tried once.
	var last *[KeySize]byte
	for i := range s.skipped {
		hk := &s.skipped[i].hk
		if (last != nil && *hk == *last) || (tx.st.hasRecv && *hk == tx.st.hkr) {
			continue
		}
		last = hk
		if h, ok := openHeader(hk, enc, s.recvHeaderAD); ok {
			return s.openSkipped(tx, hk, h.n, m.Body, bad)
		}
	}
	return nil, fmt.Errorf("%w: no key of the session opens the header", ErrOpen)
}

// openSkipped opens a body with the skipped key (hk, n); ad is the body's
// whole associated data.
func (s *Session) openSkipped(tx *decryptTx, hk *[KeySize]byte, n uint32, body, ad []byte) ([]byte, error) {
	for i := range s.skipped {
		if s.skipped[i].n == n && s.skipped[i].hk == *hk {
			pt, err := openBody(&s.skipped[i].mk, body, ad)
			if err != nil {
				return nil, err
			}
			tx.used = i
			return pt, nil
		}
	}
	return nil, fmt.Errorf("%w: message %d", ErrDuplicate, n)
}

// openNext opens a body with the next key of the receiving chain.
func (s *Session) openNext(tx *decryptTx, body, ad []byte) ([]byte, error) {
	mk := kdfCK(&tx.st.ckr)
	defer clear(mk[:])
	tx.st.nr++
	return openBody(&mk, body, ad)
}

// skip derives and keeps the keys of messages tx.st.nr to until-1 of the
// receiving chain (spec SkipMessageKeysHE).
func (tx *decryptTx) skip(until uint32) error {
	if uint64(until) > uint64(tx.st.nr)+MaxSkip {
		return fmt.Errorf("%w: message %d of a chain at %d, limit %d", ErrTooManySkipped, until, tx.st.nr, MaxSkip)
	}
	for tx.st.nr < until {
		tx.added = append(tx.added, skippedKey{hk: tx.st.hkr, n: tx.st.nr, mk: kdfCK(&tx.st.ckr)})
		tx.st.nr++
	}
	return nil
}

// ratchet is the DH ratchet step on a new ratchet key of the peer (spec
// DHRatchetHE).
func (tx *decryptTx) ratchet(dh [KeySize]byte) error {
	remote, err := ecdh.X25519().NewPublicKey(dh[:])
	if err != nil {
		return fmt.Errorf("%w: ratchet key: %v", ErrMalformed, err)
	}
	st := &tx.st
	st.pn, st.ns, st.nr = st.ns, 0, 0
	st.hks, st.hkr = st.nhks, st.nhkr
	st.dhr = dh
	if err := rootStep(st, st.dhs, remote, &st.ckr, &st.nhkr); err != nil {
		return err
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("ratchet key: %w", err)
	}
	st.dhs = k
	copy(st.dhsPub[:], k.PublicKey().Bytes())
	if err := rootStep(st, k, remote, &st.cks, &st.nhks); err != nil {
		return err
	}
	st.hasRecv = true
	return nil
}

// rootStep advances the root chain with DH(priv, remote) and sets the new
// chain key and next header key (spec KDF_RK_HE).
func rootStep(st *state, priv *ecdh.PrivateKey, remote *ecdh.PublicKey, ck, nhk *[KeySize]byte) error {
	out, err := priv.ECDH(remote)
	if err != nil {
		return fmt.Errorf("%w: ratchet key agreement: %v", ErrMalformed, err)
	}
	defer clear(out)
	okm, err := hkdf.Key(sha256.New, out, st.rk[:], labelRoot, 3*KeySize)
	if err != nil {
		return fmt.Errorf("root KDF: %w", err)
	}
	defer clear(okm)
	copy(st.rk[:], okm[:KeySize])
	copy(ck[:], okm[KeySize:2*KeySize])
	copy(nhk[:], okm[2*KeySize:])
	return nil
}

// kdfCK advances a chain key and returns the message key (spec KDF_CK:
// HMAC with constants 0x01 and 0x02).
func kdfCK(ck *[KeySize]byte) (mk [KeySize]byte) {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{1})
	m.Sum(mk[:0])
	m.Reset()
	m.Write([]byte{2})
	var next [KeySize]byte
	m.Sum(next[:0])
	*ck = next
	clear(next[:])
	return mk
}

// commit makes tx the session's state.
func (s *Session) commit(tx *decryptTx) {
	s.st = tx.st
	tx.st.wipe()
	if tx.used >= 0 {
		s.removeSkipped(tx.used)
	}
	s.appendSkipped(tx.added)
	tx.discard()
	if n := len(s.skipped) - MaxSkippedKeys; n > 0 {
		for i := range n {
			clear(s.skipped[i].mk[:])
		}
		m := copy(s.skipped, s.skipped[n:])
		clear(s.skipped[m:])
		s.skipped = s.skipped[:m]
	}
	// Any message that opened came from a responder that has the session.
	s.pendingInit = nil
}

func (s *Session) removeSkipped(i int) {
	clear(s.skipped[i].mk[:])
	copy(s.skipped[i:], s.skipped[i+1:])
	last := len(s.skipped) - 1
	s.skipped[last] = skippedKey{}
	s.skipped = s.skipped[:last]
}

// appendSkipped appends keys, zeroing the old array when it has to grow, so
// no stale copy of a message key is left for the garbage collector.
func (s *Session) appendSkipped(keys []skippedKey) {
	if len(keys) == 0 {
		return
	}
	if need := len(s.skipped) + len(keys); need > cap(s.skipped) {
		grown := make([]skippedKey, len(s.skipped), max(need, 2*cap(s.skipped), 16))
		copy(grown, s.skipped)
		clear(s.skipped)
		s.skipped = grown
	}
	s.skipped = append(s.skipped, keys...)
}

// wipe zeroes every key of a session that is being dropped.
func (s *Session) wipe() {
	s.st.wipe()
	clear(s.skipped)
	s.skipped = nil
}

// ---------------------------------------------------------------- sealing

func sealHeader(hk *[KeySize]byte, h *header, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(hk[:])
	if err != nil {
		return nil, fmt.Errorf("header cipher: %w", err)
	}
	out := make([]byte, nonceSize, headerSize)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("header nonce: %w", err)
	}
	plain := h.marshal()
	defer clear(plain[:])
	return aead.Seal(out, out[:nonceSize], plain[:], ad), nil
}

// openHeader decrypts an encrypted header (of headerSize bytes, as
// decodeMessage checked) with hk.
func openHeader(hk *[KeySize]byte, enc, ad []byte) (header, bool) {
	aead, err := chacha20poly1305.NewX(hk[:])
	if err != nil {
		return header{}, false
	}
	var buf [headerPlainSize]byte
	plain, err := aead.Open(buf[:0], enc[:nonceSize], enc[nonceSize:], ad)
	if err != nil || len(plain) != headerPlainSize {
		return header{}, false
	}
	var h header
	copy(h.dh[:], plain)
	h.pn = binary.BigEndian.Uint32(plain[KeySize:])
	h.n = binary.BigEndian.Uint32(plain[KeySize+4:])
	clear(buf[:])
	// The sender never uses number MaxUint32 (Encrypt refuses), so the
	// receiving counter n+1 cannot wrap.
	if h.n == math.MaxUint32 {
		return header{}, false
	}
	return h, true
}

// messageAEAD is the body cipher of a message key: HKDF-Expand with a label,
// so a message key is never used directly under two algorithms.
func messageAEAD(mk *[KeySize]byte) (cipher.AEAD, error) {
	key, err := hkdf.Expand(sha256.New, mk[:], labelMessageKey, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("message key: %w", err)
	}
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

func sealBody(mk *[KeySize]byte, plaintext, ad []byte) ([]byte, error) {
	aead, err := messageAEAD(mk)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("body nonce: %w", err)
	}
	return aead.Seal(out, out[:nonceSize], plaintext, ad), nil
}

// openBody decrypts a body (at least bodyOverhead bytes, as decodeMessage
// checked) with its whole associated data ad.
func openBody(mk *[KeySize]byte, body, ad []byte) ([]byte, error) {
	aead, err := messageAEAD(mk)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: body does not authenticate", ErrOpen)
	}
	return pt, nil
}

// bodyAD is the associated data of a body: the identities in
// sender-to-receiver order (prefix), the encrypted header and the caller's ad.
func bodyAD(prefix, encHeader, ad []byte) []byte {
	b := make([]byte, 0, len(prefix)+8+len(encHeader)+len(ad))
	b = append(b, prefix...)
	b = appendPart(b, encHeader)
	return appendPart(b, ad)
}
