package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"eserver/authserver/bundle"
)

// labServer runs the bundled server (auth + supernode services) for the
// NAT lab, inside its namespace: it prints its peer ID and runs until
// SIGTERM.
func labServer(dir string) {
	svc, err := bundle.Start(bundle.Config{Dir: dir, Listen: []string{"/ip4/0.0.0.0/tcp/1864", "/ip4/0.0.0.0/udp/1864/quic-v1"}, RegisterRate: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab server:", err)
		os.Exit(1)
	}
	fmt.Println(svc.Host.ID())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	svc.Close()
}

// lab is a set of network namespaces made by the test: a public segment
// with the server, and two LANs, each behind its own NAT router
// (nftables masquerade).
type lab struct {
	t      testing.TB
	prefix string
}

func (l *lab) ns(name string) string { return l.prefix + name }

func (l *lab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *lab) in(ns string, args ...string) {
	l.t.Helper()
	l.run(append([]string{"ip", "netns", "exec", l.ns(ns)}, args...)...)
}

// add makes the namespaces named, with their loopback up; the test's
// cleanup deletes them.
func (l *lab) add(names ...string) {
	l.t.Helper()
	for _, n := range names {
		l.run("ip", "netns", "add", l.ns(n))
		l.t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns(n)).Run() })
		l.in(n, "ip", "link", "set", "lo", "up")
	}
}

// link joins namespaces a and b by a veth pair: interface aIf with
// address aAddr in a, bIf with bAddr in b (none where ""), both up.
func (l *lab) link(a, aIf, aAddr, b, bIf, bAddr string) {
	l.t.Helper()
	l.run("ip", "link", "add", aIf, "netns", l.ns(a), "type", "veth", "peer", "name", bIf, "netns", l.ns(b))
	for _, e := range []struct{ ns, dev, addr string }{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if e.addr != "" {
			l.in(e.ns, "ip", "addr", "add", e.addr, "dev", e.dev)
		}
	}
	l.in(a, "ip", "link", "set", aIf, "up")
	l.in(b, "ip", "link", "set", bIf, "up")
}

