package rooms

import (
	"context"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/internal/sntest"
)

// t0 is the tests' clock start: no test reads the wall clock.
var t0 = time.Unix(1_800_000_000, 0)

// clock is a settable clock the store verifies ops at.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) tick() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// world is a test auth server, its users' devices and a clock.
type world struct {
	t       testing.TB
	key     crypto.PrivKey
	server  peer.ID
	clock   *clock
	mu      sync.Mutex
	devices map[string]device
}

type device struct {
	key    crypto.PrivKey
	ticket *wire.SignedTicket
}

func newWorld(t testing.TB) *world {
	k := sntest.Key(t)
	return newWorldWith(t, k)
}

func newWorldWith(t testing.TB, k crypto.PrivKey) *world {
	return &world{t: t, key: k, server: sntest.ID(t, k), clock: &clock{now: t0}, devices: map[string]device{}}
}

// sign signs op as its author's device (made, with a ticket valid for a
// day around t0, on first use).
func (w *world) sign(op *wire.RoomOp) *wire.SignedRoomOp {
	w.t.Helper()
	w.mu.Lock()
	d, ok := w.devices[op.Author]
	if !ok {
		k := sntest.Key(w.t)
		d = device{k, sntest.SignTicket(w.t, w.key, op.Author, sntest.ID(w.t, k), t0.Add(-time.Hour), t0.Add(23*time.Hour))}
		w.devices[op.Author] = d
	}
	w.mu.Unlock()
	s, err := room.Sign(d.key, d.ticket, op)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// open opens a store in dir with the world's server and clock.
func (w *world) open(dir string, l Limits, cached int) *Store {
	w.t.Helper()
	s, err := Open(filepath.Join(dir, "rooms.db"), Config{Server: w.server, Now: w.clock.Now, Limits: l, CachedStates: cached})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// op is a new op by author on st's head, at the next second of the clock.
func (w *world) op(st *room.State, author string, kind func(*wire.RoomOp)) *wire.SignedRoomOp {
	w.t.Helper()
	o := room.Next(st, author, w.clock.tick())
	kind(o)
	return w.sign(o)
}

// create is the genesis op of name by owner.
func (w *world) create(name, owner string) *wire.SignedRoomOp {
	return w.sign(room.Create(name, owner, w.clock.tick(), "hello", room.Modes{}))
}

// must appends s and fails the test on an error.
func must(t testing.TB, s *Store, op *wire.SignedRoomOp) *room.State {
	t.Helper()
	st, err := s.Append(context.Background(), op, room.Checks{})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return st
}

func topic(s string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Topic{Topic: s} }
}
func opUser(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Op{Op: u} }
}
func voice(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Voice{Voice: u} }
}
func ban(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Ban{Ban: &wire.RoomBan{Username: u}} }
}
func deleteMsg(id, author string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) {
		o.Kind = &wire.RoomOp_DeleteMessage{DeleteMessage: &wire.RoomDeleteMessage{Id: id, Author: author}}
	}
}
func deleteRoom() func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_DeleteRoom{DeleteRoom: &wire.RoomDeleteRoom{}} }
}

// sameState fails t unless a and b are the same state.
func sameState(t testing.TB, a, b *room.State) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("states differ:\n%+v\n%+v", a, b)
	}
}

// countOps is how many ops the store holds, of all rooms.
func countOps(t testing.TB, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM ops`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
