package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// holdIndexer keeps the background indexer of stores opened after it from
// ever starting (its quiet time is an hour), so a test decides when the
// tail is indexed, with indexTail and catchUp.
func holdIndexer(t *testing.T) {
	t.Helper()
	old := indexDelay
	indexDelay = time.Hour
	t.Cleanup(func() { indexDelay = old })
}

// indexState is how far the index reaches and how many rows it holds.
type indexState struct {
	through, newest int64
	rows            int
}

func readIndexState(t *testing.T, s *Store) indexState {
	t.Helper()
	var st indexState
	if err := s.db.QueryRow(`SELECT through, coalesce((SELECT max(seq) FROM messages), 0) FROM history_indexed`).
		Scan(&st.through, &st.newest); err != nil {
		t.Fatal(err)
	}
	st.rows = indexRows(t, s)
	return st
}

// checkOracle holds every query of reindexQueries, paged with small and
// default windows, to the brute-force oracle over ms (seq i+1 is ms[i]).
func checkOracle(t *testing.T, s *Store, ms []Message, when string) {
	t.Helper()
	defer func(w, g int64) { searchWindow, searchGrowth = w, g }(searchWindow, searchGrowth)
	for _, win := range []struct{ window, growth int64 }{{16384, 4}, {5, 3}} {
		searchWindow, searchGrowth = win.window, win.growth
		for _, q := range reindexQueries {
			if ids, want := hitIDs(searchAll(t, s, q)), oracleSearch(t, ms, q); !slices.Equal(ids, want) {
				t.Errorf("%s, window %d, %+v: hits %v; the oracle says %v", when, win.window, q, ids, want)
			}
		}
	}
}

// TestIndexAfterCommit: a long batch is stored without index rows, and
// every search answers as the brute-force oracle while the index reaches
// none, some and all of it; single messages join the tail while there is
// one and are indexed in their own transaction once there is none; every
// row ends up in the index exactly once.
func TestIndexAfterCommit(t *testing.T) {
	holdIndexer(t)
	ms := reindexFixture()
	s, _ := openTemp(t)
	k, err := s.history()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	if st := readIndexState(t, s); st.through != 0 || st.rows != 0 || st.newest != int64(len(ms)) {
		t.Fatalf("after a batch of %d: %+v; want nothing indexed yet", len(ms), st)
	}
	// A single message while the tail waits: it joins it.
	extra := Message{ID: "single", Peer: "bob", Text: "hello from the tail", Time: ms[len(ms)-1].Time.Add(time.Minute),
		State: StateReceived}
	if _, err := s.AddIncoming(extra); err != nil {
		t.Fatal(err)
	}
	ms = append(ms, extra)
	if st := readIndexState(t, s); st.through != 0 || st.rows != 0 {
		t.Fatalf("a single message behind a tail was indexed: %+v", st)
	}
	for step := 0; ; step++ {
		checkOracle(t, s, ms, fmt.Sprintf("index step %d", step))
		n, err := s.indexTail(k, 97)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if st := readIndexState(t, s); st.rows != int(st.through) {
			t.Fatalf("step %d: %+v; want the index to hold every row up to through", step, st)
		}
	}
	if st := readIndexState(t, s); st.through != int64(len(ms)) || st.rows != len(ms) {
		t.Fatalf("caught up: %+v; want all %d rows indexed", st, len(ms))
	}
	// No tail: a single message is indexed in its own transaction.
	last := Message{ID: "inline", Peer: "carol", Text: "lunch at noon", Time: extra.Time.Add(time.Minute), State: StateReceived}
	if _, err := s.AddIncoming(last); err != nil {
		t.Fatal(err)
	}
	ms = append(ms, last)
	if st := readIndexState(t, s); st.through != int64(len(ms)) || st.rows != len(ms) {
		t.Fatalf("a single message with no tail: %+v; want it indexed at once", st)
	}
	// A short batch with no tail is indexed in its transaction too.
	short := reindexFixture()[:deferBatchMin-1]
	for i := range short {
		short[i].ID = "short" + short[i].ID
		short[i].Time = last.Time.Add(time.Duration(i+1) * time.Second)
	}
	if _, err := s.AddIncomingBatch(short); err != nil {
		t.Fatal(err)
	}
	ms = append(ms, short...)
	if st := readIndexState(t, s); st.through != int64(len(ms)) || st.rows != len(ms) {
		t.Fatalf("a short batch with no tail: %+v; want it indexed at once", st)
	}
	checkOracle(t, s, ms, "all indexed")
}

// TestIndexAfterCrash: a store killed between a batch's commit and its
// indexing — here also half way through the indexing — is copied as the
// files stood (what kill -9 leaves), and the copy answers every search as
// the oracle before the indexer ran, and again once it has caught up (in
// the background, as after any Unlock), with every row indexed once.
func TestIndexAfterCrash(t *testing.T) {
	defer func(n int) { indexBatch = n }(indexBatch)
	indexBatch = 50
	ms := reindexFixture()
	for _, tc := range []struct {
		name    string
		indexed int // rows the index reached before the crash
	}{{"none indexed", 0}, {"half way", 150}} {
		t.Run(tc.name, func(t *testing.T) {
			holdIndexer(t)
			s, path := openTemp(t)
			k, err := s.history()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddIncomingBatch(ms); err != nil {
				t.Fatal(err)
			}
			for range tc.indexed / 50 {
				if n, err := s.indexTail(k, 50); err != nil || n != 50 {
					t.Fatalf("indexTail: %d, %v", n, err)
				}
			}
			crashed := filepath.Join(t.TempDir(), "crashed.db")
			copyFile(t, path, crashed)
			copyFile(t, path+"-wal", crashed+"-wal")

			c, err := Open(crashed)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Unlock(testKey); err != nil {
				t.Fatal(err)
			}
			if st := readIndexState(t, c); st.through != int64(tc.indexed) || st.rows != tc.indexed || st.newest != int64(len(ms)) {
				t.Fatalf("after the crash: %+v; want %d of %d indexed", st, tc.indexed, len(ms))
			}
			checkOracle(t, c, ms, "before the indexer ran")
			c.idx.close()

			indexDelay = 0
			c.idx.start(c, k)
			waitIndexed(t, c)
			if st := readIndexState(t, c); st.rows != len(ms) {
				t.Fatalf("after catching up: %+v; want every row indexed once", st)
			}
			checkOracle(t, c, ms, "after the indexer caught up")
		})
	}
}

