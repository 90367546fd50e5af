package backup

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// TestMerge holds the merge rules: each case is what two devices hold for
// one contact, and what both must hold once they merged each other's
// state — in either order.
func TestMerge(t *testing.T) {
	tok := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	tests := []struct {
		name        string
		laptop      Entry
		desktop     Entry
		want        Entry
		wantRemoved bool
	}{
		{
			name:    "concurrent edits of different fields keep both",
			laptop:  Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Alias: "Bobby", AliasAt: 20},
			desktop: Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Group: "Work", GroupAt: 21},
			want:    Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Alias: "Bobby", AliasAt: 20, Group: "Work", GroupAt: 21},
		},
		{
			name:    "concurrent renames: the newest wins",
			laptop:  Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Alias: "Bobby", AliasAt: 30, Group: "Friends", GroupAt: 31},
			desktop: Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Alias: "Robert", AliasAt: 29, Group: "Family", GroupAt: 40},
			want:    Entry{Username: "bob", Relation: "accepted", RelationAt: 10, Alias: "Bobby", AliasAt: 30, Group: "Family", GroupAt: 40},
		},
		{
			name:    "a block on one device applies on the other",
			laptop:  Entry{Username: "carol", Relation: "accepted", RelationAt: 10},
			desktop: Entry{Username: "carol", Relation: "blocked", PrevRelation: "accepted", RelationAt: 50},
			want:    Entry{Username: "carol", Relation: "blocked", PrevRelation: "accepted", RelationAt: 50},
		},
		{
			name:    "an unblock after the block applies too",
			laptop:  Entry{Username: "carol", Relation: "blocked", PrevRelation: "accepted", RelationAt: 50},
			desktop: Entry{Username: "carol", Relation: "accepted", RelationAt: 60},
			want:    Entry{Username: "carol", Relation: "accepted", RelationAt: 60},
		},
		{
			name:        "a removed contact stays removed",
			laptop:      Entry{Username: "dave", Relation: "accepted", RelationAt: 10, Group: "Work", GroupAt: 12},
			desktop:     Entry{Username: "dave", Relation: Removed, RelationAt: 70, GroupAt: 70, AliasAt: 70, MyTokenAt: 70, TheirTokenAt: 70, PeerIDAt: 70},
			want:        Entry{Username: "dave", Relation: Removed, RelationAt: 70, GroupAt: 70, AliasAt: 70, MyTokenAt: 70, TheirTokenAt: 70, PeerIDAt: 70},
			wantRemoved: true,
		},
		{
			name:    "a re-add after the removal wins over the tombstone",
			laptop:  Entry{Username: "dave", Relation: Removed, RelationAt: 70, GroupAt: 70, MyTokenAt: 70},
			desktop: Entry{Username: "dave", Relation: "pending-out", RelationAt: 80, MyToken: tok(9), MyTokenAt: 80},
			want:    Entry{Username: "dave", Relation: "pending-out", RelationAt: 80, MyToken: tok(9), MyTokenAt: 80, GroupAt: 70},
		},
		{
			name:    "a relation from the network is not reverted by an older list",
			laptop:  Entry{Username: "erin", Relation: "accepted", RelationAt: 90, TheirToken: tok(2), TheirTokenAt: 90},
			desktop: Entry{Username: "erin", Relation: "pending-out", RelationAt: 40, MyToken: tok(1), MyTokenAt: 40},
			want:    Entry{Username: "erin", Relation: "accepted", RelationAt: 90, TheirToken: tok(2), TheirTokenAt: 90, MyToken: tok(1), MyTokenAt: 40},
		},
		{
			name:    "an old-format entry (no times) loses to any change",
			laptop:  Entry{Username: "frank", Relation: "accepted", Group: "Old", Alias: "F"},
			desktop: Entry{Username: "frank", Relation: "accepted", RelationAt: 5, Group: "New", GroupAt: 5},
			want:    Entry{Username: "frank", Relation: "accepted", RelationAt: 5, Group: "New", GroupAt: 5, Alias: "F"},
		},
		{
			name:    "two old-format entries agree whichever merges",
			laptop:  Entry{Username: "gina", Relation: "accepted", Group: "A"},
			desktop: Entry{Username: "gina", Relation: "pending-out", Group: "B"},
			want:    Entry{Username: "gina", Relation: "accepted", Group: "B"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := State{Entries: []Entry{tc.laptop}}, State{Entries: []Entry{tc.desktop}}
			for _, got := range []State{Merge(a, b), Merge(b, a), Merge(Merge(a, b), a), Merge(b, Merge(a, b))} {
				if len(got.Entries) != 1 || !reflect.DeepEqual(got.Entries[0], tc.want) {
					t.Fatalf("merged %+v\nwant %+v", got.Entries, tc.want)
				}
				if got.Entries[0].Live() == tc.wantRemoved {
					t.Fatalf("live %v, want removed %v", got.Entries[0].Live(), tc.wantRemoved)
				}
			}
		})
	}
}

