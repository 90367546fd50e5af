package node

import (
	"bytes"
	"context"
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

// newDevice records t as the contact's current device. When the contact had
// another device before, the change is remembered for the warning in the
// chat (and a verification of the old device no longer counts).
func (s *session) newDevice(c *store.Contact, t *ticket.Ticket) {
	if c.PeerID != "" && c.PeerID != t.Peer.String() {
		c.KeyChanged = s.n.cfg.Now()
		s.n.log.Info("contact's device identity changed", "username", c.Username, "old", c.PeerID, "new", t.Peer)
	}
	c.PeerID, c.Ticket = t.Peer.String(), mustMarshal(t.Signed)
}

// identityOf returns the device identity in a stored contact's ticket.
func (s *session) identityOf(c store.Contact) (ratchet.PublicIdentity, error) {
	if len(c.Ticket) == 0 {
		return ratchet.PublicIdentity{}, fmt.Errorf("%w: no device of %s known yet", api.ErrBadRequest, c.Username)
	}
	var st wire.SignedTicket
	if err := proto.Unmarshal(c.Ticket, &st); err != nil {
		return ratchet.PublicIdentity{}, fmt.Errorf("stored ticket of %s: %w", c.Username, err)
	}
	t, err := ticket.VerifySignature(s.tk().Server, &st)
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

// verified reports whether c's current device is the one the user verified.
func (s *session) verified(c store.Contact) bool {
	if len(c.VerifiedKey) == 0 {
		return false
	}
	id, err := s.identityOf(c)
	return err == nil && bytes.Equal(c.VerifiedKey, identityFingerprint(id))
}

func (s *session) self() ratchet.PublicIdentity {
	return ratchet.PublicIdentity{PeerID: s.host.ID(), DH: s.tk().BoxKey}
}

// SafetyNumber implements API.
func (n *Node) SafetyNumber(ctx context.Context, username string) (api.Safety, error) {
	s, err := n.current()
	if err != nil {
		return api.Safety{}, err
	}
	c, err := s.store.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return api.Safety{}, fmt.Errorf("%w: %s", api.ErrNotContact, username)
	}
	if err != nil {
		return api.Safety{}, err
	}
	remote, err := s.identityOf(c)
	if err != nil {
		return api.Safety{}, err
	}
	num, err := ratchet.SafetyNumber(s.self(), remote)
	if err != nil {
		return api.Safety{}, err
	}
	code, err := ratchet.SafetyCode(s.self(), remote)
	if err != nil {
		return api.Safety{}, err
	}
	return api.Safety{Username: username, Number: num, Code: base64.StdEncoding.EncodeToString(code), Verified: s.verified(c)}, nil
}

// VerifyContact implements API.
func (n *Node) VerifyContact(ctx context.Context, v api.Verification) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c, err := s.store.Contact(v.Username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", api.ErrNotContact, v.Username)
	}
	if err != nil {
		return err
	}
	remote, err := s.identityOf(c)
	if err != nil {
		return err
	}
	if v.Code != "" {
		code, err := base64.StdEncoding.DecodeString(v.Code)
		if err != nil {
			return fmt.Errorf("%w: safety code is not base64", api.ErrBadRequest)
		}
		if err := ratchet.CompareSafetyCode(s.self(), remote, code); err != nil {
			return fmt.Errorf("%w: the safety code does not match %s's device: %v", api.ErrBadRequest, v.Username, err)
		}
	}
	c.VerifiedKey = nil
	if v.Verified {
		c.VerifiedKey = identityFingerprint(remote)
		c.KeyChanged = time.Time{} // the user has seen and accepted the new identity
	}
	if err := s.store.PutContact(c); err != nil {
		return err
	}
	s.emitContact(v.Username)
	return nil
}
