package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// handoverHistory stores a history over three conversations, a third of
// it older than cut, and returns the entries at or after cut in the order
// they were stored.
func handoverHistory(t *testing.T, s *Store, cut time.Time) []Message {
	t.Helper()
	var want []Message
	for i := range 30 {
		m := Message{ID: fmt.Sprintf("m%02d", i), Peer: []string{"bob", "carol", "#conv"}[i%3], Text: fmt.Sprintf("text %d", i),
			Time: cut.Add(time.Duration(i-10) * time.Hour), State: StateReceived}
		switch {
		case i%4 == 0:
			m.Outgoing, m.State = true, StateDelivered
		case i%3 == 2:
			m.Sender = "dave"
		default:
			m.Device, m.Order = "device-"+m.Peer, uint64(i+1)
		}
		if i == 17 {
			m.Kind, m.Text, m.File = EntryFile, "photo.png", &FileEntry{Size: 1234, State: "done"}
		}
		if _, err := s.AddIncoming(m); err != nil {
			t.Fatal(err)
		}
		if !m.Time.Before(cut) {
			want = append(want, m)
		}
	}
	return want
}

// TestHistoryPage: paging through the history since a time yields every
// entry at or after it, once, in the order stored, with its fields —
// whatever the page size.
func TestHistoryPage(t *testing.T) {
	cut := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	s := unlocked(t)
	want := handoverHistory(t, s, cut)
	if n, err := s.CountSince(cut); err != nil || n != len(want) {
		t.Fatalf("CountSince = %d, %v; want %d", n, err, len(want))
	}
	for _, tc := range []struct {
		name  string
		limit int
	}{{"one at a time", 1}, {"pages of 7", 7}, {"exactly all", 20}, {"more than all", 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Message
			cursor, pages := int64(0), 0
			for {
				ms, next, err := s.HistoryPage(cut, cursor, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(ms) > tc.limit {
					t.Fatalf("page of %d, limit %d", len(ms), tc.limit)
				}
				got = append(got, ms...)
				pages++
				if len(ms) < tc.limit {
					break
				}
				if next <= cursor {
					t.Fatalf("cursor went from %d to %d", cursor, next)
				}
				cursor = next
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(comparable(got[i]), comparable(want[i])) {
					t.Fatalf("entry %d: %+v, want %+v", i, got[i], want[i])
				}
			}
			if wantPages := len(want)/tc.limit + 1; pages != wantPages {
				t.Fatalf("%d pages, want %d", pages, wantPages)
			}
		})
	}
}

// comparable is m with its time in UTC, as the store gives it back.
func comparable(m Message) Message {
	m.Time = m.Time.UTC()
	return m
}

// TestHistoryPageBadInput: a page of no entries is an error, not an
// endless loop; a locked store reads nothing.
func TestHistoryPageBadInput(t *testing.T) {
	s := unlocked(t)
	if _, _, err := s.HistoryPage(time.Time{}, 0, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
	l, _ := openLocked(t)
	if _, _, err := l.HistoryPage(time.Time{}, 0, 10); err == nil {
		t.Fatal("a locked store gave its history")
	}
}

// TestHandoverRoundTrip: pages stored at another store as batches give
// each conversation the same history there, and storing them again (a
// repeated or interrupted hand-over) adds nothing.
func TestHandoverRoundTrip(t *testing.T) {
	cut := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	from, to := unlocked(t), unlocked(t)
	want := handoverHistory(t, from, cut)
	if has, err := to.HasHistory(); err != nil || has {
		t.Fatalf("a new store has history: %v, %v", has, err)
	}
	for round := range 2 {
		added := 0
		for cursor := int64(0); ; {
			ms, next, err := from.HistoryPage(cut, cursor, 8)
			if err != nil {
				t.Fatal(err)
			}
			ins, err := to.AddIncomingBatch(ms)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range ins {
				if in {
					added++
				}
			}
			if len(ms) < 8 {
				break
			}
			cursor = next
		}
		if wantAdded := []int{len(want), 0}[round]; added != wantAdded {
			t.Fatalf("round %d added %d, want %d", round, added, wantAdded)
		}
	}
	if has, err := to.HasHistory(); err != nil || !has {
		t.Fatalf("HasHistory after the hand-over: %v, %v", has, err)
	}
	for _, peer := range []string{"bob", "carol", "#conv"} {
		var exp []Message
		for _, m := range want {
			if m.Peer == peer {
				m.Device, m.Order = "", 0 // History does not read them back
				exp = append(exp, comparable(m))
			}
		}
		got, err := to.History(peer, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i] = comparable(got[i])
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("history with %s:\n got %+v\nwant %+v", peer, got, exp)
		}
	}
}
