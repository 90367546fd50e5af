package store

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestHistoryEntries: nudges, file transfers and conversation events are
// stored in order with the messages, read back with their kind, found by
// search, and sealed like messages on disk.
func TestHistoryEntries(t *testing.T) {
	s, path := openTemp(t)
	at := time.Unix(1_800_000_000, 0)
	if _, err := s.AddIncoming(Message{ID: "m1", Peer: "bob", Text: "hello there", Time: at}); err != nil {
		t.Fatal(err)
	}
	entries := []Message{
		{ID: "n1", Peer: "bob", Kind: EntryNudge, Time: at.Add(1 * time.Second)},
		{ID: "n2", Peer: "bob", Kind: EntryNudge, Outgoing: true, Time: at.Add(2 * time.Second)},
		{ID: "f1", Peer: "bob", Kind: EntryFile, Text: "Zanzibarholiday.png", Time: at.Add(3 * time.Second),
			File: &FileEntry{Size: 19_456, State: "done"}},
		{ID: "j1", Peer: "#c", Kind: EntryJoined, Text: "carol", Sender: "bob", Time: at.Add(4 * time.Second)},
		{ID: "l1", Peer: "#c", Kind: EntryLeft, Text: "carol", Sender: "carol", Time: at.Add(5 * time.Second)},
		{ID: "c1", Peer: "bob", Kind: EntryCall, Time: at.Add(6 * time.Second), Call: &CallEntry{Reason: "missed"}},
		{ID: "c2", Peer: "bob", Kind: EntryCall, Outgoing: true, Time: at.Add(7 * time.Second), Call: &CallEntry{Reason: "hung up", Duration: 182}},
	}
	for _, m := range entries {
		if ok, err := s.AddEntry(m); err != nil || !ok {
			t.Fatalf("AddEntry %s: %v, %v", m.ID, ok, err)
		}
	}
	// A second copy (the same event by another path) changes nothing.
	if ok, err := s.AddEntry(entries[0]); err != nil || ok {
		t.Fatalf("duplicate entry: %v, %v", ok, err)
	}
	for _, kind := range []string{EntryMessage, "shout"} {
		if _, err := s.AddEntry(Message{ID: "x", Peer: "bob", Kind: kind}); err == nil {
			t.Errorf("AddEntry of kind %q accepted", kind)
		}
	}

	h, err := s.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := msgIDs(h); !slices.Equal(got, []string{"m1", "n1", "n2", "f1", "c1", "c2"}) {
		t.Fatalf("history with bob = %v", got)
	}
	want := []Message{
		{ID: "n1", Peer: "bob", Kind: EntryNudge, State: StateReceived, Time: at.Add(1 * time.Second)},
		{ID: "n2", Peer: "bob", Kind: EntryNudge, Outgoing: true, State: StateDelivered, Time: at.Add(2 * time.Second)},
		{ID: "f1", Peer: "bob", Kind: EntryFile, Text: "Zanzibarholiday.png", State: StateReceived,
			Time: at.Add(3 * time.Second), File: &FileEntry{Size: 19_456, State: "done"}},
		{ID: "c1", Peer: "bob", Kind: EntryCall, State: StateReceived, Time: at.Add(6 * time.Second), Call: &CallEntry{Reason: "missed"}},
		{ID: "c2", Peer: "bob", Kind: EntryCall, Outgoing: true, State: StateDelivered, Time: at.Add(7 * time.Second),
			Call: &CallEntry{Reason: "hung up", Duration: 182}},
	}
	for i, w := range want {
		if got := h[i+1]; !reflect.DeepEqual(got, w) || !got.Time.Equal(w.Time) {
			t.Errorf("entry %s = %+v, want %+v", w.ID, got, w)
		}
	}
	if h[0].Kind != EntryMessage || h[0].File != nil {
		t.Errorf("a message reads back as %+v", h[0])
	}
	conv, err := s.History("#c", 0, "")
	if err != nil || len(conv) != 2 || conv[0].Kind != EntryJoined || conv[0].Sender != "bob" || conv[1].Kind != EntryLeft {
		t.Fatalf("conversation entries = %+v, %v", conv, err)
	}

	for _, tc := range []struct {
		query, snippet string
		ids            []string
	}{
		{"nudge", "nudge", []string{"n2", "n1"}},
		{"zanzibar", "Zanzibarholiday.png", []string{"f1"}},
		{"carol joined", "carol joined", []string{"j1"}},
		{"carol", "", []string{"l1", "j1"}},
		{"hello", "hello there", []string{"m1"}},
		{"missed", "call missed", []string{"c1"}},
	} {
		hs, err := s.Search(context.Background(), SearchQuery{Text: tc.query})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(hs); !slices.Equal(got, tc.ids) {
			t.Errorf("search %q = %v, want %v", tc.query, got, tc.ids)
			continue
		}
		if tc.snippet != "" && hs[0].Snippet != tc.snippet {
			t.Errorf("search %q: snippet %q, want %q", tc.query, hs[0].Snippet, tc.snippet)
		}
		if hs[0].Kind != s.mustKind(t, tc.ids[0]) {
			t.Errorf("search %q: hit of kind %q", tc.query, hs[0].Kind)
		}
	}
	if hs, _ := s.Search(context.Background(), SearchQuery{Text: "zanzibar"}); len(hs) == 1 &&
		(hs[0].File == nil || hs[0].File.Size != 19_456) {
		t.Errorf("file hit without its size: %+v", hs[0])
	}

	// The file name and the member are sealed on disk as message words are.
	assertNoPlaintext(t, path, []string{"Zanzibarholiday", "zanzibarholiday"})

	// The kind is bound to the seal: a nudge cannot be made a file.
	if _, err := s.db.Exec(`UPDATE messages SET kind = 'file' WHERE id = 'n1'`); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Message("n1"); err == nil {
		t.Fatalf("an entry whose kind was changed read as %+v", m)
	}
}

func (s *Store) mustKind(t *testing.T, id string) string {
	t.Helper()
	var kind string
	if err := s.db.QueryRow(`SELECT kind FROM messages WHERE id = ?`, id).Scan(&kind); err != nil {
		t.Fatal(err)
	}
	return kind
}
