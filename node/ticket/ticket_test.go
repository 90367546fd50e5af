package ticket

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func TestSignVerify(t *testing.T) {
	serverKey, server := newKey(t)
	_, otherServer := newKey(t)
	_, device := newKey(t)
	_, stranger := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	st, err := Sign(serverKey, Ticket{
		Username: "alice", Peer: device, Device: "laptop", Issued: now, Expiry: now.Add(time.Hour),
		Role: RoleNode, BoxKey: make([]byte, 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyFor(server, device, st, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "alice" || got.Peer != device || got.Device != "laptop" || got.Role != RoleNode ||
		got.Server != server || !got.Expiry.Equal(now.Add(time.Hour)) || len(got.BoxKey) != 32 {
		t.Fatalf("verified ticket: %+v", got)
	}

	tampered := proto.Clone(st).(*wire.SignedTicket)
	tampered.Ticket[len(tampered.Ticket)-1] ^= 1
	resigned, _ := Sign(mustKey(t), Ticket{Username: "alice", Peer: device, Expiry: now.Add(time.Hour)})

	tests := []struct {
		name   string
		server peer.ID
		remote peer.ID
		st     *wire.SignedTicket
		at     time.Time
		want   error
	}{
		{"expired", server, device, st, now.Add(time.Hour), ErrExpired},
		{"another peer presents it", server, stranger, st, now, ErrWrongPeer},
		{"verified against another server", otherServer, device, st, now, ErrBadSignature},
		{"tampered", server, device, tampered, now, ErrBadSignature},
		{"signed by someone else", server, device, resigned, now, ErrBadSignature},
		{"nil", server, device, nil, now, ErrMalformed},
		{"no signature", server, device, &wire.SignedTicket{Ticket: st.Ticket}, now, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyFor(tt.server, tt.remote, tt.st, tt.at); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestServerFieldMustMatch: a ticket whose body names another server is
// refused even with a valid signature by the verifying server's key.
func TestServerFieldMustMatch(t *testing.T) {
	serverKey, server := newKey(t)
	_, other := newKey(t)
	_, device := newKey(t)
	raw, _ := proto.Marshal(&wire.Ticket{Username: "a", PeerId: []byte(device), ExpiryUnix: 2e9, ServerPeerId: []byte(other)})
	sig, _ := serverKey.Sign(append([]byte(signingContext), raw...))
	if _, err := Verify(server, &wire.SignedTicket{Ticket: raw, Signature: sig}, time.Unix(1e9, 0)); !errors.Is(err, ErrWrongServer) {
		t.Fatalf("error %v, want ErrWrongServer", err)
	}
}

func mustKey(t *testing.T) crypto.PrivKey {
	k, _ := newKey(t)
	return k
}

// FuzzVerify decodes arbitrary ticket bytes under a valid signature (the
// worst case: a compromised or buggy server) and arbitrary signatures.
func FuzzVerify(f *testing.F) {
	serverKey, server := newKey(f)
	_, device := newKey(f)
	st, _ := Sign(serverKey, Ticket{Username: "alice", Peer: device, Expiry: time.Unix(2e9, 0)})
	f.Add(st.Ticket, st.Signature, true)
	aged, _ := Sign(serverKey, Ticket{Username: "alice", Peer: device, Issued: time.Unix(1e9, 0), Expiry: time.Unix(2e9, 0), AccountCreated: time.Unix(9e8, 0)})
	f.Add(aged.Ticket, aged.Signature, true)
	f.Add([]byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, body, sig []byte, resign bool) {
		if resign {
			sig, _ = serverKey.Sign(append([]byte(signingContext), body...))
		}
		tk, err := Verify(server, &wire.SignedTicket{Ticket: body, Signature: sig}, time.Unix(1e9, 0))
		if err == nil && (tk.Username == "" || tk.Server != server || tk.Peer == "") {
			t.Fatalf("accepted an incomplete ticket: %+v", tk)
		}
		if err == nil && tk.AccountCreated.After(tk.Issued) {
			t.Fatalf("accepted an account created after its ticket: %+v", tk)
		}
	})
}

// TestCard checks that a card carries only what a stranger needs, hides the
// sign-in time within its day, and never passes as a ticket (nor a ticket as
// a card).
func TestCard(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	day := time.Unix(1_800_000_000, 0).Truncate(CardGrain)
	full := Ticket{
		Username: "alice", Peer: device, Device: "alice's work laptop", Issued: day.Add(9*time.Hour + 17*time.Minute),
		Expiry: day.Add(33*time.Hour + 17*time.Minute), Role: RoleSupernode, BoxKey: []byte("0123456789abcdef0123456789abcdef"),
		AccountCreated: day.Add(-400 * CardGrain),
	}
	card, err := SignCard(serverKey, full)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyCard(server, card, full.Issued)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Card || got.Username != "alice" || got.Peer != device || string(got.BoxKey) != string(full.BoxKey) || got.Server != server {
		t.Fatalf("card lost what a stranger needs: %+v", got)
	}
	if got.Device != "" || got.Role != "" || !got.Issued.Equal(day) || !got.Expiry.Equal(day.Add(2*CardGrain)) || !got.AccountCreated.IsZero() {
		t.Fatalf("card tells more than it should: device %q role %q issued %v expiry %v account created %v",
			got.Device, got.Role, got.Issued, got.Expiry, got.AccountCreated)
	}
	var body wire.Ticket
	if err := proto.Unmarshal(card.Ticket, &body); err != nil || body.AccountCreatedUnix != 0 {
		t.Fatalf("card bytes carry an account creation time %d (%v)", body.AccountCreatedUnix, err)
	}

	// Signing again later the same day gives the same bytes: renewals are
	// invisible in the card.
	later := full
	later.Issued, later.Expiry = full.Issued.Add(3*time.Hour), full.Expiry.Add(3*time.Hour)
	again, err := SignCard(serverKey, later)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(card, again) {
		t.Fatal("a renewal the same day changed the card")
	}

	st, err := Sign(serverKey, full)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(server, card, full.Issued); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("card verified as a ticket: %v", err)
	}
	if _, err := VerifyCard(server, st, full.Issued); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ticket verified as a card: %v", err)
	}
	if _, err := VerifyCard(server, card, day.Add(2*CardGrain)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired card: %v", err)
	}
}

// TestAccountCreated: the account creation time is signed rounded up to
// AccountGrain and never after the issue time, comes back as signed, and a
// zero one stays unknown.
func TestAccountCreated(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	grain := time.Unix(1_800_000_000, 0).Truncate(AccountGrain) // a grain boundary
	tests := []struct {
		name            string
		created, issued time.Time
		want            time.Time
	}{
		{"unknown", time.Time{}, grain, time.Time{}},
		{"on a boundary", grain, grain.Add(time.Hour), grain},
		{"rounded up, never down", grain.Add(time.Second), grain.Add(time.Hour), grain.Add(AccountGrain)},
		{"sub-second rounded up too", grain.Add(time.Millisecond), grain.Add(time.Hour), grain.Add(AccountGrain)},
		{"a year old", grain.Add(-365*24*time.Hour + 7*time.Minute), grain, grain.Add(-365*24*time.Hour + AccountGrain)},
		{"registered just before login: the issue time", grain.Add(3 * time.Minute), grain.Add(4 * time.Minute), grain.Add(4 * time.Minute)},
		{"registered at the login's second", grain.Add(3 * time.Minute), grain.Add(3 * time.Minute), grain.Add(3 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CoarseCreated(tt.created, tt.issued); !got.Equal(tt.want) {
				t.Fatalf("CoarseCreated = %v, want %v", got, tt.want)
			}
			st, err := Sign(serverKey, Ticket{Username: "alice", Peer: device, Issued: tt.issued,
				Expiry: tt.issued.Add(time.Hour), Role: RoleNode, AccountCreated: tt.created})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(server, st, tt.issued)
			if err != nil {
				t.Fatal(err)
			}
			if !got.AccountCreated.Equal(tt.want) || got.AccountCreated.IsZero() != tt.want.IsZero() {
				t.Fatalf("verified account creation %v, want %v", got.AccountCreated, tt.want)
			}
			if !tt.created.IsZero() && got.AccountCreated.Before(tt.created) {
				t.Fatalf("signed %v, before the real %v: a gate would open early", got.AccountCreated, tt.created)
			}
		})
	}
}

// TestAccountCreatedAfterIssue: a ticket (validly signed, as by a buggy or
// compromised server) claiming an account created after the ticket, or at
// a negative time, is refused.
func TestAccountCreatedAfterIssue(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	issued := int64(1_800_000_000)
	tests := []struct {
		name    string
		created int64
		want    error
	}{
		{"a second after issue", issued + 1, ErrCreatedAfterIssue},
		{"a year after issue", issued + 365*24*3600, ErrCreatedAfterIssue},
		{"negative", -1, ErrMalformed},
		{"at issue", issued, nil},
		{"unknown", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := proto.Marshal(&wire.Ticket{Username: "alice", PeerId: []byte(device), IssuedUnix: issued,
				ExpiryUnix: issued + 3600, ServerPeerId: []byte(server), AccountCreatedUnix: tt.created})
			sig, _ := serverKey.Sign(append([]byte(signingContext), raw...))
			_, err := Verify(server, &wire.SignedTicket{Ticket: raw, Signature: sig}, time.Unix(issued, 0))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestModerates: the regions an account moderates are signed sorted and
// deduplicated, verified as such, never on the card; a ticket carrying
// regions that are none, out of order or too many is refused.
func TestModerates(t *testing.T) {
	serverKey, server := newKey(t)
	_, device := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Username: "alice", Peer: device, Issued: now, Expiry: now.Add(time.Hour), Moderates: []string{"FR", "ES", "FR"}}
	st, err := Sign(serverKey, tk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(server, st, now)
	if err != nil || !slices.Equal(got.Moderates, []string{"ES", "FR"}) || !got.ModeratesRegion("ES") || got.ModeratesRegion("PT") || got.ModeratesRegion("") {
		t.Fatalf("verified %+v, %v", got, err)
	}
	card, err := SignCard(serverKey, tk)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := VerifyCard(server, card, now); err != nil || len(c.Moderates) != 0 {
		t.Fatalf("the card: %+v, %v; want no moderated regions", c, err)
	}
	if _, err := Sign(serverKey, Ticket{Username: "alice", Peer: device, Issued: now, Expiry: now.Add(time.Hour), Moderates: []string{"Spain"}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("signing a region that is none: %v", err)
	}
	many := make([]string, wire.MaxModeratedRegions+1)
	for i := range many {
		many[i] = string(rune('A'+i/26)) + string(rune('A'+i%26))
	}
	for _, tc := range []struct {
		name string
		rs   []string
	}{
		{"not a country code", []string{"es"}},
		{"out of order", []string{"FR", "ES"}},
		{"repeated", []string{"ES", "ES"}},
		{"too many", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := proto.Marshal(&wire.Ticket{Username: "alice", PeerId: []byte(device), IssuedUnix: now.Unix(),
				ExpiryUnix: now.Unix() + 3600, ServerPeerId: []byte(server), Moderates: tc.rs})
			sig, _ := serverKey.Sign(append([]byte(signingContext), raw...))
			if _, err := Verify(server, &wire.SignedTicket{Ticket: raw, Signature: sig}, now); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want %v", err, ErrMalformed)
			}
		})
	}
}
