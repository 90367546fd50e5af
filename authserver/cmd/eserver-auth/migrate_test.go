package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eserver/authserver"
	"eserver/internal/pgtest"
)

// TestParseMigrateArgs: migrate's command line, with a clear error for
// what is missing or of the wrong engine.
func TestParseMigrateArgs(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		errPart    string // "" for success
	}{
		{"file to URL", "--from auth.db --to postgres://eserver@db1/auth", ""},
		{"sqlite: to postgresql:", "--from sqlite:/var/lib/eserver/auth.db --to postgresql://eserver:pw@db1:5432/auth?sslmode=require", ""},
		{"no --from", "--to postgres://eserver@db1/auth", "--from is required"},
		{"no --to", "--from auth.db", "--to is required"},
		{"nothing", "", "--from is required"},
		{"--to a file", "--from auth.db --to other.db", "--to must be a postgres:// URL, not other.db"},
		{"--to sqlite:", "--from auth.db --to sqlite:other.db", "--to must be a postgres:// URL"},
		{"--to another scheme", "--from auth.db --to mysql://db1/auth", "--to: bad database: unknown scheme mysql://"},
		{"--to a bad URL", "--from auth.db --to postgres://db1:port/auth", "--to: bad database"},
		{"--from a URL", "--from postgres://db1/auth --to postgres://db2/auth", "--from must be a SQLite file"},
		{"--from empty sqlite:", "--from sqlite: --to postgres://db1/auth", "--from: bad database"},
		{"a stray argument", "--from auth.db --to postgres://db1/auth now", `unexpected argument "now"`},
		{"an unknown flag", "--from auth.db --to postgres://db1/auth --db x", "flag provided but not defined: -db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseMigrateArgs(strings.Fields(tc.args), io.Discard)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("error %v; want one saying %q", err, tc.errPart)
				}
				if strings.Contains(err.Error(), ":pw@") {
					t.Fatalf("the error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(tc.args); o.from != f[1] || o.to != f[3] {
				t.Fatalf("parsed %+v", o)
			}
		})
	}
}

// runMain runs eserver-auth with args as a process and returns its exit
// code, stdout and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1", "ESERVER_AUTH_ARGS="+strings.Join(args, " "))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestMigrateCommand: eserver-auth migrate copies a server's SQLite
// database into PostgreSQL (the server on it has the same identity), says
// what it copied, and refuses, exiting 1 with the reason, to copy into the
// same database again or to run without --to.
func TestMigrateCommand(t *testing.T) {
	from := filepath.Join(t.TempDir(), "auth.db")
	key, err := authserver.LoadOrCreateKey(from) // a server's database, with its key
	if err != nil {
		t.Fatal(err)
	}
	to := pgtest.Start(t).CreateDB(t)

	code, out, errOut := runMain(t, "migrate", "--from", from, "--to", to)
	if code != 0 || !strings.HasPrefix(out, "copied 0 accounts, 0 devices, 0 revocations (serial 0) and 1 secret in ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "table=accounts") {
		t.Errorf("no log of the tables copied on stderr: %q", errOut)
	}
	got, err := authserver.LoadOrCreateKey(to)
	if err != nil || !got.Equals(key) {
		t.Fatalf("the copy's host key is not the server's: %v", err)
	}

	for _, tc := range []struct {
		name    string
		args    []string
		errPart string
	}{
		{"again", []string{"migrate", "--from", from, "--to", to}, "the destination database is not empty: it holds 1 secret"},
		{"no --to", []string{"migrate", "--from", from}, "--to is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(t, tc.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, "eserver-auth: migrate: "+tc.errPart) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 saying %q", code, out, errOut, tc.errPart)
			}
		})
	}
}
