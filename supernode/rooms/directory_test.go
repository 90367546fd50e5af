package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// createWith creates name with topic and modes as m's device.
func (m *member) createWith(name, topic string, modes room.Modes) error {
	m.t.Helper()
	return m.submit(room.Create(name, m.user, m.hm.w.clock.tick(), topic, modes))
}

// list searches the directory as m and returns the rooms found, each as
// "name:online".
func (m *member) list(query, region string, limit int) ([]string, error) {
	m.t.Helper()
	found, err := client.ListRooms(sntest.Ctx(m.t), m.h, m.hm.h.ID(), m.st, query, region, limit)
	var out []string
	for _, e := range found {
		out = append(out, fmt.Sprintf("%s:%d", e.Room, e.Online))
	}
	return out, err
}

// mustList is list a second later (searches are rate-limited).
func (m *member) mustList(query, region string, limit int) []string {
	m.t.Helper()
	m.hm.w.clock.tick()
	out, err := m.list(query, region, limit)
	if err != nil {
		m.t.Fatalf("list %q in %q: %v", query, region, err)
	}
	return out
}

func modes(public bool) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Modes{Modes: room.Modes{Public: public}.Wire()} }
}

// TestDirectory: three public rooms with different topics, an unlisted one
// and a regional one; search by words (all of them, any case, name or
// topic), by region, sorted by members online then name; a new room is
// listed at once, an unlisted or deleted one is gone at once.
func TestDirectory(t *testing.T) {
	hm := newHome(t)
	alice, bob, carl, dan, ana := hm.member(t, "alice"), hm.member(t, "bob"), hm.member(t, "carl"), hm.member(t, "dan"), hm.member(t, "ana")
	for _, c := range []struct {
		m           *member
		name, topic string
		public      bool
	}{
		{alice, "golang", "Go programming, gophers welcome", true},
		{bob, "jazz-club", "Live MUSIC and jazz records", true},
		{carl, "chess", "Openings, endgames; music while thinking", true},
		{alice, "music-secret", "Music nobody should find", false},
	} {
		if err := c.m.createWith(c.name, c.topic, room.Modes{Public: c.public}); err != nil {
			t.Fatalf("create %q: %v", c.name, err)
		}
	}
	bob.mustJoin("jazz-club")
	carl.mustJoin("jazz-club")
	dan.mustJoin("chess")
	es, err := ana.join(wire.RegionalRoom("ES"), ana.pass("ES"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })

	for _, tt := range []struct {
		query, region string
		limit         int
		want          string
	}{
		{"", "", 0, "jazz-club:2 chess:1 region-es:1 golang:0"},
		{"music", "", 0, "jazz-club:2 chess:1"},
		{"MUSIC jazz", "", 0, "jazz-club:2"},
		{"jazz chess", "", 0, ""},
		{"gopher", "", 0, "golang:0"},
		{"lang", "", 0, "golang:0"}, // in the name
		{"secret", "", 0, ""},       // unlisted
		{"", "es", 0, "region-es:1"},
		{"", "FR", 0, "region-fr:0"}, // every region has its room
		{"music", "ES", 0, ""},
		{"", "", 2, "jazz-club:2 chess:1"},
	} {
		got := strings.Join(alice.mustList(tt.query, tt.region, tt.limit), " ")
		if got != tt.want {
			t.Errorf("list %q region %q limit %d: %q, want %q", tt.query, tt.region, tt.limit, got, tt.want)
		}
	}

	// An entry carries what the directory shows.
	hm.w.clock.tick()
	found, err := client.ListRooms(sntest.Ctx(t), dan.h, hm.h.ID(), dan.st, "jazz", "", 0)
	if err != nil || len(found) != 1 {
		t.Fatalf("jazz: %v, %v", found, err)
	}
	if e := found[0]; e.Topic != "Live MUSIC and jazz records" || e.Owner != "bob" || e.Online != 2 || e.Region != "" ||
		e.CreatedUnixMilli <= t0.UnixMilli() || e.InviteOnly || e.Password {
		t.Fatalf("entry %+v", e)
	}

	// A new public room is there at once; an unlisted or deleted one is
	// gone at once; listed again, it is back.
	if err := dan.createWith("poker", "Texas hold'em, no music", room.Modes{Public: true}); err != nil {
		t.Fatal(err)
	}
	same(t, alice.mustList("music", "", 0), "jazz-club:2", "chess:1", "poker:0")
	if err := alice.op("golang", modes(false)); err != nil {
		t.Fatalf("unlist: %v", err)
	}
	same(t, alice.mustList("go", "", 0))
	if err := bob.op("jazz-club", deleteRoom()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	same(t, alice.mustList("music", "", 0), "chess:1", "poker:0")
	if err := alice.op("golang", modes(true)); err != nil {
		t.Fatalf("list again: %v", err)
	}
	same(t, alice.mustList("go", "", 0), "golang:0")

	// Requests out of their limits.
	hm.w.clock.advance(time.Minute)
	for _, tt := range []struct{ name, query, region string }{
		{"nine words", "a b c d e f g h i", ""},
		{"a region of three letters", "", "ESP"},
		{"a region that is no code", "", "e1"},
		{"invalid UTF-8", "\xff", ""},
	} {
		if _, err := alice.list(tt.query, tt.region, 0); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", tt.name, err)
		}
	}
}

