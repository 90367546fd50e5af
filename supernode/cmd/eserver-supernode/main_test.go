package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/login"
	"eserver/node/nodetest"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

func TestMain(m *testing.M) {
	if os.Getenv("ESERVER_SUPERNODE_AS_MAIN") == "1" {
		os.Args = append([]string{"eserver-supernode"}, strings.Split(os.Getenv("ESERVER_SUPERNODE_ARGS"), "\n")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_SUPERNODE_AS_MAIN=1", "ESERVER_SUPERNODE_ARGS="+strings.Join(args, "\n"))
	return cmd
}

// TestBinary runs eserver-supernode as a process: its first stdout line is
// a dialable address, it shows up in the auth server's registry, and
// SIGTERM shuts it down cleanly.
func TestBinary(t *testing.T) {
	srv, server := nodetest.AuthServer(t)
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
	if err := login.Register(ctx, operator, ai, "operator", "s3cret pw"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("s3cret pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "profile")

	metrics := freeAddr(t)
	cmd := command("--profile", profile, "--server", server, "--username", "operator", "--password-file", pwFile,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1", "--metrics-addr", metrics)
	cmd.Stderr = os.Stderr
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
	first := lines.Text()
	sn, err := peer.AddrInfoFromString(first)
	if err != nil || !strings.Contains(first, "/tcp/") {
		t.Fatalf("first line %q: %v", first, err)
	}
	if err := operator.Connect(ctx, *sn); err != nil {
		t.Fatalf("dialing the first line: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(profile, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v, %v", fi, err)
	}

	// It shows up in the registry, and its rendezvous serves.
	res, err := login.Login(ctx, operator, ai, login.Request{Username: "operator", Password: "s3cret pw"})
	if err != nil {
		t.Fatal(err)
	}
	operator.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	var listed *client.Supernode
	for listed == nil {
		list, err := client.ListSupernodes(ctx, operator, ai.ID, res.Ticket.Signed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range list {
			if list[i].Addrs.ID == sn.ID {
				listed = &list[i]
			}
		}
		if listed == nil {
			select {
			case <-ctx.Done():
				t.Fatal("the supernode never showed up in the registry")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if listed.Ticket.Username != "operator" || listed.Ticket.Role != ticket.RoleSupernode {
		t.Fatalf("listed as %+v", listed.Ticket)
	}
	if len(srv.Supernodes(wire.MaxRegistryFrame)) != 1 {
		t.Fatal("registry does not hold exactly the one supernode")
	}
	if err := client.Publish(ctx, operator, sn.ID, res.Ticket.Signed); err != nil {
		t.Fatalf("rendezvous at the supernode: %v", err)
	}
	// Its metrics count the publish and see the client connected.
	got := scrapeMetrics(t, metrics)
	if got["eserver_supernode_rendezvous_publishes_total"] != 1 || got["eserver_supernode_connected_peers"] < 1 {
		t.Errorf("metrics: publishes %v, connected peers %v", got["eserver_supernode_rendezvous_publishes_total"], got["eserver_supernode_connected_peers"])
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
	if _, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		t.Error("metrics still served after exit")
	}
}

// TestBadPassword: a refused sign-in is fatal, before anything is printed.
func TestBadPassword(t *testing.T) {
	_, server := nodetest.AuthServer(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	os.WriteFile(pwFile, []byte("nope\n"), 0o600)
	cmd := command("--profile", filepath.Join(dir, "p"), "--server", server, "--username", "nobody", "--password-file", pwFile,
		"--listen", "/ip4/127.0.0.1/tcp/0")
	out, err := cmd.Output()
	if err == nil {
		t.Fatal("exited cleanly with a wrong password")
	}
	if len(out) != 0 {
		t.Fatalf("printed %q before signing in", out)
	}
}

func TestFlags(t *testing.T) {
	var sink strings.Builder
	if _, err := parseFlags([]string{"--profile", "x"}, &sink); err == nil {
		t.Fatal("accepted missing flags")
	}
	o, err := parseFlags([]string{"--profile", "x", "--server", "/ip4/127.0.0.1/tcp/1864/p2p/12D3KooWGRvVEnBvNf1kDMcBMj2E7kXbXhy5GZJc8TRb8xGJk1Bc",
		"--username", "op", "--password-file", "f"}, &sink)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.listen, " ") != strings.Join(DefaultListen, " ") {
		t.Fatalf("default listen %v", o.listen)
	}
	if o.metricsAddr != "" {
		t.Fatalf("metrics on by default at %q", o.metricsAddr)
	}
	o, err = parseFlags([]string{"--profile", "x", "--server", "/ip4/127.0.0.1/tcp/1864/p2p/12D3KooWGRvVEnBvNf1kDMcBMj2E7kXbXhy5GZJc8TRb8xGJk1Bc",
		"--username", "op", "--password-file", "f", "--metrics-addr", "127.0.0.1:9465"}, &sink)
	if err != nil || o.metricsAddr != "127.0.0.1:9465" {
		t.Fatalf("--metrics-addr: %+v, %v", o, err)
	}
	if o.uploadRate != 0 {
		t.Fatalf("upload capped by default at %d", o.uploadRate)
	}
	base := []string{"--profile", "x", "--server", "/ip4/127.0.0.1/tcp/1864/p2p/12D3KooWGRvVEnBvNf1kDMcBMj2E7kXbXhy5GZJc8TRb8xGJk1Bc",
		"--username", "op", "--password-file", "f"}
	if o, err = parseFlags(append(base, "--upload-rate", "1048576"), &sink); err != nil || o.uploadRate != 1<<20 {
		t.Fatalf("--upload-rate: %+v, %v", o, err)
	}
	if _, err = parseFlags(append(base, "--upload-rate", "-5"), &sink); err == nil {
		t.Fatal("accepted a negative --upload-rate")
	}
}

// TestKeyFile: the key is created once, 0600, and the same key comes back.
func TestKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), KeyFile)
	k1, err := loadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("a second start got another key")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	os.WriteFile(p, []byte("junk"), 0o600)
	if _, err := loadOrCreateKey(p); err == nil {
		t.Fatal("accepted a corrupt key file")
	}
}

func mustKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago: with port 0 the program would pick one the test cannot learn, as it
// prints nothing but the multiaddr on stdout.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// scrapeMetrics GETs http://addr/metrics and returns its samples, keyed as
// the text format writes them (name or name{label="value"}).
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping metrics: %s, %v", resp.Status, err)
	}
	out := make(map[string]float64)
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
