package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Indexing after the commit.
//
// A batch of messages (AddIncomingBatch) is made durable without its rows of
// the blind index: the index is what FTS5 spends most of an insert on, and a
// message that must survive kill -9 is the row, not its index entry, which
// can always be made again from the row. The indexer indexes those rows
// afterwards, in its own transactions, oldest first; history_indexed.through
// (migration 020) says how far the index reaches, and each indexing
// transaction moves it together with the index rows it writes, so an
// indexing killed half way goes on where it stopped.
//
// Search stays exact meanwhile: it checks the rows after through (the
// unindexed tail) one by one, newest first, before it asks FTS5 about the
// rest (search.go). That costs a few µs per row (each is read and opened;
// a byte test, mayMatch, spares most of them the tokenizing), so the tail
// is kept short: a batch that would make it longer than maxIndexLag first
// indexes enough of it itself, and the indexer starts as soon as writing
// pauses for indexDelay.
//
// A single message (AddIncoming, Enqueue, the group commit of the live
// path) is indexed in its own transaction, as before, when the tail is
// empty: live chat costs no second transaction and no second fsync. When a
// batch's tail is still waiting, it joins the tail instead, since the index
// must stay a prefix of the history for through to describe it.

// Indexing limits, in one place.
var (
	// deferBatchMin is the smallest batch indexed after its commit; a
	// shorter one is indexed in its transaction (when the tail is empty),
	// as single messages are, which saves a second fsync.
	deferBatchMin = 64
	// maxIndexLag bounds the unindexed tail a search checks row by row:
	// 2–4 µs a row (BenchmarkSearchTail), so 10–20 ms for a word that no
	// row of a full tail holds. A burst of batches up to this long is
	// stored at the rows' speed; past it, each batch indexes as many rows
	// of the tail as it adds.
	maxIndexLag int64 = 5_000
	// indexDelay is how long writing must pause before the indexer
	// starts, so that a burst of batches is not slowed by it.
	indexDelay = 100 * time.Millisecond
	// indexBatch is how many rows one indexing transaction writes: large
	// enough to spread its fsync, small enough that a writer waiting for
	// the one connection waits some ms, not a second.
	indexBatch = 1000
)

// indexer runs indexTail when told that a tail was left, until it is empty.
// start and close are safe to call more than once.
type indexer struct {
	mu     sync.Mutex
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	// writing counts the batches being stored: the indexer waits for
	// them, and yields to one between its transactions.
	writing atomic.Int32
	// catching lets one catch-up run at a time: two would read and
	// tokenize the same rows, and one of them would write nothing.
	catching sync.Mutex
}

// start runs the indexer for s with keys k, unless it already runs. A
// tail left by an earlier run (killed, or closed before the index caught
// up) is indexed as soon as writing pauses.
func (x *indexer) start(s *Store, k *historyKeys) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.wake = make(chan struct{}, 1)
	x.cancel, x.done = cancel, make(chan struct{})
	go x.run(ctx, s, k, x.wake, x.done, indexDelay)
	x.wake <- struct{}{}
}

// writeBatch counts a batch being stored until the returned func is
// called, which also wakes the indexer for the tail it may have left.
func (x *indexer) writeBatch() (done func()) {
	x.writing.Add(1)
	return func() {
		x.writing.Add(-1)
		x.poke()
	}
}

// poke tells the indexer that a tail may be waiting.
func (x *indexer) poke() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.wake == nil {
		return
	}
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// close stops the indexer and waits for it. A tail it had not reached stays
// for the next start.
func (x *indexer) close() {
	x.mu.Lock()
	cancel, done := x.cancel, x.done
	x.cancel, x.done, x.wake = nil, nil, nil
	x.mu.Unlock()
	if done != nil {
		cancel()
		<-done
	}
}

func (x *indexer) run(ctx context.Context, s *Store, k *historyKeys, wake <-chan struct{}, done chan<- struct{}, delay time.Duration) {
	defer close(done)
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		// Wait for writing to pause: every poke starts the wait again.
		quiet.Reset(delay)
	waiting:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case <-wake:
				quiet.Reset(delay)
			case <-quiet.C:
				if x.writing.Load() == 0 {
					break waiting
				}
				quiet.Reset(delay)
			}
		}
		if err := s.catchUp(ctx, k, 0, &x.writing); err != nil && ctx.Err() == nil {
			// Search stays exact over the tail; the next poke tries again.
			slog.Warn("store: indexing history after its commit", "err", err)
		}
	}
}

