package authserver

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libp2p/go-libp2p/core/host"
	"google.golang.org/protobuf/proto"

	"eserver/internal/pgtest"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/sqlite"
)

// oldNetwork is a SQLite auth database a real server made: alice, bob and
// carol registered (passwords "pw-"+user); alice on her laptop and phone,
// the phone revoked; bob on his computer; alice's account identity
// published from the laptop. The server is still running on it.
type oldNetwork struct {
	f                       *fixture
	laptop, phone, bobs     host.Host
	laptopTicket, bobTicket *wire.SignedTicket
	identity                *wire.AccountIdentity // alice's, as stored
	revocations             *ticket.RevocationList
}

func newNetwork(t *testing.T, clk *clock) *oldNetwork {
	t.Helper()
	n := &oldNetwork{f: start(t, "", clk), laptop: newClient(t), phone: newClient(t), bobs: newClient(t)}
	for _, u := range []string{"alice", "bob", "carol"} {
		if got := register(t, n.laptop, n.f, u, "pw-"+u); got != "" {
			t.Fatalf("register %s: %q", u, got)
		}
	}
	n.laptopTicket = loginBox(t, n.laptop, n.f, "alice", boxKey(1)).Ticket
	clk.Advance(time.Minute)
	loginBox(t, n.phone, n.f, "alice", boxKey(2))
	n.bobTicket = loginBox(t, n.bobs, n.f, "bob", boxKey(3)).Ticket
	if got := revokeWith(t, n.laptop, n.f, n.laptopTicket, n.phone.ID(), "alice", []byte("pw-alice")); got != "" {
		t.Fatalf("revoke: %q", got)
	}
	list := signList(t, newAccountKey(t), "alice", 1, ticket.Device{Peer: n.laptop.ID(), BoxKey: boxKey(1)})
	if r := ask(t, n.laptop, n.f, publishReq(n.laptopTicket, list, []byte("sealed by alice"))); r.GetAccountIdentity() == nil {
		t.Fatalf("publish: %q", errCode(r))
	}
	n.identity = storedIdentity(t, n.f, "alice")
	n.revocations = verifiedRevocations(t, n.f, 0)
	return n
}

// dumpTables reads every table the copy carries, each row as text, sorted:
// two databases with equal dumps hold the same rows, byte for byte.
func dumpTables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range copiedTables {
		names := make([]string, len(tb.cols))
		for i, c := range tb.cols {
			names[i] = c.name
		}
		rows, err := db.Query("SELECT " + strings.Join(names, ", ") + " FROM " + tb.name)
		if err != nil {
			t.Fatalf("dumping %s: %v", tb.name, err)
		}
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&b, "%s=x'%s' ", names[i], hex.EncodeToString(v))
				default:
					fmt.Fprintf(&b, "%s=%v ", names[i], v)
				}
			}
			out[tb.name] = append(out[tb.name], b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(out[tb.name])
	}
	return out
}

