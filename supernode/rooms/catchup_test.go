package rooms

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// newHomeQueue is newHome with joined members' queues of queue events, so
// a member that stops reading is dropped as lagging after a few.
func newHomeQueue(t testing.TB, queue int) *home {
	t.Helper()
	h := sntest.Host(t)
	w := newWorld(t)
	svc, err := OpenService(ServiceConfig{DBPath: filepath.Join(t.TempDir(), "rooms.db"), AuthServer: w.server, Now: w.clock.Now,
		Queue: queue, WriteGap: -1})
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(h)
	t.Cleanup(func() { _ = svc.Close() })
	return &home{w: w, svc: svc, h: h}
}

// lagged reports whether the home dropped p's joined stream in name as
// lagging (its write loop may still be flushing what was queued before).
func lagged(svc *Service, name string, p peer.ID) bool {
	m := svc.membersOf(name, false)
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb := m.byPeer[p]
	return sb != nil && sb.ended() && sb.why == EndLagging
}

// drain reads sub in the background until it ends, so a member that posts
// keeps up with its own stream.
func drain(t *testing.T, sub *client.Subscription) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// talk has m say texts, the clock moving 3 s before each so the default
// flood limit (5 in 10 s) never binds.
func talk(t *testing.T, m *member, name string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		m.hm.w.clock.advance(3 * time.Second)
		if err := m.say(name, s, nil); err != nil {
			t.Fatalf("%s says %.20q: %v", m.user, s, err)
		}
	}
}

// heard is one message event: its position and "author: text".
type heard struct {
	pos  uint64
	line string
}

// next reads sub's next message event (lines and ops skipped), verified
// as a member would.
func next(t *testing.T, w *world, sub *client.Subscription) (heard, error) {
	t.Helper()
	for {
		ev, err := sub.Next(sntest.Ctx(t))
		if err != nil {
			return heard{}, err
		}
		if sm := ev.GetMessage(); sm != nil {
			m, err := room.VerifyMessage(sm, w.clock.Now(), room.Checks{Server: w.server})
			if err != nil {
				t.Fatalf("a pushed message does not verify: %v", err)
			}
			return heard{ev.Position, m.Author + ": " + m.Text}, nil
		}
	}
}

// stored is every message the home holds of name after position since,
// in order, as heard.
func stored(t *testing.T, hm *home, name string, since uint64) []heard {
	t.Helper()
	var out []heard
	for {
		page, err := hm.svc.Store().MessagesSince(context.Background(), name, since)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			sm, err := room.DecodeMessage(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			rm, err := room.VerifyMessage(sm, hm.w.clock.Now(), room.Checks{Server: hm.w.server})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, heard{m.Position, rm.Author + ": " + rm.Text})
			since = m.Position
		}
		if len(page) < wire.RoomMessagesPage {
			return out
		}
	}
}

