package rooms

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// cluster is n room services on real hosts on 127.0.0.1 that know one
// another (as the registry's list would tell them) and hold supernode
// tickets of one auth server.
type cluster struct {
	w     *world
	all   []*home
	st    map[peer.ID]*wire.SignedTicket // each host's supernode ticket
	homes []*home                        // the room's homes, best first
	other *home                          // a supernode that is not one of them
}

func newCluster(t *testing.T, name string, n int) *cluster {
	t.Helper()
	c := &cluster{w: newWorld(t), st: map[peer.ID]*wire.SignedTicket{}}
	var infos []peer.AddrInfo
	for range n {
		h := sntest.Host(t)
		st, err := ticket.Sign(c.w.key, ticket.Ticket{Username: "operator", Peer: h.ID(), Device: "sn-" + h.ID().String()[:8],
			Issued: t0.Add(-time.Hour), Expiry: t0.Add(23 * time.Hour), Role: ticket.RoleSupernode})
		if err != nil {
			t.Fatal(err)
		}
		c.st[h.ID()] = st
		svc, err := OpenService(ServiceConfig{DBPath: filepath.Join(t.TempDir(), "rooms.db"), AuthServer: c.w.server,
			Now: c.w.clock.Now, Ticket: func() *wire.SignedTicket { return st }})
		if err != nil {
			t.Fatal(err)
		}
		svc.Attach(h)
		t.Cleanup(func() { _ = svc.Close() })
		c.all = append(c.all, &home{w: c.w, svc: svc, h: h})
		infos = append(infos, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	var ids []peer.ID
	for _, hm := range c.all {
		hm.svc.SetSupernodes(infos)
		ids = append(ids, hm.h.ID())
	}
	for _, id := range client.RoomHomes(name, ids, wire.Homes) {
		c.homes = append(c.homes, c.byID(id))
	}
	for _, hm := range c.all {
		if !c.isHome(hm) {
			c.other = hm
		}
	}
	return c
}

func (c *cluster) byID(id peer.ID) *home {
	for _, hm := range c.all {
		if hm.h.ID() == id {
			return hm
		}
	}
	return nil
}

func (c *cluster) isHome(hm *home) bool {
	for _, h := range c.homes {
		if h == hm {
			return true
		}
	}
	return false
}

// replicate sends rep to dst as from, with from's supernode ticket.
func (c *cluster) replicate(t *testing.T, from, dst *home, rep *wire.RoomReplica) error {
	t.Helper()
	if err := from.h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: dst.h.ID(), Addrs: dst.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return client.ReplicateRoom(sntest.Ctx(t), from.h, dst.h.ID(), c.st[from.h.ID()], rep)
}

// heads fails t unless every home of live holds the same chain of name,
// at position seq, and returns that state.
func heads(t *testing.T, name string, seq uint64, live ...*home) *room.State {
	t.Helper()
	var first *room.State
	for i, hm := range live {
		st, err := hm.svc.Store().State(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Seq != seq {
			t.Fatalf("home %d at position %d, want %d", i, st.Seq, seq)
		}
		if first == nil {
			first = st
		} else if st.Head != first.Head {
			t.Fatalf("home %d's head differs", i)
		}
	}
	return first
}

// backlogIDs is name's backlog at hm, as "author: text"s.
func backlogIDs(t *testing.T, hm *home, name string) []string {
	t.Helper()
	msgs, err := hm.svc.Store().Backlog(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		sm, err := room.DecodeMessage(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		v, err := room.VerifyMessage(sm, hm.w.clock.Now(), room.Checks{Server: hm.w.server})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v.Author+": "+v.Text)
	}
	return out
}

// TestReplicatedRoom: a room lives at its three homes. An op submitted at
// a home that is not the primary is sequenced once and reaches every home
// (and no other supernode); members joined at three different homes post
// at once and each sees every message once, all in one order, which is
// also every home's backlog.
func TestReplicatedRoom(t *testing.T) {
	c := newCluster(t, "lounge", 4)
	owner := c.homes[1].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	heads(t, "lounge", 1, c.homes...)
	if st, _ := c.other.svc.Store().State(context.Background(), "lounge"); st.Seq != 0 {
		t.Fatalf("a supernode that is not a home holds the room at %d", st.Seq)
	}
	// A topic through the third home: sequenced by the primary, once.
	via2 := c.homes[2].member(t, "olivia")
	if err := via2.op("lounge", topic("one order")); err != nil {
		t.Fatal(err)
	}
	if st := heads(t, "lounge", 2, c.homes...); st.Topic != "one order" {
		t.Fatalf("topic %q", st.Topic)
	}

	users := []string{"alice", "bob", "carol"}
	var ms []*member
	var subs []*client.Subscription
	for i, u := range users {
		m := c.homes[i].member(t, u)
		ms = append(ms, m)
		subs = append(subs, m.mustJoin("lounge"))
	}
	const each = 4
	var wg sync.WaitGroup
	errs := make(chan error, len(ms)*each)
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := m.say("lounge", fmt.Sprintf("%s %d", m.user, i), nil); err != nil {
					errs <- fmt.Errorf("%s: %w", m.user, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := backlogIDs(t, c.homes[0], "lounge")
	if len(want) != len(ms)*each {
		t.Fatalf("the primary's backlog holds %d messages, want %d: %q", len(want), len(ms)*each, want)
	}
	for i, sub := range subs {
		same(t, dedupeCheck(t, messagesN(t, c.w, sub, len(want))), want...)
		same(t, backlogIDs(t, c.homes[i], "lounge"), want...)
	}
}

// dedupeCheck fails t if a message appears twice in got.
func dedupeCheck(t *testing.T, got []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("%q shown twice in %q", g, got)
		}
		seen[g] = true
	}
	return got
}

// TestForgedReplica: a home takes replicas only from the room's homes, by
// its own computation, and only items their authors signed with the
// authority; a member's ticket cannot replicate at all.
func TestForgedReplica(t *testing.T) {
	c := newCluster(t, "lounge", 4)
	owner := c.homes[0].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	st := heads(t, "lounge", 1, c.homes...)

	valid := c.w.op(st, "olivia", topic("from elsewhere"))
	if err := c.replicate(t, c.other, c.homes[1], &wire.RoomReplica{Room: "lounge", Op: valid}); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a replica from a supernode that is not a home: %v", err)
	}
	forged := c.w.op(st, "mallory", ban("olivia"))
	if err := c.replicate(t, c.homes[0], c.homes[1], &wire.RoomReplica{Room: "lounge", Op: forged}); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a replicated op its author had no authority for: %v", err)
	}
	// A member's ticket is not a supernode's.
	m := c.homes[1].member(t, "mallory")
	_, err := client.Call[*wire.RoomResponse](sntest.Ctx(t), m.h, c.homes[1].h.ID(), wire.ProtoRoom,
		&wire.RoomRequest{Ticket: m.st, Kind: &wire.RoomRequest_Replicate{Replicate: &wire.RoomReplica{Room: "lounge", Op: valid}}})
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("a replica under a member's ticket: %v", err)
	}
	// A message replicated by a non-home, and one out of order.
	sm, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: "lounge", Id: wire.NewID(), Author: "mallory",
		TimeUnixMilli: c.w.clock.tick().UnixMilli(), Text: "not sequenced"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.replicate(t, c.other, c.homes[2], &wire.RoomReplica{Room: "lounge",
		Message: &wire.RoomOrderedMessage{Position: 1, Message: sm}}); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a message replicated by a supernode that is not a home: %v", err)
	}
	heads(t, "lounge", 1, c.homes...)
	for _, hm := range c.homes {
		if got := backlogIDs(t, hm, "lounge"); len(got) != 0 {
			t.Fatalf("backlog %q", got)
		}
	}
}

