package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestOrderMail: a home that missed part of a burst holds a gap another
// home fills; merged, each sender's items come in the sender's order.
func TestOrderMail(t *testing.T) {
	e := func(sender string, order uint64) mailEntry {
		return mailEntry{sender: &ticket.Ticket{Username: sender}, env: &wire.Envelope{Id: fmt.Sprint(sender, order)}, order: order}
	}
	tests := []struct {
		name    string
		fetched []mailEntry // as fetched from the homes in turn, duplicates already dropped
		want    []string
	}{
		{"in order", []mailEntry{e("alice", 1), e("alice", 2)}, []string{"alice1", "alice2"}},
		{"gap filled by the second home", []mailEntry{e("alice", 1), e("alice", 2), e("alice", 4), e("alice", 5), e("alice", 3)},
			[]string{"alice1", "alice2", "alice3", "alice4", "alice5"}},
		{"senders keep their first place", []mailEntry{e("carol", 7), e("alice", 2), e("carol", 9), e("alice", 1), e("carol", 8)},
			[]string{"carol7", "carol8", "carol9", "alice1", "alice2"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orderMail(tt.fetched)
			var got []string
			for _, m := range tt.fetched {
				got = append(got, m.env.Id)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// mailItem is a mailbox item as a sender leaves it, minus the anonymous
// box (the fake Sealer's OpenAnonymous is the identity).
func mailItem(tb testing.TB, sender *wire.SignedTicket, env *wire.Envelope, order uint64) []byte {
	tb.Helper()
	return mailItemSealed(tb, sender, env, order, time.Now())
}

// mailItemSealed is mailItem sealed by its sender at sealed.
func mailItemSealed(tb testing.TB, sender *wire.SignedTicket, env *wire.Envelope, order uint64, sealed time.Time) []byte {
	tb.Helper()
	raw, err := proto.Marshal(&wire.MailItem{Sender: sender, Envelope: env, Order: order, SealedUnixMilli: sealed.UnixMilli()})
	if err != nil {
		tb.Fatal(err)
	}
	return client.Pad(raw)
}

// TestOpenMail: an item opens to its sender's authenticated ticket, the
// envelope and the sender's order; anything else is refused.
func TestOpenMail(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	env := &wire.Envelope{Id: "m1", Sealed: []byte("hello")}
	e, err := d.openMail(mailItem(t, signed("alice"), env, 7), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e.sender.Username != "alice" || e.env.Id != "m1" || e.order != 7 {
		t.Fatalf("opened %+v", e)
	}
	bad := map[string][]byte{
		"not padded":             []byte("garbage"),
		"not a mail item":        client.Pad([]byte{0xff, 0xff, 0xff}),
		"no envelope":            mailItem(t, signed("alice"), nil, 1),
		"no sender":              mailItem(t, nil, env, 1),
		"forged sender":          mailItem(t, &wire.SignedTicket{Ticket: []byte("alice"), Signature: []byte("forged")}, env, 1),
		"sender without box key": mailItem(t, signed("nobox"), env, 1),
		// A home cannot change when the sender sealed an item: one it kept
		// past the mail TTL is refused whatever it says of when it took it.
		"sealed longer ago than the mail TTL": mailItemSealed(t, signed("alice"), env, 1, time.Now().Add(-wire.MailTTL-time.Hour)),
		"sealed in the future":                mailItemSealed(t, signed("alice"), env, 1, time.Now().Add(time.Hour)),
	}
	for name, item := range bad {
		if _, err := d.openMail(item, time.Now()); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	// Mail an older release sealed carries no sealing time: taken while
	// such mail can still be in a mailbox, refused from legacyMailUntil on.
	legacy := mailItemSealed(t, signed("alice"), env, 1, time.UnixMilli(0))
	h.now = legacyMailUntil.Add(-time.Hour)
	if _, err := d.openMail(legacy, h.now.Add(-time.Hour)); err != nil {
		t.Errorf("mail of an older release, before the cut-off: %v", err)
	}
	h.now = legacyMailUntil
	if _, err := d.openMail(legacy, h.now.Add(-time.Hour)); !errors.Is(err, ErrStaleMail) {
		t.Errorf("mail of an older release, at the cut-off: %v", err)
	}
	h.now = time.Time{}

	// A sender device its account does not list: refused, however good
	// its ticket.
	h.notListed = map[peer.ID]bool{"alice-device": true}
	if _, err := d.openMail(mailItem(t, signed("alice"), env, 9), time.Now()); !errors.Is(err, ticket.ErrNotListed) {
		t.Errorf("mail from a device its account does not list: %v", err)
	}
	h.notListed = nil

	// Older than any mailbox keeps mail: refused, whatever it carries.
	if _, err := d.openMail(mailItem(t, signed("alice"), env, 8), time.Now().Add(-wire.MailTTL-time.Hour)); err == nil {
		t.Error("mail older than the mail TTL opened")
	}
}

// FuzzOpenMail: whatever a mailbox hands us, opening it neither panics nor
// yields an entry without an envelope or a sender able to receive our
// answer.
func FuzzOpenMail(f *testing.F) {
	env := &wire.Envelope{Id: "m1", Sealed: []byte("hello")}
	f.Add(mailItem(f, signed("alice"), env, 7))
	f.Add(mailItem(f, signed("nobox"), env, 1))
	f.Add(mailItem(f, signed("alice"), nil, 1))
	f.Add(client.Pad(nil))
	f.Add([]byte{})
	d, _, _ := newTestDelivery(f)
	f.Fuzz(func(t *testing.T, item []byte) {
		e, err := d.openMail(item, time.Now())
		if err != nil {
			return
		}
		if e.env == nil || e.sender == nil || len(e.sender.BoxKey) != 32 {
			t.Fatalf("opened an unusable entry: %+v", e)
		}
	})
}

// TestReceiptsAndResendRequests: a receipt marks our messages delivered
// (once); a resend request queues again only our own messages to that
// contact still waiting for their receipt; oversized lists are refused.
func TestReceiptsAndResendRequests(t *testing.T) {
	d, h, s := newTestDelivery(t)
	chat := func(id, to string) {
		t.Helper()
		raw, _ := proto.Marshal(&wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: id}}})
		m := &store.Message{ID: id, Peer: to, Outgoing: true, Text: id}
		if _, err := h.st.Enqueue(m, store.OutboxEntry{ID: id, Peer: to, Payload: raw}); err != nil {
			t.Fatal(err)
		}
		if err := h.st.HandedOver(id); err != nil { // left in the mailboxes
			t.Fatal(err)
		}
	}
	chat("a1", "alice")
	chat("a2", "alice")
	chat("b1", "bob")

	// A request naming nothing of ours to alice (she was sent junk in our
	// name) changes nothing: no session of ours is dropped.
	if err := d.receiveResendRequest("alice", "alice-device", &wire.ResendRequest{Ids: []string{"b1", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.st.Outbox("alice"); len(out) != 0 || len(s.resets) != 0 {
		t.Fatalf("a request for nothing of ours queued %+v, reset %v", out, s.resets)
	}
	// One naming a message of ours she is missing: her device lost our
	// session, so ours is dropped and the message goes again in a new one.
	if err := d.receiveResendRequest("alice", "alice-device", &wire.ResendRequest{Ids: []string{"a1", "b1", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.resets, []peer.ID{"alice-device"}) {
		t.Fatalf("sessions reset: %v", s.resets)
	}
	out, _ := h.st.Outbox("alice")
	if len(out) != 1 || out[0].ID != "a1" {
		t.Fatalf("alice's outbox after her resend request: %+v", out)
	}
	// It goes under its first position, which its new envelope's is not.
	var again wire.Payload
	first, err := h.st.OutgoingOrder("alice", "a1")
	if err != nil || proto.Unmarshal(out[0].Payload, &again) != nil || again.GetChat().GetOrder() != first || first == 0 ||
		uint64(out[0].Seq) == first {
		t.Fatalf("resent a1: order %d, first position %d (%v), new entry %d", again.GetChat().GetOrder(), first, err, out[0].Seq)
	}
	if out, _ := h.st.Outbox("bob"); len(out) != 0 {
		t.Fatalf("alice had bob's message resent: %+v", out)
	}

	if err := d.receiveReceipt("alice", &wire.Receipt{Ids: []string{"a2", "b1"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.receiveReceipt("alice", &wire.Receipt{Ids: []string{"a2"}}); err != nil {
		t.Fatal(err)
	}
	var delivered []string
	for _, e := range h.events {
		if e.Delivered != nil {
			delivered = append(delivered, e.Delivered.To+"/"+e.Delivered.ID)
		}
	}
	if !slices.Equal(delivered, []string{"alice/a2"}) {
		t.Fatalf("delivered events: %v", delivered)
	}
	if m, _ := h.st.Message("b1"); m.State != string(api.StateQueued) {
		t.Fatalf("alice's receipt changed bob's message: %+v", m)
	}

	long := make([]string, maxReceiptIDs+1)
	for i := range long {
		long[i] = fmt.Sprint(i)
	}
	if err := d.receiveReceipt("alice", &wire.Receipt{Ids: long}); !errors.Is(err, payload.ErrBadRequest) {
		t.Fatalf("oversized receipt: %v", err)
	}
	if err := d.receiveResendRequest("alice", "alice-device", &wire.ResendRequest{Ids: long}); !errors.Is(err, payload.ErrBadRequest) {
		t.Fatalf("oversized resend request: %v", err)
	}
}

// drain opens items as the drain does (stored now) and applies them.
func drain(t *testing.T, d *Delivery, items ...[]byte) drained {
	t.Helper()
	var pending []mailEntry
	for _, it := range items {
		e, err := d.openMail(it, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, e)
	}
	res, err := d.applyMail(pending)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestReplayedMailIsAppliedOnce (issue 13, item 14): a home that hands out
// again an item we applied — in a later drain, after a restart — gets it
// dropped before it is opened; an item that no session opened is not
// remembered, so the sender's resend under the same ID still arrives.
func TestReplayedMailIsAppliedOnce(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	removed := wire.MustMarshal(&wire.Payload{Kind: &wire.Payload_ContactRemoved{ContactRemoved: &wire.ContactRemoved{}}})
	item := mailItem(t, signed("alice"), &wire.Envelope{Id: "r1", Sealed: removed}, 1)
	lost := mailItem(t, signed("alice"), &wire.Envelope{Id: "l1", Sealed: lostSession}, 2)
	drain(t, d, item, lost)
	drain(t, d, item)
	// Another component on the same store: what was applied is remembered.
	d2 := New(h, &fakeSealer{st: h.st}, fakeRouter{}, fakeAuth{}, time.Second)
	t.Cleanup(d2.tasks.Close)
	drain(t, d2, item)
	if !slices.Equal(h.processed, []string{"r1"}) {
		t.Fatalf("processed %v, want the removal once", h.processed)
	}
	// alice resends the lost envelope under its ID, in a new session.
	resent := mailItem(t, signed("alice"), &wire.Envelope{Id: "l1", Sealed: removed}, 3)
	drain(t, d, resent)
	if !slices.Equal(h.processed, []string{"r1", "l1"}) {
		t.Fatalf("processed %v, want the resent envelope too", h.processed)
	}
	// The same item from bob is another item.
	drain(t, d, mailItem(t, signed("bob"), &wire.Envelope{Id: "r1", Sealed: removed}, 1))
	if len(h.processed) != 3 {
		t.Fatalf("processed %v: bob's r1 is not alice's", h.processed)
	}
}

// TestLostMailResetsNothing (issue 13, item 3): envelopes that no session
// of ours opens — junk anyone can put in our mailbox under a contact's
// public ticket — drop no session of ours; the contact is asked, in one
// sessionless request, which opens whatever its session state, to send
// them again.
func TestLostMailResetsNothing(t *testing.T) {
	d, h, s := newTestDelivery(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	res := drain(t, d,
		mailItem(t, signed("alice"), &wire.Envelope{Id: "j1", Sealed: lostSession}, 1),
		mailItem(t, signed("alice"), &wire.Envelope{Id: "j2", Sealed: lostSession}, 2))
	for _, l := range res.lost {
		if err := d.askResend(l.sender, l.ids); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.resets) != 0 {
		t.Fatalf("sessions reset: %v", s.resets)
	}
	out, err := h.st.Outbox("alice")
	if err != nil || len(out) != 1 || !out[0].Sessionless {
		t.Fatalf("alice's outbox %+v (%v), want one sessionless entry", out, err)
	}
	var p wire.Payload
	if err := proto.Unmarshal(out[0].Payload, &p); err != nil || !slices.Equal(p.GetResendRequest().GetIds(), []string{"j1", "j2"}) {
		t.Fatalf("queued %v (%v), want a resend request for j1 and j2", &p, err)
	}
}

// TestMailSessionsStoredWithMessages: a drain writes the sessions that
// opened its items in the transaction that stores their chat messages.
// Stored at each opening instead, a kill before the messages' commit left
// sessions past keys whose messages were never kept: fetched again, the
// whole backlog was repeats, dropped (the chaos soak's bursts of lost mail).
// An item whose key was used but whose message is not in the history is
// asked for again; one whose message is there is acknowledged again.
func TestMailSessionsStoredWithMessages(t *testing.T) {
	d, h, s := newTestDelivery(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	chat := func(text string) []byte {
		return wire.MustMarshal(&wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}})
	}
	res := drain(t, d,
		mailItem(t, signed("alice"), &wire.Envelope{Id: "m1", Sealed: chat("one")}, 1),
		mailItem(t, signed("bob"), &wire.Envelope{Id: "b1", Sealed: chat("bob's")}, 1),
		mailItem(t, signed("alice"), &wire.Envelope{Id: "m2", Sealed: chat("two")}, 2))
	if want := [][]peer.ID{{"alice-device", "bob-device"}}; !slices.EqualFunc(s.persisted, want, slices.Equal) {
		t.Fatalf("sessions persisted %v, want %v in one transaction with the messages", s.persisted, want)
	}
	for _, id := range []string{"m1", "m2", "b1"} {
		if _, err := h.st.Message(id); err != nil {
			t.Fatalf("%s not stored: %v", id, err)
		}
	}
	if !slices.Equal(res.receipts["alice"], []string{"m1", "m2"}) || len(res.lost) != 0 {
		t.Fatalf("receipts %v, lost %v", res.receipts, res.lost)
	}

	// The record of what was applied forgotten, m2 comes again with its
	// key used: applied before (it is in the history), so only its receipt
	// goes again. m3's key was used but m3 is nowhere: asked for again,
	// neither dropped nor remembered.
	if _, err := h.st.ForgetSeen(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res = drain(t, d,
		mailItem(t, signed("alice"), &wire.Envelope{Id: "m2", Sealed: repeated}, 2),
		mailItem(t, signed("alice"), &wire.Envelope{Id: "m3", Sealed: repeated}, 3))
	if !slices.Equal(res.receipts["alice"], []string{"m2"}) {
		t.Fatalf("receipts %v, want m2's again", res.receipts)
	}
	l := res.lost["alice-device"]
	if len(res.lost) != 1 || l == nil || !slices.Equal(l.ids, []string{"m3"}) {
		t.Fatalf("lost %v, want m3 asked for again", res.lost)
	}
	if _, err := h.st.Message("m3"); err == nil {
		t.Fatal("m3 stored though it never opened")
	}
	// alice sends m3 again under its ID, in a new session: it is taken.
	drain(t, d, mailItem(t, signed("alice"), &wire.Envelope{Id: "m3", Sealed: chat("three")}, 3))
	if m, err := h.st.Message("m3"); err != nil || m.Text != "three" {
		t.Fatalf("m3 resent: %+v, %v", m, err)
	}
}

// TestResendRequestForConversationEvent: a member that could not open a
// conversation event we passed on (it lost its session with us) gets it
// again exactly as it went — the members check its author's signature and
// signing time, so it cannot be made anew — and only the member it went to
// can ask for it; a room's entries are not kept.
func TestResendRequestForConversationEvent(t *testing.T) {
	d, h, s := newTestDelivery(t)
	const conv = "#00112233445566778899aabbccddeeff"
	ev := wire.MustMarshal(&wire.Payload{SentUnixMilli: 1234, Kind: &wire.Payload_GroupEvent{GroupEvent: &wire.GroupEvent{Id: "e1", Author: "alice", Signature: []byte("alice's")}}})
	carolID, daveID := store.FanoutID("e1", "carol"), store.FanoutID("e1", "dave")
	if err := h.st.EnqueueFanout(nil, conv, []store.OutboxEntry{{ID: carolID, Peer: "carol", Payload: ev}, {ID: daveID, Peer: "dave", Payload: ev}}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.EnqueueFanout(nil, "", []store.OutboxEntry{{ID: store.FanoutID("r1", "carol"), Peer: "carol", Payload: ev}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{carolID, daveID, store.FanoutID("r1", "carol")} {
		if err := h.st.HandedOver(id); err != nil { // left in the mailboxes
			t.Fatal(err)
		}
	}

	// Mallory names carol's event: nothing goes, nothing is reset.
	if err := d.receiveResendRequest("mallory", "mallory-device", &wire.ResendRequest{Ids: []string{carolID}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.st.Outbox("mallory"); len(out) != 0 || len(s.resets) != 0 {
		t.Fatalf("mallory's request queued %+v, reset %v", out, s.resets)
	}
	// Carol names hers, dave's and the room's: only hers goes, as it went.
	if err := d.receiveResendRequest("carol", "carol-device", &wire.ResendRequest{Ids: []string{carolID, daveID, store.FanoutID("r1", "carol")}}); err != nil {
		t.Fatal(err)
	}
	out, _ := h.st.Outbox("carol")
	if len(out) != 1 || out[0].ID != carolID || !bytes.Equal(out[0].Payload, ev) {
		t.Fatalf("carol's outbox after her resend request: %+v", out)
	}
	if !slices.Equal(s.resets, []peer.ID{"carol-device"}) {
		t.Fatalf("sessions reset: %v", s.resets)
	}
	if out, _ := h.st.Outbox("dave"); len(out) != 0 {
		t.Fatalf("carol had dave's event resent: %+v", out)
	}
}

// TestResendToDevice: a chat message we sent to each of a contact's
// devices goes again to the device that asks for its copy — under that
// copy's ID, on that device's route, even after another device's ack
// marked it delivered — and never to a device whose copy it was not.
func TestResendToDevice(t *testing.T) {
	d, h, s := newTestDelivery(t)
	laptop, desktop := peer.ID("alice-laptop"), peer.ID("alice-desktop")
	m := &store.Message{ID: "m1", Peer: "alice", Outgoing: true, Text: "to both"}
	raw, _ := proto.Marshal(&wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: "to both"}}})
	var entries []store.OutboxEntry
	for _, p := range []peer.ID{laptop, desktop} {
		r := DeviceRoute("alice", p)
		entries = append(entries, store.OutboxEntry{ID: store.FanoutID("m1", r), Peer: r, Payload: raw})
	}
	op, err := h.st.DevicesOp(m, "alice", entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.Commit(op); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.Acknowledge(entries[0].ID); err != nil { // the laptop has it
		t.Fatal(err)
	}
	if err := h.st.HandedOver(entries[1].ID); err != nil { // the desktop's in its mailbox
		t.Fatal(err)
	}
	if got, _ := h.st.Message("m1"); got.State != string(api.StateDelivered) {
		t.Fatalf("after the laptop's ack: %s", got.State)
	}
	// The laptop asks for the desktop's copy: nothing (not its copy).
	if err := d.receiveResendRequest("alice", laptop, &wire.ResendRequest{Ids: []string{entries[1].ID}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.st.Outbox(entries[1].Peer); len(out) != 0 || len(s.resets) != 0 {
		t.Fatalf("a device asking for another's copy queued %+v, reset %v", out, s.resets)
	}
	// The desktop lost our session and asks for its copy.
	if err := d.receiveResendRequest("alice", desktop, &wire.ResendRequest{Ids: []string{entries[1].ID}}); err != nil {
		t.Fatal(err)
	}
	out, _ := h.st.Outbox(entries[1].Peer)
	if len(out) != 1 || out[0].ID != entries[1].ID || !slices.Equal(s.resets, []peer.ID{desktop}) {
		t.Fatalf("the desktop's resend: %+v, reset %v", out, s.resets)
	}
	if out, _ := h.st.Outbox(entries[0].Peer); len(out) != 0 {
		t.Fatalf("the laptop's copy went again: %+v", out)
	}
}
