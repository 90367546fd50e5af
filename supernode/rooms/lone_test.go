package rooms

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestLoneAckSurvivesSplit: the primary is cut off from the room's other
// homes (each side takes the other for dead) and acknowledges a message
// that it alone holds; meanwhile the next home sequences another message
// at that very position, with the third home. When the split heals, the
// primary's catch-up finds the two orders differ: it takes the order the
// other homes hold and places its own lone message after it. Every member
// at every home sees every acknowledged message exactly once, and every
// home ends with one order. Before, the catch-up read only past its own
// newest position: the primary kept its message where the others kept
// theirs, and each side's members never saw the other's.
func TestLoneAckSurvivesSplit(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, third := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	carol, bob, dave := a.member(t, "carol"), b.member(t, "bob"), third.member(t, "dave")
	subs := map[string]*client.Subscription{"carol": carol.mustJoin("lounge"), "bob": bob.mustJoin("lounge"), "dave": dave.mustJoin("lounge")}
	say := func(m *member, text string) { m.mustSay("lounge", text) }
	say(carol, "before")

	split := func(yes bool) {
		for _, hm := range c.homes[1:] {
			if yes {
				hm.svc.markDown(a.h.ID())
				a.svc.markDown(hm.h.ID())
			} else {
				hm.svc.markUp(a.h.ID())
				a.svc.markUp(hm.h.ID())
			}
		}
	}
	split(true)
	say(carol, "alone")     // acknowledged by the primary alone
	say(bob, "while split") // sequenced by b at the same position, held at b and the third home
	for _, hm := range c.homes[1:] {
		if got := backlogIDs(t, hm, "lounge"); slices.Contains(got, "carol: alone") {
			t.Fatalf("a home of the other side holds the lone message: %q", got)
		}
	}
	split(false)
	say(carol, "after")

	want := []string{"carol: before", "carol: alone", "bob: while split", "carol: after"}
	for user, sub := range subs {
		got := dedupeCheck(t, texts(t, c.w, sub, "after"))
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(sorted, w) {
			t.Fatalf("%s saw %q, want each of %q once", user, got, want)
		}
	}
	first := backlogIDs(t, a, "lounge")
	if len(first) != len(want) {
		t.Fatalf("the primary holds %q", first)
	}
	for i, hm := range c.homes {
		same(t, backlogIDs(t, hm, "lounge"), first...)
		if got := orderOf(t, hm, "lounge"); !slices.Equal(got, orderOf(t, a, "lounge")) {
			t.Fatalf("home %d's order %q, the primary's %q", i, got, orderOf(t, a, "lounge"))
		}
	}
}

// orderOf is name's message order at hm: "position:ID"s.
func orderOf(t *testing.T, hm *home, name string) []string {
	t.Helper()
	msgs, err := hm.svc.Store().MessagesSince(t.Context(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d:%s", m.Position, m.ID))
	}
	return out
}

// TestLoneAckIsBusy: the other homes are live but refuse the primary's
// replica (their lists of supernodes leave it out, for a moment). The
// primary stores the message and pushes it to its members, but does not
// acknowledge what it alone holds: the author is answered busy. The
// author's retry of the same message is not a duplicate: once a home takes
// it the primary acknowledges it at the position it gave it, and every
// member sees it once.
func TestLoneAckIsBusy(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, third := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	carol, bob, dave := a.member(t, "carol"), b.member(t, "bob"), third.member(t, "dave")
	subs := []*client.Subscription{carol.mustJoin("lounge"), bob.mustJoin("lounge"), dave.mustJoin("lounge")}

	var all, without []peer.AddrInfo
	for _, hm := range c.all {
		all = append(all, peer.AddrInfo{ID: hm.h.ID(), Addrs: hm.h.Addrs()})
		if hm != a {
			without = append(without, peer.AddrInfo{ID: hm.h.ID(), Addrs: hm.h.Addrs()})
		}
	}
	for _, hm := range c.homes[1:] {
		hm.svc.SetSupernodes(without) // a is not one of the room's homes to them
	}
	sm := carol.signed("lounge", "refused")
	send := func() error {
		return client.SendRoomMessage(sntest.Ctx(t), carol.h, a.h.ID(), carol.st, sm, nil)
	}
	if err := send(); !errors.Is(err, client.ErrBusy) {
		t.Fatalf("a message no other home took: %v, want busy", err)
	}
	for _, hm := range c.homes[1:] {
		hm.svc.SetSupernodes(all)
	}
	if err := send(); err != nil {
		t.Fatalf("the retry of the same message: %v", err)
	}
	if err := carol.say("lounge", "after", nil); err != nil {
		t.Fatal(err)
	}
	for i, sub := range subs {
		same(t, dedupeCheck(t, texts(t, c.w, sub, "after")), "carol: refused", "carol: after")
		same(t, backlogIDs(t, c.homes[i], "lounge"), "carol: refused", "carol: after")
	}
}

// TestLoneAckSurvivesRestart: the primary, taking the other homes for
// dead, acknowledges a message it alone holds and is killed; the next home
// sequences another message at that position with the third. The primary
// restarts on its store: the first member attaching there makes it catch
// up, which takes the other homes' order and places its lone message after
// it; the other homes, hearing from it again, forward to it. Every member
// sees every acknowledged message once, and the homes hold one order.
func TestLoneAckSurvivesRestart(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, third := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	carol, bob, dave := a.member(t, "carol"), b.member(t, "bob"), third.member(t, "dave")
	carol.mustJoin("lounge")
	sb, sd := bob.mustJoin("lounge"), dave.mustJoin("lounge")
	say := func(m *member, text string) { m.mustSay("lounge", text) }
	say(carol, "before")
	for _, hm := range c.homes[1:] {
		a.svc.markDown(hm.h.ID())
	}
	say(carol, "alone") // acknowledged by the primary alone

	// kill -9: the host goes first, nothing says goodbye.
	key := a.h.Peerstore().PrivKey(a.h.ID())
	cfg := a.svc.cfg
	_ = a.h.Close()
	_ = a.svc.Close()
	say(bob, "while a was dead") // b takes a for dead and sequences it at a's position

	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	svc, err := OpenService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	var infos []peer.AddrInfo
	for _, hm := range c.all {
		if hm == a {
			hm.h = h
		}
		infos = append(infos, peer.AddrInfo{ID: hm.h.ID(), Addrs: hm.h.Addrs()})
	}
	svc.SetSupernodes(infos)
	svc.Attach(h)
	a.svc = svc
	for _, hm := range c.all {
		hm.svc.SetSupernodes(infos)
	}

	carol2 := a.member(t, "carol")
	sc := carol2.mustJoin("lounge") // back at its home, which catches up first
	say(bob, "end")
	want := []string{"carol: before", "carol: alone", "bob: while a was dead", "bob: end"}
	for _, sub := range []*client.Subscription{sb, sd} {
		got := dedupeCheck(t, texts(t, c.w, sub, "end"))
		if len(got) != len(want) {
			t.Fatalf("a member saw %q, want each of %q once", got, want)
		}
	}
	same(t, texts(t, c.w, sc, "end"), "bob: end")
	first := backlogIDs(t, a, "lounge")
	same(t, sortedCopy(first), sortedCopy(want)...)
	for i, hm := range c.homes {
		same(t, backlogIDs(t, hm, "lounge"), first...)
		if got := orderOf(t, hm, "lounge"); !slices.Equal(got, orderOf(t, a, "lounge")) {
			t.Fatalf("home %d's order %q, the primary's %q", i, got, orderOf(t, a, "lounge"))
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
