package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

func envelopeFrame(id string, p *wire.Payload) *wire.Frame {
	raw, _ := proto.Marshal(p)
	return &wire.Frame{Kind: &wire.Frame_Envelope{Envelope: &wire.Envelope{Id: id, Sealed: raw}}}
}

func chatPayload(text string) *wire.Payload {
	return &wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}}
}

// serve runs HandleStream on a stream from alice's device that carries in,
// and returns the stream with what we wrote.
func serve(d *Delivery, in []byte) *fakeStream {
	st := &fakeStream{in: bytes.NewReader(in), remote: peer.ID("alice-device")}
	d.HandleStream(st)
	return st
}

// written decodes what we wrote: our hello, then acks.
func written(t *testing.T, st *fakeStream) (*wire.Hello, []*wire.Ack) {
	t.Helper()
	r := wire.NewReader(&st.out, wire.MaxMsgFrame)
	var h wire.Hello
	if err := r.ReadMsg(&h); err != nil {
		t.Fatalf("our hello: %v", err)
	}
	var acks []*wire.Ack
	for {
		var f wire.Frame
		if err := r.ReadMsg(&f); err == io.EOF {
			return &h, acks
		} else if err != nil {
			t.Fatal(err)
		}
		if f.GetAck() == nil {
			t.Fatalf("wrote %T, want an ack", f.Kind)
		}
		acks = append(acks, f.GetAck())
	}
}