// waitIndexed waits (a bounded while, so that a stuck indexer fails the
// test rather than hanging it) for the background indexer to reach the
// newest row.
func waitIndexed(t *testing.T, s *Store) {
	t.Helper()
	for range 2000 {
		lag, err := s.indexLag()
		if err != nil {
			t.Fatal(err)
		}
		if lag == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the indexer did not catch up")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestIndexLagBounded: batch after batch with the indexer held, the
// writer indexes enough of the tail itself that it never exceeds
// maxIndexLag, and search stays exact.
func TestIndexLagBounded(t *testing.T) {
	holdIndexer(t)
	defer func(n int64, d int) { maxIndexLag, deferBatchMin = n, d }(maxIndexLag, deferBatchMin)
	maxIndexLag, deferBatchMin = 100, 10
	ms := reindexFixture()
	s, _ := openTemp(t)
	for i := 0; i < len(ms); i += 40 {
		if _, err := s.AddIncomingBatch(ms[i:min(i+40, len(ms))]); err != nil {
			t.Fatal(err)
		}
		lag, err := s.indexLag()
		if err != nil {
			t.Fatal(err)
		}
		if lag > maxIndexLag {
			t.Fatalf("after %d messages the tail is %d rows; want at most %d", i+40, lag, maxIndexLag)
		}
		if i >= 200 && lag < 40 {
			t.Fatalf("after %d messages the tail is %d rows; want the last batch left to the indexer", i+40, lag)
		}
	}
	checkOracle(t, s, ms, "tail bounded")
}

// TestIndexerConcurrent runs batches, single messages, searches and the
// background indexer at once (for -race): every hit holds its query, no
// seq comes twice, and at the end each row is indexed once and search
// answers as the oracle.
func TestIndexerConcurrent(t *testing.T) {
	defer func(d time.Duration, n int) { indexDelay, indexBatch = d, n }(indexDelay, indexBatch)
	indexDelay, indexBatch = 0, 30
	ms := reindexFixture()
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(stop)
		for i := 0; i < len(ms); i += 80 {
			if _, err := s.AddIncomingBatch(ms[i:min(i+80, len(ms))]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, q := range reindexQueries[:6] {
				hs, err := s.Search(context.Background(), q)
				if err != nil {
					t.Error(err)
					return
				}
				phrases, _ := parseQuery(q.Text)
				seen := map[int64]bool{}
				for _, h := range hs {
					if seen[h.Seq] {
						t.Errorf("%+v: seq %d twice", q, h.Seq)
					}
					seen[h.Seq] = true
					if _, ok := matchText(searchable(&h.Message), phrases); !ok || q.Peer != "" && h.Peer != q.Peer {
						t.Errorf("%+v: hit %q does not hold the query", q, h.Text)
					}
				}
			}
		}
	})
	wg.Wait()
	waitIndexed(t, s)
	if st := readIndexState(t, s); st.rows != len(ms) {
		t.Fatalf("at the end: %+v; want every row indexed once", st)
	}
	checkOracle(t, s, ms, "after concurrent writing")
}

// TestIndexAfterMigration: migration 020 on a history an older program
// wrote (here one from before 018, so that its reindexing runs too) marks
// every stored row as indexed; after the reindexing at Unlock the index
// holds each row once, and a batch stored after it is left to the indexer
// with search exact before and after the indexer catches up.
func TestIndexAfterMigration(t *testing.T) {
	holdIndexer(t)
	all := reindexFixture()
	old, later := all[:300], all[300:]
	path := filepath.Join(t.TempDir(), "v17.db")
	writeV17Store(t, path, old)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := readIndexState(t, s); st.through != int64(len(old)) || st.newest != int64(len(old)) {
		t.Fatalf("after migration 020: %+v; want every stored row marked indexed", st)
	}
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	if st := readIndexState(t, s); st.through != int64(len(old)) || st.rows != len(old) {
		t.Fatalf("after the reindexing: %+v; want %d rows indexed once", st, len(old))
	}
	checkOracle(t, s, old, "after the migration")
	if _, err := s.AddIncomingBatch(later); err != nil {
		t.Fatal(err)
	}
	if st := readIndexState(t, s); st.through != int64(len(old)) || st.rows != len(old) {
		t.Fatalf("a batch after the migration: %+v; want it left to the indexer", st)
	}
	checkOracle(t, s, all, "a batch waiting for the indexer")
	k, err := s.history()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
		t.Fatal(err)
	}
	if st := readIndexState(t, s); st.through != int64(len(all)) || st.rows != len(all) {
		t.Fatalf("caught up: %+v; want all %d rows indexed once", st, len(all))
	}
	checkOracle(t, s, all, "caught up after the migration")
}