// TestCatchUpAfterLagging: bob stops reading his joined stream while alice
// talks; the home drops him as lagging (a queue of 64 events behind the
// stream's flow-control window); alice says 150 more — more than a
// backlog — and bob, joining again with the last position he saw, gets
// every message he missed, in order, once, and then the room live.
func TestCatchUpAfterLagging(t *testing.T) {
	// No write gap: only a member that does not read fills its queue
	// (with the gap, alice's own events, posted faster than 64 in 50 ms,
	// would wait for her too).
	hm := newHomeQueue(t, 64)
	alice, bob := hm.member(t, "alice"), hm.member(t, "bob")
	alice.create("busy", room.Modes{Public: true})
	drain(t, alice.mustJoin("busy"))
	sb := bob.mustJoin("busy")
	if sb.CaughtUp || sb.Newest != 0 {
		t.Fatalf("a first join: caught up %v, newest %d", sb.CaughtUp, sb.Newest)
	}

	// Bob reads nothing: once his stream's window is full the home's
	// writes wait, his queue fills and he is dropped.
	long := strings.Repeat("x", 4000)
	sent := 0
	for ; !lagged(hm.svc, "busy", bob.h.ID()); sent++ {
		if sent == 2000 {
			t.Fatal("bob was never dropped as lagging")
		}
		talk(t, alice, "busy", fmt.Sprintf("%d %s", sent, long))
	}
	// He reads what the home had written and queued, then the reason.
	var last uint64
	for {
		h, err := next(t, hm.w, sb)
		if err != nil {
			if !errors.Is(err, client.ErrRoomEnded) || !strings.HasSuffix(err.Error(), EndLagging) {
				t.Fatalf("bob's stream ended with %v, want %s", err, EndLagging)
			}
			break
		}
		if h.pos != last+1 {
			t.Fatalf("bob heard position %d after %d", h.pos, last)
		}
		last = h.pos
	}
	_ = sb.Close()
	if last == 0 || last >= uint64(sent) {
		t.Fatalf("bob heard up to %d of %d before the drop", last, sent)
	}
	var missed []string
	for i := range wire.RoomBacklog + 50 {
		missed = append(missed, fmt.Sprintf("after %d", i))
	}
	talk(t, alice, "busy", missed...)

	sb, err := client.JoinRoomAfter(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "busy", "", nil, last)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	want := stored(t, hm, "busy", last)
	if !sb.CaughtUp || sb.Newest != want[len(want)-1].pos || len(want) < len(missed)+1 {
		t.Fatalf("rejoined: caught up %v, newest %d; the home holds %d after %d", sb.CaughtUp, sb.Newest, len(want), last)
	}
	talk(t, alice, "busy", "live")
	want = append(want, heard{want[len(want)-1].pos + 1, "alice: live"})
	for i, w := range want {
		h, err := next(t, hm.w, sb)
		if err != nil {
			t.Fatalf("message %d of %d after the rejoin: %v", i+1, len(want), err)
		}
		if h != w {
			t.Fatalf("message %d after the rejoin: %d %.20q, want %d %.20q", i+1, h.pos, h.line, w.pos, w.line)
		}
	}
}

// TestCatchUpPositions: a join names a position the home holds everything
// after (the messages follow, then the room live), one older than what it
// keeps or ahead of it (nothing follows: the member reads the backlog), or
// one out of range (refused, never a panic).
func TestCatchUpPositions(t *testing.T) {
	hm := newHome(t)
	alice, bob := hm.member(t, "alice"), hm.member(t, "bob")
	alice.create("old", room.Modes{Public: true})
	// More than the home keeps, stored as the primary would.
	const total = Kept + 20
	ctx := context.Background()
	for i := range total {
		s, err := room.SignMessage(alice.key, alice.st, &wire.RoomMessage{Room: "old", Id: fmt.Sprintf("m%d", i), Author: "alice",
			TimeUnixMilli: t0.UnixMilli(), Text: fmt.Sprintf("old %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hm.svc.Store().Sequence(ctx, "old", Message{ID: fmt.Sprintf("m%d", i), Author: "alice", Time: t0, Body: wire.MustMarshal(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if oldest, newest, err := hm.svc.Store().Span(ctx, "old"); err != nil || oldest != total-Kept+1 || newest != total {
		t.Fatalf("the home keeps %d..%d (%v), want %d..%d", oldest, newest, err, total-Kept+1, total)
	}
	drain(t, alice.mustJoin("old"))
	live := 0
	// Each case's live message moves what is kept on by one: positions
	// are named from the newest.
	for _, tc := range []struct {
		name     string
		since    func(newest uint64) uint64
		caughtUp bool
	}{
		{"none seen, the oldest trimmed", func(uint64) uint64 { return 0 }, false},
		{"one before what is kept", func(n uint64) uint64 { return n - Kept - 1 }, false},
		{"just what is kept", func(n uint64) uint64 { return n - Kept }, true},
		{"a few missed", func(n uint64) uint64 { return n - 3 }, true},
		{"none missed", func(n uint64) uint64 { return n }, true},
		{"ahead of the home", func(n uint64) uint64 { return n + 50 }, false},
		{"the highest position", func(uint64) uint64 { return wire.MaxRoomPosition }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newest := uint64(total + live)
			since := tc.since(newest)
			sub, err := client.JoinRoomAfter(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "old", "", nil, since)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Close() }()
			if sub.CaughtUp != tc.caughtUp || sub.Newest != newest {
				t.Fatalf("caught up %v, newest %d; want %v, %d", sub.CaughtUp, sub.Newest, tc.caughtUp, newest)
			}
			var want []heard
			if tc.caughtUp {
				want = stored(t, hm, "old", since)
			}
			live++
			text := fmt.Sprintf("live %d", live)
			talk(t, alice, "old", text)
			want = append(want, heard{newest + 1, "alice: " + text})
			for i, w := range want {
				h, err := next(t, hm.w, sub)
				if err != nil || h != w {
					t.Fatalf("message %d of %d: %d %q (%v), want %d %q", i+1, len(want), h.pos, h.line, err, w.pos, w.line)
				}
			}
		})
	}
	// Out of range: the client refuses to ask, and the home refuses a
	// request that does.
	for _, since := range []uint64{wire.MaxRoomPosition + 1, math.MaxUint64} {
		if _, err := client.JoinRoomAfter(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "old", "", nil, since); !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("the client joining after %d: %v", since, err)
		}
		var resp wire.RoomResponse
		err := rawCall(t, bob, &wire.RoomRequest{Ticket: bob.st, Kind: &wire.RoomRequest_Join{Join: &wire.RoomJoin{Room: "old", CatchUp: true, Since: since}}}, &resp)
		if err != nil || resp.Error != wire.CodeBadRequest {
			t.Fatalf("the home asked for the messages after %d: %+v, %v", since, &resp, err)
		}
	}
}

