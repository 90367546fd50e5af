package rooms

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/wire"
)

// FuzzAppend feeds arbitrary op bytes, signed by a real device with a real
// ticket so they get past the signature to the decoder and the rules, to
// Append: it never panics, anything refused is refused with a sentinel,
// and whatever lands replays to the same state.
func FuzzAppend(f *testing.F) {
	w := newWorld(f)
	s := w.open(f.TempDir(), Limits{Rooms: 8}, 2)
	defer s.Close()
	genesis := w.create("lounge", "olivia")
	f.Add(genesis.Op)
	st, _, err := room.Step(room.New("lounge"), genesis, w.clock.Now(), room.Checks{Server: w.server})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w.op(st, "olivia", topic("x")).Op)
	f.Add([]byte{})
	for _, u := range []string{"oscar", "sam"} {
		w.sign(&wire.RoomOp{Author: u}) // makes u's device
	}
	sentinels := []error{room.ErrMalformed, room.ErrForged, room.ErrUnauthorized, room.ErrWrongRoom, room.ErrBadTime,
		room.ErrStale, room.ErrFork, room.ErrGap, room.ErrNotAllowed, room.ErrBanned, room.ErrNoChange,
		room.ErrTooMany, room.ErrDeleted, room.ErrNoRoom, ErrFull, ErrWrongAuthor, ErrCreateRate, ErrTooManyRooms}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o wire.RoomOp
		// Signed by the device of whom it names, when the world has one.
		dev := w.devices["olivia"]
		if proto.Unmarshal(b, &o) == nil {
			if d, ok := w.devices[o.Author]; ok {
				dev = d
			}
		}
		sig, err := dev.key.Sign(append([]byte(room.SigningContext), b...))
		if err != nil {
			t.Fatal(err)
		}
		signed := &wire.SignedRoomOp{Op: b, Signature: sig, Ticket: dev.ticket}
		got, err := s.Append(context.Background(), signed, room.Checks{})
		if err != nil {
			for _, e := range sentinels {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		s.cache.drop(got.Room)
		again, err := s.State(context.Background(), got.Room)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, again, got)
	})
}
