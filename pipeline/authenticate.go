package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Errors the Authenticate stage returns; the ticket package's own errors
// (ticket.ErrExpired, ticket.ErrWrongPeer, ...) are wrapped beside them.
var (
	// ErrUnauthenticated wraps every refusal of the Authenticate stage.
	ErrUnauthenticated = errors.New("pipeline: not authenticated")
	// ErrRevoked means the ticket verified but its device was revoked;
	// errors.Is(err, ErrUnauthenticated) holds as well.
	ErrRevoked = errors.New("pipeline: device revoked")
	// ErrWrongRole means the ticket verified but has another role than the
	// request needs.
	ErrWrongRole = errors.New("pipeline: ticket of the wrong role")
)

// Revoker is what the Authenticate stage asks after a ticket verified:
// whether its device was revoked. supernode/client.Revocations is one; a nil
// *Revocations (nothing revoked) is a valid Revoker too.
type Revoker interface {
	Check(*ticket.Ticket) error
}

// RevokedPeers adapts a predicate on peer IDs (a revocation set kept as a
// map) to a Revoker.
type RevokedPeers func(peer.ID) bool

// Check refuses t when its peer is revoked.
func (f RevokedPeers) Check(t *ticket.Ticket) error {
	if f != nil && t != nil && f(t.Peer) {
		return fmt.Errorf("device %s of %q", t.Peer, t.Username)
	}
	return nil
}

// Authenticator is the Authenticate stage: the one place where a peer's
// ticket is checked. Its zero Now is time.Now and its nil Revoked revokes
// nothing; Server is required (an Authenticator without it refuses every
// ticket).
type Authenticator struct {
	// Server is the auth server whose tickets are accepted.
	Server peer.ID
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
	// Revoked is consulted after the ticket verified; nil revokes none.
	Revoked Revoker
}

// Authenticate checks that st is a ticket signed by a.Server, not expired,
// naming remote (the authenticated peer on the other end, or the peer an
// item is attributed to), and not revoked. It returns the verified ticket;
// every error wraps ErrUnauthenticated.
func (a *Authenticator) Authenticate(remote peer.ID, st *wire.SignedTicket) (*ticket.Ticket, error) {
	if a == nil || a.Server == "" {
		return nil, fmt.Errorf("%w: no auth server configured", ErrUnauthenticated)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t, err := ticket.VerifyFor(a.Server, remote, st, now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if a.Revoked != nil {
		if err := a.Revoked.Check(t); err != nil {
			return nil, fmt.Errorf("%w: %w: %w", ErrUnauthenticated, ErrRevoked, err)
		}
	}
	return t, nil
}

// AuthenticateAt is the Authenticate stage for an item that did not arrive
// on its sender's own stream — mail, an event passed on by another member:
// st must be signed by a.Server, valid at the moment at which the item was
// handed over (not now: mail may wait in a mailbox longer than a ticket
// lives), and not revoked now. There is no stream peer to bind the ticket
// to; the caller's Security stage binds the item to the ticket's device
// (an envelope opens only under a session with that device, a signature
// verifies only under its key). Every error wraps ErrUnauthenticated.
func (a *Authenticator) AuthenticateAt(st *wire.SignedTicket, at time.Time) (*ticket.Ticket, error) {
	if a == nil || a.Server == "" {
		return nil, fmt.Errorf("%w: no auth server configured", ErrUnauthenticated)
	}
	t, err := ticket.Verify(a.Server, st, at)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if !at.After(t.Issued.Add(-maxClockSkew)) {
		return nil, fmt.Errorf("%w: handed over at %v, before its ticket was issued at %v", ErrUnauthenticated, at, t.Issued)
	}
	if a.Revoked != nil {
		if err := a.Revoked.Check(t); err != nil {
			return nil, fmt.Errorf("%w: %w: %w", ErrUnauthenticated, ErrRevoked, err)
		}
	}
	return t, nil
}

// maxClockSkew is how far a supernode's clock (which stamps when an item
// was handed over) may run behind the auth server's (which stamps when a
// ticket was issued).
const maxClockSkew = 5 * time.Minute

// credential checks what a request presented; a nil ticket with a nil error
// means the request was explicitly declared unauthenticated.
func (a *Authenticator) credential(remote peer.ID, c Credential) (*ticket.Ticket, error) {
	if c.unauthenticated != "" {
		return nil, nil
	}
	t, err := a.Authenticate(remote, c.ticket)
	if err != nil {
		return nil, err
	}
	if c.role != "" && t.Role != c.role {
		return nil, fmt.Errorf("%w: %w: %q, want %q", ErrUnauthenticated, ErrWrongRole, t.Role, c.role)
	}
	return t, nil
}

// Credential is what one request presents to the Authenticate stage. Make
// it with Ticket, TicketOfRole or Unauthenticated; the zero Credential is a
// missing ticket and is refused.
type Credential struct {
	ticket          *wire.SignedTicket
	role            string
	unauthenticated string
}

// Ticket is a request that presents st, of any role.
func Ticket(st *wire.SignedTicket) Credential { return Credential{ticket: st} }

// TicketOfRole is a request that presents st, which must have role.
func TicketOfRole(st *wire.SignedTicket, role string) Credential {
	return Credential{ticket: st, role: role}
}

// Unauthenticated is the explicit choice of a request that has no ticket
// to present (a login, a registration): its Process gets a nil Ticket.
// reason says why, for the reader; it must not be empty.
func Unauthenticated(reason string) Credential {
	if reason == "" {
		reason = "unauthenticated"
	}
	return Credential{unauthenticated: reason}
}
