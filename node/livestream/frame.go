package livestream

import (
	"bufio"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"
)

// Frame types. The type travels in clear but is in the AD, so it cannot be
// changed.
const (
	frameData byte = 1 // payload may be empty: a keepalive
	frameEnd  byte = 2 // payload is empty
)

// maxPrefix is the longest uvarint MaxFrame needs (MaxFrame < 1<<21).
const maxPrefix = 3

// payloadOff is where a frame buffer's payload starts: room for the prefix
// and the type byte in front, so a frame is sealed and written in place.
const payloadOff = maxPrefix + 1

// frameBufSize is the sender's one frame buffer.
const frameBufSize = payloadOff + MaxPayload + tagSize

// adSize is len("LS1") + stream id + direction + seq + type.
const adSize = 3 + IDSize + 1 + 8 + 1

// frameCrypto is one direction's counter, nonce and AD; both ends keep one
// and advance it per frame.
type frameCrypto struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [24]byte
	ad    [adSize]byte
}

func newFrameCrypto(aead cipher.AEAD, id ID, dir byte) frameCrypto {
	c := frameCrypto{aead: aead}
	c.nonce[0] = dir
	copy(c.ad[:], "LS1")
	copy(c.ad[3:], id[:])
	c.ad[3+IDSize] = dir
	return c
}

// prepare sets the nonce and AD for the current seq and typ.
func (c *frameCrypto) prepare(typ byte) {
	binary.BigEndian.PutUint64(c.nonce[16:], c.seq)
	binary.BigEndian.PutUint64(c.ad[3+IDSize+1:], c.seq)
	c.ad[adSize-1] = typ
}

// sealFrame seals plain as a frame of type typ into buf (frameBufSize bytes)
// and returns the whole frame, prefix included, as a sub-slice of buf. plain
// may be buf[payloadOff:payloadOff+n] (sealed in place) or any slice not
// overlapping buf.
func (c *frameCrypto) sealFrame(buf []byte, typ byte, plain []byte) ([]byte, error) {
	if len(plain) > MaxPayload {
		panic("livestream: payload over MaxPayload")
	}
	if c.seq == math.MaxUint64 {
		return nil, ErrTooLong
	}
	c.prepare(typ)
	ct := c.aead.Seal(buf[payloadOff:payloadOff], c.nonce[:], plain, c.ad[:])
	c.seq++
	body := 1 + len(ct)
	var pre [maxPrefix]byte
	k := binary.PutUvarint(pre[:], uint64(body))
	start := payloadOff - 1 - k
	copy(buf[start:], pre[:k])
	buf[payloadOff-1] = typ
	return buf[start : payloadOff+len(ct)], nil
}

// readFrame reads, authenticates and decrypts the next frame. The payload
// aliases *buf and is valid until the next call; *buf grows to at most
// MaxFrame. A clean EOF before a frame is ErrTruncated too: only an end
// frame ends a stream.
func (c *frameCrypto) readFrame(r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: before frame %d", ErrTruncated, c.seq)
		}
		if err.Error() == varintOverflow {
			return 0, nil, fmt.Errorf("%w: frame length overflows", ErrMalformed)
		}
		return 0, nil, fmt.Errorf("reading frame length: %w", err)
	}
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrMalformed, ErrFrameTooLarge, n, MaxFrame)
	}
	if n < 1+tagSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", ErrMalformed, n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n, max(int(n), min(2*cap(*buf), MaxFrame)))
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: inside frame %d", ErrTruncated, c.seq)
		}
		return 0, nil, fmt.Errorf("reading frame %d: %w", c.seq, err)
	}
	typ := b[0]
	if typ != frameData && typ != frameEnd {
		return 0, nil, fmt.Errorf("%w: frame type %d", ErrMalformed, typ)
	}
	if c.seq == math.MaxUint64 {
		return 0, nil, ErrTooLong
	}
	c.prepare(typ)
	plain, err := c.aead.Open(b[1:1], c.nonce[:], b[1:], c.ad[:])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: frame %d", ErrAuth, c.seq)
	}
	c.seq++
	if typ == frameEnd && len(plain) != 0 {
		return 0, nil, fmt.Errorf("%w: end frame with %d payload bytes", ErrMalformed, len(plain))
	}
	return typ, plain, nil
}

// varintOverflow is the text of encoding/binary's unexported overflow error:
// a prefix that long is a malformed frame, not a transport failure.
const varintOverflow = "binary: varint overflows a 64-bit integer"

// writeMsg writes m as one varint-length-prefixed frame in one Write.
func writeMsg(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshalling %T: %w", m, err)
	}
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(b)), uint64(len(b)))
	if _, err := w.Write(append(out, b...)); err != nil {
		return fmt.Errorf("writing %T: %w", m, err)
	}
	return nil
}

// readMsgBytes reads one length-prefixed handshake message of at most max
// bytes without reading past it (the varint byte by byte, then exactly the
// body), so nothing after a stranger's header is consumed.
func readMsgBytes(r io.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(oneByte{r})
	if err != nil {
		return nil, fmt.Errorf("reading message length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %w: message of %d bytes, limit %d", ErrMalformed, ErrFrameTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("reading message: %w", err)
	}
	return b, nil
}

type oneByte struct{ r io.Reader }

func (o oneByte) ReadByte() (byte, error) {
	var b [1]byte
	_, err := io.ReadFull(o.r, b[:])
	return b[0], err
}

// decodeHeader decodes and checks an opener's header; it says nothing about
// the key.
func decodeHeader(b []byte) (*Header, error) {
	var h Header
	if err := proto.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if len(h.ProtoReflect().GetUnknown()) != 0 {
		return nil, fmt.Errorf("%w: header has unknown fields", ErrMalformed)
	}
	if h.Version != version {
		return nil, fmt.Errorf("%w: header version %d, want %d", ErrMalformed, h.Version, version)
	}
	if len(h.StreamId) != IDSize {
		return nil, fmt.Errorf("%w: stream id of %d bytes", ErrMalformed, len(h.StreamId))
	}
	if err := checkLabel(h.Label); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(h.Confirm) != ConfirmLen {
		return nil, fmt.Errorf("%w: confirm of %d bytes", ErrMalformed, len(h.Confirm))
	}
	return &h, nil
}

// decodeResponse decodes and checks a receiver's response.
func decodeResponse(b []byte) (*Response, error) {
	var r Response
	if err := proto.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: response: %v", ErrMalformed, err)
	}
	if len(r.ProtoReflect().GetUnknown()) != 0 {
		return nil, fmt.Errorf("%w: response has unknown fields", ErrMalformed)
	}
	switch r.Status {
	case Status_STATUS_OK:
		if len(r.Nonce) != NonceSize || len(r.Confirm) != ConfirmLen {
			return nil, fmt.Errorf("%w: accept with nonce of %d and confirm of %d bytes", ErrMalformed, len(r.Nonce), len(r.Confirm))
		}
	case Status_STATUS_REFUSED, Status_STATUS_WRONG_KEY, Status_STATUS_BUSY, Status_STATUS_MALFORMED:
		if len(r.Nonce) != 0 || len(r.Confirm) != 0 {
			return nil, fmt.Errorf("%w: %v with a nonce or confirm", ErrMalformed, r.Status)
		}
	default:
		return nil, fmt.Errorf("%w: status %d", ErrMalformed, r.Status)
	}
	return &r, nil
}
