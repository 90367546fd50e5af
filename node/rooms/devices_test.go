package rooms

import (
	"errors"
	"slices"
	"testing"

	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/wire"
)

// TestKeysOnOurDevices: bob reads the room on several devices. A
// member's key that came to bob's account's route (the member does not
// know his devices) is passed on to his other devices, naming its author;
// one sent to this device's own route is not (each of his devices got
// one). A key passed on by another device of bob's is its author's, and
// opens that author's messages; only bob's own devices may pass one on,
// and a request names no author.
func TestKeysOnOurDevices(t *testing.T) {
	// Each case in a world of its own, where bob has not opened alice's
	// message yet; the payloads below take that world's key of hers.
	world := func() (*keyWorld, *wire.SignedRoomMessage, *wire.RoomKey) {
		w := newKeyWorld(t, "alice", "bob", "carol")
		m1 := w.post("alice", "m1", "the wombat sleeps")
		for _, q := range w.hosts["alice"].sent() {
			if q.to == "bob" {
				return w, m1, q.p.GetRoomKey()
			}
		}
		t.Fatal("alice's key did not go to bob")
		return nil, nil, nil
	}
	_, _, aliceKey := world()
	passedOn := func(k *wire.RoomKey) *wire.Payload {
		return &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: &wire.RoomKey{Room: k.Room, KeyId: k.KeyId, ChainKey: k.ChainKey, Author: "alice"}}}
	}
	asked := &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: &wire.RoomKey{Room: keyRoom, KeyId: aliceKey.KeyId, Request: true, Author: "alice"}}}
	tests := []struct {
		name    string
		from    string
		own     bool
		id      string
		p       *wire.Payload
		wantErr error
		shown   bool     // alice's pending message opens
		passed  []string // to:author of what bob passes on
	}{
		{"from alice to bob's account", "alice", false, "k1", &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: aliceKey}}, nil, true, []string{"bob:alice"}},
		{"from alice to this device of bob's", "alice", false, store.FanoutID("k1", "bob/device"), &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: aliceKey}}, nil, true, nil},
		{"passed on by bob's other device", "bob", true, "k1", passedOn(aliceKey), nil, true, nil},
		{"passed on by carol", "carol", false, "k1", passedOn(aliceKey), payload.ErrBadRequest, false, nil},
		{"a request naming an author", "bob", true, "k1", asked, payload.ErrBadRequest, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, m1, k := world()
			r, bob := w.rooms["bob"], w.hosts["bob"]
			// This world's alice made her own key: the case's payload
			// carries it.
			if rk := tt.p.GetRoomKey(); !rk.Request {
				rk.KeyId, rk.ChainKey = k.KeyId, k.ChainKey
			}
			aliceKey = k
			w.push("bob", m1) // pending, and alice asked
			bob.sent()
			bob.shown()
			if err := r.receiveKey(&payload.Inbound{Ticket: w.tks[tt.from], ID: tt.id, Payload: tt.p, Own: tt.own}); !errors.Is(err, tt.wantErr) {
				t.Fatalf("receiveKey: %v, want %v", err, tt.wantErr)
			}
			if got := bob.shown(); (len(got) == 1) != tt.shown {
				t.Fatalf("bob shows %q", got)
			}
			var passed []string
			for _, q := range bob.sent() {
				if k := q.p.GetRoomKey(); k != nil && k.Author != "" {
					passed = append(passed, q.to+":"+k.Author)
					if string(k.ChainKey) != string(aliceKey.ChainKey) || string(k.KeyId) != string(aliceKey.KeyId) {
						t.Fatalf("passed on a different key: %+v", k)
					}
				}
			}
			if !slices.Equal(passed, tt.passed) {
				t.Fatalf("passed on %q, want %q", passed, tt.passed)
			}
		})
	}
}
