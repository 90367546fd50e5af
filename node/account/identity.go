package account

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Host is what the capability needs from the node.
type Host interface {
	Store() *store.Store
	// Me is our username.
	Me() string
	// UpdateContact changes username's entry under the node's contact
	// lock (api.ErrNotContact when there is none) and tells the front
	// ends; an error from change stores nothing.
	UpdateContact(username string, change func(*store.Contact) error) error
	Now() time.Time
	Log() *slog.Logger
	// DevicesRemoved is told of the devices a newer list of username's
	// (ours included) no longer names: nothing more goes to them.
	DevicesRemoved(username string, removed []peer.ID)
}

// ErrBadList is what Admit returns, wrapped, for a device list presented
// with a ticket that is not a well-formed list signed by the key it names.
var ErrBadList = errors.New("device list does not verify")

// ErrWrongIdentity is what Adopt returns, wrapped, for an account identity
// whose device list is not signed by the key that was opened, or names
// another account.
var ErrWrongIdentity = errors.New("account identity and device list disagree")

// Account is the capability for one session: our account's identity, once
// the sign-in opened or made it, and the check of the devices that claim
// to be our contacts'.
type Account struct {
	h Host

	mu  sync.Mutex
	key ed25519.PrivateKey // nil until Load or Adopt
	own *ticket.Devices    // the newest list of ours this device has seen

	// lists caches contacts' kept lists by the hash of their bytes: a
	// mail drain checks many items of one contact against one list.
	lists map[[sha256.Size]byte]*ticket.Devices
}

// maxCachedLists bounds the cache of verified lists.
const maxCachedLists = 256

// New returns the capability on h.
func New(h Host) *Account {
	return &Account{h: h, lists: map[[sha256.Size]byte]*ticket.Devices{}}
}

// Load takes up the identity this device kept from an earlier session,
// if any: false when it holds none.
func (a *Account) Load(username string) (bool, error) {
	id, err := a.h.Store().AccountIdentity()
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(id.Seed) != ed25519.SeedSize {
		return false, fmt.Errorf("kept account identity: seed of %d bytes", len(id.Seed))
	}
	key := ed25519.NewKeyFromSeed(id.Seed)
	d, err := parseOwn(username, key, id.Devices)
	if err != nil {
		return false, fmt.Errorf("kept account identity: %w", err)
	}
	a.mu.Lock()
	a.key, a.own = key, d
	a.mu.Unlock()
	return true, nil
}

// parseOwn verifies raw (wire.SignedAccountDevices bytes) as username's
// list signed by key.
func parseOwn(username string, key ed25519.PrivateKey, raw []byte) (*ticket.Devices, error) {
	var sd wire.SignedAccountDevices
	if err := proto.Unmarshal(raw, &sd); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongIdentity, err)
	}
	return checkOwn(username, key, &sd)
}

func checkOwn(username string, key ed25519.PrivateKey, sd *wire.SignedAccountDevices) (*ticket.Devices, error) {
	d, err := ticket.VerifyDevices(sd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongIdentity, err)
	}
	if !d.AccountKey.Equal(key.Public()) || d.Username != username {
		return nil, fmt.Errorf("%w: list of %q signed by another key", ErrWrongIdentity, d.Username)
	}
	return d, nil
}

// Adopt takes up the identity key (opened from the auth server's copy, or
// just made) with its newest list, and keeps both at this device. A list
// older than the one held is not taken.
func (a *Account) Adopt(username string, key ed25519.PrivateKey, sd *wire.SignedAccountDevices) error {
	d, err := checkOwn(username, key, sd)
	if err != nil {
		return err
	}
	gone, err := a.adopt(key, d)
	if err == nil && len(gone) > 0 {
		a.h.DevicesRemoved(username, gone)
	}
	return err
}