// rawCall sends req to m's home as is, bypassing the client's checks, and
// reads one answer.
func rawCall(t *testing.T, m *member, req *wire.RoomRequest, resp *wire.RoomResponse) error {
	t.Helper()
	s, err := m.h.NewStream(sntest.Ctx(t), m.hm.h.ID(), wire.ProtoRoom)
	if err != nil {
		return err
	}
	defer func() { _ = s.Reset() }()
	if err := wire.WriteMsg(s, req); err != nil {
		return err
	}
	return wire.ReadMsg(s, wire.MaxRoomFrame, resp)
}

// TestHoldsAll: the catch-up decision on the span of positions a home
// holds.
func TestHoldsAll(t *testing.T) {
	for _, tc := range []struct {
		since, oldest, newest uint64
		want                  bool
	}{
		{0, 0, 0, true},    // an empty room, nothing seen
		{3, 0, 0, false},   // ahead of a home with none
		{0, 1, 10, true},   // nothing trimmed
		{5, 1, 10, true},   //
		{10, 1, 10, true},  // nothing missed
		{11, 1, 10, false}, // ahead
		{4, 6, 10, false},  // position 5 trimmed
		{5, 6, 10, true},   // from 6 on: all held
		{0, 6, 10, false},  // nothing seen, 1..5 trimmed
		{math.MaxUint64, 1, 10, false},
	} {
		if got := holdsAll(tc.since, tc.oldest, tc.newest); got != tc.want {
			t.Errorf("holdsAll(%d, %d, %d) = %v, want %v", tc.since, tc.oldest, tc.newest, got, tc.want)
		}
	}
}

