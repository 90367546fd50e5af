package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// reindexFixture is a history of a few conversations that share words,
// prefixes, phrases and entries, oldest first.
func reindexFixture() []Message {
	rng := rand.New(rand.NewSource(16))
	words := []string{"hello", "help", "helium", "hi", "lunch", "Lunchtime", "café", "cafe", "don't", "e-mail",
		"привет", "我们", "zeppelin", "the", "a", "at", "noon", "HELLO", "hel", "x"}
	peers := []string{"bob", "carol", "dave", "erin", "room:7"}
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var ms []Message
	for i := range 400 {
		var b strings.Builder
		for j := range 2 + rng.Intn(9) {
			if j > 0 {
				b.WriteString([]string{" ", ", ", "\n", "! "}[rng.Intn(4)])
			}
			b.WriteString(words[rng.Intn(len(words))])
		}
		m := Message{ID: fmt.Sprintf("m%d", i), Peer: peers[rng.Intn(len(peers))], Text: b.String(),
			Outgoing: i%3 == 0, Time: t0.Add(time.Duration(i) * time.Minute), State: StateReceived}
		if m.Outgoing {
			m.State = StateDelivered
		}
		switch i % 50 {
		case 7:
			m.Kind, m.Text = EntryNudge, ""
		case 8:
			m.Kind, m.Text = EntryJoined, "hello kitty"
		}
		ms = append(ms, m)
	}
	return ms
}

// reindexQueries are searched on every store of these tests.
var reindexQueries = []SearchQuery{
	{Text: "hello"}, {Text: "hel"}, {Text: "h"}, {Text: "hello", Peer: "bob"}, {Text: "he", Peer: "carol"},
	{Text: "lunch"}, {Text: "lunch", Peer: "dave", Limit: 3}, {Text: "don't"}, {Text: "e-mail", Peer: "erin"},
	{Text: "café"}, {Text: "CAFE", Peer: "bob"}, {Text: "nudge"}, {Text: "joined", Peer: "room:7"},
	{Text: "привет"}, {Text: "我们"}, {Text: "zeppelin noon"}, {Text: "the a"}, {Text: "hello", Peer: "nobody"},
	{Text: "absent"}, {Text: "x", Limit: 7}, {Text: "hello help", Peer: "erin", Limit: 2},
}

// oracleSearch is what Search must answer, by brute force: every message of
// q's conversation (all if none) below q.Before holding q's words, newest
// first.
func oracleSearch(t *testing.T, ms []Message, q SearchQuery) []string {
	t.Helper()
	phrases, err := parseQuery(q.Text)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := len(ms) - 1; i >= 0; i-- {
		seq := int64(i + 1)
		if q.Before > 0 && seq >= q.Before || q.Peer != "" && ms[i].Peer != q.Peer {
			continue
		}
		if _, ok := matchText(searchable(&ms[i]), phrases); ok {
			ids = append(ids, ms[i].ID)
		}
	}
	return ids
}

// searchAll pages through every hit of q, Limit at a time.
func searchAll(t *testing.T, s *Store, q SearchQuery) []SearchHit {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 50
	}
	var all []SearchHit
	for range 1000 {
		hs, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		all = append(all, hs...)
		if len(hs) < q.Limit {
			return all
		}
		q.Before = hs[len(hs)-1].Seq
	}
	t.Fatalf("paging %+v does not end", q)
	return nil
}

type hitView struct {
	Seq     int64
	ID      string
	Peer    string
	Snippet string
	Marks   [][2]int
}

func viewHits(hs []SearchHit) []hitView {
	var out []hitView
	for _, h := range hs {
		out = append(out, hitView{h.Seq, h.ID, h.Peer, h.Snippet, h.Marks})
	}
	return out
}

