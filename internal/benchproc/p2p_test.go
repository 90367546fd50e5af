package benchproc

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
)

func TestPingAndTicket(t *testing.T) {
	server, err := ServerHost() // answers pings
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	node, err := NewHost("127.0.0.1", true)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	addr, ok := strings.CutPrefix(Ready(server), "ADDR ")
	if !ok {
		t.Fatalf("ready line %q", Ready(server))
	}
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil || ai.ID != server.ID() {
		t.Fatalf("AddrOf does not read back: %v, %v", ai, err)
	}
	ctx := context.Background()
	if err := node.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	if err := PingOnce(ctx, node, server.ID()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := PingOnce(ctx, server, node.ID()); err == nil {
		t.Fatal("a light host answered a ping")
	}

	authKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authID, _ := peer.IDFromPrivateKey(authKey)
	st, err := SignTicket(authKey, "alice", "bench", node)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tk, err := ticket.VerifyFor(authID, node.ID(), st, now)
	if err != nil {
		t.Fatalf("the ticket does not verify: %v", err)
	}
	if tk.Username != "alice" || tk.Role != ticket.RoleNode || !tk.AccountCreated.Before(now.Add(-AccountAge+ticket.AccountGrain)) {
		t.Fatalf("ticket %+v", tk)
	}
}
