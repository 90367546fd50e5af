package store

import (
	"database/sql"
	"fmt"
	"time"
)

// JoinedRoom is a chat room this device joined and rejoins at sign-in.
type JoinedRoom struct {
	Room     string
	Password string // the room's key, "" for none
	Joined   time.Time
	// Position is the last message position of the room shown here, when
	// HasPosition (SetRoomPosition): a rejoin catches up from it.
	Position    uint64
	HasPosition bool
}

// PutRoom remembers that we joined r.Room (replacing its password).
func (s *Store) PutRoom(r JoinedRoom) error {
	_, err := s.db.Exec(`INSERT INTO rooms (room, password, joined) VALUES (?, ?, ?)
		ON CONFLICT (room) DO UPDATE SET password = excluded.password`, r.Room, r.Password, nanos(r.Joined))
	if err != nil {
		return fmt.Errorf("store: remember room %q: %w", r.Room, err)
	}
	return nil
}

// DropRoom forgets room (we left it); forgetting a room not joined does
// nothing.
func (s *Store) DropRoom(room string) error {
	if _, err := s.db.Exec(`DELETE FROM rooms WHERE room = ?`, room); err != nil {
		return fmt.Errorf("store: forget room %q: %w", room, err)
	}
	return nil
}

// SetRoomPosition records pos as the last message position of room shown
// here; a room not joined (forgotten meanwhile) is left out. Positions
// past 1<<62 are refused: no room reaches them, and SQLite's integers end
// at 1<<63.
func (s *Store) SetRoomPosition(room string, pos uint64) error {
	if pos > 1<<62 {
		return fmt.Errorf("store: room %q at message position %d", room, pos)
	}
	if _, err := s.db.Exec(`UPDATE rooms SET position = ? WHERE room = ?`, int64(pos), room); err != nil {
		return fmt.Errorf("store: room %q's position: %w", room, err)
	}
	return nil
}

// Rooms lists the rooms we joined, in the order we joined them.
func (s *Store) Rooms() ([]JoinedRoom, error) {
	rows, err := s.db.Query(`SELECT room, password, joined, position FROM rooms ORDER BY joined, room`)
	if err != nil {
		return nil, fmt.Errorf("store: list rooms: %w", err)
	}
	defer rows.Close()
	var out []JoinedRoom
	for rows.Next() {
		var r JoinedRoom
		var at int64
		var pos sql.NullInt64
		if err := rows.Scan(&r.Room, &r.Password, &at, &pos); err != nil {
			return nil, fmt.Errorf("store: list rooms: %w", err)
		}
		r.Joined = time.Unix(0, at)
		r.Position, r.HasPosition = uint64(max(pos.Int64, 0)), pos.Valid
		out = append(out, r)
	}
	return out, rows.Err()
}
