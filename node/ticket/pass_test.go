package ticket

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// TestPass: the pass the server signs verifies against the ticket it was
// issued with, and says the region, account, device and validity of that
// ticket.
func TestPass(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Username: "alice", Peer: device, Device: "laptop", Issued: now, Expiry: now.Add(24 * time.Hour), Role: RoleNode}
	st, err := Sign(serverKey, tk)
	if err != nil {
		t.Fatal(err)
	}
	vt, err := VerifyFor(server, device, st, now)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := SignPass(serverKey, tk, "ES")
	if err != nil {
		t.Fatal(err)
	}
	p, err := VerifyPass(server, sp, vt, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.Region != "ES" || p.Username != "alice" || p.Peer != device || p.Server != server ||
		!p.Issued.Equal(vt.Issued) || !p.Expiry.Equal(vt.Expiry) || p.Signed != sp {
		t.Fatalf("verified pass: %+v, ticket %+v", p, vt)
	}
	if !p.BelongsTo(vt) {
		t.Fatal("BelongsTo: the pass is not its own ticket's")
	}
	var none *Pass
	if none.BelongsTo(vt) {
		t.Fatal("BelongsTo: a nil pass belongs to a ticket")
	}
}

// TestPassRefused: every way a pass can fail to be the server's, current,
// well-formed pass of the ticket it comes with.
func TestPassRefused(t *testing.T) {
	serverKey, server := newKey(t)
	_, otherServer := newKey(t)
	_, device := newKey(t)
	_, otherDevice := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Username: "alice", Peer: device, Issued: now, Expiry: now.Add(24 * time.Hour), Role: RoleNode, BoxKey: make([]byte, 32)}
	verified := func(tk Ticket) *Ticket {
		t.Helper()
		st, err := Sign(serverKey, tk)
		if err != nil {
			t.Fatal(err)
		}
		vt, err := Verify(server, st, now)
		if err != nil {
			t.Fatal(err)
		}
		return vt
	}
	vt := verified(tk)
	sp, err := SignPass(serverKey, tk, "ES")
	if err != nil {
		t.Fatal(err)
	}

	// The same device's and account's other tickets, and its card.
	otherPeer, otherUser, renewed := tk, tk, tk
	otherPeer.Peer = otherDevice
	otherUser.Username = "bob"
	renewed.Issued, renewed.Expiry = now.Add(18*time.Hour), now.Add(42*time.Hour)
	card, err := SignCard(serverKey, tk)
	if err != nil {
		t.Fatal(err)
	}
	vcard, err := VerifyCard(server, card, now)
	if err != nil {
		t.Fatal(err)
	}
	foreignTicket := *vt
	foreignTicket.Server = otherServer

	// Bodies only a buggy or compromised server would sign, and a pass's
	// body signed under the ticket's and the card's contexts.
	body := func(change func(*wire.RegionPass)) []byte {
		w := &wire.RegionPass{Username: "alice", PeerId: []byte(device), Region: "ES",
			IssuedUnix: now.Unix(), ExpiryUnix: now.Add(24 * time.Hour).Unix(), ServerPeerId: []byte(server)}
		if change != nil {
			change(w)
		}
		raw, _ := proto.Marshal(w)
		return raw
	}
	signed := func(context string, raw []byte) *wire.SignedRegionPass {
		sig, _ := serverKey.Sign(append([]byte(context), raw...))
		return &wire.SignedRegionPass{Pass: raw, Signature: sig}
	}
	tampered := proto.Clone(sp).(*wire.SignedRegionPass)
	tampered.Pass = bytes.Replace(tampered.Pass, []byte("ES"), []byte("DE"), 1)
	byOther, _ := SignPass(mustKey(t), tk, "ES")
	long := signed(passContext, append(body(nil), bytes.Repeat([]byte{0}, wire.MaxRegionPass)...))

	tests := []struct {
		name   string
		server peer.ID
		sp     *wire.SignedRegionPass
		tk     *Ticket
		at     time.Time
		want   error
	}{
		{"expired", server, sp, vt, now.Add(24 * time.Hour), ErrExpired},
		{"ticket of another device", server, sp, verified(otherPeer), now, ErrPassMismatch},
		{"ticket of another account", server, sp, verified(otherUser), now, ErrPassMismatch},
		{"the device's renewed ticket", server, sp, verified(renewed), now.Add(19 * time.Hour), ErrPassMismatch},
		{"a card instead of the ticket", server, sp, vcard, now, ErrPassMismatch},
		{"no ticket", server, sp, nil, now, ErrPassMismatch},
		{"ticket of another server", server, sp, &foreignTicket, now, ErrPassMismatch},
		{"verified against another server", otherServer, sp, vt, now, ErrBadSignature},
		{"tampered region", server, tampered, vt, now, ErrBadSignature},
		{"signed by another key", server, byOther, vt, now, ErrBadSignature},
		{"signed as a ticket", server, signed(signingContext, body(nil)), vt, now, ErrBadSignature},
		{"signed as a card", server, signed(cardContext, body(nil)), vt, now, ErrBadSignature},
		{"names another server", server, signed(passContext, body(func(w *wire.RegionPass) { w.ServerPeerId = []byte(otherServer) })), vt, now, ErrWrongServer},
		{"lowercase region", server, signed(passContext, body(func(w *wire.RegionPass) { w.Region = "es" })), vt, now, ErrMalformed},
		{"no region", server, signed(passContext, body(func(w *wire.RegionPass) { w.Region = "" })), vt, now, ErrMalformed},
		{"no username", server, signed(passContext, body(func(w *wire.RegionPass) { w.Username = "" })), vt, now, ErrMalformed},
		{"bad peer ID", server, signed(passContext, body(func(w *wire.RegionPass) { w.PeerId = []byte{1, 2} })), vt, now, ErrMalformed},
		{"too long", server, long, vt, now, ErrMalformed},
		{"not protobuf", server, signed(passContext, []byte{0xff, 0xff}), vt, now, ErrMalformed},
		{"nil", server, nil, vt, now, ErrMalformed},
		{"no signature", server, &wire.SignedRegionPass{Pass: sp.Pass}, vt, now, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := VerifyPass(tc.server, tc.sp, tc.tk, tc.at); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyPass = %+v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

// TestPassIsNoTicket: a pass never verifies as a ticket or a card, nor a
// ticket or a card as a pass — whichever bytes are moved into the other's
// envelope, the signing contexts differ.
func TestPassIsNoTicket(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Username: "alice", Peer: device, Issued: now, Expiry: now.Add(24 * time.Hour), Role: RoleNode}
	st, _ := Sign(serverKey, tk)
	card, _ := SignCard(serverKey, tk)
	sp, err := SignPass(serverKey, tk, "ES")
	if err != nil {
		t.Fatal(err)
	}
	vt, err := Verify(server, st, now)
	if err != nil {
		t.Fatal(err)
	}

	asTicket := &wire.SignedTicket{Ticket: sp.Pass, Signature: sp.Signature}
	if _, err := Verify(server, asTicket, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("pass verified as a ticket: %v, want %v", err, ErrBadSignature)
	}
	if _, err := VerifyCard(server, asTicket, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("pass verified as a card: %v, want %v", err, ErrBadSignature)
	}
	for name, s := range map[string]*wire.SignedTicket{"ticket": st, "card": card} {
		asPass := &wire.SignedRegionPass{Pass: s.Ticket, Signature: s.Signature}
		if _, err := VerifyPass(server, asPass, vt, now); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s verified as a pass: %v, want %v", name, err, ErrBadSignature)
		}
	}
}

