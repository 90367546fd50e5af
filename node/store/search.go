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
	errMarkerInText = errors.New("internal: highlight marker in text")
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

// Highlight markers: private-use code points, which nobody types. A message
// that contains one anyway is shown without marks rather than with wrong
// ones (see hitFrom).
const (
	markOpen  = "\uE000"
	markClose = "\uE001"
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
// offsets of the matched words in Snippet, in order, not overlapping.
type SearchHit struct {
	Message
	Seq     int64
	Snippet string
	Marks   [][2]int
}

// Search returns the messages that contain every word of q.Text (the last
// word also as a prefix), newest first. Page on with Before set to the Seq
// of the last hit.
func (s *Store) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	match, err := MatchQuery(q.Text)
	if err != nil {
		return nil, fmt.Errorf("store: search %q: %w", q.Text, err)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultSearchLimit
	case limit > MaxSearchLimit:
		limit = MaxSearchLimit
	}
	hi := q.Before
	if hi <= 0 {
		// seq is the rowid: max() is one b-tree descent (NULL when empty).
		var top sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT max(seq) FROM messages`).Scan(&top); err != nil {
			return nil, fmt.Errorf("store: search %q: newest message: %w", q.Text, err)
		}
		hi = top.Int64 + 1
	}
	// CROSS JOIN keeps the FTS table as the outer loop: SQLite would
	// otherwise start from the peer index and sort, which visits every
	// message of a long conversation. FTS5 consumes the rowid range and
	// the descending order itself, so a window stops after limit rows.
	sqlText := `SELECT m.seq, m.id, m.peer, m.outgoing, m.text, m.time, m.state, m.sender,
			highlight(messages_fts, 0, ?, ?)
		FROM messages_fts CROSS JOIN messages AS m ON m.seq = messages_fts.rowid
		WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? AND messages_fts.rowid < ?`
	if q.Peer != "" {
		sqlText += ` AND m.peer = ?`
	}
	sqlText += ` ORDER BY messages_fts.rowid DESC LIMIT ?`

	var hits []SearchHit
	for window := searchWindow; hi > 1 && len(hits) < limit; window *= searchGrowth {
		lo := max(hi-window, 1)
		args := []any{markOpen, markClose, match, lo, hi}
		if q.Peer != "" {
			args = append(args, q.Peer)
		}
		args = append(args, limit-len(hits))
		got, err := s.searchWindow(ctx, sqlText, args)
		if err != nil {
			return nil, fmt.Errorf("store: search %q in seqs [%d, %d): %w", q.Text, lo, hi, err)
		}
		hits = append(hits, got...)
		hi = lo
	}
	return hits, nil
}

func (s *Store) searchWindow(ctx context.Context, sqlText string, args []any) ([]SearchHit, error) {
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []SearchHit
	for rows.Next() {
		var h SearchHit
		var t int64
		var highlighted string
		if err := rows.Scan(&h.Seq, &h.ID, &h.Peer, &h.Outgoing, &h.Text, &t, &h.State, &h.Sender, &highlighted); err != nil {
			return nil, err
		}
		h.Time = fromNanos(t)
		marks, err := parseHighlight(h.Text, highlighted)
		if err != nil {
			marks = nil // the text holds a marker itself: show it unmarked
		}
		h.Snippet, h.Marks = snippet(h.Text, marks)
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// MatchQuery turns words as a user types them into an FTS5 query that
// matches messages containing every word, the last one also as a prefix.
//
// The user's text never reaches FTS5's query syntax: each whitespace-
// separated word becomes a quoted phrase of its letters and digits only
// (what the unicode61 tokenizer would keep anyway), so quotes, *, ^, :,
// parentheses, NEAR, AND, OR and NOT are plain words or separators, and a
// word such as "don't" or "e-mail" still matches as the phrase FTS5 made of
// it when indexing. Words with no letter or digit are dropped; if none is
// left the error is ErrEmptyQuery.
func MatchQuery(text string) (string, error) {
	if len(text) > MaxQueryBytes {
		return "", ErrQueryTooLong
	}
	var phrases []string
	for _, w := range strings.Fields(text) {
		var b strings.Builder
		space := false
		for _, r := range w {
			if !isTokenRune(r) {
				space = b.Len() > 0
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
		if b.Len() == 0 {
			continue
		}
		phrases = append(phrases, `"`+b.String()+`"`)
	}
	if len(phrases) == 0 {
		return "", ErrEmptyQuery
	}
	if len(phrases) > MaxQueryWords {
		return "", ErrQueryTooLong
	}
	phrases[len(phrases)-1] += " *"
	return strings.Join(phrases, " "), nil
}

// isTokenRune reports whether FTS5's unicode61 tokenizer (the default, used
// by messages_fts) keeps r in a token: letters, numbers, private-use
// characters, and combining marks (which it folds into their base letter).
// Invalid UTF-8 decodes as U+FFFD, a symbol, so it is a separator here.
func isTokenRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Mn, r)
}

// parseHighlight finds the marked words in highlighted, which is text with
// markOpen/markClose around each match, and returns their byte offsets in
// text. It fails when removing the markers does not give text back (the
// text contained a marker itself).
func parseHighlight(text, highlighted string) ([][2]int, error) {
	var marks [][2]int
	var plain strings.Builder
	plain.Grow(len(text))
	open := -1
	for i := 0; i < len(highlighted); {
		switch {
		case strings.HasPrefix(highlighted[i:], markOpen):
			if open >= 0 {
				return nil, errMarkerInText
			}
			open = plain.Len()
			i += len(markOpen)
		case strings.HasPrefix(highlighted[i:], markClose):
			if open < 0 {
				return nil, errMarkerInText
			}
			// FTS5 marks adjacent matches separately; merge them so a
			// phrase reads as one bold run.
			if n := len(marks); n > 0 && marks[n-1][1] == open {
				marks[n-1][1] = plain.Len()
			} else {
				marks = append(marks, [2]int{open, plain.Len()})
			}
			open = -1
			i += len(markClose)
		default:
			_, size := utf8.DecodeRuneInString(highlighted[i:])
			plain.WriteString(highlighted[i : i+size])
			i += size
		}
	}
	if open >= 0 || plain.String() != text {
		return nil, errMarkerInText
	}
	return marks, nil
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
