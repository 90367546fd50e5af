package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// A device's identity is its libp2p Ed25519 key (the peer ID) and its X25519
// identity key (the ticket's box key, bound to the peer ID by the auth
// server's signature and by the device's own in its prekey bundle). Safety
// numbers are computed over both sides' identities; a contact counts as
// verified while its device identity is the one the user verified.

// NoteDevice records t as the contact's current device. When the contact had
// another device before, the change is remembered for the warning in the
// chat (and a verification of the old device no longer counts) — unless
// the contact has an account identity: then every device that reaches us
// was checked against the list it signed (node/account), and a change of
// device is one of its devices speaking, not a new identity.
func (k *Keys) NoteDevice(c *store.Contact, t *ticket.Ticket) {
	if c.PeerID != "" && c.PeerID != t.Peer.String() && len(c.AccountKey) == 0 {
		c.KeyChanged = k.h.Now()
		k.h.Log().Info("contact's device identity changed", "username", c.Username, "old", c.PeerID, "new", t.Peer)
	}
	c.PeerID, c.Ticket = t.Peer.String(), wire.MustMarshal(t.Signed)
}

// identityOf returns the device identity in a stored contact's ticket.
func (k *Keys) identityOf(c store.Contact) (ratchet.PublicIdentity, error) {
	if len(c.Ticket) == 0 {
		return ratchet.PublicIdentity{}, fmt.Errorf("%w: no device of %s known yet", api.ErrBadRequest, c.Username)
	}
	var st wire.SignedTicket
	if err := proto.Unmarshal(c.Ticket, &st); err != nil {
		return ratchet.PublicIdentity{}, fmt.Errorf("stored ticket of %s: %w", c.Username, err)
	}
	t, err := ticket.VerifySignature(k.h.Ticket().Server, &st)
	if err != nil {
		return ratchet.PublicIdentity{}, fmt.Errorf("stored ticket of %s: %w", c.Username, err)
	}
	return ratchet.PublicIdentity{PeerID: t.Peer, DH: t.BoxKey}, nil
}

// identityFingerprint names a device identity in the store (VerifiedKey).
func identityFingerprint(p ratchet.PublicIdentity) []byte {
	h := sha256.New()
	h.Write([]byte("eserver-verified-identity-v1"))
	h.Write([]byte(p.PeerID))
	h.Write(p.DH)
	return h.Sum(nil)
}

// accountFingerprint names an account identity in the store (VerifiedKey).
func accountFingerprint(a ratchet.AccountIdentity) []byte {
	h := sha256.New()
	h.Write([]byte("eserver-verified-account-v1\x00"))
	h.Write([]byte(a.Username))
	h.Write([]byte{0})
	h.Write(a.Key)
	return h.Sum(nil)
}

// remote is what the user verifies of c, and its fingerprint: the
// contact's account identity once one is pinned (verifying it covers every
// device it lists), else its device's.
func (k *Keys) remote(c store.Contact) (ratchet.SafetyIdentity, []byte, error) {
	if len(c.AccountKey) == ed25519.PublicKeySize {
		a := ratchet.AccountIdentity{Username: c.Username, Key: ed25519.PublicKey(c.AccountKey)}
		return a, accountFingerprint(a), nil
	}
	id, err := k.identityOf(c)
	if err != nil {
		return nil, nil, err
	}
	return id, identityFingerprint(id), nil
}

// Verified reports whether c's identity is the one the user verified.
func (k *Keys) Verified(c store.Contact) bool {
	if len(c.VerifiedKey) == 0 {
		return false
	}
	_, fp, err := k.remote(c)
	return err == nil && bytes.Equal(c.VerifiedKey, fp)
}

// sides are the two identities of the safety number with c: both
// accounts' when both have one, else both devices'.
func (k *Keys) sides(c store.Contact) (local, remote ratchet.SafetyIdentity, fp []byte, err error) {
	remote, fp, err = k.remote(c)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, ok := remote.(ratchet.AccountIdentity); ok {
		if own := k.h.AccountKey(); own != nil {
			return ratchet.AccountIdentity{Username: k.h.Me(), Key: own}, remote, fp, nil
		}
		// This device holds no identity of ours yet: the devices'
		// number, and what the user verifies is still the contact's
		// identity.
		dev, err := k.identityOf(c)
		if err != nil {
			return nil, nil, nil, err
		}
		return k.self(), dev, fp, nil
	}
	return k.self(), remote, fp, nil
}

func (k *Keys) self() ratchet.PublicIdentity {
	return ratchet.PublicIdentity{PeerID: k.h.Libp2p().ID(), DH: k.h.Ticket().BoxKey}
}

// SafetyNumber is the number (and QR code) the user compares with
// username's to verify its device.
func (k *Keys) SafetyNumber(username string) (api.Safety, error) {
	c, err := k.h.Store().Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return api.Safety{}, fmt.Errorf("%w: %s", api.ErrNotContact, username)
	}
	if err != nil {
		return api.Safety{}, err
	}
	local, remote, _, err := k.sides(c)
	if err != nil {
		return api.Safety{}, err
	}
	num, err := ratchet.SafetyNumber(local, remote)
	if err != nil {
		return api.Safety{}, err
	}
	code, err := ratchet.SafetyCode(local, remote)
	if err != nil {
		return api.Safety{}, err
	}
	return api.Safety{Username: username, Number: num, Code: base64.StdEncoding.EncodeToString(code), Verified: k.Verified(c)}, nil
}

// Verify marks username's current device verified (or not). With a code
// (scanned from the contact's screen) it must match the device first.
func (k *Keys) Verify(v api.Verification) error {
	return k.h.UpdateContact(v.Username, func(c *store.Contact) error {
		local, remote, fp, err := k.sides(*c)
		if err != nil {
			return err
		}
		if v.Code != "" {
			code, err := base64.StdEncoding.DecodeString(v.Code)
			if err != nil {
				return fmt.Errorf("%w: safety code is not base64", api.ErrBadRequest)
			}
			if err := ratchet.CompareSafetyCode(local, remote, code); err != nil {
				return fmt.Errorf("%w: the safety code does not match %s's device: %v", api.ErrBadRequest, v.Username, err)
			}
		}
		c.VerifiedKey = nil
		if v.Verified {
			c.VerifiedKey = fp
			c.KeyChanged = time.Time{} // the user has seen and accepted the new identity
		}
		return nil
	})
}
