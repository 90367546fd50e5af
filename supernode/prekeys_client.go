package supernode

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// DevicePrekeys is one device's published prekeys, as FetchPrekeys returns
// them. Ticket has been verified: signed by the auth server, naming the
// username asked for. The bundle has not: the caller checks its signature
// against the device key Ticket binds to the username (Ticket.Peer), since
// the supernode could hand out any bytes.
type DevicePrekeys struct {
	Ticket  *ticket.Ticket
	Signed  *wire.SignedTicket // the ticket as the auth server signed it, to pass on
	Bundle  []byte
	OneTime []byte // the one-time prekey handed out for this session; nil when none was left
}

// PrekeyStatus is a device's own entry at a supernode.
type PrekeyStatus struct {
	Found       bool      // the device has a live entry
	OneTimeLeft int       // one-time prekeys stored
	Expiry      time.Time // when the entry's ticket, and so the entry, expires
}

// PublishPrekeys stores bundle under the device h and its ticket st at the
// supernode sn, replacing the stored bundle and ticket, and adds oneTime
// (after dropping the stored one-time prekeys when replace is set). It
// returns how many one-time prekeys the device has stored there afterwards:
// top up when it runs low, with at most wire.MaxOneTimeStored-left keys, as
// the supernode drops the oldest past that. The entry lives until st
// expires, so publish again with every renewed ticket. The caller has
// already connected h to sn.
func PublishPrekeys(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, bundle []byte, oneTime [][]byte, replace bool) (left int, err error) {
	if err := checkPrekeys(bundle, oneTime); err != nil {
		return 0, fmt.Errorf("publishing prekeys: %w: %v", ErrBadRequest, err)
	}
	resp, err := prekeysRoundTrip(ctx, h, sn, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
			Ticket: st, Bundle: bundle, OneTime: oneTime, ReplaceOneTime: replace,
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("publishing prekeys: %w", err)
	}
	if err := prekeysCodeErr(resp.GetError()); err != nil {
		return 0, fmt.Errorf("publishing prekeys: %w", err)
	}
	if resp.GetOneTimeLeft() > wire.MaxOneTimeStored {
		return 0, fmt.Errorf("publishing prekeys: malformed answer: %d one-time prekeys left", resp.GetOneTimeLeft())
	}
	return int(resp.GetOneTimeLeft()), nil
}

// FetchPrekeys returns the prekeys of username's devices stored at sn,
// except those of h itself, presenting the caller's ticket st; each device
// comes with one one-time prekey that no other fetch will get, while any
// are left. Returned tickets are checked against the auth server that issued
// st and must name username; entries that fail are dropped, so a lying
// supernode can hide devices but not substitute them. Expiry is not checked
// here (the supernode serves live entries only, and clocks differ): the
// binding a ticket signs holds past it. An unknown user gives an empty list
// and no error.
func FetchPrekeys(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, username string) ([]DevicePrekeys, error) {
	if len(username) == 0 || len(username) > wire.MaxUsername {
		return nil, fmt.Errorf("fetching prekeys: %w: username of %d bytes", ErrBadRequest, len(username))
	}
	server, err := serverOf(st)
	if err != nil {
		return nil, fmt.Errorf("fetching prekeys: own ticket: %w", err)
	}
	resp, err := prekeysRoundTrip(ctx, h, sn, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Fetch{Fetch: &wire.PrekeysFetch{Ticket: st, Username: username}},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching prekeys: %w", err)
	}
	if err := prekeysCodeErr(resp.GetError()); err != nil {
		return nil, fmt.Errorf("fetching prekeys: %w", err)
	}
	var out []DevicePrekeys
	seen := make(map[peer.ID]bool)
	for _, d := range resp.GetDevices() {
		t, err := ticket.VerifySignature(server, d.GetTicket())
		if err != nil || t.Username != username || t.Peer == h.ID() || seen[t.Peer] {
			continue
		}
		if checkPrekeys(d.GetBundle(), nil) != nil || len(d.GetOneTime()) > wire.MaxOneTimePrekey {
			continue
		}
		seen[t.Peer] = true
		var one []byte
		if len(d.GetOneTime()) > 0 {
			one = d.GetOneTime()
		}
		out = append(out, DevicePrekeys{Ticket: t, Signed: d.GetTicket(), Bundle: d.GetBundle(), OneTime: one})
	}
	return out, nil
}

// PrekeysStatus returns the entry of the device h (ticket st) at sn: how
// many one-time prekeys it has left, so a node can top up after signing in.
func PrekeysStatus(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket) (PrekeyStatus, error) {
	resp, err := prekeysRoundTrip(ctx, h, sn, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Status{Status: &wire.PrekeysStatus{Ticket: st}},
	})
	if err != nil {
		return PrekeyStatus{}, fmt.Errorf("prekey status: %w", err)
	}
	if err := prekeysCodeErr(resp.GetError()); err != nil {
		return PrekeyStatus{}, fmt.Errorf("prekey status: %w", err)
	}
	if !resp.GetFound() {
		return PrekeyStatus{}, nil
	}
	if resp.GetOneTimeLeft() > wire.MaxOneTimeStored {
		return PrekeyStatus{}, fmt.Errorf("prekey status: malformed answer: %d one-time prekeys left", resp.GetOneTimeLeft())
	}
	return PrekeyStatus{
		Found:       true,
		OneTimeLeft: int(resp.GetOneTimeLeft()),
		Expiry:      time.Unix(resp.GetExpiryUnix(), 0),
	}, nil
}

// prekeysRoundTrip sends req on a fresh prekeys stream and reads the one
// response. The stream is bounded by wire.PrekeysTimeout and by ctx.
func prekeysRoundTrip(ctx context.Context, h host.Host, sn peer.ID, req *wire.PrekeysRequest) (*wire.PrekeysResponse, error) {
	var resp wire.PrekeysResponse
	if err := exchange(ctx, h, sn, wire.ProtoPrekeys, wire.PrekeysTimeout, wire.MaxPrekeysFrame, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// prekeysCodeErr maps an error code from a prekeys response to a sentinel.
func prekeysCodeErr(code string) error {
	switch code {
	case "":
		return nil
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeBadRequest:
		return ErrBadRequest
	case CodeRateLimited:
		return ErrRateLimited
	default:
		return fmt.Errorf("prekeys: unknown error code %q", code)
	}
}
