// Package login is a node's side of the auth protocol: register an account
// and sign in at an auth server with OPAQUE, receiving a ticket that binds
// this node's peer ID to the account (and the account identity the server
// holds); manage the account's devices, publish its signed device list and
// change its password.
package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Errors callers branch on, one per stable AuthError code, plus
// ErrUnreachable when the server cannot be dialed.
var (
	ErrLoginFailed   = errors.New("wrong username or password")
	ErrUsernameTaken = errors.New("username taken")
	ErrRateLimited   = errors.New("rate limited, try again later")
	// ErrBusy means the server holds all the request bytes it may at once
	// (its request budget): try again in a moment.
	ErrBusy       = errors.New("server busy, try again in a moment")
	ErrBadRequest = errors.New("bad request")
	// ErrUnreachable means the server could not be dialed, or went away
	// in the middle of an exchange (a replica killed or cut off). Register,
	// Login and Renew try once more then: see failover.
	ErrUnreachable = errors.New("server unreachable")
	// ErrUnconfirmed means the server went away after the whole
	// registration was sent and before it confirmed it: the account may
	// or may not exist. Register does not try again (another replica
	// would say the name is taken — by this very registration); signing
	// in tells.
	ErrUnconfirmed = errors.New("the server went away before confirming the registration")
	// ErrDeviceRevoked means this device (peer ID) was revoked by its
	// account: it will never get a ticket again, whatever the password.
	// Sign in again with a new device key.
	ErrDeviceRevoked = errors.New("this device was revoked")
	// ErrUnknownDevice means the peer ID to revoke is not a device of the
	// ticket's account.
	ErrUnknownDevice = errors.New("no such device on this account")
	// ErrUnauthorized means the server did not accept the ticket presented:
	// expired, from another server, or not this host's.
	ErrUnauthorized = errors.New("ticket not accepted")
	// ErrProtocol means the server answered something it should not have.
	ErrProtocol = errors.New("auth protocol error")
	// ErrStale means a published device list was not stored: the server
	// holds a newer one, or one of another account identity (another
	// device set the account's identity first). PublishDevices returns it
	// with what the server holds, which the caller adopts.
	ErrStale = errors.New("the server holds another device list")
	// ErrNotListed means a published device list does not name this
	// device, or names it with another box key than its ticket's.
	ErrNotListed = errors.New("the device list does not name this device")
	// ErrListedRevoked means a published device list names a device that
	// was revoked.
	ErrListedRevoked = errors.New("the device list names a revoked device")
)

// Request is what signing in needs.
type Request struct {
	Username string
	Password string
	Device   string // human name of this device, e.g. "laptop"
	BoxKey   []byte // this device's X25519 public key, put into the ticket
}

// Result is a successful sign-in.
type Result struct {
	// Ticket is verified: issued by the server for this host's peer ID.
	Ticket *ticket.Ticket
	// RegionPass is the region the server placed this login's or renewal's
	// address in, verified against Ticket (ticket.VerifyPass); nil when it
	// placed it in none. It is kept apart from the ticket, which is shown
	// to every peer, and presented only to a regional room's homes.
	RegionPass *ticket.Pass
	// Rendezvous lists multiaddrs of rendezvous services to publish at.
	Rendezvous []string
	// Supernodes are the live supernodes as the server's registry knows
	// them, unverified (see supernode/client.ParseSupernodes).
	Supernodes []*wire.SupernodeInfo
	// ExportKey is OPAQUE's export key (pake.Client.ExportKey): the same on
	// every device that signs in with this password, never known to the
	// server. Login sets it; Renew, which has no password, leaves it nil, so
	// keep it (or what is derived from it, see backup.DeriveKey) in memory.
	// It changes when the password does.
	ExportKey []byte
	// Account is the account identity as the server holds it, nil when
	// the account has none yet (the device then makes one and publishes
	// it, see PublishDevices). Its device list is checked well formed,
	// signed by the key it names and of this account (AccountDevices);
	// whether that key is the account's own is the caller's to decide
	// (the one it pinned). Account.Sealed is set by Login only: Renew,
	// which has not proven the password, gets the list alone.
	Account *wire.AccountIdentity
	// AccountDevices is Account's device list, verified; nil with Account.
	AccountDevices *ticket.Devices
	// Replicas are the multiaddrs (with /p2p/: the server's own peer ID)
	// of the server's live replicas, as the server listed them: where a
	// later sign-in may also go (failover). Empty from a server that
	// lists none.
	Replicas []string
}

