package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"eserver/authserver"
	"eserver/node/login"
	"eserver/supernode"
)

func TestMain(m *testing.M) {
	if os.Getenv("ESERVER_AUTH_AS_MAIN") == "1" {
		os.Args = append([]string{"eserver-auth"}, strings.Split(os.Getenv("ESERVER_AUTH_ARGS"), " ")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBinary runs eserver-auth as a process: its first stdout line is a
// dialable address where registration, login and the rendezvous work, and
// SIGTERM shuts it down cleanly.
func TestBinary(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+db+" --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("no first line")
	}
	addr := lines.Text()
	server, err := login.ParseServer(addr)
	if err != nil || !strings.Contains(addr, "/tcp/") {
		t.Fatalf("first line %q: %v", addr, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, _, _ := crypto.GenerateEd25519Key(nil)
	h, err := authserver.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := login.Register(ctx, h, server, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	res, err := login.Login(ctx, h, server, login.Request{Username: "alice", Password: "pw", BoxKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	// It lists itself as a supernode, in the login result and the registry.
	if sns := supernode.ParseSupernodes(server.ID, res.Supernodes); len(sns) != 1 || sns[0].Addrs.ID != server.ID {
		t.Fatalf("login result lists supernodes %+v, want the server itself", sns)
	}
	h.Peerstore().AddAddrs(server.ID, server.Addrs, time.Hour)
	if sns, err := supernode.ListSupernodes(ctx, h, server.ID, res.Ticket.Signed); err != nil || len(sns) != 1 || sns[0].Addrs.ID != server.ID {
		t.Fatalf("registry lists %+v, %v; want the server itself", sns, err)
	}
	if err := supernode.Publish(ctx, h, server.ID, res.Ticket.Signed); err != nil {
		t.Fatalf("rendezvous beside the auth server: %v", err)
	}
	found, err := supernode.Lookup(ctx, h, server.ID, res.Ticket.Signed, []string{"alice"})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v, %v", found, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}
