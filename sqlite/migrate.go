package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one step of a schema: the file Name, numbered Version, holds
// SQL.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the files NNN_name.sql in directory dir of fsys (other
// files are ignored). Their numbers must run 1, 2, 3… without gaps or
// repeats in the order of their names, so that a listing of the directory
// reads in the order they are applied.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var migs []Migration
	for _, e := range ents { // sorted by name
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || strings.TrimLeft(num, "0123456789") != "" || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		migs = append(migs, Migration{Version: v, Name: name, SQL: string(b)})
	}
	if err := checkNumbering(migs); err != nil {
		return nil, err
	}
	return migs, nil
}

// checkNumbering fails unless migs are numbered 1..n in order.
func checkNumbering(migs []Migration) error {
	for i, m := range migs {
		if m.Version != i+1 {
			return fmt.Errorf("migration %s: has number %d where %d belongs: migrations must be numbered 1, 2, 3… in name order, without gaps",
				m.Name, m.Version, i+1)
		}
	}
	return nil
}

// Migrate brings db, which Open did not open (a test building an old
// schema), to schema version: it applies the migrations numbered above the
// database's PRAGMA user_version, up to version, each in its own
// transaction together with the new user_version.
func Migrate(ctx context.Context, db *sql.DB, migs []Migration, version int) error {
	_, err := migrate(ctx, db, migs, version)
	return err
}

// migrate is Migrate; it returns the version it found.
func migrate(ctx context.Context, db *sql.DB, migs []Migration, version int) (int, error) {
	if err := checkNumbering(migs); err != nil {
		return 0, err
	}
	var cur int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&cur); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	if cur > len(migs) {
		return cur, fmt.Errorf("schema version %d is newer than this program's %d", cur, len(migs))
	}
	for _, m := range migs[cur:min(max(version, cur), len(migs))] {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			// PRAGMA takes no parameters; m.Version is an int.
			_, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(m.Version))
			return err
		})
		if err != nil {
			return cur, fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return cur, nil
}
