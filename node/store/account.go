package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// AccountIdentity is this account's identity as this device keeps it: the
// Ed25519 seed of the identity key and the newest device list it signed
// that this device has seen (wire.SignedAccountDevices bytes).
type AccountIdentity struct {
	Seed    []byte
	Devices []byte
}

// PutAccountIdentity keeps id, the seed sealed under the storage key
// (ErrLocked while the store is locked), replacing what was kept.
func (s *Store) PutAccountIdentity(id AccountIdentity) error {
	if len(id.Seed) == 0 || len(id.Devices) == 0 {
		return errors.New("store: put account identity: empty seed or device list")
	}
	sealed, err := s.sealSecret(id.Seed, "account_identity")
	if err != nil {
		return fmt.Errorf("store: put account identity: %w", err)
	}
	_, err = s.db.Exec(`INSERT INTO account_identity (id, key, devices) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET key = excluded.key, devices = excluded.devices`, sealed, id.Devices)
	if err != nil {
		return fmt.Errorf("store: put account identity: %w", err)
	}
	return nil
}

// AccountIdentity is what PutAccountIdentity kept; ErrNotFound when this
// device holds no account identity yet.
func (s *Store) AccountIdentity() (AccountIdentity, error) {
	var sealed, devices []byte
	err := s.db.QueryRow(`SELECT key, devices FROM account_identity WHERE id = 1`).Scan(&sealed, &devices)
	if errors.Is(err, sql.ErrNoRows) {
		return AccountIdentity{}, ErrNotFound
	}
	if err != nil {
		return AccountIdentity{}, fmt.Errorf("store: account identity: %w", err)
	}
	seed, err := s.openSecret(sealed, "account_identity")
	if err != nil {
		return AccountIdentity{}, fmt.Errorf("store: account identity: %w", err)
	}
	return AccountIdentity{Seed: seed, Devices: devices}, nil
}