// openSQL opens a database/sql handle on db (as ParseDB takes it) without
// migrating it, for a test to look at.
func openSQL(t *testing.T, db string) *sql.DB {
	t.Helper()
	src, err := ParseDB(db)
	if err != nil {
		t.Fatal(err)
	}
	var h *sql.DB
	if src.Engine == Postgres {
		cfg, err := pgConfig(src.URL)
		if err != nil {
			t.Fatal(err)
		}
		h = stdlib.OpenDB(*cfg)
	} else {
		r, err := sqlite.OpenReadOnly(src.Path)
		if err != nil {
			t.Fatal(err)
		}
		h = r.DB
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// pgTables lists the tables of the PostgreSQL database at url.
func pgTables(t *testing.T, url string) []string {
	t.Helper()
	rows, err := openSQL(t, url).Query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// assertEmpty fails unless the PostgreSQL database at url holds nothing the
// copy writes: no secret, account, device or revocation, serial 0.
func assertEmpty(t *testing.T, url string) {
	t.Helper()
	db := openSQL(t, url)
	for tb, rows := range dumpTables(t, db) {
		if len(rows) != 0 {
			t.Fatalf("%s holds %d rows after a failed copy: %q", tb, len(rows), rows)
		}
	}
	var serial int64
	if err := db.QueryRow("SELECT serial FROM revocation_serial").Scan(&serial); err != nil || serial != 0 {
		t.Fatalf("revocation serial %d, %v; want 0", serial, err)
	}
}

// TestMigrate: a live network's SQLite database copied into PostgreSQL,
// byte for byte; a server on the copy has the same identity and logs the
// old accounts in with their old passwords, lists their devices, refuses
// the revoked one, serves the same revocation log and carries on its
// serials, honours tickets the old server signed, and gives a new account
// a fresh id.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	n := newNetwork(t, clk)
	url := sharedPG(t).CreateDB(t)

	// While the old server still runs, and writes half way through the
	// copy: the copy is of the database as it was when the copy began.
	before := dumpTables(t, openSQL(t, n.f.db))
	revokeBob := func() {
		if _, _, err := n.f.srv.store.revokeDevice(ctx, "bob", n.bobs.ID(), clk.Now()); err != nil {
			t.Error(err)
		}
	}
	stats, err := Migrate(ctx, n.f.db, url, slog.New(&onCopied{Handler: slog.DiscardHandler, table: "accounts", fn: revokeBob}))
	if err != nil {
		t.Fatal(err)
	}
	got := stats
	got.Took = 0
	if want := (MigrateStats{Secrets: 2, Accounts: 3, Devices: 3, Revocations: 1, Serial: 1}); got != want || stats.Took <= 0 {
		t.Fatalf("stats %+v, want %+v and the time it took", stats, want)
	}
	pg := dumpTables(t, openSQL(t, url))
	for _, tb := range copiedTables {
		if !slices.Equal(before[tb.name], pg[tb.name]) || len(before[tb.name]) == 0 {
			t.Errorf("%s:\nsqlite   %q\npostgres %q", tb.name, before[tb.name], pg[tb.name])
		}
	}
	if after := dumpTables(t, openSQL(t, n.f.db)); slices.Equal(after["revocations"], before["revocations"]) {
		t.Fatal("the revocation during the copy did not happen")
	}
	n.f.stop()

	g := start(t, url, clk)
	if g.info.ID != n.f.info.ID {
		t.Fatalf("the server on the copy is %s, the old one %s: the host key was not carried", g.info.ID, n.f.info.ID)
	}
	// Old passwords, through the carried OPAQUE keys and records; alice's
	// identity comes with her login.
	lr := loginBox(t, n.laptop, g, "alice", boxKey(1))
	if !proto.Equal(lr.Account, n.identity) {
		t.Fatalf("alice's identity after the copy: %v, want %v", lr.Account, n.identity)
	}
	devs := devicesOf(t, n.laptop, g, lr.Ticket)
	if len(devs) != 2 || devs[n.laptop.ID()] == nil || devs[n.phone.ID()].GetRevokedUnix() == 0 {
		t.Fatalf("alice's devices after the copy: %v", devs)
	}
	if code, _ := login(t, n.phone, g, "alice", []byte("pw-alice")); code != CodeDeviceRevoked {
		t.Fatalf("the revoked phone logs in after the copy: %q", code)
	}
	if code, _ := login(t, n.bobs, g, "carol", nil); code != CodeLoginFailed {
		t.Fatalf("carol without her password: %q", code)
	}
	if code, _ := login(t, n.bobs, g, "carol", []byte("pw-carol")); code != "" {
		t.Fatalf("carol: %q", code)
	}
	if _, err := g.srv.tickets.Authenticate(n.bobs.ID(), n.bobTicket); err != nil {
		t.Fatalf("bob's ticket from the old server: %v", err)
	}
	sameEntry := func(a, b ticket.Revocation) bool {
		return a.Serial == b.Serial && a.Peer == b.Peer && a.Horizon.Equal(b.Horizon)
	}
	if l := verifiedRevocations(t, g, 0); l.Serial != n.revocations.Serial || !slices.EqualFunc(l.Entries, n.revocations.Entries, sameEntry) {
		t.Fatalf("revocation log after the copy: %+v, want %+v", l, n.revocations)
	}
	// The next revocation takes the next serial (bob's revocation at the
	// old server came after the copy began, and stayed behind); a new
	// account takes the next id.
	if got := revokeWith(t, n.bobs, g, n.bobTicket, n.bobs.ID(), "bob", []byte("pw-bob")); got != "" {
		t.Fatalf("revoke on the copy: %q", got)
	}
	if l := verifiedRevocations(t, g, n.revocations.Serial); l.Serial != 2 || len(l.Entries) != 1 || l.Entries[0].Serial != 2 {
		t.Fatalf("the first revocation on the copy: %+v", l)
	}
	if got := register(t, n.laptop, g, "dave", "pw-dave"); got != "" {
		t.Fatalf("register on the copy: %q", got)
	}
	var maxOld, dave int64
	db := openSQL(t, url)
	if err := db.QueryRow("SELECT max(id) FROM accounts WHERE username <> 'dave'").Scan(&maxOld); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT id FROM accounts WHERE username = 'dave'").Scan(&dave); err != nil || dave <= maxOld {
		t.Fatalf("dave has id %d (%v), the old accounts up to %d", dave, err, maxOld)
	}
}

// TestMigrateRefusals: what cannot be copied is refused with a clear error
// before anything is written: a destination that already holds data (a
// server ran on it, or it was copied into already), a source at another
// schema version, a source that is not an auth database, databases of the
// wrong engine.
func TestMigrateRefusals(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	// A small source every case may copy: a server's keys and alice.
	source := oldDatabase(t, 0)
	tests := []struct {
		name string
		// setup returns the source and destination (an empty PostgreSQL
		// database is url).
		setup   func(t *testing.T, url string) (from, to string)
		err     error  // what the error wraps
		errPart string // what it says
	}{
		{"copied already", func(t *testing.T, url string) (string, string) {
			if _, err := Migrate(ctx, source, url, quiet); err != nil {
				t.Fatal(err)
			}
			return source, url
		}, ErrNotEmpty, "holds 1 account"},
		{"a server ran on it", func(t *testing.T, url string) (string, string) {
			f := start(t, url, &clock{t: time.Now()})
			if got := register(t, newClient(t), f, "zoe", "pw"); got != "" {
				t.Fatal(got)
			}
			f.stop()
			return source, url
		}, ErrNotEmpty, "holds 1 account"},
		{"a server started on it, no account yet", func(t *testing.T, url string) (string, string) {
			if _, err := LoadOrCreateKey(url); err != nil {
				t.Fatal(err)
			}
			return source, url
		}, ErrNotEmpty, "1 secret"},
		{"source at an old schema version", func(t *testing.T, url string) (string, string) {
			return oldDatabase(t, 2), url
		}, ErrSourceSchema, "upgrade it first by starting the server on it once"},
		{"source from a newer program", func(t *testing.T, url string) (string, string) {
			path := oldDatabase(t, 0)
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
				t.Fatal(err)
			}
			return path, url
		}, ErrSourceSchema, "newer than this program's"},
		{"source not an auth database", func(t *testing.T, url string) (string, string) {
			path := filepath.Join(t.TempDir(), "other.db")
			db, err := sqlite.Open(path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
				t.Fatal(err)
			}
			return path, url
		}, ErrSourceSchema, "no accounts table"},
		{"no source file", func(t *testing.T, url string) (string, string) {
			return filepath.Join(t.TempDir(), "none.db"), url
		}, nil, "no such file"},
		{"source on PostgreSQL", func(t *testing.T, url string) (string, string) {
			return url, url
		}, ErrBadDB, "the source must be a SQLite file"},
		{"destination a SQLite file", func(t *testing.T, url string) (string, string) {
			return source, filepath.Join(t.TempDir(), "to.db")
		}, ErrBadDB, "the destination must be a postgres:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := sharedPG(t).CreateDB(t)
			from, to := tt.setup(t, url)
			tablesBefore := pgTables(t, url)
			var before map[string][]string
			if len(tablesBefore) > 0 {
				before = dumpTables(t, openSQL(t, url))
			}
			_, err := Migrate(ctx, from, to, quiet)
			t.Logf("refused: %v", err)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("error %v; want one wrapping %v saying %q", err, tt.err, tt.errPart)
			}
			if after := pgTables(t, url); !slices.Equal(after, tablesBefore) {
				t.Fatalf("tables %v before, %v after the refusal", tablesBefore, after)
			}
			if len(tablesBefore) > 0 {
				if after := dumpTables(t, openSQL(t, url)); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("the refusal changed the destination:\nbefore %v\nafter  %v", before, after)
				}
			}
		})
	}
}

