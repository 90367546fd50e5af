package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// query runs SELECT 1 + 1 at url.
func query(ctx context.Context, url string) (int, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, "SELECT 1 + 1").Scan(&n)
	return n, err
}

// TestServer: a server answers at its URL on 127.0.0.1, gives each caller
// a database of its own, keeps what was committed across a SIGKILL and a
// restart on the same port, refuses connections while stopped, and leaves
// no process and no directory once the test that started it is over.
func TestServer(t *testing.T) {
	ctx := context.Background()
	var data string
	t.Run("lifecycle", func(t *testing.T) {
		s := Start(t)
		data = filepath.Join(s.Dir(), "data")
		if s.PID() == 0 || !s.Running() {
			t.Fatal("not running after Start")
		}
		// As root, the server runs as the postgres user (it refuses root).
		if fi, err := os.Stat(filepath.Join(s.Dir(), "data")); err != nil {
			t.Fatal(err)
		} else if uid := fi.Sys().(*syscall.Stat_t).Uid; os.Geteuid() == 0 && uid == 0 {
			t.Fatal("the data directory belongs to root")
		}
		if n, err := query(ctx, s.URL()); err != nil || n != 2 {
			t.Fatalf("query: %d, %v", n, err)
		}
		a, b := s.CreateDB(t), s.CreateDB(t)
		if a == b {
			t.Fatalf("two databases at one URL %s", a)
		}
		c, err := pgx.Connect(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "CREATE TABLE kept (v BIGINT); INSERT INTO kept VALUES (42)"); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
		if c, err := pgx.Connect(ctx, b); err != nil {
			t.Fatal(err)
		} else {
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'").Scan(&n); err != nil || n != 0 {
				t.Fatalf("the other database sees the table: %d, %v", n, err)
			}
			c.Close(ctx)
		}

		port := s.Port()
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
		if alive := processesOf(data); len(alive) != 0 {
			t.Fatalf("processes %v alive after Kill", alive)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = query(short, s.URL())
		cancel()
		if err == nil {
			t.Fatal("a killed server answered")
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		if s.Port() != port {
			t.Fatalf("port %d after restart, was %d", s.Port(), port)
		}
		c, err = pgx.Connect(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := c.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
			t.Fatalf("after kill and restart: %d, %v", v, err)
		}
		c.Close(ctx)
		// A session left open meets the stop: a fast shutdown ends it.
		idle, err := pgx.Connect(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close(ctx)
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if alive := processesOf(data); len(alive) != 0 {
			t.Fatalf("processes %v alive after Stop", alive)
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		// Left running, with sessions open, for the cleanup to stop.
		if _, err := pgx.Connect(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(processesOf(data)) < 2 {
			t.Fatalf("only %v run the server", processesOf(data))
		}
	})
	if alive := processesOf(data); len(alive) != 0 {
		t.Fatalf("processes %v of the server alive after the test's cleanup", alive)
	}
	if _, err := os.Stat(filepath.Dir(data)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cluster's directory %s is left: %v", filepath.Dir(data), err)
	}
}

// TestFindBinaries: initdb and postgres are found in PATH first, else in
// the newest versioned directory; with neither, the error names the package
// to install.
func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, names ...string) string {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(d, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	inPath := mk("path", "initdb", "postgres")
	half := mk("half", "initdb") // no postgres beside it
	v9 := mk("lib/postgresql/9.6/bin", "initdb", "postgres")
	v15 := mk("lib/postgresql/15/bin", "initdb", "postgres")
	mk("lib/postgresql/16/bin", "postgres") // incomplete: skipped
	glob := filepath.Join(root, "lib/postgresql/*/bin")
	for _, tt := range []struct {
		name, path, glob, want string
	}{
		{"PATH first", half + string(filepath.ListSeparator) + inPath, glob, inPath},
		{"newest complete version", half, glob, v15},
		{"only an old version", "", filepath.Join(root, "lib/postgresql/9*/bin"), v9},
		{"none", half, filepath.Join(root, "nowhere/*/bin"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinaries(tt.path, tt.glob)
			if tt.want == "" {
				if !errors.Is(err, ErrNoBinaries) || got != "" {
					t.Fatalf("got %q, %v; want ErrNoBinaries", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if msg := ErrNoBinaries.Error(); !strings.Contains(msg, "install Debian's postgresql package") {
		t.Fatalf("the error does not name the package: %s", msg)
	}
}
