package backup

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// TombstoneTTL is how long a removed contact or a room left is remembered
// in the synced state: long enough for every device that signs in now and
// then to learn of it (the "recent history" is 90 days too). A
// device that was away for longer may bring such a contact or room back.
const TombstoneTTL = 90 * 24 * time.Hour

// Removed is the Relation of a tombstone: a contact removed from the list.
const Removed = ""

// Stamp is a change time: milliseconds since 1970, never going back on a
// device (see Clock). Zero means "before change times were kept": older
// than any change.
type Stamp = uint64

// State is the account's synced state: the contact list with the contacts
// removed lately, and the rooms joined or left lately.
type State struct {
	Entries []Entry // live contacts and tombstones (Relation == Removed)
	Rooms   []Room
}

// Room is a room the account joined, or left (Left: a tombstone).
type Room struct {
	Name     string
	Password string // the room's key, "" for none
	Left     bool
	At       Stamp // when it was joined or left
}

// Live reports whether e is a contact in the list, not a tombstone.
func (e Entry) Live() bool { return e.Relation != Removed }

// newest is the latest change time of any field of e.
func (e Entry) newest() Stamp {
	return max(e.RelationAt, e.MyTokenAt, e.TheirTokenAt, e.PeerIDAt, e.GroupAt, e.AliasAt)
}

// relationRank orders relations for equal change times only (two devices'
// lists from before change times were kept), so that every device picks
// the same one: the more deliberate, the higher.
func relationRank(r string) int {
	switch r {
	case "blocked":
		return 5
	case "accepted":
		return 4
	case "pending-out":
		return 3
	case "pending-in":
		return 2
	case Removed:
		return 0
	}
	return 1
}

// later reports whether the change (at, v) wins over (bt, w): the newer
// wins; for equal times the greater value, so that the outcome does not
// depend on which side merges which.
func later[T any](at Stamp, v T, bt Stamp, w T, compare func(T, T) int) bool {
	if at != bt {
		return at > bt
	}
	return compare(v, w) > 0
}

func compareRelation(a, b Entry) int {
	return cmp.Or(cmp.Compare(relationRank(a.Relation), relationRank(b.Relation)),
		cmp.Compare(a.Relation, b.Relation), cmp.Compare(a.PrevRelation, b.PrevRelation))
}

// MergeEntry merges two versions of one contact's entry field by field:
// each field (the relation with the relation before a block counts as
// one) takes the value of its newest change. It is commutative,
// associative and idempotent, so devices that merge each other's lists in
// any order agree.
func MergeEntry(a, b Entry) Entry {
	out := a
	if later(b.RelationAt, b, a.RelationAt, a, compareRelation) {
		out.Relation, out.PrevRelation, out.RelationAt = b.Relation, b.PrevRelation, b.RelationAt
	}
	if later(b.MyTokenAt, b.MyToken, a.MyTokenAt, a.MyToken, bytes.Compare) {
		out.MyToken, out.MyTokenAt = b.MyToken, b.MyTokenAt
	}
	if later(b.TheirTokenAt, b.TheirToken, a.TheirTokenAt, a.TheirToken, bytes.Compare) {
		out.TheirToken, out.TheirTokenAt = b.TheirToken, b.TheirTokenAt
	}
	if later(b.PeerIDAt, b.PeerID, a.PeerIDAt, a.PeerID, cmp.Compare[string]) {
		out.PeerID, out.PeerIDAt = b.PeerID, b.PeerIDAt
	}
	if later(b.GroupAt, b.Group, a.GroupAt, a.Group, cmp.Compare[string]) {
		out.Group, out.GroupAt = b.Group, b.GroupAt
	}
	if later(b.AliasAt, b.Alias, a.AliasAt, a.Alias, cmp.Compare[string]) {
		out.Alias, out.AliasAt = b.Alias, b.AliasAt
	}
	return out
}

func compareRoom(a, b Room) int {
	// A join beats a leave made at the same moment: losing a room is the
	// worse surprise.
	return cmp.Or(cmp.Compare(boolRank(!a.Left), boolRank(!b.Left)), cmp.Compare(a.Password, b.Password))
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MergeRoom merges two versions of one room: the newest join or leave wins.
func MergeRoom(a, b Room) Room {
	if later(b.At, b, a.At, a, compareRoom) {
		return b
	}
	return a
}

// Merge merges states from several devices: every contact and room of
// any of them, each merged field by field (MergeEntry, MergeRoom). An
// entry one side lacks is taken as the other has it: a removal travels as
// a tombstone, never as an absence. The result is sorted by name, so equal
// states have equal encodings (Sum).
func Merge(states ...State) State {
	entries := map[string]Entry{}
	rooms := map[string]Room{}
	for _, s := range states {
		for _, e := range s.Entries {
			if have, ok := entries[e.Username]; ok {
				e = MergeEntry(have, e)
			}
			entries[e.Username] = e
		}
		for _, r := range s.Rooms {
			if have, ok := rooms[r.Name]; ok {
				r = MergeRoom(have, r)
			}
			rooms[r.Name] = r
		}
	}
	var out State
	for _, e := range entries {
		out.Entries = append(out.Entries, e)
	}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, r)
	}
	out.sort()
	return out
}

func (s *State) sort() {
	slices.SortFunc(s.Entries, func(a, b Entry) int { return cmp.Compare(a.Username, b.Username) })
	slices.SortFunc(s.Rooms, func(a, b Room) int { return cmp.Compare(a.Name, b.Name) })
}

