// Package benchproc is the plumbing the multi-process benchmarks
// (supernode/cmd/snbench, supernode/cmd/roombench) share: a benchmark
// re-executes itself as servers and workers, each a child spoken to one line
// at a time over stdin and stdout (a command line in, a JSON line out), reads
// their resident memory from /proc, and turns the latencies it collects into
// percentiles. Keeping the simulated nodes in other processes keeps their
// cost out of the measured server's RSS and lets a run hold more connections
// than one process may have files.
//
// A child's first line is either "ADDR <multiaddr>" (a server saying where
// it listens) or a JSON object (a worker saying it is ready). After that
// every command gets exactly one JSON line; a non-empty "err" field in it is
// the command's failure.
package benchproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Child is a re-executed child process.
type Child struct {
	Role string
	// Addr is what a server's first line said after "ADDR "; empty for a
	// worker.
	Addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// errReply is the part of every reply Read looks at itself.
type errReply struct {
	Err string `json:"err,omitempty"`
}

// Start runs this program again with args, roleVar=role added to env, its
// stderr copied to stderr, and waits for its first line. The child is
// killed when this process dies (Pdeathsig), so a crashed coordinator
// leaves no benchmark processes behind.
func Start(roleVar, role string, env []string, stderr io.Writer, args ...string) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(slices.Clone(env), roleVar+"="+role)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", role, err)
	}
	c := &Child{Role: role, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	// Replies carry every latency of a phase: allow large lines.
	c.out.Buffer(make([]byte, 64<<10), 256<<20)
	line, err := c.line()
	if err != nil {
		c.Stop()
		return nil, err
	}
	if addr, ok := strings.CutPrefix(line, "ADDR "); ok {
		c.Addr = addr
	} else if err := c.decode(line, nil); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Pid is the child's process ID.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

func (c *Child) line() (string, error) {
	if !c.out.Scan() {
		err := c.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("%s: %w", c.Role, err)
	}
	return c.out.Text(), nil
}

func (c *Child) decode(line string, v any) error {
	var e errReply
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return fmt.Errorf("%s: bad reply %q: %w", c.Role, line, err)
	}
	if e.Err != "" {
		return fmt.Errorf("%s: %s", c.Role, e.Err)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("%s: bad reply %q: %w", c.Role, line, err)
	}
	return nil
}

// Send writes one command line.
func (c *Child) Send(cmd string) error {
	_, err := fmt.Fprintln(c.in, cmd)
	return err
}

// Read reads one reply into v (nil: only its error).
func (c *Child) Read(v any) error {
	line, err := c.line()
	if err != nil {
		return err
	}
	return c.decode(line, v)
}

// Do sends cmd and reads its reply into v.
func (c *Child) Do(cmd string, v any) error {
	if err := c.Send(cmd); err != nil {
		return err
	}
	return c.Read(v)
}

// RSS has the child collect its garbage and return memory to the kernel
// (the "gc" command every child answers), then reads its resident set from
// /proc.
func (c *Child) RSS() (int64, error) {
	if err := c.Do("gc", nil); err != nil {
		return 0, err
	}
	return RSSOf(c.Pid())
}

// RSSOf reads process pid's resident set from /proc.
func RSSOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// CPU is the CPU time the child has used so far, user and system.
func (c *Child) CPU() (time.Duration, error) { return CPUOf(c.Pid()) }

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// CPUOf reads process pid's CPU time, user and system, from /proc.
func CPUOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing one. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var sum int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		sum += n
	}
	return time.Duration(sum) * clockTick, nil
}

// Stop closes the child's stdin, which ends it, and waits for it; one that
// has not ended after 10 s is killed.
func (c *Child) Stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// All sends cmd to every child at once and reads every reply, in order,
// into a value of type R each.
func All[R any](cs []*Child, cmd string) ([]R, error) {
	for _, c := range cs {
		if err := c.Send(cmd); err != nil {
			return nil, err
		}
	}
	out := make([]R, len(cs))
	var errs []error
	for i, c := range cs {
		errs = append(errs, c.Read(&out[i]))
	}
	return out, errors.Join(errs...)
}

