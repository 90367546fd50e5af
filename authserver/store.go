package authserver

// The store: everything the server keeps beyond a process — its secrets,
// accounts with their OPAQUE records and identities, devices, the
// revocation log, the rate limits' attempts, the supernode registry, and
// the replicas sharing the database with their heartbeats (replica.go) —
// behind one interface, with two engines: SQLite (the default, one file,
// for one server) and PostgreSQL (for several replicas sharing one
// database). The server sees only the interface; every SQL
// statement it runs is in this file, written once for both engines.
//
// The engines differ in a few places, each in its dialect
// (store_sqlite.go, store_postgres.go): placeholders (? or $n), how a
// unique violation looks, how the revocation log numbers its entries, how
// transactions are isolated, and how migrations are applied and locked.
// What the statements share is the SQL both speak: ON CONFLICT upserts,
// count(*) FILTER, CASE rather than two-argument max(), integers and byte
// strings only.
//
// Moving engines. A network that outgrows one server moves its SQLite
// store into PostgreSQL with Migrate (copydb.go, eserver-auth migrate):
// secrets, accounts with their ids, identities, devices and the
// revocation log with its serials, in one transaction, into an empty
// database. What is not in the store (rate limits, the registry) is not
// carried; a table added to the store must be added to the copy too
// (TestMigrateCoversSchema fails until it is).
//
// Transactions. SQLite runs them one at a time (one connection, BEGIN
// IMMEDIATE), so a check-then-write can never interleave with another.
// PostgreSQL runs them at once; there they are SERIALIZABLE, and one that
// would have seen another's writes fails with a serialization failure and
// is run again (up to maxTxAttempts), so each transaction below keeps the
// meaning it has on SQLite: a revocation racing a login either sees the
// new ticket's expiry or makes the login fail; two new devices cannot both
// take an account's last free place; a password change and a first
// publish of the identity cannot both succeed unseen by each other.
//
// Two kinds of transaction are written so that conflicts stay rare where
// they would otherwise be the common case. A rate-limit attempt (many
// racing on one key is what a brute force looks like) takes its keys'
// advisory locks and runs at READ COMMITTED, so attempts on one key take
// turns instead of aborting each other. A heartbeat of a live supernode
// reads and writes its own row only, so heartbeats of different
// supernodes never conflict.
//
// What the server keeps in memory, per process, is only what may differ
// between replicas: its own role-supernode ticket (registry.go), a copy of
// the revocation log for the pipeline's checks (devices.go), counters for
// its metrics, and requests in flight.

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Secret names in the secrets table.
const (
	secretHostKey    = "host_key"
	secretOPAQUEKeys = "opaque_keys"
)

// maxTxAttempts is how many times a transaction that failed to serialize
// (PostgreSQL) is run in all before its error is returned.
const maxTxAttempts = 10

// Errors of the store the server branches on. Every engine returns the same
// ones.
var (
	// errExists: createAccount's username is taken.
	errExists = errors.New("account exists")
	// errRevoked: a ticket for a peer that was revoked.
	errRevoked = errors.New("device revoked")
	// errTooManyDevices refuses a ticket to a device beyond the account's
	// cap of devices with a live ticket (Config.MaxDevices).
	errTooManyDevices = errors.New("too many devices")
	errUnknownDevice  = errors.New("not a device of this account")
	errNoAccount      = errors.New("no such account")
	// errNeedSealed refuses to set an identity, or to change the password
	// of an account that has one, without its sealed private key.
	errNeedSealed = errors.New("account identity without its sealed key")
	// errListedRevoked refuses a list naming a revoked device.
	errListedRevoked = errors.New("device list names a revoked device")
	// errRegistryFull refuses a new supernode when MaxSupernodes are live.
	errRegistryFull = errors.New("supernode registry full")
	// errOperatorFull refuses a new supernode of an account that runs
	// MaxSupernodesPerUser live ones.
	errOperatorFull = errors.New("too many supernodes for one account")
	// errBadReplica refuses a replica row out of its bounds (see
	// sqlStore.heartbeatReplica).
	errBadReplica = errors.New("bad replica row")
)

// maxReplicaID bounds a replica's ID in the replicas table; the server's
// are 32 hex digits (replica.go).
const maxReplicaID = 64

