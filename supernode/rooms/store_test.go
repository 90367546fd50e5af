package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"eserver/node/room"
	"eserver/node/wire"
)

// TestReplayAfterReopen: a chain longer than one page, stored and reopened,
// replays to the very state Append returned, and OpsSince pages through it.
func TestReplayAfterReopen(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	s := w.open(dir, Limits{}, 0)
	ctx := context.Background()
	st := must(t, s, w.create("lounge", "olivia"))
	st = must(t, s, w.op(st, "olivia", opUser("oscar")))
	st = must(t, s, w.op(st, "oscar", voice("victor")))
	st = must(t, s, w.op(st, "oscar", ban("bart")))
	for i := 0; st.Seq < OpsPage+10; i++ {
		st = must(t, s, w.op(st, "olivia", topic(fmt.Sprintf("topic %d", i))))
	}
	got, err := s.State(ctx, "lounge")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = w.open(dir, Limits{}, 0)
	defer s.Close()
	got, err = s.State(ctx, "lounge")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, st)
	if got.Owner != "olivia" || !got.Operators["oscar"] || !got.Voiced["victor"] || got.Bans["bart"].By != "oscar" {
		t.Fatalf("replayed state lost its roles: %+v", got)
	}

	// A lagging member pages through the chain and reaches the same state.
	var chain []*wire.SignedRoomOp
	for {
		page, err := s.OpsSince(ctx, "lounge", uint64(len(chain)))
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > OpsPage {
			t.Fatalf("page of %d ops, limit %d", len(page), OpsPage)
		}
		if len(page) == 0 {
			break
		}
		chain = append(chain, page...)
	}
	replayed, err := room.Replay("lounge", chain, w.clock.Now(), room.Checks{Server: w.server})
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, replayed, st)

	// A room with no op is New's state; a regional room is one.
	for _, name := range []string{"nothing-here", wire.RegionalRoom("es")} {
		got, err := s.State(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, got, room.New(name))
	}
	if _, err := s.State(ctx, "No Such/Name"); !errors.Is(err, wire.ErrBadRoomName) {
		t.Fatalf("bad room name: %v", err)
	}
}

