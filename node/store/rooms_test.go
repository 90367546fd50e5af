package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRooms: joined rooms are listed in the order joined, a rejoin changes
// the password and keeps the place, and a dropped room is gone.
func TestRooms(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Unix(1_000_000, 0)
	for i, r := range []JoinedRoom{{Room: "golang", Joined: t0}, {Room: "music", Password: "k", Joined: t0.Add(time.Second)}} {
		if err := s.PutRoom(r); err != nil {
			t.Fatalf("PutRoom %d: %v", i, err)
		}
	}
	if err := s.PutRoom(JoinedRoom{Room: "golang", Password: "new", Joined: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Room != "golang" || got[0].Password != "new" || !got[0].Joined.Equal(t0) || got[1].Room != "music" {
		t.Fatalf("Rooms = %+v", got)
	}
	if err := s.DropRoom("golang"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropRoom("never-joined"); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Rooms(); err != nil || len(got) != 1 || got[0].Room != "music" {
		t.Fatalf("after DropRoom: %+v, %v", got, err)
	}
}

// TestRoomPosition: a joined room has no message position until one is
// set; a rejoin keeps it, a room forgotten takes none, and one out of
// range is refused.
func TestRoomPosition(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Unix(1_000_000, 0)
	if err := s.PutRoom(JoinedRoom{Room: "golang", Joined: t0}); err != nil {
		t.Fatal(err)
	}
	position := func() JoinedRoom {
		t.Helper()
		got, err := s.Rooms()
		if err != nil || len(got) != 1 {
			t.Fatalf("Rooms = %+v, %v", got, err)
		}
		return got[0]
	}
	if r := position(); r.HasPosition || r.Position != 0 {
		t.Fatalf("a new room at %d (%v)", r.Position, r.HasPosition)
	}
	for _, tc := range []struct {
		pos  uint64
		fail bool
		want uint64
	}{{0, false, 0}, {1200, false, 1200}, {1 << 62, false, 1 << 62}, {1<<62 + 1, true, 1 << 62}, {^uint64(0), true, 1 << 62}} {
		if err := s.SetRoomPosition("golang", tc.pos); (err != nil) != tc.fail {
			t.Fatalf("SetRoomPosition(%d): %v", tc.pos, err)
		}
		if r := position(); !r.HasPosition || r.Position != tc.want {
			t.Fatalf("after SetRoomPosition(%d): %d (%v), want %d", tc.pos, r.Position, r.HasPosition, tc.want)
		}
	}
	if err := s.PutRoom(JoinedRoom{Room: "golang", Password: "k", Joined: t0}); err != nil {
		t.Fatal(err)
	}
	if r := position(); r.Position != 1<<62 {
		t.Fatalf("a rejoin moved the position to %d", r.Position)
	}
	if err := s.SetRoomPosition("never-joined", 5); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Rooms(); err != nil || len(got) != 1 {
		t.Fatalf("a position for a room not joined: %+v, %v", got, err)
	}
}

// TestRoomMessages: a room message is stored with its seen mark and the
// room's position in one transaction (a failure at the position leaves
// none of them); a copy — the same author and ID, or another message at
// its position, or one shown before and trimmed since — is not added;
// the room keeps its newest RoomMessagesKept, read back a page at a time;
// the text is sealed at rest, bound to its row; forgetting the room drops
// them.
func TestRoomMessages(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Unix(1_000_000, 0)
	for _, name := range []string{"golang", "music"} {
		if err := s.PutRoom(JoinedRoom{Room: name, Joined: t0}); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(room string, i int, pos uint64) RoomMessage {
		return RoomMessage{Room: room, Author: "alice", ID: fmt.Sprintf("m%d", i), Position: pos, Time: t0.Add(time.Duration(i) * time.Second),
			Text: fmt.Sprintf("secret words %d", i), Nick: "Al", Avatar: "ab12"}
	}
	add := func(m RoomMessage, want bool) {
		t.Helper()
		added, err := s.AddRoomMessage(m, t0)
		if err != nil || added != want {
			t.Fatalf("AddRoomMessage(%s at %d) = %v, %v; want %v", m.ID, m.Position, added, err, want)
		}
	}
	position := func(room string) uint64 {
		t.Helper()
		rs, err := s.Rooms()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Room == room {
				return r.Position
			}
		}
		t.Fatalf("room %q not joined", room)
		return 0
	}
	ids := func(room string, limit int, before string) []string {
		t.Helper()
		ms, err := s.RoomMessages(room, limit, before)
		if err != nil {
			t.Fatalf("RoomMessages(%q, %d, %q): %v", room, limit, before, err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}

	// A backlog's message has no position; the stream's move it.
	add(msg("golang", 0, 0), true)
	if p := position("golang"); p != 0 {
		t.Fatalf("a backlog's message moved the position to %d", p)
	}
	add(msg("golang", 1, 7), true)
	add(msg("golang", 2, 8), true)
	if p := position("golang"); p != 8 {
		t.Fatalf("position %d, want 8", p)
	}
	ms, err := s.RoomMessages("golang", 0, "")
	if err != nil || len(ms) != 3 {
		t.Fatalf("RoomMessages = %+v, %v", ms, err)
	}
	if want := msg("golang", 2, 8); ms[2] != want {
		t.Fatalf("read back %+v, want %+v", ms[2], want)
	}

	for _, tc := range []struct {
		name string
		m    RoomMessage
	}{
		{"again", msg("golang", 1, 7)},
		{"again without its position", msg("golang", 2, 0)},
		{"another at a position taken", msg("golang", 9, 8)},
	} {
		t.Run(tc.name, func(t *testing.T) { add(tc.m, false) })
	}
	if got := ids("golang", 0, ""); !slices.Equal(got, []string{"m0", "m1", "m2"}) {
		t.Fatalf("after the copies: %v", got)
	}
	// An older position does not move the room's back; another room's
	// message is its own.
	add(msg("golang", 3, 5), true)
	add(msg("music", 1, 3), true)
	if p, q := position("golang"), position("music"); p != 8 || q != 3 {
		t.Fatalf("positions %d and %d, want 8 and 3", p, q)
	}

	// One transaction: when moving the position fails, neither the
	// message nor its seen mark is stored, and it can be added later.
	if _, err := s.db.Exec(`CREATE TEMP TRIGGER refuse BEFORE UPDATE OF position ON rooms BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	if added, err := s.AddRoomMessage(msg("golang", 4, 20), t0); err == nil || added {
		t.Fatalf("AddRoomMessage with the position refused = %v, %v", added, err)
	}
	if seen, err := s.Seen(RoomScope("golang"), RoomSeenKey("alice", "m4")); err != nil || seen {
		t.Fatalf("seen after a failed add: %v, %v", seen, err)
	}
	if got := ids("golang", 0, ""); len(got) != 4 || position("golang") != 8 {
		t.Fatalf("after a failed add: %v at %d", got, position("golang"))
	}
	if _, err := s.db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	add(msg("golang", 4, 20), true)

	// Sealed at rest, bound to its row.
	var body []byte
	if err := s.db.QueryRow(`SELECT body FROM room_messages WHERE room = 'golang' AND id = 'm4'`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("secret")) || bytes.Contains(body, []byte("ab12")) {
		t.Fatalf("a room message's body is stored in the clear: %q", body)
	}
	if _, err := s.db.Exec(`UPDATE room_messages SET body = ? WHERE room = 'golang' AND id = 'm0'`, body); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RoomMessages("golang", 0, ""); err == nil {
		t.Fatal("a body moved to another row opened")
	}
	if _, err := s.db.Exec(`DELETE FROM room_messages WHERE id = 'm0'`); err != nil {
		t.Fatal(err)
	}

	// Bounded: the newest RoomMessagesKept stay; one trimmed is still not
	// shown again.
	for i := 100; i < 100+RoomMessagesKept; i++ {
		add(msg("golang", i, uint64(i)), true)
	}
	all := ids("golang", 0, "")
	if len(all) != RoomMessagesKept || all[0] != "m100" || all[len(all)-1] != fmt.Sprintf("m%d", 99+RoomMessagesKept) {
		t.Fatalf("kept %d: %v ... %v", len(all), all[:2], all[len(all)-1])
	}
	add(msg("golang", 1, 0), false)
	if got := ids("music", 0, ""); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("another room's messages trimmed: %v", got)
	}

	// Pages, oldest first, before an ID.
	if got := ids("golang", 3, ""); !slices.Equal(got, all[len(all)-3:]) {
		t.Fatalf("the newest page: %v", got)
	}
	if got := ids("golang", 2, "m103"); !slices.Equal(got, []string{"m101", "m102"}) {
		t.Fatalf("the page before m103: %v", got)
	}
	if got := ids("golang", 5, "m100"); len(got) != 0 {
		t.Fatalf("before the oldest: %v", got)
	}
	if _, err := s.RoomMessages("golang", 5, "m1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before a message not kept: %v", err)
	}

	// Forgetting the room drops its messages.
	if err := s.DropRoom("golang"); err != nil {
		t.Fatal(err)
	}
	if got := ids("golang", 0, ""); len(got) != 0 {
		t.Fatalf("a forgotten room's messages: %d", len(got))
	}
}

// TestRoomMessagesLocked: nothing is stored before the store is unlocked.
func TestRoomMessagesLocked(t *testing.T) {
	s, _ := openLocked(t)
	if added, err := s.AddRoomMessage(RoomMessage{Room: "golang", Author: "alice", ID: "m1", Text: "hi"}, time.Now()); !errors.Is(err, ErrLocked) || added {
		t.Fatalf("AddRoomMessage while locked = %v, %v", added, err)
	}
}
