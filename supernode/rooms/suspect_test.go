package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestSuspicion: a home that does not answer is taken for dead only after
// wire.RoomHomeFailures calls in a row over at least wire.RoomHomeSuspect;
// calls failing together in one stall count as a burst, not as a death.
func TestSuspicion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails []time.Duration // when each call failed, after the first
		dead  bool            // after the last
	}{
		{"one timeout", []time.Duration{0}, false},
		{"a burst in one stall", []time.Duration{0, 0, 0, 0, time.Second}, false},
		{"too few over a long silence", []time.Duration{0, 2 * wire.RoomHomeSuspect}, false},
		{"enough, spread over the window", []time.Duration{0, wire.RoomHomeSuspect / 2, wire.RoomHomeSuspect}, true},
		{"a burst, then silent past the window", []time.Duration{0, 0, 0, wire.RoomHomeSuspect}, true},
		{"an old stall forgotten", []time.Duration{0, 0, wire.RoomHomeDown + 2*time.Second, wire.RoomHomeDown + 2*wire.RoomHomeSuspect}, false},
		{"an old stall forgotten, a new silence", []time.Duration{0, 2 * wire.RoomHomeDown, 2*wire.RoomHomeDown + wire.RoomHomeSuspect/2,
			2*wire.RoomHomeDown + wire.RoomHomeSuspect}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sp suspicion
			dead := false
			for _, d := range tc.fails {
				dead = sp.fail(t0.Add(d))
			}
			if dead != tc.dead {
				t.Fatalf("after %d failures: dead %v, want %v", len(tc.fails), dead, tc.dead)
			}
		})
	}
}

// slow makes hm a slow primary: every forward it takes waits until the
// returned release is called (or its request ends).
func slow(hm *home) (release func()) {
	ch := make(chan struct{})
	hm.svc.repl.mu.Lock()
	hm.svc.repl.delay = func(ctx context.Context) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	hm.svc.repl.mu.Unlock()
	return func() { close(ch) }
}

// forwardWithin sets how long hm waits for a forward (0: the default).
func forwardWithin(hm *home, d time.Duration) {
	hm.svc.repl.mu.Lock()
	hm.svc.repl.forwardTimeout = d
	hm.svc.repl.mu.Unlock()
}

// TestSlowPrimary: forwards to a primary that is slow, not dead, time out.
// The forwarding home does not take it for dead on that: its member is
// answered busy and nothing is sequenced there, so there is one message
// order. When the primary gets to the forwards it sequences them, and every
// member at every home sees each message once, in that order.
func TestSlowPrimary(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, third := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	alice, bob, carol := a.member(t, "alice"), b.member(t, "bob"), third.member(t, "carol")
	sa, sb, sc := alice.mustJoin("lounge"), bob.mustJoin("lounge"), carol.mustJoin("lounge")

	release := slow(a)
	forwardWithin(b, 300*time.Millisecond)
	for i, text := range []string{"slow 1", "slow 2", "slow 3"} {
		if err := bob.say("lounge", text, nil); !errors.Is(err, client.ErrBusy) {
			t.Fatalf("%q through a home whose primary is slow: %v, want busy", text, err)
		}
		if b.svc.isDown(a.h.ID()) || b.svc.live("lounge")[0] != a.h.ID() {
			t.Fatalf("after %d timeouts the forwarding home takes the slow primary for dead", i+1)
		}
	}
	for _, hm := range c.homes {
		if got := backlogIDs(t, hm, "lounge"); len(got) != 0 {
			t.Fatalf("sequenced beside the slow primary: %q", got)
		}
	}

	// The primary gets to the forwards at last: it sequences them.
	release()
	slowOnes := messagesN(t, c.w, sa, 3)
	forwardWithin(b, 0)
	if err := bob.say("lounge", "after", nil); err != nil {
		t.Fatal(err)
	}
	want := append(slowOnes, "bob: after")
	same(t, backlogIDs(t, a, "lounge"), want...)
	for i, sub := range []*client.Subscription{sb, sc} {
		same(t, dedupeCheck(t, texts(t, c.w, sub, "after")), want...)
		same(t, backlogIDs(t, c.homes[i+1], "lounge"), want...)
	}
	same(t, dedupeCheck(t, append(slowOnes, texts(t, c.w, sa, "after")...)), want...)
}

// signed is text signed as m's message in name.
func (m *member) signed(name, text string) *wire.SignedRoomMessage {
	m.t.Helper()
	s, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: name, Id: wire.NewID(), Author: m.user,
		TimeUnixMilli: m.hm.w.clock.tick().UnixMilli(), Text: text})
	if err != nil {
		m.t.Fatal(err)
	}
	return s
}

