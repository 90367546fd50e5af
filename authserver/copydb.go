package authserver

// The move to PostgreSQL: Migrate copies a network's SQLite database into
// an empty PostgreSQL one (eserver-auth migrate), so the accounts, their
// devices and identities, the revocation log and the server's own secrets
// carry over and every existing account logs in on the new database with
// its old password. Without the secrets no account could: the OPAQUE keys
// are half of every record, and the host key is the identity every ticket
// and client verifies.
//
// The copy reads the source in one read transaction, so it is of one point
// in time even while a server still writes the file (what that server
// writes afterwards stays behind: stop it for an exact copy), and writes
// the destination in one transaction, so a copy that fails half way —
// cancelled, the database gone, a row refused — leaves nothing behind. It
// refuses a destination that holds anything (no merge of two networks'
// accounts, ids and serials), and a source that is not at this program's
// schema version (its tables are then not the ones listed below).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"eserver/sqlite"
)

// Errors of Migrate the command branches on.
var (
	// ErrNotEmpty: the destination already holds accounts, devices,
	// revocations or a server's secrets.
	ErrNotEmpty = errors.New("the destination database is not empty")
	// ErrSourceSchema: the source is not an auth server database at this
	// program's schema version.
	ErrSourceSchema = errors.New("the source is not an auth database at this program's schema version")
)

// migrateLockTimeout bounds the wait for the destination's tables: a server
// running on the destination holds them for a statement at a time, so a
// longer wait means something holds them for good, and the copy had better
// fail saying so than hang.
const migrateLockTimeout = 30 * time.Second

// colKind is how a column is read from SQLite and handed to PostgreSQL.
type colKind int

const (
	colText    colKind = iota // TEXT NOT NULL: string
	colBytes                  // BLOB / BYTEA, NULL as nil: []byte
	colInt                    // INTEGER / BIGINT NOT NULL: int64
	colNullInt                // INTEGER / BIGINT, may be NULL: int64 or nil
)

type copyCol struct {
	name string
	kind colKind
}

// copyTable is a table the copy carries, with every one of its columns
// (TestMigrateCoversSchema holds the list to both schemas).
type copyTable struct {
	name string
	cols []copyCol
}

// copiedTables, in the order they are copied: accounts before the devices
// that reference them.
var copiedTables = []copyTable{
	{"secrets", []copyCol{{"name", colText}, {"value", colBytes}}},
	// The ids are kept (devices refer to them); COPY writes an identity
	// column as given, as INSERT … OVERRIDING SYSTEM VALUE would, and the
	// identity's sequence is moved past the highest afterwards.
	{"accounts", []copyCol{{"id", colInt}, {"username", colText}, {"record", colBytes}, {"created_unix", colInt},
		{"account_key", colBytes}, {"account_key_sealed", colBytes}, {"account_devices", colBytes},
		{"account_devices_version", colInt}}},
	{"devices", []copyCol{{"account_id", colInt}, {"peer_id", colBytes}, {"name", colText}, {"first_unix", colInt},
		{"last_unix", colInt}, {"expiry_unix", colInt}, {"revoked_unix", colNullInt}}},
	// The serials are kept: supernodes and nodes hold the log up to a
	// serial, and ask for what follows it.
	{"revocations", []copyCol{{"serial", colInt}, {"peer_id", colBytes}, {"horizon_unix", colInt}, {"revoked_unix", colInt}}},
}

// notCopied are the SQLite schema's tables the copy leaves, and why.
var notCopied = map[string]string{
	"sqlite_sequence": "SQLite's counters: the revocation log's serial in it is carried into revocation_serial",
	"replicas":        "the servers heartbeating on the source: each registers itself on the new database when it starts there",
	"limit_attempts":  "rate-limit attempts, which count for an hour at most: the new database starts with none",
	"supernodes":      "the live supernodes, which heartbeat every few seconds: each registers again at its next heartbeat",
}

// MigrateStats is what Migrate copied.
type MigrateStats struct {
	Secrets, Accounts, Devices, Revocations int64
	// Serial is the revocation log's serial carried: the next revocation
	// on the destination takes the one after it.
	Serial uint64
	Took   time.Duration
}

