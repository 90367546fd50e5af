package login

// Device management and password changes at the auth server, and the
// revocation log on its registry protocol.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Device is one device of an account as the auth server lists it.
type Device struct {
	Peer       peer.ID
	Name       string    // the device name of its latest login
	FirstLogin time.Time // first login
	LastSeen   time.Time // latest login or ticket renewal
	Revoked    time.Time // zero while not revoked
	Current    bool      // the device that asked
}

// Devices lists the devices of t's account, most recently seen first (at
// most wire.MaxListedDevices of them) and how many there are in all. t must
// be h's ticket.
func Devices(ctx context.Context, h host.Host, server peer.AddrInfo, t *wire.SignedTicket) (devices []Device, total int, err error) {
	err = exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_ListDevices{
			ListDevices: &wire.ListDevices{Ticket: t},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		dl, ok := resp.Kind.(*wire.AuthResponse_Devices)
		if !ok {
			return fmt.Errorf("%w: %T instead of devices", ErrProtocol, resp.Kind)
		}
		devices, err = parseDevices(dl.Devices)
		if err != nil {
			return err
		}
		total = max(int(dl.Devices.GetTotal()), len(devices))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing devices: %w", err)
	}
	return devices, total, nil
}

// parseDevices checks and decodes a device list: at most
// wire.MaxListedDevices entries, each with a valid peer ID and a UTF-8 name
// of at most wire.MaxDeviceName bytes.
func parseDevices(dl *wire.DeviceList) ([]Device, error) {
	if dl == nil {
		return nil, fmt.Errorf("%w: empty device list", ErrProtocol)
	}
	if len(dl.Devices) > wire.MaxListedDevices {
		return nil, fmt.Errorf("%w: %d devices, limit %d", ErrProtocol, len(dl.Devices), wire.MaxListedDevices)
	}
	out := make([]Device, 0, len(dl.Devices))
	for i, d := range dl.Devices {
		p, err := peer.IDFromBytes(d.GetPeerId())
		if err != nil {
			return nil, fmt.Errorf("%w: device %d: peer ID: %v", ErrProtocol, i, err)
		}
		if len(d.GetName()) > wire.MaxDeviceName || !utf8.ValidString(d.GetName()) {
			return nil, fmt.Errorf("%w: device %d: name not UTF-8 or longer than %d bytes", ErrProtocol, i, wire.MaxDeviceName)
		}
		dev := Device{
			Peer:       p,
			Name:       d.GetName(),
			FirstLogin: time.Unix(d.GetFirstLoginUnix(), 0),
			LastSeen:   time.Unix(d.GetLastSeenUnix(), 0),
			Current:    d.GetCurrent(),
		}
		if d.GetRevokedUnix() != 0 {
			dev.Revoked = time.Unix(d.GetRevokedUnix(), 0)
		}
		out = append(out, dev)
	}
	return out, nil
}

// RevokeDevice revokes device p of t's account (t must be h's ticket; p may
// be h itself). From then on p never gets a ticket again, and supernodes
// refuse its tickets once they have polled the revocation log. Revoking a
// revoked device succeeds; a peer that is not a device of the account is
// ErrUnknownDevice.
//
// Revoking another device needs the account's password, proven afresh to
// the server by an OPAQUE login on the revocation's own stream, so a thief
// holding a signed-in device cannot remove its owner's others: a wrong
// password is ErrLoginFailed and counts as a failed login, an empty one
// ErrBadRequest. Revoking h itself needs no password (it is ignored).
//
// The account's signed device list still names p until a list without it
// is published (PublishDevices): the caller, holding the account
// identity, signs and publishes one next.
func RevokeDevice(ctx context.Context, h host.Host, server peer.AddrInfo, t *ticket.Ticket, p peer.ID, password string) error {
	req := &wire.RevokeDevice{Ticket: t.Signed, PeerId: []byte(p)}
	var c *pake.Client
	if p != h.ID() {
		if password == "" {
			return fmt.Errorf("revoking %s: %w: removing another device needs the account's password", p, ErrBadRequest)
		}
		var err error
		if c, err = pake.NewClient(t.Username); err != nil {
			return fmt.Errorf("revoking %s: %w", p, err)
		}
		if req.Ke1, err = c.LoginStart([]byte(password)); err != nil {
			return fmt.Errorf("revoking %s: %w", p, err)
		}
	}
	err := exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_RevokeDevice{RevokeDevice: req}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		if c != nil {
			if resp, err = proveLogin(st, c, resp); err != nil {
				return err
			}
		}
		if _, ok := resp.Kind.(*wire.AuthResponse_RevokeResult); !ok {
			return fmt.Errorf("%w: %T instead of revoke_result", ErrProtocol, resp.Kind)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoking %s: %w", p, err)
	}
	return nil
}

