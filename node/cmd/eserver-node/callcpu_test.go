package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/nodetest"
	"eserver/node/wire"
)

// A call's CPU is measured where a user pays it: in a node process of its
// own. BenchmarkCallCPU runs two daemons (each its own process, as two
// users' computers would) on loopback, lets them idle, then calls from one
// to the other with file audio (a file source paces its frames as a
// microphone does) and reads each process's CPU time from /proc. The
// baseline is the same process's idle rate, measured over as long just
// before the call: what the call adds is the difference.

// cpuBenchIdle and cpuBenchCall are how long the idle rate and the call
// are measured: /proc counts CPU in 10 ms ticks, so a share of a core is
// known to ±0.05 % over 20 s.
const (
	cpuBenchIdle = 20 * time.Second
	cpuBenchCall = 20 * time.Second
)

// procCPU is process pid's user plus system CPU time so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after it; utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// rawFrame is the size of a call's frame on its stream (length prefix,
// header, a 28 kbit/s Opus packet, tag): what the baseline sends.
const rawFrame = 98

// rawPeer is the benchmark's baseline, a process of its own: a bare libp2p
// host on 127.0.0.1 over QUIC that sends rawFrame bytes every 20 ms to its
// peer on wire.CallLanes streams, frame s on lane s mod CallLanes, and
// reads what comes — a call's traffic pattern and goroutines, without the
// codec, the sealing, the jitter buffer or EServer's node. With dial empty
// it listens and prints its address; else it dials dial. It runs until its
// stdin closes.
func rawPeer(dial string) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw peer:", err)
		os.Exit(1)
	}
	defer h.Close()
	const proto = "/eserver-bench/raw/1"
	ready := make(chan []network.Stream, 1)
	var got []network.Stream
	var mu sync.Mutex
	h.SetStreamHandler(proto, func(st network.Stream) {
		mu.Lock()
		defer mu.Unlock()
		if got = append(got, st); len(got) == wire.CallLanes {
			ready <- got
		}
	})
	if dial == "" {
		fmt.Printf("%s/p2p/%s\n", h.Addrs()[0], h.ID())
	} else {
		ai, err := peer.AddrInfoFromString(dial)
		if err == nil {
			err = h.Connect(context.Background(), *ai)
		}
		var lanes []network.Stream
		for range wire.CallLanes {
			if err != nil {
				break
			}
			var st network.Stream
			st, err = h.NewStream(context.Background(), ai.ID, proto)
			st.Write([]byte{0}) // the stream reaches the other side's handler with its first byte
			lanes = append(lanes, st)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "raw peer:", err)
			os.Exit(1)
		}
		ready <- lanes
		fmt.Println("ready")
	}
	lanes := <-ready
	for _, st := range lanes {
		go func() {
			if dial == "" {
				st.Read(make([]byte, 1)) // the dialer's first byte
			}
			buf := make([]byte, rawFrame)
			for {
				if _, err := io.ReadFull(st, buf); err != nil {
					return
				}
			}
		}()
	}
	go func() {
		frame := make([]byte, rawFrame)
		t := time.NewTicker(wire.CallFrameDuration)
		defer t.Stop()
		for s := 0; ; s++ {
			<-t.C
			if _, err := lanes[s%len(lanes)].Write(frame); err != nil {
				return
			}
		}
	}()
	io.Copy(io.Discard, os.Stdin)
}