// writeV17Store builds at path a database as the program before migration
// 018 left it: ms sealed with testKey and indexed under their words only,
// with no conversation tokens.
func writeV17Store(t *testing.T, path string, ms []Message) {
	t.Helper()
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := setup(db, all, 17); err != nil {
		t.Fatal(err)
	}
	k, err := deriveHistoryKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.tokenizer()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The old program had sealed everything and checked its key.
	if _, err := tx.Exec(`DELETE FROM history_unsealed`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO storage_key_check (id, mac) VALUES (1, ?)`, k.keyCheck()); err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		body, err := k.seal(&ms[i])
		if err != nil {
			t.Fatal(err)
		}
		m := ms[i]
		res, err := tx.Exec(`INSERT INTO messages (id, peer, outgoing, text, body, time, state, sender, kind) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?)`,
			m.ID, m.Peer, m.Outgoing, body, nanos(m.Time), m.State, m.Sender, m.Kind)
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := res.LastInsertId()
		// The index row as the old program wrote it: its words' tokens
		// alone, sorted.
		var toks []indexToken
		for _, w := range tokenize(searchable(&m)) {
			toks = tok.wordTokens(toks, w.norm)
		}
		slices.Sort(toks)
		var b []byte
		for j, x := range slices.Compact(toks) {
			if j > 0 {
				b = append(b, ' ')
			}
			b = appendToken(b, x)
		}
		if _, err := tx.Exec(`INSERT INTO messages_index (rowid, tokens) VALUES (?, ?)`, seq, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// indexRows is how many rows the blind index holds.
func indexRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages_index_docsize`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReindexFromV17: a history the previous schema indexed is indexed
// again at the first Unlock after migration 018 — also when that is killed
// half way and resumed — and every search then answers exactly as on a
// store that was written with conversation tokens from the start, and as
// the brute-force oracle: same hits, order, snippets and highlights.
func TestReindexFromV17(t *testing.T) {
	defer func(n int) { reindexBatch = n }(reindexBatch)
	defer func(w, g int64) { searchWindow, searchGrowth = w, g }(searchWindow, searchGrowth)
	ms := reindexFixture()

	fresh, _ := openTemp(t)
	if _, err := fresh.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		stopAfter int // reindex batches done before a "kill"; 0 = none
	}{{"whole", 0}, {"resumed", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			reindexBatch = 37
			path := filepath.Join(t.TempDir(), "v17.db")
			writeV17Store(t, path, ms)
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := indexRows(t, s); n != 0 {
				t.Fatalf("migration 018 left %d index rows; want the index emptied", n)
			}
			if tc.stopAfter > 0 {
				k, err := deriveHistoryKeys(testKey)
				if err != nil {
					t.Fatal(err)
				}
				for range tc.stopAfter {
					if n, err := s.reindexRows(k); err != nil || n != reindexBatch {
						t.Fatalf("reindexRows: %d, %v", n, err)
					}
				}
				s.Close()
				if s, err = Open(path); err != nil {
					t.Fatal(err)
				}
			}
			batches := 0
			reindexBatchHook = func(int) { batches++ }
			defer func() { reindexBatchHook = nil }()
			if err := s.Unlock(testKey); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := (len(ms)+reindexBatch-1)/reindexBatch - tc.stopAfter
			if batches != want {
				t.Errorf("Unlock indexed %d batches; want %d", batches, want)
			}
			if n := indexRows(t, s); n != len(ms) {
				t.Errorf("index rows after reindexing: %d; want one per message, %d", n, len(ms))
			}
			var marks int
			if err := s.db.QueryRow(`SELECT count(*) FROM history_reindex`).Scan(&marks); err != nil || marks != 0 {
				t.Errorf("reindex mark left: %d, %v", marks, err)
			}
			for _, win := range []struct{ window, growth int64 }{{16384, 4}, {16, 2}} {
				searchWindow, searchGrowth = win.window, win.growth
				for _, q := range reindexQueries {
					got, wantHits := searchAll(t, s, q), searchAll(t, fresh, q)
					if !slices.EqualFunc(viewHits(got), viewHits(wantHits), hitEqual) {
						t.Errorf("window %d, %+v: migrated store answers\n%v\nfresh store\n%v", win.window, q, viewHits(got), viewHits(wantHits))
					}
					if ids, want := hitIDs(got), oracleSearch(t, ms, q); !slices.Equal(ids, want) {
						t.Errorf("window %d, %+v: hits %v; the oracle says %v", win.window, q, ids, want)
					}
				}
			}
			// Writing goes on as before, and a reopened store reindexes
			// nothing again.
			if _, err := s.AddIncoming(Message{ID: "new", Peer: "bob", Text: "hello again"}); err != nil {
				t.Fatal(err)
			}
			if hs, err := s.Search(context.Background(), SearchQuery{Text: "again", Peer: "bob"}); err != nil || len(hs) != 1 {
				t.Errorf("a new message after reindexing: %v, %v", hitIDs(hs), err)
			}
		})
	}
}

func hitEqual(a, b hitView) bool {
	return a.Seq == b.Seq && a.ID == b.ID && a.Peer == b.Peer && a.Snippet == b.Snippet &&
		slices.Equal(a.Marks, b.Marks)
}

// TestSearchWithinConversationMatchesOracle holds Search, with and without
// a conversation, to the brute-force oracle on a fresh store whose windows
// are small, so that a page spans several windows.
func TestSearchWithinConversationMatchesOracle(t *testing.T) {
	defer func(w, g int64) { searchWindow, searchGrowth = w, g }(searchWindow, searchGrowth)
	searchWindow, searchGrowth = 5, 3
	ms := reindexFixture()
	s, _ := openTemp(t)
	if _, err := s.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, q := range reindexQueries {
		ids, want := hitIDs(searchAll(t, s, q)), oracleSearch(t, ms, q)
		if !slices.Equal(ids, want) {
			t.Errorf("%+v: hits %v; the oracle says %v", q, ids, want)
		}
		if len(want) > 0 {
			found++
		}
	}
	if found < len(reindexQueries)-3 {
		t.Errorf("only %d of %d queries find anything: the fixture does not exercise search", found, len(reindexQueries))
	}
}

// BenchmarkReindexHistory measures the first Unlock after migration 018 on
// 100,000 sealed messages: the index emptied as the migration does, then
// indexed again. Reported as msgs/s.
func BenchmarkReindexHistory(b *testing.B) {
	const n = 100_000
	s, _ := openTemp(b)
	gen := benchHistory(n)
	for ms := gen(benchBatch); len(ms) > 0; ms = gen(benchBatch) {
		if _, err := s.AddIncomingBatch(ms); err != nil {
			b.Fatal(err)
		}
	}
	k, err := s.history()
	if err != nil {
		b.Fatal(err)
	}
	// The indexer's tail first, so that it does not run beside the timing.
	if err := s.catchUp(context.Background(), k, 0, nil); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := s.db.Exec(`DELETE FROM messages_index WHERE rowid > 0;
			INSERT INTO messages_index (messages_index) VALUES ('optimize');
			INSERT INTO history_reindex (id, after) VALUES (1, 0)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := s.reindexHistory(k); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "msgs/s")
}
