package rooms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestSequenceBatch: one transaction stores a batch at consecutive
// positions; a message refused on its own (a copy in the batch or stored
// before, a bad message, the global cap) takes no position and the others
// are stored; a deleted room takes none.
func TestSequenceBatch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	must(t, s, w.create("lounge", "olivia"))
	if _, err := s.Sequence(ctx, "lounge", msg("old", "mia")); err != nil {
		t.Fatal(err)
	}
	bad := msg("", "mia")
	out, err := s.SequenceBatch(ctx, "lounge", []Message{msg("a", "mia"), msg("a", "mia"), msg("old", "mia"), bad, msg("b", "mia")})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		pos uint64
		err error
	}{{2, nil}, {0, ErrDuplicate}, {0, ErrDuplicate}, {0, ErrBadMessage}, {3, nil}} {
		if out[i].Position != want.pos || !errors.Is(out[i].Err, want.err) || (want.err == nil) != (out[i].Err == nil) {
			t.Errorf("message %d: %d, %v; want %d, %v", i, out[i].Position, out[i].Err, want.pos, want.err)
		}
	}
	if got := order(t, s, "lounge"); got != "old@1 a@2 b@3" {
		t.Fatalf("order %q", got)
	}

	full := w.open(t.TempDir(), Limits{Bytes: 2 << 10}, 0)
	defer full.Close()
	must(t, full, w.create("lounge", "olivia"))
	big := msg("big", "mia")
	big.Body = make([]byte, 1536)
	out, err = full.SequenceBatch(ctx, "lounge", []Message{msg("small", "mia"), big, msg("tiny", "mia")})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || !errors.Is(out[1].Err, ErrFull) || out[2].Err != nil || out[2].Position != 2 {
		t.Fatalf("at the cap: %+v", out)
	}

	st, err := s.State(ctx, "lounge")
	if err != nil {
		t.Fatal(err)
	}
	must(t, s, w.op(st, "olivia", deleteRoom()))
	if _, err := s.SequenceBatch(ctx, "lounge", []Message{msg("c", "mia")}); !errors.Is(err, room.ErrDeleted) {
		t.Fatalf("a deleted room's batch: %v", err)
	}
}

// TestConcurrentSends: messages posted at once by several members are all
// stored, at distinct positions, and reach every member joined in that
// one order; the flood limit counts a sender's messages that share a
// commit, so five of eight sent at once pass.
func TestConcurrentSends(t *testing.T) {
	hm := newHome(t)
	users := []*member{hm.member(t, "alice"), hm.member(t, "bob"), hm.member(t, "carol"), hm.member(t, "dave")}
	users[0].create("busy", room.Modes{Public: true, FloodOff: true})
	subs := make([]*client.Subscription, len(users))
	for i, u := range users {
		subs[i] = u.mustJoin("busy")
	}
	const each = 10
	if passed := sendAll(t, hm, users, "busy", each); passed != len(users)*each {
		t.Fatalf("%d of %d messages passed with the flood limit off", passed, len(users)*each)
	}
	want := storedOrder(t, hm, "busy")
	if len(want) != len(users)*each {
		t.Fatalf("%d messages stored, want %d", len(want), len(users)*each)
	}
	for i, sub := range subs {
		same(t, messageIDs(t, hm.w, users[i].user, sub, len(want)), want...)
	}

	users[0].create("flood", room.Modes{Public: true})
	users[1].mustJoin("flood")
	n, _ := room.Modes{}.Flood()
	if passed := sendAll(t, hm, users[1:2], "flood", n+3); passed != n || len(storedOrder(t, hm, "flood")) != n {
		t.Fatalf("%d of %d sent at once passed the flood limit of %d", passed, n+3, n)
	}
}

// sendAll has each of users post count messages in name at once, all at
// the clock's present time, and returns how many the home took; a refusal
// other than rate limited fails the test.
func sendAll(t *testing.T, hm *home, users []*member, name string, count int) int {
	t.Helper()
	now := hm.w.clock.Now()
	var signed []*wire.SignedRoomMessage
	var by []*member
	for _, u := range users {
		for i := range count {
			s, err := room.SignMessage(u.key, u.st, &wire.RoomMessage{Room: name, Id: wire.NewID(),
				Author: u.user, TimeUnixMilli: now.UnixMilli(), Text: fmt.Sprintf("message %d", i)})
			if err != nil {
				t.Fatal(err)
			}
			signed, by = append(signed, s), append(by, u)
		}
	}
	errs := make([]error, len(signed))
	var wg sync.WaitGroup
	for i := range signed {
		wg.Go(func() {
			errs[i] = client.SendRoomMessage(sntest.Ctx(t), by[i].h, by[i].hm.h.ID(), by[i].st, signed[i], nil)
		})
	}
	wg.Wait()
	passed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			passed++
		case !errors.Is(err, client.ErrRateLimited):
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return passed
}

// storedOrder is the IDs of name's messages at the home, in position order.
func storedOrder(t *testing.T, hm *home, name string) []string {
	t.Helper()
	ms, err := hm.svc.Store().MessagesSince(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestAddOrderedBatch: a replica's messages are stored in one transaction,
// each on its own: a copy held already is not new, a message past a gap
// stops the batch (the rest are ErrGap, untried), and a message refused
// after displacing another branch leaves that branch in place (its
// savepoint is rolled back).
func TestAddOrderedBatch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	must(t, s, w.create("lounge", "olivia"))
	out, err := s.AddOrderedBatch(ctx, "lounge", []Message{at("a", 1), at("b", 2), at("a", 1), at("c", 4), at("d", 3)}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		fresh bool
		err   error
	}{{true, nil}, {true, nil}, {false, nil}, {false, ErrGap}, {false, ErrGap}} {
		if out[i].Fresh != want.fresh || !errors.Is(out[i].Err, want.err) || (want.err == nil) != (out[i].Err == nil) {
			t.Errorf("message %d: %+v, want fresh %v, %v", i, out[i], want.fresh, want.err)
		}
	}
	if got := order(t, s, "lounge"); got != "a@1 b@2" {
		t.Fatalf("order %q", got)
	}

	small := w.open(t.TempDir(), Limits{Bytes: 2 << 10}, 0)
	defer small.Close()
	must(t, small, w.create("lounge", "olivia"))
	if _, err := small.AddOrdered(ctx, "lounge", at("x", 1), true); err != nil {
		t.Fatal(err)
	}
	big := at("y", 1)
	big.Body = make([]byte, 1536)
	out, err = small.AddOrderedBatch(ctx, "lounge", []Message{big, at("z", 2)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out[0].Err, ErrFull) || out[1].Err != nil || !out[1].Fresh {
		t.Fatalf("at the cap: %+v", out)
	}
	if got := order(t, small, "lounge"); got != "x@1 z@2" {
		t.Fatalf("order after a refused displacement %q, want x@1 z@2", got)
	}
}

// messageIDs reads the IDs of the next n messages user's subscription
// pushes, each verified as a member would; other events are skipped.
func messageIDs(t *testing.T, w *world, user string, sub *client.Subscription, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev, err := sub.Next(sntest.Ctx(t))
		if err != nil {
			t.Fatalf("%s after %d messages: %v", user, len(got), err)
		}
		if sm := ev.GetMessage(); sm != nil {
			m, err := room.VerifyMessage(sm, w.clock.Now(), room.Checks{Server: w.server})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.ID)
		}
	}
	return got
}
