package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"eserver/node/room"
	"eserver/node/wire"
)

func at(id string, pos uint64) Message {
	m := msg(id, "mia")
	m.Position = pos
	return m
}

// order is the room's messages as "id@position", in order.
func order(t *testing.T, s *Store, name string) string {
	t.Helper()
	ms, err := s.MessagesSince(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s@%d", m.ID, m.Position))
	}
	return strings.Join(out, " ")
}

// TestMessageOrder: the primary gives positions one after another
// (Sequence); another home stores them where the primary put them
// (AddOrdered): a replica past its next position is a gap, a catch-up page
// may skip deleted ones, a copy is not new, a marker of a message deleted
// before it arrived takes its position, and a position held by another
// message here is the primary's to decide.
func TestMessageOrder(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	primary := w.open(t.TempDir(), Limits{}, 0)
	defer primary.Close()
	st := must(t, primary, w.create("lounge", "olivia"))
	for i, id := range []string{"a", "b", "c"} {
		pos, err := primary.Sequence(ctx, "lounge", msg(id, "mia"))
		if err != nil || pos != uint64(i+1) {
			t.Fatalf("sequencing %s: %d, %v", id, pos, err)
		}
	}
	if _, err := primary.Sequence(ctx, "lounge", msg("a", "mia")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("sequencing a copy: %v", err)
	}
	if got := order(t, primary, "lounge"); got != "a@1 b@2 c@3" {
		t.Fatalf("primary's order %q", got)
	}

	replica := w.open(t.TempDir(), Limits{}, 0)
	defer replica.Close()
	if _, err := replica.Replicate(ctx, w.create("other", "olivia")); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.AddOrdered(ctx, "lounge", at("a", 1), true); !errors.Is(err, room.ErrNoRoom) {
		t.Fatalf("a message of a room not held: %v", err)
	}
	if _, err := replica.Replicate(ctx, mustOps(t, primary, "lounge")[0]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		m     Message
		next  bool
		fresh bool
		err   error
		order string
	}{
		{"the next", at("a", 1), true, true, nil, "a@1"},
		{"a copy", at("a", 1), true, false, nil, "a@1"},
		{"past the next", at("c", 3), true, false, ErrGap, "a@1"},
		{"a catch-up page skips", at("c", 3), false, true, nil, "a@1 c@3"},
		{"the same ID elsewhere", at("c", 4), true, false, ErrDuplicate, "a@1 c@3"},
		{"no position", at("d", 0), true, false, ErrBadMessage, "a@1 c@3"},
		{"the primary's branch wins", at("x", 3), true, true, nil, "a@1 x@3"},
		// c was shown here at 3: the primary places it after x, and it
		// is stored there but not new.
		{"a displaced one placed again", at("c", 4), true, false, nil, "a@1 x@3 c@4"},
		{"placed again: a copy", at("c", 4), true, false, nil, "a@1 x@3 c@4"},
		{"another split", at("y", 3), true, true, nil, "a@1 y@3"},
		{"displaced twice, placed in a catch-up page", at("x", 5), false, false, nil, "a@1 y@3 x@5"},
	} {
		fresh, err := replica.AddOrdered(ctx, "lounge", tc.m, tc.next)
		if fresh != tc.fresh || !errors.Is(err, tc.err) {
			t.Fatalf("%s: fresh %v, %v; want %v, %v", tc.name, fresh, err, tc.fresh, tc.err)
		}
		if got := order(t, replica, "lounge"); got != tc.order {
			t.Fatalf("%s: order %q, want %q", tc.name, got, tc.order)
		}
	}
	// c, displaced and never placed again (the winner did not hold it),
	// is out of the backlog as it is out of the order.
	if got := backlogOf(t, replica, "lounge"); got != "a y x" {
		t.Fatalf("backlog %q", got)
	}
	// Deleted here before it arrived: the marker takes its position, the
	// message is not shown.
	st = must(t, replica, w.op(st, "mia", deleteMsg("e", "mia")))
	if fresh, err := replica.AddOrdered(ctx, "lounge", at("e", 6), true); err != nil || fresh {
		t.Fatalf("a message deleted before it arrived: %v, %v", fresh, err)
	}
	if last, err := replica.LastPosition(ctx, "lounge"); err != nil || last != 6 {
		t.Fatalf("newest position %d, %v", last, err)
	}
	if got := order(t, replica, "lounge"); got != "a@1 y@3 x@5" {
		t.Fatalf("order with a deleted one %q", got)
	}
	// A marker displaced by a split stays a marker: its message, placed
	// again, is neither new nor shown.
	if fresh, err := replica.AddOrdered(ctx, "lounge", at("z", 6), true); err != nil || !fresh {
		t.Fatalf("the primary's message at a marker's position: %v, %v", fresh, err)
	}
	if fresh, err := replica.AddOrdered(ctx, "lounge", at("e", 7), true); err != nil || fresh {
		t.Fatalf("a displaced marker's message: %v, %v", fresh, err)
	}
	if got := order(t, replica, "lounge"); got != "a@1 y@3 x@5 z@6" {
		t.Fatalf("order after a displaced marker %q", got)
	}
	if got := backlogOf(t, replica, "lounge"); got != "a y x z" {
		t.Fatalf("backlog %q", got)
	}
}

