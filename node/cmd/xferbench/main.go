// Command xferbench measures one file transfer four ways on this machine,
// in one run, and prints the results as benchmark lines for benchtable,
// then as a table:
//
//   - EServer: node/transfer between two libp2p hosts on loopback;
//   - raw: a bare libp2p stream copy of the same bytes into a file, fsynced
//     (the ceiling of any transfer over this stack);
//   - rawdirect: the same bare stream written as EServer's receiver writes,
//     whole blocks with O_DIRECT (the ceiling with EServer's disk path);
//   - relayed: EServer again, both ends reachable only through a circuit
//     relay v2 built as a supernode builds its relay;
//   - croc through a local croc relay (what people use today).
//
// Every end runs in its own process (the program re-executes itself with
// -role), so each has its own scheduler and garbage collector as real peers
// do, and the peak resident set (VmHWM) of every process is reported. Everything stays on 127.0.0.1.
//
//	xferbench [-size BYTES] [-croc PATH] [-chunk BYTES] [-cases LIST] [-profile DIR]
//
// croc is looked for with -croc, then on PATH; without it the croc case is
// left out (make bench installs it).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-role" || strings.HasPrefix(os.Args[1], "-role=")) {
		if err := runChild(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "xferbench child:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.Int64Var(&cfg.size, "size", 256<<20, "bytes to transfer")
	flag.StringVar(&cfg.croc, "croc", "", "the croc binary (default: croc on PATH)")
	flag.IntVar(&cfg.chunk, "chunk", 0, "EServer chunk size in bytes (0: transfer.DefaultChunkSize)")
	cases := flag.String("cases", "eserver,raw,rawdirect,relayed,croc", "cases to run, comma-separated")
	flag.StringVar(&cfg.profile, "profile", "", "write a CPU profile of every EServer and raw process into this directory")
	flag.Parse()
	cfg.cases = strings.Split(*cases, ",")
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "xferbench:", err)
		os.Exit(1)
	}
}

type config struct {
	size    int64
	croc    string
	chunk   int
	cases   []string
	profile string
}

// result is one case: its time and each process's peak resident set.
type result struct {
	bench string // the benchmark name after BenchmarkXfer
	what  string
	d     time.Duration
	rss   map[string]int64         // role → bytes
	cpu   map[string]time.Duration // role → user + system time
}

func (r result) mbps(size int64) float64 { return float64(size) / r.d.Seconds() / 1e6 }

// roles in the order they are printed.
var roles = []string{"sender", "receiver", "relay"}

