package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Refusal codes the pipeline's own stages answer with: node/wire's, which
// every server writes and supernode/client reads.
const (
	CodeUnauthorized = wire.CodeUnauthorized
	CodeBadRequest   = wire.CodeBadRequest
	CodeBusy         = wire.CodeBusy
)

// Refusal is why a stage refused a request: Code goes on the wire, Err is
// for the log and for Refuse to tell cases apart (errors.Is(r.Err,
// ErrRevoked)).
type Refusal struct {
	Code string
	Err  error
}

// Request is one decoded request on its way through the stages.
type Request[Q proto.Message] struct {
	// Msg is the decoded request.
	Msg Q
	// Remote is the authenticated peer on the other end of the stream: the
	// sender, never a name written in Msg.
	Remote peer.ID
	// Addr is the remote end's address, if known (rate limits by IP).
	Addr ma.Multiaddr
	// Ticket is Remote's verified ticket; nil only when Credentials
	// declared the request Unauthenticated. It carries no region: a
	// service that needs the sender's country (a regional room's home)
	// verifies a region pass the request presents against this ticket
	// (ticket.VerifyPass, in its Security stage), never a region written
	// in Msg.
	Ticket *ticket.Ticket
	// Stream is the stream itself, for protocols whose Process exchanges
	// more frames before the answer (OPAQUE's KE2/KE3).
	Stream *Stream
	// Verified is what the service's Security stage established beyond
	// the ticket (a room's home: the sender with the region of a verified
	// region pass), for its Process; nil when it set nothing.
	Verified any
}

// Stream is a request's stream as Process sees it: it writes to it, and
// reads the exchange's further frames with ReadMsg, under the same size
// limit, receive rate and budget as the request.
type Stream struct {
	w  io.Writer
	fr *wire.Reader
}

// Write writes to the stream.
func (s *Stream) Write(p []byte) (int, error) { return s.w.Write(p) }

// ReadMsg reads the next frame of the exchange into m; what the previous
// one reserved is given back first.
func (s *Stream) ReadMsg(m proto.Message) error { return s.fr.ReadMsg(m) }

// Service declares a request/response protocol: the stages a request
// passes are fixed (read at most MaxRequest bytes → Credentials →
// Authenticate → Security → Process → write the answer), the service only
// fills them in. Serve takes one request per stream; ServePipelined
// (pipelined.go) takes several, each through the same stages. Protocol, MaxRequest, Timeout, Credentials, Process and
// Refuse are required; a ticket-carrying request also needs Auth.
type Service[Q, R proto.Message] struct {
	Protocol   protocol.ID
	MaxRequest int           // bytes of the request frame, checked before it is read
	Timeout    time.Duration // of the whole stream
	// Auth is the Authenticate stage; nil refuses every ticket.
	Auth *Authenticator
	// Credentials says what req presents: Ticket(...), TicketOfRole(...)
	// or Unauthenticated(...). An error refuses req as CodeBadRequest (a
	// request of no known kind, or one whose fields are malformed).
	Credentials func(req Q) (Credential, error)
	// Security, if set, opens or verifies what the request carries once it
	// is authenticated; an error refuses it as CodeBadRequest.
	Security func(*Request[Q]) error
	// Process answers an authenticated request. An error means the stream
	// failed (or the store did) and resets it; refusals are answers.
	Process func(ctx context.Context, req *Request[Q]) (R, error)
	// Begin, if set, is how ServePipelined processes an authenticated
	// request: it runs on the stream's reading goroutine, in order, and
	// starts the work without waiting for it (a write queued for a group
	// commit), so the next request can be read meanwhile; the Finish it
	// returns runs on the writing goroutine, in order, and gives the
	// answer. Serve (one request per stream) runs Process and ignores it.
	Begin func(ctx context.Context, req *Request[Q]) Finish[R]
	// Refuse builds the answer to a refused request; req is nil-valued when
	// the request did not decode.
	Refuse func(req Q, r Refusal) R
	// AnswerMalformed answers a frame that is too large or does not decode
	// with Refuse(CodeBadRequest); false resets the stream instead.
	AnswerMalformed bool
	// Log receives refusals at debug level; nil discards them.
	Log *slog.Logger

	// Budget bounds the request bytes the service holds at once, over all
	// peers (see Budget); nil means NewServiceBudget(16 × MaxRequest).
	// A request it cannot hold is answered Refuse(CodeBusy).
	Budget *Budget

	budgetOnce sync.Once
}