// TestConcurrentOpsOneChain: operators submitting at two homes at once end
// in one chain at every home; and a fork made while one home took the
// primary for dead (a split) is settled for the branch of the home earlier
// in rendezvous order.
func TestConcurrentOpsOneChain(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	owner := c.homes[0].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	if err := owner.op("lounge", opUser("oscar")); err != nil {
		t.Fatal(err)
	}
	st := heads(t, "lounge", 2, c.homes...)

	// Both sign on the same head, at two homes, at once: one lands.
	a := c.homes[1].member(t, "olivia")
	b := c.homes[2].member(t, "oscar")
	opA, opB := room.Next(st, "olivia", c.w.clock.tick()), room.Next(st, "oscar", c.w.clock.tick())
	topic("from olivia")(opA)
	topic("from oscar")(opB)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, f := range []func() error{func() error { return a.submit(opA) }, func() error { return b.submit(opB) }} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f() }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || (!errors.Is(errs[0], client.ErrStale) && !errors.Is(errs[1], client.ErrStale)) {
		t.Fatalf("two ops on one head: %v, %v", errs[0], errs[1])
	}
	st = heads(t, "lounge", 3, c.homes...)

	// A split: the second home takes the primary for dead and sequences
	// an op on the head; the primary sequences another on the same head.
	c.homes[1].svc.markDown(c.homes[0].h.ID())
	c.homes[2].svc.markDown(c.homes[0].h.ID())
	if err := a.op("lounge", topic("the losing branch")); err != nil {
		t.Fatal(err)
	}
	heads(t, "lounge", 4, c.homes[1], c.homes[2])
	if err := owner.op("lounge", topic("the winning branch")); err != nil {
		t.Fatal(err)
	}
	if st := heads(t, "lounge", 4, c.homes...); st.Topic != "the winning branch" {
		t.Fatalf("after the fork the topic is %q", st.Topic)
	}
	// The chain goes on from the winner's head at every home.
	if err := a.op("lounge", topic("after")); err != nil {
		t.Fatal(err)
	}
	heads(t, "lounge", 5, c.homes...)
}