// store is where the server keeps what outlives a process. Its methods are
// safe for concurrent use, and on PostgreSQL for use by several servers
// (replicas) at once.
//
// The rate-limit counters (limit.go) and the supernode registry
// (registry.go) are in it, so replicas agree on both: a limit counts the
// attempts made at every replica, and any replica lists the supernodes
// that heartbeated at any.
type store interface {
	// lostDB reports whether an error of the store's is the database
	// being out of reach (Server.failed answers "unreachable" then).
	lostDB(err error) bool
	// secret returns the server secret called name, creating it with make
	// the first time. Concurrent callers agree on one value.
	secret(ctx context.Context, name string, make func() ([]byte, error)) ([]byte, error)

	// accountRecord returns username's OPAQUE record, or nil if there is
	// no such account.
	accountRecord(ctx context.Context, username string) ([]byte, error)
	accountExists(ctx context.Context, username string) (bool, error)
	// createAccount fails with errExists when username is taken.
	createAccount(ctx context.Context, username string, record []byte, createdUnix int64) error
	// updateRecord replaces username's OPAQUE record and, when the account
	// has an identity, its sealed key (errNeedSealed without one); without
	// an identity sealed is ignored. errNoAccount if there is no account.
	updateRecord(ctx context.Context, username string, record, sealed []byte) error
	countAccounts(ctx context.Context) (int, error)

	// peerRevoked reports whether p was ever revoked, by any account.
	peerRevoked(ctx context.Context, p peer.ID) (bool, error)
	// isDevice reports whether p is a device of username not revoked.
	isDevice(ctx context.Context, username string, p peer.ID) (bool, error)
	// recordIssue records t against its device before t is signed; see
	// sqlStore.recordIssue.
	recordIssue(ctx context.Context, t ticket.Ticket, maxDevices int) (accountCreated time.Time, id *identity, err error)
	// learnDevice records the device of a presented ticket if it has no
	// row yet; see sqlStore.learnDevice.
	learnDevice(ctx context.Context, t *ticket.Ticket, now time.Time) error
	// listDevices returns up to limit of username's devices, most
	// recently seen first, and how many there are.
	listDevices(ctx context.Context, username string, limit int) ([]deviceRow, int, error)
	// revokeDevice revokes target, a device of username, and logs it;
	// see sqlStore.revokeDevice.
	revokeDevice(ctx context.Context, username string, target peer.ID, now time.Time) (r revocation, already bool, err error)

	// revocationSerial is the log's serial: the highest ever given, even
	// if its entry has been pruned since. Every entry at or below it is
	// readable once it is returned: serials become visible in order.
	revocationSerial(ctx context.Context) (uint64, error)
	// revocationsAfter returns up to limit entries with since < serial <=
	// upto, oldest first, and whether more follow.
	revocationsAfter(ctx context.Context, since, upto uint64, limit int) ([]revocation, bool, error)
	// pruneRevocations drops the entries whose horizon is before cutoff.
	pruneRevocations(ctx context.Context, cutoff time.Time) error

	// accountIdentity returns username's identity, or nil when the
	// account has none (or does not exist).
	accountIdentity(ctx context.Context, username string) (*identity, error)
	// publishDevices stores a verified device list; see
	// sqlStore.publishDevices.
	publishDevices(ctx context.Context, d *ticket.Devices, sealed []byte) (*identity, publishOutcome, error)

	// attempt counts an attempt at now against every key in keys, all or
	// none: when each has fewer than its max attempts inside its window
	// ending at now, one is added to each and full is nil; otherwise
	// nothing is counted and full is the first key at its limit. Check and
	// count are one transaction, so attempts racing at any replicas never
	// admit more than max.
	attempt(ctx context.Context, now time.Time, keys ...limitKey) (full *limitKey, err error)
	// forget removes the newest attempt of each key: an attempt counted up
	// front turned out not to be one that counts (a login that succeeded).
	forget(ctx context.Context, keys ...limitKey) error
	// pruneAttempts drops the attempts that no longer count at now.
	pruneAttempts(ctx context.Context, now time.Time) error

	// beat records a heartbeat of r.peer at r.last, with r's operator and
	// record. A supernode is live while its last heartbeat is after
	// since. ticketFor, run inside the transaction with the live row r
	// replaces (nil when there is none), returns the ticket to store with
	// it; beat returns that ticket and whether r.peer was not live before.
	// A supernode not live before is refused with errRegistryFull when
	// maxTotal are live, with errOperatorFull when maxPerUser of
	// r.username are, and nothing changes.
	beat(ctx context.Context, r snRow, since time.Time, maxTotal, maxPerUser int, ticketFor func(old *snRow) ([]byte, error)) (ticket []byte, added bool, err error)
	// liveSupernodes calls take with each supernode live after since
	// whose peer was never revoked, in peer-ID order, until take returns
	// false. take must not call the store.
	liveSupernodes(ctx context.Context, since time.Time, take func(snRow) bool) error
	// countSupernodes counts the supernodes live after since.
	countSupernodes(ctx context.Context, since time.Time) (int, error)
	// dropSupernode removes p from the registry (its device was revoked).
	dropSupernode(ctx context.Context, p peer.ID) error
	// sweepSupernodes drops the rows of supernodes not live after since.
	sweepSupernodes(ctx context.Context, since time.Time) error

	// heartbeatReplica writes r's row, created at its first heartbeat and
	// refreshed (all but started) at each after; errBadReplica, and
	// nothing written, when r is out of bounds.
	heartbeatReplica(ctx context.Context, r replicaRow) error
	// liveReplicas returns up to limit replicas whose row expires after
	// now, by ID.
	liveReplicas(ctx context.Context, now time.Time, limit int) ([]replicaRow, error)
	// removeReplica deletes id's row, if there is one.
	removeReplica(ctx context.Context, id string) error
	// pruneReplicas deletes the rows that expired before cutoff.
	pruneReplicas(ctx context.Context, cutoff time.Time) error

	close() error
}

// deviceRow is one row of the devices table.
type deviceRow struct {
	peer                     peer.ID
	name                     string
	first, last, revokedUnix int64
}

// limitKey is one rate-limit counter: the attempts counted against key in
// bucket, of which at most max may fall inside any window.
type limitKey struct {
	bucket string
	key    string
	max    int
	window time.Duration
}

// snRow is one row of the supernode registry.
type snRow struct {
	peer     peer.ID
	username string    // the operator's account
	record   []byte    // the supernode's signed peer record
	ticket   []byte    // its role-supernode ticket, a serialized wire.SignedTicket
	last     time.Time // the latest heartbeat
}

// replicaRow is one row of the replicas table: a server sharing the
// database, its multiaddrs (each with /p2p/), when it started, its last
// heartbeat and until when that heartbeat keeps it live. Times are kept to
// the millisecond.
type replicaRow struct {
	id                          string
	addrs                       []string
	started, heartbeat, expires time.Time
}

// revocation is one entry of the log as stored.
type revocation struct {
	serial  uint64
	peer    peer.ID
	horizon int64
}

// Engine is a database engine the auth server keeps its data in.
type Engine int

const (
	// SQLite: one file, for one server process (the default).
	SQLite Engine = iota
	// Postgres: a PostgreSQL database several servers may share.
	Postgres
)

