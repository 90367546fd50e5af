package soak

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the supernodes' mailbox databases, read as they run
	"golang.org/x/sys/unix"
)

// What the servers kept, checked at the end of a run: the supernodes and
// the auth server hold nothing a user wrote in plaintext, their mailboxes
// drain to empty once every node is back, and no process holds more file
// descriptors than a bound.

// textMarker begins every message the soak sends ("soak message
// user3→user7 #12 …"): found in a server's file, a message was stored or
// logged in plaintext. Thirteen bytes: sealed data does not hold it by
// chance.
const textMarker = "soak message "

// serverDirs are where the servers keep their databases and logs: the auth
// server's directory and each supernode's profile and log.
func (s *run) serverFiles() ([]string, error) {
	var files []string
	walk := func(root string) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	if err := walk(filepath.Join(s.dir, "auth")); err != nil {
		return nil, err
	}
	for _, sn := range s.sns {
		if err := walk(sn.profile); err != nil {
			return nil, err
		}
		files = append(files, sn.log)
	}
	return files, nil
}

// Plaintext is the server files holding a message's text.
func (s *run) plaintext() ([]string, error) {
	files, err := s.serverFiles()
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) { // a WAL checkpointed away meanwhile
				continue
			}
			return nil, err
		}
		if bytes.Contains(b, []byte(textMarker)) {
			bad = append(bad, f)
		}
	}
	return bad, nil
}

// mailboxDBs are the mailbox databases of the run: each supernode's and the
// auth server's own.
func (s *run) mailboxDBs() []string {
	dbs := []string{filepath.Join(s.dir, "auth", "auth.mailbox.db")}
	for _, sn := range s.sns {
		dbs = append(dbs, filepath.Join(sn.profile, "mailbox.db"))
	}
	return dbs
}

// mailItems counts the items every mailbox holds, reading the databases
// beside the running supernodes (WAL lets a reader in).
func mailItems(dbs []string) (int, error) {
	total := 0
	for _, path := range dbs {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			continue // this server keeps no mailboxes
		}
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
		if err != nil {
			return 0, err
		}
		var n int
		err = db.QueryRow(`SELECT COUNT(*) FROM mail`).Scan(&n)
		db.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		total += n
	}
	return total, nil
}

// drainMail waits (up to bound) for every mailbox to be empty, and returns
// what is left.
func (s *run) drainMail(ctx context.Context, bound time.Duration) (int, error) {
	deadline := time.Now().Add(bound)
	for {
		n, err := mailItems(s.mailboxDBs())
		if err != nil || n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return n, err
		}
		s.logf("waiting for the mailboxes to drain: %d items left", n)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// Descriptor bounds: a node holds its databases, its listeners and a few
// connections per contact and home; a supernode a few per node. A leak of
// one descriptor per message or per reconnection passes them within a run.
const (
	maxNodeFDs      = 128
	maxSupernodeFDs = 512
)

// openFDs is how many descriptors process pid holds.
func openFDs(pid int) (int, error) {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(es), err
}

// leaks is every process over its descriptor or goroutine bound,
// described, and the largest count of each kind.
func (s *run) leaks(ctx context.Context) (bad []string, maxNode, maxSN, maxG int) {
	for _, n := range s.all() {
		n.mu.Lock()
		p := n.live.Load()
		n.mu.Unlock()
		if p == nil {
			bad = append(bad, n.name()+": not running")
			continue
		}
		c, err := openFDs(p.cmd.Process.Pid)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n.name(), err))
			continue
		}
		maxNode = max(maxNode, c)
		if c > maxNodeFDs {
			bad = append(bad, fmt.Sprintf("%s holds %d descriptors (bound %d)", n.name(), c, maxNodeFDs))
		}
	}
	for j, sn := range s.sns {
		sn.mu.Lock()
		p := sn.p
		sn.mu.Unlock()
		if p == nil {
			bad = append(bad, fmt.Sprintf("supernode %d: not running", j))
			continue
		}
		c, err := openFDs(p.cmd.Process.Pid)
		if err != nil {
			bad = append(bad, fmt.Sprintf("supernode %d: %v", j, err))
			continue
		}
		maxSN = max(maxSN, c)
		if c > maxSupernodeFDs {
			bad = append(bad, fmt.Sprintf("supernode %d holds %d descriptors (bound %d)", j, c, maxSupernodeFDs))
		}
		var g int
		// A supernode serves its metrics once it signed in again after its
		// last restart, which the auth server's login limit may have
		// delayed: the healed network gives it two minutes.
		err = retry(ctx, 2*time.Minute, func(ctx context.Context) error {
			g, err = s.goroutines(ctx, j)
			return err
		})
		if err != nil {
			bad = append(bad, fmt.Sprintf("supernode %d: goroutines: %v (%s; its log ends: %s)", j, err, p.state(), lastLines(sn.log, 3)))
			continue
		}
		maxG = max(maxG, g)
		if g > maxSupernodeGoroutines {
			bad = append(bad, fmt.Sprintf("supernode %d runs %d goroutines (bound %d)", j, g, maxSupernodeGoroutines))
		}
	}
	return bad, maxNode, maxSN, maxG
}

// joinOr is the list, or "none".
func joinOr(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, "; ")
}

// maxSupernodeGoroutines bounds a supernode's goroutines at the end of a
// run, when every node is back and idle: its services' own few dozen, and
// some per connected node and stream. A goroutine left behind per call or
// per connection passes it within a run.
const maxSupernodeGoroutines = 1500

// metricsPort is supernode j's metrics port, on 127.0.0.1 in pub.
func metricsPort(j int) int { return 9300 + j }

// dialIn connects to addr from inside network namespace ns.
func dialIn(ctx context.Context, ns, addr string) (c net.Conn, err error) {
	err = inNetns(ns, func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// inNetns runs f on a thread in network namespace ns: sockets f opens
// belong to ns, and may be used from anywhere after. The thread comes
// back out of ns before it is unlocked, and must not end there: the
// harness's processes get Pdeathsig, which Linux sends when the thread
// that forked them ends, and any thread may have forked one (a dial that
// let its thread die in ns killed a supernode). Only when the way back
// fails does the thread stay locked, ending with its goroutine, rather
// than run other goroutines in the wrong namespace.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back := true
		defer func() {
			if back {
				runtime.UnlockOSThread()
			}
		}()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("this thread's namespace: %w", err)
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns, err)
			return
		}
		err = f()
		back = unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil
		errc <- err
	}()
	return <-errc
}

// goroutines reads supernode j's goroutine count from its metrics.
func (s *run) goroutines(ctx context.Context, j int) (int, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dialIn(ctx, s.topo.NS("pub"), addr)
		}}}
	defer client.CloseIdleConnections()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort(j)), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	return MetricValue(string(body), "go_goroutines")
}

// MetricValue is the value of an unlabelled metric in a Prometheus text
// exposition.
func MetricValue(text, name string) (int, error) {
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", name, err)
			}
			return int(v), nil
		}
	}
	return 0, fmt.Errorf("metric %s: not exposed", name)
}