// catchUp indexes the unindexed tail until at most keep rows of it are
// left. ctx ends it between transactions, and so does a writer counted in
// yield (nil for none): the indexer is woken again when it is done.
func (s *Store) catchUp(ctx context.Context, k *historyKeys, keep int64, yield *atomic.Int32) error {
	s.idx.catching.Lock()
	defer s.idx.catching.Unlock()
	for ctx.Err() == nil {
		if yield != nil && yield.Load() > 0 {
			return nil
		}
		lag, err := s.indexLag()
		if err != nil {
			return err
		}
		if lag <= keep {
			return nil
		}
		if _, err := s.indexTail(k, int(min(lag-keep, int64(indexBatch)))); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// indexLag is how many seqs the unindexed tail spans (rows deleted since
// are counted: it is a bound).
func (s *Store) indexLag() (int64, error) {
	var lag int64
	err := s.db.QueryRow(`SELECT coalesce((SELECT max(seq) FROM messages), 0) - through FROM history_indexed WHERE id = 1`).Scan(&lag)
	if err != nil {
		return 0, fmt.Errorf("reading how far the index reaches: %w", err)
	}
	return max(lag, 0), nil
}

// tailRow is a row of the unindexed tail, read to be indexed.
type tailRow struct {
	seq  int64
	m    Message
	body []byte
}

// indexTail indexes up to limit rows of the unindexed tail, oldest first,
// in one transaction that moves through past them, and returns how many it
// indexed. The rows are read and tokenized first, on every core, so the
// transaction (and the one connection writers wait for) holds SQLite's work
// only; if through moved meanwhile (another catch-up), it writes nothing.
//
// A row whose body does not open is indexed under its conversation only, as
// reindexRows does: no word finds it, which is what searching it gives.
func (s *Store) indexTail(k *historyKeys, limit int) (int, error) {
	var through int64
	if err := s.db.QueryRow(`SELECT through FROM history_indexed WHERE id = 1`).Scan(&through); err != nil {
		return 0, fmt.Errorf("reading how far the index reaches: %w", err)
	}
	rows, err := s.db.Query(`SELECT seq, `+messageColumns+` FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`, through, limit)
	if err != nil {
		return 0, fmt.Errorf("reading the unindexed tail: %w", err)
	}
	var tail []tailRow
	for rows.Next() {
		var r tailRow
		var t int64
		if err := rows.Scan(&r.seq, &r.m.ID, &r.m.Peer, &r.m.Outgoing, &r.body, &t, &r.m.State, &r.m.Sender, &r.m.Kind); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reading the unindexed tail: %w", err)
		}
		r.m.Time = fromNanos(t)
		tail = append(tail, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading the unindexed tail: %w", err)
	}
	if len(tail) == 0 {
		return 0, nil
	}
	terms := k.tailTerms(tail)
	last := tail[len(tail)-1].seq
	err = s.db.Tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE history_indexed SET through = ? WHERE id = 1 AND through = ?`, last, through)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err == nil {
				err = errIndexMoved
			}
			return err
		}
		w := newMessageWriter(tx, k)
		defer w.close()
		for i := range tail {
			if err := w.indexTerms(tail[i].seq, terms[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errIndexMoved) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("indexing seqs %d to %d: %w", tail[0].seq, last, err)
	}
	if indexTailHook != nil {
		indexTailHook(len(tail))
	}
	return len(tail), nil
}

// errIndexMoved is indexTail's note to itself that another catch-up
// indexed the rows it read.
var errIndexMoved = errors.New("the index moved on meanwhile")

// indexTailHook, when set (by tests), is called after each committed
// transaction of indexTail with the number of rows it indexed.
var indexTailHook func(n int)

// tailTerms opens and tokenizes rows on up to GOMAXPROCS goroutines, which
// all end before it returns.
func (k *historyKeys) tailTerms(tail []tailRow) []string {
	terms := make([]string, len(tail))
	parallel(len(tail), func(lo, hi int) {
		tok := k.tokenizer()
		for i := lo; i < hi; i++ {
			r := &tail[i]
			text := ""
			if k.open(&r.m, r.body) == nil {
				text = searchable(&r.m)
			}
			terms[i] = tok.terms(r.m.Peer, text)
		}
	})
	return terms
}
