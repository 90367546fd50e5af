package login

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// TestLoginResultPass: a login result's region pass is kept only when it
// is the pass of the ticket beside it; any other is a protocol error, as a
// card that is not the ticket's is — a node must never present a pass a
// regional room's homes would refuse, or one placing it in another's
// region.
func TestLoginResultPass(t *testing.T) {
	serverKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := peer.IDFromPrivateKey(serverKey)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	otherKey, _, _ := crypto.GenerateEd25519Key(nil)
	other, _ := peer.IDFromPrivateKey(otherKey)

	now := time.Now()
	tk := ticket.Ticket{Username: "alice", Peer: h.ID(), Issued: now, Expiry: now.Add(wire.TicketLifetime), Role: ticket.RoleNode}
	st, err := ticket.Sign(serverKey, tk)
	if err != nil {
		t.Fatal(err)
	}
	pass := func(tk ticket.Ticket, key crypto.PrivKey) *wire.SignedRegionPass {
		sp, err := ticket.SignPass(key, tk, "ES")
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	otherDevice, earlier, bob := tk, tk, tk
	otherDevice.Peer = other
	earlier.Issued, earlier.Expiry = now.Add(-time.Hour), now.Add(wire.TicketLifetime-time.Hour)
	bob.Username = "bob"
	own := pass(tk, serverKey)

	tests := []struct {
		name   string
		pass   *wire.SignedRegionPass
		region string // of the result's pass; "" for none
		err    error
	}{
		{"no pass", nil, "", nil},
		{"the ticket's pass", own, "ES", nil},
		{"another device's pass", pass(otherDevice, serverKey), "", ErrProtocol},
		{"another account's pass", pass(bob, serverKey), "", ErrProtocol},
		{"an earlier ticket's pass", pass(earlier, serverKey), "", ErrProtocol},
		{"signed by another server", pass(tk, otherKey), "", ErrProtocol},
		{"a ticket as a pass", &wire.SignedRegionPass{Pass: st.Ticket, Signature: st.Signature}, "", ErrProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: &wire.LoginResult{Ticket: st, RegionPass: tc.pass}}}
			res, err := loginResult(resp, h, peer.AddrInfo{ID: server}, "alice")
			if !errors.Is(err, tc.err) {
				t.Fatalf("loginResult: %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			switch {
			case tc.region == "" && res.RegionPass != nil:
				t.Fatalf("region pass %+v, want none", res.RegionPass)
			case tc.region != "" && (res.RegionPass == nil || res.RegionPass.Region != tc.region || !res.RegionPass.BelongsTo(res.Ticket)):
				t.Fatalf("region pass %+v, want %s for the ticket", res.RegionPass, tc.region)
			}
		})
	}
}

// TestCodeError: each code the server answers with is its sentinel, with
// the server's message kept when it says more; an unknown code is an
// error of its own, none of them.
func TestCodeError(t *testing.T) {
	sentinels := []error{ErrLoginFailed, ErrUsernameTaken, ErrRateLimited, ErrBusy, ErrBadRequest, ErrUnreachable,
		ErrDeviceRevoked, ErrUnknownDevice, ErrUnauthorized, ErrNotListed, ErrListedRevoked}
	for _, tc := range []struct {
		code, msg string
		want      error
	}{
		{"login_failed", "", ErrLoginFailed},
		{"username_taken", "", ErrUsernameTaken},
		{"rate_limited", "", ErrRateLimited},
		{"busy", "", ErrBusy},
		{"bad_request", "username too long", ErrBadRequest},
		{"unreachable", "the account database is unreachable", ErrUnreachable},
		{"device_revoked", "", ErrDeviceRevoked},
		{"unknown_device", "", ErrUnknownDevice},
		{"unauthorized", "", ErrUnauthorized},
		{wire.CodeNotListed, "", ErrNotListed},
		{wire.CodeListedRevoked, "", ErrListedRevoked},
		{"internal", "internal error", nil},
	} {
		err := codeError(&wire.AuthError{Code: tc.code, Message: tc.msg})
		for _, s := range sentinels {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("%s: %v is %v: %v, want %v", tc.code, err, s, errors.Is(err, s), s == tc.want)
			}
		}
		if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %q lost the server's message %q", tc.code, err, tc.msg)
		}
	}
}

// TestReplicas: of a login result's replica list only what a sign-in may
// dial is kept — the server's own peer ID, a well-formed address within
// the length limit, the first wire.MaxReplicaAddrs entries.
func TestReplicas(t *testing.T) {
	k1, _, _ := crypto.GenerateEd25519Key(nil)
	k2, _, _ := crypto.GenerateEd25519Key(nil)
	server, _ := peer.IDFromPrivateKey(k1)
	other, _ := peer.IDFromPrivateKey(k2)
	good := "/ip4/192.0.2.1/tcp/1864/p2p/" + server.String()
	good2 := "/ip4/192.0.2.2/udp/1864/quic-v1/p2p/" + server.String()
	long := "/dns4/" + strings.Repeat("a", wire.MaxReplicaAddrLen) + ".example/tcp/1864/p2p/" + server.String()
	var many []string
	for range wire.MaxReplicaAddrs {
		many = append(many, good)
	}
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"the server's", []string{good, good2}, []string{good, good2}},
		{"another peer's", []string{"/ip4/192.0.2.3/tcp/1864/p2p/" + other.String(), good}, []string{good}},
		{"without a peer ID", []string{"/ip4/192.0.2.3/tcp/1864"}, nil},
		{"malformed", []string{"not an address", good2}, []string{good2}},
		{"too long", []string{long}, nil},
		{"too many", append(many, good2), many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replicas(tc.in, server); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