// adopt keeps key and its list d unless the list held is as new, and says
// which devices the new list dropped.
func (a *Account) adopt(key ed25519.PrivateKey, d *ticket.Devices) ([]peer.ID, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.key != nil && a.key.Equal(key) && a.own != nil && a.own.Version >= d.Version {
		return nil, nil
	}
	raw, err := proto.Marshal(d.Signed)
	if err != nil {
		return nil, err
	}
	if err := a.h.Store().PutAccountIdentity(store.AccountIdentity{Seed: key.Seed(), Devices: raw}); err != nil {
		return nil, err
	}
	was := a.own
	a.key, a.own = key, d
	return removed(was, d), nil
}

// removed is the devices of was that now, a newer list under the same
// identity, no longer names.
func removed(was, now *ticket.Devices) []peer.ID {
	if was == nil || !was.AccountKey.Equal(now.AccountKey) {
		return nil
	}
	var gone []peer.ID
	for _, d := range was.Devices {
		if !now.Has(d.Peer) {
			gone = append(gone, d.Peer)
		}
	}
	return gone
}

// Key is our identity's private key, nil while none is held.
func (a *Account) Key() ed25519.PrivateKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.key
}

// PublicKey is our identity's public key, nil while none is held.
func (a *Account) PublicKey() ed25519.PublicKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.key == nil {
		return nil
	}
	return a.key.Public().(ed25519.PublicKey)
}

// Devices is our newest signed list, to present with our ticket; nil
// while none is held.
func (a *Account) Devices() *wire.SignedAccountDevices {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.own == nil {
		return nil
	}
	return a.own.Signed
}

// Own is our newest verified list; nil while none is held.
func (a *Account) Own() *ticket.Devices {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.own
}

// Sign signs the next version of our list: the devices of the list held
// with change applied. The list held is unchanged until Adopt takes the
// new one (after the auth server stored it).
func (a *Account) Sign(username string, change func([]ticket.Device) []ticket.Device) (*wire.SignedAccountDevices, error) {
	a.mu.Lock()
	key, own := a.key, a.own
	a.mu.Unlock()
	if key == nil {
		return nil, errors.New("signing our device list: no account identity held")
	}
	next := ticket.Devices{Username: username, Version: 1, Issued: a.h.Now()}
	var ds []ticket.Device
	if own != nil {
		next.Version = own.Version + 1
		ds = append(ds, own.Devices...)
	}
	next.Devices = change(ds)
	return ticket.SignDevices(key, next)
}

// WithDevice is the device list of ours with the device of t in it (with
// its box key), and whether that is a change.
func WithDevice(ds []ticket.Device, t *ticket.Ticket, now time.Time) ([]ticket.Device, bool) {
	for i, d := range ds {
		if d.Peer == t.Peer {
			if bytes.Equal(d.BoxKey, t.BoxKey) {
				return ds, false
			}
			ds[i].BoxKey = bytes.Clone(t.BoxKey)
			return ds, true
		}
	}
	return append(ds, ticket.Device{Peer: t.Peer, BoxKey: bytes.Clone(t.BoxKey), Added: now}), true
}

// WithoutDevice is the device list without p.
func WithoutDevice(ds []ticket.Device, p peer.ID) []ticket.Device {
	out := ds[:0:0]
	for _, d := range ds {
		if d.Peer != p {
			out = append(out, d)
		}
	}
	return out
}

// errUnchanged leaves a contact's row as it was (UpdateContact stores
// nothing after an error from its change).
var errUnchanged = errors.New("unchanged")