// Serve is a child's side: it writes ready (an "ADDR …" line, or "{}" when
// empty), then answers each command line on in with handle's value as a
// JSON line on out — or {"err": …} when handle fails. It answers "gc"
// itself (a collection and memory returned to the kernel, for RSS) and
// returns when in ends or handle returns ErrQuit.
func Serve(in io.Reader, out io.Writer, ready string, handle func(cmd, arg string) (any, error)) error {
	if ready == "" {
		ready = "{}"
	}
	if _, err := fmt.Fprintln(out, ready); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		var v any
		var err error
		if cmd == "gc" {
			runtime.GC()
			debug.FreeOSMemory()
		} else {
			v, err = handle(cmd, arg)
		}
		quit := errors.Is(err, ErrQuit)
		if quit {
			err = nil
		}
		if err != nil {
			v = errReply{Err: err.Error()}
		}
		if v == nil {
			v = struct{}{}
		}
		b, jerr := json.Marshal(v)
		if jerr != nil {
			b, _ = json.Marshal(errReply{Err: jerr.Error()})
		}
		if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
			return err
		}
		if quit {
			return nil
		}
	}
	return sc.Err()
}

// ErrQuit, returned by a Serve handler, answers the command and ends Serve.
var ErrQuit = errors.New("quit")

// RaiseFDLimit lifts the soft open-files limit to the hard one: a worker
// holds a connection per simulated node.
func RaiseFDLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// SyncWriter serialises writes to W, and hides any io.ReaderFrom of it
// (bytes.Buffer's would let the children's concurrent stderr copies
// overwrite each other).
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (s *SyncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(b)
}

// Parallel runs f(0..n-1) on at most conc goroutines and returns the first
// error; after one, no further f starts on that goroutine.
func Parallel(n, conc int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Measure runs op n times on conc goroutines and returns each latency and
// the elapsed time.
func Measure(n, conc int, op func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	start := time.Now()
	err := Parallel(n, conc, func(i int) error {
		t := time.Now()
		if err := op(i); err != nil {
			return err
		}
		lat[i] = time.Since(t)
		return nil
	})
	return lat, time.Since(start), err
}

// Pct returns the p-th percentile (0 < p ≤ 100) of ds, nearest rank; 0 for
// none.
func Pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Nanos and Durs carry latencies through JSON as integers.
func Nanos(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = int64(d)
	}
	return out
}

// Durs is the inverse of Nanos.
func Durs(ns []int64) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, v := range ns {
		out[i] = time.Duration(v)
	}
	return out
}

// MiB is b bytes in MiB.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// KiB formats b bytes in KiB.
func KiB(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// Dur formats d for a table: ms, µs or ns.
func Dur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	default:
		return fmt.Sprintf("%d ns", d)
	}
}

// Ratio formats a/b as "1.5x".
func Ratio(a, b time.Duration) string { return fmt.Sprintf("%.1fx", float64(a)/float64(b)) }

// AsChild runs child and exits when roleVar names a role in the
// environment — this process is a re-executed child — and returns at once
// otherwise. Both a benchmark's main and its TestMain call it first, so the
// test binary can stand in for the program.
func AsChild(roleVar, name string, child func(role string, args []string) error) {
	role := os.Getenv(roleVar)
	if role == "" {
		return
	}
	if err := child(role, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// BenchLines finds the `go test -bench` lines of out whose name starts
// with prefix, keyed by the rest of the name, each with the fields after
// the name.
func BenchLines(out, prefix string) map[string][]string {
	got := map[string][]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[0], prefix) {
			got[strings.TrimPrefix(f[0], prefix)] = f[1:]
		}
	}
	return got
}

// Run is what a coordinator sets up before it starts children: a larger
// open-files limit, a serialised stderr (the children's stderr is copied
// into it by goroutines of their own), a temporary directory and the run's
// auth key with the environment that hands it to the children.
type Run struct {
	Stderr io.Writer
	Dir    string // removed by Close
	Auth   Auth
	Env    []string
	name   string
}

// NewRun sets up a run of the program called name; envAuthKey is the
// variable the children read the auth key from (AuthFromEnv).
func NewRun(name, envAuthKey string, stderr io.Writer) (*Run, error) {
	RaiseFDLimit()
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, err
	}
	r := &Run{Stderr: &SyncWriter{W: stderr}, Dir: dir, name: name}
	if r.Auth, err = NewAuth(); err == nil {
		r.Env, err = r.Auth.Env(envAuthKey)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Logf writes a progress line to the run's stderr.
func (r *Run) Logf(format string, a ...any) {
	fmt.Fprintf(r.Stderr, r.name+": "+format+"\n", a...)
}

// Start starts a child of the run (Start with the run's environment and
// stderr).
func (r *Run) Start(roleVar, role string, args ...string) (*Child, error) {
	return Start(roleVar, role, r.Env, r.Stderr, args...)
}

// Close removes the run's directory.
func (r *Run) Close() { _ = os.RemoveAll(r.Dir) }
