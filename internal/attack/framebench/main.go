// Command framebench measures what the partial-frame attack (issue 21) costs
// a server in resident memory: a supernode (every service, on a host with
// supernode.SupernodeResources) and an auth server, each in a process of its
// own, read from /proc/<pid>/status before the attack, at its peak, and a
// while after it ended.
//
//	framebench [-streams 600] [-peers 20] [-auth-streams 300] [-hold 3s] [-after 5s]
//
// The attack comes from this process (internal/attack): peers with fresh
// identities on 127.0.0.1 open streams claiming each protocol's largest
// frame and send all of it but the last byte. libp2p lets a peer open 16
// streams per protocol at a supernode, so the supernode's streams are split
// between the two protocols of 1 MiB frames, contacts and mailbox, as in
// the probe. The target is peak − before ≤ 100 MB at 600 streams
// from 20 peers.
//
// Stdout gets a table, then `go test -bench` lines that node/cmd/benchtable
// reads. The program re-executes itself for each server
// (FRAMEBENCH_ROLE in the environment says which).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/authserver"
	"eserver/internal/attack"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
)

const roleEnv = "FRAMEBENCH_ROLE"

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		if err := serve(role); err != nil {
			fmt.Fprintln(os.Stderr, "framebench server:", err)
			os.Exit(1)
		}
		return
	}
	streams := flag.Int("streams", 600, "partial-frame streams at the supernode (split between contacts and mailbox)")
	peers := flag.Int("peers", 20, "attacking peer identities")
	authStreams := flag.Int("auth-streams", 300, "partial-frame streams at the auth server")
	hold := flag.Duration("hold", 3*time.Second, "how long the attack holds its streams open")
	after := flag.Duration("after", 5*time.Second, "when after the attack ended the last RSS is read")
	flag.Parse()

	rows := []row{}
	for _, tgt := range []struct {
		role    string
		protos  []protocol.ID
		max     int
		streams int
	}{
		{"supernode", []protocol.ID{wire.ProtoContacts, wire.ProtoMailbox}, wire.MaxContactsFrame, *streams},
		{"auth", []protocol.ID{wire.ProtoAuth}, wire.MaxAuthFrame, *authStreams},
	} {
		r, err := measure(tgt.role, tgt.protos, tgt.max, tgt.streams, *peers, *hold, *after)
		if err != nil {
			fmt.Fprintln(os.Stderr, "framebench:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\npartial-frame attack: RSS of the server process (MB), %d peers\n", *peers)
	fmt.Printf("%-10s %8s %10s %10s %10s %10s %12s\n", "server", "streams", "before", "peak", "after", "peak-before", "claimed")
	for _, r := range rows {
		fmt.Printf("%-10s %8d %10.1f %10.1f %10.1f %10.1f %12.1f\n", r.role, r.streams, mb(r.before), mb(r.peak), mb(r.after), mb(r.peak-r.before), mb(r.claimed))
	}
	fmt.Println()
	for _, r := range rows {
		fmt.Printf("BenchmarkFrameAttack/%s\t1\t%d ns/op\t%.1f MB-before\t%.1f MB-peak\t%.1f MB-after\t%d streams\t%.1f MB-claimed\n",
			r.role, r.elapsed.Nanoseconds(), mb(r.before), mb(r.peak), mb(r.after), r.streams, mb(r.claimed))
	}
}

type row struct {
	role                string
	streams             int
	before, peak, after int64
	claimed             int64
	elapsed             time.Duration
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// measure starts the server role in a child process, attacks it and reads
// its RSS.
func measure(role string, protos []protocol.ID, maxFrame, streams, peers int, hold, after time.Duration) (row, error) {
	r := row{role: role, streams: streams}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return r, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		stdin.Close() // the server exits when its stdin closes
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("%s: reading its address: %w", role, err)
	}
	addr, err := ma.NewMultiaddr(strings.TrimSpace(line))
	if err != nil {
		return r, err
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return r, err
	}
	pid := cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := attack.New(ctx, *info, peers, "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return r, err
	}
	time.Sleep(time.Second) // let the connections settle
	if r.before, err = rss(pid); err != nil {
		a.Close()
		return r, err
	}

	// Sample the RSS until the attack has held for hold.
	var peak atomic.Int64
	peak.Store(r.before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := rss(pid); err == nil && v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	start := time.Now()
	var aw sync.WaitGroup
	for i, p := range protos {
		n := streams / len(protos)
		if i == 0 {
			n += streams % len(protos)
		}
		aw.Add(1)
		go func() {
			defer aw.Done()
			a.Partial(ctx, p, n, 64, maxFrame, maxFrame-1)
		}()
	}
	aw.Wait()
	r.elapsed = time.Since(start)
	r.claimed = int64(streams) * int64(maxFrame)
	time.Sleep(hold)
	a.Close()
	close(stop)
	wg.Wait()
	r.peak = peak.Load()
	time.Sleep(after)
	r.after, err = rss(pid)
	return r, err
}

// rss reads a process's resident set size.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// serve runs one server until stdin closes, printing its address first.
func serve(role string) error {
	dir, err := os.MkdirTemp("", "framebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	var closer func() error
	var key crypto.PrivKey
	var opts []libp2p.Option
	switch role {
	case "supernode":
		authKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		authID, err := peer.IDFromPrivateKey(authKey)
		if err != nil {
			return err
		}
		res, err := supernode.SupernodeResources(0)
		if err != nil {
			return err
		}
		if key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return err
		}
		opts = append(opts, res)
		h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"}, opts...)
		if err != nil {
			return err
		}
		defer h.Close()
		svc, err := supernode.StartServices(h, supernode.ServicesConfig{AuthServer: authID, MailboxDB: filepath.Join(dir, "mailbox.db"), Logger: log})
		if err != nil {
			return err
		}
		closer = svc.Close
		return announce(h.ID(), h.Addrs(), closer)
	case "auth":
		db := filepath.Join(dir, "auth.db")
		if key, err = authserver.LoadOrCreateKey(db); err != nil {
			return err
		}
		h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
		if err != nil {
			return err
		}
		defer h.Close()
		srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Logger: log})
		if err != nil {
			return err
		}
		srv.Attach(h)
		return announce(h.ID(), h.Addrs(), srv.Close)
	}
	return fmt.Errorf("unknown role %q", role)
}

// announce prints the server's address, waits for stdin to close and closes
// the server.
func announce(id peer.ID, addrs []ma.Multiaddr, closer func() error) error {
	p2p, err := ma.NewMultiaddr("/p2p/" + id.String())
	if err != nil {
		return err
	}
	fmt.Println(addrs[0].Encapsulate(p2p))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return closer()
}
