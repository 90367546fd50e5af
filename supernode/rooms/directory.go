package rooms

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/wire"
)

// The directory: every room this home homes has an entry in its row of the
// rooms table, written in the transaction of each op (putEntry), so a new
// public room is listed once its create op is acknowledged and a deleted or
// unlisted one is gone once that op is. docs/ROOMS.md, "The directory".

// ErrBadQuery: a directory query out of its limits (wire.MaxRoomQuery,
// wire.MaxRoomQueryWords, wire.RoomDirectoryPage, a region that is not two
// letters).
var ErrBadQuery = errors.New("rooms: malformed directory query")

// Entry is one room of the directory, as this home keeps it.
type Entry struct {
	Room       string
	Topic      string
	Region     string // a regional room's country code
	Owner      string // "" for a regional room
	Online     int    // users joined at this home
	Created    time.Time
	InviteOnly bool
	Password   bool
}

// Wire is e as a directory answer carries it.
func (e Entry) Wire() *wire.RoomDirectoryEntry {
	w := &wire.RoomDirectoryEntry{Room: e.Room, Topic: e.Topic, Region: e.Region, Owner: e.Owner,
		Online: uint32(e.Online), InviteOnly: e.InviteOnly, Password: e.Password}
	if !e.Created.IsZero() {
		w.CreatedUnixMilli = e.Created.UnixMilli()
	}
	return w
}

// Query is a parsed directory request.
type Query struct {
	Words  []string // lower case; each must be in the name or the topic
	Region string   // upper-case country code, or "": every room
	Limit  int      // 1..wire.RoomDirectoryPage
}

// ParseQuery checks a directory request against its limits, sizes first,
// and splits its words.
func ParseQuery(q *wire.RoomListRequest) (Query, error) {
	if q == nil {
		return Query{}, fmt.Errorf("%w: no request", ErrBadQuery)
	}
	if len(q.Query) > wire.MaxRoomQuery || !utf8.ValidString(q.Query) {
		return Query{}, fmt.Errorf("%w: query of %d bytes, want at most %d of UTF-8", ErrBadQuery, len(q.Query), wire.MaxRoomQuery)
	}
	if q.Limit > wire.RoomDirectoryPage {
		return Query{}, fmt.Errorf("%w: limit %d, at most %d", ErrBadQuery, q.Limit, wire.RoomDirectoryPage)
	}
	out := Query{Limit: int(q.Limit)}
	if out.Limit == 0 {
		out.Limit = wire.RoomDirectoryPage
	}
	if q.Region != "" {
		out.Region = wire.RoomRegion(wire.RegionalRoomPrefix + strings.ToLower(q.Region))
		if out.Region == "" || len(q.Region) != 2 {
			return Query{}, fmt.Errorf("%w: region %q is not a two-letter country code", ErrBadQuery, q.Region)
		}
	}
	for _, w := range strings.Fields(q.Query) {
		if len(out.Words) == wire.MaxRoomQueryWords {
			return Query{}, fmt.Errorf("%w: more than %d words", ErrBadQuery, wire.MaxRoomQueryWords)
		}
		out.Words = append(out.Words, strings.ToLower(w))
	}
	return out, nil
}

