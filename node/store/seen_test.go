package store

import (
	"testing"
	"time"
)

// TestSeen: an item marked seen is seen in its scope only, keeps its first
// time when marked again, and is forgotten once older than the cut-off.
func TestSeen(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Unix(1_000_000, 0)
	if err := s.MarkSeen(ScopeMail, []string{"alice/1", "alice/2"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSeen("#conv", []string{"alice/3"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Marked again later: the first time stays, so it is forgotten on time.
	if err := s.MarkSeen(ScopeMail, []string{"alice/1"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope, id string
		want      bool
	}{
		{ScopeMail, "alice/1", true},
		{ScopeMail, "alice/2", true},
		{ScopeMail, "alice/3", false},
		{"#conv", "alice/3", true},
		{"#conv", "alice/1", false},
	} {
		if got, err := s.Seen(tc.scope, tc.id); err != nil || got != tc.want {
			t.Errorf("Seen(%s, %s) = %v, %v; want %v", tc.scope, tc.id, got, err, tc.want)
		}
	}
	n, err := s.ForgetSeen(t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("ForgetSeen = %d, %v; want the two mail items", n, err)
	}
	if seen, _ := s.Seen(ScopeMail, "alice/1"); seen {
		t.Fatal("a forgotten item is still seen")
	}
	if seen, _ := s.Seen("#conv", "alice/3"); !seen {
		t.Fatal("a younger item was forgotten")
	}
}

// TestConversationChangedAndSessionless: a conversation's membership
// change times and an outbox entry's sessionless flag survive the store.
func TestConversationChangedAndSessionless(t *testing.T) {
	s, _ := openTemp(t)
	at := time.UnixMilli(1_700_000_000_123)
	c := Conversation{ID: "#c", Members: []string{"alice", "bob"}, Departed: []string{"carol"}, Created: at,
		Changed: map[string]time.Time{"carol": at, "bob": at.Add(-time.Second)}}
	if err := s.PutConversation(c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Conversation("#c")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Changed) != 2 || !got.Changed["carol"].Equal(at) || !got.Changed["bob"].Equal(at.Add(-time.Second)) {
		t.Fatalf("changed = %v", got.Changed)
	}
	for _, e := range []OutboxEntry{{ID: "a", Peer: "bob"}, {ID: "b", Peer: "bob", Sessionless: true}} {
		if _, err := s.Enqueue(nil, e); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Outbox("bob")
	if err != nil || len(out) != 2 || out[0].Sessionless || !out[1].Sessionless {
		t.Fatalf("outbox %+v (%v)", out, err)
	}
}
