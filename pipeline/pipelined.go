package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/wire"
)

// Pipelined streams. A protocol whose clients keep one stream open and send
// request after request without waiting for each answer (the mailbox's
// ProtoMailboxStream) is served by ServePipelined: the stream's goroutine
// reads each request and runs it through the same stages as Serve
// (Listen with its limit and budget → Credentials → Authenticate → Security)
// and Begin, in arrival order; a second goroutine finishes them and writes
// the answers, in the same order. Every request presents its own
// credentials and is checked alone, as if it had come on a stream of its
// own; a refused one is answered with its refusal and the stream goes on.

// Pipelining bounds one pipelined stream.
type Pipelining struct {
	// InFlight is how many requests may be read and not yet answered;
	// reading stops at it until an answer is written. Each holds its frame's
	// reservation in the budget until then.
	InFlight int
	// Idle ends the stream (cleanly) when no request began for this long.
	Idle time.Duration
}

// Finish completes a request begun on a pipelined stream: it runs on the
// stream's writing goroutine, in request order, and returns the answer (or
// an error, which resets the stream as Process's does).
type Finish[R any] func() (R, error)

// deadlines are what a libp2p stream offers beyond io.ReadWriter.
type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// pending is one request read and not yet answered.
type pending[R any] struct {
	finish  Finish[R]
	release func() // gives back the frame's reservation and the in-flight slot
}

// ServePipelined serves requests from rw, sent by the authenticated peer
// remote at addr, until the peer closes its side, the stream stays idle for
// p.Idle, or it fails; it returns an error only when the stream must be
// reset. s.Begin, if set, starts each request on the reading goroutine
// (checks, a write handed to a group commit) and returns what finishes it;
// without Begin, Process runs on the writing goroutine. Request.Stream is
// nil: a pipelined request is one frame. Each answer is written with a
// deadline of s.Timeout.
func (s *Service[Q, R]) ServePipelined(ctx context.Context, rw io.ReadWriter, remote peer.ID, addr ma.Multiaddr, p Pipelining) error {
	if p.InFlight <= 0 {
		p.InFlight = 1
	}
	slots := make(chan struct{}, p.InFlight)
	queue := make(chan pending[R], p.InFlight)
	failed := make(chan struct{}) // closed when an answer could not be written
	written := make(chan error, 1)
	go func() { written <- s.answerInOrder(rw, queue, failed) }()

	rerr := s.readInOrder(ctx, rw, remote, addr, p, slots, queue, failed)
	close(queue)
	werr := <-written
	if werr != nil {
		return werr
	}
	return rerr
}

// readInOrder is the reading side of ServePipelined: each request is read
// in a slot of its own and queued with what finishes it.
func (s *Service[Q, R]) readInOrder(ctx context.Context, rw io.ReadWriter, remote peer.ID, addr ma.Multiaddr, p Pipelining,
	slots chan struct{}, queue chan<- pending[R], failed <-chan struct{}) error {
	var zero Q
	for {
		select {
		case slots <- struct{}{}:
		case <-failed:
			return nil // the writer's error is the stream's
		}
		if d, ok := rw.(readDeadliner); ok && p.Idle > 0 {
			if err := d.SetReadDeadline(time.Now().Add(p.Idle)); err != nil {
				<-slots
				return fmt.Errorf("setting the idle deadline: %w", err)
			}
		}
		fr := s.reader(rw, remote)
		release := func() { fr.Release(); <-slots }
		req := zero.ProtoReflect().Type().New().Interface().(Q)
		err := fr.ReadMsg(req)
		switch {
		case err == nil:
			queue <- pending[R]{finish: s.begin(ctx, req, remote, addr), release: release}
			continue
		case errors.Is(err, io.EOF):
			release()
			return nil // the peer is done
		case errors.Is(err, wire.ErrNoMemory):
			// Refused for want of memory: the rest of the frame is read
			// into nothing so the next can follow, and it is answered in
			// its turn.
			if derr := fr.Discard(); derr != nil {
				release()
				return fmt.Errorf("discarding a refused request: %w", derr)
			}
			queue <- pending[R]{finish: s.refusal(zero, remote, Refusal{CodeBusy, err}), release: release}
			continue
		case errors.Is(err, wire.ErrUndecodable):
			// Whole but not a request: the framing holds, so only this
			// one is refused.
			queue <- pending[R]{finish: s.refusal(zero, remote, Refusal{CodeBadRequest, fmt.Errorf("reading request: %w", err)}), release: release}
			continue
		}
		release()
		if idle(err) {
			return nil // no request began in time: the stream just ends
		}
		return fmt.Errorf("reading request: %w", err)
	}
}

// idle reports whether a read ended at the idle deadline, not at a frame
// arriving too slowly.
func idle(err error) bool {
	if errors.Is(err, wire.ErrTooSlow) {
		return false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// begin runs req through the stages up to Begin and returns what finishes
// it: its refusal, or Begin's (or Process's) answer.
func (s *Service[Q, R]) begin(ctx context.Context, req Q, remote peer.ID, addr ma.Multiaddr) Finish[R] {
	if s.Credentials == nil {
		return s.refusal(req, remote, Refusal{CodeUnauthorized, fmt.Errorf("%w: service declares no credentials", ErrUnauthenticated)})
	}
	cred, err := s.Credentials(req)
	if err != nil {
		return s.refusal(req, remote, Refusal{CodeBadRequest, err})
	}
	t, err := s.Auth.credential(remote, cred)
	if err != nil {
		return s.refusal(req, remote, Refusal{CodeUnauthorized, err})
	}
	r := &Request[Q]{Msg: req, Remote: remote, Addr: addr, Ticket: t}
	if s.Security != nil {
		if err := s.Security(r); err != nil {
			return s.refusal(req, remote, Refusal{CodeBadRequest, err})
		}
	}
	if s.Begin != nil {
		return s.Begin(ctx, r)
	}
	return func() (R, error) { return s.Process(ctx, r) }
}

// refusal logs r and returns the finish that answers it.
func (s *Service[Q, R]) refusal(req Q, remote peer.ID, r Refusal) Finish[R] {
	if s.Log != nil {
		s.Log.Debug("request refused", "peer", remote, "code", r.Code, "err", r.Err)
	}
	resp := s.Refuse(req, r)
	return func() (R, error) { return resp, nil }
}

// answerInOrder is the writing side of ServePipelined: it finishes each
// queued request in turn and writes its answer. After a failure it still
// finishes the rest (so their work ends and their reservations are given
// back) but writes nothing more, and it interrupts the reader.
func (s *Service[Q, R]) answerInOrder(rw io.ReadWriter, queue <-chan pending[R], failed chan<- struct{}) error {
	var err error
	for p := range queue {
		resp, ferr := p.finish()
		if err == nil {
			err = ferr
			if err == nil {
				err = s.answer(rw, resp)
			}
			if err != nil {
				close(failed)
				if d, ok := rw.(readDeadliner); ok {
					_ = d.SetReadDeadline(time.Unix(1, 0)) // wake a reader waiting for a request
				}
			}
		}
		p.release()
	}
	return err
}

// answer writes one answer within s.Timeout.
func (s *Service[Q, R]) answer(w io.Writer, resp R) error {
	if d, ok := w.(writeDeadliner); ok && s.Timeout > 0 {
		if err := d.SetWriteDeadline(time.Now().Add(s.Timeout)); err != nil {
			return fmt.Errorf("setting the write deadline: %w", err)
		}
	}
	return output(w, resp)
}
