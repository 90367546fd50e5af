package supernode

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"eserver/sqlite"
)

// Group commit. Every mailbox write — a put, an ack — is durable before it
// is answered, and a durable SQLite commit costs an fsync (about 0.2 ms
// here, more on a busy disk): one commit per write held the mailbox to
// ~770 puts/s. So writes that arrive together share one transaction: one
// goroutine takes the first write waiting, then every other already
// waiting, up to a bounded batch, applies each in a savepoint of its own
// (a write refused — a quota — or failing is undone alone, and the next
// write sees the state as if it had never run) and commits them all at
// once. A write is answered only after the commit that holds it, and a
// failed commit answers every write in it with the error: nothing in it
// was stored. No write waits for company: a lone write commits at once,
// and the batch grows only while the disk is busy with the one before.

// Limits of one group commit: the writes and the item bytes one
// transaction holds at most (a batch stops growing at the first write
// that reaches MailCommitBytes), so a flood of puts cannot make one
// transaction, its write-ahead log or its wait unbounded.
const (
	MailCommitBatch = 256
	MailCommitBytes = 8 << 20
)

// errMailClosed answers a write submitted after the mailbox closed.
var errMailClosed = errors.New("mailbox closed")

// mailWrite is one write waiting for a shared commit.
type mailWrite struct {
	apply func(*sql.Tx) error // runs inside the batch, in its own savepoint
	size  int                 // item bytes, counted against MailCommitBytes
	done  chan error          // buffered: the committer never waits for the writer
}

// groupCommit commits the writes given to do in shared transactions, on a
// goroutine that runs from newGroupCommit until close.
type groupCommit struct {
	db     *sqlite.DB
	writes chan *mailWrite // unbuffered: a write is either taken (and so answered) or not
	stop   chan struct{}
	done   chan struct{}

	// savepoint, release and rollback are prepared once: a batch runs them
	// for every write.
	savepoint, release, rollback *sql.Stmt

	// beforeCommit, if set, runs after a batch's writes and before its
	// commit; an error fails the batch as a failed commit would. Tests
	// inject a failed commit with it.
	beforeCommit atomic.Pointer[func(*sql.Tx) error]

	commits atomic.Uint64 // transactions committed
}

func newGroupCommit(db *sqlite.DB) (*groupCommit, error) {
	g := &groupCommit{db: db, writes: make(chan *mailWrite), stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&g.savepoint, `SAVEPOINT mail_write`},
		{&g.release, `RELEASE mail_write`},
		{&g.rollback, `ROLLBACK TO mail_write`},
	} {
		st, err := db.Prepare(p.q)
		if err != nil {
			g.closeStmts()
			return nil, fmt.Errorf("preparing %q: %w", p.q, err)
		}
		*p.st = st
	}
	go g.serve()
	return g, nil
}

// close stops the committer once the batch it holds (if any) is committed
// and answered; writes submitted later get errMailClosed. The database
// stays open.
func (g *groupCommit) close() {
	close(g.stop)
	<-g.done
	g.closeStmts()
}

func (g *groupCommit) closeStmts() {
	for _, st := range []*sql.Stmt{g.savepoint, g.release, g.rollback} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// do runs apply in the next shared transaction and returns once that
// transaction is committed (apply's own error, nil, or the batch's) or
// failed (the batch's error: nothing apply did was kept). size is the item
// bytes the write adds. Once the write is taken do waits for its answer
// whatever ctx says, so an answer never contradicts the database; ctx
// bounds only the wait to be taken.
func (g *groupCommit) do(ctx context.Context, size int, apply func(*sql.Tx) error) error {
	w := &mailWrite{apply: apply, size: size, done: make(chan error, 1)}
	select {
	case g.writes <- w:
	case <-g.stop:
		return errMailClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-w.done
}

// serve takes batches of writes and commits them until close.
func (g *groupCommit) serve() {
	defer close(g.done)
	batch := make([]*mailWrite, 0, MailCommitBatch)
	for {
		select {
		case <-g.stop:
			return
		case w := <-g.writes:
			batch = append(batch[:0], w)
		}
		size := batch[0].size
	fill:
		for len(batch) < MailCommitBatch && size < MailCommitBytes {
			select {
			case w := <-g.writes:
				batch = append(batch, w)
				size += w.size
			default:
				break fill
			}
		}
		g.commit(batch)
		clear(batch) // drop the closures and their items until the next batch
	}
}

// commit applies batch in one transaction and answers each write.
func (g *groupCommit) commit(batch []*mailWrite) {
	errs := make([]error, len(batch))
	err := g.db.Tx(func(tx *sql.Tx) error {
		savepoint, release, rollback := tx.Stmt(g.savepoint), tx.Stmt(g.release), tx.Stmt(g.rollback)
		for i, w := range batch {
			if _, err := savepoint.Exec(); err != nil {
				return fmt.Errorf("opening a savepoint: %w", err)
			}
			if errs[i] = w.apply(tx); errs[i] != nil {
				if _, err := rollback.Exec(); err != nil {
					return fmt.Errorf("undoing a refused write: %w", err)
				}
			}
			if _, err := release.Exec(); err != nil {
				return fmt.Errorf("releasing a savepoint: %w", err)
			}
		}
		if f := g.beforeCommit.Load(); f != nil {
			return (*f)(tx)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("group commit of %d writes: %w", len(batch), err)
	} else {
		g.commits.Add(1)
	}
	for i, w := range batch {
		if err != nil {
			w.done <- err
		} else {
			w.done <- errs[i]
		}
	}
}