// build makes pub, natA, natB, lanA, lanB:
//
//	lanA 192.168.1.2 — natA (192.168.1.1 | 11.77.1.2) — pub (11.77.1.1, 11.77.2.1) — natB (11.77.2.2 | 192.168.2.1) — lanB 192.168.2.2
//
// The routers masquerade their LAN behind their public address; the public
// segment has no route into either LAN, so the LANs cannot dial each other.
//
// The public segment uses 11.77.0.0/16 rather than a private or
// documentation range because libp2p only hole-punches from addresses it
// considers public (manet.IsPublicAddr). Nothing leaves the namespaces: they
// have no link to the host's network, so these addresses never meet the
// real ones.
func (l *lab) build(randomPorts bool) {
	l.add("pub", "natA", "natB", "lanA", "lanB")
	l.link("pub", "pa", "11.77.1.1/24", "natA", "wa", "11.77.1.2/24")
	l.link("pub", "pb", "11.77.2.1/24", "natB", "wb", "11.77.2.2/24")
	l.link("natA", "la", "192.168.1.1/24", "lanA", "ea", "192.168.1.2/24")
	l.link("natB", "lb", "192.168.2.1/24", "lanB", "eb", "192.168.2.2/24")
	l.in("pub", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	masq := "masquerade"
	if randomPorts {
		masq = "masquerade random,fully-random" // endpoint-dependent: hole punching cannot work
	}
	for _, r := range []struct{ nat, lan, wan, gw, pubGW string }{
		{"natA", "lanA", "wa", "192.168.1.1", "11.77.1.1"},
		{"natB", "lanB", "wb", "192.168.2.1", "11.77.2.1"},
	} {
		l.in(r.nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		l.in(r.nat, "ip", "route", "add", "default", "via", r.pubGW)
		l.in(r.lan, "ip", "route", "add", "default", "via", r.gw)
		l.in(r.nat, "nft", "add table ip nat")
		l.in(r.nat, "nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }")
		l.in(r.nat, "nft", "add rule ip nat post oifname "+r.wan+" "+masq)
		// Like a home router, drop what nobody inside asked for instead of
		// answering it with a reset: a hole punch's first SYN reaches the
		// other NAT before that side's own SYN has opened the mapping, and a
		// reset would abort the punch.
		l.in(r.nat, "nft", "add table inet fw")
		l.in(r.nat, "nft", "add chain inet fw inbound { type filter hook input priority 0 ; }")
		l.in(r.nat, "nft", "add rule inet fw inbound iifname "+r.wan+" ct state new drop")
		l.in(r.nat, "nft", "add chain inet fw through { type filter hook forward priority 0 ; }")
		l.in(r.nat, "nft", "add rule inet fw through iifname "+r.wan+" ct state new drop")
	}
}

// TestNATLab: alice and bob on two LANs behind NATs, the server on the
// public segment. They chat; behind port-preserving NATs the relayed
// connection between them is upgraded by a DCUtR hole punch. With
// endpoint-dependent NATs (random ports) the hole punch cannot work, and the
// relay carries the chat.
func TestNATLab(t *testing.T) {
	needNamespaces(t, "nft")
	for _, tc := range []struct {
		name   string
		random bool
		want   []string
	}{
		{"port-preserving NATs", false, []string{"hole-punched"}},
		{"endpoint-dependent NATs", true, []string{"relayed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A hole punch is a race of two SYNs through two NATs; on a
			// loaded machine it can miss, and libp2p tries once per
			// connection. A fresh lab gets one more chance: punching must
			// work in one of two, the relay must carry the chat in both.
			for attempt := 1; ; attempt++ {
				via := runLab(t, tc.random, attempt)
				t.Logf("attempt %d: alice reaches bob: %s", attempt, via)
				if slices.Contains(tc.want, via) {
					return
				}
				if attempt == 2 || via != "relayed" {
					t.Fatalf("alice reaches bob via %q, want one of %v", via, tc.want)
				}
			}
		})
	}
}

// needNamespaces skips the test unless it can make network namespaces
// (as root, with ip and the other tools named) and may take its time.
func needNamespaces(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the NAT lab makes network namespaces: run as root")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the NAT lab needs %s (make deps installs nftables and iproute2): %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("starts processes in network namespaces")
	}
	probe := fmt.Sprintf("esprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot make network namespaces here: %v %s", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

// runLab builds a lab, has alice and bob chat across it, and returns how
// alice reaches bob once the connection settled (after up to 15 s).
func runLab(t *testing.T, random bool, attempt int) string {
	t.Helper()
	l := &lab{t: t, prefix: fmt.Sprintf("es%d%s%d-", os.Getpid()%10000, map[bool]string{false: "p", true: "r"}[random], attempt)}
	l.build(random)
	server := startLabServer(t, l.ns("pub"))
	alice := startDaemonIn(t, l.ns("lanA"), "/ip4/0.0.0.0/tcp/0,/ip4/0.0.0.0/udp/0/quic-v1")
	bob := startDaemonIn(t, l.ns("lanB"), "/ip4/0.0.0.0/tcp/0,/ip4/0.0.0.0/udp/0/quic-v1")
	// Each LAN reaches the server at its own router's public side.
	alice.signIn("/ip4/11.77.1.1/tcp/1864/p2p/"+server, "alice", "a")
	bob.signIn("/ip4/11.77.2.1/tcp/1864/p2p/"+server, "bob", "b")
	befriend(alice, bob)
	for i := range 5 {
		alice.call("send", map[string]any{"to": "bob", "text": fmt.Sprintf("across the NATs %d", i)}, "")
	}
	for i := range 5 {
		m := bob.note("message", nil)
		if m["text"] != fmt.Sprintf("across the NATs %d", i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	// How alice reaches bob: never directly through two NATs; behind
	// port-preserving NATs, hole-punched once DCUtR has run.
	var via string
	for range 150 {
		cs := alice.call("listContacts", map[string]any{}, "")["contacts"].([]any)
		via = cs[0].(map[string]any)["via"].(string)
		if via == "hole-punched" || (random && via == "relayed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The conversation goes on over the upgraded (or relayed) path.
	bob.call("send", map[string]any{"to": "alice", "text": "reply via " + via}, "")
	if m := alice.note("message", nil); m["text"] != "reply via "+via {
		t.Fatalf("reply: %v", m)
	}
	return via
}

// startLabServer runs the server in namespace ns and returns its peer ID.
func startLabServer(t testing.TB, ns string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_LAB_SERVER="+t.TempDir())
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("lab server printed nothing")
	}
	return strings.TrimSpace(sc.Text())
}
