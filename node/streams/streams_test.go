package streams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/livestream"
	"eserver/node/payload"
	"eserver/node/ticket"
	"eserver/node/wire"
)

func offerFrom(p peer.ID, id livestream.ID, key []byte, label string) *payload.Inbound {
	return &payload.Inbound{
		Ticket:  &ticket.Ticket{Username: "alice", Peer: p},
		Payload: &wire.Payload{Kind: &wire.Payload_StreamOffer{StreamOffer: &wire.StreamOffer{Id: id[:], Key: key, Label: label}}},
	}
}

func TestReceiveOffer(t *testing.T) {
	key := make([]byte, 32)
	id := livestream.NewID()
	tests := []struct {
		name string
		in   *payload.Inbound
		want error
	}{
		{"good", offerFrom("p", id, key, "screen"), nil},
		{"short key", offerFrom("p", id, key[:31], "screen"), payload.ErrBadRequest},
		{"label at the limit", offerFrom("p", id, key, strings.Repeat("x", MaxLabel)), nil},
		{"label over the limit", offerFrom("p", id, key, strings.Repeat("x", MaxLabel+1)), payload.ErrBadRequest},
		{"label not UTF-8", offerFrom("p", id, key, "\xff"), payload.ErrBadRequest},
		{"short ID", &payload.Inbound{Ticket: &ticket.Ticket{Peer: "p"}, Payload: &wire.Payload{Kind: &wire.Payload_StreamOffer{StreamOffer: &wire.StreamOffer{Id: id[:3], Key: key}}}}, payload.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(nil, nil)
			if err := s.receiveOffer(tc.in); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("receiveOffer = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestOfferKeyOnce: an announced stream opens once, from the announcing
// device, with the announced label, before the offer expires.
func TestOfferKeyOnce(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := New(nil, func() time.Time { return now })
	key := []byte(strings.Repeat("k", 32))
	id := livestream.NewID()
	if err := s.receiveOffer(offerFrom("p", id, key, "cam")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.keyFor("other", id, "cam"); err == nil {
		t.Fatal("another device opened the announced stream")
	}
	if _, err := s.keyFor("p", id, "screen"); err == nil {
		t.Fatal("a different label opened the announced stream")
	}
	// A wrong attempt uses the offer up (it is tried once, whoever tries
	// it), so announce again.
	if err := s.receiveOffer(offerFrom("p", id, key, "cam")); err != nil {
		t.Fatal(err)
	}
	got, err := s.keyFor("p", id, "cam")
	if err != nil || string(got) != string(key) {
		t.Fatalf("keyFor = %q, %v; want the announced key", got, err)
	}
	if _, err := s.keyFor("p", id, "cam"); err == nil {
		t.Fatal("the stream opened twice")
	}
	if err := s.receiveOffer(offerFrom("p", id, key, "cam")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(OfferTTL + time.Second)
	if _, err := s.keyFor("p", id, "cam"); err == nil {
		t.Fatal("an expired offer opened a stream")
	}
}

// TestOfferLimit: at most MaxOffers unopened offers are held; expired ones
// make room.
func TestOfferLimit(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := New(nil, func() time.Time { return now })
	key := make([]byte, 32)
	for i := range MaxOffers {
		if err := s.receiveOffer(offerFrom("p", livestream.NewID(), key, "")); err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
	}
	if err := s.receiveOffer(offerFrom("p", livestream.NewID(), key, "")); !errors.Is(err, payload.ErrRateLimited) {
		t.Fatalf("offer over the limit = %v, want ErrRateLimited", err)
	}
	now = now.Add(OfferTTL + time.Second)
	if err := s.receiveOffer(offerFrom("p", livestream.NewID(), key, "")); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}