// Migrate copies the SQLite auth database from into the PostgreSQL
// database to (both as ParseDB takes them; to's schema is created or
// brought up to date first), logging each table to log. The source is only
// read, and may be in use by a running server; the destination must hold
// no data (ErrNotEmpty), and the source must be at this program's schema
// version (ErrSourceSchema). Either everything is copied or nothing is.
func Migrate(ctx context.Context, from, to string, log *slog.Logger) (MigrateStats, error) {
	start := time.Now()
	src, err := ParseDB(from)
	if err != nil {
		return MigrateStats{}, fmt.Errorf("source: %w", err)
	}
	if src.Engine != SQLite {
		return MigrateStats{}, fmt.Errorf("%w: the source must be a SQLite file, not %s", ErrBadDB, src)
	}
	dst, err := ParseDB(to)
	if err != nil {
		return MigrateStats{}, fmt.Errorf("destination: %w", err)
	}
	if dst.Engine != Postgres {
		return MigrateStats{}, fmt.Errorf("%w: the destination must be a postgres:// URL, not %s", ErrBadDB, dst)
	}
	lite, err := sqlite.OpenReadOnly(src.Path)
	if err != nil {
		return MigrateStats{}, fmt.Errorf("opening the source %s: %w", src, err)
	}
	defer lite.Close()

	var stats MigrateStats
	// The source's read transaction spans the whole copy: one snapshot.
	err = lite.TxContext(ctx, func(rtx *sql.Tx) error {
		// Checked before the destination is touched at all.
		if err := checkSourceSchema(ctx, rtx); err != nil {
			return err
		}
		cfg, err := pgConfig(dst.URL)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadDB, err)
		}
		migs, err := sqlite.LoadMigrations(migrationFS, postgresMigrations)
		if err != nil {
			return err
		}
		if err := migratePostgres(ctx, cfg, migs, 0); err != nil {
			return fmt.Errorf("preparing the destination %s: %w", dst, err)
		}
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return fmt.Errorf("connecting to the destination %s: %w", dst, err)
		}
		defer c.Close(context.WithoutCancel(ctx))
		stats, err = copyInto(ctx, rtx, c, log)
		var ce commitError
		switch {
		case errors.As(err, &ce):
			// The commit may have been carried out when its answer was
			// lost; a copy run again finds out (refused: it was).
			return fmt.Errorf("committing the copy, whose outcome is unknown (run it again: it is refused if the copy was written): %w", ce.err)
		case err != nil && !errors.Is(err, ErrNotEmpty):
			return fmt.Errorf("the copy failed, and no data was written (it is one transaction): %w", err)
		}
		return err
	})
	if err != nil {
		return MigrateStats{}, err
	}
	stats.Took = time.Since(start)
	log.Info("copied the SQLite database into PostgreSQL", "from", src, "to", dst,
		"accounts", stats.Accounts, "devices", stats.Devices, "revocations", stats.Revocations,
		"serial", stats.Serial, "secrets", stats.Secrets, "took", stats.Took)
	return stats, nil
}

// checkSourceSchema refuses a source that is not an auth database at this
// program's schema version.
func checkSourceSchema(ctx context.Context, rtx *sql.Tx) error {
	migs, err := sqlite.LoadMigrations(migrationFS, sqliteMigrations)
	if err != nil {
		return err
	}
	var version, accounts int
	if err := rtx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading the source's schema version: %w", err)
	}
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'accounts'").Scan(&accounts); err != nil {
		return fmt.Errorf("reading the source's schema: %w", err)
	}
	switch {
	case version == 0 || accounts == 0:
		return fmt.Errorf("%w: it has no accounts table (schema version %d)", ErrSourceSchema, version)
	case version < len(migs):
		return fmt.Errorf("%w: it is at version %d, this program's is %d: upgrade it first by starting the server on it once (this program's eserver-auth)",
			ErrSourceSchema, version, len(migs))
	case version > len(migs):
		return fmt.Errorf("%w: its version %d is newer than this program's %d: migrate it with the program that wrote it",
			ErrSourceSchema, version, len(migs))
	}
	return nil
}