func run(cfg config) error {
	dir, err := os.MkdirTemp("", "xferbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "send", "file.bin")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		return err
	}
	if err := randomFile(src, cfg.size); err != nil {
		return fmt.Errorf("writing the file to send: %w", err)
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
	}
	b := &bench{cfg: cfg, src: src, dir: dir}
	var results []result
	for _, c := range cfg.cases {
		var r result
		var err error
		switch c {
		case "eserver":
			r, err = b.libp2pCase("EServer", "EServer, direct", "eserver", false)
		case "raw":
			r, err = b.libp2pCase("RawStreamToFile", "raw libp2p stream into a file", "raw", false)
		case "rawdirect":
			r, err = b.libp2pCase("RawStreamDirect", "raw stream, direct writes", "rawdirect", false)
		case "relayed":
			r, err = b.libp2pCase("EServerRelayed", "EServer through a supernode relay", "eserver", true)
		case "croc":
			bin := cfg.croc
			if bin == "" {
				bin, _ = exec.LookPath("croc")
			}
			if bin == "" {
				fmt.Fprintln(os.Stderr, "xferbench: no croc binary: the croc case is left out")
				continue
			}
			r, err = b.croc(bin)
		default:
			return fmt.Errorf("unknown case %q", c)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		r.print(cfg.size)
		results = append(results, r)
	}
	table(os.Stdout, cfg.size, results)
	return nil
}

// print writes r as a benchmark line: benchtable reads ns/op and every
// "value unit" pair after it.
func (r result) print(size int64) {
	fmt.Printf("BenchmarkXfer%s\t1\t%d ns/op\t%.1f MB/s", r.bench, r.d.Nanoseconds(), r.mbps(size))
	for _, role := range roles {
		if v, ok := r.rss[role]; ok {
			fmt.Printf("\t%d %s-peak-B", v, role)
		}
	}
	for _, role := range roles {
		if v, ok := r.cpu[role]; ok {
			fmt.Printf("\t%.3f %s-cpu-s", v.Seconds(), role)
		}
	}
	fmt.Printf("\t%d bytes\n", size)
}

// table prints the results with their ratios: EServer against the raw
// stream, against croc, and relayed against direct.
func table(w io.Writer, size int64, rs []result) {
	get := func(name string) (result, bool) {
		i := slices.IndexFunc(rs, func(r result) bool { return r.bench == name })
		if i < 0 {
			return result{}, false
		}
		return rs[i], true
	}
	fmt.Fprintf(w, "\nfile transfer, %s, each end in its own process, loopback\n", sizeString(size))
	fmt.Fprintf(w, "%-36s %9s %10s  %-22s %-29s %s\n", "case", "time", "MB/s", "ratio", "peak RSS: sender/recv/relay", "CPU s: sender/recv/relay")
	es, haveES := get("EServer")
	for _, r := range rs {
		ratio := ""
		switch r.bench {
		case "RawStreamToFile", "RawStreamDirect":
			if haveES {
				ratio = fmt.Sprintf("EServer %.2fx of it", es.mbps(size)/r.mbps(size))
			}
		case "Croc":
			if haveES {
				ratio = fmt.Sprintf("EServer %.1fx of it", es.mbps(size)/r.mbps(size))
			}
		case "EServerRelayed":
			if haveES {
				ratio = fmt.Sprintf("%.2fx of direct", r.mbps(size)/es.mbps(size))
			}
		}
		fmt.Fprintf(w, "%-36s %8.2fs %10.1f  %-22s", r.what, r.d.Seconds(), r.mbps(size), ratio)
		var rss, cpu []string
		for _, role := range roles {
			if v, ok := r.rss[role]; ok {
				rss = append(rss, fmt.Sprintf("%.1f", float64(v)/(1<<20)))
				cpu = append(cpu, fmt.Sprintf("%.2f", r.cpu[role].Seconds()))
			} else {
				rss, cpu = append(rss, "-"), append(cpu, "-")
			}
		}
		fmt.Fprintf(w, " %-29s %s\n", strings.Join(rss, " / ")+" MiB", strings.Join(cpu, " / "))
	}
	fmt.Fprintln(w, "(peak RSS: VmHWM of each process; CPU: its user+system time, the sender's includes hashing the offer)")
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, rand.Reader, size)
	return errors.Join(err, f.Close())
}

type bench struct {
	cfg      config
	src, dir string
}

// proc is a re-executed child, spoken to in JSON lines.
type proc struct {
	role string
	cmd  *exec.Cmd
	hwm  *hwm
	in   io.WriteCloser
	out  *json.Decoder
	done bool
}

func (b *bench) start(role string, args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding myself: %w", err)
	}
	cmd := exec.Command(exe, append([]string{"-role", role}, args...)...)
	cmd.Stderr = os.Stderr
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
	return &proc{role: role, cmd: cmd, hwm: watchHWM(cmd.Process.Pid), in: in, out: json.NewDecoder(out)}, nil
}

func (p *proc) send(v any) error {
	if err := json.NewEncoder(p.in).Encode(v); err != nil {
		return fmt.Errorf("%s: sending: %w", p.role, err)
	}
	return nil
}

func (p *proc) recv(v any) error {
	if err := p.out.Decode(v); err != nil {
		return fmt.Errorf("%s: reading its answer (it failed?): %w", p.role, err)
	}
	return nil
}

