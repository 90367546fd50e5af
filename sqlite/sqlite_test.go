package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// schema is a three-step migration set in the shape the users embed. The
// third step inserts a row with a fixed key, so running it twice would fail.
var schema = fstest.MapFS{
	"m/0001_init.sql":  {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL);`)},
	"m/0002_b.sql":     {Data: []byte(`CREATE TABLE b (id INTEGER PRIMARY KEY, a INTEGER NOT NULL REFERENCES a (id)); ALTER TABLE a ADD COLUMN y TEXT;`)},
	"m/0003_seed.sql":  {Data: []byte(`INSERT INTO a (id, x, y) VALUES (1, 'seed', 'v3');`)},
	"m/README":         {Data: []byte("not a migration")},
	"m/notes.sql.orig": {Data: []byte("nor this")},
}

func open(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openFails checks that Open refuses path with an error containing want.
func openFails(t *testing.T, path string, opts Options, want string) {
	t.Helper()
	db, err := Open(path, opts)
	if err == nil {
		db.Close()
		t.Fatalf("Open succeeded, want an error with %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v, want an error with %q", err, want)
	}
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := open(t, path, Options{Migrations: schema, Dir: "m"})
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL: see the package doc
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"user_version", "3"},
	} {
		if got := pragma(t, db.DB, tc.pragma); got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if n := db.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1 (one writer)", n)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v; want 0600", fi.Mode(), err)
	}
	// Foreign keys are enforced, not only reported on.
	if _, err := db.Exec(`INSERT INTO b (id, a) VALUES (1, 42)`); err == nil {
		t.Error("a row referring to no row was stored")
	}
}

// Open says once, at open, which durability it chose.
func TestOpenLogsDurability(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	open(t, filepath.Join(t.TempDir(), "x.db"), Options{Migrations: schema, Dir: "m", Logger: log})
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "synchronous=FULL") || !strings.Contains(line, "schema=3") {
		t.Fatalf("Open logged %q, want one line with synchronous=FULL and schema=3", line)
	}
}

// check refuses a connection whose settings are not the ones DSN asks for.
func TestCheckRefusesOtherSettings(t *testing.T) {
	for _, tc := range []struct {
		name, query, want string
		secure            bool
	}{
		{"rollback journal", "", "journal_mode is delete", false},
		{"synchronous NORMAL", "_journal_mode=WAL&_synchronous=NORMAL", "synchronous is 1", false},
		{"foreign keys off", "_journal_mode=WAL&_synchronous=FULL", "foreign_keys is 0", false},
		{"default busy timeout", "_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=100", "busy_timeout is 100", false},
		{"secure delete off", "_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000", "secure_delete is 0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "x.db")+"?"+tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			err = check(context.Background(), db, tc.secure)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path string
		opts       Options
		want       string
	}{
		{"empty path", "", Options{}, "empty database path"},
		{"missing directory", filepath.Join(dir, "missing", "x.db"), Options{}, "creating database file"},
		{"missing migrations", filepath.Join(dir, "a.db"), Options{Migrations: schema, Dir: "nope"}, "listing migrations"},
		{"version past the last", filepath.Join(dir, "b.db"), Options{Migrations: schema, Dir: "m", Version: 4}, "schema version 4"},
	} {
		t.Run(tc.name, func(t *testing.T) { openFails(t, tc.path, tc.opts, tc.want) })
	}
}

// A database is migrated forward from every version an older program can
// have left it at, keeping its data; reopening it changes nothing.
func TestMigrateForward(t *testing.T) {
	for from := 0; from <= 3; from++ {
		t.Run(fmt.Sprintf("from v%d", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			if from > 0 {
				old, err := Open(path, Options{Migrations: schema, Dir: "m", Version: from})
				if err != nil {
					t.Fatal(err)
				}
				if v := pragma(t, old.DB, "user_version"); v != fmt.Sprint(from) {
					t.Fatalf("old database at version %s, want %d", v, from)
				}
				if _, err := old.Exec(`INSERT INTO a (id, x) VALUES (7, 'old')`); err != nil {
					t.Fatal(err)
				}
				old.Close()
			}
			for range 2 { // the second open has nothing to do
				db, err := Open(path, Options{Migrations: schema, Dir: "m"})
				if err != nil {
					t.Fatal(err)
				}
				if v := pragma(t, db.DB, "user_version"); v != "3" {
					t.Errorf("user_version = %s, want 3", v)
				}
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM a WHERE id = 1 AND y = 'v3'`).Scan(&n); err != nil || n != 1 {
					t.Errorf("seed rows: %d, %v; want 1", n, err)
				}
				if from > 0 {
					if err := db.QueryRow(`SELECT count(*) FROM a WHERE id = 7 AND x = 'old'`).Scan(&n); err != nil || n != 1 {
						t.Errorf("old rows: %d, %v; want 1", n, err)
					}
				}
				db.Close()
			}
		})
	}
}

