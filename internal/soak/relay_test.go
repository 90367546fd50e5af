package soak

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFate: over many frames the relay's draws hold the shape's
// percentages and delay bounds; off, every frame passes once, at once.
func TestFate(t *testing.T) {
	const frames = 200000
	for _, tc := range []struct {
		name  string
		shape Shape
		on    bool
	}{
		{"default", DefaultShape, true},
		{"default off", DefaultShape, false},
		{"heavy", Shape{LossPct: 30, ReorderPct: 60, DuplicatePct: 20, DelayMs: 10, JitterMs: 10}, true},
		{"fixed delay", Shape{DelayMs: 40}, true},
		{"nothing", Shape{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			var lost, dup, copies, overtook, held int
			var sum, lo, hi time.Duration = 0, time.Hour, 0
			for range frames {
				f := tc.shape.fate(tc.on, rng)
				switch f.copies {
				case 0:
					lost++
				case 2:
					dup++
				case 1:
				default:
					t.Fatalf("%d copies", f.copies)
				}
				for i := range f.copies {
					copies++
					if f.overtakes[i] {
						overtook++
						if f.delay[i] != 0 {
							t.Fatalf("a reordered copy delayed %v", f.delay[i])
						}
						continue
					}
					d := f.delay[i]
					if !tc.on && d != 0 {
						t.Fatalf("off, a frame delayed %v", d)
					}
					held++
					sum += d
					lo, hi = min(lo, d), max(hi, d)
				}
			}
			s := tc.shape
			if !tc.on {
				s = Shape{}
			}
			near := func(what string, got, n int, wantPct float64) {
				t.Helper()
				// 5 standard deviations of a binomial, and at least 0.05 %.
				p := wantPct / 100
				tol := max(5*math.Sqrt(p*(1-p)/float64(n)), 0.0005)
				if g := float64(got) / float64(n); math.Abs(g-p) > tol {
					t.Errorf("%s: %.4f of %d, want %.4f ± %.4f", what, g, n, p, tol)
				}
			}
			near("lost", lost, frames, s.LossPct)
			near("duplicated", dup, frames-lost, s.DuplicatePct)
			near("reordered", overtook, copies, s.ReorderPct)
			if copies != frames-lost+dup {
				t.Fatalf("%d copies of %d frames, %d lost, %d duplicated", copies, frames, lost, dup)
			}
			if held == 0 {
				t.Fatal("no frame held")
			}
			ms := time.Millisecond
			wantLo, wantHi := time.Duration(s.DelayMs-s.JitterMs)*ms, time.Duration(s.DelayMs+s.JitterMs)*ms
			if lo < wantLo || hi > wantHi {
				t.Errorf("delays %v…%v, want within %v…%v", lo, hi, wantLo, wantHi)
			}
			// Uniform: the draws reach both ends of the band and average its middle.
			if lo > wantLo+ms/2 || hi < wantHi-ms/2 {
				t.Errorf("delays %v…%v do not cover %v…%v", lo, hi, wantLo, wantHi)
			}
			if mean := sum / time.Duration(held); (mean - time.Duration(s.DelayMs)*ms).Abs() > ms/2+time.Duration(s.JitterMs)*ms/100 {
				t.Errorf("mean delay %v, want %d ms", mean, s.DelayMs)
			}
		})
	}
}

// frameSink is a writer keeping what it is given, as a TAP end would send it on.
type frameSink struct {
	mu     sync.Mutex
	frames []string
	at     []time.Time
	got    chan struct{}
}

func (s *frameSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.frames = append(s.frames, string(p))
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	s.got <- struct{}{}
	return len(p), nil
}

