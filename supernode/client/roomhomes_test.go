package client

import (
	"fmt"
	"slices"
	"testing"

	"eserver/node/wire"
)

// TestRoomHomes: a room's homes are the same whatever the order of the
// supernodes, a prefix of a longer pick, and keyed apart from the name's
// bytes as a mailbox ID: across many rooms, the room key and the bare name
// disagree on some primary.
func TestRoomHomes(t *testing.T) {
	sns := randomIDs(t, 12)
	rev := slices.Clone(sns)
	slices.Reverse(rev)
	differ := 0
	for i := range 50 {
		room := fmt.Sprintf("room-%d", i)
		homes := RoomHomes(room, sns, wire.Homes)
		if len(homes) != wire.Homes {
			t.Fatalf("%s: %d homes", room, len(homes))
		}
		if !slices.Equal(homes, RoomHomes(room, rev, wire.Homes)) {
			t.Fatalf("%s: the homes depend on the list's order", room)
		}
		if !slices.Equal(homes[:1], RoomHomes(room, sns, 1)) {
			t.Fatalf("%s: the primary is not the first home", room)
		}
		if HomesFor(room, sns, 1)[0] != homes[0] {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("room homes are the bare name's homes")
	}
	if got := RoomHomes("golang", nil, wire.Homes); got != nil {
		t.Fatalf("no supernodes: %v", got)
	}
}
