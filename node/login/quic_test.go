package login_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"eserver/node/login"
)

// TestOverQUIC: registering and signing in work over QUIC as over TCP.
// They did not: the server's Close after its answer stops the client's
// sending side (QUIC's STOP_SENDING), and the client's own Close then
// failed the exchange it had completed — nearly every time.
func TestOverQUIC(t *testing.T) {
	server := startServerOn(t, &clock{t: time.Now()}, "/ip4/127.0.0.1/udp/0/quic-v1")
	c, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for i := range 3 {
		u := fmt.Sprintf("user%d", i)
		if err := login.Register(ctx, c, server, u, "pw"); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
		if _, err := login.Login(ctx, c, server, login.Request{Username: u, Password: "pw"}); err != nil {
			t.Fatalf("login %s: %v", u, err)
		}
	}
}
