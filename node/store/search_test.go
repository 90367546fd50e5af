package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseQuery(t *testing.T) {
	p := func(words ...string) []string { return words }
	for _, tc := range []struct {
		text string
		want [][]string
		err  error
	}{
		{"hello", [][]string{p("hello")}, nil},
		{"  hello   world ", [][]string{p("hello"), p("world")}, nil},
		{"Hello", [][]string{p("hello")}, nil}, // case folded
		// Query syntax is only ever words.
		{`"hello`, [][]string{p("hello")}, nil},
		{`say "hi there"`, [][]string{p("say"), p("hi"), p("there")}, nil},
		{"foo*", [][]string{p("foo")}, nil},
		{"a*b", [][]string{p("a", "b")}, nil},
		{"NEAR(a b)", [][]string{p("near", "a"), p("b")}, nil},
		{"cats AND dogs", [][]string{p("cats"), p("and"), p("dogs")}, nil},
		{"OR", [][]string{p("or")}, nil},
		{"NOT x", [][]string{p("not"), p("x")}, nil},
		{"text:foo", [][]string{p("text", "foo")}, nil},
		{"{text}:foo", [][]string{p("text", "foo")}, nil},
		{"^start", [][]string{p("start")}, nil},
		{"- + : ( ) \" * ^", nil, ErrEmptyQuery},
		{"(a) -b", [][]string{p("a"), p("b")}, nil},
		{"don't", [][]string{p("don", "t")}, nil}, // the two words the text is split into
		{"e-mail x", [][]string{p("e", "mail"), p("x")}, nil},
		// Unicode letters and digits are kept; Latin diacritics folded.
		{"Grüße café", [][]string{p("gruße"), p("cafe")}, nil},
		{"привет мир", [][]string{p("привет"), p("мир")}, nil},
		{"你好", [][]string{p("你好")}, nil},
		{"e\u0301clair éclair", [][]string{p("eclair"), p("eclair")}, nil},
		{"42 ٣", [][]string{p("42"), p("٣")}, nil},
		{"🎉 party", [][]string{p("party")}, nil}, // an emoji is a separator
		{"a\x00b", [][]string{p("a", "b")}, nil},
		{"bad\xffutf8", [][]string{p("bad", "utf8")}, nil},
		{"", nil, ErrEmptyQuery},
		{"   \t\n", nil, ErrEmptyQuery},
		{"!!! ...", nil, ErrEmptyQuery},
		{strings.Repeat("w ", MaxQueryWords), slices.Repeat([][]string{p("w")}, MaxQueryWords), nil},
		{strings.Repeat("w ", MaxQueryWords+1), nil, ErrQueryTooLong},
		{strings.Repeat("x", MaxQueryBytes+1), nil, ErrQueryTooLong},
	} {
		got, err := parseQuery(tc.text)
		if !errors.Is(err, tc.err) || !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("parseQuery(%q) = %q, %v; want %q, %v", tc.text, got, err, tc.want, tc.err)
		}
	}
}

