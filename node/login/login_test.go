package login_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/authserver"
	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const rendezvous = "/ip4/127.0.0.1/tcp/1865/p2p/12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b"

// startServer runs an auth server on 127.0.0.1 and returns its address.
func startServer(t testing.TB, clk *clock) peer.AddrInfo {
	t.Helper()
	return startServerOn(t, clk, "/ip4/127.0.0.1/tcp/0")
}

// startServerOn runs an auth server listening on listen.
func startServerOn(t testing.TB, clk *clock, listen string) peer.AddrInfo {
	t.Helper()
	ai, _ := startKeyedServer(t, clk, listen)
	return ai
}

// startKeyedServer is startServerOn, also returning the server's key.
func startKeyedServer(t testing.TB, clk *clock, listen string) (peer.AddrInfo, crypto.PrivKey) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{listen})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Now: clk.Now, Rendezvous: []string{rendezvous}, Logger: slog.New(slog.DiscardHandler), RegisterRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Attach(h)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		h.Close()
	})
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, key
}

func newClient(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRegisterAndLogin(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	c := newClient(t)

	for _, u := range []string{"alice", "bob.smith"} {
		if err := login.Register(ctx, c, server, u, "pw-"+u); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}

	tests := []struct {
		name     string
		register bool
		user, pw string
		want     error
	}{
		{"duplicate username", true, "alice", "other", login.ErrUsernameTaken},
		{"bad username", true, "Alice!", "pw", login.ErrBadRequest},
		{"too short username", true, "al", "pw", login.ErrBadRequest},
		{"empty password", true, "carol", "", login.ErrBadRequest},
		{"wrong password", false, "alice", "pw-bob.smith", login.ErrLoginFailed},
		{"unknown user", false, "mallory", "pw-alice", login.ErrLoginFailed},
		{"bad username at login", false, "ALICE", "pw-alice", login.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.register {
				err = login.Register(ctx, c, server, tt.user, tt.pw)
			} else {
				_, err = login.Login(ctx, c, server, login.Request{Username: tt.user, Password: tt.pw})
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("login", func(t *testing.T) {
		box := bytes.Repeat([]byte{7}, 32)
		res, err := login.Login(ctx, c, server, login.Request{Username: "bob.smith", Password: "pw-bob.smith", Device: "laptop", BoxKey: box})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rendezvous) != 1 || res.Rendezvous[0] != rendezvous {
			t.Errorf("rendezvous %v", res.Rendezvous)
		}
		// Offline verification from the raw signed bytes and the server's peer ID only.
		tk, err := ticket.VerifyFor(server.ID, c.ID(), res.Ticket.Signed, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if tk.Username != "bob.smith" || tk.Device != "laptop" || !bytes.Equal(tk.BoxKey, box) || tk.Role != ticket.RoleNode {
			t.Errorf("ticket %+v", tk)
		}
		if got := tk.Expiry.Sub(tk.Issued); got != wire.TicketLifetime {
			t.Errorf("lifetime %v", got)
		}
		// The card the rendezvous shows strangers: this device's keys, no
		// device name, no sign-in time, and never usable as a ticket.
		card, err := ticket.VerifyCard(server.ID, res.Ticket.PublicCard, time.Now())
		if err != nil {
			t.Fatalf("card: %v", err)
		}
		if !card.Matches(tk) || card.Device != "" || card.Role != "" || !card.Issued.Equal(tk.Issued.Truncate(ticket.CardGrain)) {
			t.Errorf("card %+v for ticket %+v", card, tk)
		}
		if _, err := ticket.Verify(server.ID, res.Ticket.PublicCard, time.Now()); !errors.Is(err, ticket.ErrBadSignature) {
			t.Errorf("card verifies as a ticket: %v", err)
		}
		if _, err := ticket.VerifyFor(server.ID, newClient(t).ID(), res.Ticket.Signed, time.Now()); !errors.Is(err, ticket.ErrWrongPeer) {
			t.Errorf("ticket accepted for another peer: %v", err)
		}
	})
}

// Five failures within the window and the sixth attempt is refused without
// OPAQUE — even with the right password — for a real and an unknown account
// alike; the refusal ends when the window has passed.
func TestRateLimit(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	c := newClient(t)
	if err := login.Register(ctx, c, server, "alice", "right"); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "ghost"} {
		t.Run(user, func(t *testing.T) {
			for i := range authserver.DefaultMaxFailures {
				_, err := login.Login(ctx, c, server, login.Request{Username: user, Password: "wrong"})
				if !errors.Is(err, login.ErrLoginFailed) {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
				clk.Advance(time.Minute)
			}
			_, err := login.Login(ctx, c, server, login.Request{Username: user, Password: "right"})
			if !errors.Is(err, login.ErrRateLimited) {
				t.Fatalf("sixth attempt: %v, want rate limited", err)
			}
			clk.Advance(authserver.DefaultFailureWindow)
		})
	}
	if _, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "right"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	c := newClient(t)
	other := newClient(t) // a live peer that does not speak the auth protocol
	ctx := context.Background()
	srv := peer.AddrInfo{ID: other.ID(), Addrs: other.Addrs()}
	if err := login.Register(ctx, c, srv, "alice", "pw"); !errors.Is(err, login.ErrUnreachable) {
		t.Errorf("no auth protocol: %v", err)
	}
	other.Close()
	if _, err := login.Login(ctx, c, srv, login.Request{Username: "alice", Password: "pw"}); !errors.Is(err, login.ErrUnreachable) {
		t.Errorf("closed host: %v", err)
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{rendezvous, true},
		{"/ip4/127.0.0.1/tcp/1864", false},
		{"nonsense", false},
	}
	for _, tt := range tests {
		ai, err := login.ParseServer(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v", tt.in, err)
		}
		if !tt.ok && !errors.Is(err, login.ErrBadRequest) {
			t.Errorf("%q: %v, want ErrBadRequest", tt.in, err)
		}
		if tt.ok && (ai.ID == "" || len(ai.Addrs) != 1) {
			t.Errorf("%q: %+v", tt.in, ai)
		}
	}
}

func TestRenew(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	c := newClient(t)
	if err := login.Register(ctx, c, server, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	box := bytes.Repeat([]byte{9}, 32)
	first, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "pw", Device: "desk", BoxKey: box})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	renewed, err := login.Renew(ctx, c, server, first.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	tk := renewed.Ticket
	if tk.Username != "alice" || tk.Device != "desk" || !bytes.Equal(tk.BoxKey, box) || !tk.Expiry.After(first.Ticket.Expiry) || tk.PublicCard == nil {
		t.Fatalf("renewed ticket %+v, first %+v", tk, first.Ticket)
	}

	// Another peer presenting alice's ticket gets nothing, nor does an
	// expired ticket.
	if _, err := login.Renew(ctx, newClient(t), server, first.Ticket); !errors.Is(err, login.ErrLoginFailed) {
		t.Fatalf("renewal by a thief: %v", err)
	}
	clk.Advance(wire.TicketLifetime)
	if _, err := login.Renew(ctx, c, server, first.Ticket); !errors.Is(err, login.ErrLoginFailed) {
		t.Fatalf("renewal of an expired ticket: %v", err)
	}
}

// TestExportKey: two devices signing in with the same password get the same
// export key; another account gets another; a renewal carries none.
func TestExportKey(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	laptop, phone := newClient(t), newClient(t)
	for _, u := range []string{"alice", "bob"} {
		if err := login.Register(ctx, laptop, server, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	a1, err := login.Login(ctx, laptop, server, login.Request{Username: "alice", Password: "pw", Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := login.Login(ctx, phone, server, login.Request{Username: "alice", Password: "pw", Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := login.Login(ctx, phone, server, login.Request{Username: "bob", Password: "pw", Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a1.ExportKey) < 32 || !bytes.Equal(a1.ExportKey, a2.ExportKey) {
		t.Fatalf("alice's export keys differ across devices: %x, %x", a1.ExportKey, a2.ExportKey)
	}
	if bytes.Equal(a1.ExportKey, b.ExportKey) {
		t.Fatal("alice and bob share an export key")
	}
	r, err := login.Renew(ctx, laptop, server, a1.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExportKey != nil {
		t.Fatal("a renewal carried an export key")
	}
}
