package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"eserver/authserver"
)

// migrateOptions are the migrate subcommand's command line, checked.
type migrateOptions struct {
	from, to string
}

// parseMigrateArgs parses and checks migrate's command line (after the
// word migrate); usage and flag errors go to out. Nothing is opened: a
// mistake is reported before any database is touched.
func parseMigrateArgs(args []string, out io.Writer) (migrateOptions, error) {
	fs := flag.NewFlagSet("eserver-auth migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.String("from", "", "the SQLite auth database to copy (PATH or sqlite:PATH; only read) (required)")
	to := fs.String("to", "", "the PostgreSQL database to copy into, empty: a postgres:// URL (required)")
	if err := fs.Parse(args); err != nil {
		return migrateOptions{}, err
	}
	switch {
	case fs.NArg() > 0:
		return migrateOptions{}, fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	case *from == "":
		return migrateOptions{}, fmt.Errorf("migrate: --from is required: the SQLite auth database to copy")
	case *to == "":
		return migrateOptions{}, fmt.Errorf("migrate: --to is required: the postgres:// URL of the database to copy into")
	}
	src, err := authserver.ParseDB(*from)
	if err != nil {
		return migrateOptions{}, fmt.Errorf("migrate: --from: %w", err)
	}
	if src.Engine != authserver.SQLite {
		return migrateOptions{}, fmt.Errorf("migrate: --from must be a SQLite file, not %s", src)
	}
	dst, err := authserver.ParseDB(*to)
	if err != nil {
		return migrateOptions{}, fmt.Errorf("migrate: --to: %w", err)
	}
	if dst.Engine != authserver.Postgres {
		return migrateOptions{}, fmt.Errorf("migrate: --to must be a postgres:// URL, not %s", dst)
	}
	return migrateOptions{from: *from, to: *to}, nil
}

// runMigrate is eserver-auth migrate: it copies a SQLite auth database
// into an empty PostgreSQL one, prints what it copied, and logs to stderr.
// SIGINT or SIGTERM stop the copy, which then writes nothing.
func runMigrate(args []string) error {
	o, err := parseMigrateArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stats, err := authserver.Migrate(ctx, o.from, o.to, log)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Printf("copied %s, %s, %s (serial %d) and %s in %v\n", plural(stats.Accounts, "account"), plural(stats.Devices, "device"),
		plural(stats.Revocations, "revocation"), stats.Serial, plural(stats.Secrets, "secret"), stats.Took.Round(time.Millisecond))
	return nil
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
