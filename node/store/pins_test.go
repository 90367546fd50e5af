package store

import (
	"bytes"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestConsumeInitKEM: a one-time KEM prekey serves one session start: the
// init that names it deletes it, with its X25519 partner, in one
// transaction; a second init naming it is refused and changes nothing.
func TestConsumeInitKEM(t *testing.T) {
	s := unlocked(t)
	if err := s.PutPrekeys([]Prekey{{Kind: PrekeySigned, ID: 1, Private: []byte("s")},
		{Kind: PrekeyOneTime, ID: 7, Private: []byte("o")}, {Kind: PrekeyOneTime, ID: 8, Private: []byte("o")},
		{Kind: PrekeyKEMOneTime, ID: 3, Private: []byte("k")}}); err != nil {
		t.Fatal(err)
	}
	seven, eight, three := uint32(7), uint32(8), uint32(3)
	if err := s.ConsumeInit(bytes.Repeat([]byte{1}, 32), 1, &seven, &three); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prekey(PrekeyKEMOneTime, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("one-time KEM key still there: %v", err)
	}
	// Another session start with the same KEM key: refused, and its
	// X25519 key is not burnt.
	if err := s.ConsumeInit(bytes.Repeat([]byte{2}, 32), 1, &eight, &three); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a consumed KEM key was accepted again: %v", err)
	}
	if _, err := s.Prekey(PrekeyOneTime, 8); err != nil {
		t.Fatalf("a refused session start burnt a one-time key: %v", err)
	}
}

// TestPins: a device is pinned once spoken to; a kept bundle replaces the
// last; an unknown device is not pinned.
func TestPins(t *testing.T) {
	s := unlocked(t)
	if _, err := s.Pinned("p1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	if err := s.PinRatchet("p1"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Pinned("p1"); err != nil || p.Bundle != nil {
		t.Fatalf("pinned without a bundle: %+v, %v", p, err)
	}
	at := time.Unix(1700000000, 5)
	if err := s.KeepBundle("p1", []byte("b1"), at); err != nil {
		t.Fatal(err)
	}
	if err := s.PinRatchet("p1"); err != nil { // keeps the bundle
		t.Fatal(err)
	}
	if p, err := s.Pinned("p1"); err != nil || string(p.Bundle) != "b1" || !p.Fetched.Equal(at) {
		t.Fatalf("kept bundle: %+v, %v", p, err)
	}
	if err := s.KeepBundle("p1", []byte("b2"), at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pinned("p1"); string(p.Bundle) != "b2" {
		t.Fatalf("bundle not replaced: %q", p.Bundle)
	}
	if err := s.KeepBundle("", []byte("b"), at); err == nil {
		t.Fatal("a bundle kept for no peer")
	}
}

// TestMigratePins: a database from before pins keeps its prekeys (the
// table is rebuilt), and every device it holds sessions with comes out
// pinned — it has spoken through the ratchet.
func TestMigratePins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := setup(db, all, 11); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO e2e_sessions (peer_id, session, state, used) VALUES ('old-peer', x'01', x'02', 1);
		INSERT INTO prekeys (kind, id, private, created) VALUES (3, 9, x'aa', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Pinned("old-peer"); err != nil {
		t.Fatalf("a device with a session before the migration is not pinned: %v", err)
	}
	if ids, err := s.Prekeys(PrekeyOneTime); err != nil || len(ids) != 1 || ids[0] != 9 {
		t.Fatalf("prekeys after the rebuild: %v, %v", ids, err)
	}
}
