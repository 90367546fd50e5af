package store

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Words of the search benchmark's history. commonWord is in about a quarter
// of the messages, rareWord in one in 100,000, and the prefix "hel" matches
// commonWord and the few generated words that start with it.
const (
	benchMessages = 1_000_000
	benchBatch    = 1000
	commonWord    = "hello"
	rareWord      = "zeppelin"
	benchPrefix   = "hel"
)

// searchBenchQueries are the measured queries, as a user types them.
var searchBenchQueries = []struct{ name, text, peer string }{
	{"rare", rareWord, ""},
	{"common", commonWord, ""},
	{"prefix", benchPrefix, ""},
	{"common+contact", commonWord, "peer042"},
}

// benchHistory is benchMessages messages with 100 peers: 4–16 words each
// from a 20,000-word vocabulary drawn with a Zipf law (as natural text
// is), plus the fixed words above. It is deterministic, so runs compare.
func benchHistory(n int) func(batch int) []Message {
	rng := rand.New(rand.NewSource(1))
	vocab := make([]string, 20000)
	for i := range vocab {
		b := make([]byte, 3+rng.Intn(7))
		for j := range b {
			b[j] = byte('a' + rng.Intn(26))
		}
		vocab[i] = string(b)
	}
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	return func(size int) []Message {
		ms := make([]Message, 0, size)
		for ; len(ms) < size && next < n; next++ {
			words := make([]string, 4+rng.Intn(13))
			for j := range words {
				words[j] = vocab[zipf.Uint64()]
			}
			if rng.Intn(4) == 0 {
				words[rng.Intn(len(words))] = commonWord
			}
			if next%(n/10) == n/20 { // ten rare messages, spread out
				words[0] = rareWord
			}
			ms = append(ms, Message{
				ID:       fmt.Sprintf("m%d", next),
				Peer:     fmt.Sprintf("peer%03d", next%100),
				Outgoing: next%2 == 0,
				Text:     strings.Join(words, " "),
				Time:     t0.Add(time.Duration(next) * time.Second),
				State:    StateDelivered,
			})
		}
		return ms
	}
}

// BenchmarkHistorySearch builds a database of a million messages with
// AddIncomingBatch (reported as build, msgs/s) and measures searches on it
// beside the same searches on an empty database, in the same run. Each
// search asks for one page (DefaultSearchLimit hits, newest first), as the
// history window does; p50 and p95 are reported beside the mean.
//
// The million-message database is built once per run (about a minute on
// two cores), not cached between runs: a cached file would have to be kept
// in step with the schema, the generator and SQLite's own version.
func BenchmarkHistorySearch(b *testing.B) {
	dir := b.TempDir()
	open := func(name string) *Store {
		s, err := Open(filepath.Join(dir, name))
		if err == nil {
			err = s.Unlock(testKey)
		}
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	empty := open("empty.db")
	defer empty.Close()
	var full *Store
	var buildRate, buildCPU float64
	var dbBytes int64
	build := func(b *testing.B) *Store {
		if full != nil {
			return full
		}
		s := open("1m.db")
		gen := benchHistory(benchMessages)
		var took time.Duration
		cpu0 := processCPU(b)
		for {
			ms := gen(benchBatch)
			if len(ms) == 0 {
				break
			}
			start := time.Now()
			if _, err := s.AddIncomingBatch(ms); err != nil {
				b.Fatal(err)
			}
			took += time.Since(start)
		}
		// Searches are measured on the history indexed to its end, as it
		// is once the indexer has caught up (indexer.go); the build's rate
		// includes that catching up.
		k, err := s.history()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		buildRate = benchMessages / took.Seconds()
		buildCPU = float64((processCPU(b) - cpu0).Microseconds()) / benchMessages
		if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "1m.db"))
		if err != nil {
			b.Fatal(err)
		}
		dbBytes = fi.Size()
		full = s
		return s
	}
	defer func() {
		if full != nil {
			full.Close()
		}
	}()

	b.Run("build", func(b *testing.B) {
		// One build is the operation; b.N stays 1 as it takes far more
		// than the bench time.
		build(b)
		b.ReportMetric(buildRate, "msgs/s")
		// CPU time per message, generation included (the rate above is
		// the time inside AddIncomingBatch only): steadier than the rate
		// on a shared machine.
		b.ReportMetric(buildCPU, "cpu-µs/msg")
		b.ReportMetric(float64(dbBytes)/1e6, "file-MB")
	})
	for _, db := range []string{"empty", "1M"} {
		for _, q := range searchBenchQueries {
			b.Run(db+"/"+q.name, func(b *testing.B) {
				s := empty
				if db == "1M" {
					s = build(b)
				}
				benchSearch(b, s, SearchQuery{Text: q.text, Peer: q.peer}, db == "1M")
			})
		}
	}
}

