// Package soak is the chaos soak of issue 16: it builds a small EServer
// network in Linux network namespaces (a public segment with the auth
// server and the supernodes, LANs behind NAT routers with the node
// daemons), sends chat between random contact pairs, messages in
// conversations of three and in chat rooms (rooms.go) while it shapes the
// WAN links, takes nodes offline — gracefully, or by SIGKILL of the daemon
// at any moment — so mail carries their messages, and kills supernodes
// with SIGKILL; then it heals everything, waits (bounded) for the network
// to settle and counts what was lost, duplicated or reordered: every
// message whose send returned must be in its recipient's history exactly
// once, in the order its author sent it — a room's message at every other
// member of the room, as its daemons showed it.
//
// It drives the real binaries (eserver-auth, eserver-supernode,
// eserver-node daemon) as processes, the way an operator and a bot would,
// so a kill is a real kill. It needs root (namespaces, TAP devices,
// nftables, tc); Run says so with ErrNotRoot. The same seed gives the same
// plan — which pairs, which messages, which faults in which order — though
// not the same timing.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotRoot = errors.New("the soak makes network namespaces: run it as root")
	ErrConfig  = errors.New("bad soak configuration")
)

// Config is one soak run. Zero fields take the documented defaults.
type Config struct {
	Bin        string        // directory holding eserver-auth, eserver-supernode, eserver-node (required)
	Nodes      int           // node daemons (default 12; at most MaxNodes)
	Supernodes int           // supernode processes besides the auth server's own services (default 3)
	LANs       int           // LAN segments behind NAT routers (default 3)
	Messages   int           // chat messages to send (default 300)
	Seed       uint64        // the plan's seed (default 1)
	Period     time.Duration // a supernode is killed every Period (default 10 s)
	Rate       float64       // messages started per second, all senders together (default 10)
	Settle     time.Duration // how long to wait for the healed network to deliver everything (default 2 min)
	Shape      *Shape        // WAN impairment (default DefaultShape)
	Keep       bool          // keep the temporary directory (logs, databases) instead of removing it
	Verbose    bool          // the nodes log at debug level (with Keep, to read what happened)
	// Twins is how many accounts are signed in on a second device too
	// (devices.go; default Nodes/6, at least 1; -1 for none).
	Twins int
	// Rooms adds chat rooms and their messages (rooms.go); the command
	// turns it on unless SOAK_ROOMS=0.
	Rooms    bool
	Progress io.Writer // progress lines (default: none)
}

// MaxNodes bounds Nodes in this first increment: each daemon is a process.
const MaxNodes = 60

