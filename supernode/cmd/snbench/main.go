// Command snbench measures one supernode under N simulated nodes, each
// figure beside a baseline measured in the same run:
//
//   - memory: the supernode's RSS per connected node, against a bare libp2p
//     host with the same resource limits and no services, both holding a
//     connection from every node;
//
//   - presence: the time for all N nodes to publish (each with an allow list
//     of its contacts), and lookups of 50 contacts each, p50/p99, against a
//     bare libp2p ping round trip (fresh stream, 32 bytes) to the same
//     supernode at the same concurrency;
//
//   - mailbox: puts, and fetch+ack, per second with p50/p99 (-mail-conc in
//     flight, as a busy supernode sees them: its group commit shares a commit
//     among the writes that arrive together), against the same ping;
//
//   - relay: small messages over a relayed circuit between two hidden nodes,
//     per second with p50/p99, against the same over a direct connection; and
//     a 64 MiB transfer through the relay against a direct one.
//
//     snbench [-n 1000] [-lookups 1000] [-conc 8] [-mail 2000] [-mail-conc 32] [-msgs 1000] [-transfer-mib 64]
//
// The supernode (supernode.StartServices on a host built with
// supernode.SupernodeResources(N)) and the bare baseline host each run in a
// process of their own, so their RSS is read from /proc/<pid>/status. The
// simulated nodes are real libp2p hosts (TCP only) on 127.0.0.2 and up, run
// from several worker processes so that none holds more than a few thousand
// connections (a process may hold at most 20,000 open files here). The
// program re-executes itself for each of them (SNBENCH_ROLE in the
// environment says which). Tickets are signed with ticket.Sign by an auth key
// made for the run; nobody logs in.
//
// Stdout gets a human-readable table, then the same figures as `go test
// -bench` lines that node/cmd/benchtable reads. Progress goes to stderr.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/internal/benchproc"
	"eserver/node/wire"
	"eserver/supernode"
	snclient "eserver/supernode/client"
)

// Environment variables by which the program tells a child what it is.
const (
	envRole    = "SNBENCH_ROLE"     // "supernode", "bare" or "worker"
	envAuthKey = "SNBENCH_AUTH_KEY" // hex of the marshalled auth key, for workers
)

const (
	echoProto = protocol.ID("/snbench/echo/1.0.0")
	sinkProto = protocol.ID("/snbench/sink/1.0.0")
	msgSize   = 200 // a small chat message
)

func main() {
	benchproc.AsChild(envRole, "snbench", child)
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "snbench:", err)
		os.Exit(1)
	}
}

// child runs one of the re-executed roles; SNBENCH_ROLE named it.
func child(role string, args []string) error {
	benchproc.RaiseFDLimit()
	switch role {
	case "supernode", "bare":
		return runServer(role == "supernode", args)
	case "worker":
		return runWorker(args)
	}
	return fmt.Errorf("unknown %s %q", envRole, role)
}

