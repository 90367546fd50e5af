package authserver

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	sqlite3 "github.com/mattn/go-sqlite3"

	"eserver/sqlite"
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

// openDB opens (creating if needed) the server's SQLite file through
// package eserver/sqlite and brings its schema up to date. The file is
// created readable by the server's user only: it holds the server's private
// keys.
func openDB(path string) (*sql.DB, error) {
	db, err := sqlite.Open(path, sqlite.Options{Migrations: migrationFS, Dir: "migrations", StatementCache: 64})
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	return db.DB, nil
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
