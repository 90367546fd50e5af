package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// decodeMessage decodes a ratchet message and checks every size; it says
// nothing about authenticity.
func decodeMessage(b []byte) (*WireMessage, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %w: message of %d bytes, limit %d", ErrMalformed, ErrTooLarge, len(b), MaxMessageSize)
	}
	var m WireMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: message: %v", ErrMalformed, err)
	}
	if hasUnknown(m.ProtoReflect()) {
		return nil, fmt.Errorf("%w: message has unknown fields", ErrMalformed)
	}
	if m.Version != version {
		return nil, fmt.Errorf("%w: message version %d, want %d", ErrMalformed, m.Version, version)
	}
	if len(m.Header) != headerSize {
		return nil, fmt.Errorf("%w: header of %d bytes, want %d", ErrMalformed, len(m.Header), headerSize)
	}
	if len(m.Body) < bodyOverhead || len(m.Body) > MaxPlaintext+bodyOverhead {
		return nil, fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(m.Body))
	}
	if m.Init != nil {
		if err := checkInit(m.Init); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// checkInit checks the sizes of an init header's fields.
func checkInit(w *WireInit) error {
	if _, err := decodePeerID(w.PeerId); err != nil {
		return fmt.Errorf("init header: %w", err)
	}
	if err := checkKey(w.IdentityDh, "init identity DH key"); err != nil {
		return err
	}
	if err := checkKey(w.Ephemeral, "init ephemeral key"); err != nil {
		return err
	}
	if len(w.IdentitySig) != sigSize {
		return fmt.Errorf("%w: init identity signature of %d bytes", ErrMalformed, len(w.IdentitySig))
	}
	if len(w.KemCiphertext) != mlkem.CiphertextSize768 {
		return fmt.Errorf("%w: KEM ciphertext of %d bytes, want %d", ErrMalformed, len(w.KemCiphertext), mlkem.CiphertextSize768)
	}
	return nil
}

// MarshalBinary encodes the whole session state (versioned protobuf), to be
// stored sealed: it holds the session's secrets, though no long-term key.
func (s *Session) MarshalBinary() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.dhs == nil {
		return nil, errUninitialised
	}
	dhs := s.st.dhs.Bytes()
	defer clear(dhs)
	w := &WireSession{
		Version:      version,
		Initiator:    s.initiator,
		LocalPeerId:  []byte(s.local.PeerID),
		LocalDh:      s.local.DH,
		RemotePeerId: []byte(s.remote.PeerID),
		RemoteDh:     s.remote.DH,
		InitId:       s.initID[:],
		PendingInit:  s.pendingInit,
		Dhs:          dhs,
		Dhr:          s.st.dhr[:],
		Rk:           s.st.rk[:],
		Cks:          s.st.cks[:],
		Hks:          s.st.hks[:],
		Nhks:         s.st.nhks[:],
		Nhkr:         s.st.nhkr[:],
		Ns:           s.st.ns,
		Nr:           s.st.nr,
		Pn:           s.st.pn,
		Skipped:      make([]*WireSkippedKey, len(s.skipped)),
	}
	if s.st.hasRecv {
		w.Ckr, w.Hkr = s.st.ckr[:], s.st.hkr[:]
	}
	for i := range s.skipped {
		k := &s.skipped[i]
		w.Skipped[i] = &WireSkippedKey{HeaderKey: k.hk[:], N: k.n, MessageKey: k.mk[:]}
	}
	out, err := proto.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("ratchet: marshal session: %w", err)
	}
	return out, nil
}

// UnmarshalSession decodes a session stored with MarshalBinary, checking
// every length and the invariants the session relies on.
func UnmarshalSession(data []byte) (*Session, error) {
	s, err := unmarshalSession(data)
	if err != nil {
		return nil, fmt.Errorf("ratchet: unmarshal session: %w", err)
	}
	return s, nil
}

