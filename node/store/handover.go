package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// History hand-over (node/handover): a device of the account reads its
// history since a time in pages across every conversation, in the order
// it stored it, and a new device stores the pages as they come
// (AddIncomingBatch, de-duplicated on (Peer, ID)).

// HandoverDone is the setting that says a hand-over of history to this
// device finished: the node asks for one at sign-in only while it is
// unset and the history is empty.
const HandoverDone = "handover_done"

// HandoverWanted is the setting that says this device was new to the
// account and has not had the history yet: it keeps asking at each
// sign-in, even once messages arrived meanwhile, until a hand-over
// finishes (HandoverDone).
const HandoverWanted = "handover_wanted"

// HistoryPage returns up to limit entries of the history (every
// conversation's, messages and the other entries alike) with a time at or
// after since, stored after the entry at cursor (0: from the first), in
// the order they were stored, with their author's device and order. next
// is the cursor of the page's last entry, for the next call; a page
// shorter than limit is the last. Order within each conversation is
// storage order, which the asking device keeps by storing them in it
// (and re-places late ones by their author's order as it stores them,
// as this device did).
func (s *Store) HistoryPage(since time.Time, cursor int64, limit int) (ms []Message, next int64, err error) {
	if limit <= 0 {
		return nil, cursor, fmt.Errorf("store: history page: limit %d", limit)
	}
	k, err := s.history()
	if err != nil {
		return nil, cursor, fmt.Errorf("store: history page: %w", err)
	}
	if err := s.caughtUp(); err != nil {
		return nil, cursor, fmt.Errorf("store: history page: %w", err)
	}
	rows, err := s.db.Query(`SELECT seq, `+messageColumns+`, COALESCE(device, ''), COALESCE(author_order, 0)
		FROM messages WHERE seq > ? AND time >= ? ORDER BY seq LIMIT ?`, cursor, nanos(since), limit)
	if err != nil {
		return nil, cursor, fmt.Errorf("store: history page: %w", err)
	}
	defer rows.Close()
	next = cursor
	for rows.Next() {
		var m Message
		var seq, t, order int64
		var body []byte
		if err := rows.Scan(&seq, &m.ID, &m.Peer, &m.Outgoing, &body, &t, &m.State, &m.Sender, &m.Kind, &m.Device, &order); err != nil {
			return nil, cursor, fmt.Errorf("store: history page: %w", err)
		}
		m.Time, m.Order = fromNanos(t), uint64(max(order, 0))
		if err := k.open(&m, body); err != nil {
			return nil, cursor, fmt.Errorf("store: history page: %w", err)
		}
		ms = append(ms, m)
		next = seq
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, fmt.Errorf("store: history page: %w", err)
	}
	return ms, next, nil
}

// CountSince is how many entries of the history have a time at or after
// since: what HistoryPage pages through, for progress.
func (s *Store) CountSince(since time.Time) (int, error) {
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM messages WHERE time >= ?`, nanos(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count since %v: %w", since, err)
	}
	return n, nil
}

// HasHistory reports whether any entry of the history is stored.
func (s *Store) HasHistory() (bool, error) {
	var one int
	err := s.db.QueryRow(`SELECT 1 FROM messages LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: any history: %w", err)
	}
	return true, nil
}