// procSwitches is how many times process pid's threads have been switched
// out so far (voluntarily, to wait, and not): each wake-up of a sleeping
// thread costs one, and on a VM they are much of a call's CPU.
func procSwitches(tb testing.TB, pid int) int64 {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// usage is what a process used over a while: CPU time, thread switches,
// and the while.
type usage struct {
	cpu      time.Duration
	switches int64
	wall     time.Duration
}

func (u *usage) add(v usage) {
	u.cpu, u.switches, u.wall = u.cpu+v.cpu, u.switches+v.switches, u.wall+v.wall
}

// cores is the share of one core used.
func (u usage) cores() float64 { return u.cpu.Seconds() / u.wall.Seconds() }

// perSecond is the thread switches a second.
func (u usage) perSecond() float64 { return float64(u.switches) / u.wall.Seconds() }

// measure is what each of pids uses over the next d.
func measure(tb testing.TB, pids []int, d time.Duration) []usage {
	tb.Helper()
	t0 := time.Now()
	before := make([]usage, len(pids))
	for k, pid := range pids {
		before[k] = usage{cpu: procCPU(tb, pid), switches: procSwitches(tb, pid)}
	}
	time.Sleep(d)
	wall := time.Since(t0)
	used := make([]usage, len(pids))
	for k, pid := range pids {
		used[k] = usage{cpu: procCPU(tb, pid) - before[k].cpu, switches: procSwitches(tb, pid) - before[k].switches, wall: wall}
	}
	return used
}

// startRawPeer starts a rawPeer process dialing dial (listening when
// empty) and returns it with its first line.
func startRawPeer(b *testing.B, dial string) (*exec.Cmd, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ESERVER_RAW_PEER="+dial)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("raw peer: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// benchRawCPU is the baseline: two rawPeer processes exchanging a call's
// frames over bare libp2p QUIC streams; "core%/side" is each one's share
// of a core, averaged.
func benchRawCPU(b *testing.B) {
	listener, addr := startRawPeer(b, "")
	dialer, _ := startRawPeer(b, addr)
	time.Sleep(time.Second)
	var side usage // both sides' together, over twice the time
	b.ResetTimer()
	for range b.N {
		for _, u := range measure(b, []int{listener.Process.Pid, dialer.Process.Pid}, cpuBenchCall) {
			side.add(u)
		}
	}
	b.ReportMetric(100*side.cores(), "core%/side")
	b.ReportMetric(side.perSecond(), "switches/s/side")
}

// BenchmarkCallCPU reports each side's share of one core during a call
// ("caller-core%", "callee-core%": the process's CPU rate during the call
// less its idle rate) and its thread switches a second beyond idle
// ("caller-switches/s", "callee-switches/s"), over the transport a call takes between two
// computers: "quic" (the default, both listening on QUIC) and "tcp".
func BenchmarkCallCPU(b *testing.B) {
	b.Run("raw-libp2p", benchRawCPU)
	for _, tc := range []struct{ name, listen string }{
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			server := nodetest.Server(b)
			alice, bob := startDaemonIn(b, "", tc.listen), startDaemonIn(b, "", tc.listen)
			alice.signIn(server, "alice", "a-pass")
			bob.signIn(server, "bob", "b-pass")
			befriend(alice, bob)
			alice.waitOnline("bob")
			dir := b.TempDir()
			voice := toneFile(b, dir, "voice.wav", 440, cpuBenchCall+10*time.Second)
			reply := toneFile(b, dir, "reply.wav", 660, cpuBenchCall+10*time.Second)
			pids := []int{alice.cmd.Process.Pid, bob.cmd.Process.Pid}
			var idle, busy [2]usage
			b.ResetTimer()
			for i := range b.N {
				for k, u := range measure(b, pids, cpuBenchIdle) {
					idle[k].add(u)
				}

				id := alice.call("call", map[string]any{"to": "bob", "inFile": voice, "outFile": filepath.Join(dir, fmt.Sprint("heard-alice-", i, ".wav"))}, "")["callId"].(string)
				bob.note("callIncoming", func(p map[string]any) bool { return p["callId"] == id })
				bob.call("answerCall", map[string]any{"callId": id, "inFile": reply, "outFile": filepath.Join(dir, fmt.Sprint("heard-bob-", i, ".wav"))}, "")
				st := alice.note("callState", func(p map[string]any) bool { return p["callId"] == id && p["state"] == "active" })
				if st["relayed"] == true {
					b.Fatal("the call went through a relay")
				}
				// The first second: both sides' audio starting.
				time.Sleep(time.Second)
				for k, u := range measure(b, pids, cpuBenchCall) {
					busy[k].add(u)
				}
				alice.call("hangUp", map[string]any{"callId": id}, "")
				bob.note("callState", func(p map[string]any) bool { return p["callId"] == id && p["state"] == "ended" })
			}
			b.StopTimer()
			for k, name := range []string{"caller", "callee"} {
				b.ReportMetric(100*(busy[k].cores()-idle[k].cores()), name+"-core%")
				b.ReportMetric(100*idle[k].cores(), name+"-idle-core%")
				b.ReportMetric(busy[k].perSecond()-idle[k].perSecond(), name+"-switches/s")
			}
		})
	}
}