// TestHomeDies: the primary dies (its host and service closed under
// everyone, no goodbye). The next home takes over after catching up: no
// acknowledged message is lost or shown twice for the members who stayed,
// the message order goes on, a ban holds, and a member of the dead home
// re-attaches at another home and finds everything in its backlog.
func TestHomeDies(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	owner := c.homes[1].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	if err := owner.op("lounge", ban("mallory")); err != nil {
		t.Fatal(err)
	}
	alice := c.homes[0].member(t, "alice")
	bob := c.homes[1].member(t, "bob")
	carol := c.homes[2].member(t, "carol")
	alice.mustJoin("lounge")
	sb, sc := bob.mustJoin("lounge"), carol.mustJoin("lounge")
	var want []string
	say := func(m *member, text string) {
		t.Helper()
		m.mustSay("lounge", text)
		want = append(want, m.user+": "+text)
	}
	say(alice, "one")
	say(bob, "two")
	say(carol, "three")

	// kill: the host goes first, so nothing says goodbye.
	dead := c.homes[0]
	_ = dead.h.Close()
	_ = dead.svc.Close()

	say(bob, "four")
	say(carol, "five")
	say(bob, "six")
	got := dedupeCheck(t, texts(t, c.w, sb, "six"))
	same(t, got, want...)
	same(t, dedupeCheck(t, texts(t, c.w, sc, "six")), want...)
	for _, hm := range c.homes[1:] {
		same(t, backlogIDs(t, hm, "lounge"), want...)
	}
	st := heads(t, "lounge", 2, c.homes[1:]...)
	if _, banned := st.BannedAt("mallory", c.w.clock.Now()); !banned {
		t.Fatal("the ban did not survive the primary")
	}
	mallory := c.homes[2].member(t, "mallory")
	if _, err := mallory.join("lounge", nil); !errors.Is(err, client.ErrBanned) {
		t.Fatalf("mallory joins after the primary died: %v", err)
	}
	// A ban made now, by the new primary, holds at both.
	if err := owner.op("lounge", ban("bob")); err != nil {
		t.Fatal(err)
	}
	heads(t, "lounge", 3, c.homes[1:]...)

	// Alice's home is gone: she attaches at the next one and her backlog
	// there has every message, in the one order.
	alice2 := c.homes[2].member(t, "alice")
	alice2.mustJoin("lounge")
	msgs, err := client.RoomBacklog(sntest.Ctx(t), alice2.h, c.homes[2].h.ID(), alice2.st, "lounge", 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, sm := range msgs {
		m, err := room.VerifyMessage(sm, c.w.clock.Now(), room.Checks{Server: c.w.server})
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, m.Author+": "+m.Text)
	}
	same(t, texts, want...)
}

// messagesN reads sub's events until n messages arrived and returns them
// as "author: text"s.
func messagesN(t *testing.T, w *world, sub *client.Subscription, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		ev, err := sub.Next(sntest.Ctx(t))
		if err != nil {
			t.Fatalf("waiting for %d messages after %q: %v", n, out, err)
		}
		if sm := ev.GetMessage(); sm != nil {
			m, err := room.VerifyMessage(sm, w.clock.Now(), room.Checks{Server: w.server})
			if err != nil {
				t.Fatalf("a pushed message does not verify: %v", err)
			}
			out = append(out, m.Author+": "+m.Text)
		}
	}
	return out
}