func benchSearch(b *testing.B, s *Store, q SearchQuery, wantHits bool) {
	ctx := context.Background()
	var took []time.Duration
	hits := 0
	for b.Loop() {
		start := time.Now()
		hs, err := s.Search(ctx, q)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		hits = len(hs)
	}
	if wantHits && hits == 0 {
		b.Fatalf("%q found nothing", q.Text)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(took[len(took)*95/100].Nanoseconds()), "p95-ns")
	b.ReportMetric(float64(hits), "hits")
}

// BenchmarkLoadContacts measures reading the contact list at sign-in with
// 1,000 contacts beside an empty list.
func BenchmarkLoadContacts(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s, _ := openTemp(b)
			for i := range n {
				c := Contact{Username: fmt.Sprintf("contact%04d", i), Relation: "accepted", Status: "online",
					Nick: fmt.Sprintf("Contact %d", i), Subnick: "a quick message", PeerID: "12D3KooWexample",
					Ticket: make([]byte, 200), MyToken: make([]byte, 32), TheirToken: make([]byte, 32)}
				if err := s.PutContact(c); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				cs, err := s.Contacts()
				if err != nil || len(cs) != n {
					b.Fatalf("%d contacts, %v; want %d", len(cs), err, n)
				}
			}
		})
	}
}

// BenchmarkHistoryInsert measures AddIncomingBatch alone: one op is a
// batch of benchBatch messages of benchHistory's text into one store,
// sealed and indexed, so the later ops insert into a growing index (run
// with -benchtime=100x for 100,000 messages). Reported as msgs/s: the time
// inside AddIncomingBatch, which returns once the rows are durable; and as
// indexed-msgs/s, which adds the time the index then takes to reach the
// last message (indexer.go).
func BenchmarkHistoryInsert(b *testing.B) {
	s, _ := openTemp(b)
	gen := benchHistory(benchMessages)
	n := 0
	var took time.Duration
	cpu0 := processCPU(b)
	for b.Loop() {
		b.StopTimer()
		ms := gen(benchBatch)
		b.StartTimer()
		start := time.Now()
		if _, err := s.AddIncomingBatch(ms); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		n += len(ms)
	}
	cpu1 := processCPU(b)
	k, err := s.history()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)/(took+time.Since(start)).Seconds(), "indexed-msgs/s")
	// The CPU time until the last batch returned (its rows durable, up
	// to maxIndexLag of them not yet indexed), generation included.
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(n), "stored-cpu-µs/msg")
	// On a shared machine wall time says more about the neighbours than
	// about the code; the process's CPU time per message (generation
	// included, which is small) is the steadier figure.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(n), "cpu-µs/msg")
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexTail measures the indexer's catching up (indexer.go): one
// op stores ten batches of benchBatch messages with the indexer held, then
// indexes them as the indexer does, into a store that already holds
// 30,000 indexed messages. Reported as msgs/s and CPU per message of the
// indexing alone.
func BenchmarkIndexTail(b *testing.B) {
	defer func(d time.Duration) { indexDelay = d }(indexDelay)
	indexDelay = time.Hour
	s, _ := openTemp(b)
	k, err := s.history()
	if err != nil {
		b.Fatal(err)
	}
	gen := benchHistory(benchMessages)
	store := func(batches int) {
		for range batches {
			if _, err := s.AddIncomingBatch(gen(benchBatch)); err != nil {
				b.Fatal(err)
			}
		}
	}
	store(30)
	if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
		b.Fatal(err)
	}
	n := 0
	var took, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		store(10)
		b.StartTimer()
		cpu0, start := processCPU(b), time.Now()
		if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		cpu += processCPU(b) - cpu0
		n += 10 * benchBatch
	}
	b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/msg")
}

// BenchmarkSearchTail measures a search over the unindexed tail at its
// bound, maxIndexLag rows, with the indexer held: a rare word that no row
// of the tail holds (every row opened and checked, the worst case) and a
// common word (a page found in the first rows). Beside it, the same
// searches once the tail is indexed.
func BenchmarkSearchTail(b *testing.B) {
	defer func(d time.Duration) { indexDelay = d }(indexDelay)
	indexDelay = time.Hour
	s, _ := openTemp(b)
	gen := benchHistory(benchMessages)
	for range maxIndexLag / benchBatch {
		if _, err := s.AddIncomingBatch(gen(benchBatch)); err != nil {
			b.Fatal(err)
		}
	}
	if lag, err := s.indexLag(); err != nil || lag != maxIndexLag {
		b.Fatalf("tail of %d rows (%v); want %d", lag, err, maxIndexLag)
	}
	queries := []struct{ name, text string }{{"absent", "absentword"}, {"common", commonWord}}
	for _, q := range queries {
		b.Run("tail/"+q.name, func(b *testing.B) {
			benchSearch(b, s, SearchQuery{Text: q.text}, false)
		})
	}
	k, err := s.history()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
		b.Fatal(err)
	}
	for _, q := range queries {
		b.Run("indexed/"+q.name, func(b *testing.B) {
			benchSearch(b, s, SearchQuery{Text: q.text}, false)
		})
	}
}