// proveLogin finishes an OPAQUE login started with c whose KE2 is the
// server's answer resp: it sends KE3 and returns the server's next answer.
// A KE2 that the password does not open is ErrLoginFailed (the client
// hangs up, which the server counts as a failed login).
func proveLogin(st network.Stream, c *pake.Client, resp *wire.AuthResponse) (*wire.AuthResponse, error) {
	k2, ok := resp.Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		return nil, fmt.Errorf("%w: %T instead of ke2", ErrProtocol, resp.Kind)
	}
	ke3, _, err := c.LoginFinish(k2.Ke2)
	if errors.Is(err, pake.ErrAuth) {
		return nil, ErrLoginFailed
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if err := wire.WriteMsg(st, &wire.LoginFinish{Ke3: ke3}); err != nil {
		return nil, err
	}
	return readResponse(st)
}

// ChangePassword replaces username's password: it signs in with
// oldPassword and registers newPassword on the same stream, so the server
// changes nothing for a caller who does not know the old one (a wrong one
// is ErrLoginFailed and counts against the login rate limit). It returns
// OPAQUE's export keys of both passwords (see Result.ExportKey): whatever
// was sealed under a key derived from oldExport (the contact-list backup)
// must be sealed again under newExport, which every later Login returns.
//
// reseal seals the account identity's private key afresh under the new
// password: it is called with the new export key once the new
// registration is finalized, before anything is sent that would change
// the account, and what it returns goes to the server with the new record
// (RegisterFinish.account_key_sealed), stored in the same transaction. An
// error from it abandons the change (nothing is changed at the server). A
// nil reseal sends none: the server then refuses the change with
// ErrBadRequest when the account has an identity, since no password would
// open it afterwards.
func ChangePassword(ctx context.Context, h host.Host, server peer.AddrInfo, username, oldPassword, newPassword string, reseal func(newExportKey []byte) ([]byte, error)) (oldExport, newExport []byte, err error) {
	if oldPassword == "" || newPassword == "" {
		return nil, nil, fmt.Errorf("changing password: %w: empty password", ErrBadRequest)
	}
	lc, err := pake.NewClient(username)
	if err != nil {
		return nil, nil, fmt.Errorf("changing password: %w", err)
	}
	ke1, err := lc.LoginStart([]byte(oldPassword))
	if err != nil {
		return nil, nil, fmt.Errorf("changing password: %w", err)
	}
	rc, err := pake.NewClient(username)
	if err != nil {
		return nil, nil, fmt.Errorf("changing password: %w", err)
	}
	regReq, err := rc.RegistrationStart([]byte(newPassword))
	if err != nil {
		return nil, nil, fmt.Errorf("changing password: %w", err)
	}
	err = exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_ChangePassword{
			ChangePassword: &wire.ChangePassword{Username: username, Ke1: ke1, RegistrationRequest: regReq},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		if resp, err = proveLogin(st, lc, resp); err != nil {
			return err
		}
		rr, ok := resp.Kind.(*wire.AuthResponse_RegistrationResponse)
		if !ok {
			return fmt.Errorf("%w: %T instead of registration_response", ErrProtocol, resp.Kind)
		}
		record, err := rc.RegistrationFinish(rr.RegistrationResponse)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		var sealed []byte
		if reseal != nil {
			if sealed, err = reseal(rc.ExportKey()); err != nil {
				return fmt.Errorf("resealing the account key: %w", err)
			}
			if len(sealed) == 0 || len(sealed) > wire.MaxAccountKeySealed {
				return fmt.Errorf("%w: resealed account key of %d bytes (1 to %d)", ErrBadRequest, len(sealed), wire.MaxAccountKeySealed)
			}
		}
		if err := wire.WriteMsg(st, &wire.RegisterFinish{RegistrationRecord: record, AccountKeySealed: sealed}); err != nil {
			return err
		}
		resp, err = readResponse(st)
		if err != nil {
			return err
		}
		if _, ok := resp.Kind.(*wire.AuthResponse_PasswordChanged); !ok {
			return fmt.Errorf("%w: %T instead of password_changed", ErrProtocol, resp.Kind)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("changing password: %w", err)
	}
	return lc.ExportKey(), rc.ExportKey(), nil
}

// PublishDevices stores signed, the account's device list signed by its
// account identity, at the auth server, presenting h's node ticket t; the
// list must name h with its ticket's box key, name no revoked device, and
// be newer than the list the server holds. sealed is the identity's
// private key sealed under the password's export key, for an account that
// has no identity yet (the first device); it is ignored otherwise.
//
// It returns what the server holds afterwards. When that is not signed —
// the server holds a newer list, or another identity set first by another
// device — the error is ErrStale and the identity returned is the
// server's, for the caller to adopt. A list that does not name h is
// ErrNotListed, one naming a revoked device ErrListedRevoked; a malformed
// or badly signed list, one of another account, or a first identity
// without sealed is ErrBadRequest. After revoking a device (RevokeDevice),
// publish a list without it: the server never edits a list itself.
func PublishDevices(ctx context.Context, h host.Host, server peer.AddrInfo, t *wire.SignedTicket, signed *wire.SignedAccountDevices, sealed []byte) (*wire.AccountIdentity, error) {
	var sent wire.AccountDevices
	if err := proto.Unmarshal(signed.GetDevices(), &sent); err != nil {
		return nil, fmt.Errorf("publishing devices: %w: list: %v", ErrBadRequest, err)
	}
	var held *wire.AccountIdentity
	err := exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_PublishDevices{
			PublishDevices: &wire.PublishDevices{Ticket: t, Devices: signed, AccountKeySealed: sealed},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		a, ok := resp.Kind.(*wire.AuthResponse_AccountIdentity)
		if !ok || a.AccountIdentity == nil {
			return fmt.Errorf("%w: %T instead of account_identity", ErrProtocol, resp.Kind)
		}
		if _, err := parseAccount(a.AccountIdentity, sent.Username); err != nil {
			return err
		}
		held = a.AccountIdentity
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publishing devices: %w", err)
	}
	if got := held.GetDevices(); !bytes.Equal(got.GetDevices(), signed.GetDevices()) || !bytes.Equal(got.GetSignature(), signed.GetSignature()) {
		return held, fmt.Errorf("publishing devices: %w", ErrStale)
	}
	return held, nil
}

// FetchRevocations asks server's registry for one page of its revocation
// log after serial since, presenting h's ticket t, and returns it verified
// against server.ID. While the page's More is set, ask again from its
// Serial. The page's Signed field is what to pass on to others.
func FetchRevocations(ctx context.Context, h host.Host, server peer.AddrInfo, t *wire.SignedTicket, since uint64) (*ticket.RevocationList, error) {
	var resp wire.RegistryResponse
	err := exchangeOn(ctx, h, server, wire.ProtoRegistry, wire.RegistryTimeout, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Revocations{
			Revocations: &wire.FetchRevocations{Ticket: t, Since: since},
		}}); err != nil {
			return err
		}
		if err := wire.ReadMsg(st, wire.MaxRegistryFrame, &resp); err != nil {
			return fmt.Errorf("reading registry response: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fetching revocations: %w", err)
	}
	switch resp.GetError() {
	case "":
	case "unauthorized":
		return nil, fmt.Errorf("fetching revocations: %w", ErrUnauthorized)
	case "bad_request":
		return nil, fmt.Errorf("fetching revocations: %w", ErrBadRequest)
	default:
		return nil, fmt.Errorf("fetching revocations: registry error %q", resp.GetError())
	}
	l, err := ticket.VerifyRevocations(server.ID, resp.GetRevocations())
	if err != nil {
		return nil, fmt.Errorf("fetching revocations: %w: %v", ErrProtocol, err)
	}
	if l.Since > since {
		return nil, fmt.Errorf("fetching revocations: %w: page starts at %d, asked from %d", ErrProtocol, l.Since, since)
	}
	return l, nil
}

// UserExists asks the auth server whether an account called username
// exists, with t (h's node ticket) as the asker's credential. The server
// answers each account a limited number of times per window
// (ErrRateLimited past that). A server too old to know the question
// answers ErrBadRequest.
func UserExists(ctx context.Context, h host.Host, server peer.AddrInfo, t *wire.SignedTicket, username string) (bool, error) {
	var exists bool
	err := exchange(ctx, h, server, func(st network.Stream) error {
		if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_LookupUser{
			LookupUser: &wire.LookupUser{Ticket: t, Username: username},
		}}); err != nil {
			return err
		}
		resp, err := readResponse(st)
		if err != nil {
			return err
		}
		r, ok := resp.Kind.(*wire.AuthResponse_UserLookup)
		if !ok {
			return fmt.Errorf("%w: %T instead of user_lookup", ErrProtocol, resp.Kind)
		}
		exists = r.UserLookup.GetExists()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up %q: %w", username, err)
	}
	return exists, nil
}