// TestNewHomeFills: a home dies and the registry stops listing it; the
// supernode that becomes the room's third home holds nothing of it, and
// fills itself from the others when a member joins there: the chain (a
// ban included) and the messages, in the one order, and it takes its
// part in the room from then on.
func TestNewHomeFills(t *testing.T) {
	c := newCluster(t, "lounge", 4)
	owner := c.homes[0].member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	if err := owner.op("lounge", ban("mallory")); err != nil {
		t.Fatal(err)
	}
	bob := c.homes[1].member(t, "bob")
	bob.mustJoin("lounge")
	var want []string
	for _, text := range []string{"one", "two"} {
		if err := bob.say("lounge", text, nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob: "+text)
	}
	dead := c.homes[0]
	_ = dead.h.Close()
	_ = dead.svc.Close()
	var infos []peer.AddrInfo
	for _, hm := range c.all {
		if hm != dead {
			infos = append(infos, peer.AddrInfo{ID: hm.h.ID(), Addrs: hm.h.Addrs()})
		}
	}
	for _, hm := range c.all {
		if hm != dead {
			hm.svc.SetSupernodes(infos)
		}
	}
	newcomer := c.other
	carol := newcomer.member(t, "carol")
	sc := carol.mustJoin("lounge")
	heads(t, "lounge", 2, c.homes[1], c.homes[2], newcomer)
	same(t, backlogIDs(t, newcomer, "lounge"), want...)
	if _, err := newcomer.member(t, "mallory").join("lounge", nil); !errors.Is(err, client.ErrBanned) {
		t.Fatalf("mallory at the new home: %v", err)
	}
	if err := carol.say("lounge", "three", nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, "carol: three")
	same(t, messagesN(t, c.w, sc, 1), "carol: three")
	for _, hm := range []*home{c.homes[1], c.homes[2], newcomer} {
		same(t, backlogIDs(t, hm, "lounge"), want...)
	}
}

// TestPrimaryReturns: the other homes take the primary for dead for a
// while (it is not) and sequence without it; when it is back, it has their
// items before it sequences again — at once when a forward shows it is
// behind, and after wire.RoomPrimaryFresh for its own members' posts — so
// nothing acknowledged meanwhile is lost from the order.
func TestPrimaryReturns(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b := c.homes[0], c.homes[1]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	carol := a.member(t, "carol")
	sc := carol.mustJoin("lounge")
	bob := b.member(t, "bob")
	bob.mustJoin("lounge")
	var want []string
	say := func(m *member, text string) {
		t.Helper()
		m.mustSay("lounge", text)
		want = append(want, m.user+": "+text)
	}
	away := func(yes bool) {
		for _, hm := range c.homes[1:] {
			if yes {
				hm.svc.markDown(a.h.ID())
			} else {
				hm.svc.markUp(a.h.ID())
			}
		}
	}
	say(carol, "before")
	away(true)
	say(bob, "while away 1")
	say(bob, "while away 2")
	if err := b.member(t, "olivia").op("lounge", topic("set while away")); err != nil {
		t.Fatal(err)
	}
	away(false)
	say(bob, "back") // forwarded to the primary, which is behind
	heads(t, "lounge", 2, c.homes...)
	for _, hm := range c.homes {
		same(t, backlogIDs(t, hm, "lounge"), want...)
	}

	away(true)
	say(bob, "away again")
	away(false)
	c.w.clock.advance(wire.RoomPrimaryFresh)
	say(carol, "direct") // at the primary itself: it catches up first
	for _, hm := range c.homes {
		same(t, backlogIDs(t, hm, "lounge"), want...)
	}
	same(t, dedupeCheck(t, messagesN(t, c.w, sc, len(want))), want...)
}

// TestNoTicketYet: a home whose first heartbeat has not been answered has
// no supernode ticket to reach the others: it answers busy and takes no
// other home for dead (which would make it sequence alone).
func TestNoTicketYet(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	late := c.homes[1]
	ticketOf := late.svc.cfg.Ticket
	late.svc.cfg.Ticket = func() *wire.SignedTicket { return nil }
	owner := late.member(t, "olivia")
	if err := owner.submit(room.Create("lounge", "olivia", c.w.clock.tick(), "hi", room.Modes{})); !errors.Is(err, client.ErrBusy) {
		t.Fatalf("creating through a home without a ticket: %v", err)
	}
	if live := late.svc.live("lounge"); len(live) != 3 || live[0] != c.homes[0].h.ID() {
		t.Fatalf("live homes %v after a call it could not make", live)
	}
	late.svc.cfg.Ticket = ticketOf
	owner.create("lounge", room.Modes{})
	heads(t, "lounge", 1, c.homes...)
}

// TestJoinFreshens: a home that missed the last replicas of a quiet room
// (the primary took it for dead a moment) reads them from the primary
// when a member attaches there, so the member's backlog has them.
func TestJoinFreshens(t *testing.T) {
	c := newCluster(t, "lounge", 3)
	a, b, lagging := c.homes[0], c.homes[1], c.homes[2]
	owner := a.member(t, "olivia")
	owner.create("lounge", room.Modes{Public: true})
	bob := b.member(t, "bob")
	bob.mustJoin("lounge")
	a.svc.markDown(lagging.h.ID())
	if err := bob.say("lounge", "missed", nil); err != nil {
		t.Fatal(err)
	}
	if err := owner.op("lounge", topic("missed too")); err != nil {
		t.Fatal(err)
	}
	if got := backlogIDs(t, lagging, "lounge"); len(got) != 0 {
		t.Fatalf("the lagging home holds %q", got)
	}
	a.svc.markUp(lagging.h.ID())
	carol := lagging.member(t, "carol")
	carol.mustJoin("lounge")
	same(t, backlogIDs(t, lagging, "lounge"), "bob: missed")
	heads(t, "lounge", 2, c.homes...)
}