// config is the coordinator's command line.
type config struct {
	n           int
	lookups     int
	contacts    int
	conc        int
	setupConc   int
	perWorker   int
	addrs       int
	mail        int
	mailConc    int
	msgs        int
	transferMiB int
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("snbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.IntVar(&c.n, "n", 1000, "simulated nodes (10000 is the design target)")
	fs.IntVar(&c.lookups, "lookups", 1000, "lookups (of -contacts names each), and as many pings for the baseline")
	fs.IntVar(&c.contacts, "contacts", 50, "contacts per node: its allow list and each lookup")
	fs.IntVar(&c.conc, "conc", 2, "concurrent requests while measuring lookups, pings and mailbox operations")
	fs.IntVar(&c.setupConc, "setup-conc", 128, "concurrent connects and publishes, over all workers (256 made 10,000 nodes' handshakes time out here)")
	fs.IntVar(&c.perWorker, "per-worker", 3000, "most simulated nodes per worker process (at least 2 workers run)")
	fs.IntVar(&c.addrs, "addrs", 32, "loopback addresses the nodes spread over, from 127.0.0.2")
	fs.IntVar(&c.mail, "mail", 2000, "mailbox items put, then fetched and acknowledged")
	fs.IntVar(&c.mailConc, "mail-conc", 32, "concurrent mailbox puts, and fetch+acks, each from its own sender or owner (at most 32)")
	fs.IntVar(&c.msgs, "msgs", 1000, "small messages each over the relay and over a direct connection")
	fs.IntVar(&c.transferMiB, "transfer-mib", 64, "MiB transferred each through the relay and directly")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.n < 2 || c.lookups < 1 || c.contacts < 1 || c.conc < 1 || c.setupConc < 1 || c.perWorker < 1 ||
		c.addrs < 1 || c.addrs > 250 || c.mail < 1 || c.mailConc < 1 || c.mailConc > 32 || c.msgs < 1 || c.transferMiB < 1 || fs.NArg() > 0 {
		return nil, errors.New("bad flags: counts must be positive, -n at least 2, -addrs at most 250, -mail-conc at most 32")
	}
	c.contacts = min(c.contacts, c.n-1)
	return c, nil
}

// results are the figures of one run.
type results struct {
	n                            int
	workers                      int
	connect                      time.Duration
	retries                      int   // dials repeated while connecting
	snIdle, snConn, snPub        int64 // supernode RSS, bytes: idle, N connected, N published
	bareIdle, bareConn           int64
	publishAll                   time.Duration
	ping, lookup                 []time.Duration
	found, want                  int
	put, fetch                   []time.Duration
	putElapsed, fetchElapsed     time.Duration
	mailItems                    int
	relMsg, dirMsg               []time.Duration
	relMsgElapsed, dirMsgElapsed time.Duration
	relTransfer, dirTransfer     time.Duration
	transferBytes                int64
}

// run is the coordinator.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	r, err := benchproc.NewRun("snbench", envAuthKey, stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	stderr, logf, auth, env, dir := r.Stderr, r.Logf, r.Auth, r.Env, r.Dir
	res := &results{n: cfg.n}

	sn, err := benchproc.Start(envRole, "supernode", env, stderr, "-n", strconv.Itoa(cfg.n), "-db", filepath.Join(dir, "mailbox.db"))
	if err != nil {
		return err
	}
	defer sn.Stop()
	bare, err := benchproc.Start(envRole, "bare", env, stderr, "-n", strconv.Itoa(cfg.n))
	if err != nil {
		return err
	}
	defer bare.Stop()
	snInfo, err := peer.AddrInfoFromString(sn.Addr)
	if err != nil {
		return fmt.Errorf("supernode address: %w", err)
	}
	bareInfo, err := peer.AddrInfoFromString(bare.Addr)
	if err != nil {
		return fmt.Errorf("bare host address: %w", err)
	}
	logf("supernode %s (pid %d), bare host pid %d", snInfo.ID, sn.Pid(), bare.Pid())

	time.Sleep(500 * time.Millisecond)
	if res.snIdle, err = sn.RSS(); err != nil {
		return err
	}
	if res.bareIdle, err = bare.RSS(); err != nil {
		return err
	}

	// Workers, each with its share of the nodes.
	res.workers = max(2, (cfg.n+cfg.perWorker-1)/cfg.perWorker)
	res.workers = min(res.workers, cfg.n)
	var workers []*benchproc.Child
	defer func() {
		for _, w := range workers {
			w.Stop()
		}
	}()
	for i := range res.workers {
		lo, hi := i*cfg.n/res.workers, (i+1)*cfg.n/res.workers
		conc := max(1, cfg.conc/res.workers)
		w, err := benchproc.Start(envRole, "worker", env, stderr,
			"-n", strconv.Itoa(cfg.n), "-lo", strconv.Itoa(lo), "-hi", strconv.Itoa(hi),
			"-sn", benchproc.AddrOf(*snInfo), "-bare", benchproc.AddrOf(*bareInfo),
			"-contacts", strconv.Itoa(cfg.contacts), "-addrs", strconv.Itoa(cfg.addrs),
			"-setup-conc", strconv.Itoa(max(1, cfg.setupConc/res.workers)), "-conc", strconv.Itoa(conc))
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}

	logf("connecting %d nodes from %d workers", cfg.n, res.workers)
	start := time.Now()
	reps, err := benchproc.All[reply](workers, "connect")
	if err != nil {
		return err
	}
	res.connect = time.Since(start)
	for _, r := range reps {
		res.retries += r.Retries
	}
	logf("connected in %v (%d dials retried)", res.connect.Round(time.Millisecond), res.retries)
	time.Sleep(time.Second) // let identify finish everywhere
	if res.snConn, err = sn.RSS(); err != nil {
		return err
	}
	if res.bareConn, err = bare.RSS(); err != nil {
		return err
	}

	start = time.Now()
	if _, err := benchproc.All[reply](workers, "publish"); err != nil {
		return err
	}
	res.publishAll = time.Since(start)
	logf("published in %v", res.publishAll.Round(time.Millisecond))
	if res.snPub, err = sn.RSS(); err != nil {
		return err
	}

	per := max(1, cfg.lookups/res.workers)
	reps, err = benchproc.All[reply](workers, "ping "+strconv.Itoa(per))
	if err != nil {
		return err
	}
	for _, r := range reps {
		res.ping = append(res.ping, benchproc.Durs(r.Lat)...)
	}
	reps, err = benchproc.All[reply](workers, "lookup "+strconv.Itoa(per))
	if err != nil {
		return err
	}
	for _, r := range reps {
		res.lookup = append(res.lookup, benchproc.Durs(r.Lat)...)
		res.found += r.Found
		res.want += r.Want
	}
	logf("lookups: %d of %d contacts found with addresses", res.found, res.want)
	if res.found != res.want {
		return fmt.Errorf("lookups found %d of %d contacts", res.found, res.want)
	}

	// The mailbox and relay need only a few nodes: they run here.
	b := &bench{ctx: ctx, cfg: cfg, authKey: auth.Key, sn: *snInfo}
	defer b.close()
	logf("mailbox: %d items", cfg.mail)
	if err := b.mailbox(res); err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	logf("relay: %d messages, %d MiB", cfg.msgs, cfg.transferMiB)
	if err := b.relay(res); err != nil {
		return fmt.Errorf("relay: %w", err)
	}

	if _, err := benchproc.All[reply](workers, "quit"); err != nil {
		return err
	}
	report(stdout, cfg, res)
	return nil
}