func TestVerifyHello(t *testing.T) {
	d, _, _ := newTestDelivery(t)
	tk, err := d.verifyHello("alice-device", &wire.Hello{Ticket: signed("alice")})
	if err != nil || tk.Username != "alice" || tk.Peer != "alice-device" {
		t.Fatalf("good hello: %+v, %v", tk, err)
	}
	for name, h := range map[string]*wire.Hello{
		"no ticket":     {},
		"forged ticket": {Ticket: &wire.SignedTicket{Ticket: []byte("alice"), Signature: []byte("forged")}},
		"no box key":    {Ticket: signed("nobox")},
	} {
		if _, err := d.verifyHello("alice-device", h); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVerifyHelloAccountCheck: after its ticket, a hello's device passes
// the account check with the list it presented; a device its account does
// not list is refused, however good its ticket.
func TestVerifyHelloAccountCheck(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	list := &wire.SignedAccountDevices{Devices: []byte("alice's list"), Signature: []byte("sig")}
	if _, err := d.verifyHello("alice-device", &wire.Hello{Ticket: signed("alice"), Devices: list}); err != nil {
		t.Fatal(err)
	}
	if h.admitted["alice-device"] != 1 {
		t.Fatalf("the account check saw %d lists, want the one presented", h.admitted["alice-device"])
	}
	h.notListed = map[peer.ID]bool{"alice-device": true}
	if _, err := d.verifyHello("alice-device", &wire.Hello{Ticket: signed("alice"), Devices: list}); !errors.Is(err, ticket.ErrNotListed) {
		t.Fatalf("a device its account does not list: %v", err)
	}
}

// TestHandleStream: after the hellos, each envelope is opened, processed
// and acknowledged in order, refusals with their code; the stream ends
// cleanly when the peer closes it.
func TestHandleStream(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	h.refuse["m2"] = payload.ErrNotContact
	h.refuse["m3"] = fmt.Errorf("disk full")
	st := serve(d, framed(t,
		&wire.Hello{Ticket: signed("alice")},
		envelopeFrame("m1", chatPayload("one")),
		envelopeFrame("m2", chatPayload("two")),
		envelopeFrame("m3", chatPayload("three")),
		envelopeFrame("", chatPayload("no id")),
		&wire.Frame{Kind: &wire.Frame_Envelope{Envelope: &wire.Envelope{Id: "m4", Sealed: []byte{0xff}}}},
		&wire.Frame{Kind: &wire.Frame_Envelope{Envelope: &wire.Envelope{Id: "m5", Sealed: lostSession}}},
		envelopeFrame("m6", chatPayload("six")),
	))
	if st.reset || !st.closed {
		t.Fatalf("stream reset %v, closed %v; want closed", st.reset, st.closed)
	}
	hello, acks := written(t, st)
	if string(hello.GetTicket().GetTicket()) != "me" {
		t.Fatalf("our hello: %+v", hello)
	}
	var got []string
	for _, a := range acks {
		got = append(got, a.Id+":"+a.Error)
	}
	want := []string{"m1:", "m2:not_contact", "m3:internal", ":bad_request", "m4:bad_request", "m5:session_reset", "m6:"}
	if !slices.Equal(got, want) {
		t.Fatalf("acks %v, want %v", got, want)
	}
	if !slices.Equal(h.processed, []string{"m1", "m6"}) {
		t.Fatalf("processed %v", h.processed)
	}
	// The chat messages were stored (before their acks) with the batch.
	hist, err := h.st.History("alice", 0, "")
	if err != nil || len(hist) != 2 || hist[0].ID != "m1" || hist[1].ID != "m6" {
		t.Fatalf("history %+v (%v)", hist, err)
	}
}

// TestHandleStreamRepeated: an envelope whose key was used before (the
// sender lost its record of our ack and sent the very same envelope again)
// is acknowledged without being applied again when it was applied; one
// that was not (its first copy failed) is refused as internal, so that the
// sender seals it again.
func TestHandleStreamRepeated(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	presence := &wire.Payload{Kind: &wire.Payload_Presence{Presence: &wire.Presence{Status: "away"}}}
	serve(d, framed(t, &wire.Hello{Ticket: signed("alice")}, envelopeFrame("m1", chatPayload("one")), envelopeFrame("p1", presence)))
	repeat := func(id string) *wire.Frame {
		return &wire.Frame{Kind: &wire.Frame_Envelope{Envelope: &wire.Envelope{Id: id, Sealed: repeated}}}
	}
	st := serve(d, framed(t, &wire.Hello{Ticket: signed("alice")}, repeat("m1"), repeat("p1"), repeat("m9")))
	_, acks := written(t, st)
	var got []string
	for _, a := range acks {
		got = append(got, a.Id+":"+a.Error)
	}
	if want := []string{"m1:", "p1:", "m9:internal"}; !slices.Equal(got, want) {
		t.Fatalf("acks %v, want %v", got, want)
	}
	if !slices.Equal(h.processed, []string{"m1", "p1"}) {
		t.Fatalf("processed %v", h.processed)
	}
	if hist, err := h.st.History("alice", 0, ""); err != nil || len(hist) != 1 {
		t.Fatalf("history %+v (%v)", hist, err)
	}
}

// TestHandleStreamBatchLimit: frames that arrived together are answered
// together, at most wire.MsgBatch to a transaction, every one of them.
func TestHandleStreamBatchLimit(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	msgs := []proto.Message{&wire.Hello{Ticket: signed("alice")}}
	n := 2*wire.MsgBatch + 3
	for i := range n {
		msgs = append(msgs, envelopeFrame(fmt.Sprintf("m%03d", i), chatPayload(fmt.Sprint("text ", i))))
	}
	st := serve(d, framed(t, msgs...))
	if _, acks := written(t, st); len(acks) != n {
		t.Fatalf("%d acks, want %d", len(acks), n)
	}
	hist, err := h.st.History("alice", 0, "")
	if err != nil || len(hist) != n || hist[n-1].ID != fmt.Sprintf("m%03d", n-1) {
		t.Fatalf("history of %d (%v), want %d in order", len(hist), err, n)
	}
}

// TestHandleStreamRefuses: a bad hello or a frame that is not an envelope
// resets the stream; nothing is processed.
func TestHandleStreamRefuses(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	for name, in := range map[string][]byte{
		"garbage hello": {3, 1, 2, 3},
		"forged hello":  framed(t, &wire.Hello{Ticket: &wire.SignedTicket{Ticket: []byte("alice")}}, envelopeFrame("m1", chatPayload("x"))),
		"no hello":      nil,
		"ack frame":     framed(t, &wire.Hello{Ticket: signed("alice")}, &wire.Frame{Kind: &wire.Frame_Ack{Ack: &wire.Ack{Id: "m1"}}}),
		"garbage frame": append(framed(t, &wire.Hello{Ticket: signed("alice")}), 5, 0xff, 0xff, 0xff, 0xff, 0xff),
		"oversized":     append(framed(t, &wire.Hello{Ticket: signed("alice")}), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"truncated":     framed(t, &wire.Hello{Ticket: signed("alice")})[:4],
		"frame cut half": func() []byte {
			b := framed(t, &wire.Hello{Ticket: signed("alice")}, envelopeFrame("m1", chatPayload("x")))
			return b[:len(b)-2]
		}(),
	} {
		if st := serve(d, in); !st.reset {
			t.Errorf("%s: stream not reset", name)
		}
	}
	if len(h.processed) != 0 {
		t.Fatalf("processed %v", h.processed)
	}
}

// FuzzHandleStream: whatever a peer writes on a message stream, the
// handler neither panics nor leaves the stream open, and processes nothing
// unless the peer's hello authenticated.
func FuzzHandleStream(f *testing.F) {
	hello := framed(f, &wire.Hello{Ticket: signed("alice")})
	f.Add(framed(f, &wire.Hello{Ticket: signed("alice")}, envelopeFrame("m1", chatPayload("one"))))
	f.Add(append(bytes.Clone(hello), 5, 0xff, 0xff, 0xff, 0xff, 0xff))
	f.Add(framed(f, &wire.Hello{Ticket: signed("nobox")}, envelopeFrame("m1", chatPayload("one"))))
	f.Add([]byte{3, 1, 2, 3})
	d, h, _ := newTestDelivery(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		h.processed = nil
		st := serve(d, in)
		if !st.reset && !st.closed {
			t.Fatal("stream left open")
		}
		if len(h.processed) > 0 && !bytes.HasPrefix(in, hello) {
			var first wire.Hello
			r := wire.NewReader(bytes.NewReader(in), wire.MaxMsgFrame)
			if r.ReadMsg(&first) != nil || string(first.GetTicket().GetSignature()) != "ok" {
				t.Fatalf("processed %v without an authenticated hello", h.processed)
			}
		}
	})
}
