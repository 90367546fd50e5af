package authserver

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// replicas starts n servers on one fresh PostgreSQL database, each on a
// libp2p host of its own on 127.0.0.1, their Configs changed by mod. They
// share the server's key (LoadOrCreateKey reads it from the database), as
// replicas do, so their hosts have one peer ID: a client host must talk to
// one replica only, or libp2p would reuse its connection to another.
func replicas(t *testing.T, n int, clk *clock, mod func(*Config)) []*fixture {
	t.Helper()
	db := sharedPG(t).CreateDB(t)
	var fs []*fixture
	for range n {
		fs = append(fs, startOn(t, db, clk, mod))
	}
	return fs
}

// TestLimitsAcrossReplicas: failed logins at two replicas of one database
// add up, per account and per address, and the attempt past the limit is
// refused at either, without any OPAQUE work.
func TestLimitsAcrossReplicas(t *testing.T) {
	const maxAcct, maxAddr = 4, 3
	tests := []struct {
		name             string
		limit            int
		acctMax, addrMax int
		user             func(i int) string
	}{
		{"per account", maxAcct, maxAcct, 100, func(int) string { return "alice" }},
		{"per address", maxAddr, 100, maxAddr, func(i int) string { return fmt.Sprintf("user%d", i) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := replicas(t, 2, &clock{t: time.Now()}, func(c *Config) { c.MaxFailures, c.MaxAddrFailures = tt.acctMax, tt.addrMax })
			cs := []host.Host{newClient(t), newClient(t)}
			ke2s := func() uint64 { return rs[0].srv.stats.ke2.Load() + rs[1].srv.stats.ke2.Load() }
			for i := range tt.limit {
				r, err := guess(cs[i%2], rs[i%2], tt.user(i))
				if err != nil {
					t.Fatal(err)
				}
				if got := errCode(r); got != CodeLoginFailed {
					t.Fatalf("attempt %d at replica %d: %q, want %q", i+1, i%2+1, got, CodeLoginFailed)
				}
			}
			for j := range rs {
				r, err := guess(cs[j], rs[j], tt.user(tt.limit))
				if err != nil {
					t.Fatal(err)
				}
				if got := errCode(r); got != CodeRateLimited {
					t.Fatalf("attempt past the limit at replica %d: %q, want %q", j+1, got, CodeRateLimited)
				}
			}
			if got := ke2s(); got != uint64(tt.limit) {
				t.Fatalf("%d KE2s computed by the replicas together, want %d", got, tt.limit)
			}
		})
	}
}

// TestRegistrationAcrossReplicas: one address's registrations at two
// replicas add up to one allowance.
func TestRegistrationAcrossReplicas(t *testing.T) {
	const rate = 2
	clk := &clock{t: time.Now()}
	rs := replicas(t, 2, clk, func(c *Config) { c.RegisterRate = rate })
	cs := []host.Host{newClient(t), newClient(t)}
	for i := range rate {
		if got := register(t, cs[i%2], rs[i%2], fmt.Sprintf("user%d", i), "pw"); got != "" {
			t.Fatalf("registration %d at replica %d: %q", i+1, i%2+1, got)
		}
	}
	for j := range rs {
		if got := register(t, cs[j], rs[j], "onemore", "pw"); got != CodeRateLimited {
			t.Fatalf("registration past the limit at replica %d: %q, want %q", j+1, got, CodeRateLimited)
		}
	}
	clk.Advance(RegisterWindow)
	if got := register(t, cs[1], rs[1], "onemore", "pw"); got != "" {
		t.Fatalf("a window later: %q", got)
	}
}

// TestRegistryAcrossReplicas: a supernode that heartbeats at replica 1 is
// listed by replica 2 — in a login result and a list answer — and keeps
// its ticket when its next heartbeat goes to replica 2; it drops out of
// both lists once its heartbeats stop.
func TestRegistryAcrossReplicas(t *testing.T) {
	clk := &clock{t: time.Now()}
	rs := replicas(t, 2, clk, nil)
	key, err := LoadOrCreateKey(rs[0].db)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := &regFixture{fixture: rs[0], key: key}, &regFixture{fixture: rs[1], key: key}
	sn, bob := newClient(t), newClient(t)

	op := r1.nodeTicket(t, "operator", sn.ID())
	first := r1.heartbeat(t, sn, op, recordOf(t, sn))
	if first.Error != "" {
		t.Fatalf("heartbeat at replica 1: %q", first.Error)
	}
	if code := register(t, bob, rs[1], "bob", "pw"); code != "" {
		t.Fatalf("register at replica 2: %q", code)
	}
	lr := loginResult(t, bob, rs[1], "bob", "pw")
	if got := r2.verifyInfos(t, lr.Supernodes); !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("login at replica 2 lists %v, want %v", got, sn.ID())
	}
	bt := r2.nodeTicket(t, "bob", bob.ID())
	if got := r2.list(t, bob, bt); !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("replica 2 lists %v", got)
	}
	if n, err := rs[1].srv.LiveSupernodes(t.Context()); err != nil || n != 1 {
		t.Fatalf("replica 2 counts %d live supernodes, %v", n, err)
	}

	// The next heartbeat, at the other replica, refreshes the same entry
	// with the same ticket. (sn's host is connected to replica 1, whose
	// peer ID replica 2 shares: this one goes through replica 2's pipeline
	// without a host.)
	clk.Advance(wire.HeartbeatInterval)
	again := rs[1].srv.registryExchange(t, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{
		Ticket: op, PeerRecord: recordOf(t, sn)}}}, sn.ID())
	if again.Error != "" || !proto.Equal(again.SupernodeTicket, first.SupernodeTicket) {
		t.Fatalf("heartbeat at replica 2: %q, same ticket %v", again.Error, proto.Equal(again.SupernodeTicket, first.SupernodeTicket))
	}
	clk.Advance(wire.SupernodeTTL - time.Second)
	listed := rs[0].srv.registryExchange(t, &wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: bt}}}, bob.ID())
	if got := r1.verifyInfos(t, listed.Supernodes); listed.Error != "" || !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("replica 1 lists %v (%q) within the TTL of the heartbeat at replica 2", got, listed.Error)
	}
	clk.Advance(time.Second)
	for i, r := range []*regFixture{r1, r2} {
		if got := r.srv.Supernodes(wire.MaxRegistryFrame); len(got) != 0 {
			t.Fatalf("replica %d lists %d supernodes after the TTL", i+1, len(got))
		}
	}
}
