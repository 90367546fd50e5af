package supernode

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

// CodeInternal is the error code of an answer the server could not give
// (the registry's store failed).
const CodeInternal = "internal"

// Errors the clients return for the codes every service shares; each
// service's own sentinels (ErrStale, ErrQuota, ...) sit beside its code.
var (
	ErrUnauthorized = errors.New("supernode: unauthorized")
	ErrBadRequest   = errors.New("supernode: bad request")
	ErrTooMany      = errors.New("supernode: too many")
	ErrRateLimited  = errors.New("supernode: rate limited")
	ErrInternal     = errors.New("supernode: internal error")
	// ErrProtocol means a server answered something it should not have:
	// an unknown code, a malformed answer.
	ErrProtocol = errors.New("supernode: protocol error")
)

// responseCodes is the one table of response codes to sentinels for every
// client.
var responseCodes = map[string]error{
	CodeUnauthorized: ErrUnauthorized,
	CodeBadRequest:   ErrBadRequest,
	CodeTooMany:      ErrTooMany,
	CodeRateLimited:  ErrRateLimited,
	CodeQuota:        ErrQuota,
	CodeStale:        ErrStale,
	CodeInternal:     ErrInternal,
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

// spec is what a client needs to know of a protocol: its ID, the bound on
// a whole exchange and on the answer's frame.
type spec struct {
	id      protocol.ID
	timeout time.Duration
	max     int
}

var (
	rendezvousSpec = spec{wire.ProtoRendezvous, wire.RendezvousTimeout, wire.MaxRendezvousFrame}
	contactsSpec   = spec{wire.ProtoContacts, wire.ContactsTimeout, wire.MaxContactsFrame}
	mailboxSpec    = spec{wire.ProtoMailbox, wire.MailboxTimeout, wire.MaxMailboxFrame}
	prekeysSpec    = spec{wire.ProtoPrekeys, wire.PrekeysTimeout, wire.MaxPrekeysFrame}
	registrySpec   = spec{wire.ProtoRegistry, wire.RegistryTimeout, wire.MaxRegistryFrame}
)

// answer is a response carrying an error code.
type answer interface {
	proto.Message
	GetError() string
}

// call sends req to p over protocol sp and returns the one answer. When
// the answer carries an error code, call returns the answer and the code's
// sentinel both (PutContacts reads the stored version of a stale answer).
func call[R answer](ctx context.Context, h host.Host, p peer.ID, sp spec, req proto.Message) (R, error) {
	var zero R
	resp := zero.ProtoReflect().Type().New().Interface().(R)
	if err := exchange(ctx, h, p, sp.id, sp.timeout, sp.max, req, resp); err != nil {
		return zero, err
	}
	return resp, codeErr(resp.GetError())
}
