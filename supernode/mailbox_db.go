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

// The mailbox database: one SQLite file opened by package eserver/sqlite
// (WAL, synchronous=FULL, one connection), so that an item whose seq was
// returned to its sender survives kill -9 and power loss, and a put's
// quota count and insert cannot interleave with another put's. Puts and
// acks go through a group commit (mailbox_commit.go): those that arrive
// together share one transaction and its fsync, each in a savepoint of its
// own, each answered after the commit. The schema is the numbered
// migrations in migrations/mailbox.
//
// A seq is the table's AUTOINCREMENT rowid: one sequence over all
// mailboxes, never reused. So an owner's two mailboxes (its account's and
// its device's, ownedBoxes) already share one increasing order, and a
// fetch of both merges their (mailbox, seq) index ranges by seq — a merge
// SQLite does as it reads, without a sort — with no change to the schema:
// seqs per mailbox would have needed a new column and would collide
// across the two.

//go:embed migrations/mailbox/*.sql
var mailMigrationFS embed.FS

// sweepBatch bounds one DELETE of expired items, so a large sweep does not
// hold the only connection (and so every handler) for long.
const sweepBatch = 1000

// mailDB is the mailbox store. Its methods are safe for concurrent use.
type mailDB struct {
	db     *sqlite.DB
	writes *groupCommit
	st     mailStmts
	// read is a second connection to the same file, for fetches and
	// counts only (query_only): in WAL mode it reads the last commit while
	// db writes and fsyncs the next, so an owner's fetch does not wait for
	// other people's puts to reach the disk.
	read *sqlite.DB
}

// mailStmts are the statements every put, ack or fetch runs, prepared
// once: list and items on the reading connection, the others on the
// writing one. delete, list and items take both of an owner's mailboxes.
type mailStmts struct {
	usage, boxUsage, count, insert, delete *sql.Stmt
	list, items                            *sql.Stmt
}

// openMailDB opens (creating if needed) the database at p, brings its
// schema up to date and starts its group commit.
func openMailDB(p string) (*mailDB, error) {
	db, err := sqlite.Open(p, sqlite.Options{Migrations: mailMigrationFS, Dir: "migrations/mailbox"})
	if err != nil {
		return nil, err
	}
	d := &mailDB{db: db}
	d.read, err = sqlite.Open(p, sqlite.Options{Migrations: mailMigrationFS, Dir: "migrations/mailbox"})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening a reading connection: %w", err)
	}
	// The reading handle holds one connection for its lifetime, so the
	// setting stays.
	if _, err = d.read.Exec(`PRAGMA query_only = 1`); err != nil {
		err = fmt.Errorf("making the reading connection read-only: %w", err)
	}
	for _, s := range []struct {
		st **sql.Stmt
		on *sqlite.DB
		q  string
	}{
		{&d.st.usage, db, `SELECT items, bytes FROM mail_usage WHERE id = 1`},
		{&d.st.boxUsage, db, `SELECT items, bytes FROM mail_box_usage WHERE mailbox = ?`},
		// Counting stops at quota: a full mailbox costs quota index steps,
		// not its whole length. length() of a blob reads no content.
		{&d.st.count, db, `SELECT count(*), coalesce(sum(n), 0) FROM
			(SELECT length(item) AS n FROM mail WHERE mailbox = ? AND stored > ? LIMIT ?)`},
		{&d.st.insert, db, `INSERT INTO mail (mailbox, item, stored) VALUES (?, ?, ?)`},
		// The seq finds the row; the mailboxes only refuse another's.
		{&d.st.delete, db, `DELETE FROM mail WHERE seq = ?3 AND mailbox IN (?1, ?2)`},
		// UNION ALL of two index ranges ordered by seq: SQLite merges
		// them as it reads (no sort), so LIMIT stops both early. With
		// mailbox IN (...) it would sort every live item of both first.
		{&d.st.list, d.read, `SELECT seq, length(item) FROM mail
			WHERE mailbox = ?1 AND seq > ?3 AND stored > ?4
			UNION ALL SELECT seq, length(item) FROM mail
			WHERE mailbox = ?2 AND seq > ?3 AND stored > ?4
			ORDER BY seq LIMIT ?5`},
		{&d.st.items, d.read, `SELECT seq, item, stored FROM mail
			WHERE mailbox = ?1 AND seq > ?3 AND seq <= ?5 AND stored > ?4
			UNION ALL SELECT seq, item, stored FROM mail
			WHERE mailbox = ?2 AND seq > ?3 AND seq <= ?5 AND stored > ?4
			ORDER BY seq`},
	} {
		if err != nil {
			break
		}
		if *s.st, err = s.on.Prepare(s.q); err != nil {
			err = fmt.Errorf("preparing statements: %w", err)
		}
	}
	if err == nil {
		d.writes, err = newGroupCommit(db)
	}
	if err != nil {
		d.closeStmts()
		d.read.Close()
		db.Close()
		return nil, err
	}
	return d, nil
}

