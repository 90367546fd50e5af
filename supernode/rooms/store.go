// Package rooms is what a chat room's home supernode keeps on disk: each
// room's chain of signed ops (node/room) with its head, and the backlog of
// the room's newest messages. It is storage only — the service that
// receives, sequences and replicates ops is built on it — and it never
// trusts itself: an op is stored only after room.Step accepted it against
// the state rebuilt from the stored ops, so a stale, forked or forged op is
// refused with node/room's sentinel errors and changes nothing.
// docs/ROOMS.md describes the model.
package rooms

import (
	"container/list"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/sqlite"
)

// Limits of the store, in one place. The sizes of an op and of a room's
// state are node/wire's (wire.MaxSignedRoomOp, wire.MaxRoom*): room.Verify
// holds every op to them.
const (
	// BacklogSize is how many messages Backlog returns at most: the
	// newest by arrival here, deleted ones left out.
	BacklogSize = wire.RoomBacklog
	// Kept is how many messages the store keeps per room (deleted ones'
	// markers included, without their bodies), the newest by arrival
	// here: more than a backlog, so a member dropped from its joined
	// stream catches up by position (MessagesSince).
	Kept = wire.RoomMessagesKept
	// MaxMessage bounds a stored message's bytes (a signed room message
	// with its author's ticket).
	MaxMessage = 8 << 10
	// OpsPage is the most ops OpsSince returns, and the page Replay reads
	// the stored chain in, so neither holds a long chain in memory at once.
	OpsPage = 256
	// DefaultRooms and DefaultBytes are the global caps of a store whose
	// Limits leave them 0: rooms created here, and the bytes of all ops and
	// messages together with rowOverhead each.
	DefaultRooms = 10_000
	DefaultBytes = 1 << 30
	// DefaultCachedStates is how many rooms' states stay in memory when
	// Config.CachedStates is 0. A state is bounded by the room limits
	// (at most about 5,000 usernames), and rebuilt by Replay on a miss.
	DefaultCachedStates = 256
	// rowOverhead is charged per stored op and message besides its bytes
	// (its row, keys and index entries), so many tiny rows cannot slip
	// under the byte cap.
	rowOverhead = 128
)

// Errors callers branch on, besides node/room's, which Append returns
// wrapped for an op room.Step refuses.
var (
	// ErrFull: a global cap (Limits) would be exceeded; nothing was stored
	// and nothing stored is evicted for it. (Before the byte cap answers
	// it, the messages kept only for catching up make room: fits.)
	ErrFull = errors.New("rooms: store full")
	// ErrDuplicate: a message with this ID is already in the room's
	// backlog, or was deleted from it: a copy through another home.
	ErrDuplicate = errors.New("rooms: message already stored")
	// ErrWrongAuthor: a delete-message op names another author than the
	// stored message's; a member could otherwise delete others' messages
	// by claiming they were their own. The op is refused.
	ErrWrongAuthor = errors.New("rooms: message has another author")
	// ErrBadMessage: a message's ID, author or body is out of its limits.
	ErrBadMessage = errors.New("rooms: malformed message")
	// ErrCreateRate: the create op's author created Limits.Creates rooms
	// here within Limits.CreateWindow already; it may try again later.
	ErrCreateRate = errors.New("rooms: too many rooms created recently")
	// ErrTooManyRooms: the create op's author owns Limits.Owned rooms
	// here, not deleted, already.
	ErrTooManyRooms = errors.New("rooms: owns too many rooms")
)

// Limits are a store's global caps and the per-account limits on creating
// rooms; zero fields take the defaults (node/wire's for the latter).
type Limits struct {
	Rooms int   // rooms created here, deleted ones included (their chain stays)
	Bytes int64 // ops and message bodies, rowOverhead each
	// Creates rooms per CreateWindow may one account create here, deleted
	// ones included (ErrCreateRate).
	Creates      int
	CreateWindow time.Duration
	// Owned is how many rooms, not deleted, one account may own when it
	// creates another (ErrTooManyRooms).
	Owned int
}

func (l Limits) withDefaults() Limits {
	if l.Creates <= 0 {
		l.Creates = wire.RoomCreatesPerWindow
	}
	if l.CreateWindow <= 0 {
		l.CreateWindow = wire.RoomCreateWindow
	}
	if l.Owned <= 0 {
		l.Owned = wire.MaxRoomsOwned
	}
	if l.Rooms <= 0 {
		l.Rooms = DefaultRooms
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultBytes
	}
	return l
}