// TestRefused: ops room.Step refuses are refused with its sentinel,
// wrapped, and change nothing on disk or in memory; so is a delete naming
// another author than the stored message's, and an op past a cap.
func TestRefused(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	genesis := w.create("lounge", "olivia")
	other := w.create("lounge", "olivia") // another history of the same room
	tests := []struct {
		name string
		op   func(st *room.State, first *wire.SignedRoomOp) *wire.SignedRoomOp
		want error
	}{
		{"replay of an op", func(_ *room.State, first *wire.SignedRoomOp) *wire.SignedRoomOp { return first }, room.ErrStale},
		{"replay of the genesis op", func(*room.State, *wire.SignedRoomOp) *wire.SignedRoomOp { return genesis }, room.ErrStale},
		{"stale head", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			o := room.Next(st, "olivia", w.clock.tick())
			h := room.HashOp(genesis.Op)
			o.Seq, o.Prev = st.Seq, h[:]
			topic("late")(o)
			return w.sign(o)
		}, room.ErrStale},
		{"fork", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			o := room.Next(st, "olivia", w.clock.tick())
			h := room.HashOp(other.Op)
			o.Prev = h[:]
			topic("forked")(o)
			return w.sign(o)
		}, room.ErrFork},
		{"gap", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			o := room.Next(st, "olivia", w.clock.tick())
			o.Seq++
			topic("ahead")(o)
			return w.sign(o)
		}, room.ErrGap},
		{"forged signature", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			s := w.op(st, "olivia", ban("oscar"))
			s.Signature[3] ^= 1
			return s
		}, room.ErrForged},
		{"another user's ticket", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			s := w.op(st, "olivia", ban("oscar"))
			s.Ticket = w.op(st, "sam", topic("x")).Ticket
			return s
		}, room.ErrForged},
		{"not allowed", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			return w.op(st, "sam", opUser("sam"))
		}, room.ErrNotAllowed},
		{"no change", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			return w.op(st, "olivia", opUser("oscar"))
		}, room.ErrNoChange},
		{"oversized", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			s := w.op(st, "olivia", topic("x"))
			s.Op = append(s.Op, make([]byte, wire.MaxRoomOp)...)
			return s
		}, room.ErrMalformed},
		{"garbage", func(*room.State, *wire.SignedRoomOp) *wire.SignedRoomOp {
			return &wire.SignedRoomOp{Op: []byte{0xff, 0xff}}
		}, room.ErrMalformed},
		{"nil", func(*room.State, *wire.SignedRoomOp) *wire.SignedRoomOp { return nil }, room.ErrMalformed},
		{"delete names another author", func(st *room.State, _ *wire.SignedRoomOp) *wire.SignedRoomOp {
			return w.op(st, "olivia", deleteMsg("m1", "olivia")) // m1 is mia's
		}, ErrWrongAuthor},
		{"rooms cap", func(*room.State, *wire.SignedRoomOp) *wire.SignedRoomOp {
			return w.create("another", "olivia")
		}, ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := w.open(dir, Limits{Rooms: 1}, 0)
			st := must(t, s, genesis)
			first := w.op(st, "olivia", opUser("oscar"))
			st = must(t, s, first)
			if err := s.AddMessage(ctx, "lounge", msg("m1", "mia")); err != nil {
				t.Fatal(err)
			}
			ops := countOps(t, s)
			_, err := s.Append(ctx, tt.op(st, first), room.Checks{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("append: %v, want %v", err, tt.want)
			}
			check := func(s *Store) {
				t.Helper()
				got, err := s.State(ctx, "lounge")
				if err != nil {
					t.Fatal(err)
				}
				sameState(t, got, st)
				if n := countOps(t, s); n != ops {
					t.Fatalf("%d ops stored, want %d", n, ops)
				}
				if b, err := s.Backlog(ctx, "lounge", 0); err != nil || len(b) != 1 {
					t.Fatalf("backlog: %+v, %v", b, err)
				}
				var rooms int
				if err := s.db.QueryRow(`SELECT count(*) FROM rooms`).Scan(&rooms); err != nil || rooms != 1 {
					t.Fatalf("%d rooms, %v", rooms, err)
				}
			}
			check(s) // the cached state
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = w.open(dir, Limits{Rooms: 1}, 0)
			defer s.Close()
			check(s) // replayed from disk
		})
	}
}

// TestConcurrentAppends: ops signed on the same head race; exactly one
// lands, the others are stale, and the chain has one op more.
func TestConcurrentAppends(t *testing.T) {
	w := newWorld(t)
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	st := must(t, s, w.create("lounge", "olivia"))
	st = must(t, s, w.op(st, "olivia", opUser("oscar")))
	for round := 0; round < 5; round++ {
		const n = 8
		ops := make([]*wire.SignedRoomOp, n)
		for i := range ops {
			author := []string{"olivia", "oscar"}[i%2]
			ops[i] = w.op(st, author, topic(fmt.Sprintf("round %d by %d", round, i)))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		states := make([]*room.State, n)
		for i := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				states[i], errs[i] = s.Append(context.Background(), ops[i], room.Checks{})
			}()
		}
		wg.Wait()
		landed := -1
		for i, err := range errs {
			switch {
			case err == nil && landed >= 0:
				t.Fatalf("round %d: ops %d and %d both landed on one head", round, landed, i)
			case err == nil:
				landed = i
			case !errors.Is(err, room.ErrStale):
				t.Fatalf("round %d: op %d: %v, want stale", round, i, err)
			}
		}
		if landed < 0 {
			t.Fatalf("round %d: no op landed", round)
		}
		if want := 3 + round; countOps(t, s) != want {
			t.Fatalf("round %d: %d ops stored, want %d", round, countOps(t, s), want)
		}
		st = states[landed]
		got, err := s.State(context.Background(), "lounge")
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, got, st)
	}
}

