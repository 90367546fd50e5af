package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search errors callers branch on (the node reports both as bad requests).
var (
	ErrEmptyQuery   = errors.New("search query has no words")
	ErrQueryTooLong = fmt.Errorf("search query longer than %d bytes or %d words", MaxQueryBytes, MaxQueryWords)
)

// Search limits. A query's cost grows with its words (each is a doclist
// FTS5 merges), so both its length and its word count are bounded.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 500
	MaxQueryBytes      = 1024
	MaxQueryWords      = 16
)

// searchWindow is the first window of seqs Search looks at, newest first;
// each following window is searchGrowth times larger. A common word fills a
// page in the first window without FTS5 visiting its older matches (ranking
// the whole match set cost 278 ms for a common word at 1M messages, see
// DESIGN.md §5); a rare word costs a handful of cheap windows.
// They are variables so that tests can make windows small.
var (
	searchWindow int64 = 16384
	searchGrowth int64 = 4
)

// Snippet shape: up to snippetMax bytes of text, starting up to
// snippetLead bytes before the first matched word.
const (
	snippetMax  = 160
	snippetLead = 40
	ellipsis    = "…"
)

// SearchQuery is a full-text search over every conversation's messages.
type SearchQuery struct {
	Text   string // words as the user typed them
	Peer   string // only the conversation with Peer; "" for all
	Limit  int    // at most this many hits; <= 0 means DefaultSearchLimit, capped at MaxSearchLimit
	Before int64  // only messages with a smaller Seq; <= 0 for the newest
}

// SearchHit is one message that matched. Marks are [start, end) byte
// offsets of the matched words in Snippet, in order, not overlapping. For
// an entry that is not a message, Snippet is cut from what search finds
// it by (searchable in entries.go): a file's name, say.
type SearchHit struct {
	Message
	Seq     int64
	Snippet string
	Marks   [][2]int
}