// onCopied is a log handler that calls fn once, when the copy logs that
// table was copied: a way to act between two tables of the copy.
type onCopied struct {
	slog.Handler
	table string
	fn    func()
}

func (h *onCopied) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "table" && a.Value.String() == h.table && h.fn != nil {
			h.fn()
			h.fn = nil
		}
		return true
	})
	return nil
}

func (h *onCopied) Enabled(context.Context, slog.Level) bool { return true }

// TestMigrateFailedCopy: a copy that fails half way — cancelled, the
// database killed under it, a row PostgreSQL refuses — leaves the
// destination as empty as it was, and the next copy succeeds.
func TestMigrateFailedCopy(t *testing.T) {
	ctx := context.Background()
	source := oldDatabase(t, 0)
	// A second source with a device of no account: SQLite let it in with
	// foreign keys off (a hand-edited file); PostgreSQL refuses it.
	orphan := oldDatabase(t, 0)
	if db, err := sql.Open("sqlite3", orphan); err != nil {
		t.Fatal(err)
	} else {
		_, err := db.Exec("INSERT INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix) VALUES (999, x'01', 'ghost', 1, 1, 1)")
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	own := pgtest.Start(t) // killed by one case
	tests := []struct {
		name    string
		server  *pgtest.Server
		from    string
		fail    func(cancel context.CancelFunc, srv *pgtest.Server) // called once the accounts are copied
		errPart string
	}{
		{"cancelled", sharedPG(t), source, func(cancel context.CancelFunc, _ *pgtest.Server) { cancel() }, "context canceled"},
		{"database killed", own, source, func(_ context.CancelFunc, srv *pgtest.Server) {
			if err := srv.Kill(); err != nil {
				t.Error(err)
			}
		}, "devices"},
		{"a row refused", sharedPG(t), orphan, nil, "devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.server.CreateDB(t)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			h := &onCopied{Handler: slog.DiscardHandler, table: "accounts"}
			if tt.fail != nil {
				h.fn = func() { tt.fail(cancel, tt.server) }
			}
			_, err := Migrate(cctx, tt.from, url, slog.New(h))
			t.Logf("failed: %v", err)
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("error %v, want one saying %q", err, tt.errPart)
			}
			if !tt.server.Running() {
				if err := tt.server.Restart(); err != nil {
					t.Fatal(err)
				}
			}
			assertEmpty(t, url)
			// Nothing half written stands in the way of the next copy.
			stats, err := Migrate(ctx, source, url, slog.New(slog.DiscardHandler))
			if err != nil || stats.Accounts != 1 || stats.Secrets != 2 {
				t.Fatalf("the copy after: %+v, %v", stats, err)
			}
		})
	}
}