// Config is what Open needs besides the file.
type Config struct {
	// Server is the auth server whose tickets sign ops; required. Stored
	// ops are replayed against it.
	Server peer.ID
	// Now is the clock ops are verified at; nil means time.Now.
	Now          func() time.Time
	Limits       Limits
	CachedStates int // 0: DefaultCachedStates
}

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a home's room database. Its methods are safe for concurrent
// use; the ones that read or change one room run one at a time for that
// room, so two ops on the same head cannot both land.
type Store struct {
	db     *sqlite.DB
	server peer.ID
	now    func() time.Time
	limits Limits
	locks  locks
	cache  *cache
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(path string, cfg Config) (*Store, error) {
	if cfg.Server == "" {
		return nil, errors.New("rooms: no auth server configured")
	}
	db, err := sqlite.Open(path, sqlite.Options{Migrations: migrations, Dir: "migrations"})
	if err != nil {
		return nil, fmt.Errorf("rooms: opening database: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	n := cfg.CachedStates
	if n <= 0 {
		n = DefaultCachedStates
	}
	s := &Store{db: db, server: cfg.Server, now: now, limits: cfg.Limits.withDefaults(),
		locks: locks{m: map[string]*roomLock{}}, cache: newCache(n)}
	if err := s.fillEntries(context.Background()); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Append verifies the signed op against its room's state and stores it as
// the room's new head, returning the new state (shared and read-only, as
// State's). c is what room.Verify
// checks besides the chain (a home sequencing a new op sets Revoked and
// MaxAge; one storing ops another home sequenced may not); an empty
// c.Server is the store's. An op room.Step refuses (stale, forked, gap,
// forged, not allowed, …) is returned wrapped and changes nothing; so is
// one past a global cap (ErrFull) and a delete-message op naming another
// author than the stored message's (ErrWrongAuthor). A delete-message
// op's effect on the backlog, and a delete-room op's (the backlog goes),
// are in the op's transaction.
func (s *Store) Append(ctx context.Context, signed *wire.SignedRoomOp, c room.Checks) (*room.State, error) {
	return s.appendOp(ctx, signed, c, true)
}

// appendOp is Append; creation limits are applied to a create op only
// with limits set (the home sequencing it, not one replicating it).
func (s *Store) appendOp(ctx context.Context, signed *wire.SignedRoomOp, c room.Checks, limits bool) (*room.State, error) {
	name, raw, err := peek(signed)
	if err != nil {
		return nil, err
	}
	if c.Server == "" {
		c.Server = s.server
	}
	unlock := s.locks.lock(name)
	defer unlock()
	st, err := s.state(ctx, name)
	if err != nil {
		return nil, err
	}
	next, op, err := room.Step(st, signed, s.now(), c)
	if err != nil {
		return nil, fmt.Errorf("rooms: op for %q: %w", name, err)
	}
	incoherent := false
	err = s.db.TxContext(ctx, func(tx *sql.Tx) error {
		if err := checkHead(tx, st); err != nil {
			incoherent = true
			return err
		}
		if op.Seq == 1 {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM rooms`).Scan(&n); err != nil {
				return fmt.Errorf("counting rooms: %w", err)
			}
			if n >= s.limits.Rooms {
				return fmt.Errorf("%w: %d rooms, the cap", ErrFull, n)
			}
			// A regional room's first op is its moderators' first change,
			// not a creation: no one's allowance pays for it; nor does a
			// create another home sequenced (it applied the limits).
			creator := ""
			if op.Kind == room.KindCreate {
				if limits {
					if err := s.mayCreate(tx, op.Author); err != nil {
						return err
					}
				}
				creator = op.Author
			}
			if _, err := tx.Exec(`INSERT INTO rooms (name, head, position, created, creator) VALUES (?, ?, 1, ?, ?)`,
				name, op.Hash[:], op.Time.UnixMilli(), creator); err != nil {
				return fmt.Errorf("storing room: %w", err)
			}
		}
		if _, err := tx.Exec(`UPDATE rooms SET head = ?, position = ?, deleted = ? WHERE name = ?`,
			op.Hash[:], int64(op.Seq), next.Deleted, name); err != nil {
			return fmt.Errorf("moving head: %w", err)
		}
		if err := putEntry(tx, next); err != nil {
			return err
		}
		if err := s.fits(tx, len(raw)); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO ops (room, position, hash, op) VALUES (?, ?, ?, ?)`,
			name, int64(op.Seq), op.Hash[:], raw); err != nil {
			return fmt.Errorf("storing op: %w", err)
		}
		switch op.Kind {
		case room.KindDeleteMessage:
			return deleteMessage(tx, name, op.MessageID, op.Target, op.Time)
		case room.KindDeleteRoom:
			if _, err := tx.Exec(`DELETE FROM backlog WHERE room = ?`, name); err != nil {
				return fmt.Errorf("dropping backlog: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		if incoherent {
			// The cached state is what no longer matches the disk: the
			// next call rebuilds it from the stored ops.
			s.cache.drop(name)
		}
		return nil, fmt.Errorf("rooms: appending op %d to %q: %w", op.Seq, name, err)
	}
	s.cache.put(name, next)
	return next, nil
}

// peek checks signed's sizes and returns its room's name (valid, so it can
// key a lock and a row) and its encoding to store. Verify checks the rest.
func peek(signed *wire.SignedRoomOp) (string, []byte, error) {
	if signed == nil || len(signed.Op) > wire.MaxRoomOp {
		return "", nil, fmt.Errorf("rooms: %w: missing or oversized op", room.ErrMalformed)
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(signed)
	if err != nil {
		return "", nil, fmt.Errorf("rooms: %w: encoding: %v", room.ErrMalformed, err)
	}
	if len(raw) > wire.MaxSignedRoomOp {
		return "", nil, fmt.Errorf("rooms: %w: %d bytes, limit %d", room.ErrMalformed, len(raw), wire.MaxSignedRoomOp)
	}
	var op wire.RoomOp
	if err := proto.Unmarshal(signed.Op, &op); err != nil {
		return "", nil, fmt.Errorf("rooms: %w: %v", room.ErrMalformed, err)
	}
	if err := wire.ValidRoomName(op.Room); err != nil {
		return "", nil, fmt.Errorf("rooms: %w: %w", room.ErrMalformed, err)
	}
	return op.Room, raw, nil
}

// checkHead checks that the stored head is st's, the state an op was just
// verified against: a state cached or replayed under the room's lock always
// is, so a mismatch means the disk changed under the store, and nothing is
// written on a state that is not the stored one.
func checkHead(tx *sql.Tx, st *room.State) error {
	var head []byte
	var pos int64
	err := tx.QueryRow(`SELECT head, position FROM rooms WHERE name = ?`, st.Room).Scan(&head, &pos)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if st.Seq == 0 {
			return nil
		}
		return fmt.Errorf("room %q at %d in memory is not stored", st.Room, st.Seq)
	case err != nil:
		return fmt.Errorf("reading head: %w", err)
	case uint64(pos) != st.Seq || string(head) != string(st.Head[:]):
		return fmt.Errorf("stored head of %q is at %d, the state at %d", st.Room, pos, st.Seq)
	}
	return nil
}

// fits fails with ErrFull unless one more row of n bytes fits the byte
// cap. Past it, the oldest messages kept only for catching up — those
// beyond their room's newest BacklogSize — make room first (evictKept);
// nothing else is evicted, and on ErrFull the caller's transaction, with
// the eviction, is rolled back.
func (s *Store) fits(tx *sql.Tx, n int) error {
	used, err := usedBytes(tx)
	if err != nil {
		return err
	}
	over := used + int64(n) + rowOverhead - s.limits.Bytes
	if over <= 0 {
		return nil
	}
	if err := evictKept(tx, over); err != nil {
		return err
	}
	if used, err = usedBytes(tx); err != nil {
		return err
	}
	if used+int64(n)+rowOverhead > s.limits.Bytes {
		return fmt.Errorf("%w: %d of %d bytes used", ErrFull, used, s.limits.Bytes)
	}
	return nil
}

// usedBytes is what the store's rows take against the byte cap.
func usedBytes(tx *sql.Tx) (int64, error) {
	var rows, size int64
	if err := tx.QueryRow(`SELECT ops + msgs, bytes FROM usage WHERE id = 1`).Scan(&rows, &size); err != nil {
		return 0, fmt.Errorf("reading usage: %w", err)
	}
	return size + rows*rowOverhead, nil
}

// evictScan bounds how many of the oldest messages one eviction looks at:
// a store full of rooms within their backlogs costs each refused insert
// this many short index probes, not a scan of the table.
const evictScan = 1024

// evictKept drops the oldest messages (by arrival here) that are beyond
// their room's newest BacklogSize, among the oldest evictScan, until at
// least want bytes are freed or none is left to drop. Each room loses
// its oldest first, so what a room keeps stays one run of positions, as
// the catch-up's decision (holdsAll) needs.
func evictKept(tx *sql.Tx, want int64) error {
	rows, err := tx.Query(`SELECT b.seq, length(b.body) FROM (SELECT seq, room FROM backlog ORDER BY seq LIMIT ?) AS o
		JOIN backlog AS b ON b.seq = o.seq
		WHERE EXISTS (SELECT 1 FROM backlog AS c WHERE c.room = o.room AND c.seq > o.seq ORDER BY c.seq LIMIT 1 OFFSET ?)
		ORDER BY b.seq`, evictScan, BacklogSize-1)
	if err != nil {
		return fmt.Errorf("finding messages to evict: %w", err)
	}
	var drop []int64
	for freed := int64(0); freed < want && rows.Next(); {
		var seq, size int64
		if err := rows.Scan(&seq, &size); err != nil {
			_ = rows.Close()
			return fmt.Errorf("finding messages to evict: %w", err)
		}
		drop = append(drop, seq)
		freed += size + rowOverhead
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("finding messages to evict: %w", err)
	}
	for _, seq := range drop {
		if _, err := tx.Exec(`DELETE FROM backlog WHERE seq = ?`, seq); err != nil {
			return fmt.Errorf("evicting a kept message: %w", err)
		}
	}
	return nil
}

// State is the room's current state: room.New(name) for a room with no op
// stored (a regional room's state, or none yet). The state is shared:
// treat it as read-only (room.State.Clone gives a copy to change).
func (s *Store) State(ctx context.Context, name string) (*room.State, error) {
	if err := wire.ValidRoomName(name); err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	unlock := s.locks.lock(name)
	defer unlock()
	return s.state(ctx, name)
}

// state is the room's state from the cache or, on a miss, replayed from
// the stored ops; the caller holds the room's lock, so no op lands
// meanwhile.
func (s *Store) state(ctx context.Context, name string) (*room.State, error) {
	if st := s.cache.get(name); st != nil {
		return st, nil
	}
	// The stored chain is replayed op by op, each verified as a member
	// joining would: a corrupted or tampered file fails here instead of
	// serving a state no one else reaches. Revocation and MaxAge are not
	// asked: the ops were checked for them when they were sequenced
	// (docs/ROOMS.md).
	st := room.New(name)
	now, c := s.now(), room.Checks{Server: s.server}
	for {
		page, err := s.opsSince(ctx, name, st.Seq)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			next, _, err := room.Step(st, o, now, c)
			if err != nil {
				return nil, fmt.Errorf("rooms: replaying %q at %d: %w", name, st.Seq+1, err)
			}
			st = next
		}
		if len(page) < OpsPage {
			break
		}
	}
	s.cache.put(name, st)
	return st, nil
}

// OpsSince is the room's ops after position, in order, at most OpsPage of
// them: what a lagging home or member fetches, page by page, until it has
// the state's Seq.
func (s *Store) OpsSince(ctx context.Context, name string, position uint64) ([]*wire.SignedRoomOp, error) {
	if err := wire.ValidRoomName(name); err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	return s.opsSince(ctx, name, position)
}

func (s *Store) opsSince(ctx context.Context, name string, position uint64) ([]*wire.SignedRoomOp, error) {
	if position > 1<<62 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT position, op FROM ops WHERE room = ? AND position > ? ORDER BY position LIMIT ?`,
		name, int64(position), OpsPage)
	if err != nil {
		return nil, fmt.Errorf("rooms: reading ops of %q: %w", name, err)
	}
	defer rows.Close()
	var out []*wire.SignedRoomOp
	for rows.Next() {
		var pos int64
		var b []byte
		if err := rows.Scan(&pos, &b); err != nil {
			return nil, fmt.Errorf("rooms: reading ops of %q: %w", name, err)
		}
		o, err := room.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("rooms: stored op %d of %q: %w", pos, name, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rooms: reading ops of %q: %w", name, err)
	}
	return out, nil
}

// Message is one message of a room's backlog. Body is the message as the
// members receive it (its author's signed message); the store only keeps
// it.
type Message struct {
	ID     string
	Author string    // the sender's verified username
	Time   time.Time // the author's signed time
	Body   []byte
	// Position is the message's place in the room's message order (set
	// by Sequence and AddOrdered, read by MessagesSince); 0 for none.
	Position uint64
}

func (m Message) check() error {
	switch {
	case m.ID == "" || len(m.ID) > wire.MaxRoomMessageID || !utf8.ValidString(m.ID):
		return fmt.Errorf("%w: ID of %d bytes, want 1..%d of UTF-8", ErrBadMessage, len(m.ID), wire.MaxRoomMessageID)
	case wire.ValidUsername(m.Author) != nil:
		return fmt.Errorf("%w: author %q: %w", ErrBadMessage, m.Author, wire.ValidUsername(m.Author))
	case len(m.Body) == 0 || len(m.Body) > MaxMessage:
		return fmt.Errorf("%w: body of %d bytes, want 1..%d", ErrBadMessage, len(m.Body), MaxMessage)
	}
	return nil
}

// AddMessage adds m, which the caller admitted (room.Admit), to the room's
// backlog as its newest message, at the next position of the room's
// message order (Sequence without the position).
func (s *Store) AddMessage(ctx context.Context, name string, m Message) error {
	_, err := s.Sequence(ctx, name, m)
	return err
}

// insertMessage stores m (a deleted one without its body) and trims the
// room's messages to the newest Kept.
func insertMessage(tx *sql.Tx, name string, m Message, deleted bool) error {
	var pos any
	if m.Position > 0 {
		pos = int64(m.Position)
	}
	if _, err := tx.Exec(`INSERT INTO backlog (room, id, author, time, body, deleted, position) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		name, m.ID, m.Author, m.Time.UnixMilli(), m.Body, deleted, pos); err != nil {
		return fmt.Errorf("storing message: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM backlog WHERE room = ? AND seq <= (
			SELECT seq FROM backlog WHERE room = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
		name, name, Kept); err != nil {
		return fmt.Errorf("trimming backlog: %w", err)
	}
	return nil
}

// deleteMessage is a delete-message op's effect: the message's body goes
// and its row stays, marked deleted, so a copy arriving later through
// another home is refused. A message not (or no longer) here gets such a
// row at once. The op's author claim is checked against the stored one.
func deleteMessage(tx *sql.Tx, name, id, author string, at time.Time) error {
	var stored string
	err := tx.QueryRow(`SELECT author FROM backlog WHERE room = ? AND id = ?`, name, id).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return insertMessage(tx, name, Message{ID: id, Author: author, Time: at, Body: []byte{}}, true)
	case err != nil:
		return fmt.Errorf("reading message %q: %w", id, err)
	case stored != author:
		return fmt.Errorf("%w: message %q is %q's, the op says %q's", ErrWrongAuthor, id, stored, author)
	}
	if _, err := tx.Exec(`UPDATE backlog SET deleted = 1, body = x'' WHERE room = ? AND id = ?`, name, id); err != nil {
		return fmt.Errorf("deleting message %q: %w", id, err)
	}
	return nil
}

// Backlog is the room's newest messages, at most limit (BacklogSize when
// limit is out of 1..BacklogSize), oldest first; deleted ones are not in
// it, nor those a split's winning order displaced (AddOrdered).
func (s *Store) Backlog(ctx context.Context, name string, limit int) ([]Message, error) {
	if limit <= 0 || limit > BacklogSize {
		limit = BacklogSize
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, author, time, body FROM (
			SELECT seq, id, author, time, body FROM backlog WHERE room = ? AND deleted = 0 AND (position IS NULL OR position > 0) ORDER BY seq DESC LIMIT ?
		) ORDER BY seq`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("rooms: reading backlog of %q: %w", name, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var ms int64
		if err := rows.Scan(&m.ID, &m.Author, &ms, &m.Body); err != nil {
			return nil, fmt.Errorf("rooms: reading backlog of %q: %w", name, err)
		}
		m.Time = time.UnixMilli(ms)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rooms: reading backlog of %q: %w", name, err)
	}
	return out, nil
}

// locks is one mutex per room in use, dropped when no one holds or waits
// for it, so its memory is bounded by the calls in flight.
type locks struct {
	mu sync.Mutex
	m  map[string]*roomLock
}

type roomLock struct {
	sync.Mutex
	refs int
}

func (l *locks) lock(name string) (unlock func()) {
	l.mu.Lock()
	rl := l.m[name]
	if rl == nil {
		rl = &roomLock{}
		l.m[name] = rl
	}
	rl.refs++
	l.mu.Unlock()
	rl.Lock()
	return func() {
		rl.Unlock()
		l.mu.Lock()
		if rl.refs--; rl.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}

// cache keeps the states of the most recently used rooms.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *entry, most recent first
	m     map[string]*list.Element
}

type entry struct {
	name string
	st   *room.State
}

func newCache(n int) *cache { return &cache{max: n, order: list.New(), m: map[string]*list.Element{}} }

func (c *cache) get(name string) *room.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[name]
	if e == nil {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*entry).st
}

func (c *cache) put(name string, st *room.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[name]; e != nil {
		e.Value.(*entry).st = st
		c.order.MoveToFront(e)
		return
	}
	c.m[name] = c.order.PushFront(&entry{name, st})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.m, old.Value.(*entry).name)
	}
}

func (c *cache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[name]; e != nil {
		c.order.Remove(e)
		delete(c.m, name)
	}
}
