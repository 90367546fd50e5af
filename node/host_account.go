package node

import (
	"crypto/ed25519"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// AccountKey is our account identity's public key (keys.Host): nil while
// this device holds none.
func (s *session) AccountKey() ed25519.PublicKey { return s.identity.PublicKey() }

// Devices is our account's signed device list (delivery.Host).
func (s *session) Devices() *wire.SignedAccountDevices { return s.identity.Devices() }

// AdmitDevice is the account check of a contact's device (delivery.Host).
func (s *session) AdmitDevice(t *ticket.Ticket, presented *wire.SignedAccountDevices) error {
	return s.identity.Admit(t, presented)
}
