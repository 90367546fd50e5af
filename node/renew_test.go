package node

import (
	"eserver/pipeline"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"eserver/authserver"
	"eserver/node/ticket"
	"eserver/supernode"
)

// TestTicketRenewal: a session whose ticket is already past three quarters
// of its life renews it at once, without the password, and keeps chatting.
// The region pass (the server places 127/8 in ES here) is replaced with
// the ticket: RegionPass always pairs a ticket with its own pass.
func TestTicketRenewal(t *testing.T) {
	// An auth server whose clock starts 20 hours behind: the first ticket is
	// issued "20 hours ago" and is due for renewal; then the clock is right.
	var behind atomic.Bool
	behind.Store(true)
	now := func() time.Time {
		if behind.Load() {
			return time.Now().Add(-20 * time.Hour)
		}
		return time.Now()
	}
	db := filepath.Join(t.TempDir(), "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	regions, err := authserver.ParseRegionRanges([]string{"127.0.0.0/8=ES"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Now: now, Logger: testLogger(), SelfSupernode: true, RegisterRate: -1, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Attach(h)
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: h.ID(), MailboxDB: filepath.Join(t.TempDir(), "mailbox.db"), Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	server, err := pipeline.DialAddr(h)
	if err != nil {
		t.Fatal(err)
	}

	alice := newTestNode(t, server.String(), "alice")
	alice.register()
	alice.login()
	s, err := alice.current()
	if err != nil {
		t.Fatal(err)
	}
	first := s.tk()
	checkPass := func(want *ticket.Ticket) {
		t.Helper()
		tk, p := s.RegionPass()
		if tk != want || p == nil || p.Region != "ES" {
			t.Fatalf("RegionPass = %+v, %+v; want an ES pass with ticket %+v", tk, p, want)
		}
		if _, err := ticket.VerifyPass(h.ID(), p.Signed, tk, time.Now()); err != nil {
			t.Fatalf("our pass with our ticket: %v", err)
		}
	}
	checkPass(first)
	behind.Store(false)
	for range 100 {
		if s.tk().Expiry.After(first.Expiry) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	renewed := s.tk()
	if !renewed.Expiry.After(first.Expiry) || renewed.Peer != first.Peer || renewed.Username != "alice" {
		t.Fatalf("ticket not renewed: first expires %v, now %v", first.Expiry, renewed.Expiry)
	}
	if time.Until(renewAt(renewed)) < time.Hour {
		t.Fatalf("renewed ticket due again at %v", renewAt(renewed))
	}
	checkPass(renewed)

	// Peers accept the renewed ticket.
	bob := newTestNode(t, server.String(), "bob")
	bob.register()
	bob.login()
	befriend(t, alice, bob)
}
