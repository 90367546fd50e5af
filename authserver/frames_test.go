package authserver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"eserver/internal/attack"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestMemoryAttacks (issue 21, part 1): strangers' partial frames, trickles
// and bursts of 2,000 streams on the auth and registry protocols pin no
// more than each protocol's request budget, and a user still signs in (a
// whole OPAQUE login) and lists the supernodes while they do. Before, 300
// partial frames took the auth server from 38 MB to 299 MB.
func TestMemoryAttacks(t *testing.T) {
	attack.SkipUnderRace(t)
	if testing.Short() {
		t.Skip("sends tens of MB through loopback")
	}
	f := start(t, "", &clock{t: time.Now()})
	alice := newClient(t)
	if got := register(t, alice, f, "alice", "right"); got != "" {
		t.Fatalf("register: %s", got)
	}
	code, tk := login(t, alice, f, "alice", []byte("right"))
	if code != "" {
		t.Fatalf("login: %s", code)
	}
	t.Run("auth", func(t *testing.T) {
		attack.Check(t, attack.Target{Server: f.info, Protocol: wire.ProtoAuth, MaxFrame: wire.MaxAuthFrame, Budget: f.srv.authRPC.Budget,
			Legit: func(t *testing.T) error {
				if code, _ := login(t, alice, f, "alice", []byte("right")); code != "" {
					return fmt.Errorf("login refused: %s", code)
				}
				return nil
			}})
	})
	t.Run("registry", func(t *testing.T) {
		attack.Check(t, attack.Target{Server: f.info, Protocol: wire.ProtoRegistry, MaxFrame: wire.MaxRegistryFrame, Budget: f.srv.registryRPC.Budget,
			Legit: func(t *testing.T) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err := client.ListSupernodes(ctx, alice, f.srv.ID(), tk)
				return err
			}})
	})
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefusalsSummed (issue 21, part 1): a stranger's stream of refused
// requests — garbage, forged tickets, wrong passwords — is counted by
// reason in the metrics and summed up in one log line per interval, not
// logged line by line (21,000 INFO lines in the outside probe).
func TestRefusalsSummed(t *testing.T) {
	var logs syncBuffer
	f := startWith(t, &clock{t: time.Now()}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		c.RefusalLogInterval = time.Hour // no summary before Close
	})
	c := newClient(t)
	const garbage, forged = 40, 40
	for range garbage {
		st := stream(t, c, f)
		st.Write(frame([]byte{0xff, 0xff, 0xff}))
		st.CloseWrite()
		recv(t, st)
	}
	for range forged {
		st := stream(t, c, f)
		send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_Renew{Renew: &wire.Renew{Ticket: &wire.SignedTicket{Ticket: []byte("forged"), Signature: []byte("x")}}}})
		recv(t, st)
	}
	got := f.srv.Stats().Refused
	if got[RefusedBadRequest] != garbage || got[RefusedUnauthorized] != forged {
		t.Fatalf("refusals counted %v, want %d bad requests and %d unauthorized", got, garbage, forged)
	}
	if n := strings.Count(logs.String(), "\n"); n != 0 {
		t.Fatalf("%d log lines for %d refusals before the summary:\n%s", n, garbage+forged, logs.String())
	}
	f.stop()
	out := logs.String()
	if strings.Count(out, "requests refused") != 1 || !strings.Contains(out, fmt.Sprintf("n=%d", garbage+forged)) {
		t.Fatalf("summary at close:\n%s", out)
	}
}
