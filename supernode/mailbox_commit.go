package supernode

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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
// transaction, its write-ahead log or its wait unbounded. MailCommitQueue
// bounds the writes waiting to be taken: past it a writer waits (and a
// pipelined stream stops reading) until the committer takes some.
const (
	MailCommitBatch = 256
	MailCommitBytes = 8 << 20
	MailCommitQueue = 4 * MailCommitBatch
)

// errMailClosed answers a write submitted after the mailbox closed, or
// still waiting to be taken when it closed: nothing of it was stored.
var errMailClosed = errors.New("mailbox closed")

// mailWrite is one write waiting for a shared commit.
type mailWrite struct {
	apply func(*sql.Tx) error // runs inside the batch, in its own savepoint
	size  int                 // item bytes, counted against MailCommitBytes
	done  chan error          // buffered: the committer never waits for the writer
	// single: apply changes the database in one statement at most, which
	// SQLite undoes by itself when it fails, so it needs no savepoint (two
	// statements fewer per put, a third of a put's SQL).
	single bool
}

// wait returns the write's outcome once its batch is committed or failed.
func (w *mailWrite) wait() error { return <-w.done }

// groupCommit commits the writes given to it in shared transactions, on a
// goroutine that runs from newGroupCommit until close. Writes wait in a
// queue, in the order they were submitted, and are applied in that order:
// a pipelined stream hands in its next write without waiting for the
// commit of the one before, and they still land in its order.
type groupCommit struct {
	db *sqlite.DB

	mu     sync.Mutex
	queue  []*mailWrite  // submitted, not yet taken
	closed bool          // no more submissions
	room   chan struct{} // a token per queued write: MailCommitQueue at most
	wake   chan struct{} // buffered(1): the queue is not empty
	stop   chan struct{}
	done   chan struct{}

	// savepoint, release and rollback are prepared once: a batch runs them
	// for every write.
	savepoint, release, rollback *sql.Stmt

	// beforeCommit, if set, runs after a batch's writes and before its
	// commit; an error fails the batch as a failed commit would. Tests
	// inject a failed commit with it.
	beforeCommit atomic.Pointer[func(*sql.Tx) error]

	commits   atomic.Uint64 // transactions committed
	submitted atomic.Uint64 // writes queued, ever
}

func newGroupCommit(db *sqlite.DB) (*groupCommit, error) {
	g := &groupCommit{db: db, room: make(chan struct{}, MailCommitQueue), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
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
// and answered; writes still queued, and writes submitted later, get
// errMailClosed. The database stays open.
func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
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
// bytes the write adds. Once the write is queued do waits for its answer
// whatever ctx says, so an answer never contradicts the database; ctx
// bounds only the wait for room in the queue.
func (g *groupCommit) do(ctx context.Context, size int, apply func(*sql.Tx) error) error {
	w, err := g.submit(ctx, size, false, apply)
	if err != nil {
		return err
	}
	return w.wait()
}

// submit queues apply for the next shared transaction and returns at once
// (unless the queue is full: then it waits for room, or ctx); the write's
// wait gives its outcome. Writes are applied in the order submit returned.
// single says apply changes the database in one statement at most
// (mailWrite.single).
func (g *groupCommit) submit(ctx context.Context, size int, single bool, apply func(*sql.Tx) error) (*mailWrite, error) {
	select {
	case g.room <- struct{}{}:
	case <-g.stop:
		return nil, errMailClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w := &mailWrite{apply: apply, size: size, done: make(chan error, 1), single: single}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.room
		return nil, errMailClosed
	}
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	g.submitted.Add(1)
	select {
	case g.wake <- struct{}{}:
	default: // already awake
	}
	return w, nil
}

// queued counts the writes waiting to be taken into a batch.
func (g *groupCommit) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// take removes the next batch from the queue: the first write waiting,
// then every other, up to MailCommitBatch writes or the first to reach
// MailCommitBytes. No write waits for company: a lone write is a batch.
func (g *groupCommit) take(batch []*mailWrite) []*mailWrite {
	g.mu.Lock()
	defer g.mu.Unlock()
	size := 0
	n := 0
	for n < len(g.queue) && n < MailCommitBatch && (n == 0 || size < MailCommitBytes) {
		size += g.queue[n].size
		n++
	}
	batch = append(batch, g.queue[:n]...)
	clear(g.queue[:n])
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil // let the backing array go
	}
	for range n {
		<-g.room
	}
	return batch
}

// serve takes batches of writes and commits them until close; then it
// answers the writes still queued with errMailClosed.
func (g *groupCommit) serve() {
	defer close(g.done)
	batch := make([]*mailWrite, 0, MailCommitBatch)
	for {
		select {
		case <-g.stop:
			g.mu.Lock()
			left := g.queue
			g.queue = nil
			g.mu.Unlock()
			for _, w := range left {
				w.done <- errMailClosed
			}
			return
		case <-g.wake:
		}
		// The disk is busy with one batch while the next gathers: take
		// batches until the queue is empty, then sleep until woken.
		for {
			batch = g.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			g.commit(batch)
			clear(batch) // drop the closures and their items until the next batch
		}
	}
}

// commit applies batch in one transaction and answers each write.
func (g *groupCommit) commit(batch []*mailWrite) {
	errs := make([]error, len(batch))
	err := g.db.Tx(func(tx *sql.Tx) error {
		savepoint, release, rollback := tx.Stmt(g.savepoint), tx.Stmt(g.release), tx.Stmt(g.rollback)
		for i, w := range batch {
			if w.single {
				errs[i] = w.apply(tx)
				continue
			}
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