// TestSignPassRegion: only a valid code is signed; "" (no region) gets no
// pass at all.
func TestSignPassRegion(t *testing.T) {
	serverKey, _ := newKey(t)
	_, device := newKey(t)
	tk := Ticket{Username: "alice", Peer: device, Expiry: time.Unix(2e9, 0)}
	for _, bad := range []string{"", "es", "E", "ESP", "E1", "\xff\xff"} {
		if sp, err := SignPass(serverKey, tk, bad); !errors.Is(err, wire.ErrBadRegion) {
			t.Errorf("SignPass(%q) = %v, %v; want %v", bad, sp, err, wire.ErrBadRegion)
		}
	}
}

// FuzzVerifyPass decodes arbitrary pass bytes under a valid signature (the
// worst case: a compromised or buggy server) and arbitrary signatures:
// whatever is accepted is a complete pass with a valid region, belonging
// to the ticket and current.
func FuzzVerifyPass(f *testing.F) {
	serverKey, server := newKey(f)
	_, device := newKey(f)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Username: "alice", Peer: device, Issued: now, Expiry: now.Add(24 * time.Hour), Role: RoleNode}
	st, _ := Sign(serverKey, tk)
	vt, err := Verify(server, st, now)
	if err != nil {
		f.Fatal(err)
	}
	sp, _ := SignPass(serverKey, tk, "ES")
	f.Add(sp.Pass, sp.Signature, true)
	f.Add(st.Ticket, st.Signature, false)
	f.Add([]byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, body, sig []byte, resign bool) {
		if resign {
			sig, _ = serverKey.Sign(append([]byte(passContext), body...))
		}
		p, err := VerifyPass(server, &wire.SignedRegionPass{Pass: body, Signature: sig}, vt, now)
		if err != nil {
			return
		}
		if wire.ValidRegion(p.Region) != nil || p.Username != vt.Username || p.Peer != vt.Peer ||
			p.Server != server || !now.Before(p.Expiry) || !p.BelongsTo(vt) {
			t.Fatalf("accepted %+v for ticket %+v", p, vt)
		}
	})
}