// wait closes the child's stdin, which ends it, and returns its peak
// resident set (VmHWM). A child that does not end in time is killed.
func (p *proc) wait() (int64, time.Duration, error) {
	if p.done {
		return 0, 0, nil
	}
	p.done = true
	p.in.Close()
	timer := time.AfterFunc(30*time.Second, func() { p.cmd.Process.Kill() })
	err := p.cmd.Wait()
	timer.Stop()
	if err != nil {
		err = fmt.Errorf("%s: %w", p.role, err)
	}
	return p.hwm.stop(), cpuTime(p.cmd.ProcessState), err
}

// cpuTime is a finished process's user and system time.
func cpuTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

// kill ends a child that is still running, on the way out of a failed case.
func (p *proc) kill() {
	if !p.done {
		p.cmd.Process.Kill()
		p.wait()
	}
}

// hwm watches a process's peak resident set, VmHWM in /proc/<pid>/status,
// until stop is called after the process was waited for.
//
// rusage's maxrss would be simpler but is wrong here: os/exec starts a child
// with vfork, so the child's mm until exec is the parent's, and Linux
// carries that mm's high-water mark into the child's maxrss at exec — every
// child smaller than this program would report this program's size. VmHWM
// is the child's own mm's. It only grows, so sampling it often loses at most
// what the child adds in its last few milliseconds.
type hwm struct {
	stopc chan struct{}
	done  chan struct{}
	peak  int64
}