func (e Engine) String() string {
	if e == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// ErrBadDB is ParseDB's error for a value that names no database.
var ErrBadDB = errors.New("bad database")

// DBSource is where the auth server keeps its data, as ParseDB read it.
type DBSource struct {
	Engine Engine
	// Path is the SQLite file (Engine SQLite).
	Path string
	// URL is the PostgreSQL connection URL (Engine Postgres); it may hold
	// a password: print String instead.
	URL string
}

// String is the source for logs and errors: a URL's password is masked.
func (d DBSource) String() string {
	if d.Engine == SQLite {
		return d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// ParseDB reads a database as Config.DBPath and eserver-auth --db take it:
// a postgres:// or postgresql:// URL is a PostgreSQL database (libpq's
// connection URI, with its parameters); sqlite:PATH or a plain PATH is a
// SQLite file. Any
// other scheme:// is refused (ErrBadDB) rather than taken for a file name,
// as is an empty value or a URL that does not parse.
func ParseDB(v string) (DBSource, error) {
	scheme, rest, hasScheme := strings.Cut(v, ":")
	switch {
	case hasScheme && (scheme == "postgres" || scheme == "postgresql"):
		if err := checkPostgresURL(v); err != nil {
			return DBSource{}, fmt.Errorf("%w: %v", ErrBadDB, err)
		}
		return DBSource{Engine: Postgres, URL: v}, nil
	case hasScheme && scheme == "sqlite":
		if rest == "" {
			return DBSource{}, fmt.Errorf("%w: sqlite: without a file path", ErrBadDB)
		}
		return DBSource{Engine: SQLite, Path: rest}, nil
	case v == "":
		return DBSource{}, fmt.Errorf("%w: empty (a SQLite file path, or a postgres:// URL)", ErrBadDB)
	case hasScheme && strings.HasPrefix(rest, "//") && validScheme(scheme):
		return DBSource{}, fmt.Errorf("%w: unknown scheme %s:// (a SQLite file path, sqlite:PATH, or a postgres:// URL)", ErrBadDB, scheme)
	}
	return DBSource{Engine: SQLite, Path: v}, nil
}

// validScheme reports whether s could be a URL scheme (RFC 3986: a letter,
// then letters, digits, '+', '-', '.').
func validScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// openStore opens the store at src, creating its schema or bringing it up
// to date. A SQLite file is created readable by the server's user only: it
// holds the server's private keys.
func openStore(ctx context.Context, src DBSource) (*sqlStore, error) {
	switch src.Engine {
	case SQLite:
		return openSQLite(src.Path)
	case Postgres:
		return openPostgres(ctx, src.URL)
	}
	return nil, fmt.Errorf("%w: engine %d", ErrBadDB, src.Engine)
}

// LoadOrCreateKey returns the auth server's libp2p host key stored in the
// database db (as ParseDB takes it), creating the database and an Ed25519
// key the first time, so the server's peer ID — which is also its
// ticket-signing identity — stays the same across restarts.
func LoadOrCreateKey(db string) (crypto.PrivKey, error) {
	src, err := ParseDB(db)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := openStore(ctx, src)
	if err != nil {
		return nil, err
	}
	defer st.close()
	raw, err := st.secret(ctx, secretHostKey, func() ([]byte, error) {
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

// sqlStore is the store over database/sql, for either engine: the
// statements are the same, the dialect says how each engine differs.
type sqlStore struct {
	db *sql.DB
	d  *dialect
	// q, when set, is what statements and transactions run on instead of
	// db: the connection transient pinned.
	q handle
}

// handle is a *sql.DB or a *sql.Conn.
type handle interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// lostDB reports whether err is the database being out of reach.
func (s *sqlStore) lostDB(err error) bool { return s.d.unreachable != nil && s.d.unreachable(err) }

// h is where the store's statements run.
func (s *sqlStore) h() handle {
	if s.q != nil {
		return s.q
	}
	return s.db
}

// transientExec runs one statement on the transient tables (see
// transient).
func (s *sqlStore) transientExec(ctx context.Context, query string, args ...any) error {
	return s.transient(ctx, func(s *sqlStore) error {
		_, err := s.c().ExecContext(ctx, query, args...)
		return err
	})
}

// transient runs fn, which writes only the transient tables (rate-limit
// attempts, the supernode registry), on a store that does not wait for
// the disk where the dialect allows (relaxSync): on SQLite, the store's
// one connection pinned for fn with PRAGMA synchronous = NORMAL — a WAL
// commit is then safe from a crash of the process but not of the machine,
// which is all counters that a restart may forget need — and FULL again
// after, so every other write stays durable against power loss. A login
// would otherwise wait for two more fsyncs (its attempt counted and given
// back). A connection whose FULL cannot be restored is dropped, and the
// next one opens with it.
func (s *sqlStore) transient(ctx context.Context, fn func(s *sqlStore) error) error {
	if !s.d.relaxSync || s.q != nil {
		return fn(s)
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("taking the connection: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return fmt.Errorf("relaxing sync: %w", err)
	}
	defer func() {
		if _, err := c.ExecContext(context.Background(), "PRAGMA synchronous = FULL"); err != nil {
			c.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(&sqlStore{db: s.db, d: s.d, q: c})
}

var _ store = (*sqlStore)(nil)

// dialect is what differs between the engines.
type dialect struct {
	engine Engine
	// dollar: placeholders are $1, $2… (PostgreSQL), not ?.
	dollar bool
	// txOptions begin every transaction.
	txOptions *sql.TxOptions
	// retry reports whether a transaction that failed with err may succeed
	// when run again (a serialization failure, a deadlock).
	retry func(err error) bool
	// unique reports whether err is a unique constraint's violation.
	unique func(err error) bool
	// serialQuery reads the revocation log's serial.
	serialQuery string
	// logRevocation appends an entry to the revocation log inside tx and
	// returns its serial.
	logRevocation func(ctx context.Context, tx conn, p peer.ID, horizon, revokedUnix int64) (int64, error)
	// limitTxOptions begin the transaction of an attempt (nil: txOptions),
	// and lockLimits, when set, runs first in it: together they say how
	// an attempt's count-then-insert is kept from interleaving with
	// another's (see postgresDialect).
	limitTxOptions *sql.TxOptions
	lockLimits     func(ctx context.Context, tx conn, keys []limitKey) error
	// unreachable reports whether err says the database could not be
	// reached (the connection refused, lost or timed out; the server
	// shutting down) rather than that a statement failed; nil: never.
	unreachable func(err error) bool
	// relaxSync: the engine can commit the transient tables' writes
	// without waiting for the disk (see sqlStore.transient).
	relaxSync bool
	// close closes the engine's handle.
	close func() error
}

// conn is a *sql.DB or *sql.Tx speaking the store's SQL: statements are
// written with ? placeholders and rewritten for the dialect.
type conn struct {
	q interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
	d *dialect
}

func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

// rebind rewrites query's ? placeholders as $1, $2… for PostgreSQL. The
// store's statements hold no ? inside a string literal.
func (d *dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		fmt.Fprintf(&b, "$%d", n)
	}
	return b.String()
}

// c is the store's database as a conn.
func (s *sqlStore) c() conn { return conn{q: s.h(), d: s.d} }

// tx runs fn in a transaction and commits it; fn's error is returned as it
// is, and a transaction the engine could not serialize with others is run
// again. fn must have no effect outside the transaction but its results.
func (s *sqlStore) tx(ctx context.Context, fn func(tx conn) error) error {
	return s.txWith(ctx, s.d.txOptions, fn)
}

// txWith is tx beginning the transaction with opts rather than the
// dialect's txOptions.
func (s *sqlStore) txWith(ctx context.Context, opts *sql.TxOptions, fn func(tx conn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1With(ctx, opts, fn)
		if err == nil || attempt == maxTxAttempts || s.d.retry == nil || !s.d.retry(err) {
			return err
		}
	}
}

func (s *sqlStore) tx1(ctx context.Context, fn func(tx conn) error) error {
	return s.tx1With(ctx, s.d.txOptions, fn)
}

func (s *sqlStore) tx1With(ctx context.Context, opts *sql.TxOptions, fn func(tx conn) error) error {
	tx, err := s.h().BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	// Rolls back on an error or a panic; after Commit it does nothing.
	defer tx.Rollback()
	if err := fn(conn{q: tx, d: s.d}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

func (s *sqlStore) close() error { return s.d.close() }

func (s *sqlStore) secret(ctx context.Context, name string, make func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := s.c().QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
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
	// Whoever stores one first wins; the others read it back.
	if _, err := s.c().ExecContext(ctx, "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING", name, fresh); err != nil {
		return nil, fmt.Errorf("storing secret %s: %w", name, err)
	}
	if err := s.c().QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", name, err)
	}
	return v, nil
}

func (s *sqlStore) accountRecord(ctx context.Context, username string) ([]byte, error) {
	var rec []byte
	err := s.c().QueryRowContext(ctx, "SELECT record FROM accounts WHERE username = ?", username).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading account %q: %w", username, err)
	}
	return rec, nil
}

func (s *sqlStore) accountExists(ctx context.Context, username string) (bool, error) {
	var yes bool
	if err := s.c().QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE username = ?)", username).Scan(&yes); err != nil {
		return false, fmt.Errorf("looking up account %q: %w", username, err)
	}
	return yes, nil
}

func (s *sqlStore) createAccount(ctx context.Context, username string, record []byte, createdUnix int64) error {
	_, err := s.c().ExecContext(ctx, "INSERT INTO accounts (username, record, created_unix) VALUES (?, ?, ?)",
		username, record, createdUnix)
	if err != nil && s.d.unique(err) {
		return errExists
	}
	if err != nil {
		return fmt.Errorf("creating account %q: %w", username, err)
	}
	return nil
}

func (s *sqlStore) countAccounts(ctx context.Context) (int, error) {
	var n int
	if err := s.c().QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting accounts: %w", err)
	}
	return n, nil
}

func (s *sqlStore) updateRecord(ctx context.Context, username string, record, sealed []byte) error {
	err := s.tx(ctx, func(tx conn) error {
		var hasIdentity bool
		err := tx.QueryRowContext(ctx, "SELECT account_key IS NOT NULL FROM accounts WHERE username = ?", username).Scan(&hasIdentity)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoAccount
		}
		if err != nil {
			return err
		}
		if hasIdentity && len(sealed) == 0 {
			return errNeedSealed
		}
		var seal []byte // nil: keeps the sealed key NULL while there is no identity
		if hasIdentity {
			seal = sealed
		}
		_, err = tx.ExecContext(ctx, "UPDATE accounts SET record = ?, account_key_sealed = coalesce(?, account_key_sealed) WHERE username = ?",
			record, seal, username)
		return err
	})
	switch {
	case errors.Is(err, errNeedSealed):
		return err
	case err != nil:
		return fmt.Errorf("updating record of %q: %w", username, err)
	}
	return nil
}

func (s *sqlStore) peerRevoked(ctx context.Context, p peer.ID) (bool, error) {
	return peerRevoked(ctx, s.c(), p)
}

// peerRevoked reports whether p was ever revoked, by any account, as q
// (the store, or one of its transactions) sees it.
func peerRevoked(ctx context.Context, q conn, p peer.ID) (bool, error) {
	var yes bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE peer_id = ? AND revoked_unix IS NOT NULL)", []byte(p)).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("checking revocation of %s: %w", p, err)
	}
	return yes, nil
}

// isDevice reports whether p is a device of username that was not revoked:
// a peer that got a ticket for the account (or presented one, see
// learnDevice). A stream from p is authenticated by p's key, so a stranger
// cannot pass for one.
func (s *sqlStore) isDevice(ctx context.Context, username string, p peer.ID) (bool, error) {
	var yes bool
	err := s.c().QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM devices d JOIN accounts a ON a.id = d.account_id
		WHERE a.username = ? AND d.peer_id = ? AND d.revoked_unix IS NULL)`, username, []byte(p)).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("looking up device %s of %q: %w", p, username, err)
	}
	return yes, nil
}

// recordIssue records, before t is signed, that t is being issued: the
// device row is created or refreshed (name, last seen, latest expiry). It
// fails with errRevoked if t's peer was ever revoked, errNoAccount if the
// account is gone, and errTooManyDevices if t's device holds no live ticket
// while maxDevices others do (maxDevices 0: no cap). Counting live tickets,
// not rows, means a device left switched off stops counting a day after
// its last ticket, so a user whose old computers are gone is never stuck.
// It returns when the account was registered (accounts.created_unix, set
// by the server's clock at registration), read in the same transaction, for
// the ticket to carry: from the store at every issue, so a renewal keeps
// the account's age without trusting the ticket it renews; and the
// account's identity (nil when it has none), for the login result.
func (s *sqlStore) recordIssue(ctx context.Context, t ticket.Ticket, maxDevices int) (accountCreated time.Time, id *identity, err error) {
	var created int64
	err = s.tx(ctx, func(tx conn) error {
		revoked, err := peerRevoked(ctx, tx, t.Peer)
		if err != nil {
			return err
		}
		if revoked {
			return errRevoked
		}
		if maxDevices > 0 {
			var self bool // t's device holds a live ticket already
			var others int
			err := tx.QueryRowContext(ctx, `
				SELECT count(*) FILTER (WHERE d.peer_id = ?) > 0, count(*) FILTER (WHERE d.peer_id <> ?)
				FROM devices d JOIN accounts a ON a.id = d.account_id
				WHERE a.username = ? AND d.revoked_unix IS NULL AND d.expiry_unix > ?`,
				[]byte(t.Peer), []byte(t.Peer), t.Username, t.Issued.Unix()).Scan(&self, &others)
			if err != nil {
				return fmt.Errorf("counting devices of %q: %w", t.Username, err)
			}
			if !self && others >= maxDevices {
				return errTooManyDevices
			}
		}
		// The SELECT's WHERE clause also keeps SQLite from parsing ON
		// CONFLICT as a join constraint.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix)
			SELECT id, ?, ?, ?, ?, ? FROM accounts WHERE username = ?
			ON CONFLICT (account_id, peer_id) DO UPDATE SET
				name = excluded.name,
				last_unix = excluded.last_unix,
				expiry_unix = CASE WHEN excluded.expiry_unix > devices.expiry_unix
					THEN excluded.expiry_unix ELSE devices.expiry_unix END`,
			[]byte(t.Peer), t.Device, t.Issued.Unix(), t.Issued.Unix(), t.Expiry.Unix(), t.Username)
		if err != nil {
			return fmt.Errorf("recording device %s of %q: %w", t.Peer, t.Username, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoAccount
		}
		if err := tx.QueryRowContext(ctx, "SELECT created_unix FROM accounts WHERE username = ?", t.Username).Scan(&created); err != nil {
			return fmt.Errorf("reading when %q was created: %w", t.Username, err)
		}
		id, err = accountIdentity(ctx, tx, t.Username)
		return err
	})
	switch {
	case errors.Is(err, errRevoked), errors.Is(err, errTooManyDevices), errors.Is(err, errNoAccount):
		return time.Time{}, nil, err
	case err != nil:
		return time.Time{}, nil, fmt.Errorf("recording device: %w", err)
	}
	return time.Unix(created, 0), id, nil
}

