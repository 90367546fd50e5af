package store

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestReadMarks: a conversation's unread count is its incoming messages
// (not our own, not nudges or joins) after its read mark; marks only move
// forward; the same millisecond is ordered by ID; a mark may come before
// the messages it covers (from another device), and conversations are
// counted apart.
func TestReadMarks(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	ms := func(d time.Duration) int64 { return at.Add(d).UnixMilli() }
	type step struct {
		name    string
		add     []Message // stored first
		advance *ReadMark // then the mark moved to this, if set
		newest  bool      // or to NewestIncoming
		moved   bool      // whether the mark moved
		want    map[string]int
		mark    *ReadMark // the mark of bob afterwards, if set
	}
	steps := []step{
		{name: "nothing read: every incoming message counts",
			add: []Message{
				{ID: "b1", Peer: "bob", Text: "one", Time: at},
				{ID: "b2", Peer: "bob", Text: "two", Time: at.Add(time.Second)},
				{ID: "o1", Peer: "bob", Text: "ours", Outgoing: true, Time: at.Add(2 * time.Second), State: StateDelivered},
				{ID: "n1", Peer: "bob", Kind: EntryNudge, Time: at.Add(3 * time.Second)},
				{ID: "c1", Peer: "#c", Sender: "carol", Text: "hi all", Time: at},
				{ID: "j1", Peer: "#c", Sender: "carol", Kind: EntryJoined, Text: "dave", Time: at},
			},
			want: map[string]int{"bob": 2, "#c": 1, "nobody": 0}},
		{name: "read up to the newest", newest: true, moved: true,
			want: map[string]int{"bob": 0, "#c": 1},
			mark: &ReadMark{Conversation: "bob", UpTo: ms(time.Second), LastID: "b2"}},
		{name: "reading again moves nothing", newest: true, moved: false,
			want: map[string]int{"bob": 0}},
		{name: "a message after the mark is unread",
			add:  []Message{{ID: "b3", Peer: "bob", Text: "three", Time: at.Add(4 * time.Second)}},
			want: map[string]int{"bob": 1}},
		{name: "an older mark changes nothing",
			advance: &ReadMark{Conversation: "bob", UpTo: ms(0), LastID: "b1"}, moved: false,
			want: map[string]int{"bob": 1},
			mark: &ReadMark{Conversation: "bob", UpTo: ms(time.Second), LastID: "b2"}},
		{name: "the same millisecond: a greater ID is after the mark",
			add: []Message{
				{ID: "a5", Peer: "bob", Text: "same ms, smaller id", Time: at.Add(5 * time.Second)},
				{ID: "z5", Peer: "bob", Text: "same ms, greater id", Time: at.Add(5*time.Second + 300*time.Microsecond)},
			},
			advance: &ReadMark{Conversation: "bob", UpTo: ms(5 * time.Second), LastID: "a5"}, moved: true,
			want: map[string]int{"bob": 1}},
		{name: "newest within a millisecond is the greatest ID", newest: true, moved: true,
			want: map[string]int{"bob": 0},
			mark: &ReadMark{Conversation: "bob", UpTo: ms(5 * time.Second), LastID: "z5"}},
		{name: "a mark before its messages (from another device) covers them when they come",
			advance: &ReadMark{Conversation: "erin", UpTo: ms(time.Minute), LastID: "e2"}, moved: true,
			want: map[string]int{"erin": 0}},
		{name: "then the messages it covers arrive, and one after it",
			add: []Message{
				{ID: "e1", Peer: "erin", Text: "read elsewhere", Time: at},
				{ID: "e2", Peer: "erin", Text: "read elsewhere too", Time: at.Add(time.Minute)},
				{ID: "e3", Peer: "erin", Text: "new", Time: at.Add(2 * time.Minute)},
			},
			want: map[string]int{"erin": 1, "bob": 0, "#c": 1}},
	}
	s, _ := openTemp(t)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			for _, m := range st.add {
				if m.Kind != EntryMessage {
					if _, err := s.AddEntry(m); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if m.Outgoing {
					if _, err := s.Enqueue(&m, OutboxEntry{ID: m.ID, Peer: m.Peer}); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if _, err := s.AddIncoming(m); err != nil {
					t.Fatal(err)
				}
			}
			var m ReadMark
			switch {
			case st.newest:
				var ok bool
				var err error
				if m, ok, err = s.NewestIncoming("bob"); err != nil || !ok {
					t.Fatalf("NewestIncoming = %v, %v, %v", m, ok, err)
				}
			case st.advance != nil:
				m = *st.advance
			}
			if m.Conversation != "" {
				moved, err := s.AdvanceReadMark(m)
				if err != nil || moved != st.moved {
					t.Fatalf("AdvanceReadMark(%+v) = %v, %v; want moved %v", m, moved, err, st.moved)
				}
			}
			for conv, want := range st.want {
				if got, err := s.Unread(conv); err != nil || got != want {
					t.Errorf("Unread(%s) = %d, %v; want %d", conv, got, err, want)
				}
			}
			if st.mark != nil {
				if got, ok, err := s.ReadMark("bob"); err != nil || !ok || got != *st.mark {
					t.Errorf("ReadMark(bob) = %+v, %v, %v; want %+v", got, ok, err, *st.mark)
				}
			}
		})
	}
	if _, err := s.AdvanceReadMark(ReadMark{UpTo: 1, LastID: "x"}); err == nil {
		t.Error("a mark without a conversation was stored")
	}
	if m, ok, err := s.NewestIncoming("nobody"); err != nil || ok {
		t.Errorf("NewestIncoming(nobody) = %+v, %v, %v; want none", m, ok, err)
	}
}

