package rooms

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"eserver/node/wire"
)

// Catching up by message position (docs/ROOMS.md "Catching up"): a member
// whose joined stream dropped — lagging, the connection, its home's
// failover — joins again naming the last message position it saw. The
// home keeps each room's newest Kept messages, ten backlogs, and when it
// holds every message after that position it pushes them on the new
// stream, in order, between the join's answer and the first live event;
// otherwise the member reads the backlog as on a first join. Positions are
// the room's one message order, which the primary gives and every home
// keeps, so a position seen at one home means the same at the others.

// Span is the oldest and newest message positions the store holds for the
// room (0 and 0 for none). Deleted messages' markers count: their
// positions are holes every home shares, not messages missing here.
// Messages a split displaced (negative positions, AddOrdered) are out of
// the order and do not.
func (s *Store) Span(ctx context.Context, name string) (oldest, newest uint64, err error) {
	var lo, hi sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(position), max(position) FROM backlog WHERE room = ? AND position > 0`, name).Scan(&lo, &hi); err != nil {
		return 0, 0, fmt.Errorf("rooms: reading the positions of %q: %w", name, err)
	}
	return uint64(max(lo.Int64, 0)), uint64(max(hi.Int64, 0)), nil
}

// holdsAll reports whether a store whose messages span oldest..newest holds
// every message after position since up to newest. A position past newest
// is not this home's to answer for (a branch it dropped, or a home further
// on than this one): the member reads the backlog.
func holdsAll(since, oldest, newest uint64) bool {
	switch {
	case since > newest:
		return false
	case since == newest:
		return true // nothing missed
	}
	// Here since < newest, so some message is held and oldest >= 1 (a
	// span without one takes nothing); the ones before oldest were
	// trimmed (or never reached this home).
	return oldest > 0 && since >= oldest-1
}

// holdsAfter is holdsAll for the room's messages here, up to newest (the
// position read when the member registered).
func (s *Service) holdsAfter(ctx context.Context, name string, since, newest uint64) (bool, error) {
	oldest, _, err := s.store.Span(ctx, name)
	if err != nil {
		return false, err
	}
	return holdsAll(since, oldest, newest), nil
}

// pushMissed writes the room's messages after position since up to
// through on a joined member's stream, in order, as events carrying their
// positions: a page (wire.RoomMessagesPage) per write, each under its own
// write deadline, never more than Kept in all. Deleted messages are holes.
func (s *Service) pushMissed(ctx context.Context, st network.Stream, name string, since, through uint64) error {
	for sent := 0; since < through && sent < Kept; {
		page, err := s.store.MessagesSince(ctx, name, since)
		if err != nil {
			return err
		}
		var out []byte
		for _, m := range page {
			if m.Position > through {
				break
			}
			since = m.Position
			s.decodeStored(name, []Message{m}, func(m Message, sm *wire.SignedRoomMessage) {
				out = append(out, encodeEvent(&wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: sm}, Position: m.Position})...)
				sent++
			})
		}
		if len(out) > 0 {
			if err := st.SetWriteDeadline(time.Now().Add(wire.RoomWriteTimeout)); err != nil {
				return fmt.Errorf("setting the write deadline: %w", err)
			}
			if _, err := st.Write(out); err != nil {
				return fmt.Errorf("pushing missed messages to a joined member: %w", err)
			}
		}
		if len(page) < wire.RoomMessagesPage || (len(page) > 0 && page[len(page)-1].Position > through) {
			return nil
		}
	}
	return nil
}