// Search returns the messages that contain every word of q.Text (the last
// word also as a prefix), newest first. Page on with Before set to the Seq
// of the last hit. It needs the store unlocked (ErrLocked otherwise).
//
// The index holds keyed tokens only (see history.go): FTS5 finds the
// candidates by token, newest first, and each is opened and checked here,
// which also finds the words to highlight.
func (s *Store) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	phrases, err := parseQuery(q.Text)
	if err != nil {
		return nil, fmt.Errorf("store: search %q: %w", q.Text, err)
	}
	k, err := s.history()
	if err != nil {
		return nil, fmt.Errorf("store: search %q: %w", q.Text, err)
	}
	match := k.tokenizer().matchExpr(phrases, q.Peer)
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultSearchLimit
	case limit > MaxSearchLimit:
		limit = MaxSearchLimit
	}
	// seq is the rowid: max() is one b-tree descent (NULL when empty).
	var top sql.NullInt64
	var through int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT max(seq) FROM messages), through FROM history_indexed WHERE id = 1`).
		Scan(&top, &through); err != nil {
		return nil, fmt.Errorf("store: search %q: newest message: %w", q.Text, err)
	}
	hi := q.Before
	if hi <= 0 {
		hi = top.Int64 + 1
	}
	var hits []SearchHit
	// The rows after through are not indexed yet (indexer.go): they are
	// the newest, so they come first, each opened and checked. through
	// only grows, and the index holds every row up to the value read, so
	// the two parts neither miss nor repeat a row.
	if hi > through+1 {
		tail := `SELECT seq, ` + messageColumns + ` FROM messages WHERE seq > ? AND seq < ?`
		args := []any{through, hi}
		if q.Peer != "" {
			tail += ` AND peer = ?`
			args = append(args, q.Peer)
		}
		tail += ` ORDER BY seq DESC`
		hits, err = s.searchWindow(ctx, k, tail, args, phrases, hits, limit)
		if err != nil {
			return nil, fmt.Errorf("store: search %q in the unindexed seqs (%d, %d): %w", q.Text, through, hi, err)
		}
		hi = through + 1
	}
	// CROSS JOIN keeps the FTS table as the outer loop: SQLite would
	// otherwise start from the peer index and sort, which visits every
	// message of a long conversation. FTS5 consumes the rowid range and
	// the descending order itself, so rows come newest first as they are
	// found, and a window stops being read once the page is full. No SQL
	// LIMIT: a candidate the check in Go drops must not cost a hit.
	// Within one conversation the match expression holds its token too
	// (conversationToken), so FTS5 skips to the conversation's matches;
	// the peer test stays as the check that a token collision cannot
	// pass.
	sqlText := `SELECT m.seq, m.id, m.peer, m.outgoing, m.body, m.time, m.state, m.sender, m.kind
		FROM messages_index CROSS JOIN messages AS m ON m.seq = messages_index.rowid
		WHERE messages_index MATCH ? AND messages_index.rowid >= ? AND messages_index.rowid < ?`
	if q.Peer != "" {
		sqlText += ` AND m.peer = ?`
	}
	sqlText += ` ORDER BY messages_index.rowid DESC`

	for window := searchWindow; hi > 1 && len(hits) < limit; window *= searchGrowth {
		lo := max(hi-window, 1)
		args := []any{match, lo, hi}
		if q.Peer != "" {
			args = append(args, q.Peer)
		}
		hits, err = s.searchWindow(ctx, k, sqlText, args, phrases, hits, limit)
		if err != nil {
			return nil, fmt.Errorf("store: search %q in seqs [%d, %d): %w", q.Text, lo, hi, err)
		}
		hi = lo
	}
	return hits, nil
}

// searchWindow appends to hits the candidates of one window that match
// phrases, until there are limit.
func (s *Store) searchWindow(ctx context.Context, k *historyKeys, sqlText string, args []any, phrases [][]string,
	hits []SearchHit, limit int) ([]SearchHit, error) {
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for len(hits) < limit && rows.Next() {
		var h SearchHit
		var t int64
		var body []byte
		if err := rows.Scan(&h.Seq, &h.ID, &h.Peer, &h.Outgoing, &body, &t, &h.State, &h.Sender, &h.Kind); err != nil {
			return nil, err
		}
		h.Time = fromNanos(t)
		if err := k.open(&h.Message, body); err != nil {
			return nil, err
		}
		text := searchable(&h.Message)
		if !mayMatch(text, phrases) {
			continue // most rows of the unindexed tail end here
		}
		marks, ok := matchText(text, phrases)
		if !ok {
			continue // shares a prefix or a token with the query, not its words
		}
		h.Snippet, h.Marks = snippet(text, marks)
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// parseQuery turns words as a user types them into phrases of folded words
// (see tokenize): a message matches when it contains every phrase, the last
// one's last word also as a prefix.
//
// Each whitespace-separated word becomes a phrase of the tokens in it, so a
// word such as "don't" or "e-mail" matches the two words the text was split
// into, next to each other; quotes, *, ^, :, parentheses, NEAR, AND, OR and
// NOT are plain words or separators. Words with no letter or digit are
// dropped; if none is left the error is ErrEmptyQuery.
func parseQuery(text string) ([][]string, error) {
	if len(text) > MaxQueryBytes {
		return nil, ErrQueryTooLong
	}
	var phrases [][]string
	for _, f := range strings.Fields(text) {
		ws := tokenize(f)
		if len(ws) == 0 {
			continue
		}
		ph := make([]string, len(ws))
		for i, w := range ws {
			ph[i] = w.norm
		}
		phrases = append(phrases, ph)
	}
	if len(phrases) == 0 {
		return nil, ErrEmptyQuery
	}
	if len(phrases) > MaxQueryWords {
		return nil, ErrQueryTooLong
	}
	return phrases, nil
}

// isTokenRune reports whether r belongs to a word: letters, numbers,
// private-use characters, and combining marks (which fold removes from
// Latin letters) — the characters SQLite's unicode61 tokenizer keeps, so
// search matches as it did when FTS5 split the text itself. Invalid UTF-8
// decodes as U+FFFD, a symbol, so it is a separator here.
func isTokenRune(r rune) bool {
	if r < utf8.RuneSelf {
		// ASCII, most of most text: only letters and digits.
		return 'a' <= r|0x20 && r|0x20 <= 'z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Mn, r)
}

// snippet cuts text to at most about snippetMax bytes around the first mark,
// on word boundaries where it can, with an ellipsis where it cut, and moves
// the marks that fit into it. Line breaks and tabs become spaces (byte for
// byte, so offsets hold) because a snippet is shown on one line.
func snippet(text string, marks [][2]int) (string, [][2]int) {
	start, end := 0, len(text)
	if len(text) > snippetMax {
		first := 0
		if len(marks) > 0 {
			first = marks[0][0]
		}
		start = max(first-snippetLead, 0)
		start = runeStart(text, start)
		// Begin at a word: after the first space between start and the match.
		if start > 0 {
			if i := strings.IndexByte(text[start:first], ' '); i >= 0 {
				start += i + 1
			}
		}
		end = min(start+snippetMax, len(text))
		if len(marks) > 0 && end < marks[0][1] {
			end = marks[0][1] // never cut the first match, however long
		}
		end = runeStart(text, end)
		// End at a word: before the last space after the first match.
		if end < len(text) {
			from := start
			if len(marks) > 0 {
				from = marks[0][1]
			}
			if i := strings.LastIndexByte(text[from:end], ' '); i > 0 {
				end = from + i
			}
		}
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString(ellipsis)
	}
	shift := b.Len() - start
	// Byte by byte: these bytes never occur inside a multi-byte UTF-8
	// sequence, and invalid UTF-8 must pass unchanged to keep offsets.
	body := []byte(text[start:end])
	for i, c := range body {
		if c == '\n' || c == '\r' || c == '\t' {
			body[i] = ' '
		}
	}
	b.Write(body)
	if end < len(text) {
		b.WriteString(ellipsis)
	}
	var out [][2]int
	for _, m := range marks {
		if m[0] >= start && m[1] <= end {
			out = append(out, [2]int{m[0] + shift, m[1] + shift})
		}
	}
	return b.String(), out
}

// runeStart moves i back to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// mayMatch is a quick test that text can hold phrases, for the rows of the
// unindexed tail, which are checked one by one: it is false only if
// matchText is. For ASCII text, which folds to lower case only, every
// word of the query must occur in it, in any case, as bytes; a word of the
// query outside ASCII cannot (folded words of ASCII text are ASCII). Other
// text is left to matchText.
func mayMatch(text string, phrases [][]string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, ph := range phrases {
		for _, w := range ph {
			if !containsFoldASCII(text, w) {
				return false
			}
		}
	}
	return true
}

// containsFoldASCII reports whether w occurs in the ASCII text s, ASCII
// letters of s taken in lower case (w is folded, so lower case already).
func containsFoldASCII(s, w string) bool {
	if w == "" {
		return true
	}
	first := w[0]
	for i := 0; i+len(w) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(w) && lowerASCII(s[i+j]) == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
