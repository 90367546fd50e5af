package store

import (
	"context"
	"database/sql"

	"eserver/sqlite"
)

// The store's tests build databases as older programs left them with these
// helpers, over package sqlite's own.

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	ms, err := sqlite.LoadMigrations(migrationFS, "migrations")
	var migs []migration
	for _, m := range ms {
		migs = append(migs, migration{m.Version, m.Name, m.SQL})
	}
	return migs, err
}

// dsn is the driver URI Open uses, for opening a database with sql.Open.
func dsn(path string) string { return sqlite.DSN(path) }

// setup migrates db, opened with dsn, to version upTo.
func setup(db *sql.DB, migs []migration, upTo int) error {
	var ms []sqlite.Migration
	for _, m := range migs {
		ms = append(ms, sqlite.Migration{Version: m.version, Name: m.name, SQL: m.sql})
	}
	return sqlite.Migrate(context.Background(), db, ms, upTo)
}
