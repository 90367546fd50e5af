package authserver

// The account identity (issue 17): an Ed25519 key of the account whose
// private half the server never sees, and the device list it signs. The
// server keeps three things for it (migration 0003): the public key, the
// private key sealed under a key derived from OPAQUE's export key (opaque
// bytes here: only the password opens them), and the newest signed device
// list. It cannot sign a list nor open the seal; what it checks is that a
// published list is signed by the identity it holds, newer than the one it
// holds, names the device that publishes it and no device revoked here.
//
// The first device of an account makes the identity and publishes it; two
// first devices racing are serialized by the store (one transaction, set
// only while unset), and the loser is answered with the winner's identity,
// which it adopts. After RevokeDevice, the revoking device publishes a list
// without the revoked device (the node does that): the server never edits
// a list, it only refuses one naming a revoked device.
//
// Every publish is answered with account_identity: what the server holds
// afterwards, the sealed key included (it opens only with the password,
// which the asker's account has). When what it holds is not the list the
// asker sent — a list not newer than the stored one, one signed by another
// identity, or the loser of the first-device race — the publish is
// refused (counted as RefusedDeviceListStale) and the answer is still the
// stored identity, so the client learns the current state in the same
// exchange: it compares the answer with what it sent (login.ErrStale). A
// repeated publish of exactly the stored list (a retry whose answer was
// lost) is answered the same way and is no refusal.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Stable error codes of PublishDevices (besides bad_request, unauthorized,
// rate_limited and internal).
const (
	// CodeNotListed refuses a list that does not name the publishing
	// device, or names it with another box key than its ticket's.
	CodeNotListed = wire.CodeNotListed
	// CodeListedRevoked refuses a list naming a device revoked here.
	CodeListedRevoked = wire.CodeListedRevoked
)

// Publish rate defaults.
const (
	// DefaultPublishRate is how many device lists one account may publish
	// per PublishWindow: a list changes when a device is added or removed,
	// a few times a year; retries and races stay far below this.
	DefaultPublishRate = 20
	// PublishWindow is the window of the publish limit.
	PublishWindow = 10 * time.Minute
)

// identity is an account identity as stored.
type identity struct {
	key     ed25519.PublicKey
	sealed  []byte
	devices *wire.SignedAccountDevices
	version uint64
}

// toWire is the identity as LoginResult.account and
// AuthResponse.account_identity carry it; withSealed adds the sealed key.
func (id *identity) toWire(withSealed bool) *wire.AccountIdentity {
	if id == nil {
		return nil
	}
	a := &wire.AccountIdentity{Devices: id.devices}
	if withSealed {
		a.Sealed = id.sealed
	}
	return a
}

// publishOutcome is what publishDevices did.
type publishOutcome int

const (
	published publishOutcome = iota // the list is stored now
	unchanged                       // the very list was stored already
	stale                           // another list stays: not newer, another identity, or a lost race
)

// publishDevices answers publish_devices. t is the asker's node ticket,
// verified by the Authenticate stage (signature, expiry, bound to the
// stream's peer remote, not revoked).
func (s *Server) publishDevices(ctx context.Context, t *ticket.Ticket, m *wire.PublishDevices, remote peer.ID) (*wire.AuthResponse, error) {
	refuse := func(reason, code, msg string, err error) (*wire.AuthResponse, error) {
		s.refused.note(s.log, reason, "device list refused", "user", t.Username, "peer", remote, "err", err)
		return refusal(code, msg), nil
	}
	switch full, err := s.admit(ctx, s.now(), s.publishes.key(t.Username)); {
	case err != nil:
		return s.limitsFailed(err), nil
	case full != nil:
		return refuse(RefusedPublishLimited, CodeRateLimited, "too many device lists published, try again later", nil)
	}
	d, err := ticket.VerifyDevices(m.GetDevices())
	if err != nil {
		return refuse(RefusedDeviceList, CodeBadRequest, "device list malformed or not signed by its key", err)
	}
	// SQLite's integers are signed: a larger version would wrap.
	if d.Version > math.MaxInt64 {
		return refuse(RefusedDeviceList, CodeBadRequest, "device list version too large", nil)
	}
	// Check is of the ticket's account and device: the list must be this
	// account's, and name the asker with the box key of its ticket.
	switch err := d.Check(t); {
	case errors.Is(err, ticket.ErrOtherAccount):
		return refuse(RefusedDeviceList, CodeBadRequest, "device list of another account", err)
	case err != nil:
		return refuse(RefusedDeviceList, CodeNotListed, "the device list must name this device with its ticket's box key", err)
	}
	// The asker may predate device records; it is one of the account's
	// devices either way (its ticket says so).
	if err := s.store.learnDevice(ctx, t, s.now()); err != nil {
		return s.failed("publish devices", err), nil
	}
	stored, outcome, err := s.store.publishDevices(ctx, d, m.GetAccountKeySealed())
	switch {
	case errors.Is(err, errListedRevoked):
		return refuse(RefusedDeviceList, CodeListedRevoked, "the device list names a revoked device", err)
	case errors.Is(err, errNeedSealed):
		return refuse(RefusedDeviceList, CodeBadRequest, "a first account identity needs its sealed key", err)
	case errors.Is(err, errNoAccount):
		return refuse(RefusedDeviceList, CodeUnauthorized, "no such account", err)
	case err != nil:
		return s.failed("publish devices", err), nil
	}
	switch outcome {
	case published:
		s.stats.deviceLists.Add(1)
		s.log.Info("device list published", "user", t.Username, "peer", remote, "version", d.Version, "devices", len(d.Devices))
	case stale:
		s.refused.note(s.log, RefusedDeviceListStale, "device list refused: not newer than the stored one, or of another identity",
			"user", t.Username, "peer", remote, "version", d.Version, "stored", stored.version)
	}
	return &wire.AuthResponse{Kind: &wire.AuthResponse_AccountIdentity{AccountIdentity: stored.toWire(true)}}, nil
}

// checkPublish checks a publish_devices request's sizes before anything is
// verified: the ticket and the list present, the list and the sealed key
// within their limits.
func checkPublish(m *wire.PublishDevices) error {
	if m.GetTicket() == nil {
		return errors.New("publish_devices without a ticket")
	}
	sd := m.GetDevices()
	if sd == nil || len(sd.Devices) == 0 {
		return errors.New("publish_devices without a device list")
	}
	if len(sd.Devices) > wire.MaxAccountDevicesList {
		return fmt.Errorf("publish_devices: list of %d bytes, more than %d", len(sd.Devices), wire.MaxAccountDevicesList)
	}
	if len(sd.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("publish_devices: signature of %d bytes", len(sd.Signature))
	}
	if len(m.GetAccountKeySealed()) > wire.MaxAccountKeySealed {
		return fmt.Errorf("publish_devices: sealed key of %d bytes, more than %d", len(m.GetAccountKeySealed()), wire.MaxAccountKeySealed)
	}
	return nil
}
