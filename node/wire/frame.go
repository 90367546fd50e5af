package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"
)

// Errors of reading a frame that callers branch on, beside ErrFrameTooLarge.
var (
	// ErrTooSlow means the frame's bytes arrived slower than the reader's
	// minimum rate after its grace: the sender stalled or trickled.
	ErrTooSlow = errors.New("frame arriving too slowly")
	// ErrNoMemory means the memory the frame needs could not be reserved:
	// the service's request budget or the stream's resource scope is
	// spent. The request is refused (CodeBusy), not malformed.
	ErrNoMemory = errors.New("no memory for the frame")
	// ErrUndecodable means the frame arrived whole but its body is not the
	// message expected: the stream's framing is intact, so a protocol with
	// several requests per stream may refuse it and read on.
	ErrUndecodable = errors.New("frame does not decode")
)

// Memory is where a Reader accounts the buffer it grows; its methods are
// those of libp2p's network.ResourceScope, so a stream's scope is one (and
// pipeline's request accounts combine one with the service's budget).
// prio follows libp2p: a reservation of priority p may fill the scope up to
// (p+1)/256 of its limit.
type Memory interface {
	ReserveMemory(size int, prio uint8) error
	ReleaseMemory(size int)
}

// Reservation priorities a Reader asks for: a frame's first SmallFrame
// bytes may fill the whole budget, its growth beyond three quarters of it.
const (
	PrioSmallFrame uint8 = 255
	PrioLargeFrame uint8 = 191
)

// firstChunk is the buffer a frame body starts in; it doubles from there
// toward the declared length as the bytes arrive, so a sender must deliver
// all the buffer holds before it grows.
const firstChunk = SmallFrame

// Reader reads frames from one stream without reading past them, so a
// request/response protocol can interleave it with WriteMsg. It never
// allocates a frame's declared length up front: the body is read into a
// buffer that grows as the bytes arrive, each growth reserved in Mem first.
// What a frame reserved stays reserved while its decoded message is in use:
// until Release, or the next ReadMsg.
type Reader struct {
	r   io.Reader
	max int

	// Mem accounts the frames' buffers; nil accounts nothing.
	Mem Memory
	// MinRate (bytes per second) and Grace bound how slowly a frame may
	// arrive once its first byte is in, when the underlying reader has
	// SetReadDeadline (a libp2p stream); MinRate 0 sets no bound.
	// NewReader sets MinFrameRate and FrameGrace.
	MinRate int
	Grace   time.Duration

	held int // bytes reserved in Mem for the last frame
	left int // body bytes of a frame refused for memory, not yet read
}

// NewReader returns a frame reader that refuses frames larger than max
// bytes and frames arriving slower than MinFrameRate after FrameGrace.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: r, max: max, MinRate: MinFrameRate, Grace: FrameGrace}
}

// ReadMsg reads a single frame from r into m, with NewReader's limits and no
// accounting, without reading past its end.
func ReadMsg(r io.Reader, max int, m proto.Message) error {
	return NewReader(r, max).ReadMsg(m)
}

// ReadMsg releases what the previous frame reserved and reads the next frame
// into m. It returns io.EOF only on a clean end of stream before the first
// byte of a frame. A frame whose memory could not be reserved fails with
// ErrNoMemory; Discard then skips the rest of it.
func (r *Reader) ReadMsg(m proto.Message) error {
	r.Release()
	r.left = 0
	var first [1]byte
	if _, err := io.ReadFull(r.r, first[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("reading frame length: %w", err)
	}
	// The frame has begun: from here its bytes must keep up with the rate.
	w := r.watch()
	n, err := r.readLength(first[0], w)
	if err != nil {
		w.halt()
		return err
	}
	body, err := r.readBody(int(n), w)
	if err != nil {
		w.halt()
		return err
	}
	if w.halt() {
		// Complete, but only as the deadline passed: the stream's read
		// deadline is in the past now, so the stream is lost anyway.
		return w.err()
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: decoding %T: %w", ErrUndecodable, m, err)
	}
	return nil
}

// readLength reads the rest of the varint whose first byte is b and checks
// the length against the limit.
func (r *Reader) readLength(b byte, w *watchdog) (uint64, error) {
	n, err := binary.ReadUvarint(&prefixed{first: b, r: r.r})
	if err != nil {
		return 0, fmt.Errorf("reading frame length: %w", w.verdict(unexpected(err)))
	}
	if n > uint64(r.max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, r.max)
	}
	return n, nil
}

