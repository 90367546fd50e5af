package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/poll"
	"eserver/node"
	"eserver/node/api"
	"eserver/node/login"
	"eserver/node/nodetest"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// supernodeProc is one eserver-supernode process.
type supernodeProc struct {
	id   peer.ID
	kill func()
}

// startSupernodes runs n supernode processes against server, each with its
// own operator account, and waits until the registry lists them all.
func startSupernodes(t *testing.T, server string, n int) []supernodeProc {
	t.Helper()
	ai, err := login.ParseServer(server)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	operator, err := pipeline.NewHost(mustKey(t), []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	var procs []supernodeProc
	for i := range n {
		user := fmt.Sprintf("operator%d", i)
		if err := login.Register(ctx, operator, ai, user, "pw"); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pw := filepath.Join(dir, "password")
		os.WriteFile(pw, []byte("pw\n"), 0o600)
		cmd := command("--profile", filepath.Join(dir, "p"), "--server", server, "--username", user,
			"--password-file", pw, "--listen", "/ip4/127.0.0.1/tcp/0")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		kill := func() {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		t.Cleanup(kill)
		lines := bufio.NewScanner(out)
		if !lines.Scan() {
			t.Fatalf("supernode %d printed nothing", i)
		}
		sn, err := peer.AddrInfoFromString(lines.Text())
		if err != nil {
			t.Fatalf("supernode %d: %q: %v", i, lines.Text(), err)
		}
		go func() {
			for lines.Scan() {
			}
		}()
		procs = append(procs, supernodeProc{id: sn.ID, kill: kill})
	}
	res, err := login.Login(ctx, operator, ai, login.Request{Username: "operator0", Password: "pw", BoxKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		list, err := client.ListSupernodes(ctx, operator, ai.ID, res.Ticket.Signed)
		if err == nil && len(list) == n {
			return procs
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the registry never listed all %d supernodes", n)
	return nil
}

// TestFailover: with four supernode processes, SIGKILL one of bob's homes
// mid-conversation: bob re-homes to a live supernode and nothing is lost or
// duplicated. Then, with bob offline and his mail waiting at his homes,
// SIGKILL another of them: bob still gets every message exactly once.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts supernode processes")
	}
	_, server := nodetest.AuthServer(t)
	procs := startSupernodes(t, server, 4)
	byID := map[string]supernodeProc{}
	for _, p := range procs {
		byID[p.id.String()] = p
	}

	cfg := node.Config{RetryMax: 300 * time.Millisecond, LookupInterval: time.Second}
	alice := nodetest.Open(t, server, "alice", cfg)
	bob := nodetest.Open(t, server, "bob", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, c := range []*nodetest.Node{alice, bob} {
		c.SignUp()
		c.SignIn()
	}
	nodetest.Befriend(t, alice, bob)

	homes := bob.Homes()
	if len(homes) != 3 {
		t.Fatalf("bob has %d homes, want 3: %v", len(homes), homes)
	}

	// Part 1: kill one of bob's homes in the middle of a conversation.
	const n = 40
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := alice.Send(ctx, "bob", fmt.Sprintf("live %d", i)); err != nil {
				sent <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		sent <- nil
	}()
	first := bob.Messages("alice", n/2)
	victim := homes[0]
	byID[victim].kill()
	rest := bob.Messages("alice", n-n/2)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for i, msg := range append(first, rest...) {
		if msg.Text != fmt.Sprintf("live %d", i) {
			t.Fatalf("message %d is %q", i, msg.Text)
		}
	}
	// Re-homing is waited for, not timed: what matters is that it happens
	// and that no message was lost or duplicated on the way (above).
	poll.UntilNil(t, "bob re-homes away from the killed supernode", func() error {
		if now := bob.Homes(); len(now) != 3 || slices.Contains(now, victim) {
			return fmt.Errorf("bob's homes %v (killed: %s)", now, victim)
		}
		return nil
	})

	// Part 2: bob offline; alice's messages wait in his mailboxes; one of
	// his homes dies; alice leaves too; bob comes back.
	homes = bob.Homes()
	bob.Stop()
	alice.WaitFor("bob offline", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "bob" && e.Contact.Status == api.StatusOffline
	})
	const m = 30
	for i := range m {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("mail %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitHandedOver(t, alice, "bob")
	byID[homes[1]].kill()
	alice.Stop()
	bob.Start()
	bob.SignIn()
	for i, msg := range bob.Messages("alice", m) {
		if msg.Text != fmt.Sprintf("mail %d", i) {
			t.Fatalf("mail %d is %q", i, msg.Text)
		}
	}
	h, err := bob.History(ctx, "alice", 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n+m {
		t.Fatalf("bob's history holds %d messages, want %d", len(h), n+m)
	}
}

// waitHandedOver waits until from's outbox for peer is empty: every message
// was delivered or left in peer's mailboxes.
func waitHandedOver(t *testing.T, from *nodetest.Node, peer string) {
	t.Helper()
	poll.Until(t, fmt.Sprintf("%s's messages to %s leave the outbox", from.Name, peer), func() bool {
		pending, err := from.Pending(peer)
		return err == nil && pending == 0
	})
}
