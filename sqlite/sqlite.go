// Package sqlite opens, checks and migrates every SQLite database of EServer
// — the node's store, the supernode's mailbox, contacts and prekey
// databases, the auth server's accounts — so that they share one set of
// settings and one migration scheme, written once.
//
// # Settings
//
// Open sets, on every connection the driver makes, WAL journaling, foreign
// keys on, a busy timeout of 5 s (for other processes: inside the process
// there is no contention) and BEGIN IMMEDIATE for transactions (a
// read-then-write transaction takes the write lock up front, so it never
// fails half way when upgrading). Then it reads the settings back and fails
// with a clear error if one did not take effect — a file system without the
// shared memory WAL needs, for instance, leaves journal_mode at "delete".
//
// # Durability
//
// synchronous=FULL, for every database. In WAL mode, NORMAL fsyncs only at
// checkpoints: a commit survives a crash of the process (kill -9), because
// it is in the operating system's page cache, but a power loss or a kernel
// panic can lose the last commits. Every database here acknowledges writes
// to someone who then forgets them — a message reported stored to the user,
// a mailbox seq returned to a sender, a contact list put or a prekey bundle
// acknowledged to its owner, an account created at the auth server — so a
// lost commit is a lost message or account, not a lost cache. FULL fsyncs
// the WAL at every commit: what was acknowledged survives kill -9 and power
// loss. The cost is one fsync per commit (about 155 µs on the machine of
// DESIGN.md §8), which callers amortize by batching writes in one
// transaction. Open logs the choice at debug level.
//
// # One writer
//
// A DB holds exactly one connection, kept open for its lifetime: every
// statement and transaction of the process runs on it in turn, so there is
// one writer and no SQLITE_BUSY inside the process, and a transaction's
// check-then-write (a quota, a one-time prekey handed to exactly one
// fetcher) cannot interleave with another's. Every current user relies on
// that, so it is not an option.
//
// # Migrations
//
// The schema is a list of numbered files NNN_name.sql (any width of
// number, 1, 2, 3… without gaps, and named so that they sort in that order)
// embedded with go:embed. Open applies the ones newer than the database's
// PRAGMA user_version, each in its own transaction together with the new
// user_version, so a failing migration changes nothing. A database with a
// version newer than the program's migrations is refused, not touched.
//
// # Reading a copy
//
// OpenReadOnly opens an existing database for reading only, with none of
// the above applied: a copy (the auth server's move to PostgreSQL) reads a
// database its server may still be writing, as of one point in time.
//
// # FTS5
//
// Full-text search needs SQLite built with FTS5 (the build tag
// sqlite_fts5, set in the Makefile). A user that needs it sets Options.FTS5
// and Open fails with ErrNoFTS5 rather than running without search.
//
// Errors do not repeat the database's path: the caller says which database
// it was opening.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3"
)

// ErrNoFTS5 is Open's error, with Options.FTS5 set, when SQLite was built
// without FTS5.
var ErrNoFTS5 = errors.New("SQLite was built without FTS5: build with -tags sqlite_fts5")

// The settings, as DSN asks for them and as check reads them back.
const (
	busyTimeoutMS = 5000
	synchronous   = "FULL"
	syncFull      = 2 // PRAGMA synchronous's answer for FULL
)

// Options says what Open sets up besides the fixed settings. The zero value
// opens a database with no schema of its own.
type Options struct {
	// Migrations holds the schema as numbered files NNN_name.sql in
	// directory Dir; nil means no migrations.
	Migrations fs.FS
	Dir        string

	// Version is the schema version to migrate to; 0 means the newest.
	// Tests use it to build a database as an older program left it.
	Version int

	// FTS5 makes Open fail with ErrNoFTS5 unless SQLite has FTS5.
	FTS5 bool

	// SecureDelete overwrites deleted content with zeros (PRAGMA
	// secure_delete), and Close truncates the write-ahead log, so that a
	// secret replaced or deleted — an old ratchet state, a used prekey —
	// does not linger in free pages or old log frames for someone who
	// later learns the key it was sealed with.
	SecureDelete bool

	// StatementCache keeps up to this many prepared statements on the
	// connection, by their text, so a statement run again is not compiled
	// again (the auth server's login runs the same eight, and compiling
	// them was a fifth of its share); 0 keeps none.
	StatementCache int

	// Logger receives the one line Open logs; nil means slog.Default().
	Logger *slog.Logger
}

// DB is an open database: a *sql.DB with one connection, plus
// transactions. Its methods are safe for concurrent use.
type DB struct {
	*sql.DB
	secure bool
}

// Close closes the database. With Options.SecureDelete it first checkpoints
// the write-ahead log into the database and truncates it to nothing, so the
// log's old frames (earlier versions of pages) leave the disk with it.
func (db *DB) Close() error {
	var errCkpt error
	if db.secure {
		if _, err := db.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			errCkpt = fmt.Errorf("truncating the write-ahead log: %w", err)
		}
	}
	return errors.Join(errCkpt, db.DB.Close())
}

