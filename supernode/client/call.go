package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// The client side of every supernode protocol (and of the auth server's
// registry, which speaks the same codes) is one call: a request on a fresh
// stream, one answer, and the answer's error code as a sentinel from one
// table.

// Errors the clients return for the codes every service shares; each
// service's own sentinels (ErrStale, ErrQuota, ...) sit beside its code.
var (
	ErrUnauthorized = errors.New("supernode: unauthorized")
	ErrBadRequest   = errors.New("supernode: bad request")
	ErrTooMany      = errors.New("supernode: too many")
	ErrRateLimited  = errors.New("supernode: rate limited")
	ErrInternal     = errors.New("supernode: internal error")
	// ErrFull means the supernode keeps all it may of this kind for every
	// account together (a global cap, not the caller's own): another home
	// may take it, or this one later.
	ErrFull = errors.New("supernode: full")
	// ErrBusy means the service holds all the request bytes it may at
	// once (its budget, shared by every peer): retry in a moment, or ask
	// another home.
	ErrBusy = errors.New("supernode: busy")
	// ErrBadDevices means a rendezvous refused a publish's device list:
	// its signature does not verify under the key it names, it is another
	// account's, or it does not name the publishing device (with its box
	// key). Nothing was stored.
	ErrBadDevices = errors.New("supernode: bad device list")
	// ErrProtocol means a server answered something it should not have:
	// an unknown code, a malformed answer.
	ErrProtocol = errors.New("supernode: protocol error")
)

// responseCodes is the one table of response codes to sentinels for every
// client.
var responseCodes = map[string]error{
	wire.CodeUnauthorized: ErrUnauthorized,
	wire.CodeBadRequest:   ErrBadRequest,
	wire.CodeTooMany:      ErrTooMany,
	wire.CodeRateLimited:  ErrRateLimited,
	wire.CodeQuota:        ErrQuota,
	wire.CodeStale:        ErrStale,
	wire.CodeInternal:     ErrInternal,
	wire.CodeFull:         ErrFull,
	wire.CodeNotHome:      ErrNotHome,
	wire.CodeBusy:         ErrBusy,
	wire.CodeBadDevices:   ErrBadDevices,

	wire.CodeBanned:        ErrBanned,
	wire.CodeRoomFull:      ErrRoomFull,
	wire.CodeNotAllowed:    ErrNotAllowed,
	wire.CodeWrongPassword: ErrWrongPassword,
}

// codeErr maps an answer's error code to its sentinel; "" is no error.
func codeErr(code string) error {
	if code == "" {
		return nil
	}
	if err, ok := responseCodes[code]; ok {
		return err
	}
	return fmt.Errorf("%w: unknown error code %q", ErrProtocol, code)
}

// limits are what a client needs to know of each protocol it calls: the
// bound on a whole exchange and on the answer's frame.
var limits = map[protocol.ID]struct {
	timeout time.Duration
	max     int
}{
	wire.ProtoRendezvous: {wire.RendezvousTimeout, wire.MaxRendezvousFrame},
	wire.ProtoContacts:   {wire.ContactsTimeout, wire.MaxContactsFrame},
	wire.ProtoMailbox:    {wire.MailboxTimeout, wire.MaxMailboxFrame},
	wire.ProtoPrekeys:    {wire.PrekeysTimeout, wire.MaxPrekeysFrame},
	wire.ProtoRegistry:   {wire.RegistryTimeout, wire.MaxRegistryFrame},
	wire.ProtoRoom:       {wire.RoomTimeout, wire.MaxRoomFrame},
}

// Answer is a response carrying an error code.
type Answer interface {
	proto.Message
	GetError() string
}

// Call sends req to p over pid (a supernode protocol or the registry) and
// returns the one answer. When the answer carries an error code, Call
// returns the answer and the code's sentinel both (PutContacts reads the
// stored version of a stale answer). The functions of this package are
// Calls with checked arguments and answers; Call itself sends whatever it is
// given, which is what a test of a server's refusals needs.
func Call[R Answer](ctx context.Context, h host.Host, p peer.ID, pid protocol.ID, req proto.Message) (R, error) {
	var zero R
	lim, ok := limits[pid]
	if !ok {
		return zero, fmt.Errorf("%w: %s is no supernode protocol", ErrBadRequest, pid)
	}
	resp := zero.ProtoReflect().Type().New().Interface().(R)
	if err := exchange(ctx, h, p, pid, lim.timeout, lim.max, req, resp); err != nil {
		return zero, err
	}
	return resp, codeErr(resp.GetError())
}

// exchange is every supernode protocol's client side: req on a fresh stream
// of protocol pid to p, then the one response read into resp (at most
// maxFrame bytes). The stream is bounded by timeout and by ctx, and reset
// on any failure.
func exchange(ctx context.Context, h host.Host, p peer.ID, pid protocol.ID, timeout time.Duration, maxFrame int, req, resp proto.Message) error {
	s, err := h.NewStream(ctx, p, pid)
	if err != nil {
		return fmt.Errorf("opening stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	fail := func(err error) error {
		_ = s.Reset()
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	if err := s.SetDeadline(deadline); err != nil {
		return fail(fmt.Errorf("setting deadline: %w", err))
	}
	if err := wire.WriteMsg(s, req); err != nil {
		return fail(err)
	}
	if err := s.CloseWrite(); err != nil {
		return fail(fmt.Errorf("closing write side: %w", err))
	}
	if err := wire.ReadMsg(s, maxFrame, resp); err != nil {
		return fail(err)
	}
	_ = s.Close()
	return nil
}
