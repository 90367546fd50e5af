package handover

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/store"
)

// TestAuthored: what this device sent goes to a new device naming this one
// as its author, in its order (the outbox position for a contact; the
// sending time, in milliseconds, in a multi-party conversation, as live
// copies of its events carry), so the new device places the live copies
// that come later among them. Everything else goes as stored.
func TestAuthored(t *testing.T) {
	self := peer.ID("self-device")
	at := time.UnixMilli(1_800_000_000_123)
	for _, tc := range []struct {
		name   string
		m      store.Message
		device string
		order  uint64
	}{
		{"ours to a contact", store.Message{Peer: "bob", Outgoing: true, Order: 42, Time: at}, self.String(), 42},
		{"ours in a conversation", store.Message{Peer: "#c0ffee", Outgoing: true, Time: at}, self.String(), 1_800_000_000_123},
		{"ours to a contact, from before orders", store.Message{Peer: "bob", Outgoing: true, Time: at}, "", 0},
		{"a copy of another device's", store.Message{Peer: "bob", Outgoing: true, Device: "other", Order: 7, Time: at}, "other", 7},
		{"theirs", store.Message{Peer: "bob", Device: "bobs", Order: 9, Time: at}, "bobs", 9},
		{"our nudge", store.Message{Peer: "bob", Outgoing: true, Kind: store.EntryNudge, Time: at}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			authored(&m, self)
			if m.Device != tc.device || m.Order != tc.order {
				t.Fatalf("device %q order %d, want %q %d", m.Device, m.Order, tc.device, tc.order)
			}
		})
	}
}
