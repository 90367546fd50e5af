package livestream

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Config says whom a Listener takes streams from. The node fills it from its
// contacts and the keys it exchanged in its end-to-end channel.
type Config struct {
	// Allow is asked first, with the authenticated remote peer and the
	// label, before the key lookup; false refuses. Nil refuses everyone.
	Allow func(from peer.ID, label string) bool
	// Key returns the 32-byte stream key for this peer and stream; an error
	// refuses. Nil refuses everyone.
	Key func(from peer.ID, id ID, label string) ([]byte, error)
	// Backlog bounds accepted streams waiting for Accept; past it openers
	// get ErrBusy. Zero means DefaultBacklog.
	Backlog int
}

// Listener takes live streams on a host. Only one Listener per host: it
// owns ProtocolID's handler.
type Listener struct {
	h   host.Host
	cfg Config

	mu       sync.Mutex
	closed   bool
	waiting  int            // streams in backlog or about to be
	wg       sync.WaitGroup // running handlers
	backlog  chan *Receiver
	closedCh chan struct{}
}

// Listen starts taking streams on h until Close.
func Listen(h host.Host, cfg Config) *Listener {
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	l := &Listener{h: h, cfg: cfg, backlog: make(chan *Receiver, cfg.Backlog), closedCh: make(chan struct{})}
	h.SetStreamHandler(ProtocolID, l.handle)
	return l
}

// Accept returns the next accepted stream, or ErrListenerClosed or ctx's
// error.
func (l *Listener) Accept(ctx context.Context) (*Receiver, error) {
	select {
	case r := <-l.backlog:
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
		return r, nil
	case <-l.closedCh:
		return nil, ErrListenerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops taking streams, resets the ones not yet accepted and waits for
// running handshakes to end. Accepted Receivers stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closedCh)
	l.mu.Unlock()
	l.h.RemoveStreamHandler(ProtocolID)
	l.wg.Wait()
	for {
		select {
		case r := <-l.backlog:
			r.s.ResetWithError(CodeListenerClosed)
		default:
			return nil
		}
	}
}

// handle is the handshake: listen → authorize (Allow) → key lookup and
// confirm → answer → hand to Accept.
func (l *Listener) handle(s network.Stream) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		s.ResetWithError(CodeListenerClosed)
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()

	from := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(HandshakeTimeout))
	refuse := func(st Status) {
		// Answer, then close without reading further: whatever the
		// peer sends after its header is dropped by the muxer.
		writeMsg(s, &Response{Status: st})
		s.Close()
	}
	b, err := readMsgBytes(s, MaxHeader)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			refuse(Status_STATUS_MALFORMED)
			return
		}
		s.Reset()
		return
	}
	hdr, err := decodeHeader(b)
	if err != nil {
		refuse(Status_STATUS_MALFORMED)
		return
	}
	if l.cfg.Allow == nil || l.cfg.Key == nil || !l.cfg.Allow(from, hdr.Label) {
		refuse(Status_STATUS_REFUSED)
		return
	}
	id := ID(hdr.StreamId)
	key, err := l.cfg.Key(from, id, hdr.Label)
	if err != nil || len(key) != KeySize {
		refuse(Status_STATUS_REFUSED)
		return
	}
	ck := confirmKey(key, id, hdr.Label, from, l.h.ID())
	if !hmac.Equal(hdr.Confirm, openerConfirm(ck)) {
		refuse(Status_STATUS_WRONG_KEY)
		return
	}

	l.mu.Lock()
	if l.waiting >= cap(l.backlog) {
		l.mu.Unlock()
		refuse(Status_STATUS_BUSY)
		return
	}
	l.waiting++
	l.mu.Unlock()
	unreserve := func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}

	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	if err := writeMsg(s, &Response{Status: Status_STATUS_OK, Nonce: nonce, Confirm: receiverConfirm(ck, nonce)}); err != nil {
		unreserve()
		s.Reset()
		return
	}
	s.SetDeadline(time.Time{})
	r := &Receiver{
		s:     s,
		r:     bufio.NewReaderSize(s, 32<<10),
		fc:    newFrameCrypto(dataAEAD(key, id, hdr.Label, from, l.h.ID(), nonce, dirOpenerToReceiver), id, dirOpenerToReceiver),
		id:    id,
		label: hdr.Label,
		peer:  from,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		l.waiting--
		s.ResetWithError(CodeListenerClosed)
		return
	}
	l.backlog <- r // cannot block: waiting counted a slot
}

// Receiver is the accepting end of a live stream: an io.ReadCloser. Read is
// not for concurrent use; Close may be called at any time, also to unblock a
// Read.
type Receiver struct {
	s     network.Stream
	r     *bufio.Reader
	id    ID
	label string
	peer  peer.ID

	mu    sync.Mutex // serialises Read
	fc    frameCrypto
	buf   []byte // the current frame, at most MaxFrame
	plain []byte // unread payload, aliases buf
	err   error  // sticky; io.EOF after the end frame

	ended     atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
}

// ID is the stream id the opener chose.
func (r *Receiver) ID() ID { return r.id }

// Label is the opener's label.
func (r *Receiver) Label() string { return r.label }

// Peer is the authenticated opener.
func (r *Receiver) Peer() peer.ID { return r.peer }

// Read returns the stream's bytes in order. It returns io.EOF only after the
// authenticated end frame; a stream that stops without it fails with
// ErrTruncated (or ErrAborted, ErrIdle), a bad frame with ErrAuth or
// ErrMalformed.
func (r *Receiver) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.s.SetReadDeadline(time.Now().Add(IdleTimeout))
		typ, plain, err := r.fc.readFrame(r.r, &r.buf)
		switch {
		case err != nil:
			r.err = r.readErr(err)
		case typ == frameEnd:
			r.ended.Store(true)
			r.err = io.EOF
		default:
			r.plain = plain // may be empty: a keepalive
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// readErr classifies a failed frame and tells the sender where that helps.
func (r *Receiver) readErr(err error) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if errors.Is(err, ErrAuth) || errors.Is(err, ErrMalformed) {
		r.s.ResetWithError(CodeBadFrame)
		return err
	}
	var se *network.StreamError
	if errors.As(err, &se) && se.Remote && se.ErrorCode == CodeSenderAborted {
		return fmt.Errorf("%w: %w", ErrAborted, err)
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		r.s.Reset()
		return fmt.Errorf("%w: %v: %w", ErrIdle, IdleTimeout, err)
	}
	if errors.Is(err, ErrTruncated) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTruncated, err)
}

// Close releases the stream. Before the end frame it resets it, so the
// sender's Write fails with ErrReceiverClosed instead of stalling.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		if r.ended.Load() {
			r.s.Close()
		} else {
			r.s.ResetWithError(CodeReceiverClosed)
		}
	})
	return nil
}