// ParseServer parses an auth server's multiaddr, which must end in /p2p/<id>.
func ParseServer(addr string) (peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w: server address %q: %v", ErrBadRequest, addr, err)
	}
	return *ai, nil
}

// Register creates the account username with password at server.
func Register(ctx context.Context, h host.Host, server peer.AddrInfo, username, password string) error {
	if password == "" {
		return fmt.Errorf("%w: empty password", ErrBadRequest)
	}
	return failover(ctx, h, server, func() error { return register(ctx, h, server, username, password) })
}

// register is one attempt of Register.
func register(ctx context.Context, h host.Host, server peer.AddrInfo, username, password string) error {
	c, err := pake.NewClient(username)
	if err != nil {
		return err
	}
	req, err := c.RegistrationStart([]byte(password))
	if err != nil {
		return err
	}
	return exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{
			RegisterStart: &wire.RegisterStart{Username: username, RegistrationRequest: req},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		rr, ok := resp.Kind.(*wire.AuthResponse_RegistrationResponse)
		if !ok {
			return fmt.Errorf("%w: %T instead of registration_response", ErrProtocol, resp.Kind)
		}
		record, err := c.RegistrationFinish(rr.RegistrationResponse)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := wire.WriteMsg(st, &wire.RegisterFinish{RegistrationRecord: record}); err != nil {
			return err
		}
		resp, err = readResponse(st)
		if broken(err) {
			return fmt.Errorf("%w: %v", ErrUnconfirmed, err)
		}
		if err != nil {
			return err
		}
		if _, ok := resp.Kind.(*wire.AuthResponse_RegisterResult); !ok {
			return fmt.Errorf("%w: %T instead of register_result", ErrProtocol, resp.Kind)
		}
		return nil
	})
}

// Login signs in at server and returns a ticket verified to be issued by
// server for h's peer ID.
func Login(ctx context.Context, h host.Host, server peer.AddrInfo, req Request) (*Result, error) {
	if req.Password == "" {
		return nil, fmt.Errorf("%w: empty password", ErrBadRequest)
	}
	var res *Result
	err := failover(ctx, h, server, func() (err error) {
		res, err = login(ctx, h, server, req)
		return err
	})
	return res, err
}

