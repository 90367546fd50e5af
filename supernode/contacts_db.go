package supernode

import (
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"eserver/sqlite"
)

// The contacts database: one SQLite file per supernode, opened by package
// eserver/sqlite like the mailbox's (WAL, synchronous=FULL, one connection,
// the numbered migrations in migrations/contacts), so a put acknowledged to
// its owner survives kill -9.

//go:embed migrations/contacts/*.sql
var contactsMigrationFS embed.FS

// contactsDB is the contact-list store. Its methods are safe for
// concurrent use.
type contactsDB struct {
	db *sqlite.DB
}

// openContactsDB opens (creating if needed) the database at p and brings
// its schema up to date.
func openContactsDB(p string) (*contactsDB, error) {
	db, err := sqlite.Open(p, sqlite.Options{Migrations: contactsMigrationFS, Dir: "migrations/contacts"})
	if err != nil {
		return nil, err
	}
	return &contactsDB{db: db}, nil
}

func (d *contactsDB) close() error { return d.db.Close() }

// putResult is what a put did.
type putResult int

const (
	putStored putResult = iota // the blob is now the owner's latest
	putSame                    // the same version and blob were already stored: a retry
	putStale                   // a newer version, or another blob of this version, is stored
)

// put stores blob as owner's version unless a version at least as new is
// stored; the same version with the same bytes counts as done, so a retry
// after a lost answer succeeds. It returns the version stored afterwards.
// The check and the write share one (immediate) transaction.
func (d *contactsDB) put(owner []byte, version uint64, blob []byte, now time.Time) (putResult, uint64, error) {
	res, stored := putStored, version
	err := d.db.Tx(func(tx *sql.Tx) error {
		var cur int64
		var same bool
		// The blob comparison runs in SQLite: the stored blob is not
		// loaded into Go to answer a stale put.
		err := tx.QueryRow(`SELECT version, blob = ? FROM contacts WHERE owner = ?`, blob, owner).Scan(&cur, &same)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("reading stored version: %w", err)
		case uint64(cur) == version && same:
			res = putSame
			return nil
		case uint64(cur) >= version:
			res, stored = putStale, uint64(cur)
			return nil
		}
		_, err = tx.Exec(`INSERT INTO contacts (owner, version, blob, stored) VALUES (?, ?, ?, ?)
			ON CONFLICT (owner) DO UPDATE SET version = excluded.version, blob = excluded.blob, stored = excluded.stored`,
			owner, int64(version), blob, now.UnixNano())
		if err != nil {
			return fmt.Errorf("storing blob: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return res, stored, nil
}

// get returns owner's stored version and blob; found is false when there
// is none.
func (d *contactsDB) get(owner []byte) (version uint64, blob []byte, found bool, err error) {
	var v int64
	err = d.db.QueryRow(`SELECT version, blob FROM contacts WHERE owner = ?`, owner).Scan(&v, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading blob: %w", err)
	}
	return uint64(v), blob, true, nil
}

// count returns how many owners have a blob stored.
func (d *contactsDB) count() (int, error) {
	var n int
	if err := d.db.QueryRow(`SELECT count(*) FROM contacts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting blobs: %w", err)
	}
	return n, nil
}
