package livestream

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Sender is the opener's end of a live stream: an io.WriteCloser. Write and
// Flush are safe for concurrent use; Abort may be called at any time, also to
// unblock a Write.
type Sender struct {
	s     network.Stream
	id    ID
	label string
	peer  peer.ID

	// mu is held across network writes: one frame on the wire at a time,
	// and a blocked Write blocks other writers (that is the back-pressure).
	mu         sync.Mutex
	fc         frameCrypto
	buf        []byte // frameBufSize; payload coalesces at buf[payloadOff:]
	pending    int    // payload bytes waiting in buf
	flushArmed bool   // timer is set for FlushDelay, not KeepaliveInterval
	lastSend   time.Time
	err        error // sticky: the first failure
	closed     bool
	timer      *time.Timer

	done      chan struct{} // closed by Close/Abort: stops flushLoop
	doneOnce  sync.Once
	wg        sync.WaitGroup // flushLoop
	closeErr  error
	closeOnce sync.Once
}

// Open opens a live stream to peer to, labelled label, sealed under key (32
// bytes, which the receiver must look up for this peer). It returns once the
// receiver has accepted, refused (ErrRefused, ErrBusy) or shown it holds a
// different key (ErrWrongKey); ctx bounds only that handshake, which is also
// bounded by HandshakeTimeout.
func Open(ctx context.Context, h host.Host, to peer.ID, key []byte, label string) (*Sender, error) {
	return OpenWithID(ctx, h, to, NewID(), key, label)
}

// NewID returns a random stream id.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// OpenWithID is Open with a stream id the caller chose with NewID, so the
// node can announce id and key to the receiver (in its end-to-end channel)
// before opening. An id must not be used twice with the same key.
func OpenWithID(ctx context.Context, h host.Host, to peer.ID, id ID, key []byte, label string) (*Sender, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d", ErrKeySize, len(key))
	}
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, to, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("opening stream to %s: %w", to, err)
	}
	// A cancelled ctx must interrupt a blocked read too.
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	fail := func(err error) (*Sender, error) {
		stop()
		s.Reset()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("livestream handshake with %s: %w (%v)", to, ctx.Err(), err)
		}
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}

	ck := confirmKey(key, id, label, h.ID(), to)
	if err := writeMsg(s, &Header{Version: version, StreamId: id[:], Label: label, Confirm: openerConfirm(ck)}); err != nil {
		return fail(err)
	}
	b, err := readMsgBytes(s, MaxResponse)
	if err != nil {
		return fail(fmt.Errorf("reading response from %s: %w", to, err))
	}
	resp, err := decodeResponse(b)
	if err != nil {
		return fail(err)
	}
	switch resp.Status {
	case Status_STATUS_OK:
	case Status_STATUS_REFUSED:
		return fail(fmt.Errorf("%w: %s", ErrRefused, to))
	case Status_STATUS_WRONG_KEY:
		return fail(fmt.Errorf("%w: %s says so", ErrWrongKey, to))
	case Status_STATUS_BUSY:
		return fail(fmt.Errorf("%w: %s", ErrBusy, to))
	default:
		return fail(fmt.Errorf("%w: %s answered %v", ErrMalformed, to, resp.Status))
	}
	if !hmac.Equal(resp.Confirm, receiverConfirm(ck, resp.Nonce)) {
		return fail(fmt.Errorf("%w: %s's confirm does not verify", ErrWrongKey, to))
	}
	if !stop() {
		return fail(ctx.Err())
	}
	s.SetDeadline(time.Time{})

	snd := &Sender{
		s:        s,
		id:       id,
		label:    label,
		peer:     to,
		fc:       newFrameCrypto(dataAEAD(key, id, label, h.ID(), to, resp.Nonce, dirOpenerToReceiver), id, dirOpenerToReceiver),
		buf:      make([]byte, frameBufSize),
		lastSend: time.Now(),
		timer:    time.NewTimer(KeepaliveInterval),
		done:     make(chan struct{}),
	}
	snd.wg.Add(1)
	go snd.flushLoop()
	return snd, nil
}

// ID is the stream's id (as the receiver sees it).
func (s *Sender) ID() ID { return s.id }

// Label is the label the stream was opened with.
func (s *Sender) Label() string { return s.label }

// Peer is the receiver.
func (s *Sender) Peer() peer.ID { return s.peer }