// reply is a worker's answer to one command.
type reply struct {
	Lat   []int64 `json:"lat,omitempty"`
	Found int     `json:"found,omitempty"`
	Want  int     `json:"want,omitempty"`
	// Retries counts dials repeated after a timeout.
	Retries int `json:"retries,omitempty"`
}

// runServer is the supernode's process (or, for the baseline, a bare host
// with the same resource limits and no services). It prints "ADDR <addr>",
// answers "gc" and exits when stdin closes.
func runServer(services bool, args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	n := fs.Int("n", 1000, "nodes the supernode is sized for")
	db := fs.String("db", "", "mailbox database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := benchproc.SupernodeHost(*n)
	if err != nil {
		return err
	}
	defer h.Close()
	if services {
		auth, err := benchproc.AuthFromEnv(envAuthKey)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		svc, err := supernode.StartServices(h, supernode.ServicesConfig{AuthServer: auth.ID, MailboxDB: *db, Logger: log})
		if err != nil {
			return err
		}
		defer svc.Close()
	}
	return benchproc.Serve(os.Stdin, os.Stdout, benchproc.Ready(h), func(cmd, _ string) (any, error) {
		return nil, fmt.Errorf("unknown command %q", cmd)
	})
}

// node is one simulated node.
type node struct {
	i  int
	h  host.Host
	st *wire.SignedTicket
}

func username(i int) string { return fmt.Sprintf("u%06d", i) }

// token is the visibility token that user owner gave viewer.
func token(owner, viewer int) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(owner))
	binary.BigEndian.PutUint64(b[8:], uint64(viewer))
	sum := sha256.Sum256(append([]byte("snbench-token"), b[:]...))
	return sum[:snclient.VisibilityTokenSize]
}

// contacts of i: its k nearest neighbours on a ring of n, a symmetric
// relation so that every allow list matches the lookups made of it.
func contacts(i, n, k int) []int {
	out := make([]int, 0, k)
	for d := 1; len(out) < k; d++ {
		out = append(out, (i+d)%n)
		if len(out) < k {
			out = append(out, (i-d+n)%n)
		}
	}
	return out
}

