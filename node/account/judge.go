package account

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"eserver/node/ticket"
)

// ErrNotListed is what Judge returns, wrapped, for a device that the
// newest device list known of its account does not name: the auth server
// vouched for it (its ticket is good), the account did not. It wraps
// ticket.ErrNotListed too.
var ErrNotListed = fmt.Errorf("not one of the account's devices: %w", ticket.ErrNotListed)

// Known is what a node keeps of a contact's account identity: the key it
// pinned (nil before any was seen) and the newest device list that key
// signed (nil likewise).
type Known struct {
	Key     ed25519.PublicKey
	Devices *ticket.Devices
}

// Verdict is Judge's answer: what to keep of the contact's account after
// this device spoke, and whether it differs from what was kept.
type Verdict struct {
	Known
	// Changed: the contact's account identity is not the one pinned
	// before. The device is accepted under the new identity and the user
	// is warned, as for a new safety number.
	Changed bool
	// Updated: Known differs from what was kept and should be stored.
	Updated bool
}

// Judge decides about the device of t (a ticket that passed the auth
// server's checks) given what is known of the contact's account and the
// device list the device presented with it (nil when it presented none,
// as older peers do). The newest list known after this — the presented
// one when it is newer, or signed by an identity never seen — must name
// the device: otherwise ErrNotListed, and nothing changes. With no list
// known at all (a contact whose devices all run older releases) every
// device of the ticket is accepted, as before account identities.
func Judge(was Known, presented *ticket.Devices, t *ticket.Ticket) (Verdict, error) {
	v := Verdict{Known: was}
	if presented != nil {
		if presented.Username != t.Username {
			return Verdict{Known: was}, fmt.Errorf("%w: %q presented the list of %q", ticket.ErrOtherAccount, t.Username, presented.Username)
		}
		switch {
		case was.Key == nil:
			v.Key, v.Devices, v.Updated = presented.AccountKey, presented, true
		case !was.Key.Equal(presented.AccountKey):
			v.Key, v.Devices, v.Updated, v.Changed = presented.AccountKey, presented, true, true
		case was.Devices == nil || presented.Version > was.Devices.Version:
			v.Devices, v.Updated = presented, true
		}
	}
	if v.Devices == nil {
		return v, nil
	}
	if err := v.Devices.Check(t); err != nil {
		if errors.Is(err, ticket.ErrNotListed) {
			return Verdict{Known: was}, fmt.Errorf("%w: %v", ErrNotListed, err)
		}
		return Verdict{Known: was}, err
	}
	return v, nil
}