// Write seals p into frames. Small writes are coalesced and sent at most
// FlushDelay later; big ones are split at MaxPayload. Write blocks while the
// receiver is not reading (for at most StallTimeout per frame).
func (s *Sender) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for len(p) > 0 {
		if s.pending == 0 && len(p) >= MaxPayload {
			// Seal straight from p: no copy into buf.
			if err := s.sendLocked(frameData, p[:MaxPayload]); err != nil {
				return n, err
			}
			p, n = p[MaxPayload:], n+MaxPayload
			continue
		}
		c := copy(s.buf[payloadOff+s.pending:payloadOff+MaxPayload], p)
		s.pending += c
		p, n = p[c:], n+c
		if s.pending == MaxPayload {
			if err := s.flushLocked(); err != nil {
				return n, err
			}
		}
	}
	if s.pending > 0 && !s.flushArmed {
		// Armed on the first pending byte only: a steady trickle of small
		// writes must not keep pushing the flush back.
		s.timer.Reset(FlushDelay)
		s.flushArmed = true
	}
	return n, nil
}

// Flush sends what is coalesced now instead of after FlushDelay.
func (s *Sender) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	return s.flushLocked()
}

// Close flushes, sends the end frame and half-closes the stream: the
// receiver reads everything and then io.EOF. It blocks as Write does while
// the receiver is not reading. It returns the stream's first error, if any
// (the receiver has then not seen a clean end).
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		err := s.err
		if err == nil {
			err = s.flushLocked()
		}
		if err == nil {
			err = s.sendLocked(frameEnd, nil)
		}
		s.mu.Unlock()
		s.stopLoop()
		if err != nil {
			s.s.Reset()
			s.closeErr = err
			return
		}
		// Close (not Reset): the FIN follows the end frame, nothing is lost.
		if cerr := s.s.Close(); cerr != nil {
			s.closeErr = fmt.Errorf("closing stream: %w", cerr)
		}
	})
	return s.closeErr
}

// Abort ends the stream at once, without the end frame: the receiver's Read
// fails with ErrAborted, and a Write blocked here fails with ErrClosed. It
// does not wait for a blocked Write to return.
func (s *Sender) Abort() {
	s.s.ResetWithError(CodeSenderAborted)
	s.closeOnce.Do(func() {
		s.stopLoop()
		s.mu.Lock()
		s.closed = true
		if s.err == nil {
			s.err = ErrClosed
		}
		s.mu.Unlock()
		s.closeErr = ErrClosed
	})
}

// stopLoop stops flushLoop and waits for it; it must not hold mu.
func (s *Sender) stopLoop() {
	s.doneOnce.Do(func() { close(s.done) })
	s.wg.Wait()
	s.timer.Stop()
}

// flushLoop flushes coalesced bytes FlushDelay after they arrived and sends
// keepalives while the sender is idle.
func (s *Sender) flushLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.timer.C:
		}
		s.mu.Lock()
		if !s.closed && s.err == nil {
			if s.pending > 0 {
				s.flushLocked()
			} else if time.Since(s.lastSend) >= KeepaliveInterval {
				s.sendLocked(frameData, nil)
			} else {
				s.timer.Reset(KeepaliveInterval - time.Since(s.lastSend))
			}
		}
		s.mu.Unlock()
	}
}

func (s *Sender) flushLocked() error {
	if s.pending == 0 {
		return nil
	}
	n := s.pending
	s.pending = 0
	s.flushArmed = false
	return s.sendLocked(frameData, s.buf[payloadOff:payloadOff+n])
}

// sendLocked seals one frame and writes it; the first error sticks.
func (s *Sender) sendLocked(typ byte, plain []byte) error {
	frame, err := s.fc.sealFrame(s.buf, typ, plain)
	if err != nil {
		s.err = err
		return err
	}
	s.s.SetWriteDeadline(time.Now().Add(StallTimeout))
	if _, err := s.s.Write(frame); err != nil {
		s.err = s.writeErr(err)
		return s.err
	}
	s.lastSend = time.Now()
	if !s.flushArmed {
		s.timer.Reset(KeepaliveInterval)
	}
	return nil
}

// writeErr says why a frame could not be written, from the receiver's reset
// code where it sent one.
func (s *Sender) writeErr(err error) error {
	var se *network.StreamError
	if errors.As(err, &se) {
		switch {
		case se.Remote && (se.ErrorCode == CodeReceiverClosed || se.ErrorCode == CodeListenerClosed):
			return fmt.Errorf("%w: %w", ErrReceiverClosed, err)
		case se.Remote && se.ErrorCode == CodeBadFrame:
			return fmt.Errorf("%w: %w", ErrRejected, err)
		case !se.Remote && se.ErrorCode == CodeSenderAborted:
			return fmt.Errorf("%w: aborted", ErrClosed)
		}
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return fmt.Errorf("%w: no progress for %v: %w", ErrStalled, StallTimeout, err)
	}
	return fmt.Errorf("writing frame to %s: %w", s.peer, err)
}
