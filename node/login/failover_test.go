package login_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/login"
	"eserver/node/wire"
	"eserver/pipeline"
)

// dyingReplica stands in for a replica of an auth server that is killed
// mid-exchange: a host with the server's key (replicas share one
// identity) that reads the first request of an auth exchange and then
// dies, dropping every connection. It returns where it listens.
func dyingReplica(t *testing.T, key crypto.PrivKey) ma.Multiaddr {
	t.Helper()
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.SetStreamHandler(wire.ProtoAuth, func(st network.Stream) {
		var req wire.AuthRequest
		wire.ReadMsg(st, wire.MaxAuthFrame, &req)
		go h.Close()
	})
	return h.Addrs()[0]
}

// TestFailover: a client connected to a replica that dies in the middle
// of registering, signing in or renewing tries once more, and the new
// connection reaches the replica that lives — the server's addresses are
// its replicas'. With the dead replica's address alone it fails with
// ErrUnreachable, having tried once more in vain.
func TestFailover(t *testing.T) {
	clk := &clock{t: time.Now()}
	live, key := startKeyedServer(t, clk, "/ip4/127.0.0.1/tcp/0")
	ctx := context.Background()
	c := newClient(t)
	if err := login.Register(ctx, c, live, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	first, err := login.Login(ctx, c, live, login.Request{Username: "alice", Password: "pw-alice", BoxKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func(server peer.AddrInfo) error
	}{
		{"register", func(server peer.AddrInfo) error {
			if err := login.Register(ctx, c, server, "bob", "pw-bob"); err != nil {
				return err
			}
			_, err := login.Login(ctx, c, live, login.Request{Username: "bob", Password: "pw-bob", BoxKey: make([]byte, 32)})
			return err
		}},
		{"login", func(server peer.AddrInfo) error {
			_, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "pw-alice", BoxKey: make([]byte, 32)})
			return err
		}},
		{"renew", func(server peer.AddrInfo) error {
			_, err := login.Renew(ctx, c, server, first.Ticket)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dying := dyingReplica(t, key)
			// Connected to the dying replica only, as a client whose
			// replica is killed while it signs in.
			c.Network().ClosePeer(live.ID)
			c.Peerstore().ClearAddrs(live.ID)
			if err := c.Connect(ctx, peer.AddrInfo{ID: live.ID, Addrs: []ma.Multiaddr{dying}}); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(peer.AddrInfo{ID: live.ID, Addrs: append([]ma.Multiaddr{dying}, live.Addrs...)}); err != nil {
				t.Fatalf("with another replica to go to: %v", err)
			}
		})
	}
	t.Run("no other replica", func(t *testing.T) {
		dying := dyingReplica(t, key)
		c.Network().ClosePeer(live.ID)
		c.Peerstore().ClearAddrs(live.ID)
		only := peer.AddrInfo{ID: live.ID, Addrs: []ma.Multiaddr{dying}}
		if err := c.Connect(ctx, only); err != nil {
			t.Fatal(err)
		}
		if _, err := login.Login(ctx, c, only, login.Request{Username: "alice", Password: "pw-alice", BoxKey: make([]byte, 32)}); !errors.Is(err, login.ErrUnreachable) {
			t.Fatalf("the only replica died mid-login: %v, want ErrUnreachable", err)
		}
	})
}