// close stops the group commit, once its batch in hand is answered, and
// closes the database.
func (d *mailDB) close() error {
	d.writes.close()
	d.closeStmts()
	return errors.Join(d.read.Close(), d.db.Close())
}

func (d *mailDB) closeStmts() {
	for _, st := range []*sql.Stmt{d.st.usage, d.st.boxUsage, d.st.count, d.st.insert, d.st.delete, d.st.list, d.st.items} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// errOverQuota is put's answer when the mailbox already holds quota live
// items, or the item would take it past its byte quota; nothing was stored.
var errOverQuota = errors.New("mailbox over quota")

// errStoreFull is put's answer when all mailboxes together would hold more
// than the global cap; nothing was stored.
var errStoreFull = errors.New("mailboxes full")

// mailCost is what an item of n bytes counts against the global cap.
func mailCost(n int) int64 { return int64(n) + mailItemOverhead }

// usage returns what all mailboxes together hold, as counted against the
// global cap: their items' bytes plus mailItemOverhead per item.
func (d *mailDB) usage() (int64, error) {
	return mailUsage(d.read.QueryRow(`SELECT items, bytes FROM mail_usage WHERE id = 1`))
}

func mailUsage(row *sql.Row) (int64, error) {
	var items, size int64
	if err := row.Scan(&items, &size); err != nil {
		return 0, fmt.Errorf("reading usage: %w", err)
	}
	return size + items*mailItemOverhead, nil
}

// put stores item in mailbox at now unless the mailbox already holds quota
// items younger than cutoff (expired ones, not yet swept, do not count) or
// item would bring their bytes past quotaBytes (errOverQuota), or all
// mailboxes together would hold more than maxBytes (errStoreFull), and
// returns its seq once it is committed. The counts and the insert run in
// one transaction, one write after another, so concurrent puts cannot
// overshoot either.
func (d *mailDB) put(ctx context.Context, mailbox, item []byte, now, cutoff time.Time, quota int, quotaBytes, maxBytes int64) (uint64, error) {
	wait, err := d.startPut(ctx, mailbox, item, now, cutoff, quota, quotaBytes, maxBytes)
	if err != nil {
		return 0, err
	}
	return wait()
}

// startPut is put in two halves: it queues the put for the next group
// commit and returns at once, and the returned wait gives put's answer.
// Puts started one after another are applied in that order.
func (d *mailDB) startPut(ctx context.Context, mailbox, item []byte, now, cutoff time.Time, quota int, quotaBytes, maxBytes int64) (wait func() (uint64, error), err error) {
	var seq int64
	// One statement changes anything (the insert; its triggers are part of
	// it): no savepoint.
	w, err := d.writes.submit(ctx, len(item), true, func(tx *sql.Tx) error {
		used, err := mailUsage(tx.Stmt(d.st.usage).QueryRow())
		if err != nil {
			return err
		}
		if used+mailCost(len(item)) > maxBytes {
			return errStoreFull
		}
		// The mailbox's row counts expired items too: under it, the put
		// fits; over it, only counting the live items can tell.
		var n int
		var size int64
		err = tx.Stmt(d.st.boxUsage).QueryRow(mailbox).Scan(&n, &size)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading mailbox usage: %w", err)
		}
		if n >= quota || size+int64(len(item)) > quotaBytes {
			err = tx.Stmt(d.st.count).QueryRow(mailbox, cutoff.UnixNano(), quota).Scan(&n, &size)
			if err != nil {
				return fmt.Errorf("counting mailbox: %w", err)
			}
			if n >= quota || size+int64(len(item)) > quotaBytes {
				return errOverQuota
			}
		}
		res, err := tx.Stmt(d.st.insert).Exec(mailbox, item, now.UnixNano())
		if err != nil {
			return fmt.Errorf("inserting item: %w", err)
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return func() (uint64, error) {
		if err := w.wait(); err != nil {
			return 0, err
		}
		return uint64(seq), nil
	}, nil
}

// mailRow is one stored item.
type mailRow struct {
	seq    uint64
	item   []byte
	stored time.Time
}

// ownedBoxes are the mailboxes one owner fetches from and acknowledges
// in: its account's and its device's (Mailbox.ownedBy). They differ (one
// named twice would answer each item twice); the second may be nil.
type ownedBoxes [2][]byte

// fetch returns the items of boxes with seq > after and younger than
// cutoff, oldest first (one seq order across both): at most limit of them,
// and no more than fit in budget bytes as sized by cost(item length). more
// reports whether further live items wait beyond the last one returned.
//
// It first reads only seqs and lengths (SQLite answers length() of a blob
// without loading it), so items that will not fit are never read.
func (d *mailDB) fetch(ctx context.Context, boxes ownedBoxes, after uint64, cutoff time.Time, limit, budget int, cost func(n int) int) (rows []mailRow, more bool, err error) {
	if after > 1<<63-1 {
		return nil, false, nil // no seq is that large
	}
	q, err := d.st.list.QueryContext(ctx, boxes[0], boxes[1], int64(after), cutoff.UnixNano(), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("listing mailbox: %w", err)
	}
	var last int64
	n, used := 0, 0
	for q.Next() {
		var seq int64
		var size int
		if err := q.Scan(&seq, &size); err != nil {
			q.Close()
			return nil, false, fmt.Errorf("listing mailbox: %w", err)
		}
		c := cost(size)
		if n == limit || used+c > budget {
			more = true
			break
		}
		used += c
		n++
		last = seq
	}
	if err := q.Err(); err != nil {
		q.Close()
		return nil, false, fmt.Errorf("listing mailbox: %w", err)
	}
	q.Close()
	if n == 0 {
		return nil, more, nil
	}

	q, err = d.st.items.QueryContext(ctx, boxes[0], boxes[1], int64(after), cutoff.UnixNano(), last)
	if err != nil {
		return nil, false, fmt.Errorf("reading items: %w", err)
	}
	defer q.Close()
	rows = make([]mailRow, 0, n)
	for q.Next() {
		var r mailRow
		var seq, stored int64
		if err := q.Scan(&seq, &r.item, &stored); err != nil {
			return nil, false, fmt.Errorf("reading items: %w", err)
		}
		r.seq, r.stored = uint64(seq), time.Unix(0, stored)
		rows = append(rows, r)
	}
	if err := q.Err(); err != nil {
		return nil, false, fmt.Errorf("reading items: %w", err)
	}
	return rows, more, nil
}

// ack deletes the given seqs from boxes only: a seq of another mailbox is
// left alone. It returns, once the deletes are committed, how many items
// were deleted.
func (d *mailDB) ack(ctx context.Context, boxes ownedBoxes, seqs []uint64) (int64, error) {
	wait, err := d.startAck(ctx, boxes, seqs)
	if err != nil {
		return 0, err
	}
	return wait()
}

// startAck is ack in two halves, as startPut is put.
func (d *mailDB) startAck(ctx context.Context, boxes ownedBoxes, seqs []uint64) (wait func() (int64, error), err error) {
	var deleted int64
	w, err := d.writes.submit(ctx, 0, false, func(tx *sql.Tx) error {
		deleted = 0
		st := tx.Stmt(d.st.delete)
		for _, s := range seqs {
			if s > 1<<63-1 {
				continue // no seq is that large
			}
			res, err := st.Exec(boxes[0], boxes[1], int64(s))
			if err != nil {
				return fmt.Errorf("deleting item: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("deleting item: %w", err)
			}
			deleted += n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func() (int64, error) {
		if err := w.wait(); err != nil {
			return 0, err
		}
		return deleted, nil
	}, nil
}

// sweep deletes every item stored at or before cutoff, in batches, and
// returns how many it deleted.
func (d *mailDB) sweep(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res, err := d.db.ExecContext(ctx, `DELETE FROM mail WHERE seq IN
			(SELECT seq FROM mail WHERE stored <= ? LIMIT ?)`, cutoff.UnixNano(), sweepBatch)
		if err != nil {
			return total, fmt.Errorf("deleting expired items: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("deleting expired items: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// depth counts stored items, in one mailbox or (mailbox nil) in all.
func (d *mailDB) depth(mailbox []byte) (int, error) {
	var n int
	var err error
	if mailbox == nil {
		err = d.read.QueryRow(`SELECT count(*) FROM mail`).Scan(&n)
	} else {
		err = d.read.QueryRow(`SELECT count(*) FROM mail WHERE mailbox = ?`, mailbox).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("counting items: %w", err)
	}
	return n, nil
}
