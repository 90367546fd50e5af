package client

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// MaxPrekeyPeerID bounds the binary peer ID of a device entry, on both
// sides: an Ed25519 peer ID takes 38 bytes and libp2p inlines keys of at
// most 42 bytes, hashing longer ones to 34.
const MaxPrekeyPeerID = 64

// DevicePrekeys is one device's published prekeys, as FetchPrekeys returns
// them. Nothing here is vouched for: the supernode keeps no tickets and
// could hand out any bytes. The caller uses an entry only for a device it
// already trusts: it matches Peer against the Peer of the contact's ticket,
// which it verified itself (the rendezvous lookup), and then checks the
// bundle's signature with that device's key (ratchet.Bundle.Verify(Peer)).
// A lying supernode can thus hide devices or withhold one-time prekeys, but
// not substitute a bundle.
type DevicePrekeys struct {
	Peer    peer.ID // the device that published the bundle, as the supernode says
	Bundle  []byte
	OneTime []byte // the one-time prekey handed out for this session; nil when none was left
	// OneTimeKEM is the one-time ML-KEM prekey handed out for this
	// session (signed by the device: the caller verifies it with the
	// bundle); nil when none was left.
	OneTimeKEM []byte
}

// PrekeyStatus is a device's own entry at a supernode.
type PrekeyStatus struct {
	Found          bool      // the device has a live entry
	OneTimeLeft    int       // one-time prekeys stored
	OneTimeKEMLeft int       // one-time KEM prekeys stored
	Expiry         time.Time // when the entry stops being served (see wire.PrekeyBundleTTL)
}

// PrekeyCounts are the one-time prekeys of each kind a device has stored at
// a supernode, as a publish reports them.
type PrekeyCounts struct {
	OneTime, OneTimeKEM int
}

// PublishPrekeys stores bundle under the device h and its ticket st at the
// supernode sn, replacing the stored bundle and ticket, and adds oneTime
// (after dropping the stored one-time prekeys when replace is set). It
// returns how many one-time prekeys the device has stored there afterwards:
// top up when it runs low, with at most wire.MaxOneTimeStored-left keys, as
// the supernode drops the oldest past that. The entry lives until st
// expires or wire.PrekeyBundleTTL from now, whichever is later, so publish
// again with every renewed ticket. The caller has already connected h to
// sn.
func PublishPrekeys(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, bundle []byte, oneTime [][]byte, replace bool) (left int, err error) {
	n, err := PublishAllPrekeys(ctx, h, sn, st, bundle, oneTime, nil, replace)
	return n.OneTime, err
}

// PublishAllPrekeys is PublishPrekeys with one-time KEM prekeys too (at most
// wire.MaxOneTimeKEMPerPublish, each at most wire.MaxOneTimeKEMPrekey
// bytes; the supernode keeps the newest wire.MaxOneTimeKEMStored), and
// reports what is left of each kind.
func PublishAllPrekeys(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, bundle []byte, oneTime, oneTimeKEM [][]byte, replace bool) (PrekeyCounts, error) {
	if err := CheckPrekeys(bundle, oneTime); err != nil {
		return PrekeyCounts{}, fmt.Errorf("publishing prekeys: %w: %v", ErrBadRequest, err)
	}
	if err := CheckOneTimeKEM(oneTimeKEM); err != nil {
		return PrekeyCounts{}, fmt.Errorf("publishing prekeys: %w: %v", ErrBadRequest, err)
	}
	resp, err := Call[*wire.PrekeysResponse](ctx, h, sn, wire.ProtoPrekeys, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Publish{Publish: &wire.PrekeysPublish{
			Ticket: st, Bundle: bundle, OneTime: oneTime, OneTimeKem: oneTimeKEM, ReplaceOneTime: replace,
		}},
	})
	if err != nil {
		return PrekeyCounts{}, fmt.Errorf("publishing prekeys: %w", err)
	}
	if resp.GetOneTimeLeft() > wire.MaxOneTimeStored || resp.GetOneTimeKemLeft() > wire.MaxOneTimeKEMStored {
		return PrekeyCounts{}, fmt.Errorf("publishing prekeys: malformed answer: %d one-time and %d one-time KEM prekeys left",
			resp.GetOneTimeLeft(), resp.GetOneTimeKemLeft())
	}
	return PrekeyCounts{OneTime: int(resp.GetOneTimeLeft()), OneTimeKEM: int(resp.GetOneTimeKemLeft())}, nil
}