// readBody reads n bytes, growing the buffer as they arrive.
func (r *Reader) readBody(n int, w *watchdog) ([]byte, error) {
	var buf []byte
	got := 0
	for got < n {
		if got == len(buf) {
			grown := min(n, max(firstChunk, 2*len(buf)))
			prio := PrioSmallFrame
			if len(buf) > 0 {
				prio = PrioLargeFrame
			}
			if err := r.reserve(grown-len(buf), prio); err != nil {
				r.left = n - got
				return nil, fmt.Errorf("%w: %d-byte frame, %d bytes in: %w", ErrNoMemory, n, got, err)
			}
			nb := make([]byte, grown)
			copy(nb, buf[:got])
			buf = nb
		}
		k, err := r.r.Read(buf[got:])
		got += k
		w.progress(got)
		if err != nil && got < n {
			return nil, fmt.Errorf("reading frame body: %w", w.verdict(unexpected(err)))
		}
	}
	return buf[:n], nil
}

func (r *Reader) reserve(size int, prio uint8) error {
	if r.Mem == nil {
		return nil
	}
	if err := r.Mem.ReserveMemory(size, prio); err != nil {
		return err
	}
	r.held += size
	return nil
}

// Release gives back what the last frame reserved; the caller is done with
// its message. Release is idempotent.
func (r *Reader) Release() {
	if r.held > 0 && r.Mem != nil {
		r.Mem.ReleaseMemory(r.held)
	}
	r.held = 0
}

// Discard reads and drops the rest of a frame ReadMsg refused with
// ErrNoMemory, at the same minimum rate, holding no buffer of its own, so a
// peer still writing it reads the refusal instead of blocking.
func (r *Reader) Discard() error {
	if r.left == 0 {
		return nil
	}
	w := r.watch()
	n, err := io.CopyN(io.Discard, &progressReader{r: r.r, w: w}, int64(r.left))
	r.left -= int(n)
	if err != nil {
		return fmt.Errorf("discarding frame body: %w", unexpected(err))
	}
	if w.halt() {
		return w.err()
	}
	return nil
}

// deadliner is what the watchdog needs of a stream.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// watchdog drops a frame arriving slower than the rate: when the bytes in
// fall behind rate × (time since the frame began − grace), it sets the
// stream's read deadline in the past, which ends the blocked Read. It only
// ever shortens the caller's deadline, never extends it; a stream it fired
// on is to be given up.
type watchdog struct {
	t     *time.Timer
	start time.Time
	rate  int
	grace time.Duration
	// done: the timer is stopped for good; late: it fired (or could no
	// longer be stopped). Both are owned by the reading goroutine.
	done, late bool
}

// watch starts a watchdog for a frame beginning now; nil when the reader
// sets no rate or cannot set deadlines.
func (r *Reader) watch() *watchdog {
	d, ok := r.r.(deadliner)
	if !ok || r.MinRate <= 0 {
		return nil
	}
	w := &watchdog{start: time.Now(), rate: r.MinRate, grace: r.Grace}
	// The callback only sets a deadline and returns: it outlives no one.
	w.t = time.AfterFunc(w.grace, func() { _ = d.SetReadDeadline(time.Unix(1, 0)) })
	return w
}

// progress moves the deadline to when got bytes are no longer enough, or
// a grace from now without another byte, whichever comes first.
func (w *watchdog) progress(got int) {
	if w == nil || w.done {
		return
	}
	if !w.t.Stop() {
		w.done, w.late = true, true // it fired: the read under way fails
		return
	}
	now := time.Now()
	due := w.start.Add(w.grace + time.Duration(float64(got)/float64(w.rate)*float64(time.Second)))
	if stall := now.Add(w.grace); stall.Before(due) {
		due = stall
	}
	w.t.Reset(due.Sub(now))
}

// halt stops the watchdog for good and reports whether it fired.
func (w *watchdog) halt() bool {
	if w == nil {
		return false
	}
	if !w.done {
		w.done = true
		if !w.t.Stop() {
			w.late = true
		}
	}
	return w.late
}

// err is ErrTooSlow with the bound that was missed.
func (w *watchdog) err() error {
	return fmt.Errorf("%w: under %d bytes/s after %v, or %v without a byte", ErrTooSlow, w.rate, w.grace, w.grace)
}

// verdict stops the watchdog and returns err, marked ErrTooSlow when the
// watchdog caused it.
func (w *watchdog) verdict(err error) error {
	if w.halt() {
		return fmt.Errorf("%w: %w", w.err(), err)
	}
	return err
}

// prefixed is a ByteReader yielding first, then r's bytes one at a time, so
// nothing past the varint is consumed.
type prefixed struct {
	first byte
	used  bool
	r     io.Reader
}

func (p *prefixed) ReadByte() (byte, error) {
	if !p.used {
		p.used = true
		return p.first, nil
	}
	var one [1]byte
	_, err := io.ReadFull(p.r, one[:])
	return one[0], err
}

// progressReader tells the watchdog of every byte read.
type progressReader struct {
	r   io.Reader
	w   *watchdog
	got int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.got += n
	p.w.progress(p.got)
	if err != nil && err != io.EOF {
		err = p.w.verdict(err)
	}
	return n, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
