package rooms

import (
	"errors"
	"testing"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestPrimaryWaitsForUnreadHomes: the primary, back after the other homes
// sequenced without it, does not sequence while a live home cannot be
// read (it is restarting and serves no rooms yet): it answers busy. Before
// this, its catch-up ignored the failure and it gave the next position to
// a new message; its replica then made the other homes displace the
// message they had acknowledged at that position, which every member
// lost (the chaos soak's room messages, under supernode kills). Once the
// homes answer, it catches up first and every home holds each message in
// one order.
func TestPrimaryWaitsForUnreadHomes(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b := c.homes[0], c.homes[1]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	carol := a.member(t, "carol")
	carol.mustJoin("lounge")
	bob := b.member(t, "bob")
	bob.mustJoin("lounge")
	say := func(m *member, text string) { m.mustSay("lounge", text) }
	say(carol, "before")
	for _, hm := range c.homes[1:] {
		hm.svc.markDown(a.h.ID())
	}
	say(bob, "while a was away") // sequenced at b, held at b and the third home
	for _, hm := range c.homes[1:] {
		hm.svc.markUp(a.h.ID())
		hm.h.RemoveStreamHandler(wire.ProtoRoom) // restarting: no rooms served yet
	}
	c.w.clock.advance(wire.RoomPrimaryFresh) // a's last catch-up is stale
	if err := carol.say("lounge", "too soon", nil); !errors.Is(err, client.ErrBusy) {
		t.Fatalf("a message at the primary that read no other home: %v, want busy", err)
	}
	for _, hm := range c.homes[1:] {
		hm.svc.Attach(hm.h) // serving rooms again
	}
	say(carol, "after")
	for i, hm := range c.homes {
		got := backlogIDs(t, hm, "lounge")
		if len(got) != 3 {
			t.Fatalf("home %d holds %q", i, got)
		}
		same(t, got, "carol: before", "bob: while a was away", "carol: after")
	}
}