// budget returns s.Budget, made on first use when unset.
func (s *Service[Q, R]) budget() *Budget {
	s.budgetOnce.Do(func() {
		if s.Budget == nil {
			s.Budget = NewServiceBudget(16*int64(s.MaxRequest), s.MaxRequest)
		}
	})
	return s.Budget
}

// reader returns a frame reader for rw accounted to remote in the budget
// and, when rw is a libp2p stream, in its resource scope.
func (s *Service[Q, R]) reader(rw io.Reader, remote peer.ID) *wire.Reader {
	var scope wire.Memory
	if sc, ok := rw.(interface{ Scope() network.StreamScope }); ok {
		if st := sc.Scope(); st != nil {
			scope = st
		}
	}
	return s.budget().reader(rw, remote, scope, s.MaxRequest)
}

// Attach serves s on h through l until l closes.
func (s *Service[Q, R]) Attach(l *Listener, h host.Host) bool {
	return l.Handle(h, s.Protocol, s.Timeout, s.ServeStream)
}

// ServeStream is Serve on a libp2p stream.
func (s *Service[Q, R]) ServeStream(ctx context.Context, st network.Stream) error {
	c := st.Conn()
	return s.Serve(ctx, st, c.RemotePeer(), c.RemoteMultiaddr())
}

// Serve runs one request from rw, sent by the authenticated peer remote at
// addr, through the stages. It returns an error only when the stream must be
// reset: the request could not be read, Process failed, or the answer could
// not be written.
func (s *Service[Q, R]) Serve(ctx context.Context, rw io.ReadWriter, remote peer.ID, addr ma.Multiaddr) error {
	var zero Q
	// Listen: one frame, its length checked against the limit before the
	// body is read, its buffer grown as the bytes arrive and reserved in
	// the budget until the request is done.
	req := zero.ProtoReflect().Type().New().Interface().(Q)
	fr, more := s.reader(rw, remote), s.reader(rw, remote)
	defer fr.Release()
	defer more.Release()
	if err := fr.ReadMsg(req); err != nil {
		if errors.Is(err, wire.ErrNoMemory) {
			// Refused for want of memory, not malformed: answer, then
			// read the rest of the frame into nothing, so a client still
			// writing it reads the answer rather than blocking.
			if err := s.refuse(rw, zero, remote, Refusal{CodeBusy, err}); err != nil {
				return err
			}
			if err := fr.Discard(); err != nil {
				return fmt.Errorf("discarding a refused request: %w", err)
			}
			return nil
		}
		if s.AnswerMalformed && malformed(err) {
			return s.refuse(rw, zero, remote, Refusal{CodeBadRequest, fmt.Errorf("reading request: %w", err)})
		}
		return fmt.Errorf("reading request: %w", err)
	}
	// Authenticate.
	if s.Credentials == nil {
		return s.refuse(rw, req, remote, Refusal{CodeUnauthorized, fmt.Errorf("%w: service declares no credentials", ErrUnauthenticated)})
	}
	cred, err := s.Credentials(req)
	if err != nil {
		return s.refuse(rw, req, remote, Refusal{CodeBadRequest, err})
	}
	t, err := s.Auth.credential(remote, cred)
	if err != nil {
		return s.refuse(rw, req, remote, Refusal{CodeUnauthorized, err})
	}
	r := &Request[Q]{Msg: req, Remote: remote, Addr: addr, Ticket: t, Stream: &Stream{w: rw, fr: more}}
	// Security.
	if s.Security != nil {
		if err := s.Security(r); err != nil {
			return s.refuse(rw, req, remote, Refusal{CodeBadRequest, err})
		}
	}
	// Process.
	resp, err := s.Process(ctx, r)
	if err != nil {
		return err
	}
	// Output.
	return output(rw, resp)
}

func (s *Service[Q, R]) refuse(w io.Writer, req Q, remote peer.ID, r Refusal) error {
	if s.Log != nil {
		s.Log.Debug("request refused", "peer", remote, "code", r.Code, "err", r.Err)
	}
	return output(w, s.Refuse(req, r))
}

// output is the Output stage: encode and send the answer.
func output(w io.Writer, resp proto.Message) error {
	if err := wire.WriteMsg(w, resp); err != nil {
		return fmt.Errorf("writing response: %w", err)
	}
	return nil
}

// malformed reports whether a read failed on the frame's content (too
// large, not a message) rather than on the stream (ended, timed out, reset).
func malformed(err error) bool {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, network.ErrReset), errors.Is(err, wire.ErrTooSlow):
		return false
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}
