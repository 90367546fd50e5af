package supernode

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"eserver/sqlite"
)

// The prekey database: one SQLite file per supernode, opened by package
// eserver/sqlite like the mailbox's (WAL, synchronous=FULL, one connection,
// the numbered migrations in migrations/prekeys). The one connection is
// also what makes a one-time prekey go to exactly one fetcher: every fetch
// takes its keys in an immediate transaction, so fetches run one after
// another and a key deleted by one is gone for the next.

//go:embed migrations/prekeys/*.sql
var prekeysMigrationFS embed.FS

// prekeysDB is the prekey store. Its methods are safe for concurrent use.
type prekeysDB struct {
	db *sqlite.DB
}

// openPrekeysDB opens (creating if needed) the database at p and brings its
// schema up to date.
func openPrekeysDB(p string) (*prekeysDB, error) {
	db, err := sqlite.Open(p, sqlite.Options{Migrations: prekeysMigrationFS, Dir: "migrations/prekeys"})
	if err != nil {
		return nil, err
	}
	return &prekeysDB{db: db}, nil
}

func (d *prekeysDB) close() error { return d.db.Close() }

// prekeyPublish is one device's publish, checked against the limits.
type prekeyPublish struct {
	owner   []byte    // PrekeysOwnerID
	peer    []byte    // the device's binary peer ID
	expiry  time.Time // when the entry stops being served: the ticket's expiry or PrekeyBundleTTL on, if later
	bundle  []byte
	oneTime [][]byte
	kem     [][]byte // one-time KEM prekeys
	replace bool     // drop the stored one-time prekeys (both kinds) first
}

// errPrekeysFull is publish's answer when it would take all entries
// together past the global cap; nothing was stored.
var errPrekeysFull = errors.New("prekey directory full")

// usage returns what all entries take, as counted against the global cap:
// bundles and one-time prekeys with their per-row overheads.
func (d *prekeysDB) usage() (int64, error) { return prekeysUsage(d.db.QueryRow) }

func prekeysUsage(queryRow func(string, ...any) *sql.Row) (int64, error) {
	var devices, bundles, oneTime, keys int64
	err := queryRow(`SELECT devices, bundle_bytes, onetime, onetime_bytes FROM prekey_usage WHERE id = 1`).
		Scan(&devices, &bundles, &oneTime, &keys)
	if err != nil {
		return 0, fmt.Errorf("reading usage: %w", err)
	}
	return bundles + devices*prekeyDeviceOverhead + keys + oneTime*prekeyOneTimeOverhead, nil
}

// oneTimeTables are the tables of one-time prekeys, X25519 and KEM: the
// same shape, the same rules.
var oneTimeTables = [2]string{"prekey_onetime", "prekey_onetime_kem"}