// backlogOf is the room's backlog at s as IDs.
func backlogOf(t *testing.T, s *Store, name string) string {
	t.Helper()
	ms, err := s.Backlog(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return strings.Join(out, " ")
}

func mustOps(t *testing.T, s *Store, name string) []*wire.SignedRoomOp {
	t.Helper()
	ops, err := s.OpsSince(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestTruncate: a branch that lost a fork is dropped from its position on
// and the chain goes on from the head before it; from 1, the room goes.
func TestTruncate(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	st1 := must(t, s, w.create("lounge", "olivia"))
	st2 := must(t, s, w.op(st1, "olivia", topic("two")))
	must(t, s, w.op(st2, "olivia", topic("losing")))
	if err := s.Truncate(ctx, "lounge", 3); err != nil {
		t.Fatal(err)
	}
	st, err := s.State(ctx, "lounge")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, st, st2)
	if n := countOps(t, s); n != 2 {
		t.Fatalf("%d ops after truncating", n)
	}
	if st = must(t, s, w.op(st, "olivia", topic("winning"))); st.Topic != "winning" || st.Seq != 3 {
		t.Fatalf("after the fork: %q at %d", st.Topic, st.Seq)
	}
	if err := s.Truncate(ctx, "lounge", 1); err != nil {
		t.Fatal(err)
	}
	if st, err = s.State(ctx, "lounge"); err != nil || st.Seq != 0 {
		t.Fatalf("a room truncated at 1: %d, %v", st.Seq, err)
	}
	if err := s.Truncate(ctx, "lounge", 0); err == nil {
		t.Fatal("truncating at 0")
	}
}

// TestPlace: the primary places messages the order lost (Store.Place): a
// message held in its order keeps its position; one displaced here takes
// the next position and is not new (its members were shown it); one not
// held takes the next position and is new; one deleted here takes none;
// another author's message under the ID is a duplicate. Displacing reports
// the messages displaced, markers left out.
func TestPlace(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	st := must(t, s, w.create("lounge", "olivia"))
	for _, m := range []Message{at("a", 1), at("b", 2), at("c", 3)} {
		if _, err := s.AddOrdered(ctx, "lounge", m, true); err != nil {
			t.Fatal(err)
		}
	}
	st = must(t, s, w.op(st, "mia", deleteMsg("c", "mia")))
	out, err := s.AddOrderedBatch(ctx, "lounge", []Message{at("x", 2)}, true)
	if err != nil || out[0].Err != nil || strings.Join(out[0].Displaced, " ") != "b" {
		t.Fatalf("displacing b and c's marker: %+v, %v", out, err)
	}
	mallory := msg("a", "mallory")
	for _, tc := range []struct {
		name  string
		m     Message
		want  Placed
		order string
	}{
		{"held in the order", msg("a", "mia"), Placed{Position: 1}, "a@1 x@2"},
		{"displaced here", msg("b", "mia"), Placed{Position: 3, Moved: true}, "a@1 x@2 b@3"},
		{"placed already", msg("b", "mia"), Placed{Position: 3}, "a@1 x@2 b@3"},
		{"not held", msg("n", "mia"), Placed{Position: 4, Moved: true, Fresh: true}, "a@1 x@2 b@3 n@4"},
		{"deleted here", msg("c", "mia"), Placed{}, "a@1 x@2 b@3 n@4"},
		{"another author's ID", mallory, Placed{Err: ErrDuplicate}, "a@1 x@2 b@3 n@4"},
	} {
		out, err := s.Place(ctx, "lounge", []Message{tc.m})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := out[0]
		if got.Position != tc.want.Position || got.Moved != tc.want.Moved || got.Fresh != tc.want.Fresh || !errors.Is(got.Err, tc.want.Err) ||
			(tc.want.Err == nil && got.Err != nil) {
			t.Fatalf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if o := order(t, s, "lounge"); o != tc.order {
			t.Fatalf("%s: order %q, want %q", tc.name, o, tc.order)
		}
	}
	if got := backlogOf(t, s, "lounge"); got != "a x b n" {
		t.Fatalf("backlog %q", got)
	}
	ms, err := s.Displaced(ctx, "lounge", []string{"b", "c", "gone"})
	if err != nil || len(ms) != 0 {
		t.Fatalf("displaced after placing: %v, %v", ms, err)
	}
}
