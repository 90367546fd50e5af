package node

import (
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/store"
)

// captureQueued sends text to peer and returns its outbox entry as it was
// stored before the contact's ack removed it (the ack's record waits for
// the next commit), trying a few messages should the record win the race.
func captureQueued(t *testing.T, tn *testNode, peer, text string) store.OutboxEntry {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		id, err := tn.Send(ctx(t), peer, text)
		if err != nil {
			t.Fatal(err)
		}
		es, err := s.store.Outbox(peer)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.ID == id {
				return e
			}
		}
	}
	t.Fatal("every message was acknowledged and recorded before it could be read")
	return store.OutboxEntry{}
}

// waitOutboxEmpty waits until nothing waits in tn's outbox for peer.
func waitOutboxEmpty(t *testing.T, tn *testNode, peer string) {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		if es, err := s.store.Outbox(peer); err == nil && len(es) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s's outbox for %s never emptied", tn.name, peer)
}

// TestResendAfterLostAckRecord: the sender's record of an ack may be lost
// (it is written after the ack, off the message's path, and a kill -9 can
// come first): the entry is then sent again — the very envelope sealed
// when it was queued, or one sealed anew — and the contact, which stored
// it, acknowledges it and stores nothing twice.
func TestResendAfterLostAckRecord(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	if _, err := alice.Send(ctx(t), "bob", "warm up"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1) // the session and the stream are up
	for _, c := range []struct {
		name   string
		sealed bool
	}{{"same envelope", true}, {"sealed again", false}} {
		t.Run(c.name, func(t *testing.T) {
			e := captureQueued(t, alice, "bob", "only once: "+c.name)
			if c.sealed && len(e.Sealed) == 0 {
				t.Fatal("the entry was not sealed when queued")
			}
			waitOutboxEmpty(t, alice, "bob")
			before, err := bob.History(ctx(t), "alice", 1000, "")
			if err != nil {
				t.Fatal(err)
			}
			// The record is lost: the entry is back, as after a restart.
			if !c.sealed {
				e.Sealed, e.SealedPeer, e.SealedSession = nil, "", nil
			}
			s, _ := alice.current()
			if _, err := s.store.Enqueue(nil, e); err != nil {
				t.Fatal(err)
			}
			s.delivery.Poke("bob")
			waitOutboxEmpty(t, alice, "bob")
			after, err := bob.History(ctx(t), "alice", 1000, "")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range after {
				if m.ID == e.ID {
					n++
				}
			}
			if n != 1 || len(after) != len(before) {
				t.Fatalf("bob holds %s %d times, %d messages before the resend and %d after", e.ID, n, len(before), len(after))
			}
			if m, err := s.store.Message(e.ID); err != nil || m.State != string(api.StateDelivered) {
				t.Fatalf("alice's copy: %+v (%v), want delivered", m, err)
			}
		})
	}
}
