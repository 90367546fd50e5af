package contacts

import (
	"context"
	"testing"

	"eserver/node/api"
	"eserver/node/backup"
	"eserver/node/store"
)

// fakeRooms joins and leaves in the store, as the rooms feature does, or
// fails with err.
type fakeRooms struct {
	st  *store.Store
	err error
}

func (f *fakeRooms) JoinRoom(_ context.Context, name, password string) (api.Room, error) {
	if f.err != nil {
		return api.Room{}, f.err
	}
	return api.Room{Room: name}, f.st.PutRoom(store.JoinedRoom{Room: name, Password: password})
}
func (f *fakeRooms) LeaveRoom(_ context.Context, name string) error { return f.st.DropRoom(name) }
func (f *fakeRooms) OnChange(func())                                {}

// roomIn is room's entry in s, and whether it has one.
func roomIn(s backup.State, room string) (backup.Room, bool) {
	for _, r := range s.Rooms {
		if r.Name == room {
			return r, true
		}
	}
	return backup.Room{}, false
}

// TestRoomsJoinedElsewhere: a room another device joined is left for the
// account only when this device leaves it, or is refused it for good — not
// because this device has not joined it yet: it was off, restarted, or its
// join failed for a while. (The soak with accounts on two devices saw a
// second device that restarted before joining make the first one leave.)
func TestRoomsJoinedElsewhere(t *testing.T) {
	now := uint64(1_700_000_000_000)
	remote := backup.State{Rooms: []backup.Room{{Name: "lounge", At: now + 5}}}
	for _, tc := range []struct {
		name     string
		joinErr  error // what joining here answers
		restart  bool  // the device restarts before the next pass
		leave    bool  // the person leaves the room here after joining
		wantLeft bool
	}{
		{name: "joined here"},
		{name: "restarted before joining", restart: true},
		{name: "home unreachable for now", joinErr: api.ErrUnreachable},
		{name: "unreachable, then restarted", joinErr: api.ErrUnreachable, restart: true},
		{name: "banned: left for the account", joinErr: api.ErrBanned, wantLeft: true},
		{name: "left here", leave: true, wantLeft: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			rooms := &fakeRooms{st: h.st, err: tc.joinErr}
			l := New(h, nil)
			l.SyncRooms(rooms)
			_, moves, err := l.mergeLocal([]backup.State{remote})
			if err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				// Killed before it joined: what it held in memory is gone.
				l = New(h, nil)
				l.SyncRooms(rooms)
			} else {
				l.settleRooms(t.Context(), moves)
			}
			if tc.leave {
				if err := h.st.DropRoom("lounge"); err != nil {
					t.Fatal(err)
				}
			}
			merged, _, err := l.mergeLocal([]backup.State{remote})
			if err != nil {
				t.Fatal(err)
			}
			r, ok := roomIn(merged, "lounge")
			if !ok || r.Left != tc.wantLeft {
				t.Fatalf("the account's state holds %+v (%v), want left %v", r, ok, tc.wantLeft)
			}
		})
	}
}