// TestMergeRooms: joining or leaving a room on one device joins or leaves
// it on the others; the newest wins.
func TestMergeRooms(t *testing.T) {
	tests := []struct {
		name            string
		laptop, desktop []Room
		want            []Room
	}{
		{name: "a room joined on one device", laptop: []Room{{Name: "#go", At: 5}}, want: []Room{{Name: "#go", At: 5}}},
		{name: "left after the join", laptop: []Room{{Name: "#go", At: 5}}, desktop: []Room{{Name: "#go", Left: true, At: 9}},
			want: []Room{{Name: "#go", Left: true, At: 9}}},
		{name: "rejoined with a key after leaving", laptop: []Room{{Name: "#go", Password: "k", At: 12}}, desktop: []Room{{Name: "#go", Left: true, At: 9}},
			want: []Room{{Name: "#go", Password: "k", At: 12}}},
		{name: "a join and a leave at one moment: the join", laptop: []Room{{Name: "#go", At: 9}}, desktop: []Room{{Name: "#go", Left: true, At: 9}},
			want: []Room{{Name: "#go", At: 9}}},
		{name: "different rooms", laptop: []Room{{Name: "#b", At: 1}}, desktop: []Room{{Name: "#a", At: 2}},
			want: []Room{{Name: "#a", At: 2}, {Name: "#b", At: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := State{Rooms: tc.laptop}, State{Rooms: tc.desktop}
			for _, got := range []State{Merge(a, b), Merge(b, a)} {
				if !reflect.DeepEqual(got.Rooms, tc.want) {
					t.Fatalf("merged %+v, want %+v", got.Rooms, tc.want)
				}
			}
		})
	}
}

// TestExpire: tombstones go after TombstoneTTL, live entries and rooms
// joined never.
func TestExpire(t *testing.T) {
	now := time.UnixMilli(1 << 41)
	old := Stamp(now.Add(-TombstoneTTL - time.Hour).UnixMilli())
	recent := Stamp(now.Add(-time.Hour).UnixMilli())
	s := State{
		Entries: []Entry{
			{Username: "gone", RelationAt: old},
			{Username: "lately", RelationAt: recent},
			{Username: "kept", Relation: "accepted", RelationAt: old},
			{Username: "renamed-since", RelationAt: old, AliasAt: recent},
		},
		Rooms: []Room{{Name: "#left", Left: true, At: old}, {Name: "#in", At: old}, {Name: "#left-lately", Left: true, At: recent}},
	}
	got := s.Expire(now)
	var names []string
	for _, e := range got.Entries {
		names = append(names, e.Username)
	}
	for _, r := range got.Rooms {
		names = append(names, r.Name)
	}
	want := []string{"lately", "kept", "renamed-since", "#in", "#left-lately"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("kept %v, want %v", names, want)
	}
}

// TestOldFormatBlob: a blob sealed before change times, tombstones and rooms
// existed (only the entries' first seven fields) opens, and merges as
// older than any change.
func TestOldFormatBlob(t *testing.T) {
	key := testKey(t, 1)
	old := &wire.ContactBackup{Entries: []*wire.ContactBackupEntry{
		{Username: "bob", Relation: "accepted", Group: "Work", Alias: "B"},
		{Username: "carol", Relation: "blocked"},
	}}
	plain, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	padded := pad(plain)
	blob := make([]byte, headerSize, headerSize+len(padded)+16)
	blob[0] = format
	blob[8] = 3 // version 3
	aead, _ := newAEAD(key)
	blob = aead.Seal(blob, blob[9:headerSize], padded, associatedData(blob[:9], "alice"))

	v, st, err := Open(key, "alice", blob)
	if err != nil || v != 3 || len(st.Entries) != 2 || st.Entries[0].RelationAt != 0 || len(st.Rooms) != 0 {
		t.Fatalf("old blob: version %d, %+v, %v", v, st, err)
	}
	mine := State{Entries: []Entry{{Username: "bob", Relation: "accepted", RelationAt: 1, Alias: "Bobby", AliasAt: 2}}}
	got := Merge(mine, st)
	want := []Entry{
		{Username: "bob", Relation: "accepted", RelationAt: 1, Alias: "Bobby", AliasAt: 2, Group: "Work"},
		{Username: "carol", Relation: "blocked"},
	}
	if !reflect.DeepEqual(got.Entries, want) {
		t.Fatalf("merged %+v\nwant %+v", got.Entries, want)
	}
}

// TestStateRoundTrip: tombstones and rooms survive sealing and opening,
// and Sum does not depend on order.
func TestStateRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	s := State{
		Entries: []Entry{
			{Username: "bob", Relation: "blocked", PrevRelation: "accepted", RelationAt: 7, Group: "W", GroupAt: 3, AliasAt: 4},
			{Username: "dave", RelationAt: 9, GroupAt: 9},
		},
		Rooms: []Room{{Name: "#go", Password: "k", At: 5}, {Name: "#rust", Left: true, At: 6}},
	}
	blob, err := Seal(key, "alice", 1, s)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := Open(key, "alice", blob)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, s)
	}
	swapped := State{Entries: []Entry{s.Entries[1], s.Entries[0]}, Rooms: []Room{s.Rooms[1], s.Rooms[0]}}
	if s.Sum() != swapped.Sum() {
		t.Fatal("Sum depends on order")
	}
	changed := Merge(s, State{Rooms: []Room{{Name: "#go", Left: true, At: 8}}})
	if s.Sum() == changed.Sum() {
		t.Fatal("Sum misses a change")
	}
	for _, bad := range []*wire.ContactBackup{
		{Entries: []*wire.ContactBackupEntry{{Relation: "accepted"}}},
		{Entries: []*wire.ContactBackupEntry{{Username: "bob"}}},
		{Removed: []*wire.ContactBackupEntry{{Relation: "accepted"}}},
		{Rooms: []*wire.RoomBackupEntry{{At: 3}}},
	} {
		b, _ := proto.Marshal(bad)
		if _, err := Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v: %v, want ErrMalformed", bad, err)
		}
	}
}

