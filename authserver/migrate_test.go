package authserver

import (
	"context"
	"database/sql"

	"eserver/sqlite"
)

// The tests build databases as older servers left them with these helpers,
// over package sqlite's own.

// migrations returns the server's migrations.
func migrations() ([]sqlite.Migration, error) {
	return sqlite.LoadMigrations(migrationFS, "migrations")
}

// migrateTo migrates db to version upto (0: the newest).
func migrateTo(ctx context.Context, db *sql.DB, upto int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if upto == 0 {
		upto = len(ms)
	}
	return sqlite.Migrate(ctx, db, ms, upto)
}