// login is one attempt of Login.
func login(ctx context.Context, h host.Host, server peer.AddrInfo, req Request) (*Result, error) {
	c, err := pake.NewClient(req.Username)
	if err != nil {
		return nil, err
	}
	ke1, err := c.LoginStart([]byte(req.Password))
	if err != nil {
		return nil, err
	}
	var res *Result
	err = exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{
			LoginStart: &wire.LoginStart{Username: req.Username, Ke1: ke1, Device: req.Device, BoxKey: req.BoxKey},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		k2, ok := resp.Kind.(*wire.AuthResponse_Ke2)
		if !ok {
			return fmt.Errorf("%w: %T instead of ke2", ErrProtocol, resp.Kind)
		}
		ke3, _, err := c.LoginFinish(k2.Ke2)
		if errors.Is(err, pake.ErrAuth) {
			return ErrLoginFailed
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := wire.WriteMsg(st, &wire.LoginFinish{Ke3: ke3}); err != nil {
			return err
		}
		resp, err = readResponse(st)
		if err != nil {
			return err
		}
		res, err = loginResult(resp, h, server, req.Username)
		if err != nil {
			return err
		}
		res.ExportKey = c.ExportKey()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Renew trades a still-valid ticket of h's for a fresh one, without the
// password (the server checks that h is the peer the ticket names).
func Renew(ctx context.Context, h host.Host, server peer.AddrInfo, current *ticket.Ticket) (*Result, error) {
	var res *Result
	err := failover(ctx, h, server, func() error {
		return exchange(ctx, h, server, func(st network.Stream) error {
			if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_Renew{
				Renew: &wire.Renew{Ticket: current.Signed},
			}}); err != nil {
				return err
			}
			resp, err := readResponse(st)
			if err != nil {
				return err
			}
			res, err = loginResult(resp, h, server, current.Username)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// failover runs attempt against server, and once more when it failed
// because the server could not be reached or went away mid-exchange and
// server has more than one address. An auth server's replicas share its
// identity (one peer ID) and each login lists their addresses, so the
// second attempt's new connection reaches whichever replica answers; the
// broken connection is closed first, or libp2p would hand it out again.
// Once, not in a loop: the dial itself tries every address.
func failover(ctx context.Context, h host.Host, server peer.AddrInfo, attempt func() error) error {
	err := attempt()
	if err == nil || !errors.Is(err, ErrUnreachable) || len(server.Addrs) < 2 || ctx.Err() != nil {
		return err
	}
	h.Network().ClosePeer(server.ID)
	return attempt()
}

// broken reports whether err is the exchange's connection failing (reset,
// closed, timed out) rather than an answer of the server's.
func broken(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, network.ErrReset) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout())
}

// loginResult checks a login_result: a ticket from server, for h, for username.
func loginResult(resp *wire.AuthResponse, h host.Host, server peer.AddrInfo, username string) (*Result, error) {
	lr, ok := resp.Kind.(*wire.AuthResponse_LoginResult)
	if !ok || lr.LoginResult == nil {
		return nil, fmt.Errorf("%w: %T instead of login_result", ErrProtocol, resp.Kind)
	}
	t, err := ticket.VerifyFor(server.ID, h.ID(), lr.LoginResult.Ticket, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: ticket: %v", ErrProtocol, err)
	}
	if t.Username != username {
		return nil, fmt.Errorf("%w: ticket for %q, not %q", ErrProtocol, t.Username, username)
	}
	// The card is what the rendezvous shows strangers: it must be this
	// ticket's, or a stranger would seal to someone else's keys.
	if cs := lr.LoginResult.Card; cs != nil {
		card, err := ticket.VerifyCard(server.ID, cs, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if !card.Matches(t) {
			return nil, fmt.Errorf("%w: card does not match the ticket", ErrProtocol)
		}
		t.PublicCard = cs
	}
	res := &Result{Ticket: t, Rendezvous: lr.LoginResult.Rendezvous, Supernodes: lr.LoginResult.Supernodes,
		Replicas: replicas(lr.LoginResult.Replicas, server.ID)}
	// The pass must be this ticket's, or a regional room's homes would
	// refuse it (or place us in someone else's region).
	if ps := lr.LoginResult.RegionPass; ps != nil {
		p, err := ticket.VerifyPass(server.ID, ps, t, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		res.RegionPass = p
	}
	if a := lr.LoginResult.Account; a != nil {
		d, err := parseAccount(a, username)
		if err != nil {
			return nil, err
		}
		res.Account, res.AccountDevices = a, d
	}
	return res, nil
}

// replicas keeps of a login result's replica list what a later sign-in
// may dial: the first wire.MaxReplicaAddrs entries, each at most
// wire.MaxReplicaAddrLen bytes and a multiaddr ending in /p2p/ with the
// server's own peer ID (a replica is the server; an address naming
// another peer would send the password's exchange elsewhere). The list is
// advice: a bad entry is left out, the login stands.
func replicas(list []string, server peer.ID) []string {
	var out []string
	for _, r := range list[:min(len(list), wire.MaxReplicaAddrs)] {
		if len(r) > wire.MaxReplicaAddrLen {
			continue
		}
		if ai, err := ParseServer(r); err == nil && ai.ID == server {
			out = append(out, r)
		}
	}
	return out
}

// parseAccount checks an account identity from the server: a device list
// of username, well formed and signed by the key it names, and a sealed
// key within wire.MaxAccountKeySealed. It returns the list verified.
func parseAccount(a *wire.AccountIdentity, username string) (*ticket.Devices, error) {
	if len(a.GetSealed()) > wire.MaxAccountKeySealed {
		return nil, fmt.Errorf("%w: sealed account key of %d bytes, more than %d", ErrProtocol, len(a.GetSealed()), wire.MaxAccountKeySealed)
	}
	d, err := ticket.VerifyDevices(a.GetDevices())
	if err != nil {
		return nil, fmt.Errorf("%w: account identity: %v", ErrProtocol, err)
	}
	if d.Username != username {
		return nil, fmt.Errorf("%w: device list of %q, not %q", ErrProtocol, d.Username, username)
	}
	return d, nil
}

// exchange dials server, opens an auth stream with a deadline that also
// follows ctx, runs fn on it and closes it, resetting it on error.
func exchange(ctx context.Context, h host.Host, server peer.AddrInfo, fn func(network.Stream) error) error {
	return exchangeOn(ctx, h, server, wire.ProtoAuth, wire.AuthTimeout, fn)
}

// exchangeOn is exchange on protocol pid with the given stream timeout.
func exchangeOn(ctx context.Context, h host.Host, server peer.AddrInfo, pid protocol.ID, timeout time.Duration, fn func(network.Stream) error) error {
	dctx, cancel := context.WithTimeout(ctx, wire.DialTimeout)
	defer cancel()
	if err := h.Connect(dctx, server); err != nil {
		return fmt.Errorf("%w: connecting to %s: %v", ErrUnreachable, server.ID, err)
	}
	st, err := h.NewStream(dctx, server.ID, pid)
	if err != nil {
		return fmt.Errorf("%w: opening %s stream to %s: %v", ErrUnreachable, pid, server.ID, err)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := st.SetDeadline(deadline); err != nil {
		st.Reset()
		return fmt.Errorf("setting deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	if err := fn(st); err != nil {
		st.Reset()
		if ctx.Err() != nil {
			return fmt.Errorf("auth exchange with %s: %w", server.ID, ctx.Err())
		}
		if broken(err) {
			return fmt.Errorf("%w: the exchange with %s broke off: %v", ErrUnreachable, server.ID, err)
		}
		return err
	}
	// The exchange is complete: fn read the server's answer. Close's
	// error says nothing more — over QUIC it fails whenever the server
	// closed its side first (its Close stops our sending), which is how
	// every exchange ends.
	st.Close()
	return nil
}

// readResponse reads one AuthResponse and turns an AuthError into the
// matching sentinel.
func readResponse(st network.Stream) (*wire.AuthResponse, error) {
	var resp wire.AuthResponse
	if err := wire.ReadMsg(st, wire.MaxAuthFrame, &resp); err != nil {
		return nil, fmt.Errorf("reading auth response: %w", err)
	}
	if e, ok := resp.Kind.(*wire.AuthResponse_Error); ok {
		return nil, codeError(e.Error)
	}
	return &resp, nil
}

func codeError(e *wire.AuthError) error {
	if e == nil {
		return fmt.Errorf("%w: empty error", ErrProtocol)
	}
	var s error
	switch e.Code {
	case "login_failed":
		s = ErrLoginFailed
	case "username_taken":
		s = ErrUsernameTaken
	case "rate_limited":
		s = ErrRateLimited
	case "busy":
		s = ErrBusy
	case wire.CodeUnreachable:
		// The server is up but cannot reach its database. Another
		// replica may (failover tries once): replicas share the
		// database, but not the path to it.
		s = ErrUnreachable
	case "bad_request":
		s = ErrBadRequest
	case "device_revoked":
		s = ErrDeviceRevoked
	case "unknown_device":
		s = ErrUnknownDevice
	case "unauthorized":
		s = ErrUnauthorized
	case wire.CodeNotListed:
		s = ErrNotListed
	case wire.CodeListedRevoked:
		s = ErrListedRevoked
	default:
		return fmt.Errorf("auth server error %q: %s", e.Code, e.Message)
	}
	if e.Message == "" || e.Message == s.Error() {
		return s
	}
	return fmt.Errorf("%w: %s", s, e.Message)
}
