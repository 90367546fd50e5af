package authserver

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Secret names in the secrets table.
const (
	secretHostKey    = "host_key"
	secretOPAQUEKeys = "opaque_keys"
)

// errExists is returned by createAccount when the username is taken.
var errExists = errors.New("account exists")

// openDB opens (creating if needed) the server's SQLite file and brings its
// schema up to date.
func openDB(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("opening database: no path")
	}
	// The file holds the server's private keys: create it readable by us
	// only (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and the auth server's
	// queries are tiny next to the OPAQUE work.
	db.SetMaxOpenConns(1)
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, err)
	}
	return db, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations, numbered from 1 without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies each migration newer than the database's user_version in
// its own transaction, together with the version bump.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, 0)
}

// migrateTo is migrate up to version upto (0: all of them); tests build the
// schemas of older programs with it.
func migrateTo(ctx context.Context, db *sql.DB, upto int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if upto > 0 && upto < len(ms) {
		ms = ms[:upto]
	}
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("schema version %d is newer than this program (%d)", have, len(ms))
	}
	for _, m := range ms[have:] {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("applying %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("recording %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing %s: %w", m.name, err)
		}
	}
	return nil
}

// loadOrCreateSecret returns the secret called name, creating it with make
// the first time. Concurrent callers agree on one value.
func loadOrCreateSecret(ctx context.Context, db *sql.DB, name string, make func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := db.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading secret %s: %w", name, err)
	}
	fresh, err := make()
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", name, fresh); err != nil {
		return nil, fmt.Errorf("storing secret %s: %w", name, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", name, err)
	}
	return v, nil
}

// LoadOrCreateKey returns the auth server's libp2p host key stored in the
// SQLite file at dbPath, creating the file and an Ed25519 key the first time,
// so the server's peer ID — which is also its ticket-signing identity — stays
// the same across restarts.
func LoadOrCreateKey(dbPath string) (crypto.PrivKey, error) {
	db, err := openDB(dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	raw, err := loadOrCreateSecret(context.Background(), db, secretHostKey, func() ([]byte, error) {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		return crypto.MarshalPrivateKey(k)
	})
	if err != nil {
		return nil, err
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding host key: %w", err)
	}
	return k, nil
}

// accountRecord returns username's OPAQUE record, or nil if there is none.
func accountRecord(ctx context.Context, db *sql.DB, username string) ([]byte, error) {
	var rec []byte
	err := db.QueryRowContext(ctx, "SELECT record FROM accounts WHERE username = ?", username).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading account %q: %w", username, err)
	}
	return rec, nil
}

func createAccount(ctx context.Context, db *sql.DB, username string, record []byte, nowUnix int64) error {
	_, err := db.ExecContext(ctx, "INSERT INTO accounts (username, record, created_unix) VALUES (?, ?, ?)",
		username, record, nowUnix)
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return errExists
	}
	if err != nil {
		return fmt.Errorf("creating account %q: %w", username, err)
	}
	return nil
}