// TestDirectoryRate: one account's searches are rate-limited, another's
// are not.
func TestDirectoryRate(t *testing.T) {
	hm := newHome(t)
	alice, bob := hm.member(t, "alice"), hm.member(t, "bob")
	for i := range wire.RoomListBurst {
		if _, err := alice.list("", "", 0); err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
	}
	if _, err := alice.list("", "", 0); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("past the burst: %v, want ErrRateLimited", err)
	}
	if _, err := bob.list("", "", 0); err != nil {
		t.Fatalf("another account: %v", err)
	}
	hm.w.clock.advance(time.Second)
	if _, err := alice.list("", "", 0); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

// TestCreateLimits: an account creates at most RoomCreatesPerWindow rooms
// per window (creating and deleting frees nothing) and owns at most
// MaxRoomsOwned; a forged create in its name spends none of its allowance;
// other accounts are not affected.
func TestCreateLimits(t *testing.T) {
	hm := newHome(t)
	olivia, mallory, bob := hm.member(t, "olivia"), hm.member(t, "mallory"), hm.member(t, "bob")
	next := 0
	create := func(m *member) (string, error) {
		next++
		name := fmt.Sprintf("room-%d", next)
		return name, m.createWith(name, "", room.Modes{Public: true})
	}

	// Mallory's device signs creates in Olivia's name: forged, refused,
	// and not counted against her.
	for i := range wire.RoomCreatesPerWindow + 1 {
		err := mallory.submit(room.Create(fmt.Sprintf("fake-%d", i), "olivia", hm.w.clock.tick(), "", room.Modes{}))
		if !errors.Is(err, client.ErrNotAllowed) {
			t.Fatalf("forged create: %v, want ErrNotAllowed", err)
		}
	}
	var owned []string
	for len(owned) < wire.MaxRoomsOwned {
		for range min(wire.RoomCreatesPerWindow, wire.MaxRoomsOwned-len(owned)) {
			name, err := create(olivia)
			if err != nil {
				t.Fatalf("room %d of olivia: %v", len(owned)+1, err)
			}
			owned = append(owned, name)
		}
		if len(owned) < wire.MaxRoomsOwned {
			if _, err := create(olivia); !errors.Is(err, client.ErrRateLimited) {
				t.Fatalf("create past the rate: %v, want ErrRateLimited", err)
			}
			if _, err := create(bob); err != nil {
				t.Fatalf("another account while olivia is limited: %v", err)
			}
			hm.w.clock.advance(wire.RoomCreateWindow)
		}
	}
	hm.w.clock.advance(wire.RoomCreateWindow)
	if _, err := create(olivia); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("create past the cap: %v, want ErrNotAllowed", err)
	}
	// Deleting one room makes room for one more.
	if err := olivia.op(owned[0], deleteRoom()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := create(olivia); err != nil {
		t.Fatalf("create after a delete: %v", err)
	}
	if _, err := create(olivia); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("create past the cap again: %v, want ErrNotAllowed", err)
	}

	// Creating and deleting within the window frees nothing.
	hm.w.clock.advance(wire.RoomCreateWindow)
	for i := range wire.RoomCreatesPerWindow {
		name, err := create(bob)
		if err != nil {
			t.Fatalf("bob's room %d: %v", i, err)
		}
		if err := bob.op(name, deleteRoom()); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if _, err := create(bob); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("create after creating and deleting: %v, want ErrRateLimited", err)
	}
}

// TestFillEntries: rooms stored before the directory (no entry) get theirs
// from the replayed chain when the store opens, creator included, so the
// creation limits count them.
func TestFillEntries(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	s := w.open(dir, Limits{}, 0)
	st := must(t, s, w.sign(room.Create("lounge", "olivia", w.clock.tick(), "old times", room.Modes{Public: true})))
	must(t, s, w.op(st, "olivia", topic("new times")))
	must(t, s, w.sign(room.Create("hidden", "olivia", w.clock.tick(), "", room.Modes{})))
	if _, err := s.db.Exec(`UPDATE rooms SET creator = NULL, owner = NULL, topic = NULL, listed = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = w.open(dir, Limits{Creates: 2}, 0)
	defer s.Close()
	got, err := s.Listed(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("listed: %+v, %v", got, err)
	}
	if e := got[0]; e.Room != "lounge" || e.Topic != "new times" || e.Owner != "olivia" || !e.Created.Equal(t0.Add(time.Second)) {
		t.Fatalf("entry %+v", e)
	}
	if _, err := s.Append(context.Background(), w.create("third", "olivia"), room.Checks{}); !errors.Is(err, ErrCreateRate) {
		t.Fatalf("a third room within the window of two: %v, want ErrCreateRate", err)
	}
}

// FuzzParseQuery: any list request either is refused with ErrBadQuery or
// parses within every limit.
func FuzzParseQuery(f *testing.F) {
	f.Add("music jazz", "es", uint32(10))
	f.Add("", "", uint32(0))
	f.Add("a b c d e f g h i", "ESP", uint32(101))
	f.Add("Ünïcode ΣΊΣΥΦΟΣ", "Fr", uint32(100))
	f.Fuzz(func(t *testing.T, query, region string, limit uint32) {
		q, err := ParseQuery(&wire.RoomListRequest{Query: query, Region: region, Limit: limit})
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error %v is not ErrBadQuery", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > wire.RoomDirectoryPage || len(q.Words) > wire.MaxRoomQueryWords || len(query) > wire.MaxRoomQuery {
			t.Fatalf("%+v out of limits", q)
		}
		if q.Region != "" && (len(q.Region) != 2 || wire.RoomRegion(wire.RegionalRoom(q.Region)) != q.Region) {
			t.Fatalf("region %q", q.Region)
		}
		for _, w := range q.Words {
			if w == "" || strings.ToLower(w) != w {
				t.Fatalf("word %q", w)
			}
		}
	})
}