// TestRoomsConcurrently: appends to many rooms at once, with a cache of
// one state so most go through a replay, all land.
func TestRoomsConcurrently(t *testing.T) {
	w := newWorld(t)
	s := w.open(t.TempDir(), Limits{Creates: 4}, 1) // one owner creates all four
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("room-%d", r)
			st, err := s.Append(context.Background(), w.create(name, "olivia"), room.Checks{})
			for i := 0; err == nil && i < 10; i++ {
				st, err = s.Append(context.Background(), w.op(st, "olivia", topic(fmt.Sprintf("t%d", i))), room.Checks{})
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for r := range 4 {
		st, err := s.State(context.Background(), fmt.Sprintf("room-%d", r))
		if err != nil || st.Seq != 11 || st.Topic != "t9" {
			t.Fatalf("room-%d: %+v, %v", r, st, err)
		}
	}
	if n := s.cache.order.Len(); n != 1 {
		t.Fatalf("%d states cached, bound 1", n)
	}
}

func msg(id, author string) Message {
	return Message{ID: id, Author: author, Time: t0, Body: []byte("body of " + id)}
}

// TestBacklog: the store keeps the newest Kept messages of a room and the
// backlog shows the newest BacklogSize of them, in arrival order; a delete-message op takes a message out of it for good;
// a deleted room has none and takes none.
func TestBacklog(t *testing.T) {
	w := newWorld(t)
	s := w.open(t.TempDir(), Limits{}, 0)
	defer s.Close()
	ctx := context.Background()
	if err := s.AddMessage(ctx, "lounge", msg("m0", "mia")); !errors.Is(err, room.ErrNoRoom) {
		t.Fatalf("message for a room never created: %v", err)
	}
	st := must(t, s, w.create("lounge", "olivia"))
	const total = Kept + 50
	for i := range total {
		if err := s.AddMessage(ctx, "lounge", msg(fmt.Sprintf("m%d", i), "mia")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.Backlog(ctx, "lounge", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := fmt.Sprintf("m%d", total-BacklogSize)
	if len(b) != BacklogSize || b[0].ID != first || b[len(b)-1].ID != fmt.Sprintf("m%d", total-1) {
		t.Fatalf("backlog of %d from %s to %s, want %d from %s", len(b), b[0].ID, b[len(b)-1].ID, BacklogSize, first)
	}
	if b[5].Author != "mia" || string(b[5].Body) != fmt.Sprintf("body of m%d", total-BacklogSize+5) || !b[5].Time.Equal(t0) {
		t.Fatalf("stored message changed: %+v", b[5])
	}
	if b, _ := s.Backlog(ctx, "lounge", 3); len(b) != 3 || b[2].ID != fmt.Sprintf("m%d", total-1) {
		t.Fatalf("backlog of 3: %+v", b)
	}
	var rows int
	if err := s.db.QueryRow(`SELECT count(*) FROM backlog`).Scan(&rows); err != nil || rows != Kept {
		t.Fatalf("%d backlog rows on disk (%v), want %d", rows, err, Kept)
	}
	// Kept, beyond the backlog: by position, from the oldest kept on.
	if got, err := s.MessagesSince(ctx, "lounge", 50); err != nil || len(got) != wire.RoomMessagesPage || got[0].ID != "m50" || got[0].Position != 51 {
		t.Fatalf("messages after position 50: %d from %+v, %v", len(got), got[:min(1, len(got))], err)
	}
	del, keep := fmt.Sprintf("m%d", total-30), fmt.Sprintf("m%d", total-29)

	// The author deletes their own message; it is gone, and a copy
	// arriving later is not stored again.
	st = must(t, s, w.op(st, "mia", deleteMsg(del, "mia")))
	if err := s.AddMessage(ctx, "lounge", msg(del, "mia")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("deleted message re-added: %v", err)
	}
	// A delete for a message not here yet keeps it out when it arrives.
	st = must(t, s, w.op(st, "olivia", deleteMsg("late", "tina")))
	if err := s.AddMessage(ctx, "lounge", msg("late", "tina")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("message deleted before it arrived was stored: %v", err)
	}
	// A member cannot delete another's message by naming itself author.
	if _, err := s.Append(ctx, w.op(st, "sam", deleteMsg(keep, "sam")), room.Checks{}); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("delete naming the wrong author: %v", err)
	}
	b, err = s.Backlog(ctx, "lounge", 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range b {
		ids[m.ID] = true
	}
	if ids[del] || ids["late"] || !ids[keep] || len(b) != BacklogSize {
		t.Fatalf("backlog after deletes: %d messages, %s %v, late %v, %s %v", len(b), del, ids[del], ids["late"], keep, ids[keep])
	}
	var body int
	if err := s.db.QueryRow(`SELECT length(body) FROM backlog WHERE id = ?`, del).Scan(&body); err != nil || body != 0 {
		t.Fatalf("deleted message's body still stored: %d bytes, %v", body, err)
	}

	// Duplicates and malformed messages.
	for _, tt := range []struct {
		name string
		m    Message
		want error
	}{
		{"duplicate", msg("m149", "mia"), ErrDuplicate},
		{"no ID", msg("", "mia"), ErrBadMessage},
		{"long ID", msg(strings.Repeat("x", wire.MaxRoomMessageID+1), "mia"), ErrBadMessage},
		{"bad author", msg("a1", "Mia!"), ErrBadMessage},
		{"empty body", Message{ID: "a2", Author: "mia"}, ErrBadMessage},
		{"large body", Message{ID: "a3", Author: "mia", Body: make([]byte, MaxMessage+1)}, ErrBadMessage},
	} {
		if err := s.AddMessage(ctx, "lounge", tt.m); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}

	// A deleted room's backlog goes with it.
	must(t, s, w.op(st, "olivia", deleteRoom()))
	if b, err := s.Backlog(ctx, "lounge", 0); err != nil || len(b) != 0 {
		t.Fatalf("deleted room's backlog: %d messages, %v", len(b), err)
	}
	if err := s.AddMessage(ctx, "lounge", msg("after", "mia")); !errors.Is(err, room.ErrDeleted) {
		t.Fatalf("message for a deleted room: %v", err)
	}
	var deleted bool
	if err := s.db.QueryRow(`SELECT deleted FROM rooms WHERE name = 'lounge'`).Scan(&deleted); err != nil || !deleted {
		t.Fatalf("room row not marked deleted: %v, %v", deleted, err)
	}

	// A regional room has a backlog without any op.
	if err := s.AddMessage(ctx, wire.RegionalRoom("es"), msg("hola", "mia")); err != nil {
		t.Fatal(err)
	}
}

// TestByteCap: an op or message past the byte cap is refused with ErrFull
// and stores nothing.
func TestByteCap(t *testing.T) {
	w := newWorld(t)
	s := w.open(t.TempDir(), Limits{Bytes: 6 << 10}, 0)
	defer s.Close()
	ctx := context.Background()
	st := must(t, s, w.create("lounge", "olivia"))
	var err error
	for i := 0; err == nil; i++ {
		if i > 100 {
			t.Fatal("byte cap never reached")
		}
		err = s.AddMessage(ctx, "lounge", Message{ID: fmt.Sprint(i), Author: "mia", Body: make([]byte, 1000)})
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("past the byte cap: %v", err)
	}
	before := countOps(t, s)
	if _, err := s.Append(ctx, w.op(st, "olivia", topic("more")), room.Checks{}); !errors.Is(err, ErrFull) {
		t.Fatalf("op past the byte cap: %v", err)
	}
	if countOps(t, s) != before {
		t.Fatal("refused op stored")
	}
	if got, _ := s.State(ctx, "lounge"); got.Seq != st.Seq {
		t.Fatalf("state moved to %d after a refused op", got.Seq)
	}
}
