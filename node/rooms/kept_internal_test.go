package rooms

import (
	"testing"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// TestKeptBeforeShown: a room message pushed at a position is stored,
// marked seen and the room's saved position moved past it before its
// event goes out — a node killed after that shows it from its store, and
// catches up after it — and the event is what was stored. The same
// message again, on the stream or from another Rooms on the same store (a
// restart), is neither stored nor shown again, and moves nothing back.
func TestKeptBeforeShown(t *testing.T) {
	w := newSignedWorld(t)
	st := w.host.st
	if err := st.PutRoom(store.JoinedRoom{Room: fuzzRoom, Joined: w.host.now}); err != nil {
		t.Fatal(err)
	}
	position := func() uint64 {
		t.Helper()
		rs, err := st.Rooms()
		if err != nil || len(rs) != 1 {
			t.Fatalf("Rooms = %+v, %v", rs, err)
		}
		return rs[0].Position
	}
	var atEmit []string
	w.host.onEmit = func(e api.Event) {
		if e.RoomMessage == nil {
			return
		}
		ms, err := st.RoomMessages(fuzzRoom, 0, "")
		seen, serr := st.Seen(store.RoomScope(fuzzRoom), store.RoomSeenKey("bob", e.RoomMessage.ID))
		if err != nil || serr != nil || len(ms) != 1 || !seen || position() != 42 {
			t.Errorf("when %s was shown: kept %+v (%v), seen %v (%v), position %d", e.RoomMessage.ID, ms, err, seen, serr, position())
			return
		}
		if v := (api.RoomMessage{Room: fuzzRoom, ID: ms[0].ID, From: ms[0].Author, Text: ms[0].Text, Time: ms[0].Time, Nick: ms[0].Nick}); v != *e.RoomMessage {
			t.Errorf("shown %+v, kept %+v", *e.RoomMessage, v)
		}
		atEmit = append(atEmit, e.RoomMessage.ID)
	}
	r, j := w.rooms()
	ev := &wire.RoomEvent{Position: 42, Kind: &wire.RoomEvent_Message{Message: w.message}}
	r.handle(j, ev)
	r.handle(j, ev)
	r2, j2 := w.rooms()
	r2.handle(j2, &wire.RoomEvent{Position: 40, Kind: &wire.RoomEvent_Message{Message: w.message}})
	if len(atEmit) != 1 || atEmit[0] != "m1" || len(w.host.events) != 1 {
		t.Fatalf("shown %v (%d events), want m1 once", atEmit, len(w.host.events))
	}
	if p := position(); p != 42 {
		t.Fatalf("position %d after the copies, want 42", p)
	}
}
