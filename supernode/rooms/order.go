package rooms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"eserver/node/room"
	"eserver/node/wire"
)

// The room's one message order and what replication needs of the store
// (docs/ROOMS.md, "Replication and failover"): the primary gives each
// admitted message the next position (Sequence); every other home stores
// the messages at the positions the primary gave (AddOrdered), and a home
// behind reads what it missed with MessagesSince. Ops replicated from the
// primary are stored with Replicate; a home that took the losing branch of
// a fork drops it with Truncate.

// ErrGap: an ordered message's position is past the next one here — the
// home missed messages and must catch up (MessagesSince at the sender)
// first.
var ErrGap = errors.New("rooms: messages missing before this position")

// Sequence adds m, which the caller admitted (room.Admit), to the room's
// backlog at the next position of its message order and returns it,
// dropping the oldest message past Kept. A room that was never
// created or was deleted takes none (room.ErrNoRoom, room.ErrDeleted); an
// ID already stored or deleted is ErrDuplicate.
func (s *Store) Sequence(ctx context.Context, name string, m Message) (uint64, error) {
	out, err := s.SequenceBatch(ctx, name, []Message{m})
	if err != nil {
		return 0, err
	}
	return out[0].Position, out[0].Err
}

// Sequenced is one message's outcome in SequenceBatch: its position, or
// why it was not stored.
type Sequenced struct {
	Position uint64
	Err      error
}