// TestLane: held frames go out when due, earliest first whatever order
// they were held in; more than relayQueueMax held are refused; deliver
// ends with its context.
func TestLane(t *testing.T) {
	sink := &frameSink{got: make(chan struct{}, relayQueueMax+10)}
	l := newLane(sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.deliver(ctx); close(done) }()
	start := time.Now()
	for _, f := range []struct {
		name string
		in   time.Duration
	}{{"c", 150 * time.Millisecond}, {"a", 50 * time.Millisecond}, {"b", 100 * time.Millisecond}} {
		if !l.hold(start.Add(f.in), []byte(f.name)) {
			t.Fatalf("frame %s refused", f.name)
		}
	}
	for range 3 {
		select {
		case <-sink.got:
		case <-time.After(5 * time.Second):
			t.Fatal("held frames never sent")
		}
	}
	sink.mu.Lock()
	if !slices.Equal(sink.frames, []string{"a", "b", "c"}) {
		t.Fatalf("sent %v, want a b c", sink.frames)
	}
	for i, at := range sink.at {
		if early := start.Add(time.Duration(i+1) * 50 * time.Millisecond).Sub(at); early > 0 {
			t.Errorf("frame %s sent %v early", sink.frames[i], early)
		}
	}
	sink.mu.Unlock()

	far := time.Now().Add(time.Hour)
	for i := range relayQueueMax {
		if !l.hold(far, []byte{byte(i)}) {
			t.Fatalf("frame %d of %d refused", i, relayQueueMax)
		}
	}
	if l.hold(far, []byte("over")) {
		t.Fatalf("frame %d held", relayQueueMax+1)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deliver did not end with its context")
	}
}