func unmarshalSession(data []byte) (*Session, error) {
	if len(data) > MaxSessionSize {
		return nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrMalformed, ErrTooLarge, len(data), MaxSessionSize)
	}
	var w WireSession
	if err := proto.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	defer wipeWire(&w)
	if hasUnknown(w.ProtoReflect()) {
		return nil, fmt.Errorf("%w: unknown fields", ErrMalformed)
	}
	if w.Version != version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, w.Version, version)
	}
	local, err := decodeIdentity(w.LocalPeerId, w.LocalDh)
	if err != nil {
		return nil, fmt.Errorf("local identity: %w", err)
	}
	remote, err := decodeIdentity(w.RemotePeerId, w.RemoteDh)
	if err != nil {
		return nil, fmt.Errorf("remote identity: %w", err)
	}
	if local.PeerID == remote.PeerID {
		return nil, fmt.Errorf("%w: a session with oneself", ErrMalformed)
	}
	var initID [32]byte
	if len(w.InitId) != len(initID) {
		return nil, fmt.Errorf("%w: init ID of %d bytes", ErrMalformed, len(w.InitId))
	}
	copy(initID[:], w.InitId)
	if p := w.PendingInit; p != nil {
		if !w.Initiator {
			return nil, fmt.Errorf("%w: responder with a pending init header", ErrMalformed)
		}
		if err := checkInit(p); err != nil {
			return nil, err
		}
		if !bytes.Equal(p.PeerId, w.LocalPeerId) || !bytes.Equal(p.IdentityDh, w.LocalDh) || initIDOf(p) != initID {
			return nil, fmt.Errorf("%w: pending init header of another session", ErrMalformed)
		}
	}

	var st state
	for _, f := range []struct {
		dst  *[KeySize]byte
		src  []byte
		what string
	}{
		{&st.dhr, w.Dhr, "their ratchet key"}, {&st.rk, w.Rk, "root key"},
		{&st.cks, w.Cks, "sending chain key"}, {&st.hks, w.Hks, "sending header key"},
		{&st.nhks, w.Nhks, "next sending header key"}, {&st.nhkr, w.Nhkr, "next receiving header key"},
	} {
		if err := checkKey(f.src, f.what); err != nil {
			return nil, err
		}
		copy(f.dst[:], f.src)
	}
	if err := checkKey(w.Dhs, "our ratchet key"); err != nil {
		return nil, err
	}
	if st.dhs, err = ecdh.X25519().NewPrivateKey(w.Dhs); err != nil {
		return nil, fmt.Errorf("%w: our ratchet key: %v", ErrMalformed, err)
	}
	copy(st.dhsPub[:], st.dhs.PublicKey().Bytes())
	switch {
	case len(w.Ckr) == 0 && len(w.Hkr) == 0:
		if w.Nr != 0 {
			return nil, fmt.Errorf("%w: received %d messages without a receiving chain", ErrMalformed, w.Nr)
		}
	default:
		if err := checkKey(w.Ckr, "receiving chain key"); err != nil {
			return nil, err
		}
		if err := checkKey(w.Hkr, "receiving header key"); err != nil {
			return nil, err
		}
		copy(st.ckr[:], w.Ckr)
		copy(st.hkr[:], w.Hkr)
		st.hasRecv = true
	}
	// Until a session has received, it is an initiator still sending its
	// init header; after, it never sends one again.
	if st.hasRecv != (w.PendingInit == nil) {
		return nil, fmt.Errorf("%w: receiving chain and pending init header disagree", ErrMalformed)
	}
	st.ns, st.nr, st.pn = w.Ns, w.Nr, w.Pn

	if len(w.Skipped) > MaxSkippedKeys {
		return nil, fmt.Errorf("%w: %d skipped keys, limit %d", ErrMalformed, len(w.Skipped), MaxSkippedKeys)
	}
	skipped := make([]skippedKey, len(w.Skipped))
	for i, k := range w.Skipped {
		if err := checkKey(k.HeaderKey, "skipped header key"); err != nil {
			return nil, err
		}
		if err := checkKey(k.MessageKey, "skipped message key"); err != nil {
			return nil, err
		}
		copy(skipped[i].hk[:], k.HeaderKey)
		copy(skipped[i].mk[:], k.MessageKey)
		skipped[i].n = k.N
	}
	var pending *WireInit
	if w.PendingInit != nil {
		pending = proto.Clone(w.PendingInit).(*WireInit)
	}
	s := newSession(w.Initiator, local, remote, initID, pending, st)
	s.skipped = skipped
	return s, nil
}

func decodeIdentity(id, dh []byte) (PublicIdentity, error) {
	p, err := decodePeerID(id)
	if err != nil {
		return PublicIdentity{}, err
	}
	if err := checkKey(dh, "identity DH key"); err != nil {
		return PublicIdentity{}, err
	}
	return PublicIdentity{PeerID: p, DH: bytes.Clone(dh)}, nil
}

// wipeWire zeroes the secrets of a decoded session once they are copied.
func wipeWire(w *WireSession) {
	for _, b := range [][]byte{w.Dhs, w.Rk, w.Cks, w.Ckr, w.Hks, w.Hkr, w.Nhks, w.Nhkr} {
		clear(b)
	}
	for _, k := range w.Skipped {
		if k != nil {
			clear(k.HeaderKey)
			clear(k.MessageKey)
		}
	}
}
