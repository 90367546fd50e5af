// Package call is voice calls between two contacts' devices. This part is
// the audio frame on the wire and its protection: each frame is one Opus
// packet of wire.CallFrameDuration, sealed with ChaCha20-Poly1305 under a
// key of its direction, so that whoever carries the frames — a supernode
// relaying the call, anyone on the path — reads neither the audio nor a
// changed frame goes unnoticed.
//
// # Keys
//
// The calling device makes a random secret for each call and sends it in
// the call's offer, a payload of the message channel, which the pair's
// ratchet session encrypts end to end. Both devices derive from it, with
// the call's ID, one key for each direction (Keys): the two never seal
// under the same key, so the frame's sequence number alone makes each
// nonce unique. A call never reuses a secret; a new call, a new secret.
//
// # Frames
//
// A frame is its sequence number and media timestamp in the clear (the
// receiver orders and times frames by them before it opens any) and the
// sealed packet, with the header as additional data: a relay that changes
// the header or the packet makes the frame fail to open, and it is
// dropped like a lost one. Frames are not acknowledged or sent again: a
// frame that is late is dropped, never waited for.
package call

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"eserver/node/wire"
)

// Errors callers branch on.
var (
	// ErrBadFrame: a frame is shorter than its header and tag, or longer
	// than wire.MaxCallFrame; it is dropped unread.
	ErrBadFrame = errors.New("call: malformed frame")
	// ErrForged: a frame did not open under its direction's key (changed
	// on the way, or not of this call); it is dropped.
	ErrForged = errors.New("call: frame does not open")
)

// Frame is one frame of a call's audio.
type Frame struct {
	// Seq counts the frames a side sends in a call, from 0; it makes the
	// nonce, so a side never sends two frames under one number.
	Seq uint32
	// Timestamp is the frame's media time, in samples at
	// wire.CallSampleRate from the call's start.
	Timestamp uint32
	// Packet is the Opus packet: at most wire.MaxCallPacket bytes.
	Packet []byte
}

// Keys are a call's two directions: Send seals what this side sends, Open
// opens what the other side sends.
type Keys struct {
	send, open cipher.AEAD
}

// Labels of the two directions in the key derivation.
const (
	labelCaller = "eserver call v1: caller to callee"
	labelCallee = "eserver call v1: callee to caller"
)

// DeriveKeys returns the keys of call callID from its secret (made by the
// caller, wire.CallKeySize random bytes), for the caller's side when
// caller is set, else for the callee's.
func DeriveKeys(secret, callID []byte, caller bool) (*Keys, error) {
	if len(secret) != wire.CallKeySize {
		return nil, fmt.Errorf("call: a secret of %d bytes, want %d", len(secret), wire.CallKeySize)
	}
	if len(callID) == 0 {
		return nil, errors.New("call: no call ID")
	}
	prk, err := hkdf.Extract(sha256.New, secret, callID)
	if err != nil {
		return nil, fmt.Errorf("call: deriving keys: %w", err)
	}
	key := func(label string) (cipher.AEAD, error) {
		k, err := hkdf.Expand(sha256.New, prk, label, chacha20poly1305.KeySize)
		if err != nil {
			return nil, fmt.Errorf("call: deriving keys: %w", err)
		}
		return chacha20poly1305.New(k)
	}
	toCallee, err := key(labelCaller)
	if err != nil {
		return nil, err
	}
	toCaller, err := key(labelCallee)
	if err != nil {
		return nil, err
	}
	if caller {
		return &Keys{send: toCallee, open: toCaller}, nil
	}
	return &Keys{send: toCaller, open: toCallee}, nil
}

// nonce is the frame's nonce: its sequence number, zero-padded. Unique
// per key, as each direction has its own key and a side numbers its frames
// once.
func nonce(seq uint32) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint32(n[len(n)-4:], seq)
	return n
}

// Seal appends f, sealed for the other side, to dst and returns it.
func (k *Keys) Seal(dst []byte, f Frame) ([]byte, error) {
	if len(f.Packet) > wire.MaxCallPacket {
		return nil, fmt.Errorf("%w: a packet of %d bytes, limit %d", ErrBadFrame, len(f.Packet), wire.MaxCallPacket)
	}
	var h [wire.CallFrameHeader]byte
	binary.BigEndian.PutUint32(h[:], f.Seq)
	binary.BigEndian.PutUint32(h[4:], f.Timestamp)
	n := nonce(f.Seq)
	// The header, in the clear, is the additional data: changed, the
	// frame does not open. (A copy: the AEAD's additional data may not
	// overlap dst.)
	return k.send.Seal(append(dst, h[:]...), n[:], f.Packet, h[:]), nil
}

// Header reads a sealed frame's sequence number and timestamp without
// opening it: the receiver orders and times frames first, and opens only
// those it will play.
func Header(b []byte) (seq, timestamp uint32, err error) {
	if len(b) < wire.CallFrameHeader+chacha20poly1305.Overhead || len(b) > wire.MaxCallFrame {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrBadFrame, len(b))
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), nil
}

// Open opens a frame the other side sealed. Its packet is appended to a
// new slice, not b's.
func (k *Keys) Open(b []byte) (Frame, error) {
	seq, ts, err := Header(b)
	if err != nil {
		return Frame{}, err
	}
	n := nonce(seq)
	p, err := k.open.Open(nil, n[:], b[wire.CallFrameHeader:], b[:wire.CallFrameHeader])
	if err != nil {
		return Frame{}, fmt.Errorf("%w: frame %d", ErrForged, seq)
	}
	return Frame{Seq: seq, Timestamp: ts, Packet: p}, nil
}
