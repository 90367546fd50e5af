// Package livestream is EServer's contact-to-contact live byte stream: an
// ordered, flow-controlled, end-to-end encrypted pipe whose receiver consumes
// while the sender is still producing (`arecord | eserver-node stream send
// bob` on one side, `eserver-node stream receive | aplay` on the other).
//
// # Protocol (/eserver/livestream/1.0.0)
//
// The opener sends a Header {version, stream id (16 random bytes), label (≤
// MaxLabel bytes of UTF-8), opener confirm}; the receiver checks the peer and
// label with its Allow hook before anything else (a stranger gets
// STATUS_REFUSED and nothing more is read from it), looks the stream key up,
// checks the confirm tag and answers with a Response {status, receiver nonce,
// receiver confirm}. Both messages are varint-length-prefixed protobuf. Then
// the opener sends data frames until an end frame, and half-closes.
//
// # Keys
//
// The caller supplies a 32-byte stream key; the node exchanges it inside its
// end-to-end encrypted channel, so the transport (and any relay) never holds
// it. From it, HKDF-SHA256 derives, over a transcript of the stream id, the
// label and both peer IDs:
//   - a confirm key: each side sends HMAC(confirm key, role [‖ nonce]), so a
//     wrong key is reported as ErrWrongKey before any data moves;
//   - the data key of each direction, salted with the receiver's fresh nonce.
//     The nonce makes every stream's data key new even if the node reuses a
//     stream key or an attacker replays a whole recorded stream: the replay
//     meets a new nonce and its first frame fails to authenticate.
//
// # Frames
//
//	uvarint(L) ‖ type (1 byte: 1 data, 2 end) ‖ XChaCha20-Poly1305(payload)
//
// L is the length of what follows and is checked against MaxFrame before
// anything is allocated. The AEAD nonce is direction (1 byte) ‖ 15 zero
// bytes ‖ seq (8 bytes, big endian), where seq counts this direction's frames
// from 0 and is not sent: both ends count. A data key is used by one
// direction of one stream only, and seq only grows (the sender fails with
// ErrTooLong rather than wrap), so a nonce never repeats under a key; random
// nonces would add nothing but 24 bytes a frame. The associated data is
// "LS1" ‖ stream id ‖ direction ‖ seq ‖ type, so a frame that is reordered,
// replayed, dropped, moved to another stream or direction, or retyped fails
// to open (ErrAuth), as does any tampering. The end frame is authenticated
// like any other and carries the final seq, so a stream that stops without it
// — EOF, reset, a cut relay — reads as ErrTruncated, never as io.EOF.
//
// # Flow control
//
// Nothing in this package queues without bound. The sender holds one frame
// buffer (MaxPayload): small writes are coalesced into it and flushed when it
// is full or FlushDelay after the first byte entered it; big writes are
// sealed straight from the caller's slice in MaxPayload pieces. Each frame is
// written to the libp2p stream synchronously, so when the receiver stops
// reading, the muxer's stream window (yamux: up to 16 MiB) fills and Write
// blocks. The receiver holds one frame.
package livestream

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
)

// Errors callers branch on. Errors returned by this package wrap one of them
// (or a context error) with detail.
var (
	ErrRefused        = errors.New("livestream: refused by receiver")
	ErrWrongKey       = errors.New("livestream: stream keys differ")
	ErrBusy           = errors.New("livestream: receiver busy")
	ErrKeySize        = errors.New("livestream: stream key must be 32 bytes")
	ErrLabel          = errors.New("livestream: bad label")
	ErrMalformed      = errors.New("livestream: malformed message")
	ErrFrameTooLarge  = errors.New("livestream: frame too large")
	ErrAuth           = errors.New("livestream: frame failed authentication (tampered, reordered, replayed or wrong key)")
	ErrTruncated      = errors.New("livestream: stream ended without its end frame")
	ErrAborted        = errors.New("livestream: sender aborted the stream")
	ErrReceiverClosed = errors.New("livestream: receiver closed the stream")
	ErrRejected       = errors.New("livestream: receiver rejected a frame")
	ErrStalled        = errors.New("livestream: receiver stopped reading")
	ErrIdle           = errors.New("livestream: no frame from sender within the idle timeout")
	ErrTooLong        = errors.New("livestream: frame counter exhausted")
	ErrClosed         = errors.New("livestream: use of closed stream")
	ErrListenerClosed = errors.New("livestream: listener closed")
)

// ID names one stream. The opener picks it at random; the node can announce
// it with the key, so the receiver's key lookup can be per stream.
type ID [IDSize]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Directions. Only opener→receiver carries data in this version; the byte is
// in every nonce, AD and data key so a reply direction can be added without
// any chance of nonce reuse.
const (
	dirOpenerToReceiver byte = 0
)

const tagSize = chacha20poly1305.Overhead

// checkLabel enforces the label limits on both sides.
func checkLabel(label string) error {
	if len(label) > MaxLabel {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrLabel, len(label), MaxLabel)
	}
	if !utf8.ValidString(label) {
		return fmt.Errorf("%w: not UTF-8", ErrLabel)
	}
	return nil
}

// transcript is what every derived key is bound to; fields are length
// prefixed so no two different tuples encode alike.
func transcript(purpose string, id ID, label string, opener, receiver peer.ID) string {
	var b []byte
	for _, f := range []string{"eserver/livestream/1", purpose, string(id[:]), label, string(opener), string(receiver)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return string(b)
}

// confirmKey derives the key-confirmation key.
func confirmKey(key []byte, id ID, label string, opener, receiver peer.ID) []byte {
	k, err := hkdf.Key(sha256.New, key, nil, transcript("confirm", id, label, opener, receiver), 32)
	if err != nil {
		panic(err) // only for absurd lengths
	}
	return k
}

// openerConfirm is the tag in the Header.
func openerConfirm(ck []byte) []byte {
	m := hmac.New(sha256.New, ck)
	m.Write([]byte("opener"))
	return m.Sum(nil)
}

// receiverConfirm is the tag in the Response; it covers the nonce, so the
// opener knows the nonce it mixes into the data key came from a key holder.
func receiverConfirm(ck, nonce []byte) []byte {
	m := hmac.New(sha256.New, ck)
	m.Write([]byte("receiver"))
	m.Write(nonce)
	return m.Sum(nil)
}

// dataAEAD derives one direction's data key.
func dataAEAD(key []byte, id ID, label string, opener, receiver peer.ID, nonce []byte, dir byte) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, key, nonce, transcript("data", id, label, opener, receiver)+string([]byte{dir}), chacha20poly1305.KeySize)
	if err != nil {
		panic(err)
	}
	defer clear(k)
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		panic(err) // k has the right size
	}
	return aead
}
