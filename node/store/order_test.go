package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAuthorOrder: an incoming message that arrives after a later one of
// the same device is shown before it; everything else where it arrived.
// Each arrival is "id:device:order" (order 0: not said), "me:id" for our
// own message; want is the history, oldest first.
func TestAuthorOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		arrivals []string
		want     string
	}{
		{"in order", []string{"a:d1:1", "b:d1:2", "c:d1:3"}, "a b c"},
		{"one late", []string{"a:d1:1", "c:d1:3", "b:d1:2"}, "a b c"},
		{"late first of all", []string{"b:d1:2", "c:d1:3", "a:d1:1"}, "a b c"},
		{"two late, reversed", []string{"d:d1:4", "c:d1:3", "b:d1:2"}, "b c d"},
		{"late between ours", []string{"a:d1:1", "me:x", "c:d1:3", "me:y", "b:d1:2"}, "a x b c y"},
		{"another device counts on its own", []string{"a:d1:5", "b:d2:1", "c:d1:6"}, "a b c"},
		{"a new device starts low", []string{"a:d1:900", "b:d2:1", "c:d2:2"}, "a b c"},
		{"not said: where it arrived", []string{"b:d1:2", "a:d1:0", "c:d1:3"}, "b a c"},
		{"duplicate changes nothing", []string{"a:d1:1", "c:d1:3", "b:d1:2", "c:d1:3", "a:d1:1"}, "a b c"},
		{"gaps stay gaps", []string{"a:d1:10", "e:d1:50", "c:d1:30", "b:d1:20", "d:d1:40"}, "a b c d e"},
		// Copies of what our other device sent keep that device's order
		// too: one from its mailbox may come after a later one direct.
		{"our other device's copy late", []string{"own:a:o1:1", "own:c:o1:3", "own:b:o1:2"}, "a b c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t)
			for i, a := range tc.arrivals {
				parts := strings.Split(a, ":")
				if parts[0] == "me" {
					m := Message{ID: parts[1], Peer: "alice", Text: "mine", State: StateDelivered}
					if _, err := s.Enqueue(&m, OutboxEntry{ID: parts[1], Peer: "alice"}); err != nil {
						t.Fatal(err)
					}
					continue
				}
				own := parts[0] == "own"
				if own {
					parts = parts[1:]
				}
				var order uint64
				fmt.Sscan(parts[2], &order)
				m := Message{ID: parts[0], Peer: "alice", Text: "hi " + parts[0], Device: parts[1], Order: order,
					Time: time.Unix(int64(1000+i), 0), Outgoing: own}
				if _, err := s.AddIncoming(m); err != nil {
					t.Fatal(err)
				}
			}
			h, err := s.History("alice", 0, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(msgIDs(h), " "); got != tc.want {
				t.Fatalf("history %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAuthorOrderBatchAndPages: a mail backlog stored in one batch is
// placed like single messages, and paging with before follows the shown
// order, not the arrival order.
func TestAuthorOrderBatchAndPages(t *testing.T) {
	s, _ := openTemp(t)
	// Directly: 5..9. Then the mail backlog: 1..4, one batch.
	for i := 5; i <= 9; i++ {
		if _, err := s.AddIncoming(Message{ID: fmt.Sprint(i), Peer: "bob", Text: "x", Device: "dev", Order: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var batch []Message
	for i := 1; i <= 4; i++ {
		batch = append(batch, Message{ID: fmt.Sprint(i), Peer: "bob", Text: "x", Device: "dev", Order: uint64(i)})
	}
	if _, err := s.AddIncomingBatch(batch); err != nil {
		t.Fatal(err)
	}
	var pages [][]string
	before := ""
	for {
		h, err := s.History("bob", 3, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 {
			break
		}
		pages = append(pages, msgIDs(h))
		before = h[0].ID
	}
	want := [][]string{{"7", "8", "9"}, {"4", "5", "6"}, {"1", "2", "3"}}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Fatalf("pages %v, want %v", pages, want)
	}
}

// TestAuthorOrderExhausted: messages put again and again between the same
// two stay in the history (where they arrived, once places run out) and
// nothing fails.
func TestAuthorOrderExhausted(t *testing.T) {
	s, _ := openTemp(t)
	const n = 80 // more than a float64's halvings between two neighbours
	if _, err := s.AddIncoming(Message{ID: "first", Peer: "bob", Text: "x", Device: "dev", Order: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddIncoming(Message{ID: "last", Peer: "bob", Text: "x", Device: "dev", Order: 1000}); err != nil {
		t.Fatal(err)
	}
	for i := n; i >= 1; i-- {
		// Each comes late, just before the previous late one.
		if _, err := s.AddIncoming(Message{ID: fmt.Sprint(i), Peer: "bob", Text: "x", Device: "dev", Order: uint64(1 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n+2 || h[0].ID != "first" {
		t.Fatalf("history of %d starting %q", len(h), h[0].ID)
	}
	// Each late one halves the gap after "first": the first 50 to arrive
	// (80 down to 31) are in their places, in order, before "last".
	at := slices.IndexFunc(h, func(m Message) bool { return m.ID == "last" })
	placed := msgIDs(h[1:at])
	if len(placed) < 50 {
		t.Fatalf("only %d placed before last: %v", len(placed), msgIDs(h))
	}
	for i, id := range placed {
		want := fmt.Sprint(n - len(placed) + 1 + i)
		if id != want {
			t.Fatalf("place %d holds %q, want %q: %v", i+1, id, want, msgIDs(h))
		}
	}
}

// TestHistoryUsesPlaceIndex: the history query reads the place index, not
// every message of the conversation.
func TestHistoryUsesPlaceIndex(t *testing.T) {
	s, _ := openTemp(t)
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT `+messageColumns+` FROM messages WHERE peer = ? AND `+placeKey+` < ?
		ORDER BY `+placeKey+` DESC LIMIT ?`, "bob", 1e300, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "messages_place") || strings.Contains(joined, "TEMP B-TREE") {
		t.Fatalf("plan %q: want the messages_place index and no sort", joined)
	}
}

// TestOutgoingOrder: our message keeps the outbox position it was first
// queued under, for a resend to name.
func TestOutgoingOrder(t *testing.T) {
	s, _ := openTemp(t)
	var seqs []int64
	for _, id := range []string{"a", "b"} {
		e, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: id}, OutboxEntry{ID: id, Peer: "bob", Payload: []byte(id)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	for i, id := range []string{"a", "b"} {
		if o, err := s.OutgoingOrder("bob", id); err != nil || o != uint64(seqs[i]) || o == 0 {
			t.Fatalf("order of %s: %d, %v; want %d", id, o, err, seqs[i])
		}
	}
	if _, err := s.OutgoingOrder("bob", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("order of no message: %v", err)
	}
	// A copy of what our other device sent holds that device's position:
	// sent again from here, it must not claim it as ours.
	if _, err := s.AddIncoming(Message{ID: "c", Peer: "bob", Outgoing: true, Text: "c", Device: "other", Order: 7}); err != nil {
		t.Fatal(err)
	}
	if o, err := s.OutgoingOrder("bob", "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("order of our other device's copy: %d, %v; want none", o, err)
	}
}