// matches reports whether every word is in the room's name or topic.
func (q Query) matches(e Entry) bool {
	if q.Region != "" && e.Region != q.Region {
		return false
	}
	text := strings.ToLower(e.Room + " " + e.Topic)
	for _, w := range q.Words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// mayCreate is the spam limit on creating rooms, checked in the create
// op's transaction (which SQLite runs one at a time), after the op
// verified: author's own rooms not deleted (ErrTooManyRooms), and the rooms
// author created within the window, deleted ones included (ErrCreateRate).
func (s *Store) mayCreate(tx *sql.Tx, author string) error {
	var owned, recent int
	if err := tx.QueryRow(`SELECT count(*) FROM rooms WHERE owner = ? AND deleted = 0`, author).Scan(&owned); err != nil {
		return fmt.Errorf("counting rooms owned: %w", err)
	}
	if owned >= s.limits.Owned {
		return fmt.Errorf("%w: %q owns %d rooms, the cap", ErrTooManyRooms, author, owned)
	}
	since := s.now().Add(-s.limits.CreateWindow).UnixMilli()
	if err := tx.QueryRow(`SELECT count(*) FROM rooms WHERE creator = ? AND created > ?`, author, since).Scan(&recent); err != nil {
		return fmt.Errorf("counting rooms created: %w", err)
	}
	if recent >= s.limits.Creates {
		return fmt.Errorf("%w: %q created %d rooms within %v", ErrCreateRate, author, recent, s.limits.CreateWindow)
	}
	return nil
}

// putEntry writes st's directory entry into its row.
func putEntry(tx *sql.Tx, st *room.State) error {
	if _, err := tx.Exec(`UPDATE rooms SET owner = ?, topic = ?, listed = ?, invite_only = ?, password = ? WHERE name = ?`,
		st.Owner, st.Topic, st.Modes.Public, st.Modes.InviteOnly, st.Modes.Password.Set(), st.Room); err != nil {
		return fmt.Errorf("writing the directory entry of %q: %w", st.Room, err)
	}
	return nil
}

// fillEntries writes the entries of rooms stored before the directory
// (listed NULL) from their replayed states. A room that no longer replays
// is left unlisted: it serves no one anyway.
func (s *Store) fillEntries(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM rooms WHERE listed IS NULL`)
	if err != nil {
		return fmt.Errorf("rooms: reading rooms without an entry: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("rooms: reading rooms without an entry: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rooms: reading rooms without an entry: %w", err)
	}
	for _, name := range names {
		st, err := s.State(ctx, name)
		if err != nil {
			st = &room.State{Room: name}
		}
		creator := ""
		if ops, err := s.opsSince(ctx, name, 0); err == nil && len(ops) > 0 {
			var op wire.RoomOp
			if proto.Unmarshal(ops[0].Op, &op) == nil {
				creator = op.Author
			}
		}
		err = s.db.TxContext(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`UPDATE rooms SET creator = ? WHERE name = ?`, creator, name); err != nil {
				return err
			}
			return putEntry(tx, st)
		})
		if err != nil {
			return fmt.Errorf("rooms: filling the entry of %q: %w", name, err)
		}
	}
	return nil
}

// Listed is the directory entries of the listed rooms not deleted, without
// members online (the service counts them). The store holds at most
// Limits.Rooms rooms, so this is bounded.
func (s *Store) Listed(ctx context.Context) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, topic, owner, created, invite_only, password
		FROM rooms WHERE listed = 1 AND deleted = 0`)
	if err != nil {
		return nil, fmt.Errorf("rooms: reading the directory: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.Room, &e.Topic, &e.Owner, &created, &e.InviteOnly, &e.Password); err != nil {
			return nil, fmt.Errorf("rooms: reading the directory: %w", err)
		}
		e.Created = time.UnixMilli(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rooms: reading the directory: %w", err)
	}
	return out, nil
}

// Search answers a directory query: the listed rooms, and the regional
// rooms someone is joined to here (the queried region's room always: it
// exists for every region), that match q, by members online then name.
func (s *Service) Search(ctx context.Context, q Query) ([]Entry, error) {
	listed, err := s.store.Listed(ctx)
	if err != nil {
		return nil, err
	}
	online := s.onlineAll()
	regional := map[string]bool{}
	for name := range online {
		if wire.RoomRegion(name) != "" {
			regional[name] = true
		}
	}
	if q.Region != "" {
		regional[wire.RegionalRoom(q.Region)] = true
	}
	for name := range regional {
		listed = append(listed, Entry{Room: name, Region: wire.RoomRegion(name)})
	}
	out := listed[:0]
	for _, e := range listed {
		if q.matches(e) {
			e.Online = online[e.Room]
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(b.Online, a.Online), strings.Compare(a.Room, b.Room))
	})
	return out[:min(len(out), q.Limit)], nil
}

// onlineAll is the users joined here, by room. It holds the service's
// lock only to walk the map and takes no room's lock: a search never waits
// for a busy room's send, and nothing waits behind a search.
func (s *Service) onlineAll() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.rooms))
	for name, m := range s.rooms {
		if n := m.online.Load(); n > 0 {
			out[name] = int(n)
		}
	}
	return out
}

// list is the list request: rate-limited per account, then Search.
func (s *Service) list(ctx context.Context, from room.Sender, req *wire.RoomListRequest) *wire.RoomResponse {
	if !s.allow(s.lists, from.Username, wire.RoomListRate, wire.RoomListBurst) {
		return failed(wire.CodeRateLimited)
	}
	q, err := ParseQuery(req)
	if err != nil {
		return failed(wire.CodeBadRequest)
	}
	found, err := s.Search(ctx, q)
	if err != nil {
		s.log.Warn("searching the directory", "err", err)
		return failed(wire.CodeInternal)
	}
	out := &wire.RoomResponse{Rooms: make([]*wire.RoomDirectoryEntry, len(found))}
	for i, e := range found {
		out.Rooms[i] = e.Wire()
	}
	return out
}
