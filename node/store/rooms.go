package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
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

// DropRoom forgets room (we left it) and the messages of it we kept;
// forgetting a room not joined does nothing.
func (s *Store) DropRoom(room string) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM rooms WHERE room = ?`, room); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM room_messages WHERE room = ?`, room)
		return err
	})
	if err != nil {
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

// RoomMessagesKept is how many messages of each room the store keeps: the
// newest, older ones trimmed in the transaction that stores a new one. A
// window reopened or a front end come back reads them (RoomMessages); a
// room's homes keep its older ones (its backlog). A few days of a lively
// room, and at most 48 rooms (wire.MaxRoomsJoined) × 1,000 × 4 KiB.
const RoomMessagesKept = 1000

// RoomScope is the seen scope of room's messages: each shown once, by
// its author and ID (RoomSeenKey), even once trimmed from room_messages.
func RoomScope(room string) string { return "room/" + room }

// RoomSeenKey names a room message in its room's seen scope.
func RoomSeenKey(author, id string) string { return author + "/" + id }

// RoomMessage is a room message this device received, verified and
// showed, as stored.
type RoomMessage struct {
	Room, Author, ID string
	// Position is the message's place in the room's one message order,
	// as the home that pushed it said; 0 when it came with a backlog.
	Position uint64
	Time     time.Time // the author's clock when signing
	Text     string
	// Nick and Avatar are how the author showed itself, as signed: its
	// nick (uncleaned) and its picture's hex SHA-256 ("" for none).
	Nick, Avatar string
}

// roomBody is the sealed part of a stored room message.
type roomBody struct {
	Text   string `json:"t"`
	Nick   string `json:"n,omitempty"`
	Avatar string `json:"a,omitempty"`
}

// roomWhere binds a sealed body to its row.
func roomWhere(m *RoomMessage) []string {
	return []string{"room_messages", m.Room, m.Author, m.ID}
}

// AddRoomMessage stores m unless it is stored or was shown before (the
// same author and ID in the room, or another message at its position),
// and in the same transaction marks it seen, moves the room's position
// forward to m.Position (when not 0: the room's catch-up then starts after
// it) and trims the room to its newest RoomMessagesKept. It reports
// whether m was added: only then is it the caller's to show, after this
// returns. The text is sealed: it needs the store unlocked (ErrLocked).
// The write is part of a group commit (group.go), so the messages of
// several rooms share an fsync.
func (s *Store) AddRoomMessage(m RoomMessage, at time.Time) (added bool, err error) {
	if m.Position > 1<<62 {
		return false, fmt.Errorf("store: room %q at message position %d", m.Room, m.Position)
	}
	plain, err := json.Marshal(roomBody{Text: m.Text, Nick: m.Nick, Avatar: m.Avatar})
	if err != nil {
		return false, fmt.Errorf("store: room message %q in %q: %w", m.ID, m.Room, err)
	}
	body, err := s.sealSecret(plain, roomWhere(&m)...)
	if err != nil {
		return false, fmt.Errorf("store: room message %q in %q: %w", m.ID, m.Room, err)
	}
	var pos sql.NullInt64
	if m.Position > 0 {
		pos = sql.NullInt64{Int64: int64(m.Position), Valid: true}
	}
	key := RoomSeenKey(m.Author, m.ID)
	err = s.Commit(Op{run: func(g *groupTx) error {
		added = false // run again alone when its group's commit failed
		tx := g.tx
		var one int
		err := tx.QueryRow(`SELECT 1 FROM seen WHERE scope = ? AND id = ?`, RoomScope(m.Room), key).Scan(&one)
		switch {
		case err == nil:
			return nil // shown before
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := tx.Exec(`INSERT INTO room_messages (room, author, id, position, time, body) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, m.Room, m.Author, m.ID, pos, nanos(m.Time), body)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // stored already, or its position taken: a home contradicting itself
		}
		if _, err := tx.Exec(`INSERT INTO seen (scope, id, at) VALUES (?, ?, ?) ON CONFLICT (scope, id) DO NOTHING`,
			RoomScope(m.Room), key, nanos(at)); err != nil {
			return err
		}
		if pos.Valid {
			if _, err := tx.Exec(`UPDATE rooms SET position = ? WHERE room = ? AND (position IS NULL OR position < ?)`,
				pos, m.Room, pos); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM room_messages WHERE room = ? AND seq <= (
			SELECT seq FROM room_messages WHERE room = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
			m.Room, m.Room, RoomMessagesKept); err != nil {
			return err
		}
		added = true
		return nil
	}})
	if err != nil {
		return false, fmt.Errorf("store: room message %q in %q: %w", m.ID, m.Room, err)
	}
	return added, nil
}

// RoomMessages returns room's stored messages, at most limit (all when
// limit <= 0), oldest first: the newest, or (before not "") the newest
// stored before the message with ID before — ErrNotFound when none has
// that ID (any more).
func (s *Store) RoomMessages(room string, limit int, before string) ([]RoomMessage, error) {
	bound := int64(math.MaxInt64)
	if before != "" {
		var at sql.NullInt64 // IDs are per author: the newest of them
		err := s.db.QueryRow(`SELECT max(seq) FROM room_messages WHERE room = ? AND id = ?`, room, before).Scan(&at)
		if err != nil {
			return nil, fmt.Errorf("store: room %q's messages before %q: %w", room, before, err)
		}
		if !at.Valid {
			return nil, fmt.Errorf("store: room %q's messages before %q: %w", room, before, ErrNotFound)
		}
		bound = at.Int64
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.Query(`SELECT author, id, position, time, body FROM room_messages WHERE room = ? AND seq < ?
		ORDER BY seq DESC LIMIT ?`, room, bound, limit)
	if err != nil {
		return nil, fmt.Errorf("store: room %q's messages: %w", room, err)
	}
	defer rows.Close()
	var out []RoomMessage
	for rows.Next() {
		m := RoomMessage{Room: room}
		var pos sql.NullInt64
		var at int64
		var body []byte
		if err := rows.Scan(&m.Author, &m.ID, &pos, &at, &body); err != nil {
			return nil, fmt.Errorf("store: room %q's messages: %w", room, err)
		}
		m.Position, m.Time = uint64(max(pos.Int64, 0)), fromNanos(at)
		plain, err := s.openSecret(body, roomWhere(&m)...)
		if err != nil {
			return nil, fmt.Errorf("store: room %q's message %q: %w", room, m.ID, err)
		}
		var b roomBody
		if err := json.Unmarshal(plain, &b); err != nil {
			return nil, fmt.Errorf("store: room %q's message %q: %w", room, m.ID, err)
		}
		m.Text, m.Nick, m.Avatar = b.Text, b.Nick, b.Avatar
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: room %q's messages: %w", room, err)
	}
	slices.Reverse(out)
	return out, nil
}
