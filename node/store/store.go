// Package store is the SQLite database of one signed-in account on one
// device: settings, the password-sealed device identity, contacts, message
// history and the durable outbox of messages not yet acknowledged by their
// recipient.
//
// One file per account, opened in WAL mode with synchronous=FULL so that a
// message reported as stored survives kill -9 and power loss. All access goes
// through one connection (one writer, no lock contention inside the process).
// The schema is a list of numbered migrations embedded in the binary and
// applied at Open, tracked with PRAGMA user_version.
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
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("not found")
	ErrNoIdentity     = errors.New("no identity stored")
	ErrIdentityExists = errors.New("identity already stored")
	ErrWrongPassword  = errors.New("wrong password")
	ErrNoFTS5         = errors.New("SQLite was built without FTS5: build with -tags sqlite_fts5")
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
	db *sql.DB

	secretMu sync.RWMutex
	secrets  cipher.AEAD // set by Unlock; seals the secret columns
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection, kept forever: every statement and transaction is
	// serialized, so there is exactly one writer and no SQLITE_BUSY inside
	// the process. The busy timeout covers other processes.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := setup(db, migs, len(migs)); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// dsn builds the go-sqlite3 URI for path. The driver applies the _ options to
// every connection it opens.
func dsn(p string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file:" + esc + "?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000&_txlock=immediate"
}

// setup checks the connection's settings and FTS5, then migrates to version upTo.
func setup(db *sql.DB, migs []migration, upTo int) error {
	if err := db.Ping(); err != nil {
		return err
	}
	var mode string
	var sync, fk int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 || fk != 1 {
		return fmt.Errorf("connection settings not applied: journal_mode=%s synchronous=%d foreign_keys=%d", mode, sync, fk)
	}
	if err := checkFTS5(db); err != nil {
		return err
	}
	return migrate(db, migs, upTo)
}

func checkFTS5(db *sql.DB) error {
	if _, err := db.Exec(`CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)`); err != nil {
		if strings.Contains(err.Error(), "no such module") {
			return fmt.Errorf("%w (%v)", ErrNoFTS5, err)
		}
		return fmt.Errorf("probe fts5: %w", err)
	}
	if _, err := db.Exec(`DROP TABLE temp.fts5_probe`); err != nil {
		return fmt.Errorf("drop fts5 probe: %w", err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNN_name.sql, which must be numbered 1..n
// without gaps.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var migs []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		migs = append(migs, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i, m := range migs {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return migs, nil
}

// migrate applies migrations with version in (user_version, upTo], each in its
// own transaction together with the new user_version.
func migrate(db *sql.DB, migs []migration, upTo int) error {
	var cur int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&cur); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if cur > len(migs) {
		return fmt.Errorf("schema version %d is newer than this program's %d", cur, len(migs))
	}
	for _, m := range migs {
		if m.version <= cur || m.version > upTo {
			continue
		}
		err := inTx(db, func(tx *sql.Tx) error {
			if _, err := tx.Exec(m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(`PRAGMA user_version = ` + strconv.Itoa(m.version))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction and commits it; it rolls back when fn fails.
func inTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
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