// runWorker runs nodes [lo, hi) of n and answers the coordinator's
// commands: connect, publish, ping K, lookup K, gc, quit.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	n := fs.Int("n", 0, "all nodes")
	lo := fs.Int("lo", 0, "first node here")
	hi := fs.Int("hi", 0, "last node here, exclusive")
	snAddr := fs.String("sn", "", "supernode")
	bareAddr := fs.String("bare", "", "bare baseline host")
	k := fs.Int("contacts", 50, "contacts per node")
	addrs := fs.Int("addrs", 32, "loopback addresses")
	setupConc := fs.Int("setup-conc", 64, "concurrent connects and publishes")
	conc := fs.Int("conc", 4, "concurrent pings and lookups")
	if err := fs.Parse(args); err != nil {
		return err
	}
	auth, err := benchproc.AuthFromEnv(envAuthKey)
	if err != nil {
		return err
	}
	authKey, authID := auth.Key, auth.ID
	sn, err := peer.AddrInfoFromString(*snAddr)
	if err != nil {
		return err
	}
	bare, err := peer.AddrInfoFromString(*bareAddr)
	if err != nil {
		return err
	}
	nodes := make([]*node, *hi-*lo)
	defer func() {
		for _, nd := range nodes {
			if nd != nil {
				_ = nd.h.Close()
			}
		}
	}()
	ctx := context.Background()
	return benchproc.Serve(os.Stdin, os.Stdout, "", func(cmd, arg string) (any, error) {
		count, _ := strconv.Atoi(arg)
		switch cmd {
		case "connect":
			var retries atomic.Int64
			err := benchproc.Parallel(len(nodes), *setupConc, func(j int) error {
				i := *lo + j
				h, err := benchproc.NewHost(fmt.Sprintf("127.0.0.%d", 2+i%*addrs), true)
				if err != nil {
					return err
				}
				nodes[j] = &node{i: i, h: h}
				if nodes[j].st, err = benchproc.SignTicket(authKey, username(i), "snbench", h); err != nil {
					return err
				}
				// A dial that times out while thousands of others are
				// handshaking is retried, and counted.
				for _, to := range []*peer.AddrInfo{sn, bare} {
					var err error
					for try := range 4 {
						if try > 0 {
							retries.Add(1)
						}
						cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
						err = h.Connect(cctx, *to)
						cancel()
						if err == nil {
							break
						}
					}
					if err != nil {
						return fmt.Errorf("node %d to %s: %w", i, to.ID, err)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			return reply{Retries: int(retries.Load())}, nil
		case "publish":
			err := benchproc.Parallel(len(nodes), *setupConc, func(j int) error {
				nd := nodes[j]
				var allowed [][]byte
				for _, c := range contacts(nd.i, *n, *k) {
					allowed = append(allowed, token(nd.i, c))
				}
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				return snclient.Rendezvous{AuthServer: authID, Allowed: allowed}.Publish(cctx, nd.h, sn.ID, nd.st)
			})
			if err != nil {
				return nil, err
			}
			return reply{}, nil
		case "ping":
			lat, _, err := benchproc.Measure(count, *conc, func(i int) error {
				return benchproc.PingOnce(ctx, nodes[i%len(nodes)].h, sn.ID)
			})
			if err != nil {
				return nil, err
			}
			return reply{Lat: benchproc.Nanos(lat)}, nil
		case "lookup":
			var found, want atomic.Int64
			lat, _, err := benchproc.Measure(count, *conc, func(i int) error {
				nd := nodes[i%len(nodes)]
				cs := contacts(nd.i, *n, *k)
				names := make([]string, len(cs))
				tokens := make(map[string][]byte, len(cs))
				for x, c := range cs {
					names[x] = username(c)
					tokens[names[x]] = token(c, nd.i)
				}
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				fs, err := snclient.Rendezvous{AuthServer: authID, Tokens: tokens}.Lookup(cctx, nd.h, sn.ID, nd.st, names)
				if err != nil {
					return err
				}
				want.Add(int64(len(cs)))
				for _, f := range fs {
					if len(f.Addrs.Addrs) > 0 {
						found.Add(1)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			return reply{Lat: benchproc.Nanos(lat), Found: int(found.Load()), Want: int(want.Load())}, nil
		case "quit":
			return nil, benchproc.ErrQuit
		}
		return nil, fmt.Errorf("unknown command %q", cmd)
	})
}

// bench holds the coordinator's own hosts for the mailbox and relay
// measurements.
type bench struct {
	ctx     context.Context
	cfg     *config
	authKey crypto.PrivKey
	sn      peer.AddrInfo
	hosts   []host.Host
}

func (b *bench) close() {
	for _, h := range b.hosts {
		_ = h.Close()
	}
}

func (b *bench) host(ip string) (host.Host, error) {
	h, err := benchproc.NewHost(ip, false)
	if err == nil {
		b.hosts = append(b.hosts, h)
	}
	return h, err
}

// mailbox puts cfg.mail items (1 KiB padded) from several senders into
// several owners' mailboxes, then the owners fetch and acknowledge them
// one at a time, as a node that finds a message waiting does. Each user
// keeps one mailbox stream open (client.MailConn), as nodes do, and each
// fetch carries the ack of the item before.
func (b *bench) mailbox(res *results) error {
	authID, _ := peer.IDFromPrivateKey(b.authKey)
	const users = 32 // senders and owners; the put rate limit is per sender
	type user struct {
		conn *snclient.MailConn
		st   *wire.SignedTicket
	}
	mk := func(prefix string) ([]user, error) {
		us := make([]user, users)
		for i := range us {
			h, err := b.host("127.0.0.1")
			if err != nil {
				return nil, err
			}
			st, err := benchproc.SignTicket(b.authKey, fmt.Sprintf("%s%02d", prefix, i), "snbench", h)
			if err != nil {
				return nil, err
			}
			if err := h.Connect(b.ctx, b.sn); err != nil {
				return nil, err
			}
			us[i] = user{snclient.NewMailConn(h, b.sn.ID), st}
		}
		return us, nil
	}
	senders, err := mk("mailsender")
	if err != nil {
		return err
	}
	owners, err := mk("mailowner")
	if err != nil {
		return err
	}
	defer func() {
		for _, u := range append(senders, owners...) {
			_ = u.conn.Close()
		}
	}()
	if b.cfg.mail/users > supernode.DefaultMailPutBurst {
		return fmt.Errorf("-mail %d would exceed the put burst of %d senders", b.cfg.mail, users)
	}
	item := make([]byte, 600)
	_, _ = rand.Read(item)
	item = snclient.Pad(item)

	// Each goroutine takes puts in order; put i is sender i%users's to
	// owner i%users.
	res.mailItems = b.cfg.mail
	res.put, res.putElapsed, err = benchproc.Measure(b.cfg.mail, b.cfg.mailConc, func(i int) error {
		s, o := senders[i%users], i%users
		_, err := s.conn.Put(b.ctx, s.st, snclient.MailboxID(authID, fmt.Sprintf("mailowner%02d", o)), item)
		return err
	})
	if err != nil {
		return err
	}

	// Fetch and ack: each owner drains its own mailbox one item at a time;
	// the owners take turns on the mailConc goroutines.
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	err = benchproc.Parallel(users, b.cfg.mailConc, func(o int) error {
		u := owners[o]
		var after uint64
		var ack []uint64
		for {
			t := time.Now()
			items, _, err := u.conn.Fetch(b.ctx, u.st, after, 1, ack)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				return nil // the last fetch carried the last ack
			}
			after = items[0].GetSeq()
			ack = []uint64{after}
			d := time.Since(t)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	res.fetchElapsed = time.Since(start)
	res.fetch = lat
	if err == nil && len(lat) != b.cfg.mail {
		err = fmt.Errorf("fetched %d items, put %d", len(lat), b.cfg.mail)
	}
	return err
}

// relay measures small messages and a transfer between two hidden nodes
// through the supernode's relay, and the same between two nodes connected
// directly.
func (b *bench) relay(res *results) error {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	authID, _ := peer.IDFromPrivateKey(b.authKey)
	hidden := make([]host.Host, 2)
	for i := range hidden {
		h, err := b.host("")
		if err != nil {
			return err
		}
		hidden[i] = h
		if err := h.Connect(ctx, b.sn); err != nil {
			return err
		}
		// Proving a ticket to the rendezvous admits the node to the relay.
		st, err := benchproc.SignTicket(b.authKey, fmt.Sprintf("hidden%d", i), "snbench", h)
		if err != nil {
			return err
		}
		if err := (snclient.Rendezvous{AuthServer: authID}).Publish(ctx, h, b.sn.ID, st); err != nil {
			return err
		}
	}
	a, z := hidden[0], hidden[1]
	if _, err := client.Reserve(ctx, z, b.sn); err != nil {
		return fmt.Errorf("reserving: %w", err)
	}
	circuit := b.sn.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + b.sn.ID.String() + "/p2p-circuit"))
	if err := a.Connect(ctx, peer.AddrInfo{ID: z.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		return fmt.Errorf("connecting through the relay: %w", err)
	}
	if cs := a.Network().ConnsToPeer(z.ID()); len(cs) != 1 || !cs[0].Stat().Limited {
		return errors.New("hidden nodes are not connected through the relay alone")
	}

	dc, err := b.host("127.0.0.1")
	if err != nil {
		return err
	}
	dd, err := b.host("127.0.0.1")
	if err != nil {
		return err
	}
	if err := dc.Connect(ctx, peer.AddrInfo{ID: dd.ID(), Addrs: dd.Addrs()}); err != nil {
		return err
	}
	for _, h := range []host.Host{z, dd} {
		h.SetStreamHandler(echoProto, echo)
		h.SetStreamHandler(sinkProto, sink)
	}

	msg := make([]byte, msgSize)
	_, _ = rand.Read(msg)
	lctx := network.WithAllowLimitedConn(ctx, "snbench")
	if res.relMsg, res.relMsgElapsed, err = benchproc.Measure(b.cfg.msgs, 1, func(int) error { return echoOnce(lctx, a, z.ID(), msg) }); err != nil {
		return fmt.Errorf("relayed messages: %w", err)
	}
	if res.dirMsg, res.dirMsgElapsed, err = benchproc.Measure(b.cfg.msgs, 1, func(int) error { return echoOnce(ctx, dc, dd.ID(), msg) }); err != nil {
		return fmt.Errorf("direct messages: %w", err)
	}
	res.transferBytes = int64(b.cfg.transferMiB) << 20
	if res.relTransfer, err = transfer(lctx, a, z.ID(), res.transferBytes); err != nil {
		return fmt.Errorf("relayed transfer: %w", err)
	}
	if res.dirTransfer, err = transfer(ctx, dc, dd.ID(), res.transferBytes); err != nil {
		return fmt.Errorf("direct transfer: %w", err)
	}
	return nil
}

func echo(s network.Stream) {
	_ = s.SetDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(io.LimitReader(s, 64<<10))
	if err != nil {
		_ = s.Reset()
		return
	}
	_, _ = s.Write(b)
	_ = s.Close()
}

func sink(s network.Stream) {
	_ = s.SetDeadline(time.Now().Add(5 * time.Minute))
	n, err := io.Copy(io.Discard, s)
	if err != nil {
		_ = s.Reset()
		return
	}
	_ = binary.Write(s, binary.BigEndian, n)
	_ = s.Close()
}

// echoOnce sends msg on a fresh stream and reads it back.
func echoOnce(ctx context.Context, h host.Host, p peer.ID, msg []byte) error {
	s, err := h.NewStream(ctx, p, echoProto)
	if err != nil {
		return err
	}
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.Write(msg); err != nil {
		_ = s.Reset()
		return err
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return err
	}
	got, err := io.ReadAll(s)
	if err != nil {
		_ = s.Reset()
		return err
	}
	_ = s.Close()
	if len(got) != len(msg) {
		return fmt.Errorf("echo of %d bytes, sent %d", len(got), len(msg))
	}
	return nil
}

// transfer sends n bytes on one stream and waits for the sink's count.
func transfer(ctx context.Context, h host.Host, p peer.ID, n int64) (time.Duration, error) {
	buf := make([]byte, 256<<10)
	_, _ = rand.Read(buf)
	start := time.Now()
	s, err := h.NewStream(ctx, p, sinkProto)
	if err != nil {
		return 0, err
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Minute))
	for left := n; left > 0; {
		w, err := s.Write(buf[:min(int64(len(buf)), left)])
		if err != nil {
			_ = s.Reset()
			return 0, err
		}
		left -= int64(w)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return 0, err
	}
	var got int64
	if err := binary.Read(s, binary.BigEndian, &got); err != nil {
		_ = s.Reset()
		return 0, err
	}
	d := time.Since(start)
	_ = s.Close()
	if got != n {
		return 0, fmt.Errorf("sink read %d bytes, sent %d", got, n)
	}
	return d, nil
}

// report prints the human table, then the benchmark lines.
func report(w io.Writer, cfg *config, r *results) {
	n := float64(r.n)
	snPer := float64(r.snConn-r.snIdle) / n
	snPubPer := float64(r.snPub-r.snIdle) / n
	barePer := float64(r.bareConn-r.bareIdle) / n
	pingP50, pingP99 := benchproc.Pct(r.ping, 50), benchproc.Pct(r.ping, 99)
	perPublish := r.publishAll / time.Duration(r.n)
	putRate := float64(r.mailItems) / r.putElapsed.Seconds()
	fetchRate := float64(r.mailItems) / r.fetchElapsed.Seconds()
	relRate := float64(len(r.relMsg)) / r.relMsgElapsed.Seconds()
	dirRate := float64(len(r.dirMsg)) / r.dirMsgElapsed.Seconds()
	mbps := func(d time.Duration) float64 { return float64(r.transferBytes) / d.Seconds() / 1e6 }
	ratio := benchproc.Ratio

	fmt.Fprintf(w, "\nOne supernode, %d simulated nodes from %d worker processes (TCP, %d loopback addresses), %d CPUs\n",
		r.n, r.workers, min(cfg.addrs, r.n), runtime.NumCPU())
	fmt.Fprintf(w, "connect all: %v (%d dials retried after a timeout); supernode RSS idle %.1f MiB, %d connected %.1f MiB, published %.1f MiB\n\n",
		r.connect.Round(time.Millisecond), r.retries, benchproc.MiB(r.snIdle), r.n, benchproc.MiB(r.snConn), benchproc.MiB(r.snPub))
	tw := func(what, op, base, rt string) { fmt.Fprintf(w, "%-52s %14s %14s %9s\n", what, op, base, rt) }
	tw("measure", "op", "baseline", "ratio")
	tw("RSS per connected node vs bare libp2p host", benchproc.KiB(snPer), benchproc.KiB(barePer), fmt.Sprintf("%.2fx", snPer/barePer))
	tw("RSS per connected+published node vs bare host", benchproc.KiB(snPubPer), benchproc.KiB(barePer), fmt.Sprintf("%.2fx", snPubPer/barePer))
	tw(fmt.Sprintf("publish all %d (with allow lists)", r.n), r.publishAll.Round(time.Millisecond).String(), "", "")
	tw("  per node (amortized) vs ping p50", benchproc.Dur(perPublish), benchproc.Dur(pingP50), ratio(perPublish, pingP50))
	tw(fmt.Sprintf("lookup of %d contacts p50 vs ping p50", cfg.contacts), benchproc.Dur(benchproc.Pct(r.lookup, 50)), benchproc.Dur(pingP50), ratio(benchproc.Pct(r.lookup, 50), pingP50))
	tw(fmt.Sprintf("lookup of %d contacts p99 vs ping p99", cfg.contacts), benchproc.Dur(benchproc.Pct(r.lookup, 99)), benchproc.Dur(pingP99), ratio(benchproc.Pct(r.lookup, 99), pingP99))
	tw(fmt.Sprintf("mailbox put p50 (%d in flight) vs ping p50", cfg.mailConc), benchproc.Dur(benchproc.Pct(r.put, 50)), benchproc.Dur(pingP50), ratio(benchproc.Pct(r.put, 50), pingP50))
	tw(fmt.Sprintf("mailbox put p99 (%d in flight) vs ping p99", cfg.mailConc), benchproc.Dur(benchproc.Pct(r.put, 99)), benchproc.Dur(pingP99), ratio(benchproc.Pct(r.put, 99), pingP99))
	tw(fmt.Sprintf("mailbox puts per second (%d in flight)", cfg.mailConc), fmt.Sprintf("%.0f/s", putRate), "", "")
	tw(fmt.Sprintf("mailbox fetch+ack p50 (%d in flight) vs ping p50", cfg.mailConc), benchproc.Dur(benchproc.Pct(r.fetch, 50)), benchproc.Dur(pingP50), ratio(benchproc.Pct(r.fetch, 50), pingP50))
	tw(fmt.Sprintf("mailbox fetch+ack p99 (%d in flight) vs ping p99", cfg.mailConc), benchproc.Dur(benchproc.Pct(r.fetch, 99)), benchproc.Dur(pingP99), ratio(benchproc.Pct(r.fetch, 99), pingP99))
	tw(fmt.Sprintf("mailbox fetch+acks per second (%d in flight)", cfg.mailConc), fmt.Sprintf("%.0f/s", fetchRate), "", "")
	tw("relayed message p50 vs direct", benchproc.Dur(benchproc.Pct(r.relMsg, 50)), benchproc.Dur(benchproc.Pct(r.dirMsg, 50)), ratio(benchproc.Pct(r.relMsg, 50), benchproc.Pct(r.dirMsg, 50)))
	tw("relayed message p99 vs direct", benchproc.Dur(benchproc.Pct(r.relMsg, 99)), benchproc.Dur(benchproc.Pct(r.dirMsg, 99)), ratio(benchproc.Pct(r.relMsg, 99), benchproc.Pct(r.dirMsg, 99)))
	tw("relayed messages per second vs direct", fmt.Sprintf("%.0f/s", relRate), fmt.Sprintf("%.0f/s", dirRate), fmt.Sprintf("%.2fx", relRate/dirRate))
	tw(fmt.Sprintf("relayed %d MiB transfer vs direct (throughput)", cfg.transferMiB),
		fmt.Sprintf("%.0f MB/s", mbps(r.relTransfer)), fmt.Sprintf("%.0f MB/s", mbps(r.dirTransfer)),
		fmt.Sprintf("%.2fx", mbps(r.relTransfer)/mbps(r.dirTransfer)))
	fmt.Fprintln(w)

	// go test -bench lines: name, iterations, then value/unit pairs.
	line := func(name string, iters int, ns float64, extra string) {
		fmt.Fprintf(w, "BenchmarkSN%s\t%d\t%.0f ns/op\t%d nodes%s\n", name, iters, ns, r.n, extra)
	}
	line("RSSPerNode", r.n, 0, fmt.Sprintf("\t%.0f B/node", snPer))
	line("RSSPerPublishedNode", r.n, 0, fmt.Sprintf("\t%.0f B/node", snPubPer))
	line("BareRSSPerNode", r.n, 0, fmt.Sprintf("\t%.0f B/node", barePer))
	line("PublishAll", 1, float64(r.publishAll), "")
	line("PublishPerNode", r.n, float64(perPublish), "")
	line("PingP50", len(r.ping), float64(pingP50), "")
	line("PingP99", len(r.ping), float64(pingP99), "")
	line("LookupP50", len(r.lookup), float64(benchproc.Pct(r.lookup, 50)), "")
	line("LookupP99", len(r.lookup), float64(benchproc.Pct(r.lookup, 99)), "")
	line("MailPut", r.mailItems, float64(r.putElapsed)/float64(r.mailItems), "")
	line("MailPutP50", r.mailItems, float64(benchproc.Pct(r.put, 50)), "")
	line("MailPutP99", r.mailItems, float64(benchproc.Pct(r.put, 99)), "")
	line("MailFetchAck", r.mailItems, float64(r.fetchElapsed)/float64(r.mailItems), "")
	line("MailFetchAckP50", r.mailItems, float64(benchproc.Pct(r.fetch, 50)), "")
	line("MailFetchAckP99", r.mailItems, float64(benchproc.Pct(r.fetch, 99)), "")
	line("RelayMsg", len(r.relMsg), float64(r.relMsgElapsed)/float64(len(r.relMsg)), "")
	line("RelayMsgP50", len(r.relMsg), float64(benchproc.Pct(r.relMsg, 50)), "")
	line("RelayMsgP99", len(r.relMsg), float64(benchproc.Pct(r.relMsg, 99)), "")
	line("DirectMsg", len(r.dirMsg), float64(r.dirMsgElapsed)/float64(len(r.dirMsg)), "")
	line("DirectMsgP50", len(r.dirMsg), float64(benchproc.Pct(r.dirMsg, 50)), "")
	line("DirectMsgP99", len(r.dirMsg), float64(benchproc.Pct(r.dirMsg, 99)), "")
	line("RelayTransfer", 1, float64(r.relTransfer), fmt.Sprintf("\t%.2f MB/s", mbps(r.relTransfer)))
	line("DirectTransfer", 1, float64(r.dirTransfer), fmt.Sprintf("\t%.2f MB/s", mbps(r.dirTransfer)))
}
