package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func outboxIDs(t *testing.T, s *Store, peer string) []string {
	t.Helper()
	es, err := s.Outbox(peer)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestGroupCommit: ops submitted before a commit go in it, in order; one
// Pending's failure fails only its own ops; an op's results are set only
// once committed.
func TestGroupCommit(t *testing.T) {
	cases := []struct {
		name     string
		ids      [][]string // entries per Pending
		wantErr  []bool
		wantLeft []string
	}{
		{"together", [][]string{{"a"}, {"b", "c"}, {"d"}}, []bool{false, false, false}, []string{"a", "b", "c", "d"}},
		{"a duplicate fails its own", [][]string{{"a"}, {"b", "a"}, {"c"}}, []bool{false, true, false}, []string{"a", "c"}},
		{"alone", [][]string{{"a"}}, []bool{false}, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := openTemp(t)
			var pends []*Pending
			var entries [][]*OutboxEntry
			for _, ids := range c.ids {
				var ops []Op
				var es []*OutboxEntry
				for _, id := range ids {
					e := &OutboxEntry{ID: id, Peer: "bob", Payload: []byte(id)}
					op, err := s.EnqueueOp(&Message{ID: id, Peer: "bob", Text: "text " + id}, e)
					if err != nil {
						t.Fatal(err)
					}
					ops, es = append(ops, op), append(es, e)
				}
				pends, entries = append(pends, s.Submit(ops...)), append(entries, es)
			}
			// One Wait commits everything queued; the others find it done.
			for i := len(pends) - 1; i >= 0; i-- {
				if err := pends[i].Wait(); (err != nil) != c.wantErr[i] {
					t.Fatalf("pending %d: %v, want error %v", i, err, c.wantErr[i])
				}
			}
			if got := outboxIDs(t, s, "bob"); !slices.Equal(got, c.wantLeft) {
				t.Fatalf("outbox %v, want %v", got, c.wantLeft)
			}
			var last int64
			for i, es := range entries {
				for _, e := range es {
					if c.wantErr[i] {
						continue
					}
					if e.Seq <= last {
						t.Fatalf("entry %s: seq %d after %d: order not kept", e.ID, e.Seq, last)
					}
					last = e.Seq
					if m, err := s.Message(e.ID); err != nil || m.State != StateQueued || !m.Outgoing {
						t.Fatalf("message %s: %+v, %v", e.ID, m, err)
					}
				}
			}
		})
	}
}

// TestGroupCommitConcurrent: many writers at once all get their entries
// stored, in fewer commits than writers (checked by the race detector and
// the outbox, not the clock).
func TestGroupCommitConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: id}, OutboxEntry{ID: id, Peer: "bob", Payload: []byte(id)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := len(outboxIDs(t, s, "bob")); got != writers*each {
		t.Fatalf("%d entries, want %d", got, writers*each)
	}
}

// TestSessionOpLastWins: of several writes of one session in a commit the
// last is stored; a new session is added beside the others.
func TestSessionOpLastWins(t *testing.T) {
	s, _ := openTemp(t)
	var ops []Op
	for i, state := range []string{"s1", "s2", "s3"} {
		op, err := s.SessionOp(Session{PeerID: "dev", ID: []byte("x"), State: []byte(state), Used: time.Unix(int64(i+1), 0)})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	other, err := s.SessionOp(Session{PeerID: "dev", ID: []byte("y"), State: []byte("y1"), Used: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(append(ops, other)...); err != nil {
		t.Fatal(err)
	}
	ss, err := s.Sessions("dev")
	if err != nil || len(ss) != 2 || string(ss[0].State) != "s3" || string(ss[1].State) != "y1" {
		t.Fatalf("sessions %+v (%v)", ss, err)
	}
	if err := s.Commit(s.DeleteSessionsOp("dev")); err != nil {
		t.Fatal(err)
	}
	if ss, err := s.Sessions("dev"); err != nil || len(ss) != 0 {
		t.Fatalf("sessions after delete: %+v (%v)", ss, err)
	}
}

// TestAcknowledgeOpAndOutboxAfter: acknowledged entries leave the outbox
// and their messages show delivered; one already gone is reported not
// found; the outbox reads a window at a time.
func TestAcknowledgeOpAndOutboxAfter(t *testing.T) {
	s, _ := openTemp(t)
	var seqs []int64
	for _, id := range []string{"a", "b", "c", "d"} {
		e, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: id}, OutboxEntry{ID: id, Peer: "bob", Payload: []byte(id)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	win, err := s.OutboxAfter("bob", seqs[0], 2)
	if err != nil || len(win) != 2 || win[0].ID != "b" || win[1].ID != "c" {
		t.Fatalf("window after a: %+v (%v)", win, err)
	}
	found := make([]bool, 3)
	if err := s.Commit(s.AcknowledgeOp([]string{"a", "zz", "c"}, found)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found, []bool{true, false, true}) {
		t.Fatalf("found %v", found)
	}
	if got := outboxIDs(t, s, "bob"); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("outbox %v", got)
	}
	if m, _ := s.Message("c"); m.State != StateDelivered {
		t.Fatalf("message c: %+v", m)
	}
	if err := s.Unseal([]string{"b"}); err != nil {
		t.Fatal(err)
	}
}

// TestIncomingOp: received messages are de-duplicated on (peer, ID), also
// against what is stored, and reported.
func TestIncomingOp(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.AddIncoming(Message{ID: "m1", Peer: "alice", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	ms := []Message{{ID: "m1", Peer: "alice", Text: "one"}, {ID: "m2", Peer: "alice", Text: "two"}, {ID: "m2", Peer: "alice", Text: "two"}}
	inserted := make([]bool, len(ms))
	op, err := s.IncomingOp(ms, inserted)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(op); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inserted, []bool{false, true, false}) {
		t.Fatalf("inserted %v", inserted)
	}
	if _, err := s.IncomingOp([]Message{{ID: "", Peer: "alice"}}, make([]bool, 1)); err == nil {
		t.Fatal("a message with no ID was accepted")
	}
}

// TestHistoryReadsQueuedWrites: an acknowledgement submitted and not yet
// committed (its record waits for the next write) shows in the history
// read after it: the front ends, told the message is delivered, read it
// delivered.
func TestHistoryReadsQueuedWrites(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.Enqueue(&Message{ID: "m", Peer: "bob", Text: "hi"}, OutboxEntry{ID: "m", Peer: "bob", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	found := make([]bool, 1)
	p := s.Submit(s.AcknowledgeOp([]string{"m"}, found))
	h, err := s.History("bob", 0, "")
	if err != nil || len(h) != 1 || h[0].State != StateDelivered {
		t.Fatalf("history %+v (%v), want m delivered", h, err)
	}
	if err := p.Wait(); err != nil || !found[0] {
		t.Fatalf("the acknowledgement: %v, found %v", err, found[0])
	}
}
