package ratchet

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"fmt"
	"sync"
)

// PrekeyStore holds a device's private prekeys for Respond. The node keeps
// them in SQLite (sealed); MemoryStore is the in-memory version for tests.
//
// Lookups must not change anything: Respond looks keys up first and calls
// Consume only once the init message has decrypted, so a forged or tampered
// init message burns no one-time prekey.
type PrekeyStore interface {
	// SignedPrekey returns the private signed prekey with this ID, or an
	// error wrapping ErrNoPrekey.
	SignedPrekey(id uint32) (*ecdh.PrivateKey, error)
	// KEMPrekey returns the private last-resort KEM prekey with this ID.
	KEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error)
	// OneTimePrekey returns the private one-time X25519 prekey with this ID.
	OneTimePrekey(id uint32) (*ecdh.PrivateKey, error)
	// OneTimeKEMPrekey returns the private one-time KEM prekey with this ID.
	OneTimeKEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error)
	// Consume records, atomically, that an init message was accepted:
	// it fails with ErrReplay if c.InitID was already accepted, and with
	// ErrNoPrekey if a one-time prekey c names is gone; otherwise it
	// deletes those one-time prekeys and remembers c.InitID. Of two
	// concurrent Responds to one init message, exactly one gets nil.
	Consume(c Consumption) error
}

// Consumption is what Respond asks a PrekeyStore to record.
type Consumption struct {
	// InitID identifies the init message. The store must remember it while
	// SignedPrekeyID is still stored: once that prekey is deleted, the init
	// message cannot be opened anyway, so the memory can go with it.
	InitID         [32]byte
	SignedPrekeyID uint32
	OneTimeID      uint32
	HasOneTime     bool
	OneTimeKEMID   uint32
	HasOneTimeKEM  bool
}

// MemoryStore is a PrekeyStore in memory. Its zero value is not usable; call
// NewMemoryStore.
type MemoryStore struct {
	mu         sync.Mutex
	signed     map[uint32]*ecdh.PrivateKey
	kem        map[uint32]*mlkem.DecapsulationKey768
	oneTime    map[uint32]*ecdh.PrivateKey
	oneTimeKEM map[uint32]*mlkem.DecapsulationKey768
	accepted   map[uint32]map[[32]byte]struct{} // init IDs, by signed prekey ID
}

var _ PrekeyStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		signed:     map[uint32]*ecdh.PrivateKey{},
		kem:        map[uint32]*mlkem.DecapsulationKey768{},
		oneTime:    map[uint32]*ecdh.PrivateKey{},
		oneTimeKEM: map[uint32]*mlkem.DecapsulationKey768{},
		accepted:   map[uint32]map[[32]byte]struct{}{},
	}
}

// AddSignedPrekey stores a private signed prekey.
func (s *MemoryStore) AddSignedPrekey(id uint32, k *ecdh.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signed[id] = k
}

// DeleteSignedPrekey forgets a rotated-out signed prekey and the init IDs
// accepted under it.
func (s *MemoryStore) DeleteSignedPrekey(id uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.signed, id)
	delete(s.accepted, id)
}

// AddKEMPrekey stores a private last-resort KEM prekey.
func (s *MemoryStore) AddKEMPrekey(id uint32, k *mlkem.DecapsulationKey768) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kem[id] = k
}

// AddOneTimePrekeys stores private one-time X25519 prekeys with IDs
// firstID, firstID+1, ... as GenerateOneTimePrekeys numbers them.
func (s *MemoryStore) AddOneTimePrekeys(firstID uint32, ks []*ecdh.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range ks {
		s.oneTime[firstID+uint32(i)] = k
	}
}

// AddOneTimeKEMPrekeys stores private one-time KEM prekeys with IDs
// firstID, firstID+1, ...
func (s *MemoryStore) AddOneTimeKEMPrekeys(firstID uint32, ks []*mlkem.DecapsulationKey768) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range ks {
		s.oneTimeKEM[firstID+uint32(i)] = k
	}
}

// HasOneTime reports whether the one-time X25519 prekey id is still stored.
func (s *MemoryStore) HasOneTime(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.oneTime[id]
	return ok
}

// HasOneTimeKEM reports whether the one-time KEM prekey id is still stored.
func (s *MemoryStore) HasOneTimeKEM(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.oneTimeKEM[id]
	return ok
}

// SignedPrekey implements PrekeyStore.
func (s *MemoryStore) SignedPrekey(id uint32) (*ecdh.PrivateKey, error) {
	return lookup(s, s.signed, "signed prekey", id)
}

// KEMPrekey implements PrekeyStore.
func (s *MemoryStore) KEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	return lookup(s, s.kem, "KEM prekey", id)
}

// OneTimePrekey implements PrekeyStore.
func (s *MemoryStore) OneTimePrekey(id uint32) (*ecdh.PrivateKey, error) {
	return lookup(s, s.oneTime, "one-time prekey", id)
}

// OneTimeKEMPrekey implements PrekeyStore.
func (s *MemoryStore) OneTimeKEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	return lookup(s, s.oneTimeKEM, "one-time KEM prekey", id)
}

func lookup[K any](s *MemoryStore, m map[uint32]K, what string, id uint32) (K, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := m[id]
	if !ok {
		return k, fmt.Errorf("ratchet: memory store: %w: no %s %d", ErrNoPrekey, what, id)
	}
	return k, nil
}

// Consume implements PrekeyStore.
func (s *MemoryStore) Consume(c Consumption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accepted[c.SignedPrekeyID][c.InitID]; ok {
		return fmt.Errorf("ratchet: memory store: %w: init %x", ErrReplay, c.InitID[:8])
	}
	if _, ok := s.signed[c.SignedPrekeyID]; !ok {
		return fmt.Errorf("ratchet: memory store: %w: signed prekey %d", ErrNoPrekey, c.SignedPrekeyID)
	}
	if _, ok := s.oneTime[c.OneTimeID]; c.HasOneTime && !ok {
		return fmt.Errorf("ratchet: memory store: %w: one-time prekey %d already used", ErrNoPrekey, c.OneTimeID)
	}
	if _, ok := s.oneTimeKEM[c.OneTimeKEMID]; c.HasOneTimeKEM && !ok {
		return fmt.Errorf("ratchet: memory store: %w: one-time KEM prekey %d already used", ErrNoPrekey, c.OneTimeKEMID)
	}
	if c.HasOneTime {
		delete(s.oneTime, c.OneTimeID)
	}
	if c.HasOneTimeKEM {
		delete(s.oneTimeKEM, c.OneTimeKEMID)
	}
	seen := s.accepted[c.SignedPrekeyID]
	if seen == nil {
		seen = map[[32]byte]struct{}{}
		s.accepted[c.SignedPrekeyID] = seen
	}
	seen[c.InitID] = struct{}{}
	return nil
}