// searchFixture is a store with a few conversations, oldest first.
func searchFixture(t *testing.T) *Store {
	t.Helper()
	s, _ := openTemp(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := []Message{
		{ID: "b1", Peer: "bob", Text: "Shall we have lunch tomorrow?"},
		{ID: "b2", Peer: "bob", Text: "lunch at noon, the usual place", Outgoing: true, State: StateDelivered},
		{ID: "c1", Peer: "carol", Text: "Lunchtime concert at the café"},
		{ID: "c2", Peer: "carol", Text: "Grüße aus München! Das Café war schön."},
		{ID: "d1", Peer: "dave", Text: "привет, как дела? NEAR the AND gate OR not"},
		{ID: "d2", Peer: "dave", Text: "我们明天吃午饭 lunch"},
		{ID: "d3", Peer: "dave", Text: "don't forget the e-mail about text:foo"},
		{ID: "b3", Peer: "bob", Text: "LUNCH was great, thanks"},
	}
	for i := range ms {
		ms[i].Time = t0.Add(time.Duration(i) * time.Minute)
	}
	if _, err := s.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	return s
}

func hitIDs(hs []SearchHit) []string {
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	return ids
}

// markedWords is what a hit's marks point at.
func markedWords(t *testing.T, h SearchHit) []string {
	t.Helper()
	var out []string
	last := 0
	for _, m := range h.Marks {
		if m[0] < last || m[0] >= m[1] || m[1] > len(h.Snippet) {
			t.Fatalf("%s: bad marks %v in snippet %q", h.ID, h.Marks, h.Snippet)
		}
		last = m[1]
		out = append(out, h.Snippet[m[0]:m[1]])
	}
	return out
}

func TestSearch(t *testing.T) {
	s := searchFixture(t)
	for _, tc := range []struct {
		name  string
		q     SearchQuery
		want  []string
		marks map[string][]string // marked words by message ID
	}{
		{"one word, newest first, case folded", SearchQuery{Text: "lunch"},
			[]string{"b3", "d2", "c1", "b2", "b1"},
			map[string][]string{"b3": {"LUNCH"}, "c1": {"Lunchtime"}, "b1": {"lunch"}}},
		{"last word is a prefix", SearchQuery{Text: "lun"}, []string{"b3", "d2", "c1", "b2", "b1"}, nil},
		{"earlier words are whole", SearchQuery{Text: "lun great"}, nil, nil},
		{"every word must match", SearchQuery{Text: "lunch noon"}, []string{"b2"},
			map[string][]string{"b2": {"lunch", "noon"}}},
		{"with one contact", SearchQuery{Text: "lunch", Peer: "bob"}, []string{"b3", "b2", "b1"}, nil},
		{"with a stranger", SearchQuery{Text: "lunch", Peer: "eve"}, nil, nil},
		{"limit", SearchQuery{Text: "lunch", Limit: 2}, []string{"b3", "d2"}, nil},
		{"before", SearchQuery{Text: "lunch", Before: 3}, []string{"b2", "b1"}, nil},
		{"diacritics folded", SearchQuery{Text: "cafe"}, []string{"c2", "c1"},
			map[string][]string{"c1": {"café"}, "c2": {"Café"}}},
		{"umlaut", SearchQuery{Text: "grusse"}, nil, nil}, // unicode61 folds ü to u, not ue
		{"umlaut typed", SearchQuery{Text: "grüße münchen"}, []string{"c2"},
			map[string][]string{"c2": {"Grüße", "München"}}},
		{"cyrillic", SearchQuery{Text: "ПРИВЕТ"}, []string{"d1"}, map[string][]string{"d1": {"привет"}}},
		{"cjk prefix", SearchQuery{Text: "我们"}, []string{"d2"}, map[string][]string{"d2": {"我们明天吃午饭"}}},
		{"operators are words", SearchQuery{Text: "NEAR AND OR not"}, []string{"d1"},
			map[string][]string{"d1": {"NEAR", "AND", "OR", "not"}}},
		{"column filter is a phrase", SearchQuery{Text: "text:foo"}, []string{"d3"},
			map[string][]string{"d3": {"text:foo"}}},
		{"apostrophe", SearchQuery{Text: "don't forget"}, []string{"d3"}, map[string][]string{"d3": {"don't", "forget"}}},
		{"quotes and stars", SearchQuery{Text: `"lunch*" (noon`}, []string{"b2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := s.Search(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := hitIDs(hs); !slices.Equal(got, tc.want) {
				t.Fatalf("hits %v, want %v", got, tc.want)
			}
			for _, h := range hs {
				if h.Snippet != h.Text {
					t.Errorf("%s: short text cut to %q", h.ID, h.Snippet)
				}
				if want, ok := tc.marks[h.ID]; ok {
					if got := markedWords(t, h); !slices.Equal(got, want) {
						t.Errorf("%s: marked %q in %q, want %q", h.ID, got, h.Snippet, want)
					}
				}
			}
		})
	}

	// Hits carry the whole message.
	hs, err := s.Search(context.Background(), SearchQuery{Text: "noon"})
	if err != nil || len(hs) != 1 {
		t.Fatalf("noon: %v, %v", hs, err)
	}
	h := hs[0]
	want := Message{ID: "b2", Peer: "bob", Outgoing: true, Text: "lunch at noon, the usual place", State: StateDelivered,
		Time: time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC)}
	if h.ID != want.ID || h.Peer != want.Peer || h.Outgoing != want.Outgoing || h.Text != want.Text ||
		h.State != want.State || !h.Time.Equal(want.Time) || h.Seq != 2 {
		t.Errorf("hit = %+v, want %+v at seq 2", h, want)
	}
}

