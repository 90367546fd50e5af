package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/authserver"
	"eserver/internal/pgtest"
	"eserver/node/login"
	"eserver/pipeline"
)

// startReplica runs eserver-auth on the PostgreSQL database url with the
// key file keyFile, as a process of its own, and returns it with its
// first line's address.
func startReplica(t *testing.T, url, keyFile, mailbox string) (*exec.Cmd, peer.AddrInfo) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+url+" --key-file "+keyFile+" --mailbox-db "+mailbox+" --listen /ip4/127.0.0.1/tcp/0 --register-rate 0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("a replica printed no address")
	}
	ai, err := login.ParseServer(lines.Text())
	if err != nil {
		t.Fatal(err)
	}
	go func() { // the rest of its output, unread, must not block it
		for lines.Scan() {
		}
	}()
	return cmd, ai
}

// TestReplicaKilledMidLogin: two eserver-auth processes on one
// PostgreSQL, signing with one key file. Clients sign up and in at the
// first, which lists both replicas; then, connected to the first only,
// they sign in again and the first is killed with SIGKILL while their
// logins are in the middle of OPAQUE (the client's key stretching runs
// between the server's two answers). Every login completes — at the
// second replica, over a new connection.
func TestReplicaKilledMidLogin(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.CreateDB(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "auth.key")
	if _, err := authserver.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	// The second first: the first's heartbeat at start finds it, so the
	// first's logins list both.
	_, second := startReplica(t, url, keyFile, filepath.Join(dir, "second.mailbox.db"))
	first, firstAddr := startReplica(t, url, keyFile, filepath.Join(dir, "first.mailbox.db"))
	if firstAddr.ID != second.ID {
		t.Fatalf("replicas %s and %s: one key file, two identities", firstAddr.ID, second.ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const clients = 2
	type client struct {
		h        host.Host
		user     string
		replicas peer.AddrInfo
	}
	var cs []client
	var took time.Duration // the longest login: the kill comes in its middle
	for i := range clients {
		key, _, _ := crypto.GenerateEd25519Key(nil)
		h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		user := "user" + string(rune('a'+i))
		if err := login.Register(ctx, h, firstAddr, user, "correct horse"); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		res, err := login.Login(ctx, h, firstAddr, login.Request{Username: user, Password: "correct horse", BoxKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		took = max(took, time.Since(t0))
		all := peer.AddrInfo{ID: firstAddr.ID}
		for _, r := range res.Replicas {
			ai, err := login.ParseServer(r)
			if err != nil {
				t.Fatal(err)
			}
			all.Addrs = append(all.Addrs, ai.Addrs...)
		}
		for _, a := range append(slices.Clone(firstAddr.Addrs), second.Addrs...) {
			if !slices.ContainsFunc(all.Addrs, a.Equal) {
				t.Fatalf("the login listed %v: not %v", res.Replicas, a)
			}
		}
		cs = append(cs, client{h: h, user: user, replicas: all})
	}

	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i, c := range cs {
		// Connected to the first replica only.
		c.h.Network().ClosePeer(firstAddr.ID)
		c.h.Peerstore().ClearAddrs(firstAddr.ID)
		if err := c.h.Connect(ctx, firstAddr); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			_, errs[i] = login.Login(ctx, c.h, c.replicas, login.Request{Username: c.user, Password: "correct horse", BoxKey: make([]byte, 32)})
		})
	}
	t.Logf("a login takes %v here", took)
	time.Sleep(took / 2) // KE1 answered; the clients stretch
	if err := first.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, c := range cs {
		if errs[i] != nil {
			t.Errorf("%s: the login broken off by the kill did not complete at the other replica: %v", c.user, errs[i])
			continue
		}
		conns := c.h.Network().ConnsToPeer(firstAddr.ID)
		if len(conns) == 0 || !slices.ContainsFunc(second.Addrs, conns[0].RemoteMultiaddr().Equal) {
			t.Errorf("%s signed in over %v, want the second replica at %v", c.user, conns, second.Addrs)
		}
	}
}