// TestMigrateCoversSchema: every table of the SQLite schema is copied,
// with every one of its columns, or is named as not copied, with why; every
// copied table and column is in the PostgreSQL schema. A migration adding a
// table or a column fails here until the copy knows what to do with it.
func TestMigrateCoversSchema(t *testing.T) {
	lite := openSQL(t, oldDatabase(t, 0))
	url := sharedPG(t).CreateDB(t)
	openTest(t, url) // the schema
	pg := openSQL(t, url)
	columns := func(db *sql.DB, q, table string) []string {
		rows, err := db.Query(q, table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			rows.Scan(&c)
			out = append(out, c)
		}
		slices.Sort(out)
		return out
	}
	const liteCols = "SELECT name FROM pragma_table_info(?)"
	const pgCols = "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1"
	copied := map[string]bool{}
	for _, tb := range copiedTables {
		copied[tb.name] = true
		var names []string
		for _, c := range tb.cols {
			names = append(names, c.name)
		}
		slices.Sort(names)
		if got := columns(lite, liteCols, tb.name); !slices.Equal(got, names) {
			t.Errorf("SQLite's %s has columns %v, the copy carries %v", tb.name, got, names)
		}
		if got := columns(pg, pgCols, tb.name); !slices.Equal(got, names) {
			t.Errorf("PostgreSQL's %s has columns %v, the copy carries %v", tb.name, got, names)
		}
	}
	rows, err := lite.Query("SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		rows.Scan(&name)
		if why, skipped := notCopied[name]; !copied[name] && (!skipped || why == "") {
			t.Errorf("table %s is neither copied nor named in notCopied with a reason", name)
		}
	}
}

