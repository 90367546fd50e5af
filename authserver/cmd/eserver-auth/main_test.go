package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

	"eserver/authserver"
	"eserver/node/login"
	"eserver/pipeline"
	"eserver/supernode/client"
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
// dialable address where registration, login and the rendezvous work, its
// metrics count them, --register-rate throttles registration, and SIGTERM
// shuts it down cleanly. --region gives its logins from 127.0.0.1 a
// region pass.
func TestBinary(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	metrics := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+db+" --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1 --register-rate 1 --region 127.0.0.0/8=ES --metrics-addr "+metrics)
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
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := login.Register(ctx, h, server, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := login.Register(ctx, h, server, "sybil", "pw"); !errors.Is(err, login.ErrRateLimited) {
		t.Fatalf("second account within the hour at --register-rate 1: %v, want %v", err, login.ErrRateLimited)
	}
	res, err := login.Login(ctx, h, server, login.Request{Username: "alice", Password: "pw", BoxKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if res.RegionPass == nil || res.RegionPass.Region != "ES" {
		t.Fatalf("region pass %+v, want ES from --region 127.0.0.0/8=ES", res.RegionPass)
	}
	// It lists itself as a supernode, in the login result and the registry.
	if sns := client.ParseSupernodes(server.ID, res.Supernodes); len(sns) != 1 || sns[0].Addrs.ID != server.ID {
		t.Fatalf("login result lists supernodes %+v, want the server itself", sns)
	}
	h.Peerstore().AddAddrs(server.ID, server.Addrs, time.Hour)
	if sns, err := client.ListSupernodes(ctx, h, server.ID, res.Ticket.Signed); err != nil || len(sns) != 1 || sns[0].Addrs.ID != server.ID {
		t.Fatalf("registry lists %+v, %v; want the server itself", sns, err)
	}
	if err := (client.Rendezvous{Card: res.Ticket.PublicCard}).Publish(ctx, h, server.ID, res.Ticket.Signed); err != nil {
		t.Fatalf("rendezvous beside the auth server: %v", err)
	}
	// Alice looking herself up finds her device's ticket, as her other
	// devices do (what a stranger sees, the card, is the supernode
	// package's to test).
	found, err := client.Lookup(ctx, h, server.ID, res.Ticket.Signed, []string{"alice"})
	if err != nil || len(found) != 1 || found[0].Ticket.Card || found[0].Ticket.Peer != h.ID() {
		t.Fatalf("lookup: %v, %v", found, err)
	}

	// The auth server's and the supernode services' metrics, in one scrape.
	got := scrapeMetrics(t, metrics)
	for name, want := range map[string]float64{
		`eserver_auth_logins_total{result="ok"}`:       1,
		`eserver_auth_registrations_total`:             1,
		`eserver_auth_tickets_issued_total`:            1,
		`eserver_auth_accounts`:                        1,
		`eserver_supernode_rendezvous_publishes_total`: 1,
		`eserver_supernode_rendezvous_lookups_total`:   1,
		`eserver_supernode_connected_peers`:            1,
		`eserver_supernode_relay_admitted_peers`:       1,
		`eserver_supernode_mailbox_items`:              0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if got["go_goroutines"] == 0 {
		t.Error("no go_goroutines")
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

// TestBadMetricsAddr: an address that cannot be served is fatal at start,
// before the first line.
func TestBadMetricsAddr(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+db+" --listen /ip4/127.0.0.1/tcp/0 --metrics-addr 127.0.0.1:not-a-port")
	out, err := cmd.Output()
	if err == nil {
		t.Fatal("exited cleanly with a bad --metrics-addr")
	}
	if len(out) != 0 {
		t.Fatalf("printed %q", out)
	}
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

// TestParseArgs: the command line, and a clear error at start for what
// cannot be used — before any database is opened or port taken.
func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		regions string // the ranges parsed, in order, as CIDR=CODE
		errPart string // what the error must say; "" for success
	}{
		{"no region", "--db a.db", "", ""},
		{"regions", "--db a.db --region 127.1.0.0/16=ES --region 127.2.0.0/16=de --region 2001:db8::/32=FR",
			"127.1.0.0/16=ES 127.2.0.0/16=DE 2001:db8::/32=FR", ""},
		{"nested ranges are not duplicates", "--db a.db --region 127.2.0.0/16=DE --region 127.2.3.0/24=FR",
			"127.2.0.0/16=DE 127.2.3.0/24=FR", ""},
		{"bad CIDR", "--db a.db --region 127.1.0.0/33=ES", "", "--region: bad region range"},
		{"not an address", "--db a.db --region spain/8=ES", "", "ParseAddr(\"spain\")"},
		{"host bits", "--db a.db --region 127.1.0.5/16=ES", "", "did you mean 127.1.0.0/16?"},
		{"no code", "--db a.db --region 127.1.0.0/16", "", "want CIDR=CODE"},
		{"bad code", "--db a.db --region 127.1.0.0/16=ESP", "", "not two letters"},
		{"digit in code", "--db a.db --region 127.1.0.0/16=E5", "", "uppercase letters"},
		{"duplicate", "--db a.db --region 127.1.0.0/16=ES --region 127.2.0.0/16=DE --region 127.1.0.0/16=FR", "",
			"127.1.0.0/16 is given twice (=ES and =FR)"},
		{"duplicate with the same code", "--db a.db --region 127.1.0.0/16=ES --region 127.1.0.0/16=es", "", "given twice"},
		{"no db", "--region 127.1.0.0/16=ES", "", "--db is required"},
		{"negative register rate", "--db a.db --register-rate -1", "", "--register-rate -1"},
		{"moderators", "--db a.db --moderator alice=es --moderator bob=FR", "", ""},
		{"a bad moderator", "--db a.db --moderator alice", "", "want USER=CODE"},
		{"a moderator of no region", "--db a.db --moderator alice=Spain", "", "--moderator: bad moderator grant"},
		{"sqlite: prefix", "--db sqlite:a.db", "", ""},
		{"postgres", "--db postgres://eserver@db1/auth --mailbox-db /var/lib/eserver/mailbox.db", "", ""},
		{"postgres without a mailbox file", "--db postgresql://eserver@db1/auth", "", "--mailbox-db is required"},
		{"unknown scheme", "--db mysql://db1/auth", "", "--db: bad database: unknown scheme mysql://"},
		{"bad URL", "--db postgres://db1:port/auth", "", "--db: bad database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(strings.Fields(tc.args), io.Discard)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("error %v; want one saying %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range o.regions {
				got = append(got, r.String())
			}
			if strings.Join(got, " ") != tc.regions {
				t.Fatalf("regions %q, want %q", got, tc.regions)
			}
			var mods []string
			for _, m := range o.moderators {
				mods = append(mods, m.String())
			}
			if want := map[string]string{"moderators": "alice=ES bob=FR"}[tc.name]; strings.Join(mods, " ") != want {
				t.Fatalf("moderators %q, want %q", mods, want)
			}
		})
	}
}

// TestBadRegion: a bad --region is fatal at start, before the first line,
// and says what is wrong.
func TestBadRegion(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+db+" --listen /ip4/127.0.0.1/tcp/0 --region 127.1.0.0/16=ES --region 127.1.0.0/16=DE")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		t.Fatal("exited cleanly with a duplicate --region")
	}
	if len(out) != 0 {
		t.Fatalf("printed %q", out)
	}
	if !strings.Contains(stderr.String(), "--region: bad region range: 127.1.0.0/16 is given twice") {
		t.Fatalf("stderr %q does not say what is wrong", stderr.String())
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("database created before the flags were checked: %v", err)
	}
}