// TestTapLink builds two namespaces joined by a relayed TAP link, as the
// soak's WAN links are, and measures UDP round trips through it: near 0
// with shaping off, within 2×(DelayMs ± JitterMs) with it on; the
// relay's goroutines end when its context does, and the interfaces go
// with it.
func TestTapLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if err := tapUsable(); err != nil {
		t.Skipf("no TAP devices here: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	pfx := fmt.Sprintf("tl%d-", os.Getpid()%100000)
	a, b := pfx+"a", pfx+"b"
	for _, ns := range []string{a, b} {
		if err := sh([][]string{{"ip", "netns", "add", ns}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shAll([][]string{{"ip", "netns", "del", ns}}) })
	}
	goroutines := runtime.NumGoroutine()
	shape := Shape{DelayMs: 50, JitterMs: 30} // no loss or reordering: every round trip counts
	link, err := openTapLink([2]tapEnd{{a, "p1", "11.77.1.1/24"}, {b, "w1", "11.77.1.2/24"}},
		[2]string{pfx + "x", pfx + "y"}, shape, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{{a, "p1"}, {b, "w1"}} {
		if out, err := exec.Command("ip", "-n", e[0], "link", "show", "dev", e[1]).CombinedOutput(); err != nil || !strings.Contains(string(out), "UP") {
			t.Fatalf("%s in %s: %v %s", e[1], e[0], err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- link.Serve(ctx) }()
	defer cancel()

	var echo, client *net.UDPConn
	if err := inNetns(b, func() (err error) {
		echo, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(11, 77, 1, 2), Port: 7})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:n], from)
		}
	}()
	if err := inNetns(a, func() (err error) {
		client, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(11, 77, 1, 2), Port: 7})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	seq := 0
	// rtts sends n numbered datagrams one after another and returns each
	// round trip (a reply to an earlier datagram is skipped).
	rtts := func(n int) []time.Duration {
		var out []time.Duration
		buf := make([]byte, 64)
		for range n {
			seq++
			msg := fmt.Sprintf("ping %d", seq)
			start := time.Now()
			if _, err := client.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			for {
				client.SetReadDeadline(time.Now().Add(3 * time.Second))
				k, err := client.Read(buf)
				if err != nil {
					t.Fatalf("%s: %v", msg, err)
				}
				if string(buf[:k]) == msg {
					break
				}
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	rtts(2) // ARP, off
	median := func(d []time.Duration) time.Duration { d = slices.Clone(d); slices.Sort(d); return d[len(d)/2] }
	if off := rtts(20); median(off) > 10*time.Millisecond {
		t.Fatalf("shaping off: round trips %v, want near 0", off)
	}
	link.Shaping(true)
	on := rtts(20)
	lo, hi := 2*time.Duration(shape.DelayMs-shape.JitterMs)*time.Millisecond, 2*time.Duration(shape.DelayMs+shape.JitterMs)*time.Millisecond
	for _, d := range on {
		// Below the band is impossible; above it by a little is the
		// machine's scheduling.
		if d < lo || d > hi+50*time.Millisecond {
			t.Fatalf("shaping on: round trips %v, want %v…%v", on, lo, hi)
		}
	}
	if slices.Min(on) == slices.Max(on) || slices.Max(on)-slices.Min(on) < 10*time.Millisecond {
		t.Fatalf("shaping on: round trips %v show no jitter", on)
	}
	if st := link.Stats(); st.Delayed < 40 || st.Dropped+st.Duplicated+st.Reordered+st.Overflowed != 0 {
		t.Fatalf("stats %+v, want ≥ 40 delayed and nothing else", st)
	}
	link.Shaping(false)
	if off := rtts(20); median(off) > 10*time.Millisecond {
		t.Fatalf("shaping off again: round trips %v, want near 0", off)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	echo.Close()
	client.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after the link closed, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	// The descriptors held the devices: closed, the interfaces are gone.
	if err := exec.Command("ip", "-n", a, "link", "show", "dev", "p1").Run(); err == nil {
		t.Fatal("p1 still there after the link closed")
	}
	var ee *exec.ExitError
	if err := exec.Command("ip", "-n", b, "link", "show", "dev", "w1").Run(); !errors.As(err, &ee) {
		t.Fatalf("w1 after the link closed: %v, want gone", err)
	}
}

// TestTopologyRelay: with Relay, Build makes no WAN veth pair (Run makes
// those links between MakeNamespaces and Routers) and keeps the rest;
// each relayed end is moved, renamed, addressed and raised.
func TestTopologyRelay(t *testing.T) {
	top := Topology{Prefix: "sk99-", LANs: 3, Shape: DefaultShape, Relay: true}
	all := make([]string, 0)
	for _, c := range top.Build() {
		all = append(all, strings.Join(c, " "))
	}
	joined := strings.Join(all, "\n")
	for _, bad := range []string{"veth peer name w", "dev p1", "dev w2"} {
		if strings.Contains(joined, bad) {
			t.Errorf("relayed build has %q", bad)
		}
	}
	for _, want := range []string{
		"ip link add l2 netns sk99-nat2 type veth peer name e2 netns sk99-lan2",
		"ip netns exec sk99-nat3 ip route add default via 11.77.3.1",
		"ip netns exec sk99-nat1 nft add rule ip nat post oifname w1 masquerade",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("relayed build lacks %q", want)
		}
	}
	if n, m := len(top.Build()), len(top.MakeNamespaces())+len(top.Routers()); n != m {
		t.Fatalf("build is %d commands, namespaces and routers %d", n, m)
	}
	ends := top.WANEnds(2)
	if ends != [2]tapEnd{{"sk99-pub", "p2", "11.77.2.1/24"}, {"sk99-nat2", "w2", "11.77.2.2/24"}} {
		t.Fatalf("WAN ends of LAN 2: %+v", ends)
	}
	var got []string
	for _, c := range tapEndCmds(ends[1], "tmp7") {
		got = append(got, strings.Join(c, " "))
	}
	if want := []string{
		"ip link set dev tmp7 netns sk99-nat2",
		"ip -n sk99-nat2 link set dev tmp7 name w2",
		"ip -n sk99-nat2 addr add 11.77.2.2/24 dev w2",
		"ip -n sk99-nat2 link set dev w2 up",
	}; !slices.Equal(got, want) {
		t.Fatalf("placing an end: %q, want %q", got, want)
	}
}

// TestResultLineRelay: with relayed links the line counts the relays'
// frames, not the nftables packets.
func TestResultLineRelay(t *testing.T) {
	r := Result{Dropped: 5, Relay: &RelayStats{Dropped: 11, Duplicated: 12, Delayed: 13, Reordered: 14}, Faults: Faults{Shaping: "TAP relay"}}
	line := r.Line()
	if !strings.Contains(line, "links: TAP relay, frames dropped 11, duplicated 12, delayed 13, reordered 14)") || strings.Contains(line, "packets dropped") || strings.Contains(line, "queue bound") {
		t.Fatalf("line %q", line)
	}
	r.Relay.Overflowed = 2
	if line := r.Line(); !strings.Contains(line, "reordered 14, 2 over the relay's queue bound)") {
		t.Fatalf("line %q", line)
	}
	r.Relay = nil
	if line := r.Line(); !strings.Contains(line, "links: TAP relay, 5 packets dropped)") {
		t.Fatalf("line %q", line)
	}
}