// TestSplitNotPushedTwice: two homes take the primary for dead (it is
// not) and the second home sequences bob's messages; the primary, which
// goes on sequencing, later gets one of them too (a forward that was
// only slow). Its order wins at every home: the messages the others
// pushed in the losing order are displaced and, placed again where the
// primary put them, pushed to no one a second time. The other one, which
// the primary never got, is handed back to it by the homes it displaced
// it at, and placed: no acknowledged message is lost.
func TestSplitNotPushedTwice(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, third := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	alice, bob, carol := a.member(t, "alice"), b.member(t, "bob"), third.member(t, "carol")
	sa, sb, sc := alice.mustJoin("lounge"), bob.mustJoin("lounge"), carol.mustJoin("lounge")

	b.svc.markDown(a.h.ID())
	third.svc.markDown(a.h.ID())
	x1 := bob.signed("lounge", "x1")
	for _, sm := range []*wire.SignedRoomMessage{x1, bob.signed("lounge", "x2")} {
		if err := client.SendRoomMessage(sntest.Ctx(t), bob.h, b.h.ID(), bob.st, sm, nil); err != nil {
			t.Fatal(err)
		}
	}
	same(t, backlogIDs(t, third, "lounge"), "bob: x1", "bob: x2")
	if got := backlogIDs(t, a, "lounge"); len(got) != 0 {
		t.Fatalf("the primary holds %q of the other order", got)
	}
	// The primary's order: a1, then x1 (forwarded to it slowly).
	if err := alice.say("lounge", "a1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ForwardRoom(sntest.Ctx(t), b.h, a.h.ID(), c.st[b.h.ID()],
		&wire.RoomForward{Send: &wire.RoomSend{Message: x1}}); err != nil {
		t.Fatal(err)
	}
	// x2, displaced at the other homes by a1, is handed back to the
	// primary, which places it after x1.
	waitFor(t, func() bool { return len(backlogIDs(t, a, "lounge")) == 3 })
	if err := alice.say("lounge", "end", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"alice: a1", "bob: x1", "bob: x2", "alice: end"}
	same(t, dedupeCheck(t, texts(t, c.w, sa, "end")), want...)
	for _, sub := range []*client.Subscription{sb, sc} {
		same(t, dedupeCheck(t, texts(t, c.w, sub, "end")), "bob: x1", "bob: x2", "alice: a1", "alice: end")
	}
	for _, hm := range c.homes {
		same(t, backlogIDs(t, hm, "lounge"), want...)
	}
}

// TestNextRooms: the anti-entropy takes a few rooms a tick, in turn, each
// once a round, whatever joins and leaves between ticks.
func TestNextRooms(t *testing.T) {
	for _, tc := range []struct {
		names []string
		after string
		n     int
		want  string
	}{
		{nil, "", 8, ""},
		{[]string{"c", "a", "b"}, "", 2, "a b"},
		{[]string{"c", "a", "b"}, "b", 2, "c a"},
		{[]string{"c", "a", "b"}, "a", 8, "b c a"},
		{[]string{"d", "a", "b"}, "c", 2, "d a"}, // c left meanwhile
		{[]string{"a", "b"}, "z", 1, "a"},
	} {
		if got := strings.Join(nextRooms(tc.names, tc.after, tc.n), " "); got != tc.want {
			t.Fatalf("%q after %q, %d: %q, want %q", tc.names, tc.after, tc.n, got, tc.want)
		}
	}
}

// TestQuietSync: a home that missed the last replicas of a quiet room (the
// primary took it for dead a moment) has them at its next comparison with
// the primary and passes them to its members, with no further item in the
// room; a room no member reads there is left for its next item or join.
func TestQuietSync(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, lagging := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	unread := sameHomes(t, c, "lounge")
	owner.create(unread, room.Modes{Public: true})
	bob := b.member(t, "bob")
	bob.mustJoin("lounge")
	bob.mustJoin(unread)
	carol := lagging.member(t, "carol")
	sc := carol.mustJoin("lounge")
	a.svc.markDown(lagging.h.ID())
	for _, name := range []string{"lounge", unread} {
		if err := bob.say(name, "missed", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := owner.op("lounge", topic("missed too")); err != nil {
		t.Fatal(err)
	}
	if got := backlogIDs(t, lagging, "lounge"); len(got) != 0 {
		t.Fatalf("the lagging home holds %q", got)
	}
	a.svc.markUp(lagging.h.ID())
	lagging.svc.syncRooms(sntest.Ctx(t))
	same(t, texts(t, c.w, sc, "missed"), "bob: missed")
	same(t, backlogIDs(t, lagging, "lounge"), "bob: missed")
	heads(t, "lounge", 2, c.homes...)
	if got := backlogIDs(t, lagging, unread); len(got) != 0 {
		t.Fatalf("a room no one reads at the home compared: %q", got)
	}
}

// sameHomes is another room's name whose homes are name's, in its order.
func sameHomes(t *testing.T, c *cluster, name string) string {
	t.Helper()
	var ids []peer.ID
	for _, hm := range c.all {
		ids = append(ids, hm.h.ID())
	}
	want := client.RoomHomes(name, ids, wire.Homes)
	for i := range 1000 {
		other := fmt.Sprintf("%s-%d", name, i)
		if slices.Equal(client.RoomHomes(other, ids, wire.Homes), want) {
			return other
		}
	}
	t.Fatal("no room with the same homes")
	return ""
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