// Expire drops the tombstones whose every change is older than
// TombstoneTTL before now.
func (s State) Expire(now time.Time) State {
	cutoff := Stamp(max(now.Add(-TombstoneTTL).UnixMilli(), 0))
	out := State{Entries: make([]Entry, 0, len(s.Entries)), Rooms: make([]Room, 0, len(s.Rooms))}
	for _, e := range s.Entries {
		if e.Live() || e.newest() >= cutoff {
			out.Entries = append(out.Entries, e)
		}
	}
	for _, r := range s.Rooms {
		if !r.Left || r.At >= cutoff {
			out.Rooms = append(out.Rooms, r)
		}
	}
	return out
}

// Newest is the latest change time in s: a device's clock goes past it
// (Clock.Observe) so its next change is newer than any it has seen.
func (s State) Newest() Stamp {
	var n Stamp
	for _, e := range s.Entries {
		n = max(n, e.newest())
	}
	for _, r := range s.Rooms {
		n = max(n, r.At)
	}
	return n
}

// Sum fingerprints s's content, whatever the order of its entries: two
// devices holding equal states have equal sums.
func (s State) Sum() [32]byte {
	c := State{Entries: slices.Clone(s.Entries), Rooms: slices.Clone(s.Rooms)}
	c.sort()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.message())
	if err != nil {
		// Invalid UTF-8 in a name: such a state is never sealed; its
		// sum only needs to differ from any valid state's.
		return sha256.Sum256([]byte(fmt.Sprintf("invalid state: %v", err)))
	}
	return sha256.Sum256(b)
}

// Marshal encodes s as the plaintext of a blob (unpadded): the device's
// own copy of the synced state is kept so (node/contacts).
func (s State) Marshal() ([]byte, error) {
	b, err := proto.Marshal(s.message())
	if err != nil {
		return nil, fmt.Errorf("encoding the synced state: %w", err)
	}
	return b, nil
}

// Unmarshal decodes what Marshal made; ErrMalformed when it does not
// decode or names a contact or a room with no name.
func Unmarshal(b []byte) (State, error) {
	var msg wire.ContactBackup
	if err := proto.Unmarshal(b, &msg); err != nil {
		return State{}, fmt.Errorf("%w: decoding contact list: %v", ErrMalformed, err)
	}
	return fromMessage(&msg)
}

func (s State) message() *wire.ContactBackup {
	msg := &wire.ContactBackup{}
	for _, e := range s.Entries {
		m := &wire.ContactBackupEntry{
			Username: e.Username, Relation: e.Relation, PrevRelation: e.PrevRelation,
			MyToken: e.MyToken, TheirToken: e.TheirToken, PeerId: e.PeerID,
			Group: e.Group, Alias: e.Alias,
			RelationAt: e.RelationAt, MyTokenAt: e.MyTokenAt, TheirTokenAt: e.TheirTokenAt,
			PeerIdAt: e.PeerIDAt, GroupAt: e.GroupAt, AliasAt: e.AliasAt,
		}
		if e.Live() {
			msg.Entries = append(msg.Entries, m)
		} else {
			msg.Removed = append(msg.Removed, m)
		}
	}
	for _, r := range s.Rooms {
		msg.Rooms = append(msg.Rooms, &wire.RoomBackupEntry{Room: r.Name, Password: r.Password, Left: r.Left, At: r.At})
	}
	return msg
}

func fromMessage(msg *wire.ContactBackup) (State, error) {
	s := State{Entries: make([]Entry, 0, len(msg.GetEntries())+len(msg.GetRemoved()))}
	add := func(e *wire.ContactBackupEntry, live bool) error {
		if e.GetUsername() == "" {
			return fmt.Errorf("%w: an entry with no username", ErrMalformed)
		}
		rel := e.GetRelation()
		if live && rel == Removed {
			return fmt.Errorf("%w: contact %q with no relation", ErrMalformed, e.GetUsername())
		}
		if !live {
			rel = Removed
		}
		s.Entries = append(s.Entries, Entry{
			Username: e.GetUsername(), Relation: rel, PrevRelation: e.GetPrevRelation(),
			MyToken: e.GetMyToken(), TheirToken: e.GetTheirToken(), PeerID: e.GetPeerId(),
			Group: e.GetGroup(), Alias: e.GetAlias(),
			RelationAt: e.GetRelationAt(), MyTokenAt: e.GetMyTokenAt(), TheirTokenAt: e.GetTheirTokenAt(),
			PeerIDAt: e.GetPeerIdAt(), GroupAt: e.GetGroupAt(), AliasAt: e.GetAliasAt(),
		})
		return nil
	}
	for _, e := range msg.GetEntries() {
		if err := add(e, true); err != nil {
			return State{}, err
		}
	}
	for _, e := range msg.GetRemoved() {
		if err := add(e, false); err != nil {
			return State{}, err
		}
	}
	for _, r := range msg.GetRooms() {
		if r.GetRoom() == "" {
			return State{}, fmt.Errorf("%w: a room with no name", ErrMalformed)
		}
		s.Rooms = append(s.Rooms, Room{Name: r.GetRoom(), Password: r.GetPassword(), Left: r.GetLeft(), At: r.GetAt()})
	}
	return s, nil
}

// Clock hands out change times: the wall clock in milliseconds, but always
// past every change time seen (Observe), so a change made after seeing
// another device's is newer than it even when this device's clock is
// behind. The zero Clock is ready; it is not safe for concurrent use.
type Clock struct{ last Stamp }

// Next is the time of a change made now.
func (c *Clock) Next(now time.Time) Stamp {
	c.last = max(c.last+1, Stamp(max(now.UnixMilli(), 0)))
	return c.last
}

// Observe moves the clock past t.
func (c *Clock) Observe(t Stamp) { c.last = max(c.last, t) }