// SequenceBatch is Sequence for several messages of one room in one
// transaction — one commit, one fsync — at consecutive positions in their
// order. A message refused on its own (a bad message, ErrDuplicate,
// ErrFull) takes no position and the others are stored; an error returned
// (the room gone, the database failing) stored none.
func (s *Store) SequenceBatch(ctx context.Context, name string, ms []Message) ([]Sequenced, error) {
	out := make([]Sequenced, len(ms))
	err := s.appendOrder(ctx, name, fmt.Sprintf("%d messages for %q", len(ms), name), func(tx *sql.Tx, last uint64) error {
		for i, m := range ms {
			out[i] = Sequenced{}
			if out[i].Err = m.check(); out[i].Err != nil {
				continue
			}
			if _, deleted, err := storedID(tx, name, m.ID); err != nil {
				return err
			} else if deleted != nil {
				out[i].Err = fmt.Errorf("rooms: message %q for %q: %w", m.ID, name, ErrDuplicate)
				continue
			}
			if err := s.fits(tx, len(m.Body)); err != nil {
				if !errors.Is(err, ErrFull) {
					return err
				}
				out[i].Err = fmt.Errorf("rooms: message %q for %q: %w", m.ID, name, err)
				continue
			}
			m.Position = last + 1
			if err := insertMessage(tx, name, m, false); err != nil {
				return err
			}
			last = m.Position
			out[i].Position = m.Position
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendOrder runs add in one transaction under the room's lock, with the
// room's newest position, for it to store messages after: the lock keeps
// a delete-room op from landing between the check that the room exists
// and the inserts, and orders the positions. An error of the transaction
// is wrapped with what.
func (s *Store) appendOrder(ctx context.Context, name, what string, add func(tx *sql.Tx, last uint64) error) error {
	if err := wire.ValidRoomName(name); err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	unlock := s.locks.lock(name)
	defer unlock()
	if err := s.canTake(ctx, name); err != nil {
		return err
	}
	err := s.db.TxContext(ctx, func(tx *sql.Tx) error {
		last, err := lastPosition(tx, name)
		if err != nil {
			return err
		}
		return add(tx, last)
	})
	if err != nil {
		return fmt.Errorf("rooms: %s: %w", what, err)
	}
	return nil
}

// AddOrdered stores m at m.Position, the place the room's primary gave
// it, and reports whether it is new here (to pass on to the members joined
// here). A message stored already is not new; a deleted message's marker
// takes the position and is not new either. With next set the position
// must be the one after this home's newest (ErrGap otherwise: catch up
// first); without it — a catch-up page, whose holes are messages deleted
// or trimmed at the sender — any position after the newest is taken. A
// position this home holds another message at is the primary's to decide:
// the primary's order wins (the losing branch of a split), so the
// messages here from that position on are displaced first. A displaced
// message keeps its row, out of the order and the backlog, until the
// primary gives it its place (it is then stored there and is not new: the
// members here were shown it already) or the backlog's trimming drops it;
// a displaced marker becomes a marker without a position.
func (s *Store) AddOrdered(ctx context.Context, name string, m Message, next bool) (bool, error) {
	out, err := s.AddOrderedBatch(ctx, name, []Message{m}, next)
	if err != nil {
		return false, err
	}
	return out[0].Fresh, out[0].Err
}

// Ordered is one message's outcome in AddOrderedBatch: whether it is new
// here, or why it was not stored, and the IDs of the messages (not
// markers) its position displaced here.
type Ordered struct {
	Fresh     bool
	Err       error
	Displaced []string
}

// AddOrderedBatch is AddOrdered for several messages of one room, in
// their order, in one transaction (one commit): what a primary ships in
// one replica. Each message is stored or refused on its own (a savepoint
// each); after a message refused with ErrGap the rest are not tried and
// are ErrGap too — the home catches up first. An error returned (the room
// gone, the database failing) stored none.
func (s *Store) AddOrderedBatch(ctx context.Context, name string, ms []Message, next bool) ([]Ordered, error) {
	if err := wire.ValidRoomName(name); err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	out := make([]Ordered, len(ms))
	unlock := s.locks.lock(name)
	defer unlock()
	if err := s.canTake(ctx, name); err != nil {
		return nil, err
	}
	err := s.db.TxContext(ctx, func(tx *sql.Tx) error {
		gap := false
		for i, m := range ms {
			out[i] = Ordered{}
			if gap {
				out[i].Err = fmt.Errorf("rooms: message %q for %q at %d: %w", m.ID, name, m.Position, ErrGap)
				continue
			}
			if err := m.check(); err != nil {
				out[i].Err = err
				continue
			}
			if m.Position == 0 || m.Position > wire.MaxRoomPosition {
				out[i].Err = fmt.Errorf("%w: position %d", ErrBadMessage, m.Position)
				continue
			}
			if _, err := tx.Exec(`SAVEPOINT ordered`); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			fresh, displaced, err := s.addOrdered(tx, name, m, next)
			if err != nil {
				if _, rerr := tx.Exec(`ROLLBACK TO ordered`); rerr != nil {
					return fmt.Errorf("rolling back message %q: %w", m.ID, rerr)
				}
				if !errors.Is(err, ErrGap) && !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrFull) {
					return fmt.Errorf("message %q at %d: %w", m.ID, m.Position, err)
				}
				gap = errors.Is(err, ErrGap)
				out[i].Err = fmt.Errorf("rooms: message %q for %q at %d: %w", m.ID, name, m.Position, err)
			}
			if _, err := tx.Exec(`RELEASE ordered`); err != nil {
				return fmt.Errorf("releasing savepoint: %w", err)
			}
			out[i].Fresh, out[i].Displaced = fresh, displaced
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rooms: %d ordered messages for %q: %w", len(ms), name, err)
	}
	return out, nil
}

// addOrdered is AddOrdered's work on one message in tx.
func (s *Store) addOrdered(tx *sql.Tx, name string, m Message, next bool) (fresh bool, displaced []string, err error) {
	pos, deleted, err := storedID(tx, name, m.ID)
	switch {
	case err != nil:
		return false, nil, err
	case deleted != nil && pos == m.Position:
		return false, nil, nil // stored already
	}
	last, err := lastPosition(tx, name)
	if err != nil {
		return false, nil, err
	}
	switch {
	case m.Position <= last:
		// Another message holds the position here: a branch the
		// primary did not take.
		if displaced, err = displace(tx, name, m.Position); err != nil {
			return false, nil, err
		}
		if deleted != nil {
			if pos, deleted, err = storedID(tx, name, m.ID); err != nil {
				return false, nil, err
			}
		}
	case next && m.Position > last+1:
		return false, nil, fmt.Errorf("%w: position %d, the newest here %d", ErrGap, m.Position, last)
	}
	fresh, err = s.addAt(tx, name, m, pos, deleted)
	return fresh, displaced, err
}

// addAt stores m at its position, free here now, given what this home
// held of its ID (storedID).
func (s *Store) addAt(tx *sql.Tx, name string, m Message, pos uint64, deleted *bool) (bool, error) {
	shown := false
	switch {
	case deleted == nil:
	case *deleted && pos == 0:
		// Deleted before it arrived here: the marker takes its place.
		_, err := tx.Exec(`UPDATE backlog SET position = ? WHERE room = ? AND id = ?`, int64(m.Position), name, m.ID)
		return false, err
	case pos == 0:
		// Displaced by the primary's order (or stored before
		// positions were): shown here already, stored again at its
		// place, after the others.
		if _, err := tx.Exec(`DELETE FROM backlog WHERE room = ? AND id = ?`, name, m.ID); err != nil {
			return false, fmt.Errorf("moving a displaced message: %w", err)
		}
		shown = true
	default:
		return false, fmt.Errorf("%w: at position %d here, %d at the primary", ErrDuplicate, pos, m.Position)
	}
	if err := s.fits(tx, len(m.Body)); err != nil {
		return false, err
	}
	return !shown, insertMessage(tx, name, m, false)
}

// displace takes the room's messages at positions from and after out of
// its order: a message keeps its row at a negative position (minus its
// row's seq, unique), which the order and the backlog leave out, so that
// when the primary gives it its place the home knows it was shown here; a
// deleted message's marker loses its position and stays a marker. It
// returns the IDs of the messages displaced, in their order: acknowledged
// to their authors, maybe, so to be handed back to the primary.
func displace(tx *sql.Tx, name string, from uint64) ([]string, error) {
	rows, err := tx.Query(`SELECT id FROM backlog WHERE room = ? AND position >= ? AND deleted = 0 ORDER BY position`, name, int64(from))
	if err != nil {
		return nil, fmt.Errorf("finding a losing branch: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("finding a losing branch: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("finding a losing branch: %w", err)
	}
	if _, err := tx.Exec(`UPDATE backlog SET position = CASE WHEN deleted = 1 THEN NULL ELSE -seq END
		WHERE room = ? AND position >= ?`, name, int64(from)); err != nil {
		return nil, fmt.Errorf("displacing a losing branch: %w", err)
	}
	return ids, nil
}

// Displaced is those of ids whose messages are held here out of the
// room's order (displaced, and not placed again since), in ids' order.
func (s *Store) Displaced(ctx context.Context, name string, ids []string) ([]Message, error) {
	var out []Message
	for _, id := range ids {
		var m Message
		var ms int64
		err := s.db.QueryRowContext(ctx, `SELECT id, author, time, body FROM backlog
			WHERE room = ? AND id = ? AND deleted = 0 AND (position IS NULL OR position < 0)`, name, id).Scan(&m.ID, &m.Author, &ms, &m.Body)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, fmt.Errorf("rooms: reading displaced messages of %q: %w", name, err)
		}
		m.Time = time.UnixMilli(ms)
		out = append(out, m)
	}
	return out, nil
}

// canTake fails unless the room exists and is not deleted; the room's
// lock is held.
func (s *Store) canTake(ctx context.Context, name string) error {
	st, err := s.state(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case st.Deleted:
		return fmt.Errorf("rooms: message for %q: %w", name, room.ErrDeleted)
	case !st.Exists():
		return fmt.Errorf("rooms: message for %q: %w", name, room.ErrNoRoom)
	}
	return nil
}

// storedID is the position (0 for none, or displaced) and deleted flag of
// the message id stored in the room; a nil flag means none is.
func storedID(tx *sql.Tx, name, id string) (uint64, *bool, error) {
	var pos sql.NullInt64
	var deleted bool
	err := tx.QueryRow(`SELECT position, deleted FROM backlog WHERE room = ? AND id = ?`, name, id).Scan(&pos, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil, nil
	case err != nil:
		return 0, nil, fmt.Errorf("reading backlog: %w", err)
	}
	return uint64(max(pos.Int64, 0)), &deleted, nil
}

// lastPosition is the room's newest message position here, 0 for none.
func lastPosition(tx *sql.Tx, name string) (uint64, error) {
	var last sql.NullInt64
	if err := tx.QueryRow(`SELECT max(position) FROM backlog WHERE room = ?`, name).Scan(&last); err != nil {
		return 0, fmt.Errorf("reading the newest position: %w", err)
	}
	return uint64(max(last.Int64, 0)), nil
}

// LastPosition is the room's newest message position here, 0 for none.
func (s *Store) LastPosition(ctx context.Context, name string) (uint64, error) {
	var last uint64
	err := s.db.TxContext(ctx, func(tx *sql.Tx) error {
		var err error
		last, err = lastPosition(tx, name)
		return err
	})
	return last, err
}

// MessagesSince is the room's messages after position since, in order, at
// most wire.RoomMessagesPage of them; deleted ones are left out (their
// positions are holes).
func (s *Store) MessagesSince(ctx context.Context, name string, since uint64) ([]Message, error) {
	if since > 1<<62 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, author, time, body, position FROM backlog
		WHERE room = ? AND position > ? AND deleted = 0 ORDER BY position LIMIT ?`, name, int64(since), wire.RoomMessagesPage)
	if err != nil {
		return nil, fmt.Errorf("rooms: reading messages of %q: %w", name, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var ms, pos int64
		if err := rows.Scan(&m.ID, &m.Author, &ms, &m.Body, &pos); err != nil {
			return nil, fmt.Errorf("rooms: reading messages of %q: %w", name, err)
		}
		m.Time, m.Position = time.UnixMilli(ms), uint64(pos)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rooms: reading messages of %q: %w", name, err)
	}
	return out, nil
}

// Replicate stores an op another home (the room's primary) sequenced: the
// chain and the author's signature and ticket are verified as for any op
// (room.Step), but not revocation or age — the primary checked those when
// it sequenced it, and a device revoked since does not undo what it signed
// — nor the creation limits, which are the primary's to apply; the global
// caps still hold here.
func (s *Store) Replicate(ctx context.Context, signed *wire.SignedRoomOp) (*room.State, error) {
	return s.appendOp(ctx, signed, room.Checks{}, false)
}

// Truncate drops the room's ops at positions from and after (a branch of
// a fork that lost to an earlier home's, docs/ROOMS.md) and moves its head
// back; from 1 drops the room. What those ops did to the backlog (a
// deleted message) stays done.
func (s *Store) Truncate(ctx context.Context, name string, from uint64) error {
	if err := wire.ValidRoomName(name); err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	if from == 0 || from > 1<<62 {
		return fmt.Errorf("rooms: truncating %q at %d", name, from)
	}
	unlock := s.locks.lock(name)
	defer unlock()
	defer s.cache.drop(name)
	err := s.db.TxContext(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM ops WHERE room = ? AND position >= ?`, name, int64(from)); err != nil {
			return fmt.Errorf("dropping ops: %w", err)
		}
		if from == 1 {
			if _, err := tx.Exec(`DELETE FROM backlog WHERE room = ?`, name); err != nil {
				return fmt.Errorf("dropping backlog: %w", err)
			}
			_, err := tx.Exec(`DELETE FROM rooms WHERE name = ?`, name)
			return err
		}
		var head []byte
		if err := tx.QueryRow(`SELECT hash FROM ops WHERE room = ? AND position = ?`, name, int64(from-1)).Scan(&head); err != nil {
			return fmt.Errorf("reading the new head: %w", err)
		}
		_, err := tx.Exec(`UPDATE rooms SET head = ?, position = ? WHERE name = ?`, head, int64(from-1), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("rooms: truncating %q at %d: %w", name, from, err)
	}
	// The directory entry follows the state the ops left.
	st, err := s.state(ctx, name)
	if err != nil {
		return err
	}
	if st.Seq == 0 {
		return nil
	}
	return s.db.TxContext(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE rooms SET deleted = ? WHERE name = ?`, st.Deleted, name); err != nil {
			return err
		}
		return putEntry(tx, st)
	})
}

// Placed is one message's outcome in Place: its position in the order
// here, whether it took that position now (Moved: it was displaced here,
// or not held), and whether it was not held here at all (Fresh: to pass
// on to the members joined here).
type Placed struct {
	Position     uint64
	Moved, Fresh bool
	Err          error
}

// Place gives each of ms, in their order, a place in the room's message
// order here unless it holds one already: a message displaced here (a
// split's or a failover's other order took its position) or not held at
// all takes the next position; one held in the order keeps its position;
// one deleted here takes none. It is what the primary does with messages
// acknowledged at one home that the room's order lost (docs/ROOMS.md,
// "Forks"): the primary's own after a catch-up took the other homes'
// order, and those another home hands it back. A message held under the
// same ID by another author is ErrDuplicate.
func (s *Store) Place(ctx context.Context, name string, ms []Message) ([]Placed, error) {
	out := make([]Placed, len(ms))
	err := s.appendOrder(ctx, name, fmt.Sprintf("placing %d messages in %q", len(ms), name), func(tx *sql.Tx, last uint64) error {
		for i, m := range ms {
			out[i] = Placed{}
			if out[i].Err = m.check(); out[i].Err != nil {
				continue
			}
			var author string
			var pos sql.NullInt64
			var deleted bool
			err := tx.QueryRow(`SELECT author, position, deleted FROM backlog WHERE room = ? AND id = ?`, name, m.ID).Scan(&author, &pos, &deleted)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out[i].Fresh = true
			case err != nil:
				return fmt.Errorf("reading backlog: %w", err)
			case author != m.Author:
				out[i].Err = fmt.Errorf("rooms: message %q of %q for %q is %q's: %w", m.ID, m.Author, name, author, ErrDuplicate)
				continue
			case deleted:
				continue
			case pos.Valid && pos.Int64 > 0:
				out[i].Position = uint64(pos.Int64)
				continue
			default:
				// Displaced: stored again at its new place, after the
				// others (the backlog's order is arrival here).
				if _, err := tx.Exec(`DELETE FROM backlog WHERE room = ? AND id = ?`, name, m.ID); err != nil {
					return fmt.Errorf("moving a displaced message: %w", err)
				}
			}
			if err := s.fits(tx, len(m.Body)); err != nil {
				if !errors.Is(err, ErrFull) {
					return err
				}
				out[i] = Placed{Err: fmt.Errorf("rooms: message %q for %q: %w", m.ID, name, err)}
				if !out[i].Fresh {
					// Rolled back with the transaction otherwise: the
					// row stays displaced rather than lost.
					return err
				}
				continue
			}
			m.Position = last + 1
			if err := insertMessage(tx, name, m, false); err != nil {
				return err
			}
			last = m.Position
			out[i].Position, out[i].Moved = m.Position, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OrderIDs is the IDs of the room's messages at positions after since up
// to through, deleted messages' markers included, by position: what a
// catch-up compares with another home's order.
func (s *Store) OrderIDs(ctx context.Context, name string, since, through uint64) (map[uint64]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT position, id FROM backlog WHERE room = ? AND position > ? AND position <= ?`,
		name, int64(min(since, wire.MaxRoomPosition)), int64(min(through, wire.MaxRoomPosition)))
	if err != nil {
		return nil, fmt.Errorf("rooms: reading the order of %q: %w", name, err)
	}
	defer rows.Close()
	out := map[uint64]string{}
	for rows.Next() {
		var pos int64
		var id string
		if err := rows.Scan(&pos, &id); err != nil {
			return nil, fmt.Errorf("rooms: reading the order of %q: %w", name, err)
		}
		out[uint64(pos)] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rooms: reading the order of %q: %w", name, err)
	}
	return out, nil
}
