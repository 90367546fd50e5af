package ticket

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// An account's device list is the account identity's statement "these
// devices are mine": where a ticket is the auth server's word that a
// device belongs to an account, the list is the account's own, signed by
// a key the server never holds (node/account). A contact that has pinned
// an account's identity accepts a device only when both agree, so a
// server that issues a ticket to a device of its own cannot speak for the
// account.

// devicesContext separates the list's signatures from every other
// signature an Ed25519 key makes.
const devicesContext = "eserver-account-devices-v1"

// ErrNotListed is what Devices.Check returns, wrapped, for a device the
// list does not name: a device of the account's ticket that the account
// itself never added, or removed.
var ErrNotListed = errors.New("device not in the account's signed device list")

// ErrOtherAccount is what Devices.Check returns, wrapped, for a list of
// another account than the ticket's.
var ErrOtherAccount = errors.New("device list of another account")

// Devices is a verified AccountDevices.
type Devices struct {
	Username   string
	AccountKey ed25519.PublicKey
	Version    uint64
	Devices    []Device // sorted by peer ID
	Issued     time.Time
	Signed     *wire.SignedAccountDevices // the original bytes, to pass on
}

// Device is one device of a list.
type Device struct {
	Peer   peer.ID
	BoxKey []byte // the device's X25519 identity key; nil when not known
	Added  time.Time
}

// SignDevices signs d with the account identity key. It sorts d's devices
// by peer ID and checks the list as VerifyDevices will.
func SignDevices(key ed25519.PrivateKey, d Devices) (*wire.SignedAccountDevices, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("signing device list: not an Ed25519 key")
	}
	ds := slices.Clone(d.Devices)
	slices.SortFunc(ds, func(a, b Device) int { return bytes.Compare([]byte(a.Peer), []byte(b.Peer)) })
	w := &wire.AccountDevices{Username: d.Username, AccountKey: pub, Version: d.Version, IssuedUnix: d.Issued.Unix()}
	for _, dv := range ds {
		w.Devices = append(w.Devices, &wire.AccountDevice{PeerId: []byte(dv.Peer), BoxKey: dv.BoxKey, AddedUnix: dv.Added.Unix()})
	}
	raw, err := proto.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding device list: %w", err)
	}
	if _, err := parseDevices(raw); err != nil {
		return nil, fmt.Errorf("signing device list: %w", err)
	}
	return &wire.SignedAccountDevices{Devices: raw, Signature: ed25519.Sign(key, devicesMessage(raw))}, nil
}

func devicesMessage(raw []byte) []byte {
	return append([]byte(devicesContext), raw...)
}

// VerifyDevices checks that sd is a well-formed list signed by the key it
// names, and returns it. Whether that key is the account's is the
// reader's to decide: the auth server compares it with the identity it
// holds, a contact with the one it pinned.
func VerifyDevices(sd *wire.SignedAccountDevices) (*Devices, error) {
	if sd == nil || len(sd.Devices) == 0 || len(sd.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("device list: %w", ErrMalformed)
	}
	d, err := parseDevices(sd.Devices)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(d.AccountKey, devicesMessage(sd.Devices), sd.Signature) {
		return nil, fmt.Errorf("device list: %w", ErrBadSignature)
	}
	d.Signed = sd
	return d, nil
}

// parseDevices decodes and checks a serialized AccountDevices: its size
// before anything is decoded, then every field.
func parseDevices(raw []byte) (*Devices, error) {
	if len(raw) > wire.MaxAccountDevicesList {
		return nil, fmt.Errorf("device list: %w: %d bytes, more than %d", ErrMalformed, len(raw), wire.MaxAccountDevicesList)
	}
	var w wire.AccountDevices
	if err := proto.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("device list: %w: %v", ErrMalformed, err)
	}
	if err := wire.ValidUsername(w.Username); err != nil {
		return nil, fmt.Errorf("device list: %w: %v", ErrMalformed, err)
	}
	if len(w.AccountKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("device list: %w: account key of %d bytes", ErrMalformed, len(w.AccountKey))
	}
	if w.Version == 0 {
		return nil, fmt.Errorf("device list: %w: version 0", ErrMalformed)
	}
	if len(w.Devices) == 0 || len(w.Devices) > wire.MaxAccountDevices {
		return nil, fmt.Errorf("device list: %w: %d devices (1 to %d)", ErrMalformed, len(w.Devices), wire.MaxAccountDevices)
	}
	d := &Devices{Username: w.Username, AccountKey: ed25519.PublicKey(w.AccountKey), Version: w.Version, Issued: time.Unix(w.IssuedUnix, 0)}
	for i, wd := range w.Devices {
		p, err := peer.IDFromBytes(wd.PeerId)
		if err != nil {
			return nil, fmt.Errorf("device list: %w: device %d: %v", ErrMalformed, i, err)
		}
		if i > 0 && bytes.Compare(w.Devices[i-1].PeerId, wd.PeerId) >= 0 {
			return nil, fmt.Errorf("device list: %w: devices not sorted or repeated", ErrMalformed)
		}
		if len(wd.BoxKey) != 0 && len(wd.BoxKey) != 32 {
			return nil, fmt.Errorf("device list: %w: device %d: box key of %d bytes", ErrMalformed, i, len(wd.BoxKey))
		}
		var box []byte
		if len(wd.BoxKey) > 0 {
			box = slices.Clone(wd.BoxKey)
		}
		d.Devices = append(d.Devices, Device{Peer: p, BoxKey: box, Added: time.Unix(wd.AddedUnix, 0)})
	}
	return d, nil
}

// Has reports whether p is one of the list's devices.
func (d *Devices) Has(p peer.ID) bool {
	_, ok := d.Device(p)
	return ok
}

// Device is p's entry in the list.
func (d *Devices) Device(p peer.ID) (Device, bool) {
	if d == nil {
		return Device{}, false
	}
	i, ok := slices.BinarySearchFunc(d.Devices, p, func(dv Device, p peer.ID) int { return bytes.Compare([]byte(dv.Peer), []byte(p)) })
	if !ok {
		return Device{}, false
	}
	return d.Devices[i], true
}

// Peers is the list's devices' peer IDs, in the list's order.
func (d *Devices) Peers() []peer.ID {
	if d == nil {
		return nil
	}
	ps := make([]peer.ID, len(d.Devices))
	for i, dv := range d.Devices {
		ps[i] = dv.Peer
	}
	return ps
}

// Check reports whether the device of t (a verified ticket) is one of the
// account's devices by this list: the same account, the device listed,
// and its box key, when the list names one, the ticket's.
func (d *Devices) Check(t *Ticket) error {
	if t.Username != d.Username {
		return fmt.Errorf("%w: list of %q, ticket of %q", ErrOtherAccount, d.Username, t.Username)
	}
	dv, ok := d.Device(t.Peer)
	if !ok {
		return fmt.Errorf("%w: %s of %s (list version %d)", ErrNotListed, t.Peer, t.Username, d.Version)
	}
	if len(dv.BoxKey) > 0 && !bytes.Equal(dv.BoxKey, t.BoxKey) {
		return fmt.Errorf("%w: %s of %s holds another box key than the list names", ErrNotListed, t.Peer, t.Username)
	}
	return nil
}