// TestClock: change times never go back, and pass what was seen.
func TestClock(t *testing.T) {
	var c Clock
	now := time.UnixMilli(1000)
	if a, b := c.Next(now), c.Next(now); a != 1000 || b != 1001 {
		t.Fatalf("%d, %d", a, b)
	}
	c.Observe(5000) // another device's clock is ahead
	if n := c.Next(now); n != 5001 {
		t.Fatalf("after seeing 5000: %d", n)
	}
	if n := c.Next(time.UnixMilli(9000)); n != 9000 {
		t.Fatalf("the wall clock ahead: %d", n)
	}
}

// FuzzUnmarshal: whatever the bytes, the synced state's decoder either
// refuses them with ErrMalformed or returns a state that encodes and
// decodes to itself and merges with itself unchanged.
func FuzzUnmarshal(f *testing.F) {
	seed, _ := State{
		Entries: []Entry{{Username: "bob", Relation: "accepted", RelationAt: 7, Group: "W", GroupAt: 3}, {Username: "dave", RelationAt: 9}},
		Rooms:   []Room{{Name: "#go", Password: "k", At: 5}},
	}.Marshal()
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b, err := s.Marshal()
		if err != nil {
			return // invalid UTF-8 that proto.Unmarshal let through
		}
		again, err := Unmarshal(b)
		if err != nil || again.Sum() != s.Sum() {
			t.Fatalf("re-encoded state differs: %v", err)
		}
		m := Merge(s)
		if Merge(m, m).Sum() != m.Sum() {
			t.Fatal("merge is not idempotent")
		}
	})
}