// TestInit: init makes a key file of mode 0600 and prints the peer ID it
// signs as; a second init refuses to replace it and leaves it as it was;
// init without --key-file is refused.
func TestInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.key")
	code, out, stderr := runMain(t, "init", "--key-file", path)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	k, err := authserver.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	if strings.TrimSpace(out) != id.String() {
		t.Fatalf("init printed %q, want the peer ID %s", out, id)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	before, _ := os.ReadFile(path)
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"init", "--key-file", path}, "key file exists"},
		{[]string{"init"}, "--key-file is required"},
	} {
		code, out, stderr := runMain(t, tt.args...)
		if code != 1 || out != "" || !strings.Contains(stderr, tt.says) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tt.args, code, out, stderr, tt.says)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused init changed the key file")
	}
}

// TestKeyFile: the server signs as the key file's identity, whatever key
// its database holds; a key file it cannot use is fatal at start, before
// the database is opened or the first line printed.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "auth.key")
	k, err := authserver.CreateKeyFile(good)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	db := filepath.Join(dir, "auth.db")
	if _, err := authserver.LoadOrCreateKey(db); err != nil { // a database with a key of its own
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_AUTH_AS_MAIN=1",
		"ESERVER_AUTH_ARGS=--db "+db+" --key-file "+good+" --listen /ip4/127.0.0.1/tcp/0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("no first line")
	}
	if server, err := login.ParseServer(lines.Text()); err != nil || server.ID != id {
		t.Fatalf("first line %q (%v): want the key file's peer ID %s", lines.Text(), err, id)
	}

	malformed := filepath.Join(dir, "malformed.key")
	exposed := filepath.Join(dir, "exposed.key")
	raw, _ := os.ReadFile(good)
	if err := os.WriteFile(malformed, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exposed, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(exposed, 0o644) // past the umask
	for _, tt := range []struct{ name, path, says string }{
		{"malformed", malformed, "holds no key"},
		{"missing", filepath.Join(dir, "missing.key"), "no such file"},
		{"open to others", exposed, "chmod 600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fresh := filepath.Join(t.TempDir(), "auth.db")
			code, out, stderr := runMain(t, "--db", fresh, "--key-file", tt.path, "--listen", "/ip4/127.0.0.1/tcp/0")
			if code != 1 || out != "" {
				t.Fatalf("started with a bad key file: exit %d, stdout %q", code, out)
			}
			if !strings.Contains(stderr, "--key-file: bad key file") || !strings.Contains(stderr, tt.says) {
				t.Fatalf("stderr %q does not say what is wrong (%q)", stderr, tt.says)
			}
			if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("database created before the key file was checked: %v", err)
			}
		})
	}
}