func watchHWM(pid int) *hwm {
	w := &hwm{stopc: make(chan struct{}), done: make(chan struct{})}
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(w.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := readHWM(path); ok && v > w.peak {
				w.peak = v
			}
			select {
			case <-w.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the watch and returns the peak in bytes.
func (w *hwm) stop() int64 {
	close(w.stopc)
	<-w.done
	return w.peak
}

func readHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false // a zombie has no mm left
}

// libp2pCase runs one transfer of mode (eserver or raw) between a sender
// and a receiver process, through a relay process if relayed.
func (b *bench) libp2pCase(name, what, mode string, relayed bool) (res result, err error) {
	res = result{bench: name, what: what, rss: map[string]int64{}, cpu: map[string]time.Duration{}}
	out := filepath.Join(b.dir, "recv-"+name)
	defer os.RemoveAll(out)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	start := func(role string, args ...string) (*proc, hello, error) {
		if b.cfg.profile != "" && role != "relay" {
			args = append(args, "-cpuprofile", filepath.Join(b.cfg.profile, name+"-"+role+".pprof"))
		}
		p, err := b.start(role, args...)
		if err != nil {
			return nil, hello{}, err
		}
		procs = append(procs, p)
		var h hello
		return p, h, p.recv(&h)
	}
	var relayArgs []string
	var relay *proc
	if relayed {
		var rh hello
		if relay, rh, err = start("relay"); err != nil {
			return res, err
		}
		if len(rh.Addrs) == 0 {
			return res, errors.New("relay has no address")
		}
		relayArgs = []string{"-relay", rh.Addrs[0]}
	}
	snd, sh, err := start("sender", append([]string{"-mode", mode, "-file", b.src, "-chunk", fmt.Sprint(b.cfg.chunk)}, relayArgs...)...)
	if err != nil {
		return res, err
	}
	rcv, rh, err := start("receiver", append([]string{"-mode", mode, "-dir", out}, relayArgs...)...)
	if err != nil {
		return res, err
	}
	if relay != nil {
		for _, id := range []peer.ID{sh.ID, rh.ID} {
			if err := relay.send(admitCmd{Admit: id}); err != nil {
				return res, err
			}
			if err := relay.recv(&struct{}{}); err != nil {
				return res, err
			}
		}
	}
	if err := snd.send(serveCmd{Peer: rh.ID}); err != nil {
		return res, err
	}
	var offer offerMsg
	if err := snd.recv(&offer); err != nil {
		return res, err
	}
	if err := rcv.send(recvCmd{Peer: sh.ID, Addrs: offer.Addrs, Offer: offer.Offer, Size: b.cfg.size}); err != nil {
		return res, err
	}
	var got resultMsg
	if err := rcv.recv(&got); err != nil {
		return res, err
	}
	if relayed && !got.Limited {
		return res, errors.New("the transfer did not stay on the relayed connection")
	}
	res.d = time.Duration(got.Nanos)
	for _, p := range procs {
		rss, cpu, err := p.wait()
		if err != nil {
			return res, err
		}
		res.rss[p.role] = rss
		res.cpu[p.role] = cpu
	}
	return res, nil
}

// croc sends the file through a croc relay on 127.0.0.1 and receives it;
// the time runs from the receiver's start to its exit (croc hashes and
// exchanges keys within it, as a user would wait for).
func (b *bench) croc(bin string) (result, error) {
	res := result{bench: "Croc", what: "croc v10 through a local croc relay", rss: map[string]int64{}, cpu: map[string]time.Duration{}}
	bin, err := filepath.Abs(bin) // the commands run in other directories
	if err != nil {
		return res, err
	}
	out := filepath.Join(b.dir, "recv-croc")
	defer os.RemoveAll(out)
	const code = "8421-xferbench-local-only"
	ports := "19309,19310,19311,19312,19313"
	relay := exec.Command(bin, "relay", "--host", "127.0.0.1", "--ports", ports)
	if err := relay.Start(); err != nil {
		return res, fmt.Errorf("starting croc relay: %w", err)
	}
	relayHWM := watchHWM(relay.Process.Pid)
	relayDone := false
	defer func() {
		if !relayDone {
			relay.Process.Kill()
			relay.Wait()
			relayHWM.stop()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	env := append(os.Environ(), "CROC_SECRET="+code)
	send := exec.Command(bin, "--relay", "127.0.0.1:19309", "send", "--no-local", filepath.Base(b.src))
	send.Dir, send.Env = filepath.Dir(b.src), env
	if err := send.Start(); err != nil {
		return res, fmt.Errorf("starting croc send: %w", err)
	}
	sendHWM := watchHWM(send.Process.Pid)
	sendDone := false
	defer func() {
		if !sendDone {
			send.Process.Kill()
			send.Wait()
			sendHWM.stop()
		}
	}()
	time.Sleep(time.Second)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	recv := exec.CommandContext(ctx, bin, "--relay", "127.0.0.1:19309", "--yes", "--overwrite")
	recv.Dir, recv.Env = out, env
	var recvOut strings.Builder
	recv.Stdout, recv.Stderr = &recvOut, &recvOut
	start := time.Now()
	if err := recv.Start(); err != nil {
		return res, fmt.Errorf("starting croc receive: %w", err)
	}
	recvHWM := watchHWM(recv.Process.Pid)
	err = recv.Wait()
	res.d = time.Since(start)
	res.rss["receiver"] = recvHWM.stop()
	res.cpu["receiver"] = cpuTime(recv.ProcessState)
	if err != nil {
		return res, fmt.Errorf("receiving: %v: %s", err, recvOut.String())
	}
	fi, err := os.Stat(filepath.Join(out, filepath.Base(b.src)))
	if err != nil {
		return res, fmt.Errorf("croc received nothing: %w", err)
	}
	if fi.Size() != b.cfg.size {
		return res, fmt.Errorf("croc received %d bytes of %d", fi.Size(), b.cfg.size)
	}
	// The sender exits once the receiver has everything; the relay runs
	// until stopped.
	timer := time.AfterFunc(30*time.Second, func() { send.Process.Kill() })
	send.Wait()
	timer.Stop()
	sendDone = true
	res.rss["sender"] = sendHWM.stop()
	res.cpu["sender"] = cpuTime(send.ProcessState)
	relay.Process.Kill()
	relay.Wait()
	relayDone = true
	res.rss["relay"] = relayHWM.stop()
	res.cpu["relay"] = cpuTime(relay.ProcessState)
	return res, nil
}
