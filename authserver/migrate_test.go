package authserver

import (
	"context"
	"database/sql"

	"eserver/sqlite"
)

// The tests build databases as older servers left them with these helpers,
// over package sqlite's own.

// migrations returns the server's SQLite migrations.
func migrations() ([]sqlite.Migration, error) {
	return sqlite.LoadMigrations(migrationFS, sqliteMigrations)
}

// migrateTo migrates the SQLite database db to version upto (0: the newest).
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

// rawSQLite is the store over a SQLite database a test opened itself.
func rawSQLite(db *sql.DB) *sqlStore {
	return &sqlStore{db: db, d: sqliteDialect(db.Close)}
}

// sqlDB is the database under f's server, for tests that look at tables.
func (f *fixture) sqlDB() *sql.DB { return f.srv.store.(*sqlStore).db }
