package supernode

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/internal/attack"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// attackerEnv, set in a child run inside the namespace, makes
// TestPerAddressLimit the attacker: it dials the supernode named by the
// variable.
const attackerEnv = "ESERVER_FRAMES_ATTACKER"

// TestPerAddressLimit (issue 21, part 1): libp2p exempts 127.0.0.0/8 from
// its per-IP limits, so this test attacks from an address of its own, in a
// network namespace it makes: 80 peer identities (free to make) from one
// IPv4 address get at most 64 connections to the supernode (subnetConns),
// and the partial frames they send on them are held within the contact
// service's budget, while a user on another address is served.
func TestPerAddressLimit(t *testing.T) {
	if target := os.Getenv(attackerEnv); target != "" {
		attackFromNamespace(t, target)
		return
	}
	attack.SkipUnderRace(t)
	if os.Geteuid() != 0 {
		t.Skip("makes a network namespace: run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("needs ip (iproute2; make deps installs it): %v", err)
	}
	ns := fmt.Sprintf("esfr%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make network namespaces here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// 11.78.0.0/16 as in the NAT lab: nothing leaves the veth pair, so the
	// addresses never meet real ones.
	host, peerIf := fmt.Sprintf("efa%d", os.Getpid()%100000), fmt.Sprintf("efb%d", os.Getpid()%100000)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "link", "add", host, "type", "veth", "peer", "name", peerIf, "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	run("ip", "addr", "add", "11.78.1.1/24", "dev", host)
	run("ip", "link", "set", host, "up")
	run("ip", "netns", "exec", ns, "ip", "addr", "add", "11.78.1.2/24", "dev", peerIf)
	run("ip", "netns", "exec", ns, "ip", "link", "set", peerIf, "up")
	run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	authKey := sntest.Key(t)
	res, err := SupernodeResources(0)
	if err != nil {
		t.Fatal(err)
	}
	snh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/11.78.1.1/tcp/0", "/ip4/127.0.0.1/tcp/0"), res)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snh.Close() })
	svc, err := StartServices(snh, ServicesConfig{AuthServer: sntest.ID(t, authKey), MailboxDB: filepath.Join(t.TempDir(), "mailbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	var target ma.Multiaddr
	for _, a := range snh.Addrs() {
		if v, _ := a.ValueForProtocol(ma.P_IP4); v == "11.78.1.1" {
			target = a
		}
	}
	p2p, _ := ma.NewMultiaddr("/p2p/" + snh.ID().String())

	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestPerAddressLimit$")
	cmd.Env = append(os.Environ(), attackerEnv+"="+target.Encapsulate(p2p).String())
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	connected := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONNECTED "); ok {
			connected, _ = strconv.Atoi(v)
			break
		}
	}
	if connected < 0 {
		t.Fatal("the attacker reported nothing")
	}
	fromThere := 0
	for _, c := range snh.Network().Conns() {
		if v, _ := c.RemoteMultiaddr().ValueForProtocol(ma.P_IP4); v == "11.78.1.2" {
			fromThere++
		}
	}
	st := svc.Contacts.RequestBudget()
	t.Logf("80 peers from 11.78.1.2: %d connected (%d connections at the supernode); contacts budget: %d held, peak %d of %d, %d refused",
		connected, fromThere, st.InUse, st.Peak, st.Limit, st.Refused)
	if connected > subnetConns || fromThere > subnetConns {
		t.Fatalf("%d peers (%d connections) from one address, limit %d", connected, fromThere, subnetConns)
	}
	if connected == 0 {
		t.Fatal("no attacker connected: the test attacked nothing")
	}
	if st.Peak > st.Limit || st.Peak == 0 {
		t.Fatalf("contacts budget peak %d of %d", st.Peak, st.Limit)
	}
	// A user on another address is served meanwhile.
	user := sntest.Host(t)
	if err := user.Connect(sntest.Ctx(t), peer.AddrInfo{ID: snh.ID(), Addrs: snh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tk := sntest.SignTicket(t, authKey, "alice", user.ID(), now, now.Add(time.Hour))
	if _, _, _, err := client.GetContacts(sntest.Ctx(t), user, snh.ID(), tk); err != nil {
		t.Fatalf("a user during the attack: %v", err)
	}
}

// attackFromNamespace is the child: 100 peers dial target, and each that
// got in opens 16 contact streams claiming 1 MiB and sending 64 KiB of it
// (so it never completes). It reports how many got in and holds until stdin
// closes.
func attackFromNamespace(t *testing.T, target string) {
	info, err := peer.AddrInfoFromString(target)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var in []network.Stream
	connected := 0
	frame := append(binary.AppendUvarint(nil, wire.MaxContactsFrame), make([]byte, 64<<10)...)
	for range 80 {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/11.78.1.2/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		err = h.Connect(cctx, *info)
		ccancel()
		if err != nil {
			continue
		}
		connected++
		for range 16 {
			s, err := h.NewStream(ctx, info.ID, wire.ProtoContacts)
			if err != nil {
				continue
			}
			_ = s.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = s.Write(frame)
			in = append(in, s)
		}
	}
	fmt.Printf("CONNECTED %d\n", connected)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	for _, s := range in {
		_ = s.Reset()
	}
}
