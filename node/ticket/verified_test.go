package ticket

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// TestVerifiedSigsHoldNothingElse: once a ticket verified, the remembered
// signature passes exactly those bytes under that server and context: a
// changed body or signature, another server, or the same bytes taken as a
// card (another context) still fail; an expired ticket fails although its
// signature is remembered; and the memory stays bounded.
func TestVerifiedSigsHoldNothingElse(t *testing.T) {
	serverKey, server := newKey(t)
	otherKey, otherServer := newKey(t)
	_, device := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	st, err := Sign(serverKey, Ticket{Username: "alice", Peer: device, Device: "laptop", Issued: now,
		Expiry: now.Add(time.Hour), Role: RoleNode})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from memory
		if _, err := Verify(server, st, now); err != nil {
			t.Fatal(err)
		}
	}
	body := proto.Clone(st).(*wire.SignedTicket)
	body.Ticket[len(body.Ticket)-1] ^= 1
	sig := proto.Clone(st).(*wire.SignedTicket)
	sig.Signature[0] ^= 1
	byOther, err := Sign(otherKey, Ticket{Username: "alice", Peer: device, Device: "laptop", Issued: now,
		Expiry: now.Add(time.Hour), Role: RoleNode})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(otherServer, byOther, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		verify func() error
		want   error
	}{
		{"a changed body", func() error { _, err := Verify(server, body, now); return err }, ErrBadSignature},
		{"a changed signature", func() error { _, err := Verify(server, sig, now); return err }, ErrBadSignature},
		{"another server's ticket", func() error { _, err := Verify(server, byOther, now); return err }, ErrBadSignature},
		{"the ticket as a card", func() error { _, err := VerifyCard(server, st, now); return err }, ErrBadSignature},
		{"expired", func() error { _, err := Verify(server, st, now.Add(2*time.Hour)); return err }, ErrExpired},
	} {
		if err := tc.verify(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	var m sigMemo
	m.seen = map[[32]byte]struct{}{}
	for i := range sigMemoSize + 10 {
		m.add(sigKey(server, "test", []byte{byte(i), byte(i >> 8)}, nil))
	}
	if n := len(m.seen); n > sigMemoSize || n == 0 {
		t.Fatalf("%d signatures remembered, bound %d", n, sigMemoSize)
	}
}