// publish stores p's bundle and expiry and adds its one-time prekeys, all in
// one transaction, and returns how many one-time prekeys of each kind the
// device has stored afterwards. Expired entries of the owner are dropped first, so they
// take no place among its maxDevices; a device new to the owner past that
// evicts the others' entry whose ticket expires first (the one that has not
// proved itself for the longest), never the publisher's own. One-time
// prekeys past maxStored (maxKEM for KEM ones) are dropped oldest first: the
// newest are the ones the device most surely still holds the private halves
// of. A publish that leaves all entries together past maxBytes, and larger
// than before it, is undone and fails with errPrekeysFull: one that shrinks
// or keeps the directory's size is always taken.
func (d *prekeysDB) publish(p prekeyPublish, now time.Time, maxDevices, maxStored, maxKEM int, maxBytes int64) (left, leftKEM int, err error) {
	err = d.db.Tx(func(tx *sql.Tx) error {
		before, err := prekeysUsage(tx.QueryRow)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM prekey_devices WHERE owner = ? AND expiry <= ?`, p.owner, now.UnixNano()); err != nil {
			return fmt.Errorf("dropping expired entries: %w", err)
		}
		var exists bool
		err = tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM prekey_devices WHERE owner = ? AND peer = ?)`, p.owner, p.peer).Scan(&exists)
		if err != nil {
			return fmt.Errorf("looking up device: %w", err)
		}
		if !exists {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM prekey_devices WHERE owner = ?`, p.owner).Scan(&n); err != nil {
				return fmt.Errorf("counting devices: %w", err)
			}
			if n >= maxDevices {
				_, err := tx.Exec(`DELETE FROM prekey_devices WHERE id IN
					(SELECT id FROM prekey_devices WHERE owner = ? ORDER BY expiry, id LIMIT ?)`,
					p.owner, n-maxDevices+1)
				if err != nil {
					return fmt.Errorf("evicting the oldest device: %w", err)
				}
			}
		}
		// An upsert keeps the row's id, so the device's one-time prekeys
		// (which reference it) survive a bundle update or a renewed ticket.
		var dev int64
		err = tx.QueryRow(`INSERT INTO prekey_devices (owner, peer, expiry, bundle, stored) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner, peer) DO UPDATE SET expiry = excluded.expiry,
				bundle = excluded.bundle, stored = excluded.stored
			RETURNING id`,
			p.owner, p.peer, p.expiry.UnixNano(), p.bundle, now.UnixNano()).Scan(&dev)
		if err != nil {
			return fmt.Errorf("storing bundle: %w", err)
		}
		counts := [2]*int{&left, &leftKEM}
		for i, keys := range [2][][]byte{p.oneTime, p.kem} {
			if err := addOneTime(tx, oneTimeTables[i], dev, p.replace, keys, [2]int{maxStored, maxKEM}[i], counts[i]); err != nil {
				return err
			}
		}
		after, err := prekeysUsage(tx.QueryRow)
		if err != nil {
			return err
		}
		if after > maxBytes && after > before {
			return errPrekeysFull // rolls the whole publish back
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return left, leftKEM, nil
}

// addOneTime adds keys to device dev's one-time prekeys in table (one of
// oneTimeTables), after dropping the stored ones when replace is set, keeps
// the newest max, and counts what is left into *left.
func addOneTime(tx *sql.Tx, table string, dev int64, replace bool, keys [][]byte, max int, left *int) error {
	if replace {
		if _, err := tx.Exec(`DELETE FROM `+table+` WHERE device = ?`, dev); err != nil {
			return fmt.Errorf("dropping one-time prekeys: %w", err)
		}
	}
	if len(keys) > 0 {
		ins, err := tx.Prepare(`INSERT INTO ` + table + ` (device, key) VALUES (?, ?) ON CONFLICT (device, key) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("storing one-time prekeys: %w", err)
		}
		defer ins.Close()
		for _, k := range keys {
			if _, err := ins.Exec(dev, k); err != nil {
				return fmt.Errorf("storing one-time prekey: %w", err)
			}
		}
		_, err = tx.Exec(`DELETE FROM `+table+` WHERE device = ? AND id NOT IN
			(SELECT id FROM `+table+` WHERE device = ? ORDER BY id DESC LIMIT ?)`, dev, dev, max)
		if err != nil {
			return fmt.Errorf("dropping one-time prekeys past the cap: %w", err)
		}
	}
	if err := tx.QueryRow(`SELECT count(*) FROM `+table+` WHERE device = ?`, dev).Scan(left); err != nil {
		return fmt.Errorf("counting one-time prekeys: %w", err)
	}
	return nil
}

// prekeyEntry is one device's entry as a fetcher gets it.
type prekeyEntry struct {
	peer    []byte // the device's binary peer ID
	bundle  []byte
	oneTime []byte // nil when the device had none left
	kem     []byte // a one-time KEM prekey; nil when the device had none left
}