func (c *Config) defaults() error {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Nodes, 12)
	set(&c.Supernodes, 3)
	set(&c.LANs, 3)
	set(&c.Messages, 300)
	set(&c.Twins, max(1, c.Nodes/6))
	if c.Twins < 0 {
		c.Twins = 0
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Period == 0 {
		c.Period = 10 * time.Second
	}
	if c.Rate == 0 {
		c.Rate = 10
	}
	if c.Settle == 0 {
		c.Settle = 2 * time.Minute
	}
	if c.Shape == nil {
		s := DefaultShape
		c.Shape = &s
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	switch {
	case c.Bin == "":
		return fmt.Errorf("%w: no directory of binaries", ErrConfig)
	case c.Nodes < 2 || c.Nodes > MaxNodes:
		return fmt.Errorf("%w: %d nodes, want 2…%d", ErrConfig, c.Nodes, MaxNodes)
	case c.Supernodes < 1 || c.Supernodes > 20:
		return fmt.Errorf("%w: %d supernodes, want 1…20", ErrConfig, c.Supernodes)
	case c.Twins > c.Nodes:
		return fmt.Errorf("%w: %d accounts on two devices of %d", ErrConfig, c.Twins, c.Nodes)
	case c.Messages < 1:
		return fmt.Errorf("%w: %d messages", ErrConfig, c.Messages)
	case c.Period < time.Second || c.Rate <= 0 || c.Settle < time.Second:
		return fmt.Errorf("%w: period %v, rate %v, settle %v", ErrConfig, c.Period, c.Rate, c.Settle)
	}
	for _, b := range []string{"eserver-auth", "eserver-supernode", "eserver-node"} {
		if _, err := os.Stat(filepath.Join(c.Bin, b)); err != nil {
			return fmt.Errorf("%w: %v (make soak builds them)", ErrConfig, err)
		}
	}
	return nil
}

// Faults counts what the harness did to the network.
type Faults struct {
	SupernodeKills int    // SIGKILLs of a supernode (each restarted)
	NodeOffline    int    // times a node went offline for a while (graceful stop, restart, sign-in)
	NodeKills      int    // times a node's daemon was killed with SIGKILL (restart, sign-in)
	SignOuts       int    // times a node signed out for a while, its daemon running on
	Partitions     int    // times a LAN was cut off from the rest for a while
	Shaping        string // how the WAN links were shaped
}

// Total is every fault injected, counting the shaping of the links once.
func (f Faults) Total() int {
	return f.SupernodeKills + f.NodeOffline + f.NodeKills + f.SignOuts + f.Partitions + 1
}

// Result is a finished run.
type Result struct {
	Counts
	Refused int // sends that returned an error (not counted as sent)
	// RefusedBy counts Refused by why: "node down" (the harness drew a
	// sender that was away), a room's or a chat's error code, "other".
	RefusedBy map[string]int
	InRooms   int         // of Sent, the room messages (Sent counts one per recipient: each other member)
	ByMail    int         // messages recipients found in their mailboxes on signing in (offlineMessages)
	Dropped   int         // packets the nftables fallback dropped on the WAN links (netem keeps no count here)
	Relay     *RelayStats // what the TAP relays did to the WAN frames while shaping was on (nil on veth links)
	Servers   ServerCheck
	Faults    Faults
	Twins     int // accounts signed in on two devices: Sent counts a copy for each device, and one for the sender's other device

	Duration time.Duration
	Seed     uint64
	Dir      string // the temporary directory, when kept
}

// ServerCheck is what the servers kept at the end of a run.
type ServerCheck struct {
	MailLeft  int      // items still in the mailboxes once every node was back and had time to fetch
	Plaintext []string // server files holding a message's text
	Leaks     []string // processes over their descriptor bound (or gone)
	NodeFDs   int      // the most descriptors a node held at the end
	SNFDs     int      // the most descriptors a supernode held at the end
	// SNGoroutines is the most goroutines a supernode ran at the end.
	SNGoroutines int
}

// Clean reports whether nothing was lost, duplicated or reordered, the
// mailboxes drained, no server kept plaintext and nothing leaked.
func (r Result) Clean() bool {
	return r.Counts.Clean() && r.Servers.MailLeft == 0 && len(r.Servers.Plaintext) == 0 && len(r.Servers.Leaks) == 0
}

// Missing is the fault kinds the run never injected (a run shorter than
// a few Periods misses some).
func (f Faults) Missing() []string {
	var m []string
	for _, k := range []struct {
		name string
		n    int
	}{{"supernode kill", f.SupernodeKills}, {"node stop", f.NodeOffline}, {"node kill", f.NodeKills},
		{"sign-out", f.SignOuts}, {"partition", f.Partitions}} {
		if k.n == 0 {
			m = append(m, k.name)
		}
	}
	return m
}

// Line is the one line a run prints.
func (r Result) Line() string {
	s := fmt.Sprintf("soak: sent %d (%d in rooms), delivered %d (%d by mail), lost %d, duplicated %d, out of order %d; faults %d (supernode kills %d, node kills %d, nodes offline %d, sign-outs %d, partitions %d, links: %s",
		r.Sent, r.InRooms, r.Delivered, r.ByMail, r.Lost, r.Duplicated, r.OutOfOrder, r.Faults.Total(), r.Faults.SupernodeKills,
		r.Faults.NodeKills, r.Faults.NodeOffline, r.Faults.SignOuts, r.Faults.Partitions, r.Faults.Shaping)
	if rs := r.Relay; rs != nil {
		s += fmt.Sprintf(", frames dropped %d, duplicated %d, delayed %d, reordered %d", rs.Dropped, rs.Duplicated, rs.Delayed, rs.Reordered)
		if rs.Overflowed > 0 {
			s += fmt.Sprintf(", %d over the relay's queue bound", rs.Overflowed)
		}
	} else if r.Dropped > 0 {
		s += fmt.Sprintf(", %d packets dropped", r.Dropped)
	}
	s += fmt.Sprintf("); mail left %d, plaintext at servers %d, leaks %d (at most %d descriptors per node, %d descriptors and %d goroutines per supernode)",
		r.Servers.MailLeft, len(r.Servers.Plaintext), len(r.Servers.Leaks), r.Servers.NodeFDs, r.Servers.SNFDs, r.Servers.SNGoroutines)
	if r.Twins > 0 {
		s += fmt.Sprintf("; %d accounts on two devices", r.Twins)
	}
	s += fmt.Sprintf("; time %v; seed %d", r.Duration.Round(time.Second), r.Seed)
	if r.Refused > 0 || r.Unexpected > 0 {
		s += fmt.Sprintf("; refused %d", r.Refused)
		if len(r.RefusedBy) > 0 {
			why := slices.Sorted(maps.Keys(r.RefusedBy))
			for i, k := range why {
				why[i] = fmt.Sprintf("%s %d", k, r.RefusedBy[k])
			}
			s += " (" + strings.Join(why, ", ") + ")"
		}
		s += fmt.Sprintf(", unexpected %d", r.Unexpected)
	}
	return s
}

// Run performs one soak. Whatever it made — namespaces, processes, the
// temporary directory — is gone when it returns, also on error or when
// ctx is cancelled.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if os.Geteuid() != 0 {
		return res, ErrNotRoot
	}
	if err := cfg.defaults(); err != nil {
		return res, err
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return res, fmt.Errorf("%w: the soak needs %s (make deps installs iproute2 and nftables): %v", ErrConfig, tool, err)
		}
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "eserver-soak-")
	if err != nil {
		return res, err
	}
	s := &run{cfg: cfg, dir: dir, topo: Topology{Prefix: fmt.Sprintf("sk%d-", os.Getpid()%100000), LANs: cfg.LANs, Shape: *cfg.Shape}}
	if err := s.topo.Check(); err != nil {
		os.RemoveAll(dir)
		return res, err
	}
	defer func() {
		s.cleanup()
		if cfg.Keep {
			res.Dir = dir
		} else {
			os.RemoveAll(dir)
		}
	}()
	res, err = s.soak(ctx)
	res.Duration = time.Since(start)
	res.Seed = cfg.Seed
	return res, err
}