// FetchPrekeys returns the prekeys of username's devices stored at sn,
// except those of h itself, presenting the caller's ticket st; each device
// comes with one one-time prekey that no other fetch will get, while any
// are left. Entries are checked for form only: a peer ID that decodes, is
// not h's and comes once, a bundle and one-time prekey within the limits;
// entries that fail are dropped, and an answer listing more than
// wire.MaxPrekeyDevices devices is an error. Binding an entry to username
// is the caller's job (see DevicePrekeys): match Peer against the
// contact's verified ticket and verify the bundle's signature with that
// device's key. An unknown user gives an empty list and no error.
func FetchPrekeys(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, username string) ([]DevicePrekeys, error) {
	if len(username) == 0 || len(username) > wire.MaxUsername {
		return nil, fmt.Errorf("fetching prekeys: %w: username of %d bytes", ErrBadRequest, len(username))
	}
	resp, err := Call[*wire.PrekeysResponse](ctx, h, sn, wire.ProtoPrekeys, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Fetch{Fetch: &wire.PrekeysFetch{Ticket: st, Username: username}},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching prekeys: %w", err)
	}
	if n := len(resp.GetDevices()); n > wire.MaxPrekeyDevices {
		return nil, fmt.Errorf("fetching prekeys: malformed answer: %d devices (limit %d)", n, wire.MaxPrekeyDevices)
	}
	var out []DevicePrekeys
	seen := make(map[peer.ID]bool)
	for _, d := range resp.GetDevices() {
		raw := d.GetPeerId()
		if len(raw) == 0 || len(raw) > MaxPrekeyPeerID {
			continue
		}
		id, err := peer.IDFromBytes(raw)
		if err != nil || id == h.ID() || seen[id] {
			continue
		}
		if CheckPrekeys(d.GetBundle(), nil) != nil || len(d.GetOneTime()) > wire.MaxOneTimePrekey ||
			len(d.GetOneTimeKem()) > wire.MaxOneTimeKEMPrekey {
			continue
		}
		seen[id] = true
		dp := DevicePrekeys{Peer: id, Bundle: d.GetBundle()}
		if len(d.GetOneTime()) > 0 {
			dp.OneTime = d.GetOneTime()
		}
		if len(d.GetOneTimeKem()) > 0 {
			dp.OneTimeKEM = d.GetOneTimeKem()
		}
		out = append(out, dp)
	}
	return out, nil
}

// PrekeysStatus returns the entry of the device h (ticket st) at sn: how
// many one-time prekeys it has left, so a node can top up after signing in.
func PrekeysStatus(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket) (PrekeyStatus, error) {
	resp, err := Call[*wire.PrekeysResponse](ctx, h, sn, wire.ProtoPrekeys, &wire.PrekeysRequest{
		Kind: &wire.PrekeysRequest_Status{Status: &wire.PrekeysStatus{Ticket: st}},
	})
	if err != nil {
		return PrekeyStatus{}, fmt.Errorf("prekey status: %w", err)
	}
	if !resp.GetFound() {
		return PrekeyStatus{}, nil
	}
	if resp.GetOneTimeLeft() > wire.MaxOneTimeStored || resp.GetOneTimeKemLeft() > wire.MaxOneTimeKEMStored {
		return PrekeyStatus{}, fmt.Errorf("prekey status: malformed answer: %d one-time and %d one-time KEM prekeys left",
			resp.GetOneTimeLeft(), resp.GetOneTimeKemLeft())
	}
	return PrekeyStatus{
		Found:          true,
		OneTimeLeft:    int(resp.GetOneTimeLeft()),
		OneTimeKEMLeft: int(resp.GetOneTimeKemLeft()),
		Expiry:         time.Unix(resp.GetExpiryUnix(), 0),
	}, nil
}

// CheckPrekeys checks a bundle and one-time prekeys against the limits
// the supernode enforces: the client before it publishes, the server on
// what it is sent.
func CheckPrekeys(bundle []byte, oneTime [][]byte) error {
	if len(bundle) == 0 || len(bundle) > wire.MaxPrekeyBundle {
		return fmt.Errorf("bundle of %d bytes (limit %d)", len(bundle), wire.MaxPrekeyBundle)
	}
	if len(oneTime) > wire.MaxOneTimePerPublish {
		return fmt.Errorf("%d one-time prekeys (limit %d)", len(oneTime), wire.MaxOneTimePerPublish)
	}
	for i, k := range oneTime {
		if len(k) == 0 || len(k) > wire.MaxOneTimePrekey {
			return fmt.Errorf("one-time prekey %d of %d bytes (limit %d)", i, len(k), wire.MaxOneTimePrekey)
		}
	}
	return nil
}

// CheckOneTimeKEM checks one-time KEM prekeys against the limits the
// supernode enforces.
func CheckOneTimeKEM(keys [][]byte) error {
	if len(keys) > wire.MaxOneTimeKEMPerPublish {
		return fmt.Errorf("%d one-time KEM prekeys (limit %d)", len(keys), wire.MaxOneTimeKEMPerPublish)
	}
	for i, k := range keys {
		if len(k) == 0 || len(k) > wire.MaxOneTimeKEMPrekey {
			return fmt.Errorf("one-time KEM prekey %d of %d bytes (limit %d)", i, len(k), wire.MaxOneTimeKEMPrekey)
		}
	}
	return nil
}
