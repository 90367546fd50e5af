package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
)

// Unread marks (migration 025). A conversation's read mark is the newest
// incoming message the user has read, named by its time in unix
// milliseconds and its ID. Times are the sender's clock (as the history
// keeps them), so the same message has the same time on every device of
// the account and a mark made on one device means the same on the others;
// the ID orders messages of the same millisecond. Incoming messages after
// the mark are unread. Only messages count: nudges, file notes and joins
// are not news that waits to be read.

// ReadMark is how far the user has read a conversation.
type ReadMark struct {
	Conversation string // a contact's username or a multi-party conversation's ID
	UpTo         int64  // unix milliseconds of the newest message read
	LastID       string // its ID
}

// After reports whether m is further on than o (a later time, or the same
// millisecond and a greater ID): marks only ever move that way.
func (m ReadMark) After(o ReadMark) bool {
	if m.UpTo != o.UpTo {
		return m.UpTo > o.UpTo
	}
	return m.LastID > o.LastID
}

// ReadMark returns conversation's read mark; ok is false when it has none
// (nothing read: every incoming message is unread).
func (s *Store) ReadMark(conversation string) (m ReadMark, ok bool, err error) {
	m.Conversation = conversation
	err = s.db.QueryRow(`SELECT up_to, last_id FROM read_marks WHERE conversation = ?`, conversation).Scan(&m.UpTo, &m.LastID)
	if errors.Is(err, sql.ErrNoRows) {
		return ReadMark{Conversation: conversation}, false, nil
	}
	if err != nil {
		return ReadMark{}, false, fmt.Errorf("store: read mark of %q: %w", conversation, err)
	}
	return m, true, nil
}

// NewestIncoming is the mark that covers every incoming message of
// conversation stored now; ok is false when it has none.
func (s *Store) NewestIncoming(conversation string) (m ReadMark, ok bool, err error) {
	m.Conversation = conversation
	// The newest millisecond first (the index's end), then the greatest
	// ID within it: the order After keeps.
	var upTo sql.NullInt64
	var last sql.NullString
	err = s.db.QueryRow(`WITH newest AS (SELECT MAX(time) / 1000000 AS ms FROM messages WHERE peer = ?1 AND outgoing = 0 AND kind = '')
		SELECT newest.ms, MAX(id) FROM messages, newest WHERE peer = ?1 AND outgoing = 0 AND kind = ''
		AND time >= newest.ms * 1000000 AND time < (newest.ms + 1) * 1000000`, conversation).Scan(&upTo, &last)
	if err != nil {
		return ReadMark{}, false, fmt.Errorf("store: newest incoming message of %q: %w", conversation, err)
	}
	if !upTo.Valid || !last.Valid {
		return ReadMark{Conversation: conversation}, false, nil
	}
	m.UpTo, m.LastID = upTo.Int64, last.String
	return m, true, nil
}

// AdvanceReadMark moves m.Conversation's read mark to m if m is further on
// than the mark it has (or it has none), and reports whether it moved: a
// mark never moves back, so an older one (a device that read less, a copy
// that arrived late) changes nothing.
func (s *Store) AdvanceReadMark(m ReadMark) (moved bool, err error) {
	if m.Conversation == "" {
		return false, errors.New("store: advance read mark: empty conversation")
	}
	res, err := s.db.Exec(`INSERT INTO read_marks (conversation, up_to, last_id) VALUES (?, ?, ?)
		ON CONFLICT (conversation) DO UPDATE SET up_to = excluded.up_to, last_id = excluded.last_id
		WHERE (excluded.up_to, excluded.last_id) > (read_marks.up_to, read_marks.last_id)`,
		m.Conversation, m.UpTo, m.LastID)
	if err != nil {
		return false, fmt.Errorf("store: advance read mark of %q: %w", m.Conversation, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: advance read mark of %q: %w", m.Conversation, err)
	}
	return n > 0, nil
}

// Unread counts conversation's incoming messages after its read mark (all
// of them when it has none).
func (s *Store) Unread(conversation string) (int, error) {
	m, ok, err := s.ReadMark(conversation)
	if err != nil {
		return 0, err
	}
	// Messages of the mark's millisecond count when their ID is greater;
	// later ones always. (Without a mark every message is later.)
	from, later := int64(math.MinInt64), int64(math.MinInt64)
	if ok {
		from = m.UpTo * 1_000_000
		later = (m.UpTo + 1) * 1_000_000
	}
	var n int
	err = s.db.QueryRow(`SELECT COUNT(*) FROM messages WHERE peer = ? AND outgoing = 0 AND kind = ''
		AND time >= ? AND (time >= ? OR id > ?)`, conversation, from, later, m.LastID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: unread of %q: %w", conversation, err)
	}
	return n, nil
}
