package keys

import (
	"bytes"
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
// chat (and a verification of the old device no longer counts).
func (k *Keys) NoteDevice(c *store.Contact, t *ticket.Ticket) {
	if c.PeerID != "" && c.PeerID != t.Peer.String() {
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

// Verified reports whether c's current device is the one the user verified.
func (k *Keys) Verified(c store.Contact) bool {
	if len(c.VerifiedKey) == 0 {
		return false
	}
	id, err := k.identityOf(c)
	return err == nil && bytes.Equal(c.VerifiedKey, identityFingerprint(id))
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
	remote, err := k.identityOf(c)
	if err != nil {
		return api.Safety{}, err
	}
	num, err := ratchet.SafetyNumber(k.self(), remote)
	if err != nil {
		return api.Safety{}, err
	}
	code, err := ratchet.SafetyCode(k.self(), remote)
	if err != nil {
		return api.Safety{}, err
	}
	return api.Safety{Username: username, Number: num, Code: base64.StdEncoding.EncodeToString(code), Verified: k.Verified(c)}, nil
}

// Verify marks username's current device verified (or not). With a code
// (scanned from the contact's screen) it must match the device first.
func (k *Keys) Verify(v api.Verification) error {
	return k.h.UpdateContact(v.Username, func(c *store.Contact) error {
		remote, err := k.identityOf(*c)
		if err != nil {
			return err
		}
		if v.Code != "" {
			code, err := base64.StdEncoding.DecodeString(v.Code)
			if err != nil {
				return fmt.Errorf("%w: safety code is not base64", api.ErrBadRequest)
			}
			if err := ratchet.CompareSafetyCode(k.self(), remote, code); err != nil {
				return fmt.Errorf("%w: the safety code does not match %s's device: %v", api.ErrBadRequest, v.Username, err)
			}
		}
		c.VerifiedKey = nil
		if v.Verified {
			c.VerifiedKey = identityFingerprint(remote)
			c.KeyChanged = time.Time{} // the user has seen and accepted the new identity
		}
		return nil
	})
}
