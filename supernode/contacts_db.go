package supernode

import (
	"bytes"
	"crypto/sha256"
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
	putSame                    // the same blob was already stored: a retry
	putStale                   // another blob is stored than the one the put replaces
)

// errContactsFull is put's answer when all lists together would take more
// than the global cap; nothing was stored.
var errContactsFull = errors.New("contact lists full")

// contactsCost is what a list of n bytes counts against the global cap.
func contactsCost(n int) int64 { return int64(n) + contactsRowOverhead }

// usage returns what all stored lists take, as counted against the global
// cap: their bytes plus contactsRowOverhead each.
func (d *contactsDB) usage() (int64, error) { return contactsUsage(d.db.QueryRow) }

func contactsUsage(queryRow func(string, ...any) *sql.Row) (int64, error) {
	var lists, size int64
	if err := queryRow(`SELECT lists, bytes FROM contacts_usage WHERE id = 1`).Scan(&lists, &size); err != nil {
		return 0, fmt.Errorf("reading usage: %w", err)
	}
	return size + lists*contactsRowOverhead, nil
}

// put stores blob as owner's list (under version, which it only carries)
// when replaces is the SHA-256 of the stored blob or none is stored; a put
// of the very blob stored counts as done, so a retry after a lost answer
// succeeds. Otherwise it reports putStale and the stored version. A put
// that grows the lists past maxBytes altogether fails with
// errContactsFull. The checks and the write share one (immediate)
// transaction.
func (d *contactsDB) put(owner, replaces []byte, version uint64, blob []byte, now time.Time, maxBytes int64) (putResult, uint64, error) {
	res, stored := putStored, version
	sum := sha256.Sum256(blob)
	err := d.db.Tx(func(tx *sql.Tx) error {
		var cur int64
		var hash []byte
		var same, exists bool
		var oldLen int
		// The blob comparison runs in SQLite: the stored blob is not
		// loaded into Go to answer a retry or a stale put.
		err := tx.QueryRow(`SELECT version, hash, blob = ?, length(blob) FROM contacts WHERE owner = ?`, blob, owner).
			Scan(&cur, &hash, &same, &oldLen)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("reading stored list: %w", err)
		case same:
			res, stored = putSame, uint64(cur)
			return nil
		default:
			exists = true
		}
		if exists {
			if hash == nil { // stored before hashes were kept
				var old []byte
				if err := tx.QueryRow(`SELECT blob FROM contacts WHERE owner = ?`, owner).Scan(&old); err != nil {
					return fmt.Errorf("reading stored blob: %w", err)
				}
				h := sha256.Sum256(old)
				hash = h[:]
			}
			if !bytes.Equal(replaces, hash) {
				res, stored = putStale, uint64(cur)
				return nil
			}
		}
		grow := contactsCost(len(blob))
		if exists {
			grow -= contactsCost(oldLen)
		}
		if grow > 0 {
			used, err := contactsUsage(tx.QueryRow)
			if err != nil {
				return err
			}
			if used+grow > maxBytes {
				return errContactsFull
			}
		}
		_, err = tx.Exec(`INSERT INTO contacts (owner, version, blob, hash, stored) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner) DO UPDATE SET version = excluded.version, blob = excluded.blob,
				hash = excluded.hash, stored = excluded.stored`,
			owner, int64(version), blob, sum[:], now.UnixNano())
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

// hash returns owner's stored version and the SHA-256 of its blob, without
// reading the blob (rows stored before hashes were kept are hashed here);
// found is false when there is none.
func (d *contactsDB) hash(owner []byte) (version uint64, hash []byte, found bool, err error) {
	var v int64
	err = d.db.QueryRow(`SELECT version, hash FROM contacts WHERE owner = ?`, owner).Scan(&v, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading blob hash: %w", err)
	}
	if hash == nil {
		_, blob, _, err := d.get(owner)
		if err != nil {
			return 0, nil, false, err
		}
		h := sha256.Sum256(blob)
		hash = h[:]
	}
	return uint64(v), hash, true, nil
}

// count returns how many owners have a blob stored.
func (d *contactsDB) count() (int, error) {
	var n int
	if err := d.db.QueryRow(`SELECT count(*) FROM contacts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting blobs: %w", err)
	}
	return n, nil
}