// A database made with Open's DSN but another migration path (as the
// users' tests make old schemas) opens and migrates.
func TestMigrateRawThenOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	migs, err := LoadMigrations(schema, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(context.Background(), raw, migs, 1); err != nil {
		t.Fatal(err)
	}
	if v := pragma(t, raw, "user_version"); v != "1" {
		t.Fatalf("user_version = %s, want 1", v)
	}
	raw.Close()
	db := open(t, path, Options{Migrations: schema, Dir: "m"})
	if v := pragma(t, db.DB, "user_version"); v != "3" {
		t.Fatalf("user_version = %s, want 3", v)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := open(t, path, Options{Migrations: schema, Dir: "m"})
	if _, err := db.Exec(`PRAGMA user_version = 9`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	openFails(t, path, Options{Migrations: schema, Dir: "m"}, "schema version 9 is newer")
}

// A failing migration is rolled back whole, leaves user_version at the last
// good one, and its error names the file; fixed, the next open goes on.
func TestFailingMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	bad := fstest.MapFS{
		"m/001_ok.sql":  {Data: []byte(`CREATE TABLE a (x);`)},
		"m/002_bad.sql": {Data: []byte(`CREATE TABLE b (x); THIS IS NOT SQL;`)},
	}
	openFails(t, path, Options{Migrations: bad, Dir: "m"}, "migration 002_bad.sql")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	if v := pragma(t, raw, "user_version"); v != "1" {
		t.Errorf("user_version = %s, want 1", v)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration left table b: %d, %v", n, err)
	}
	raw.Close()

	bad["m/002_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE b (x);`)}
	db := open(t, path, Options{Migrations: bad, Dir: "m"})
	if v := pragma(t, db.DB, "user_version"); v != "2" {
		t.Errorf("user_version after the fix = %s, want 2", v)
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	ok := []byte(`SELECT 1;`)
	for _, tc := range []struct {
		name  string
		files []string
		want  string // "" means accepted
	}{
		{"three digits", []string{"001_a.sql", "002_b.sql"}, ""},
		{"four digits", []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"empty", nil, ""},
		{"gap", []string{"001_a.sql", "003_c.sql"}, "003_c.sql: has number 3 where 2 belongs"},
		{"repeat", []string{"001_a.sql", "002_b.sql", "002_c.sql"}, "002_c.sql: has number 2 where 3 belongs"},
		{"not from 1", []string{"002_b.sql"}, "has number 2 where 1 belongs"},
		{"out of name order", []string{"1_a.sql", "2_b.sql", "3_c.sql", "4_d.sql", "5_e.sql", "6_f.sql", "7_g.sql", "8_h.sql", "9_i.sql", "10_j.sql"}, "10_j.sql: has number 10 where 1 belongs"},
		{"no number", []string{"init.sql"}, "name must be NNN_name.sql"},
		{"no underscore", []string{"001.sql"}, "name must be NNN_name.sql"},
		{"zero", []string{"000_a.sql"}, "name must be NNN_name.sql"},
		{"signed", []string{"+01_a.sql"}, "name must be NNN_name.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m/.keep": {}}
			for _, f := range tc.files {
				fsys["m/"+f] = &fstest.MapFile{Data: ok}
			}
			migs, err := LoadMigrations(fsys, "m")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("LoadMigrations: %v", err)
			case tc.want == "" && len(migs) != len(tc.files):
				t.Fatalf("loaded %d migrations, want %d", len(migs), len(tc.files))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("LoadMigrations = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// Migrate checks a list built by hand the same way.
	db := open(t, filepath.Join(t.TempDir(), "x.db"), Options{})
	err := Migrate(context.Background(), db.DB, []Migration{{Version: 2, Name: "002_x.sql", SQL: "SELECT 1"}}, 2)
	if err == nil || !strings.Contains(err.Error(), "002_x.sql") {
		t.Fatalf("Migrate of a list with a gap: %v", err)
	}
}

func TestTx(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"), Options{Migrations: schema, Dir: "m"})
	count := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	errBoom := errors.New("boom")
	insert := func(tx *sql.Tx) {
		if _, err := tx.Exec(`INSERT INTO a (x) VALUES ('row')`); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		fn      func(*sql.Tx) error
		wantErr error
		panics  bool
		added   int
	}{
		{"commit", func(tx *sql.Tx) error { insert(tx); return nil }, nil, false, 1},
		{"error rolls back", func(tx *sql.Tx) error { insert(tx); return errBoom }, errBoom, false, 0},
		{"panic rolls back", func(tx *sql.Tx) error { insert(tx); panic(errBoom) }, nil, true, 0},
		{"failing statement", func(tx *sql.Tx) error {
			insert(tx)
			_, err := tx.Exec(`INSERT INTO b (a) VALUES (424242)`) // foreign key
			return err
		}, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count()
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				err = db.TxContext(context.Background(), tc.fn)
				return false
			}()
			if panicked != tc.panics {
				t.Fatalf("panicked = %v, want %v", panicked, tc.panics)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Tx = %v, want %v", err, tc.wantErr)
			}
			if !tc.panics && tc.wantErr == nil && tc.added == 0 && err == nil {
				t.Fatal("Tx of a failing statement succeeded")
			}
			// The connection is free again: count runs on the only one.
			if got := count() - before; got != tc.added {
				t.Fatalf("rows added = %d, want %d", got, tc.added)
			}
		})
	}
}

// Concurrent read-modify-write transactions never interleave: each runs on
// the one connection in turn.
func TestTxSerialized(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"), Options{Migrations: schema, Dir: "m"})
	const workers, rounds = 4, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				err := db.Tx(func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.Exec(`INSERT INTO a (id, x) VALUES (?, 'n')`, n+100)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 1+workers*rounds {
		t.Fatalf("rows = %d, %v; want %d", n, err, 1+workers*rounds)
	}
}

func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #name%20.db")
	db := open(t, path, Options{Migrations: schema, Dir: "m"})
	if _, err := db.Exec(`INSERT INTO a (x) VALUES ('v')`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

// TestOpenReadOnly: OpenReadOnly reads a database another handle writes —
// live (its write-ahead log in use) or closed (no -wal or -shm file left) —
// never writes it, never creates a missing one, and a read transaction sees
// one point in time however the writer goes on.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	count := func(t *testing.T, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		t.Helper()
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range []struct {
		name        string
		writerStays bool // the writer keeps the database open (a live server)
	}{
		{"live", true},
		{"closed", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "we?ird #name%20.db")
			w, err := Open(path, Options{Migrations: schema, Dir: "m"})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if !tt.writerStays {
				w.Close()
				for _, ext := range []string{"-wal", "-shm"} {
					if _, err := os.Stat(path + ext); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("%s left after close: %v", ext, err)
					}
				}
			}
			r, err := OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Exec(`INSERT INTO a (x) VALUES ('no')`); err == nil {
				t.Fatal("a read-only database took a write")
			}
			if !tt.writerStays {
				if n := count(t, r); n != 1 {
					t.Fatalf("%d rows, want the seed", n)
				}
				return
			}
			err = r.TxContext(ctx, func(tx *sql.Tx) error {
				before := count(t, tx)
				if _, err := w.Exec(`INSERT INTO a (x) VALUES ('later')`); err != nil {
					t.Fatalf("the writer is blocked by a reader: %v", err)
				}
				if after := count(t, tx); after != before {
					t.Fatalf("the read transaction saw a later commit: %d rows, then %d", before, after)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := count(t, r); n != 2 {
				t.Fatalf("after the transaction: %d rows, want 2", n)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.db")
		if db, err := OpenReadOnly(path); err == nil {
			db.Close()
			t.Fatal("opened a missing database")
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v, want one wrapping os.ErrNotExist", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the missing database was created: %v", err)
		}
	})
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("junk"), 1024), 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := OpenReadOnly(path); err == nil {
			db.Close()
			t.Fatal("opened a file that is not a database")
		}
	})
}
