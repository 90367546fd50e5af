package node

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/api"
)

// TestWithReplicas: the remembered replicas' addresses join the server's
// when they name its peer ID — once each — and nothing else does.
func TestWithReplicas(t *testing.T) {
	const id = "12D3KooWFUa7w7wHNUYybdzh9M3ruy3TZ7kWAd5dsr5oFrWtkVW1"
	const other = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtZ"
	pid, err := peer.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := ma.StringCast("/ip4/10.0.0.1/tcp/1864"), ma.StringCast("/ip4/10.0.0.2/udp/1864/quic-v1")
	for _, tc := range []struct {
		name     string
		replicas []string
		want     []ma.Multiaddr
	}{
		{"none", nil, []ma.Multiaddr{a1}},
		{"another replica", []string{a2.String() + "/p2p/" + id}, []ma.Multiaddr{a1, a2}},
		{"the server itself, not twice", []string{a1.String() + "/p2p/" + id, a2.String() + "/p2p/" + id}, []ma.Multiaddr{a1, a2}},
		{"another server's", []string{a2.String() + "/p2p/" + other}, []ma.Multiaddr{a1}},
		{"malformed or without its ID", []string{"not an address", a2.String()}, []ma.Multiaddr{a1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withReplicas(peer.AddrInfo{ID: pid, Addrs: []ma.Multiaddr{a1}}, tc.replicas)
			if got.ID != pid || !slices.EqualFunc(got.Addrs, tc.want, ma.Multiaddr.Equal) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSignInAtAReplica: a node whose remembered server address no longer
// answers signs in at a replica its last login listed — without being
// given any address.
func TestSignInAtAReplica(t *testing.T) {
	server := testServer(t)
	tn := newTestNode(t, server, "alice")
	tn.register()
	ai, err := peer.AddrInfoFromString(server)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback refuses: the replica remembered first is gone.
	b, err := json.Marshal(profile{Server: "/ip4/127.0.0.1/tcp/1/p2p/" + ai.ID.String(), Username: "alice", Replicas: []string{server}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tn.profilePath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Login(ctx(t), api.LoginRequest{Username: "alice", Password: tn.pass}); err != nil {
		t.Fatalf("sign-in with the remembered replicas: %v", err)
	}
}
