package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestAccountIdentity: the account identity is kept with its seed sealed
// (not in the file in the clear), replaced whole, and unreadable while the
// store is locked; a contact's pinned account key and device list survive
// a round trip.
func TestAccountIdentity(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.AccountIdentity(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any: %v", err)
	}
	seed := bytes.Repeat([]byte("account seed 32 bytes long here!"), 1)
	if err := s.PutAccountIdentity(AccountIdentity{Seed: seed, Devices: []byte("list v1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAccountIdentity(AccountIdentity{Seed: seed, Devices: []byte("list v2")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Seed, seed) || string(got.Devices) != "list v2" {
		t.Fatalf("kept %q %q", got.Seed, got.Devices)
	}
	if err := s.PutAccountIdentity(AccountIdentity{Seed: seed}); err == nil {
		t.Fatal("an identity without a device list was kept")
	}
	for _, f := range []string{path, path + "-wal"} {
		raw, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, seed) {
			t.Fatalf("the account seed is in %s in the clear", f)
		}
	}

	c := Contact{Username: "bob", Relation: "accepted", AccountKey: []byte("bob's key"), Devices: []byte("bob's list")}
	if err := s.PutContact(c); err != nil {
		t.Fatal(err)
	}
	back, err := s.Contact("bob")
	if err != nil {
		t.Fatal(err)
	}
	if string(back.AccountKey) != "bob's key" || string(back.Devices) != "bob's list" {
		t.Fatalf("contact's account: %q %q", back.AccountKey, back.Devices)
	}

	locked, _ := openLocked(t)
	if err := locked.PutAccountIdentity(AccountIdentity{Seed: seed, Devices: []byte("x")}); !errors.Is(err, ErrLocked) {
		t.Fatalf("put while locked: %v", err)
	}
}