// TestCatchUpAtAnotherHome: positions are the room's one message order,
// which every home keeps: bob, dropped at one home while more than a
// backlog is said, attaches at another naming the last position he saw
// there and gets every message after it, in order, once, at the positions
// the primary gave.
func TestCatchUpAtAnotherHome(t *testing.T) {
	c := newCluster(t, "relay", 3)
	alice := c.homes[0].member(t, "alice")
	alice.create("relay", room.Modes{Public: true})
	drain(t, alice.mustJoin("relay"))
	bob := c.homes[1].member(t, "bob")
	sb := bob.mustJoin("relay")
	talk(t, alice, "relay", "one", "two", "three")
	var last uint64
	for range 3 {
		h, err := next(t, c.w, sb)
		if err != nil {
			t.Fatal(err)
		}
		last = h.pos
	}
	_ = sb.Close()
	var missed []string
	for i := range wire.RoomBacklog + 20 {
		missed = append(missed, fmt.Sprintf("after %d", i))
	}
	talk(t, alice, "relay", missed...)

	elsewhere := c.homes[2].member(t, "bob")
	sub, err := client.JoinRoomAfter(sntest.Ctx(t), elsewhere.h, c.homes[2].h.ID(), elsewhere.st, "relay", "", nil, last)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	want := stored(t, c.homes[0], "relay", last)
	if !sub.CaughtUp || len(want) != len(missed) || sub.Newest != want[len(want)-1].pos {
		t.Fatalf("caught up %v at %d; the primary holds %d after %d", sub.CaughtUp, sub.Newest, len(want), last)
	}
	for i, w := range want {
		if h, err := next(t, c.w, sub); err != nil || h != w {
			t.Fatalf("message %d of %d: %d %q (%v), want %d %q", i+1, len(want), h.pos, h.line, err, w.pos, w.line)
		}
	}
}

// TestByteCapEvictsKept: at the byte cap, the oldest messages kept only
// for catching up (beyond their room's newest BacklogSize) make room, the
// oldest first, so a busy room's catch-up window shrinks instead of the
// store refusing everyone; with none left beyond a backlog the cap holds
// (ErrFull, nothing changed).
func TestByteCapEvictsKept(t *testing.T) {
	w := newWorld(t)
	const body = 1000
	row := int64(body + rowOverhead)
	// Two rooms' ops, a busy room's 130 messages, and room for 2 more.
	s := w.open(t.TempDir(), Limits{Bytes: 2*(4<<10) + 132*row}, 0)
	defer s.Close()
	ctx := context.Background()
	must(t, s, w.create("busy", "olivia"))
	must(t, s, w.create("quiet", "olivia"))
	add := func(name string, i int) error {
		return s.AddMessage(ctx, name, Message{ID: fmt.Sprintf("%s%d", name, i), Author: "mia", Time: t0, Body: make([]byte, body)})
	}
	for i := range BacklogSize + 30 {
		if err := add("busy", i); err != nil {
			t.Fatalf("busy message %d: %v", i, err)
		}
	}
	span := func(name string) (uint64, uint64) {
		t.Helper()
		lo, hi, err := s.Span(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return lo, hi
	}
	if lo, hi := span("busy"); lo != 1 || hi != BacklogSize+30 {
		t.Fatalf("busy keeps %d..%d before the cap", lo, hi)
	}
	// The quiet room's messages take the busy room's oldest kept ones'
	// place, never its backlog.
	for i := range 25 {
		if err := add("quiet", i); err != nil {
			t.Fatalf("quiet message %d: %v", i, err)
		}
	}
	lo, hi := span("busy")
	if hi != BacklogSize+30 || lo <= 1 || hi-lo+1 < BacklogSize {
		t.Fatalf("busy keeps %d..%d after the quiet room's messages", lo, hi)
	}
	if b, err := s.Backlog(ctx, "busy", 0); err != nil || len(b) != BacklogSize || b[len(b)-1].ID != fmt.Sprintf("busy%d", BacklogSize+29) {
		t.Fatalf("busy's backlog: %d messages, %v", len(b), err)
	}
	if lo, hi := span("quiet"); lo != 1 || hi != 25 {
		t.Fatalf("quiet keeps %d..%d", lo, hi)
	}
	// Now only backlogs are left: the cap holds.
	var err error
	for i := 25; err == nil; i++ {
		if i > 200 {
			t.Fatal("the byte cap never held")
		}
		err = add("quiet", i)
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("past the cap with only backlogs kept: %v", err)
	}
	lo, hi = span("busy")
	if n, _ := s.Backlog(ctx, "busy", 0); lo != 31 || hi != BacklogSize+30 || len(n) != BacklogSize {
		t.Fatalf("busy keeps %d..%d, %d in its backlog, after the cap held", lo, hi, len(n))
	}
}
