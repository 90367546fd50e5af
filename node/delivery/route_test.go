package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// testDevices are n devices; expand never parses their IDs.
func testDevices(n int) []ticket.Device {
	var ds []ticket.Device
	for i := range n {
		ds = append(ds, ticket.Device{Peer: peer.ID(fmt.Sprintf("device-%d", i))})
	}
	return ds
}

// TestExpand: an entry for an account goes to each of its devices when
// its list names several, under a fan-out ID per device; one for our own
// account goes to each of our other devices as a copy (none without
// them); an entry already on a device's route, for an account of one
// device or none known, or for someone not our contact, stays as it is.
func TestExpand(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	alice, mine := testDevices(3), testDevices(5)[3:]
	h.devices = map[string][]ticket.Device{"alice": alice, "bob": alice[:1], "me": mine, "dave": alice}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := h.st.PutContact(store.Contact{Username: u, Relation: string(api.RelationAccepted)}); err != nil {
			t.Fatal(err)
		}
	}
	aliceRoutes := []string{DeviceRoute("alice", alice[0].Peer), DeviceRoute("alice", alice[1].Peer), DeviceRoute("alice", alice[2].Peer)}
	myRoutes := []string{DeviceRoute("me", mine[0].Peer), DeviceRoute("me", mine[1].Peer)}
	ids := func(id string, routes []string) []string {
		var out []string
		for _, r := range routes {
			out = append(out, r+"="+store.FanoutID(id, r))
		}
		return out
	}
	tests := []struct {
		name         string
		entry        store.OutboxEntry
		noOwn        bool
		want, copies []string // route=ID
	}{
		{"several devices", store.OutboxEntry{ID: store.FanoutID("e1", "alice"), Peer: "alice"}, false, ids("e1", aliceRoutes), nil},
		{"a room key's plain ID", store.OutboxEntry{ID: "k1", Peer: "alice"}, false, ids("k1", aliceRoutes), nil},
		{"one device", store.OutboxEntry{ID: "e2~x", Peer: "bob"}, false, []string{"bob=e2~x"}, nil},
		{"no list known", store.OutboxEntry{ID: "e3~x", Peer: "carol"}, false, []string{"carol=e3~x"}, nil},
		{"a stranger whose list we know", store.OutboxEntry{ID: "e7~x", Peer: "dave"}, false, []string{"dave=e7~x"}, nil},
		{"a device's route", store.OutboxEntry{ID: "e4~x", Peer: aliceRoutes[1]}, false, []string{aliceRoutes[1] + "=e4~x"}, nil},
		{"our account", store.OutboxEntry{ID: store.FanoutID("e5", "me"), Peer: "me"}, false, nil, ids("e5", myRoutes)},
		{"our account, no other device", store.OutboxEntry{ID: "e6~x", Peer: "me"}, true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.devices["me"] = mine
			if tt.noOwn {
				h.devices["me"] = nil
			}
			out, copies := d.expand([]store.OutboxEntry{tt.entry})
			got := func(es []store.OutboxEntry) []string {
				var s []string
				for _, e := range es {
					s = append(s, e.Peer+"="+e.ID)
				}
				return s
			}
			if !slices.Equal(got(out), tt.want) || !slices.Equal(got(copies), tt.copies) {
				t.Fatalf("entries %q copies %q, want %q and %q", got(out), got(copies), tt.want, tt.copies)
			}
		})
	}
}

// TestFirstTaken: a signal to several devices went when one took it,
// whatever the others said; when none did, every device's error is told.
func TestFirstTaken(t *testing.T) {
	unreachable := fmt.Errorf("%w: gone", api.ErrUnreachable)
	refused := errors.New("rate_limited")
	tests := []struct {
		name    string
		results []error
		wantNil bool
		wantIs  error
	}{
		{"one of two took it", []error{unreachable, nil}, true, nil},
		{"the first took it", []error{nil, refused}, true, nil},
		{"none reached", []error{unreachable, unreachable}, false, api.ErrUnreachable},
		{"one refused, one not reached", []error{refused, unreachable}, false, api.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, len(tt.results))
			for _, r := range tt.results {
				done <- r
			}
			err := firstTaken(context.Background(), done, len(tt.results))
			if (err == nil) != tt.wantNil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Fatalf("firstTaken: %v", err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := firstTaken(ctx, make(chan error), 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no device answering: %v", err)
	}
}

// TestReceiptPerDevice: the receipt for a chat message mailed to one of
// a contact's devices goes back to the device that sent it when the
// sender lists several (to its account otherwise; none to our own
// devices), and a receipt naming a message's fan-out ID delivers the
// message, once.
func TestReceiptPerDevice(t *testing.T) {
	d, h, _ := newTestDelivery(t)
	laptop := testDevices(2)
	h.devices = map[string][]ticket.Device{"alice": laptop, "me": testDevices(3)[2:]}
	tests := []struct {
		name   string
		sender *ticket.Ticket
		want   string // the route the receipt goes to; "" none
	}{
		{"a contact with several devices", &ticket.Ticket{Username: "alice", Peer: laptop[1].Peer}, DeviceRoute("alice", laptop[1].Peer)},
		{"a contact with one device", &ticket.Ticket{Username: "bob", Peer: "bob-device"}, "bob"},
		{"another device of ours", &ticket.Ticket{Username: "me", Peer: "device-2"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := drained{receipts: map[string][]string{}}
			d.receipt(&res, mailEntry{sender: tt.sender, env: &wire.Envelope{Id: "m1"}})
			var got []string
			for r, ids := range res.receipts {
				got = append(got, r+":"+strings.Join(ids, ","))
			}
			want := []string{tt.want + ":m1"}
			if tt.want == "" {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Fatalf("receipts %q, want %q", got, want)
			}
		})
	}

	// Our message to alice went to each of her devices; one of them
	// mailed back its receipt under its copy's ID.
	m := &store.Message{ID: "m1", Peer: "alice", Outgoing: true, Text: "hi"}
	r := DeviceRoute("alice", laptop[1].Peer)
	op, err := h.st.DevicesOp(m, "alice", []store.OutboxEntry{{ID: store.FanoutID("m1", r), Peer: r, Payload: []byte("x")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.Commit(op); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.receiveReceipt("alice", &wire.Receipt{Ids: []string{store.FanoutID("m1", r)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := h.st.Message("m1"); got.State != string(api.StateDelivered) {
		t.Fatalf("our message after its device's receipt: %q", got.State)
	}
	n := 0
	for _, e := range h.events {
		if e.Delivered != nil && e.Delivered.ID == "m1" && e.Delivered.To == "alice" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("told delivered %d times", n)
	}
}
