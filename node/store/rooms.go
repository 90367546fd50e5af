package store

import (
	"fmt"
	"time"
)

// JoinedRoom is a chat room this device joined and rejoins at sign-in.
type JoinedRoom struct {
	Room     string
	Password string // the room's key, "" for none
	Joined   time.Time
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

// Rooms lists the rooms we joined, in the order we joined them.
func (s *Store) Rooms() ([]JoinedRoom, error) {
	rows, err := s.db.Query(`SELECT room, password, joined FROM rooms ORDER BY joined, room`)
	if err != nil {
		return nil, fmt.Errorf("store: list rooms: %w", err)
	}
	defer rows.Close()
	var out []JoinedRoom
	for rows.Next() {
		var r JoinedRoom
		var at int64
		if err := rows.Scan(&r.Room, &r.Password, &at); err != nil {
			return nil, fmt.Errorf("store: list rooms: %w", err)
		}
		r.Joined = time.Unix(0, at)
		out = append(out, r)
	}
	return out, rows.Err()
}