// Open opens the database file at path, creating it readable by its owner
// only if it does not exist (SQLite gives its -wal and -shm files the same
// mode), checks the settings and brings the schema up to date.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty database path")
	}
	var migs []Migration
	if opts.Migrations != nil {
		var err error
		if migs, err = LoadMigrations(opts.Migrations, opts.Dir); err != nil {
			return nil, err
		}
	}
	version := opts.Version
	if version == 0 {
		version = len(migs)
	}
	if version < 0 || version > len(migs) {
		return nil, fmt.Errorf("schema version %d asked for, but there are %d migrations", version, len(migs))
	}
	// Several files hold private keys or others' mail: no one else reads them.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating database file: %w", err)
	}
	f.Close()
	d := dsn(path, opts.SecureDelete)
	if opts.StatementCache > 0 {
		d += "&_stmt_cache_size=" + strconv.Itoa(opts.StatementCache)
	}
	db, err := openOne(d)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	from, err := setup(ctx, db, migs, version, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Debug("sqlite: database open", "path", path, "journal_mode", "WAL", "synchronous", synchronous,
		"durability", "every commit fsynced: survives kill -9 and power loss",
		"schema_from", from, "schema", max(from, version))
	return &DB{DB: db, secure: opts.SecureDelete}, nil
}

// openOne opens the database at dsn with one connection, kept for good:
// every statement of a DB runs on it, one at a time.
func openOne(dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// OpenReadOnly opens the existing database file at path for reading only:
// no migration, no setting written, nothing created (a missing file is an
// error wrapping os.ErrNotExist). Its transactions are deferred, so a read
// transaction (TxContext) sees the database as of its first statement until
// it ends, whatever another process commits meanwhile: WAL lets a writer go
// on beside it. A copy of a database a live server writes reads it so, in
// one transaction. It has one connection, as Open's.
func OpenReadOnly(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty database path")
	}
	// mode=ro would report a missing file as SQLite's "unable to open
	// database file"; this says which.
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	d := "file:" + escapePath(path) + "?mode=ro&_txlock=deferred&_busy_timeout=" + strconv.Itoa(busyTimeoutMS)
	db, err := openOne(d)
	if err != nil {
		return nil, err
	}
	// The file's header is read at the first statement: a file that is not
	// a database fails here rather than at the caller's first query.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	return &DB{DB: db}, nil
}

// setup checks db's settings (and FTS5 if asked) and migrates it to
// version; it returns the schema version it found.
func setup(ctx context.Context, db *sql.DB, migs []Migration, version int, opts Options) (int, error) {
	if err := db.PingContext(ctx); err != nil {
		return 0, err
	}
	if err := check(ctx, db, opts.SecureDelete); err != nil {
		return 0, err
	}
	if opts.FTS5 {
		if err := checkFTS5(ctx, db); err != nil {
			return 0, err
		}
	}
	return migrate(ctx, db, migs, version)
}

// DSN is the go-sqlite3 URI Open opens path with; the driver applies its
// settings to every connection it makes. Tests use it to build a database
// the way Open would, without migrating it.
func DSN(path string) string { return dsn(path, false) }

func dsn(path string, secureDelete bool) string {
	d := "file:" + escapePath(path) + "?_journal_mode=WAL&_synchronous=" + synchronous + "&_foreign_keys=on" +
		"&_busy_timeout=" + strconv.Itoa(busyTimeoutMS) + "&_txlock=immediate"
	if secureDelete {
		d += "&_secure_delete=on"
	}
	return d
}

// escapePath escapes what a file: URI would read as its query or fragment
// (or an escape) in path.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// check reads the settings DSN asks for back from the connection: the
// driver does not report a pragma SQLite ignored.
func check(ctx context.Context, db *sql.DB, secureDelete bool) error {
	settings := []struct{ pragma, want, hint string }{
		{"journal_mode", "wal", " (does the file system support WAL's shared memory?)"},
		{"synchronous", strconv.Itoa(syncFull), ""},
		{"foreign_keys", "1", ""},
		{"busy_timeout", strconv.Itoa(busyTimeoutMS), ""},
	}
	if secureDelete {
		settings = append(settings, struct{ pragma, want, hint string }{"secure_delete", "1", ""})
	}
	for _, s := range settings {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+s.pragma).Scan(&got); err != nil {
			return fmt.Errorf("reading PRAGMA %s: %w", s.pragma, err)
		}
		if !strings.EqualFold(got, s.want) {
			return fmt.Errorf("setting not applied: PRAGMA %s is %s, want %s%s", s.pragma, got, s.want, s.hint)
		}
	}
	return nil
}

// checkFTS5 creates and drops a temporary FTS5 table.
func checkFTS5(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)`); err != nil {
		if strings.Contains(err.Error(), "no such module") {
			return fmt.Errorf("%w (%v)", ErrNoFTS5, err)
		}
		return fmt.Errorf("probing FTS5: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE temp.fts5_probe`); err != nil {
		return fmt.Errorf("dropping FTS5 probe: %w", err)
	}
	return nil
}

// Tx runs fn in a transaction and commits it; see TxContext.
func (db *DB) Tx(fn func(*sql.Tx) error) error {
	return inTx(context.Background(), db.DB, fn)
}

// TxContext runs fn in a transaction and commits it. If fn returns an
// error, the transaction is rolled back and fn's error returned as it is,
// so callers can branch on their own sentinels. If fn panics, the
// transaction is rolled back before the panic goes on: a transaction left
// open would hold the DB's one connection for good.
func (db *DB) TxContext(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, db.DB, fn)
}

// ConnTx is Tx on conn, one connection the caller took from the DB (a
// group commit holds it across its transactions): fn runs in a
// transaction, committed when fn returns nil and rolled back otherwise or
// on a panic.
func ConnTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	return inTx(ctx, conn, fn)
}

// beginner is what starts a transaction: a *sql.DB or a *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func inTx(ctx context.Context, db beginner, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}