// copyInto copies every table of copiedTables from the source's read
// transaction rtx into c, in one transaction of c.
func copyInto(ctx context.Context, rtx *sql.Tx, c *pgx.Conn, log *slog.Logger) (MigrateStats, error) {
	var stats MigrateStats
	tx, err := c.Begin(ctx)
	if err != nil {
		return MigrateStats{}, fmt.Errorf("beginning the transaction: %w", err)
	}
	// Rolls back on any error; after Commit it does nothing.
	defer tx.Rollback(context.WithoutCancel(ctx))
	err = func() error {
		// The tables are locked against every writer (readers go on) before
		// the transaction reads anything: the emptiness checked next stays
		// true until the commit, and a server started on the destination
		// meanwhile waits, then finds the copied secrets, not its own. With
		// every writer shut out, the default isolation is enough: the
		// store's SERIALIZABLE and its retries would add only a late
		// failure after a long copy.
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", migrateLockTimeout.Milliseconds())); err != nil {
			return fmt.Errorf("setting the lock timeout: %w", err)
		}
		names := make([]string, len(copiedTables))
		for i, t := range copiedTables {
			names[i] = t.name
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+", revocation_serial IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("locking the destination's tables: %w", err)
		}
		if err := checkEmpty(ctx, tx); err != nil {
			return err
		}
		counts := map[string]*int64{"secrets": &stats.Secrets, "accounts": &stats.Accounts,
			"devices": &stats.Devices, "revocations": &stats.Revocations}
		for _, t := range copiedTables {
			began := time.Now()
			n, err := copyTableInto(ctx, rtx, tx, t)
			if err != nil {
				return fmt.Errorf("copying %s: %w", t.name, err)
			}
			if p := counts[t.name]; p != nil {
				*p = n
			}
			log.Info("copied", "table", t.name, "rows", n, "took", time.Since(began))
		}
		// The serial is the highest ever given, even when its entry was
		// pruned since: never reused, on the destination either.
		var serial int64
		if err := rtx.QueryRowContext(ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0),
			coalesce((SELECT max(serial) FROM revocations), 0))`).Scan(&serial); err != nil {
			return fmt.Errorf("reading the source's revocation serial: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE revocation_serial SET serial = $1", serial); err != nil {
			return fmt.Errorf("setting the revocation serial: %w", err)
		}
		stats.Serial = uint64(serial)
		// The next account takes the id after the highest copied. (setval
		// is not undone by a rollback; a failed copy leaves the sequence
		// ahead, which only skips ids.)
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('accounts', 'id'),
			coalesce((SELECT max(id) FROM accounts), 0) + 1, false)`); err != nil {
			return fmt.Errorf("moving the account ids past the copied ones: %w", err)
		}
		return nil
	}()
	if err != nil {
		return MigrateStats{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return MigrateStats{}, commitError{err}
	}
	return stats, nil
}

// commitError is copyInto's error when the commit itself failed.
type commitError struct{ err error }

func (e commitError) Error() string { return "committing: " + e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// checkEmpty refuses a destination holding anything the copy would write.
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	var held []string
	for _, t := range []struct{ table, noun string }{
		{"accounts", "account"}, {"devices", "device"}, {"revocations", "revocation"}, {"secrets", "secret"},
	} {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.table).Scan(&n); err != nil {
			return fmt.Errorf("checking the destination is empty: %w", err)
		}
		if n > 0 {
			held = append(held, plural(n, t.noun))
		}
	}
	var serial int64
	if err := tx.QueryRow(ctx, "SELECT serial FROM revocation_serial").Scan(&serial); err != nil {
		return fmt.Errorf("checking the destination is empty: %w", err)
	}
	if serial > 0 {
		held = append(held, fmt.Sprintf("revocation serial %d", serial))
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: it holds %s (a server ran on it, or a copy was made into it already): copy into a new, empty database, before any server starts on it",
			ErrNotEmpty, strings.Join(held, ", "))
	}
	return nil
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// copyTableInto streams t's rows from rtx into tx with COPY, which sends
// them in large batches rather than a round trip each, and returns how many
// it copied.
func copyTableInto(ctx context.Context, rtx *sql.Tx, tx pgx.Tx, t copyTable) (int64, error) {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	rows, err := rtx.QueryContext(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+t.name)
	if err != nil {
		return 0, fmt.Errorf("reading: %w", err)
	}
	defer rows.Close()
	dest := make([]any, len(t.cols))
	var readErr error // the source's, when the copy failed reading it
	for i, c := range t.cols {
		switch c.kind {
		case colText:
			dest[i] = new(string)
		case colBytes:
			dest[i] = new([]byte)
		case colInt:
			dest[i] = new(int64)
		case colNullInt:
			dest[i] = new(sql.NullInt64)
		}
	}
	next := func() ([]any, error) {
		if !rows.Next() {
			readErr = rows.Err()
			return nil, readErr
		}
		if err := rows.Scan(dest...); err != nil {
			readErr = err
			return nil, err
		}
		// A fresh row each time: pgx may hold the values until it sends
		// the batch.
		row := make([]any, len(dest))
		for i, d := range dest {
			switch d := d.(type) {
			case *string:
				row[i] = *d
			case *[]byte:
				row[i] = *d // Scan gave a fresh slice; nil is NULL
			case *int64:
				row[i] = *d
			case *sql.NullInt64:
				if d.Valid {
					row[i] = d.Int64
				}
			}
		}
		return row, nil
	}
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, names, pgx.CopyFromFunc(next))
	if err != nil {
		if readErr != nil {
			return 0, fmt.Errorf("reading: %w", readErr)
		}
		return 0, err
	}
	return copied, nil
}
