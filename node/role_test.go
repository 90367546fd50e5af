package node

import (
	"errors"
	"eserver/node/role"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/api"
	"eserver/node/promotion"
	"eserver/supernode/client"
)

// TestPromotionAndDemotion drives a node's promotion with synthetic
// reachability events and a fake memory probe: it becomes a supernode (its
// services answer and the registry lists it), then, once it is no longer
// publicly reachable for the sustain period, a node again.
func TestPromotionAndDemotion(t *testing.T) {
	server := testServer(t)
	alice := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: "pw-alice"}
	alice.supernode = promotion.Config{
		Allowed:        true,
		Settle:         100 * time.Millisecond,
		Sustain:        300 * time.Millisecond,
		MemoryInterval: 50 * time.Millisecond,
		Memory:         func() (uint64, error) { return 8 << 30, nil },
		Addrs: func() []ma.Multiaddr {
			return []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1865"), ma.StringCast("/ip4/1.2.3.4/udp/1865/quic-v1")}
		},
	}
	alice.open()
	t.Cleanup(alice.stop)
	alice.register()
	alice.login()
	s, _ := alice.current()

	em, err := s.host.EventBus().Emitter(new(event.EvtLocalReachabilityChanged), eventbus.Stateful)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	em.Emit(event.EvtLocalReachabilityChanged{Reachability: network.ReachabilityPublic})
	e := alice.waitFor("promotion", func(e api.Event) bool { return e.Role != nil })
	if e.Role.Role != api.RoleSupernode || e.Role.Error != "" {
		t.Fatalf("role event %+v", e.Role)
	}
	if alice.Role() != api.RoleSupernode {
		t.Fatalf("Role() = %s", alice.Role())
	}
	// The registry lists alice's host among the supernodes.
	waitUntil(t, "alice in the registry", func() bool {
		list, err := client.ListSupernodes(ctx(t), s.host, s.server.ID, s.tk().Signed)
		if err != nil {
			return false
		}
		for _, sn := range list {
			if sn.Addrs.ID == s.host.ID() {
				return true
			}
		}
		return false
	})

	// The upload cap reaches the running relay, is reported in the
	// account, and is remembered; a negative one is refused.
	upload := int64(256 << 10)
	if err := alice.SetSupernode(ctx(t), api.SupernodeSettings{UploadCap: &upload}); err != nil {
		t.Fatalf("SetSupernode: %v", err)
	}
	e = alice.waitFor("the account with the cap", func(e api.Event) bool { return e.Account != nil && e.Account.SupernodeUploadCap == upload })
	if !e.Account.SupernodeAllowed {
		t.Fatalf("setting the cap changed the opt-in: %+v", e.Account)
	}
	svc := s.role.Services()
	if svc == nil || svc.Relay.UploadRate() != upload {
		t.Fatalf("relay upload rate not %d (services %v)", upload, svc != nil)
	}
	if v, _ := s.store.Setting(role.SettingUploadCap); v != "262144" {
		t.Fatalf("remembered cap %q", v)
	}
	negative := int64(-1)
	if err := alice.SetSupernode(ctx(t), api.SupernodeSettings{UploadCap: &negative}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("negative cap: %v, want ErrBadRequest", err)
	}

	em.Emit(event.EvtLocalReachabilityChanged{Reachability: network.ReachabilityPrivate})
	e = alice.waitFor("demotion", func(e api.Event) bool { return e.Role != nil })
	if e.Role.Role != api.RoleNode || e.Role.Reason != string(promotion.ReasonNotPublic) {
		t.Fatalf("role event %+v", e.Role)
	}
}
