package rooms

import (
	"errors"
	"testing"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestShippedInOrder: members at each of a room's three homes post at
// once; the primary passes its messages to each other home in their order
// (in batches), so every home holds the primary's order and every member,
// wherever joined, receives every message once in that order.
func TestShippedInOrder(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	owner := c.homes[0].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true, FloodOff: true})
	var users []*member
	var subs []*client.Subscription
	for i, hm := range c.homes {
		u := hm.member(t, []string{"ana", "ben", "cyd"}[i])
		users, subs = append(users, u), append(subs, u.mustJoin("lounge"))
	}
	const each = 15
	if passed := sendAll(t, c.homes[0], users, "lounge", each); passed != len(users)*each {
		t.Fatalf("%d of %d messages passed", passed, len(users)*each)
	}
	want := storedOrder(t, c.homes[0], "lounge")
	if len(want) != len(users)*each {
		t.Fatalf("the primary holds %d messages, want %d", len(want), len(users)*each)
	}
	for _, hm := range c.homes[1:] {
		same(t, storedOrder(t, hm, "lounge"), want...)
		if n := hm.svc.repl.gaps.Load(); n != 0 {
			t.Errorf("%d replicas arrived past a gap", n)
		}
	}
	for i, sub := range subs {
		same(t, messageIDs(t, c.w, users[i].user, sub, len(want)), want...)
	}
}

// TestBadReplica: a replica carries exactly one kind of item, and a batch
// of messages at most maxShipBatch.
func TestBadReplica(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	owner := c.homes[0].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	st := heads(t, "lounge", 1, c.homes...)
	op := c.w.op(st, "olivia", topic("two kinds"))
	om := &wire.RoomOrderedMessage{Position: 1}
	for _, tc := range []struct {
		name string
		rep  *wire.RoomReplica
	}{
		{"nothing", &wire.RoomReplica{Room: "lounge"}},
		{"an op and messages", &wire.RoomReplica{Room: "lounge", Op: op, Messages: []*wire.RoomOrderedMessage{om}}},
		{"a message and messages", &wire.RoomReplica{Room: "lounge", Message: om, Messages: []*wire.RoomOrderedMessage{om}}},
		{"too many messages", &wire.RoomReplica{Room: "lounge", Messages: make([]*wire.RoomOrderedMessage, maxShipBatch+1)}},
	} {
		if err := c.replicate(t, c.homes[0], c.homes[1], tc.rep); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want %v", tc.name, err, client.ErrBadRequest)
		}
	}
	heads(t, "lounge", 1, c.homes...)
}
