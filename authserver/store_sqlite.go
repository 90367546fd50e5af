package authserver

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	sqlite3 "github.com/mattn/go-sqlite3"

	"eserver/sqlite"
)

// The schema of each engine: numbered migrations with the same numbers and
// names, one directory per engine (a test holds them to each other).
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

const sqliteMigrations = "migrations/sqlite"

// sqliteDialect is SQLite as package eserver/sqlite opens it: one
// connection, transactions BEGIN IMMEDIATE, so they never interleave and
// never need running again.
func sqliteDialect(close func() error) *dialect {
	return &dialect{
		engine: SQLite,
		unique: func(err error) bool {
			var se sqlite3.Error
			return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
		},
		// AUTOINCREMENT's counter: the highest serial ever given, even
		// after its entry was pruned.
		serialQuery: "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)",
		logRevocation: func(ctx context.Context, tx conn, p peer.ID, horizon, revokedUnix int64) (int64, error) {
			res, err := tx.ExecContext(ctx, "INSERT INTO revocations (peer_id, horizon_unix, revoked_unix) VALUES (?, ?, ?)",
				[]byte(p), horizon, revokedUnix)
			if err != nil {
				return 0, err
			}
			return res.LastInsertId()
		},
		relaxSync: true,
		close:     close,
	}
}

// openSQLite opens (creating if needed) the server's SQLite file through
// package eserver/sqlite and brings its schema up to date.
func openSQLite(path string) (*sqlStore, error) {
	db, err := sqlite.Open(path, sqlite.Options{Migrations: migrationFS, Dir: sqliteMigrations, StatementCache: 64})
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	return &sqlStore{db: db.DB, d: sqliteDialect(db.Close)}, nil
}