// TestReadMarksMigration: messages stored before unread marks existed
// count as read after the upgrade (025 marks each conversation read up to
// its newest incoming message); what arrives after counts as unread.
func TestReadMarksMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(all, func(m migration) bool { return m.name == "025_read_marks.sql" })
	if before < 0 {
		t.Fatal("no migration 025_read_marks.sql")
	}
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := setup(db, all, all[before-1].version); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_800_000_000_000)
	for _, m := range []struct {
		id, peer string
		outgoing bool
		kind     string
		at       time.Time
	}{
		{"b1", "bob", false, "", at},
		{"b2", "bob", false, "", at.Add(time.Second)},
		{"b3", "bob", false, "", at.Add(time.Second + time.Microsecond)}, // same millisecond, greater ID
		{"o1", "bob", true, "", at.Add(time.Hour)},                       // ours: not what the mark names
		{"n1", "bob", false, EntryNudge, at.Add(time.Hour)},
		{"c1", "#c", false, "", at},
	} {
		if _, err := db.Exec(`INSERT INTO messages (id, peer, outgoing, text, time, state, kind) VALUES (?, ?, ?, '', ?, 'received', ?)`,
			m.id, m.peer, m.outgoing, nanos(m.at), m.kind); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	want := map[string]ReadMark{
		"bob": {Conversation: "bob", UpTo: at.Add(time.Second).UnixMilli(), LastID: "b3"},
		"#c":  {Conversation: "#c", UpTo: at.UnixMilli(), LastID: "c1"},
	}
	for conv, w := range want {
		if got, ok, err := s.ReadMark(conv); err != nil || !ok || got != w {
			t.Errorf("ReadMark(%s) = %+v, %v, %v; want %+v", conv, got, ok, err, w)
		}
		if n, err := s.Unread(conv); err != nil || n != 0 {
			t.Errorf("Unread(%s) after the upgrade = %d, %v; want 0", conv, n, err)
		}
	}
	if _, err := s.AddIncoming(Message{ID: "b4", Peer: "bob", Text: "new", Time: at.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Unread("bob"); err != nil || n != 1 {
		t.Errorf("Unread(bob) after a new message = %d, %v; want 1", n, err)
	}
}
