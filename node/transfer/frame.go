package transfer

// Wire format of /eserver/transfer/3.0.0 (ProtocolID), receiver R, sender S:
//
//	R → S  Get    varint length ‖ protobuf Get      (≤ MaxGetFrame)
//	S → R  Reply  varint length ‖ protobuf Reply    (≤ MaxReplyFrame; with OK, the stream's salt)
//	S → R  chunk  varint length ‖ index (8 bytes, big-endian) ‖ ciphertext
//	       ... one per requested chunk, in request order; then S closes.
//
// The control messages use node/wire's framing. Chunk frames are not
// protobuf: the sender seals a chunk in place behind room for the header
// and writes header and ciphertext in one Write, the receiver reads the
// ciphertext straight into its buffer and opens it in place — a protobuf
// bytes field would add a marshalling copy of every chunk on each side. A
// chunk frame's length is checked against the one the receiver expects for
// that index before a byte of it is read.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// frameHeadroom is the room a sender buffer keeps before the ciphertext for
// the length varint and the index.
const frameHeadroom = binary.MaxVarintLen64 + chunkHeader

// putChunkHeader writes the frame header of chunk i, whose ciphertext
// starts at buf[frameHeadroom:] and is ctLen long, into the headroom and
// returns the whole frame.
func putChunkHeader(buf []byte, i uint64, ctLen int) []byte {
	start := frameHeadroom - chunkHeader
	binary.BigEndian.PutUint64(buf[start:], i)
	var v [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(v[:], uint64(chunkHeader+ctLen))
	start -= n
	copy(buf[start:], v[:n])
	return buf[start : frameHeadroom+ctLen]
}

// readChunkFrame reads one chunk frame into buf. want gives the ciphertext
// length expected for an index; a frame of another length is refused before
// its body is read. It returns io.EOF only on a clean end before a frame.
func readChunkFrame(r *bufio.Reader, buf []byte, want func(i uint64) (int, bool)) (uint64, []byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("%w: reading chunk frame length: %w", ErrProtocol, err)
	}
	if limit := min(MaxChunkFrame, chunkHeader+len(buf)); n > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: %w: chunk frame of %d bytes, limit %d", ErrProtocol, ErrFrameTooLarge, n, limit)
	}
	if n < chunkHeader+Overhead {
		return 0, nil, fmt.Errorf("%w: chunk frame of %d bytes", ErrProtocol, n)
	}
	var h [chunkHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, fmt.Errorf("%w: reading chunk header: %w", ErrProtocol, unexpected(err))
	}
	i := binary.BigEndian.Uint64(h[:])
	ctLen, ok := want(i)
	if !ok {
		return 0, nil, fmt.Errorf("%w: chunk %d was not asked for next", ErrProtocol, i)
	}
	if int(n)-chunkHeader != ctLen {
		return 0, nil, fmt.Errorf("%w: chunk %d of %d bytes, want %d", ErrProtocol, i, int(n)-chunkHeader, ctLen)
	}
	ct := buf[:ctLen]
	if _, err := io.ReadFull(r, ct); err != nil {
		return 0, nil, fmt.Errorf("%w: reading chunk %d: %w", ErrProtocol, i, unexpected(err))
	}
	return i, ct, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// chunkRange is chunks [first, first+count).
type chunkRange struct{ first, count uint64 }

// decodeGet decodes and checks a Get's body.
func decodeGet(b []byte) (ID, []chunkRange, error) {
	if len(b) > MaxGetFrame {
		return ID{}, nil, fmt.Errorf("%w: %w: get of %d bytes", ErrProtocol, ErrFrameTooLarge, len(b))
	}
	var g Get
	if err := proto.Unmarshal(b, &g); err != nil {
		return ID{}, nil, fmt.Errorf("%w: decoding get: %v", ErrProtocol, err)
	}
	return checkGet(&g)
}