// fetch returns the live entries of owner's devices other than except (the
// fetcher's own device, which never starts a session with itself), oldest
// first, and takes one one-time prekey of each kind from each: the oldest,
// deleted in the same transaction, so no other fetch can be handed it.
// Entries of devices revoked reports are deleted instead of served: their
// bundles outlive their tickets, but not a revocation.
func (d *prekeysDB) fetch(owner, except []byte, now time.Time, revoked func(peer []byte) bool) ([]prekeyEntry, error) {
	var out []prekeyEntry
	err := d.db.Tx(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT id, peer, bundle FROM prekey_devices
			WHERE owner = ? AND peer != ? AND expiry > ? ORDER BY id`, owner, except, now.UnixNano())
		if err != nil {
			return fmt.Errorf("listing devices: %w", err)
		}
		var ids, gone []int64
		for rows.Next() {
			var id int64
			var e prekeyEntry
			if err := rows.Scan(&id, &e.peer, &e.bundle); err != nil {
				rows.Close()
				return fmt.Errorf("listing devices: %w", err)
			}
			if revoked(e.peer) {
				gone = append(gone, id)
				continue
			}
			ids = append(ids, id)
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("listing devices: %w", err)
		}
		rows.Close()
		for _, id := range gone {
			if _, err := tx.Exec(`DELETE FROM prekey_devices WHERE id = ?`, id); err != nil {
				return fmt.Errorf("dropping a revoked device: %w", err)
			}
		}
		for i, id := range ids {
			for j, dst := range [2]*[]byte{&out[i].oneTime, &out[i].kem} {
				var k []byte
				err := tx.QueryRow(`DELETE FROM `+oneTimeTables[j]+` WHERE id =
					(SELECT id FROM `+oneTimeTables[j]+` WHERE device = ? ORDER BY id LIMIT 1) RETURNING key`, id).Scan(&k)
				switch {
				case errors.Is(err, sql.ErrNoRows):
				case err != nil:
					return fmt.Errorf("taking a one-time prekey: %w", err)
				default:
					*dst = k
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// prekeyStatus is a device's live entry: its one-time prekeys of each kind
// and when it stops being served.
type prekeyStatus struct {
	left, leftKEM int
	expiry        time.Time
}

// status returns the live entry of (owner, peer); found is false when there
// is none.
func (d *prekeysDB) status(owner, peer []byte, now time.Time) (st prekeyStatus, found bool, err error) {
	var id, exp int64
	err = d.db.QueryRow(`SELECT id, expiry FROM prekey_devices WHERE owner = ? AND peer = ? AND expiry > ?`,
		owner, peer, now.UnixNano()).Scan(&id, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return prekeyStatus{}, false, nil
	}
	if err != nil {
		return prekeyStatus{}, false, fmt.Errorf("reading entry: %w", err)
	}
	err = d.db.QueryRow(`SELECT (SELECT count(*) FROM prekey_onetime WHERE device = ?),
		(SELECT count(*) FROM prekey_onetime_kem WHERE device = ?)`, id, id).Scan(&st.left, &st.leftKEM)
	if err != nil {
		return prekeyStatus{}, false, fmt.Errorf("counting one-time prekeys: %w", err)
	}
	st.expiry = time.Unix(0, exp)
	return st, true, nil
}

// sweepRevoked deletes the entries of every device revoked reports, and
// returns how many. It reads every entry's peer ID, so it runs only when
// the revocation list changed (see Prekeys.Sweep).
func (d *prekeysDB) sweepRevoked(ctx context.Context, revoked func(peer []byte) bool) (int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, peer FROM prekey_devices`)
	if err != nil {
		return 0, fmt.Errorf("listing devices: %w", err)
	}
	var gone []int64
	for rows.Next() {
		var id int64
		var p []byte
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing devices: %w", err)
		}
		if revoked(p) {
			gone = append(gone, id)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("listing devices: %w", err)
	}
	for _, id := range gone {
		if _, err := d.db.ExecContext(ctx, `DELETE FROM prekey_devices WHERE id = ?`, id); err != nil {
			return 0, fmt.Errorf("dropping a revoked device: %w", err)
		}
	}
	return int64(len(gone)), nil
}

// sweep deletes, in batches, every entry whose ticket expired at or before
// now (their one-time prekeys go with them) and returns how many.
func (d *prekeysDB) sweep(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := d.db.ExecContext(ctx, `DELETE FROM prekey_devices WHERE id IN
			(SELECT id FROM prekey_devices WHERE expiry <= ? LIMIT ?)`, now.UnixNano(), sweepBatch)
		if err != nil {
			return total, fmt.Errorf("deleting expired entries: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("deleting expired entries: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// count returns how many device entries and one-time prekeys of each kind
// are stored, expired ones not yet swept included.
func (d *prekeysDB) count() (devices, oneTime, oneTimeKEM int, err error) {
	err = d.db.QueryRow(`SELECT (SELECT count(*) FROM prekey_devices), (SELECT count(*) FROM prekey_onetime),
		(SELECT count(*) FROM prekey_onetime_kem)`).Scan(&devices, &oneTime, &oneTimeKEM)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("counting entries: %w", err)
	}
	return devices, oneTime, oneTimeKEM, nil
}
