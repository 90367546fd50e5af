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

func TestMatchQuery(t *testing.T) {
	for _, tc := range []struct {
		text, want string
		err        error
	}{
		{"hello", `"hello" *`, nil},
		{"  hello   world ", `"hello" "world" *`, nil},
		{"Hello", `"Hello" *`, nil}, // FTS5 folds case itself
		// FTS5 syntax is only ever words.
		{`"hello`, `"hello" *`, nil},
		{`say "hi there"`, `"say" "hi" "there" *`, nil},
		{"foo*", `"foo" *`, nil},
		{"a*b", `"a b" *`, nil},
		{"NEAR(a b)", `"NEAR a" "b" *`, nil},
		{"cats AND dogs", `"cats" "AND" "dogs" *`, nil},
		{"OR", `"OR" *`, nil},
		{"NOT x", `"NOT" "x" *`, nil},
		{"text:foo", `"text foo" *`, nil},
		{"{text}:foo", `"text foo" *`, nil},
		{"^start", `"start" *`, nil},
		{"- + : ( ) \" * ^", "", ErrEmptyQuery},
		{"(a) -b", `"a" "b" *`, nil},
		{"don't", `"don t" *`, nil}, // the phrase FTS5 indexed
		{"e-mail x", `"e mail" "x" *`, nil},
		// Unicode letters and digits are kept.
		{"Grüße café", `"Grüße" "café" *`, nil},
		{"привет мир", `"привет" "мир" *`, nil},
		{"你好", `"你好" *`, nil},
		{"e\u0301clair", "\"e\u0301clair\" *", nil},
		{"42 ٣", `"42" "٣" *`, nil},
		{"🎉 party", `"party" *`, nil}, // an emoji is a separator for unicode61
		{"a\x00b", `"a b" *`, nil},
		{"bad\xffutf8", `"bad utf8" *`, nil},
		{"", "", ErrEmptyQuery},
		{"   \t\n", "", ErrEmptyQuery},
		{"!!! ...", "", ErrEmptyQuery},
		{strings.Repeat("w ", MaxQueryWords), strings.Repeat(`"w" `, MaxQueryWords) + "*", nil},
		{strings.Repeat("w ", MaxQueryWords+1), "", ErrQueryTooLong},
		{strings.Repeat("x", MaxQueryBytes+1), "", ErrQueryTooLong},
	} {
		got, err := MatchQuery(tc.text)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("MatchQuery(%q) = %q, %v; want %q, %v", tc.text, got, err, tc.want, tc.err)
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
		q, _ := MatchQuery(text)
		for _, h := range hs {
			for _, w := range strings.Fields(strings.NewReplacer(`"`, "", "*", "").Replace(q)) {
				if !strings.Contains(strings.ToLower(h.Text), strings.ToLower(w)) {
					t.Errorf("Search(%q) hit %q lacks %q", text, h.Text, w)
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
		q := `EXPLAIN QUERY PLAN SELECT m.seq, highlight(messages_fts, 0, '[', ']')
			FROM messages_fts CROSS JOIN messages AS m ON m.seq = messages_fts.rowid
			WHERE messages_fts MATCH 'lunch' AND messages_fts.rowid >= 1 AND messages_fts.rowid < 100`
		if peer {
			q += ` AND m.peer = 'bob'`
		}
		q += ` ORDER BY messages_fts.rowid DESC LIMIT 5`
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
		if len(plan) < 2 || !strings.HasPrefix(plan[0], "SCAN messages_fts VIRTUAL TABLE") ||
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

func TestParseHighlight(t *testing.T) {
	o, c := markOpen, markClose
	for _, tc := range []struct {
		text, hl string
		want     [][2]int
		err      bool
	}{
		{"a b c", "a " + o + "b" + c + " c", [][2]int{{2, 3}}, false},
		{"ab", o + "a" + c + o + "b" + c, [][2]int{{0, 2}}, false}, // adjacent: one run
		{"don't x", o + "don" + c + "'" + o + "t" + c + " x", [][2]int{{0, 3}, {4, 5}}, false},
		{"é b", o + "é" + c + " b", [][2]int{{0, 2}}, false},
		{"x" + o + "y", "x" + o + o + "y" + c, nil, true}, // the text held a marker
		{"x", "x" + c, nil, true},
		{"x", o + "x", nil, true},
		{"x", "y", nil, true},
	} {
		got, err := parseHighlight(tc.text, tc.hl)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseHighlight(%q, %q) = %v, %v; want %v, error %v", tc.text, tc.hl, got, err, tc.want, tc.err)
		}
	}
}

func TestSearchMarkerInText(t *testing.T) {
	s, _ := openTemp(t)
	text := "evil " + markOpen + " lunch " + markClose + " text"
	if _, err := s.AddIncoming(Message{ID: "x", Peer: "bob", Text: text}); err != nil {
		t.Fatal(err)
	}
	hs, err := s.Search(context.Background(), SearchQuery{Text: "lunch"})
	if err != nil || len(hs) != 1 {
		t.Fatalf("hits %v, %v", hs, err)
	}
	if hs[0].Snippet != text || len(hs[0].Marks) != 0 {
		t.Errorf("snippet %q marks %v; want the text unmarked", hs[0].Snippet, hs[0].Marks)
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

// FuzzMatchQuery: whatever the user types, the query either is refused
// with a search error or is valid FTS5 that runs, and made only of quoted
// words.
func FuzzMatchQuery(f *testing.F) {
	for _, seed := range []string{"hello", `"`, `a OR b`, "NEAR(a b, 3)", "text:x", "a*", "^x", "{a b}:c", "\x00", "\xff",
		"e\u0301", "你好", "don't", "(", "-x", "+", "AND", "a \"b c\" d*"} {
		f.Add(seed)
	}
	s, _ := openTemp(f)
	if _, err := s.AddIncoming(Message{ID: "1", Peer: "bob", Text: "some text to match against"}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := MatchQuery(text)
		if err != nil {
			if !errors.Is(err, ErrEmptyQuery) && !errors.Is(err, ErrQueryTooLong) {
				t.Fatalf("MatchQuery(%q): unexpected error %v", text, err)
			}
			return
		}
		// Shape: "w w" "w" ... "w" * — quotes only around phrases.
		body, ok := strings.CutSuffix(q, " *")
		if !ok {
			t.Fatalf("MatchQuery(%q) = %q: last word not a prefix", text, q)
		}
		for _, p := range strings.Split(body, `" "`) {
			p = strings.TrimPrefix(strings.TrimSuffix(p, `"`), `"`)
			if p == "" || strings.ContainsAny(p, "\"*\x00") || !utf8.ValidString(p) {
				t.Fatalf("MatchQuery(%q) = %q: bad phrase %q", text, q, p)
			}
		}
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?`, q).Scan(&n); err != nil {
			t.Fatalf("MatchQuery(%q) = %q: FTS5 refused it: %v", text, q, err)
		}
	})
}
