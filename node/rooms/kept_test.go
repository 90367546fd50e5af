package rooms_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"eserver/node/api"
	"eserver/node/nodetest"
	"eserver/node/store"
	"eserver/node/wire"
)

// keptIDs reads every message n's node kept of room (RoomMessages), a
// page of page at a time from the newest, oldest first.
func keptIDs(t *testing.T, n *nodetest.Node, room string, page int) []string {
	t.Helper()
	var ids []string
	before := ""
	for {
		ms, err := n.RoomMessages(nodetest.Context(t), room, page, before)
		if err != nil {
			t.Fatalf("%s: RoomMessages(%s, %d, %q): %v", n.Name, room, page, before, err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		ids = append(got, ids...)
		if len(ms) < page {
			return ids
		}
		before = got[0]
	}
}

// TestRoomMessagesKept: every message a member's node shows is kept
// before it is shown — a front end told of it reads it back at once —
// and stays readable across a restart of the node, with what it caught up
// on after (more than a backlog), in the room's order, once each, a page
// at a time; leaving the room drops them.
func TestRoomMessagesKept(t *testing.T) {
	if api.MaxRoomKept != store.RoomMessagesKept {
		t.Fatalf("api.MaxRoomKept = %d, store.RoomMessagesKept = %d", api.MaxRoomKept, store.RoomMessagesKept)
	}
	b := nodetest.Bundle(t)
	alice := nodetest.New(t, b.Addr(), "alice")
	bob := nodetest.New(t, b.Addr(), "bob")
	ctx := nodetest.Context(t)
	const name = "kept"
	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Public: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, bob} {
		if _, err := n.JoinRoom(ctx, name, ""); err != nil {
			t.Fatalf("%s joins: %v", n.Name, err)
		}
	}
	var sent []string
	for i := range 3 {
		id := send(t, alice, name, fmt.Sprintf("live %d", i))
		sent = append(sent, id)
		e := bob.WaitFor("alice's message", func(e api.Event) bool { return e.RoomMessage != nil && e.RoomMessage.ID == id })
		// Kept before it was shown, as it was shown.
		ms, err := bob.RoomMessages(ctx, name, 1, "")
		if err != nil || len(ms) != 1 || ms[0] != *e.RoomMessage {
			t.Fatalf("the newest message kept when %s was shown: %+v, %v", id, ms, err)
		}
	}

	bob.Stop()
	rb := newRobot(t, b.Addr(), "robot")
	for i := range wire.RoomBacklog + 20 {
		rb.post(t, b.Rooms, name, fmt.Sprintf("while away %d", i))
	}
	bob.Start()
	bob.SignIn()
	roomMessages(t, bob, name, wire.RoomBacklog+20)
	kept := keptIDs(t, bob, name, 50)
	if len(kept) != len(sent)+wire.RoomBacklog+20 || !slices.Equal(kept[:len(sent)], sent) {
		t.Fatalf("kept %d messages (%v...), want %d starting %v", len(kept), kept[:min(3, len(kept))], len(sent)+wire.RoomBacklog+20, sent)
	}
	all, err := bob.RoomMessages(ctx, name, 0, "")
	if err != nil || len(all) != len(kept) || all[len(all)-1].Text != fmt.Sprintf("while away %d", wire.RoomBacklog+19) || all[len(all)-1].From != "robot" {
		t.Fatalf("all kept: %d, %v", len(all), err)
	}
	seen := map[string]bool{}
	for _, id := range kept {
		if seen[id] {
			t.Fatalf("message %s kept twice", id)
		}
		seen[id] = true
	}

	for _, tc := range []struct {
		name           string
		room           string
		limit          int
		before         string
		wantBadRequest bool
	}{
		{"a page too long", name, api.MaxRoomKept + 1, "", true},
		{"a negative page", name, -1, "", true},
		{"before a message not kept", name, 10, "nope", true},
		{"a name no room has", "No Room", 10, "", true},
		{"a room never joined", "elsewhere", 10, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := bob.RoomMessages(ctx, tc.room, tc.limit, tc.before)
			if tc.wantBadRequest != errors.Is(err, api.ErrBadRequest) || (!tc.wantBadRequest && (err != nil || len(ms) != 0)) {
				t.Fatalf("RoomMessages = %d, %v", len(ms), err)
			}
		})
	}

	if err := bob.LeaveRoom(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ms, err := bob.RoomMessages(ctx, name, 0, ""); err != nil || len(ms) != 0 {
		t.Fatalf("after leaving: %d kept, %v", len(ms), err)
	}
}