// Admit is the account check of a device that speaks for a contact (or a
// stranger): t passed the auth server's checks, presented is the list it
// came with (nil: none). The device must be in the newest list known of
// its account (Judge); what is learnt — a first identity, a newer list, a
// new identity (with the warning a new safety number gets) — is kept in
// the contact's row. Nothing is kept of strangers.
func (a *Account) Admit(t *ticket.Ticket, presented *wire.SignedAccountDevices) error {
	var p *ticket.Devices
	if presented != nil {
		var err error
		if p, err = a.verified(presented); err != nil {
			return fmt.Errorf("%w: from %s of %s: %v", ErrBadList, t.Peer, t.Username, err)
		}
	}
	if t.Username == a.h.Me() {
		return a.admitOwn(t, p)
	}
	var verdictErr error
	var gone []peer.ID
	err := a.h.UpdateContact(t.Username, func(c *store.Contact) error {
		was, err := a.known(c)
		if err != nil {
			// A kept row we cannot read: start again from what the
			// device shows, as for a contact never seen with a list.
			a.h.Log().Warn("contact's kept device list does not verify", "username", c.Username, "err", err)
			was = Known{}
		}
		v, err := Judge(was, p, t)
		if err != nil {
			verdictErr = err
			return err
		}
		if !v.Updated {
			return errUnchanged
		}
		if v.Changed {
			c.KeyChanged = a.h.Now()
			a.h.Log().Info("contact's account identity changed", "username", c.Username)
		}
		raw, err := proto.Marshal(v.Devices.Signed)
		if err != nil {
			return err
		}
		c.AccountKey, c.Devices = bytes.Clone(v.Key), raw
		gone = removed(was.Devices, v.Devices)
		return nil
	})
	if err == nil && len(gone) > 0 {
		a.h.DevicesRemoved(t.Username, gone)
	}
	switch {
	case verdictErr != nil:
		return verdictErr
	case errors.Is(err, errUnchanged):
		return nil
	case errors.Is(err, api.ErrNotContact):
		_, err := Judge(Known{}, p, t)
		return err
	}
	return err
}

// admitOwn is Admit for another device of our own account: a newer list
// signed by our identity is taken (another device published it), and the
// device must be in our newest list. While this device holds no identity
// (it could not set one up) our other devices are taken on their tickets,
// as before identities.
func (a *Account) admitOwn(t *ticket.Ticket, presented *ticket.Devices) error {
	key, own := a.Key(), a.Own()
	if key == nil {
		return nil
	}
	if presented != nil && presented.AccountKey.Equal(key.Public()) && (own == nil || presented.Version > own.Version) {
		if err := a.Adopt(t.Username, key, presented.Signed); err != nil {
			return err
		}
		own = a.Own()
	}
	if own == nil {
		return nil
	}
	if err := own.Check(t); err != nil {
		return fmt.Errorf("%w: %v", ErrNotListed, err)
	}
	return nil
}

// Contact is what is known of c's account: its pinned identity and its
// newest list (verified, cached).
func (a *Account) Contact(c store.Contact) (Known, error) { return a.known(&c) }

func (a *Account) known(c *store.Contact) (Known, error) {
	if len(c.Devices) == 0 {
		return Known{}, nil
	}
	var sd wire.SignedAccountDevices
	if err := proto.Unmarshal(c.Devices, &sd); err != nil {
		return Known{}, err
	}
	d, err := a.verified(&sd)
	if err != nil {
		return Known{}, err
	}
	if !d.AccountKey.Equal(ed25519.PublicKey(c.AccountKey)) || d.Username != c.Username {
		return Known{}, fmt.Errorf("%w: kept list of %q is not signed by the pinned identity", ErrWrongIdentity, c.Username)
	}
	return Known{Key: d.AccountKey, Devices: d}, nil
}

// verified is ticket.VerifyDevices through the cache.
func (a *Account) verified(sd *wire.SignedAccountDevices) (*ticket.Devices, error) {
	h := sha256.New()
	h.Write(sd.Devices)
	h.Write(sd.Signature)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	a.mu.Lock()
	d, ok := a.lists[k]
	a.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := ticket.VerifyDevices(sd)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.lists) >= maxCachedLists {
		clear(a.lists)
	}
	a.lists[k] = d
	a.mu.Unlock()
	return d, nil
}
