// Package store is the SQLite database of one signed-in account on one
// device: settings, the password-sealed device identity, contacts, message
// history and the durable outbox of messages not yet acknowledged by their
// recipient.
//
// One file per account, opened by package eserver/sqlite: WAL mode with
// synchronous=FULL so that a message reported as stored survives kill -9 and
// power loss, and one connection (one writer, no lock contention inside the
// process). The schema is the numbered migrations in migrations/, embedded in
// the binary and applied at Open.
//
// Secrets — private keys, ratchet sessions, message text, file names — are
// sealed with the account's storage key, which the caller gives Unlock after
// opening the password-sealed identity; until then they are neither read nor
// written (ErrLocked). History search works on a blind index of keyed word
// tokens (history.go).
//
// Full-text search needs SQLite built with FTS5: build and test with
// -tags sqlite_fts5. Without it Open fails with ErrNoFTS5.
package store

import (
	"crypto/cipher"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"eserver/sqlite"
)

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("not found")
	ErrNoIdentity     = errors.New("no identity stored")
	ErrIdentityExists = errors.New("identity already stored")
	ErrWrongPassword  = errors.New("wrong password")
	ErrNoFTS5         = sqlite.ErrNoFTS5
)

// Message states, as stored.
const (
	StateQueued    = "queued"
	StateDelivered = "delivered"
	StateReceived  = "received"
	StateFailed    = "failed"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is an open account database. Its methods are safe for concurrent use.
type Store struct {
	db  *sqlite.DB
	idx indexer // indexes long batches after their commit (indexer.go)

	secretMu sync.RWMutex
	secrets  cipher.AEAD  // set by Unlock; seals the secret columns
	hist     *historyKeys // set by Unlock; seals and indexes message text
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	db, err := sqlite.Open(path, sqlite.Options{Migrations: migrationFS, Dir: "migrations", FTS5: true, SecureDelete: true})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.idx.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// nanos stores t as unix nanoseconds; the zero time is stored as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func isPrimaryKeyViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// Setting returns the value of key, or "" when it is not set.
func (s *Store) Setting(key string) (string, error) {
	var v string
	err := s.db.QueryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: setting %q: %w", key, err)
	}
	return v, nil
}

// SetSetting sets key to value.
func (s *Store) SetSetting(key, value string) error {
	_, err := s.db.Exec(`INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("store: set setting %q: %w", key, err)
	}
	return nil
}
