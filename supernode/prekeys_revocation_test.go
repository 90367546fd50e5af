package supernode

import (
	"testing"
	"time"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestPrekeysRefuseRevokedDevice: the prekey directory refuses the ticket of
// a revoked device before it expires, as every other service does. Before
// the services shared the pipeline's Authenticate stage it did not check
// revocations at all, so a revoked device could keep publishing and
// draining one-time prekeys until its ticket ran out.
func TestPrekeysRefuseRevokedDevice(t *testing.T) {
	rev := &client.Revocations{}
	e := newPrekeysEnv(t, PrekeysConfig{Revocations: rev})
	rev.Auth = e.authID
	rev.Now = e.clock.Now
	alice, aliceT := e.client("alice")
	status := &wire.PrekeysRequest{Kind: &wire.PrekeysRequest_Status{Status: &wire.PrekeysStatus{Ticket: aliceT}}}

	if resp := e.raw(t, alice.ID(), status); resp.GetError() != "" {
		t.Fatalf("status before revocation refused: %q", resp.GetError())
	}
	if err := rev.Apply(sntest.RevocationList(t, e.auth, 0, 1, false,
		ticket.Revocation{Serial: 1, Peer: alice.ID(), Horizon: e.clock.Now().Add(time.Hour)})); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if resp := e.raw(t, alice.ID(), status); resp.GetError() != wire.CodeUnauthorized {
		t.Fatalf("status of a revoked device answered %q, want %q", resp.GetError(), wire.CodeUnauthorized)
	}
	// And over a real stream, through the client.
	if _, err := client.PrekeysStatus(sntest.Ctx(t), alice, e.h.ID(), aliceT); err == nil {
		t.Fatal("a revoked device's status request was answered")
	}
}
