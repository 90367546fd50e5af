package authserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/sqlite"
)

// PostgreSQL through pgx's database/sql adapter rather than its own pool
// API: the statements, transactions and scans are then the same code for
// both engines, and only the dialect below differs.

const postgresMigrations = "migrations/postgres"

// pgMaxConns bounds one server's connections to the database: a request
// holds one for a few statements at a time, and PostgreSQL allows 100
// connections in all by default, shared by every replica.
const pgMaxConns = 16

// pgConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so a server whose database does not answer fails at
// start, and its requests fail, rather than hang.
const pgConnectTimeout = 10 * time.Second

// pgMigrationLock is the pg_advisory_lock key migrations are applied under,
// so replicas starting together apply each migration once: the others wait,
// then find the schema up to date. ("eserver" and 1 in its bytes.)
const pgMigrationLock int64 = 0x6573_6572_7665_7201

// pgLimitLockClass is the first key of the pg_advisory_xact_lock(int, int)
// locks that let one attempt at a time count-then-insert on a rate-limit
// key; the second is a hash of the key. (Two-key locks never meet
// pgMigrationLock's one-key space. Two keys sharing a hash only wait for
// each other.)
const pgLimitLockClass int32 = 0x6573_6c01

// lockLimitKeys takes, inside tx, the advisory lock of every key in keys,
// in the order of their hashes so that two attempts naming the same keys
// never deadlock. The locks are the transaction's: they go with its end.
func lockLimitKeys(ctx context.Context, tx conn, keys []limitKey) error {
	ids := make([]int32, 0, len(keys))
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k.bucket))
		h.Write([]byte{0})
		h.Write([]byte(k.key))
		ids = append(ids, int32(h.Sum32()))
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, ?)", pgLimitLockClass, id); err != nil {
			return err
		}
	}
	return nil
}

// PostgreSQL's error codes the store branches on.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// pgUnreachable reports whether err is PostgreSQL out of reach: no
// connection could be made or the one in use broke (refused, reset, timed
// out, closed), or the server said it is shutting down or starting up
// (class 08, connection exception; 57P01–57P03). A statement's own
// failure — a constraint, a serialization failure — is not.
func pgUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch c := pgCode(err); {
	case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03":
		return true
	case c != "":
		return false
	}
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// postgresDialect: transactions are SERIALIZABLE and run again when they
// fail to serialize (see store.go).
func postgresDialect(close func() error) *dialect {
	return &dialect{
		engine:    Postgres,
		dollar:    true,
		txOptions: &sql.TxOptions{Isolation: sql.LevelSerializable},
		retry: func(err error) bool {
			c := pgCode(err)
			return c == pgSerializationFailure || c == pgDeadlockDetected
		},
		unique:      func(err error) bool { return pgCode(err) == pgUniqueViolation },
		unreachable: pgUnreachable,
		serialQuery: "SELECT serial FROM revocation_serial",
		logRevocation: func(ctx context.Context, tx conn, p peer.ID, horizon, revokedUnix int64) (int64, error) {
			// The counter's row is locked until the transaction ends: the
			// next revocation waits for this one, so serials commit in
			// order (see migrations/postgres/0002_devices.sql).
			var serial int64
			if err := tx.QueryRowContext(ctx, "UPDATE revocation_serial SET serial = serial + 1 RETURNING serial").Scan(&serial); err != nil {
				return 0, err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO revocations (serial, peer_id, horizon_unix, revoked_unix) VALUES (?, ?, ?, ?)",
				serial, []byte(p), horizon, revokedUnix)
			return serial, err
		},
		// An attempt's count-then-insert runs under its keys' advisory
		// locks at READ COMMITTED, where each statement sees what committed
		// before it: the lock makes attempts on a key take turns, and the
		// count, taken after the lock, sees every earlier attempt.
		// SERIALIZABLE would be as correct, but attempts racing on one key
		// (a brute force, TestBruteForceParallel) abort each other and run
		// again; measured in BenchmarkLimitAttempt.
		limitTxOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		lockLimits:     lockLimitKeys,
		close:          close,
	}
}

// pgConfig parses a postgres:// URL. pgx's errors mask the URL's password.
func pgConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	return cfg, nil
}

func checkPostgresURL(url string) error {
	_, err := pgConfig(url)
	return err
}

// openPostgres connects to the database at url and brings its schema up to
// date.
func openPostgres(ctx context.Context, url string) (*sqlStore, error) {
	return openPostgresAt(ctx, url, 0)
}

// openPostgresAt is openPostgres migrating to schema version (0: the
// newest); tests build older schemas with it.
func openPostgresAt(ctx context.Context, url string, version int) (*sqlStore, error) {
	cfg, err := pgConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDB, err)
	}
	where := DBSource{Engine: Postgres, URL: url}.String()
	migs, err := sqlite.LoadMigrations(migrationFS, postgresMigrations)
	if err != nil {
		return nil, err
	}
	if err := migratePostgres(ctx, cfg, migs, version); err != nil {
		return nil, fmt.Errorf("opening database %s: %w", where, err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &sqlStore{db: db, d: postgresDialect(db.Close)}, nil
}

// migratePostgres applies the migrations the database lacks, up to version
// (0: all), each in its own transaction with its row in schema_migrations,
// on one connection of its own holding pgMigrationLock: the lock is the
// session's, so it goes with the connection whatever happens. A database
// whose schema is newer than migs is refused, not touched.
func migratePostgres(ctx context.Context, cfg *pgx.ConnConfig, migs []sqlite.Migration, version int) error {
	if version == 0 {
		version = len(migs)
	}
	if version < 0 || version > len(migs) {
		return fmt.Errorf("schema version %d asked for, but there are %d migrations", version, len(migs))
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", pgMigrationLock); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	// Closing the connection would release it too; unlocking keeps a
	// connection pooler's session (if any) clean.
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", pgMigrationLock)
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version      BIGINT PRIMARY KEY,
		name         TEXT NOT NULL,
		applied_unix BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var cur int
	if err := c.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if cur > len(migs) {
		return fmt.Errorf("schema version %d is newer than this program's %d", cur, len(migs))
	}
	for _, m := range migs[cur:max(version, cur)] {
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// No arguments: pgx sends it as one simple query, so a file
			// may hold several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_unix) VALUES ($1, $2, $3)",
				m.Version, m.Name, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
