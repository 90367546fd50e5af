package bundle

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"eserver/authserver"
	"eserver/node/login"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// TestEnsureSharesOneServer: the first caller starts the service, a second
// one (another profile) finds and uses it, and after the first closes, the
// next caller takes over with the same identity and accounts.
func TestEnsureSharesOneServer(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()

	addr1, svc1, err := Ensure(ctx, cfg)
	if err != nil || svc1 == nil {
		t.Fatalf("first Ensure: %v, %v", svc1, err)
	}
	if !strings.Contains(addr1, "/ip4/127.0.0.1/tcp/") || !strings.Contains(addr1, "/p2p/"+svc1.Host.ID().String()) {
		t.Fatalf("address %q", addr1)
	}
	addr2, svc2, err := Ensure(ctx, cfg)
	if err != nil || svc2 != nil || addr2 != addr1 {
		t.Fatalf("second Ensure: %q, %v, %v; want the running %q", addr2, svc2, err, addr1)
	}

	// An account made through the first process...
	ai, err := login.ParseServer(addr1)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(nil)
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := login.Register(ctx, h, ai, "alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := svc1.Close(); err != nil {
		t.Fatal(err)
	}

	// ...is there when another process takes over.
	addr3, svc3, err := Ensure(ctx, cfg)
	if err != nil || svc3 == nil {
		t.Fatalf("takeover: %v, %v", svc3, err)
	}
	defer svc3.Close()
	if svc3.Host.ID() != svc1.Host.ID() {
		t.Fatalf("identity changed on takeover: %s, was %s", svc3.Host.ID(), svc1.Host.ID())
	}
	ai3, _ := login.ParseServer(addr3)
	res, err := login.Login(ctx, h, ai3, login.Request{Username: "alice", Password: "secret", BoxKey: make([]byte, 32)})
	if err != nil {
		t.Fatalf("login after takeover: %v", err)
	}
	if res.Ticket.Server != svc3.Host.ID() {
		t.Fatal("ticket from the wrong server")
	}
	// The bundle is its own supernode: the login result lists it, with the
	// addresses it listens on.
	sns := client.ParseSupernodes(svc3.Host.ID(), res.Supernodes)
	if len(sns) != 1 || sns[0].Addrs.ID != svc3.Host.ID() || sns[0].Ticket.Username != authserver.SelfUsername || len(sns[0].Addrs.Addrs) == 0 {
		t.Fatalf("login result lists supernodes %+v, want the bundle itself", sns)
	}
}
