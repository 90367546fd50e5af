package delivery

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// exchangeWith runs one courier exchange of bob's outbox against a stream
// on which bob's node answers acks, and returns the error and what is left
// unread of the acks.
func exchangeWith(t *testing.T, d *Delivery, acks ...*wire.Ack) (stop bool, err error, unread int) {
	t.Helper()
	var in bytes.Buffer
	for _, a := range acks {
		if err := wire.WriteMsg(&in, &wire.Frame{Kind: &wire.Frame_Ack{Ack: a}}); err != nil {
			t.Fatal(err)
		}
	}
	st := &fakeStream{in: &in, remote: peer.ID("bob-device")}
	c := &courier{d: d, peer: "bob", st: st, r: wire.NewReader(st, wire.MaxMsgFrame),
		remote: &ticket.Ticket{Username: "bob", Peer: "bob-device"}}
	batch, rerr := d.h.Store().Outbox("bob")
	if rerr != nil {
		t.Fatal(rerr)
	}
	stop, err = c.exchange(batch, true)
	// The acks' record is queued in the group commit: the courier no
	// longer sees those entries at once, the outbox once it is committed.
	left, rerr := c.outbox()
	if rerr != nil {
		t.Fatal(rerr)
	}
	d.recordWaiting()
	if after, rerr := d.h.Store().Outbox("bob"); rerr != nil || len(after) != len(left) {
		t.Fatalf("outbox the courier saw: %d entries, after the record: %d (%v)", len(left), len(after), rerr)
	}
	// What we wrote: one envelope per entry, in outbox order.
	r := wire.NewReader(&st.out, wire.MaxMsgFrame)
	for _, e := range batch {
		var f wire.Frame
		if rerr := r.ReadMsg(&f); rerr != nil || f.GetEnvelope().GetId() != e.ID {
			t.Fatalf("wrote %v (%v), want envelope %s", f.Kind, rerr, e.ID)
		}
	}
	return stop, err, in.Len()
}

// queue puts chat messages (and one request, not in the history) in bob's
// outbox.
func queue(t *testing.T, h *fakeHost, ids ...string) {
	t.Helper()
	for _, id := range ids {
		raw, _ := proto.Marshal(chatPayload(id))
		var m *store.Message
		if strings.HasPrefix(id, "m") {
			m = &store.Message{ID: id, Peer: "bob", Outgoing: true, Text: id}
		}
		if _, err := h.st.Enqueue(m, store.OutboxEntry{ID: id, Peer: "bob", Payload: raw}); err != nil {
			t.Fatal(err)
		}
	}
}

func outboxIDs(t *testing.T, h *fakeHost) []string {
	t.Helper()
	out, err := h.st.Outbox("bob")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range out {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestExchangeAcknowledged: acknowledged entries leave the outbox, a chat
// message shows delivered, and whoever waits for an entry is woken.
func TestExchangeAcknowledged(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	queue(t, h, "m1", "r1")
	waiting := d.waitAck("r1")
	stop, err, unread := exchangeWith(t, d, &wire.Ack{Id: "m1"}, &wire.Ack{Id: "r1"})
	if stop || err != nil || unread != 0 {
		t.Fatalf("stop %v, err %v, %d bytes unread", stop, err, unread)
	}
	if ids := outboxIDs(t, h); len(ids) != 0 {
		t.Fatalf("outbox after the acks: %v", ids)
	}
	select {
	case <-waiting:
	default:
		t.Fatal("the waiter for r1 was not woken")
	}
	if len(h.events) != 1 || h.events[0].Delivered == nil || h.events[0].Delivered.ID != "m1" {
		t.Fatalf("events: %+v", h.events)
	}
}

// TestExchangeRefusals: a refusal to retry later keeps that entry queued
// and ends the round, while the stream stays in step (every ack read, and
// what the peer did take leaves the outbox);
// a session reset drops our session once; any other refusal fails the
// message for good; an ack out of step is a protocol error.
func TestExchangeRefusals(t *testing.T) {
	t.Run("rate limited", func(t *testing.T) {
		d, h, _ := newTestDelivery(t)
		queue(t, h, "m1", "m2", "m3")
		stop, err, unread := exchangeWith(t, d, &wire.Ack{Id: "m1"},
			&wire.Ack{Id: "m2", Error: string(payload.ErrRateLimited)}, &wire.Ack{Id: "m3"})
		if !stop || err == nil || unread != 0 {
			t.Fatalf("stop %v, err %v, %d bytes unread", stop, err, unread)
		}
		if ids := outboxIDs(t, h); !slices.Equal(ids, []string{"m2"}) {
			t.Fatalf("outbox: %v", ids)
		}
	})
	t.Run("session reset", func(t *testing.T) {
		d, h, s := newTestDelivery(t)
		queue(t, h, "m1", "m2")
		reset := string(payload.ErrSessionReset)
		stop, err, unread := exchangeWith(t, d, &wire.Ack{Id: "m1", Error: reset}, &wire.Ack{Id: "m2", Error: reset})
		if !stop || err == nil || unread != 0 {
			t.Fatalf("stop %v, err %v, %d bytes unread", stop, err, unread)
		}
		if !slices.Equal(s.resets, []peer.ID{"bob-device"}) {
			t.Fatalf("sessions reset: %v", s.resets)
		}
		if ids := outboxIDs(t, h); !slices.Equal(ids, []string{"m1", "m2"}) {
			t.Fatalf("outbox: %v", ids)
		}
	})
	t.Run("not a contact", func(t *testing.T) {
		d, h, _ := newTestDelivery(t)
		queue(t, h, "m1")
		stop, err, _ := exchangeWith(t, d, &wire.Ack{Id: "m1", Error: string(payload.ErrNotContact)})
		if stop || err != nil {
			t.Fatalf("stop %v, err %v", stop, err)
		}
		if ids := outboxIDs(t, h); len(ids) != 0 {
			t.Fatalf("outbox: %v", ids)
		}
		if m, _ := h.st.Message("m1"); m.State != string(api.StateFailed) {
			t.Fatalf("message: %+v", m)
		}
		if len(h.events) != 1 || h.events[0].Message == nil || h.events[0].Message.State != api.StateFailed {
			t.Fatalf("events: %+v", h.events)
		}
	})
	t.Run("ack out of step", func(t *testing.T) {
		d, h, _ := newTestDelivery(t)
		queue(t, h, "m1", "m2")
		if _, err, _ := exchangeWith(t, d, &wire.Ack{Id: "m2"}, &wire.Ack{Id: "m1"}); err == nil || !strings.Contains(err.Error(), "protocol error") {
			t.Fatalf("err %v", err)
		}
		if ids := outboxIDs(t, h); !slices.Equal(ids, []string{"m1", "m2"}) {
			t.Fatalf("outbox: %v", ids)
		}
	})
	t.Run("stream ends", func(t *testing.T) {
		d, h, _ := newTestDelivery(t)
		queue(t, h, "m1", "m2")
		if _, err, _ := exchangeWith(t, d, &wire.Ack{Id: "m1"}); err == nil {
			t.Fatal("no error for a missing ack")
		}
		if ids := outboxIDs(t, h); !slices.Equal(ids, []string{"m2"}) {
			t.Fatalf("outbox: %v", ids)
		}
	})
}