func TestSearchErrors(t *testing.T) {
	s := searchFixture(t)
	for _, text := range []string{"", "   ", `"`, "***", "( )", "(*)", "🎉"} {
		if _, err := s.Search(context.Background(), SearchQuery{Text: text}); !errors.Is(err, ErrEmptyQuery) {
			t.Errorf("Search(%q): %v, want ErrEmptyQuery", text, err)
		}
	}
	if _, err := s.Search(context.Background(), SearchQuery{Text: strings.Repeat("a ", 17)}); !errors.Is(err, ErrQueryTooLong) {
		t.Errorf("17 words: %v, want ErrQueryTooLong", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, SearchQuery{Text: "lunch"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled search: %v, want context.Canceled", err)
	}
}

// TestSearchSyntaxIsInert throws FTS5 syntax at Search: nothing may fail
// other than with ErrEmptyQuery, and nothing may match more than the words.
func TestSearchSyntaxIsInert(t *testing.T) {
	s := searchFixture(t)
	for _, text := range []string{
		`"`, `""`, `"""`, `lunch"`, `"lunch`, `lunch OR great`, `lunch NOT noon`, `NEAR(lunch noon, 2)`,
		`lunch AND`, `AND lunch`, `(lunch`, `lunch)`, `text : lunch`, `- lunch`, `+lunch`, `^lunch`,
		`{text}: lunch`, `* lunch`, `lunch **`, `lunch\`, `'lunch'`, `lunch;DROP TABLE messages`, "\x00lunch",
		`rank:lunch`, `messages_fts:lunch`, `rowid:1`, `"lunch" * *`, `NEAR`, `NEAR/3`,
	} {
		hs, err := s.Search(context.Background(), SearchQuery{Text: text})
		if err != nil {
			if !errors.Is(err, ErrEmptyQuery) {
				t.Errorf("Search(%q): %v", text, err)
			}
			continue
		}
		// Every hit contains every word the query has.
		phrases, _ := parseQuery(text)
		for _, h := range hs {
			for _, ph := range phrases {
				for _, w := range ph {
					if !strings.Contains(fold(h.Text), w) {
						t.Errorf("Search(%q) hit %q lacks %q", text, h.Text, w)
					}
				}
			}
		}
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 8 {
		t.Fatalf("messages after the syntax storm: %d, %v", n, err)
	}
}

func TestSearchWindows(t *testing.T) {
	defer func(w, g int64) { searchWindow, searchGrowth = w, g }(searchWindow, searchGrowth)
	searchWindow, searchGrowth = 3, 2

	s, _ := openTemp(t)
	// 100 messages; every 7th says needle, every 2nd is with bob.
	var ms []Message
	var want, wantBob []string
	for i := 1; i <= 100; i++ {
		m := Message{ID: fmt.Sprint(i), Peer: "alice", Text: fmt.Sprintf("hay %d", i)}
		if i%2 == 0 {
			m.Peer = "bob"
		}
		if i%7 == 0 {
			m.Text = fmt.Sprintf("hay needle %d", i)
			want = append([]string{m.ID}, want...)
			if m.Peer == "bob" {
				wantBob = append([]string{m.ID}, wantBob...)
			}
		}
		ms = append(ms, m)
	}
	if _, err := s.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	page := func(q SearchQuery) []string {
		var all []string
		// One page per message at most: a pager that stops advancing
		// fails instead of hanging.
		for range len(ms) + 1 {
			hs, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, hitIDs(hs)...)
			if len(hs) < q.Limit {
				return all
			}
			q.Before = hs[len(hs)-1].Seq
		}
		t.Fatalf("paging %+v did not end within %d pages", q, len(ms)+1)
		return nil
	}
	for _, limit := range []int{1, 2, 5, 14, 100} {
		if got := page(SearchQuery{Text: "needle", Limit: limit}); !slices.Equal(got, want) {
			t.Errorf("limit %d: paged hits %v, want %v", limit, got, want)
		}
		if got := page(SearchQuery{Text: "needle", Peer: "bob", Limit: limit}); !slices.Equal(got, wantBob) {
			t.Errorf("limit %d, bob: paged hits %v, want %v", limit, got, wantBob)
		}
	}
	// A common word fills the page from the newest window alone.
	hs, err := s.Search(context.Background(), SearchQuery{Text: "hay", Limit: 3})
	if err != nil || !slices.Equal(hitIDs(hs), []string{"100", "99", "98"}) {
		t.Errorf("hay: %v, %v", hitIDs(hs), err)
	}
	// Empty database, and a page beyond the oldest message.
	empty, _ := openTemp(t)
	if hs, err := empty.Search(context.Background(), SearchQuery{Text: "hay"}); err != nil || len(hs) != 0 {
		t.Errorf("empty store: %v, %v", hs, err)
	}
	if hs, err := s.Search(context.Background(), SearchQuery{Text: "hay", Before: 1}); err != nil || len(hs) != 0 {
		t.Errorf("before 1: %v, %v", hs, err)
	}
}

func TestSearchLimitCapped(t *testing.T) {
	s, _ := openTemp(t)
	ms := make([]Message, MaxSearchLimit+10)
	for i := range ms {
		ms[i] = Message{ID: fmt.Sprint(i), Peer: "bob", Text: "same words"}
	}
	if _, err := s.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ limit, want int }{{0, DefaultSearchLimit}, {-5, DefaultSearchLimit}, {7, 7},
		{MaxSearchLimit, MaxSearchLimit}, {MaxSearchLimit + 1, MaxSearchLimit}, {1 << 30, MaxSearchLimit}} {
		hs, err := s.Search(context.Background(), SearchQuery{Text: "same", Limit: tc.limit})
		if err != nil || len(hs) != tc.want {
			t.Errorf("limit %d: %d hits, %v; want %d", tc.limit, len(hs), err, tc.want)
		}
	}
}

// TestSearchPlan pins the query plan that keeps common words fast: FTS5 is
// the outer loop and delivers rows newest first itself (no sort), with or
// without a contact filter. Timing is for the benchmark; the plan is what
// a unit test can hold.
func TestSearchPlan(t *testing.T) {
	s := searchFixture(t)
	for _, peer := range []bool{false, true} {
		q := `EXPLAIN QUERY PLAN SELECT m.seq, m.body
			FROM messages_index CROSS JOIN messages AS m ON m.seq = messages_index.rowid
			WHERE messages_index MATCH 'abc' AND messages_index.rowid >= 1 AND messages_index.rowid < 100`
		if peer {
			q += ` AND m.peer = 'bob'`
		}
		q += ` ORDER BY messages_index.rowid DESC`
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) < 2 || !strings.HasPrefix(plan[0], "SCAN messages_index VIRTUAL TABLE") ||
			!strings.Contains(plan[1], "INTEGER PRIMARY KEY") {
			t.Errorf("peer filter %v: plan %q; want the FTS table outside, messages by rowid inside", peer, plan)
		}
		if slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "TEMP B-TREE") }) {
			t.Errorf("peer filter %v: plan sorts: %q", peer, plan)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 30) + "NEEDLE here" + strings.Repeat(" dolor sit", 30)
	at := strings.Index(long, "NEEDLE")
	for _, tc := range []struct {
		name      string
		text      string
		marks     [][2]int
		want      string
		wantMarks []string
	}{
		{"short text whole", "say hi", [][2]int{{4, 6}}, "say hi", []string{"hi"}},
		{"line breaks become spaces", "a\nb\r\nc\td", nil, "a b  c d", nil},
		{"long text around the match", long, [][2]int{{at, at + 6}},
			"…lorem ipsum lorem ipsum lorem ipsum NEEDLE here" + strings.Repeat(" dolor sit", 11) + "…",
			[]string{"NEEDLE"}},
		{"long text, match at start", "NEEDLE " + strings.Repeat("x ", 200), [][2]int{{0, 6}},
			"NEEDLE " + strings.TrimSpace(strings.Repeat("x ", 76)) + "…", []string{"NEEDLE"}},
		{"long text, no marks", strings.Repeat("ab ", 100), nil,
			strings.TrimSpace(strings.Repeat("ab ", 53)) + "…", nil},
		{"long match is never cut", "a " + strings.Repeat("z", 300), [][2]int{{2, 302}},
			"a " + strings.Repeat("z", 300), []string{strings.Repeat("z", 300)}},
		{"marks past the cut are dropped", strings.Repeat("w ", 100) + "x", [][2]int{{0, 1}, {200, 201}},
			strings.TrimSpace(strings.Repeat("w ", 80)) + "…", []string{"w"}},
		{"a long word before the match is left out", strings.Repeat("ж", 100) + " ok", [][2]int{{201, 203}},
			"…ok", []string{"ok"}},
		{"multi-byte text is cut on rune boundaries", "a" + strings.Repeat("ж", 200), [][2]int{{0, 1}},
			"a" + strings.Repeat("ж", 79) + "…", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, marks := snippet(tc.text, tc.marks)
			if got != tc.want {
				t.Errorf("snippet = %q\nwant      %q", got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("snippet is not valid UTF-8: %q", got)
			}
			words := markedWords(t, SearchHit{Message: Message{ID: tc.name}, Snippet: got, Marks: marks})
			if !slices.Equal(words, tc.wantMarks) {
				t.Errorf("marked %q, want %q", words, tc.wantMarks)
			}
		})
	}
}

// TestSearchMarkerInText: private-use characters (which the old highlight
// markers were) are text like any other; the marks still find the word.
func TestSearchMarkerInText(t *testing.T) {
	s, _ := openTemp(t)
	text := "evil \uE000 lunch \uE001 text"
	if _, err := s.AddIncoming(Message{ID: "x", Peer: "bob", Text: text}); err != nil {
		t.Fatal(err)
	}
	hs, err := s.Search(context.Background(), SearchQuery{Text: "lunch"})
	if err != nil || len(hs) != 1 {
		t.Fatalf("hits %v, %v", hs, err)
	}
	if got := markedWords(t, hs[0]); hs[0].Snippet != text || !slices.Equal(got, []string{"lunch"}) {
		t.Errorf("snippet %q marks %q; want the text with lunch marked", hs[0].Snippet, got)
	}
}

func TestAddIncomingBatch(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.AddIncoming(Message{ID: "old", Peer: "bob", Text: "was here"}); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	got, err := s.AddIncomingBatch([]Message{
		{ID: "n1", Peer: "bob", Text: "first new", Time: at},
		{ID: "old", Peer: "bob", Text: "duplicate of a stored one"},
		{ID: "n1", Peer: "bob", Text: "duplicate within the batch"},
		{ID: "n1", Peer: "carol", Text: "same ID, other peer"},
		{ID: "n2", Peer: "bob", Text: "sent from another device", Outgoing: true, State: StateDelivered},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false, true, true}; !slices.Equal(got, want) {
		t.Fatalf("inserted %v, want %v", got, want)
	}
	h, err := s.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msgIDs(h), []string{"old", "n1", "n2"}) {
		t.Fatalf("history %v", msgIDs(h))
	}
	if h[1].Text != "first new" || !h[1].Time.Equal(at) || h[1].State != StateReceived || h[1].Outgoing {
		t.Errorf("n1 stored as %+v", h[1])
	}
	if !h[2].Outgoing || h[2].State != StateDelivered || h[2].Time.IsZero() {
		t.Errorf("n2 stored as %+v", h[2])
	}
	// Indexed for search like any message.
	if hs, err := s.Search(context.Background(), SearchQuery{Text: "another device"}); err != nil || !slices.Equal(hitIDs(hs), []string{"n2"}) {
		t.Errorf("search of a batched message: %v, %v", hitIDs(hs), err)
	}

	// A bad message fails the whole batch: nothing of it is stored.
	if _, err := s.AddIncomingBatch([]Message{{ID: "n3", Peer: "bob", Text: "x"}, {ID: "", Peer: "bob"}}); err == nil {
		t.Fatal("batch with an empty ID succeeded")
	}
	if _, err := s.AddIncomingBatch([]Message{{ID: "n3", Peer: "bob", Text: "x"}, {ID: "n4", Peer: "bob", State: "bogus"}}); err == nil {
		t.Fatal("batch with an invalid state succeeded")
	}
	if h, _ := s.History("bob", 0, ""); len(h) != 3 {
		t.Errorf("a failed batch left messages: %v", msgIDs(h))
	}
	if got, err := s.AddIncomingBatch(nil); err != nil || got != nil {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}

// FuzzSearch: whatever the user types, Search either refuses it with a
// search error or runs, and every hit holds every word of the query.
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{"hello", `"`, `a OR b`, "NEAR(a b, 3)", "text:x", "a*", "^x", "{a b}:c", "\x00", "\xff",
		"e\u0301", "你好", "don't", "(", "-x", "+", "AND", "a \"b c\" d*", "some te", "to-mat", "AGAINST"} {
		f.Add(seed)
	}
	s, _ := openTemp(f)
	if _, err := s.AddIncoming(Message{ID: "1", Peer: "bob", Text: "some text to-match against"}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		hs, err := s.Search(context.Background(), SearchQuery{Text: text})
		if err != nil {
			if !errors.Is(err, ErrEmptyQuery) && !errors.Is(err, ErrQueryTooLong) {
				t.Fatalf("Search(%q): unexpected error %v", text, err)
			}
			return
		}
		phrases, err := parseQuery(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, ph := range phrases {
			for _, w := range ph {
				if w == "" || !utf8.ValidString(w) {
					t.Fatalf("parseQuery(%q): bad word %q", text, w)
				}
			}
		}
		for _, h := range hs {
			if _, ok := matchText(h.Text, phrases); !ok {
				t.Fatalf("Search(%q) hit %q, which does not hold the query", text, h.Text)
			}
			markedWords(t, h)
		}
	})
}