// run is one soak's state.
type run struct {
	cfg  Config
	dir  string
	topo Topology
	auth struct {
		p  *proc
		id string // peer ID
	}
	sns    []*supernodeProc
	nodes  []*node // each account's first device
	twins  []*node // second devices of Config.Twins accounts (devices.go)
	pairs  [][2]int
	groups []group
	rooms  []RoomSpec
	mail   atomic.Int64 // messages nodes found in their mailboxes on signing in
	// links are the relayed WAN links (topo.Relay), served until
	// stopLinks; linksDone ends when every Serve returned.
	links     []*tapLink
	stopLinks context.CancelFunc
	linksDone sync.WaitGroup
}

func (s *run) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, "soak: "+format+"\n", args...)
}

// sh runs commands in order, failing on the first error.
func sh(cmds [][]string) error {
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// shAll runs every command, ignoring failures (teardown, heal).
func shAll(cmds [][]string) {
	for _, c := range cmds {
		exec.Command(c[0], c[1:]...).Run()
	}
}

func (s *run) cleanup() {
	var wg sync.WaitGroup
	for _, n := range s.all() {
		wg.Go(func() { n.mu.Lock(); defer n.mu.Unlock(); n.down() })
	}
	for _, sn := range s.sns {
		wg.Go(func() { sn.stop() })
	}
	wg.Wait()
	if s.auth.p != nil {
		s.auth.p.kill(syscall.SIGTERM)
	}
	if s.stopLinks != nil {
		s.stopLinks()
	}
	s.linksDone.Wait()
	for _, l := range s.links {
		l.Close() // one never served, when building failed half way
	}
	shAll(s.topo.Teardown())
}

func (s *run) soak(ctx context.Context) (Result, error) {
	var res Result
	s.logf("building %d LANs behind NAT routers (namespaces %s*), temp dir %s", s.cfg.LANs, s.topo.Prefix, s.dir)
	if err := s.build(); err != nil {
		return res, fmt.Errorf("building the network: %w", err)
	}
	if err := s.startAuth(); err != nil {
		return res, err
	}
	if err := s.startNodes(ctx); err != nil {
		return res, err
	}
	if err := s.startTwins(); err != nil {
		return res, err
	}
	if err := s.startSupernodes(ctx); err != nil {
		return res, err
	}
	if err := s.signUp(ctx); err != nil {
		return res, err
	}
	if err := s.befriend(ctx); err != nil {
		return res, err
	}
	if err := s.signInTwins(ctx); err != nil {
		return res, err
	}
	if err := s.makeGroups(ctx); err != nil {
		return res, err
	}
	if err := s.makeRooms(ctx); err != nil {
		return res, err
	}
	shaping, err := s.shape()
	if err != nil {
		return res, err
	}
	res.Faults.Shaping, res.Twins = shaping, len(s.twins)
	s.logf("links shaped (%s); sending %d messages at %v/s", shaping, s.cfg.Messages, s.cfg.Rate)

	// Faults run while the messages go; they stop once every send returned.
	faultCtx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { res.Faults.SupernodeKills = s.killSupernodes(faultCtx) })
	wg.Go(func() {
		res.Faults.NodeOffline, res.Faults.NodeKills, res.Faults.SignOuts = s.churnNodes(faultCtx, ctx)
	})
	wg.Go(func() { res.Faults.Partitions = s.partition(faultCtx) })
	sent, refused, refusedBy := s.send(ctx)
	stopFaults()
	wg.Wait()
	res.Refused, res.RefusedBy = refused, refusedBy
	for c, ids := range sent {
		if isRoom(c.To) {
			res.InRooms += len(ids) * len(s.othersInRoom(roomName(c.To), c.From))
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	s.logf("healing: links unshaped, every supernode and node up")
	res.Dropped = s.dropped()
	if s.topo.Relay {
		var st RelayStats
		for _, l := range s.links {
			l.Shaping(false)
			st.add(l.Stats())
		}
		res.Relay = &st
	}
	shAll(s.topo.Heal())
	if err := s.healProcesses(ctx); err != nil {
		return res, err
	}
	res.Counts = s.settle(ctx, sent)
	res.ByMail = int(s.mail.Load())
	var err2 error
	if res.Servers, err2 = s.checkServers(ctx); err2 != nil {
		return res, err2
	}
	return res, ctx.Err()
}

// checkServers waits for the mailboxes to drain, then looks at what every
// process holds and what the servers kept.
func (s *run) checkServers(ctx context.Context) (ServerCheck, error) {
	var c ServerCheck
	var err error
	if c.MailLeft, err = s.drainMail(ctx, s.cfg.Settle); err != nil {
		return c, fmt.Errorf("counting mail left: %w", err)
	}
	c.Leaks, c.NodeFDs, c.SNFDs, c.SNGoroutines = s.leaks(ctx)
	if c.Plaintext, err = s.plaintext(); err != nil {
		return c, fmt.Errorf("looking for plaintext at the servers: %w", err)
	}
	if c.MailLeft > 0 || len(c.Leaks) > 0 || len(c.Plaintext) > 0 {
		s.logf("servers: %d mail items left; leaks: %s; plaintext in: %s", c.MailLeft, joinOr(c.Leaks), joinOr(c.Plaintext))
	}
	return c, nil
}

// build makes the network: with TAP devices, each WAN link relayed by
// the harness (relay.go), which can delay and reorder where the kernel
// has no netem; without, veth pairs.
func (s *run) build() error {
	if err := tapUsable(); err != nil {
		s.logf("WAN links are veth pairs: no TAP devices (%v)", err)
		return sh(s.topo.Build())
	}
	s.topo.Relay = true
	if err := sh(s.topo.MakeNamespaces()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopLinks = cancel
	for k := 1; k <= s.topo.LANs; k++ {
		tmp := [2]string{fmt.Sprintf("%st%da", s.topo.Prefix, k), fmt.Sprintf("%st%db", s.topo.Prefix, k)}
		l, err := openTapLink(s.topo.WANEnds(k), tmp, s.topo.Shape, s.cfg.Seed<<8|uint64(k))
		if err != nil {
			return err
		}
		s.links = append(s.links, l)
		s.linksDone.Go(func() {
			if err := l.Serve(ctx); err != nil {
				s.logf("WAN link of LAN %d: %v", k, err)
			}
		})
	}
	return sh(s.topo.Routers())
}

// shape impairs the WAN links: the relays where the links are relayed,
// else netem where the kernel has it, else what nftables can do — loss
// and duplication — and the result says so.
func (s *run) shape() (string, error) {
	sh0 := s.topo.Shape
	if s.topo.Relay {
		for _, l := range s.links {
			l.Shaping(true)
		}
		return fmt.Sprintf("TAP relay %g%% loss, %g%% reorder, %g%% duplicate, %d±%d ms", sh0.LossPct, sh0.ReorderPct, sh0.DuplicatePct, sh0.DelayMs, sh0.JitterMs), nil
	}
	if err := sh(s.topo.Netem()); err == nil {
		return fmt.Sprintf("netem %g%% loss, %g%% reorder, %g%% duplicate, %d±%d ms", sh0.LossPct, sh0.ReorderPct, sh0.DuplicatePct, sh0.DelayMs, sh0.JitterMs), nil
	} else if !strings.Contains(err.Error(), "qdisc kind is unknown") {
		return "", fmt.Errorf("shaping the links: %w", err)
	}
	shAll(s.topo.Heal())
	if err := sh(s.topo.NftShape(true)); err == nil {
		return fmt.Sprintf("no netem in this kernel: nftables %g%% loss, %g%% duplication, no delay/reorder", sh0.LossPct, sh0.DuplicatePct), nil
	}
	shAll(s.topo.Heal())
	if err := sh(s.topo.NftShape(false)); err != nil {
		return "", fmt.Errorf("shaping the links with nftables: %w", err)
	}
	return fmt.Sprintf("no netem in this kernel: nftables %g%% loss only, no delay/reorder/duplication", sh0.LossPct), nil
}

// dropped sums the counters of the nftables loss rules (0 under netem).
func (s *run) dropped() int {
	n := 0
	for _, c := range s.topo.NftCounters() {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err == nil {
			n += CounterPackets(string(out))
		}
	}
	return n
}

func (s *run) startAuth() error {
	if err := os.MkdirAll(filepath.Join(s.dir, "auth"), 0o700); err != nil {
		return err
	}
	p, out, _, err := startProc(s.topo.NS("pub"), []string{filepath.Join(s.cfg.Bin, "eserver-auth"),
		"--db", filepath.Join(s.dir, "auth", "auth.db"),
		"--listen", "/ip4/0.0.0.0/tcp/1864", "--listen", "/ip4/0.0.0.0/udp/1864/quic-v1", "--register-rate", "0"},
		nil, filepath.Join(s.dir, "auth", "log"))
	if err != nil {
		return err
	}
	s.auth.p = p
	addr, err := firstLine(out, p, time.Minute)
	if err != nil {
		return fmt.Errorf("auth server: %w", err)
	}
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 {
		return fmt.Errorf("auth server printed %q, not an address with /p2p/", addr)
	}
	s.auth.id = addr[i+len("/p2p/"):]
	return nil
}

// authAddr is the auth server's address as seen from LAN k (0: from pub).
func (s *run) authAddr(k int) string {
	ip := "127.0.0.1"
	if k > 0 {
		ip = s.topo.Gateway(k)
	}
	return fmt.Sprintf("/ip4/%s/tcp/1864/p2p/%s", ip, s.auth.id)
}

// parallel runs f(0…n-1) at most 4 at a time (the machine is small) and
// returns the first error.
func parallel(n int, f func(i int) error) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// retry calls f until it succeeds, ctx ends or bound passes, with a
// growing pause: servers come and go during the soak.
func retry(ctx context.Context, bound time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(bound)
	pause := 500 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) || permanent(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// rngFor is the seeded generator of one part of the plan, so the parts
// do not disturb one another's sequence.
func (s *run) rngFor(part uint64) *rand.Rand {
	return rand.New(rand.NewPCG(s.cfg.Seed, part))
}

// permanent reports an error no retry can cure: the request itself is bad.
func permanent(err error) bool {
	var re *RPCError
	return errors.As(err, &re) && (re.Code == "bad_request" || re.Code == "not_contact")
}

// partition cuts a random LAN off from the rest for 3 Periods (30 s by
// default), the first 2 Periods after the faults begin and then every 6,
// until ctx ends; the cut is lifted before it returns. Nodes inside still
// reach one another; what they send out waits in their outboxes, and what
// is sent to them goes to their mailboxes.
func (s *run) partition(ctx context.Context) int {
	rng := s.rngFor(5)
	cuts := 0
	wait := 2 * s.cfg.Period
	for {
		select {
		case <-ctx.Done():
			return cuts
		case <-time.After(wait):
		}
		k := 1 + rng.IntN(s.cfg.LANs)
		if err := sh(s.topo.Partition(k)); err != nil {
			s.logf("partitioning LAN %d: %v", k, err)
			shAll(s.topo.Unpartition(k))
			return cuts
		}
		cuts++
		s.logf("LAN %d cut off for %v", k, 3*s.cfg.Period)
		select {
		case <-ctx.Done():
		case <-time.After(3 * s.cfg.Period):
		}
		shAll(s.topo.Unpartition(k))
		wait = 3 * s.cfg.Period
	}
}
