package login_test

import (
	"context"
	"testing"
	"time"

	"eserver/node/login"
)

// BenchmarkLogin measures whole sign-ins against a real auth server on
// loopback: stream, OPAQUE KE1/KE2/KE3 and the signed ticket. One client
// host, so the figure is per-login server and client work plus a round trip.
func BenchmarkLogin(b *testing.B) {
	clk := &clock{t: time.Now()}
	server := startServer(b, clk)
	h := newClient(b)
	ctx := context.Background()
	if err := login.Register(ctx, h, server, "alice", "correct horse"); err != nil {
		b.Fatal(err)
	}
	req := login.Request{Username: "alice", Password: "correct horse", BoxKey: make([]byte, 32)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := login.Login(ctx, h, server, req); err != nil {
			b.Fatal(err)
		}
	}
}
