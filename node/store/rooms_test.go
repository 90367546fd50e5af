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
