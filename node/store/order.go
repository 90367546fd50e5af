package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// A message can arrive after a later one of the same author: its author
// left it in our mailbox at a home that was down when we fetched, and the
// next one came directly. Shown where it arrived, the conversation would
// read out of its author's order. So an incoming message carries its
// sending device and that device's outbox position (Message.Device,
// Message.Order), and one that arrives after a later message of the same
// device is given a place (column ord) just before the earliest such
// message. Everything else keeps its arrival place, seq; the history reads
// in COALESCE(ord, seq) order (migration 019's index).
//
// Positions are compared only within one device: another device's outbox
// counts on its own. The copies of what our own other devices sent are
// placed the same way (they name their device); what this device sent
// names none.

// placeKey is a message's place in its conversation.
const placeKey = `COALESCE(ord, seq)`

// place moves the message just stored at seq, if it arrived after a later
// message of the same device, to just before the earliest of those.
func (w *messageWriter) place(seq int64, m *Message) error {
	if m.Order == 0 || m.Device == "" {
		return nil
	}
	if err := w.prepare(&w.later, `SELECT MIN(`+placeKey+`) FROM messages
		WHERE peer = ? AND device = ? AND author_order > ?`); err != nil {
		return err
	}
	var next sql.NullFloat64
	if err := w.later.QueryRow(m.Peer, m.Device, int64(m.Order)).Scan(&next); err != nil {
		return fmt.Errorf("finding later messages: %w", err)
	}
	if !next.Valid {
		return nil // in order: it stays where it arrived
	}
	if err := w.prepare(&w.before, `SELECT MAX(`+placeKey+`) FROM messages
		WHERE peer = ? AND `+placeKey+` < ?`); err != nil {
		return err
	}
	var prev sql.NullFloat64
	if err := w.before.QueryRow(m.Peer, next.Float64).Scan(&prev); err != nil {
		return fmt.Errorf("finding the place before: %w", err)
	}
	if !prev.Valid {
		prev.Float64 = next.Float64 - 1
	}
	ord := (prev.Float64 + next.Float64) / 2
	if !(prev.Float64 < ord && ord < next.Float64) {
		// Late messages put between the same two ~50 times over exhaust a
		// float's halvings: the message then stays where it arrived.
		return nil
	}
	if _, err := w.tx.Exec(`UPDATE messages SET ord = ? WHERE seq = ?`, ord, seq); err != nil {
		return fmt.Errorf("placing a late message: %w", err)
	}
	return nil
}

// OutgoingOrder is the outbox position our message id to peer was first
// queued under (0 when it has none: older than migration 019's use of it
// for our own messages): a message sent again names it, so that the
// recipient still shows it in our order.
func (s *Store) OutgoingOrder(peer, id string) (uint64, error) {
	var o sql.NullInt64
	// device IS NULL: sent from this device. A copy of what another
	// device of ours sent holds that device's position, not ours.
	err := s.db.QueryRow(`SELECT author_order FROM messages WHERE peer = ? AND id = ? AND outgoing = 1 AND device IS NULL`, peer, id).Scan(&o)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: order of %q to %q: %w", id, peer, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: order of %q to %q: %w", id, peer, err)
	}
	return uint64(max(o.Int64, 0)), nil
}
