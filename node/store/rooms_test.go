package store

import (
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