// learnDevice records the device of a presented ticket t if it has no row
// yet: a device that signed in before devices were recorded. Which tickets
// it got then is unknown, so its expiry is set to the latest any ticket
// issued up to now can have.
func (s *sqlStore) learnDevice(ctx context.Context, t *ticket.Ticket, now time.Time) error {
	expiry := t.Expiry
	if e := now.Add(wire.TicketLifetime); e.After(expiry) {
		expiry = e
	}
	_, err := s.c().ExecContext(ctx, `
		INSERT INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix)
		SELECT id, ?, ?, ?, ?, ? FROM accounts WHERE username = ?
		ON CONFLICT DO NOTHING`,
		[]byte(t.Peer), t.Device, t.Issued.Unix(), t.Issued.Unix(), expiry.Unix(), t.Username)
	if err != nil {
		return fmt.Errorf("recording device %s of %q: %w", t.Peer, t.Username, err)
	}
	return nil
}

func (s *sqlStore) listDevices(ctx context.Context, username string, limit int) ([]deviceRow, int, error) {
	var total int
	if err := s.c().QueryRowContext(ctx, `
		SELECT count(*) FROM devices d JOIN accounts a ON a.id = d.account_id WHERE a.username = ?`,
		username).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting devices of %q: %w", username, err)
	}
	rows, err := s.c().QueryContext(ctx, `
		SELECT d.peer_id, d.name, d.first_unix, d.last_unix, coalesce(d.revoked_unix, 0)
		FROM devices d JOIN accounts a ON a.id = d.account_id
		WHERE a.username = ?
		ORDER BY d.last_unix DESC, d.peer_id
		LIMIT ?`, username, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
	}
	defer rows.Close()
	var out []deviceRow
	for rows.Next() {
		var r deviceRow
		var raw []byte
		if err := rows.Scan(&raw, &r.name, &r.first, &r.last, &r.revokedUnix); err != nil {
			return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
		}
		r.peer = peer.ID(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
	}
	return out, total, nil
}