// BenchmarkMigrate copies a network of 100,000 accounts (each with a
// record, an identity and a device; 1,000 revocations) from SQLite into a
// fresh PostgreSQL database per copy, and reports accounts copied per
// second.
func BenchmarkMigrate(b *testing.B) {
	const accounts, revoked = 100_000, 1_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "auth.db")
	st, err := openSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	blob := func(n int, seed int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(seed*31 + i)
		}
		return p
	}
	err = st.tx(ctx, func(tx conn) error {
		for _, name := range []string{secretHostKey, secretOPAQUEKeys} {
			if _, err := tx.ExecContext(ctx, "INSERT INTO secrets (name, value) VALUES (?, ?)", name, blob(96, 1)); err != nil {
				return err
			}
		}
		for i := 1; i <= accounts; i++ {
			// Sizes as the server stores them: an OPAQUE record of 192
			// bytes, a sealed key and a signed list of one device.
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, username, record, created_unix, account_key,
				account_key_sealed, account_devices, account_devices_version) VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
				i, fmt.Sprintf("user%06d", i), blob(192, i), 1_800_000_000+i, blob(32, i), blob(120, i), blob(180, i)); err != nil {
				return err
			}
			var revokedUnix any
			if i <= revoked {
				revokedUnix = int64(1_800_000_000 + i)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix, revoked_unix)
				VALUES (?, ?, 'laptop', 1, 2, 3, ?)`, i, blob(38, i), revokedUnix); err != nil {
				return err
			}
			if i <= revoked {
				if _, err := tx.ExecContext(ctx, "INSERT INTO revocations (peer_id, horizon_unix, revoked_unix) VALUES (?, ?, ?)",
					blob(38, i), 1_900_000_000, 1_800_000_000+i); err != nil {
					return err
				}
			}
		}
		return nil
	})
	st.close()
	if err != nil {
		b.Fatal(err)
	}
	srv := sharedPG(b)
	quiet := slog.New(slog.DiscardHandler)
	var took time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		url := srv.CreateDB(b)
		b.StartTimer()
		stats, err := Migrate(ctx, path, url, quiet)
		if err != nil {
			b.Fatal(err)
		}
		if stats.Accounts != accounts || stats.Devices != accounts || stats.Revocations != revoked || stats.Serial != revoked {
			b.Fatalf("copied %+v", stats)
		}
		took += stats.Took
	}
	b.ReportMetric(float64(accounts*b.N)/took.Seconds(), "accounts/s")
}