// checkGet checks a Get's fields: a 16-byte ID and 1–MaxRanges non-empty
// ranges, ascending, neither overlapping nor touching, below maxChunks. The
// sender checks the end against its offer's chunk count.
func checkGet(g *Get) (ID, []chunkRange, error) {
	var id ID
	if len(g.TransferId) != len(id) {
		return id, nil, fmt.Errorf("%w: transfer ID of %d bytes", ErrProtocol, len(g.TransferId))
	}
	copy(id[:], g.TransferId)
	if len(g.Ranges) == 0 || len(g.Ranges) > MaxRanges {
		return id, nil, fmt.Errorf("%w: %d ranges, want 1–%d", ErrProtocol, len(g.Ranges), MaxRanges)
	}
	rs := make([]chunkRange, len(g.Ranges))
	var next uint64 // the lowest index the next range may start at
	for k, r := range g.Ranges {
		if r.Count == 0 || r.First < next || r.First >= maxChunks || r.Count > maxChunks-r.First {
			return id, nil, fmt.Errorf("%w: range %d [%d,+%d) out of order or out of range", ErrProtocol, k, r.First, r.Count)
		}
		rs[k] = chunkRange{r.First, r.Count}
		next = r.First + r.Count + 1
	}
	return id, rs, nil
}

// encodeGet builds a Get; ranges must already satisfy checkGet.
func encodeGet(id ID, rs []chunkRange) *Get {
	g := &Get{TransferId: id[:], Ranges: make([]*Range, len(rs))}
	for k, r := range rs {
		g.Ranges[k] = &Range{First: r.first, Count: r.count}
	}
	return g
}

// missingRanges returns up to MaxRanges runs of chunks in [0, n) not done.
func missingRanges(done []bool, n uint64) []chunkRange {
	var rs []chunkRange
	for i := uint64(0); i < n && len(rs) < MaxRanges; {
		if i < uint64(len(done)) && done[i] {
			i++
			continue
		}
		j := i + 1
		for j < n && (j >= uint64(len(done)) || !done[j]) {
			j++
		}
		rs = append(rs, chunkRange{i, j - i})
		i = j
	}
	return rs
}

// decodeReply decodes a Reply's body: its status and, with STATUS_OK, the
// stream's salt, which must be SaltSize bytes.
func decodeReply(b []byte) (Status, []byte, error) {
	if len(b) > MaxReplyFrame {
		return 0, nil, fmt.Errorf("%w: %w: reply of %d bytes", ErrProtocol, ErrFrameTooLarge, len(b))
	}
	var r Reply
	if err := proto.Unmarshal(b, &r); err != nil {
		return 0, nil, fmt.Errorf("%w: decoding reply: %v", ErrProtocol, err)
	}
	if r.Status == Status_STATUS_OK && len(r.Salt) != SaltSize {
		return 0, nil, fmt.Errorf("%w: reply salt of %d bytes, want %d", ErrProtocol, len(r.Salt), SaltSize)
	}
	return r.Status, r.Salt, nil
}

// replyErr maps a non-OK status to the caller's error.
func replyErr(s Status) error {
	switch s {
	case Status_STATUS_OK:
		return nil
	case Status_STATUS_REFUSED:
		return ErrRefused
	case Status_STATUS_CHANGED:
		return ErrChanged
	case Status_STATUS_BAD_REQUEST:
		return fmt.Errorf("%w: sender says our request was bad", ErrProtocol)
	}
	return fmt.Errorf("%w: unknown reply status %d", ErrProtocol, s)
}

// readFrame reads one varint-framed body of at most max bytes without
// reading past it; the length is checked before reading, and the buffer
// grows as the bytes arrive rather than taking the claimed length up front,
// so a stranger's partial Get pins only what it sent.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var one [1]byte
	n, err := binary.ReadUvarint(byteReader{r, one[:]})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrProtocol, ErrFrameTooLarge, n, max)
	}
	var b []byte
	for len(b) < int(n) {
		grown := 2 * len(b) // the parameter max shadows the builtin
		if grown < 512 {
			grown = 512
		}
		grown = min(grown, int(n))
		nb := make([]byte, grown)
		copy(nb, b)
		if _, err := io.ReadFull(r, nb[len(b):]); err != nil {
			return nil, fmt.Errorf("reading frame body: %w", unexpected(err))
		}
		b = nb
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

type byteReader struct {
	r   io.Reader
	one []byte
}

func (b byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.one); err != nil {
		return 0, err
	}
	return b.one[0], nil
}

// writeFrame writes m as one varint-framed message in one Write.
func writeFrame(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshalling %T: %w", m, err)
	}
	buf := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(b)), uint64(len(b)))
	if _, err := w.Write(append(buf, b...)); err != nil {
		return fmt.Errorf("writing %T: %w", m, err)
	}
	return nil
}