// revokeDevice revokes target, which must be a device of username
// (errUnknownDevice otherwise). The horizon is the latest expiry of any
// ticket issued to target (under any account), and never earlier than a
// role-supernode ticket signed at now would expire: heartbeats are refused
// from now on, but one may be in flight. Revoking a revoked device changes
// nothing and returns already=true.
func (s *sqlStore) revokeDevice(ctx context.Context, username string, target peer.ID, now time.Time) (r revocation, already bool, err error) {
	err = s.tx(ctx, func(tx conn) error {
		r, already = revocation{}, false
		var revokedUnix sql.NullInt64
		err := tx.QueryRowContext(ctx, `
			SELECT d.revoked_unix FROM devices d JOIN accounts a ON a.id = d.account_id
			WHERE a.username = ? AND d.peer_id = ?`, username, []byte(target)).Scan(&revokedUnix)
		if errors.Is(err, sql.ErrNoRows) {
			return errUnknownDevice
		}
		if err != nil {
			return err
		}
		if revokedUnix.Valid {
			already = true
			return nil
		}
		var expiry int64
		if err := tx.QueryRowContext(ctx, "SELECT max(expiry_unix) FROM devices WHERE peer_id = ?", []byte(target)).Scan(&expiry); err != nil {
			return err
		}
		// The horizon is when nothing signed under the device's tickets can
		// be presented any more: a ticket until its expiry, and mail left
		// under one until wire.MailTTL after that. Until then every node and
		// supernode must remember the revocation, or mail a thief left with
		// a revoked device's last ticket would pass once the entry was
		// forgotten.
		horizon := max(expiry, now.Add(wire.SupernodeTicketLifetime).Unix()) + int64(wire.MailTTL/time.Second)
		// The ban is of the peer ID: every account's row of it says so.
		if _, err := tx.ExecContext(ctx, "UPDATE devices SET revoked_unix = ? WHERE peer_id = ? AND revoked_unix IS NULL",
			now.Unix(), []byte(target)); err != nil {
			return err
		}
		serial, err := s.d.logRevocation(ctx, tx, target, horizon, now.Unix())
		if err != nil {
			return fmt.Errorf("logging: %w", err)
		}
		r = revocation{serial: uint64(serial), peer: target, horizon: horizon}
		return nil
	})
	switch {
	case errors.Is(err, errUnknownDevice):
		return revocation{}, false, err
	case err != nil:
		return revocation{}, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	return r, already, nil
}

func (s *sqlStore) revocationSerial(ctx context.Context) (uint64, error) {
	var serial int64
	if err := s.h().QueryRowContext(ctx, s.d.serialQuery).Scan(&serial); err != nil {
		return 0, fmt.Errorf("reading revocation serial: %w", err)
	}
	return uint64(serial), nil
}

func (s *sqlStore) revocationsAfter(ctx context.Context, since, upto uint64, limit int) ([]revocation, bool, error) {
	rows, err := s.c().QueryContext(ctx, `
		SELECT serial, peer_id, horizon_unix FROM revocations
		WHERE serial > ? AND serial <= ? ORDER BY serial LIMIT ?`, int64(since), int64(min(upto, 1<<62)), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("reading revocations: %w", err)
	}
	defer rows.Close()
	var out []revocation
	for rows.Next() {
		var r revocation
		var raw []byte
		var serial int64
		if err := rows.Scan(&serial, &raw, &r.horizon); err != nil {
			return nil, false, fmt.Errorf("reading revocations: %w", err)
		}
		r.serial, r.peer = uint64(serial), peer.ID(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading revocations: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *sqlStore) pruneRevocations(ctx context.Context, cutoff time.Time) error {
	if _, err := s.c().ExecContext(ctx, "DELETE FROM revocations WHERE horizon_unix < ?", cutoff.Unix()); err != nil {
		return fmt.Errorf("pruning revocations: %w", err)
	}
	return nil
}

func (s *sqlStore) accountIdentity(ctx context.Context, username string) (*identity, error) {
	return accountIdentity(ctx, s.c(), username)
}

// accountIdentity is username's identity as q (the store, or one of its
// transactions) sees it.
func accountIdentity(ctx context.Context, q conn, username string) (*identity, error) {
	var key, sealed, devices []byte
	var version int64
	err := q.QueryRowContext(ctx, `
		SELECT account_key, account_key_sealed, account_devices, account_devices_version
		FROM accounts WHERE username = ?`, username).Scan(&key, &sealed, &devices, &version)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && key == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the identity of %q: %w", username, err)
	}
	var sd wire.SignedAccountDevices
	if err := proto.Unmarshal(devices, &sd); err != nil {
		return nil, fmt.Errorf("reading the device list of %q: %w", username, err)
	}
	return &identity{key: key, sealed: sealed, devices: &sd, version: uint64(version)}, nil
}

// publishDevices stores d (verified, of an existing account) as its
// account's device list, and sealed with it when the account has no
// identity yet: in one transaction that first checks that no listed device
// was ever revoked (errListedRevoked), so a revocation committed before is
// always seen, and that a first identity comes with its sealed key
// (errNeedSealed). It returns what is stored afterwards.
func (s *sqlStore) publishDevices(ctx context.Context, d *ticket.Devices, sealed []byte) (*identity, publishOutcome, error) {
	raw, err := proto.Marshal(d.Signed)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding the device list of %q: %w", d.Username, err)
	}
	var (
		stored  *identity
		outcome publishOutcome
	)
	err = s.tx(ctx, func(tx conn) error {
		for _, dv := range d.Devices {
			revoked, err := peerRevoked(ctx, tx, dv.Peer)
			if err != nil {
				return err
			}
			if revoked {
				return fmt.Errorf("%w: %s", errListedRevoked, dv.Peer)
			}
		}
		cur, err := accountIdentity(ctx, tx, d.Username)
		if err != nil {
			return err
		}
		var res sql.Result
		switch {
		case cur == nil:
			if len(sealed) == 0 {
				return errNeedSealed
			}
			res, err = tx.ExecContext(ctx, `
				UPDATE accounts SET account_key = ?, account_key_sealed = ?, account_devices = ?, account_devices_version = ?
				WHERE username = ? AND account_key IS NULL`,
				[]byte(d.AccountKey), sealed, raw, int64(d.Version), d.Username)
		case !bytes.Equal(cur.key, d.AccountKey):
			stored, outcome = cur, stale
			return nil
		case d.Version <= cur.version:
			stored, outcome = cur, stale
			if bytes.Equal(cur.devices.GetDevices(), d.Signed.GetDevices()) && bytes.Equal(cur.devices.GetSignature(), d.Signed.GetSignature()) {
				outcome = unchanged
			}
			return nil
		default:
			res, err = tx.ExecContext(ctx, `
				UPDATE accounts SET account_devices = ?, account_devices_version = ?
				WHERE username = ? AND account_key = ? AND account_devices_version < ?`,
				raw, int64(d.Version), d.Username, []byte(d.AccountKey), int64(d.Version))
		}
		if err != nil {
			return err
		}
		// The transaction sees no other's writes (SQLite: one at a time;
		// PostgreSQL: serializable), so the row is as read above; the WHERE
		// clauses restate the conditions all the same.
		if n, _ := res.RowsAffected(); n != 1 {
			return errNoAccount
		}
		stored, outcome = nil, published
		stored, err = accountIdentity(ctx, tx, d.Username)
		return err
	})
	switch {
	case errors.Is(err, errListedRevoked), errors.Is(err, errNeedSealed):
		return nil, 0, err
	case err != nil:
		return nil, 0, fmt.Errorf("publishing devices of %q: %w", d.Username, err)
	}
	return stored, outcome, nil
}

// attempt: see store.attempt. An attempt's row counts while its at_ns is
// after now minus the window: the same instant the in-memory limiter let a
// failure age out at, to the nanosecond.
func (s *sqlStore) attempt(ctx context.Context, now time.Time, keys ...limitKey) (*limitKey, error) {
	var full *limitKey
	err := s.limitTx(ctx, keys, func(tx conn) error {
		full = nil
		for i, k := range keys {
			var n int
			if err := tx.QueryRowContext(ctx, `
				SELECT count(*) FROM limit_attempts WHERE bucket = ? AND limit_key = ? AND at_ns > ?`,
				k.bucket, []byte(k.key), now.Add(-k.window).UnixNano()).Scan(&n); err != nil {
				return fmt.Errorf("counting %s attempts: %w", k.bucket, err)
			}
			if n >= k.max {
				full = &keys[i]
				return nil
			}
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, "INSERT INTO limit_attempts (bucket, limit_key, at_ns, until_ns) VALUES (?, ?, ?, ?)",
				k.bucket, []byte(k.key), now.UnixNano(), now.Add(k.window).UnixNano()); err != nil {
				return fmt.Errorf("counting a %s attempt: %w", k.bucket, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return full, nil
}

// limitTx runs fn in a transaction of the rate limits on keys: see the
// dialect's limitTxOptions and lockLimits.
func (s *sqlStore) limitTx(ctx context.Context, keys []limitKey, fn func(tx conn) error) error {
	opts := s.d.limitTxOptions
	if opts == nil {
		opts = s.d.txOptions
	}
	return s.transient(ctx, func(s *sqlStore) error {
		return s.txWith(ctx, opts, func(tx conn) error {
			if s.d.lockLimits != nil {
				if err := s.d.lockLimits(ctx, tx, keys); err != nil {
					return fmt.Errorf("locking the limits: %w", err)
				}
			}
			return fn(tx)
		})
	})
}

// forget takes its keys' locks too: two forgets racing at READ COMMITTED
// would both pick the same newest row, and one would delete nothing.
func (s *sqlStore) forget(ctx context.Context, keys ...limitKey) error {
	err := s.limitTx(ctx, keys, func(tx conn) error {
		for _, k := range keys {
			// The newest by time, then by insertion: attempts at one
			// instant (a clock's tick) are told apart by id.
			if _, err := tx.ExecContext(ctx, `
				DELETE FROM limit_attempts WHERE id = (
					SELECT id FROM limit_attempts WHERE bucket = ? AND limit_key = ?
					ORDER BY at_ns DESC, id DESC LIMIT 1)`, k.bucket, []byte(k.key)); err != nil {
				return fmt.Errorf("forgetting a %s attempt: %w", k.bucket, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	return nil
}

func (s *sqlStore) pruneAttempts(ctx context.Context, now time.Time) error {
	if err := s.transientExec(ctx, "DELETE FROM limit_attempts WHERE until_ns <= ?", now.UnixNano()); err != nil {
		return fmt.Errorf("pruning rate-limit attempts: %w", err)
	}
	return nil
}

// beat: see store.beat. Only a supernode not live before is counted
// against the caps, so the common heartbeat — a live supernode refreshing
// its row — reads and writes its own row alone, and heartbeats of
// different supernodes never conflict on PostgreSQL.
func (s *sqlStore) beat(ctx context.Context, r snRow, since time.Time, maxTotal, maxPerUser int, ticketFor func(old *snRow) ([]byte, error)) ([]byte, bool, error) {
	var (
		tk    []byte
		added bool
	)
	err := s.transient(ctx, func(s *sqlStore) error {
		return s.tx(ctx, func(tx conn) error {
			var old snRow
			var last int64
			err := tx.QueryRowContext(ctx, "SELECT username, record, ticket, last_ns FROM supernodes WHERE peer_id = ?",
				[]byte(r.peer)).Scan(&old.username, &old.record, &old.ticket, &last)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("reading the registry: %w", err)
			}
			live := err == nil && last > since.UnixNano()
			var prev *snRow
			if live {
				old.peer, old.last = r.peer, time.Unix(0, last)
				prev = &old
			} else {
				var total, mine int
				if err := tx.QueryRowContext(ctx, `
				SELECT count(*), count(*) FILTER (WHERE username = ?) FROM supernodes WHERE last_ns > ?`,
					r.username, since.UnixNano()).Scan(&total, &mine); err != nil {
					return fmt.Errorf("counting supernodes: %w", err)
				}
				if total >= maxTotal {
					return errRegistryFull
				}
				if mine >= maxPerUser {
					return errOperatorFull
				}
			}
			if tk, err = ticketFor(prev); err != nil {
				return err
			}
			added = !live
			_, err = tx.ExecContext(ctx, `
			INSERT INTO supernodes (peer_id, username, record, ticket, last_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (peer_id) DO UPDATE SET
				username = excluded.username, record = excluded.record,
				ticket = excluded.ticket, last_ns = excluded.last_ns`,
				[]byte(r.peer), r.username, r.record, tk, r.last.UnixNano())
			if err != nil {
				return fmt.Errorf("recording the heartbeat: %w", err)
			}
			return nil
		})
	})
	switch {
	case errors.Is(err, errRegistryFull), errors.Is(err, errOperatorFull):
		return nil, false, err
	case err != nil:
		return nil, false, fmt.Errorf("heartbeat of %s: %w", r.peer, err)
	}
	return tk, added, nil
}

// liveSupernodes: a supernode whose device was revoked between heartbeats
// is left out (its heartbeats are refused from then on), whichever replica
// revoked it.
func (s *sqlStore) liveSupernodes(ctx context.Context, since time.Time, take func(snRow) bool) error {
	rows, err := s.c().QueryContext(ctx, `
		SELECT s.peer_id, s.username, s.record, s.ticket, s.last_ns FROM supernodes s
		WHERE s.last_ns > ? AND NOT EXISTS (
			SELECT 1 FROM devices d WHERE d.peer_id = s.peer_id AND d.revoked_unix IS NOT NULL)
		ORDER BY s.peer_id`, since.UnixNano())
	if err != nil {
		return fmt.Errorf("listing supernodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r snRow
		var raw []byte
		var last int64
		if err := rows.Scan(&raw, &r.username, &r.record, &r.ticket, &last); err != nil {
			return fmt.Errorf("listing supernodes: %w", err)
		}
		r.peer, r.last = peer.ID(raw), time.Unix(0, last)
		if !take(r) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing supernodes: %w", err)
	}
	return nil
}

func (s *sqlStore) countSupernodes(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.c().QueryRowContext(ctx, "SELECT count(*) FROM supernodes WHERE last_ns > ?", since.UnixNano()).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting supernodes: %w", err)
	}
	return n, nil
}

func (s *sqlStore) dropSupernode(ctx context.Context, p peer.ID) error {
	if err := s.transientExec(ctx, "DELETE FROM supernodes WHERE peer_id = ?", []byte(p)); err != nil {
		return fmt.Errorf("dropping supernode %s: %w", p, err)
	}
	return nil
}

func (s *sqlStore) sweepSupernodes(ctx context.Context, since time.Time) error {
	if err := s.transientExec(ctx, "DELETE FROM supernodes WHERE last_ns <= ?", since.UnixNano()); err != nil {
		return fmt.Errorf("sweeping the registry: %w", err)
	}
	return nil
}

// checkReplica checks r against the bounds of the replicas table: an ID of
// 1 to maxReplicaID bytes, 1 to MaxAddrsPerReplica addresses of 1 to
// wire.MaxReplicaAddrLen bytes without a line break (the column holds them
// one per line), and an expiry after the heartbeat.
func checkReplica(r replicaRow) error {
	switch {
	case r.id == "" || len(r.id) > maxReplicaID:
		return fmt.Errorf("%w: ID of %d bytes (1 to %d)", errBadReplica, len(r.id), maxReplicaID)
	case len(r.addrs) == 0 || len(r.addrs) > MaxAddrsPerReplica:
		return fmt.Errorf("%w: %d addresses (1 to %d)", errBadReplica, len(r.addrs), MaxAddrsPerReplica)
	case !r.expires.After(r.heartbeat):
		return fmt.Errorf("%w: expires at %v, not after its heartbeat at %v", errBadReplica, r.expires, r.heartbeat)
	}
	for _, a := range r.addrs {
		if a == "" || len(a) > wire.MaxReplicaAddrLen || strings.ContainsAny(a, "\r\n") {
			return fmt.Errorf("%w: address %.40q: empty, over %d bytes or with a line break", errBadReplica, a, wire.MaxReplicaAddrLen)
		}
	}
	return nil
}

func (s *sqlStore) heartbeatReplica(ctx context.Context, r replicaRow) error {
	if err := checkReplica(r); err != nil {
		return err
	}
	_, err := s.c().ExecContext(ctx, `
		INSERT INTO replicas (id, addrs, started_ms, heartbeat_ms, expires_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			addrs = excluded.addrs,
			heartbeat_ms = excluded.heartbeat_ms,
			expires_ms = excluded.expires_ms`,
		r.id, strings.Join(r.addrs, "\n"), r.started.UnixMilli(), r.heartbeat.UnixMilli(), r.expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("heartbeat of replica %s: %w", r.id, err)
	}
	return nil
}

func (s *sqlStore) liveReplicas(ctx context.Context, now time.Time, limit int) ([]replicaRow, error) {
	rows, err := s.c().QueryContext(ctx, `
		SELECT id, addrs, started_ms, heartbeat_ms, expires_ms FROM replicas
		WHERE expires_ms > ? ORDER BY id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("listing replicas: %w", err)
	}
	defer rows.Close()
	var out []replicaRow
	for rows.Next() {
		var r replicaRow
		var addrs string
		var started, heartbeat, expires int64
		if err := rows.Scan(&r.id, &addrs, &started, &heartbeat, &expires); err != nil {
			return nil, fmt.Errorf("listing replicas: %w", err)
		}
		r.addrs = strings.FieldsFunc(addrs, func(c rune) bool { return c == '\n' })
		r.started, r.heartbeat, r.expires = time.UnixMilli(started), time.UnixMilli(heartbeat), time.UnixMilli(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing replicas: %w", err)
	}
	return out, nil
}

func (s *sqlStore) removeReplica(ctx context.Context, id string) error {
	if _, err := s.c().ExecContext(ctx, "DELETE FROM replicas WHERE id = ?", id); err != nil {
		return fmt.Errorf("removing replica %s: %w", id, err)
	}
	return nil
}

func (s *sqlStore) pruneReplicas(ctx context.Context, cutoff time.Time) error {
	if _, err := s.c().ExecContext(ctx, "DELETE FROM replicas WHERE expires_ms < ?", cutoff.UnixMilli()); err != nil {
		return fmt.Errorf("pruning replicas: %w", err)
	}
	return nil
}
