package soak

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A tapLink is one WAN link made in user space, for kernels without netem
// (sch_netem is what gives delay and reordering; nftables cannot): two TAP
// devices, one in pub and one in the router's namespace, whose descriptors
// the harness holds, and a relay copying Ethernet frames between them in
// both directions. While shaping is on the relay does to each frame what
// netem would: it drops LossPct, duplicates DuplicatePct, holds the rest
// DelayMs ± JitterMs (uniform) — except ReorderPct of them, sent at once so
// that they overtake the held ones (netem's "reorder"). Off, every frame
// passes at once.
//
// A TAP device lives as long as its descriptor: closing the link removes
// both interfaces, and nothing of it outlives the harness process.
type tapLink struct {
	ends  [2]*os.File // 0: the pub end, 1: the router's end
	names [2]string   // interface names, for errors
	shape Shape
	seed  uint64
	on    atomic.Bool
	stats relayCounters
}

// Limits of a relay, in one place.
const (
	// relayQueueMax bounds the frames one direction holds back for delay;
	// more are dropped (and counted), as a router's full queue would. At
	// 80 ms it is 50,000 frames a second, far above what the soak sends.
	relayQueueMax = 4096
	// relayFrameMax is the read buffer: a frame is at most the MTU plus an
	// Ethernet header (a TAP without IFF_VNET_HDR gets no GSO frames), but
	// a short buffer would cut one silently.
	relayFrameMax = 65536
	// tunPath is the TUN/TAP clone device.
	tunPath = "/dev/net/tun"
)

// RelayStats counts what the relays did to the WAN frames while shaping
// was on.
type RelayStats struct {
	Dropped    int64 // lost on purpose (LossPct)
	Duplicated int64 // sent twice (DuplicatePct)
	Delayed    int64 // copies held DelayMs ± JitterMs
	Reordered  int64 // copies sent at once, overtaking held ones (ReorderPct)
	Overflowed int64 // dropped because relayQueueMax frames were already held
}

func (a *RelayStats) add(b RelayStats) {
	a.Dropped += b.Dropped
	a.Duplicated += b.Duplicated
	a.Delayed += b.Delayed
	a.Reordered += b.Reordered
	a.Overflowed += b.Overflowed
}

type relayCounters struct {
	dropped, duplicated, delayed, reordered, overflowed atomic.Int64
}

// fate is what the relay does with one frame: how many copies it sends (0:
// the frame is lost, 2: duplicated) and, for each, its delay and whether
// the reorder draw sent it at once.
type fate struct {
	copies    int
	delay     [2]time.Duration
	overtakes [2]bool
}

// fate draws one frame's fate from rng; off (on false) every frame passes
// once, at once. Loss is drawn first, so duplication is DuplicatePct of
// the frames not lost; each copy draws its own delay, as netem's copy
// passes the qdisc again.
func (s Shape) fate(on bool, rng *rand.Rand) fate {
	f := fate{copies: 1}
	if !on {
		return f
	}
	if chance(rng, s.LossPct) {
		f.copies = 0
		return f
	}
	if chance(rng, s.DuplicatePct) {
		f.copies = 2
	}
	for i := range f.copies {
		if chance(rng, s.ReorderPct) {
			f.overtakes[i] = true
			continue
		}
		lo := time.Duration(s.DelayMs-s.JitterMs) * time.Millisecond
		span := 2 * time.Duration(s.JitterMs) * time.Millisecond
		f.delay[i] = lo + time.Duration(rng.Int64N(int64(span)+1))
	}
	return f
}

func chance(rng *rand.Rand, pct float64) bool { return pct > 0 && rng.Float64()*100 < pct }

// tapUsable reports whether this process can make TAP devices.
func tapUsable() error {
	f, err := openTap(fmt.Sprintf("skprobe%d", os.Getpid()%100000))
	if err != nil {
		return err
	}
	return f.Close()
}

// openTap makes a TAP device named name in this process's namespace and
// returns its descriptor, non-blocking so that the runtime's poller waits
// on it and Close ends a pending Read.
func openTap(name string) (*os.File, error) {
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", tunPath, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("making TAP device %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap "+name), nil
}

// tapEnd is where one end of a link goes: its namespace, interface name
// and address (CIDR).
type tapEnd struct{ ns, ifName, addr string }

// openTapLink makes the two TAP devices of a link under the temporary names
// tmp (unique on this host: they are made in the harness's namespace), moves
// each into its namespace, renames, addresses and raises it. The
// descriptors stay valid across the move. Shaping starts off.
func openTapLink(ends [2]tapEnd, tmp [2]string, shape Shape, seed uint64) (*tapLink, error) {
	w := &tapLink{shape: shape, seed: seed}
	for i, e := range ends {
		f, err := openTap(tmp[i])
		if err != nil {
			w.Close()
			return nil, err
		}
		w.ends[i], w.names[i] = f, e.ns+":"+e.ifName
		if err := sh(tapEndCmds(e, tmp[i])); err != nil {
			w.Close()
			return nil, fmt.Errorf("placing link end %s: %w", w.names[i], err)
		}
	}
	return w, nil
}

// tapEndCmds is the commands that move the TAP device tmp into e's
// namespace and make it e.
func tapEndCmds(e tapEnd, tmp string) [][]string {
	return [][]string{
		{"ip", "link", "set", "dev", tmp, "netns", e.ns},
		{"ip", "-n", e.ns, "link", "set", "dev", tmp, "name", e.ifName},
		{"ip", "-n", e.ns, "addr", "add", e.addr, "dev", e.ifName},
		{"ip", "-n", e.ns, "link", "set", "dev", e.ifName, "up"},
	}
}

// Shaping turns the impairment on or off; frames already held still go
// at their time.
func (w *tapLink) Shaping(on bool) { w.on.Store(on) }

// Stats is what the link did so far.
func (w *tapLink) Stats() RelayStats {
	return RelayStats{Dropped: w.stats.dropped.Load(), Duplicated: w.stats.duplicated.Load(),
		Delayed: w.stats.delayed.Load(), Reordered: w.stats.reordered.Load(), Overflowed: w.stats.overflowed.Load()}
}

// Close closes both TAP descriptors, which removes the interfaces. Serve
// does it when it ends; Close is for a link never served.
func (w *tapLink) Close() {
	for _, f := range w.ends {
		if f != nil {
			f.Close()
		}
	}
}

// Serve relays frames until ctx ends (then it returns nil) or a read
// fails (the device is gone); either way it closes the link and returns
// only once every goroutine it started has ended.
func (w *tapLink) Serve(ctx context.Context) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for dir := range 2 {
		src, dst := w.ends[dir], w.ends[1-dir]
		l := newLane(dst)
		rng := rand.New(rand.NewPCG(w.seed, uint64(dir)))
		wg.Go(func() { l.deliver(lctx) })
		wg.Go(func() {
			if err := w.relay(src, dst, l, rng); err != nil {
				errs <- fmt.Errorf("relay %s → %s: %w", w.names[dir], w.names[1-dir], err)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	w.Close() // ends the pending reads
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// relay reads frames from src and sends each as its fate says: at once
// to dst, or held in l. It returns when a read fails (nil once the link is
// closed). Write errors are ignored: a frame the other end cannot take
// (its interface down for a moment) is lost, as on a real link.
func (w *tapLink) relay(src *os.File, dst io.Writer, l *lane, rng *rand.Rand) error {
	buf := make([]byte, relayFrameMax)
	for {
		n, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		on := w.on.Load()
		f := w.shape.fate(on, rng)
		switch {
		case f.copies == 0:
			w.stats.dropped.Add(1)
		case f.copies == 2:
			w.stats.duplicated.Add(1)
		}
		for i := range f.copies {
			if f.delay[i] == 0 {
				if on && f.overtakes[i] {
					w.stats.reordered.Add(1)
				}
				dst.Write(buf[:n])
				continue
			}
			w.stats.delayed.Add(1)
			if !l.hold(time.Now().Add(f.delay[i]), append([]byte(nil), buf[:n]...)) {
				w.stats.overflowed.Add(1)
			}
		}
	}
}

// A lane is one direction's held frames, sent to dst when each is due.
type lane struct {
	dst  io.Writer
	mu   sync.Mutex
	q    heldFrames
	seq  uint64        // ties broken in arrival order
	wake chan struct{} // a frame was held: the next due time may be sooner
}

func newLane(dst io.Writer) *lane { return &lane{dst: dst, wake: make(chan struct{}, 1)} }

// hold queues frame until at; false (the frame dropped) when relayQueueMax
// frames are already held.
func (l *lane) hold(at time.Time, frame []byte) bool {
	l.mu.Lock()
	if len(l.q) >= relayQueueMax {
		l.mu.Unlock()
		return false
	}
	l.seq++
	heap.Push(&l.q, heldFrame{at: at, seq: l.seq, frame: frame})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// deliver sends held frames when they are due, until ctx ends (what is
// still held then is dropped with the link).
func (l *lane) deliver(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var due [][]byte
		next := time.Hour
		l.mu.Lock()
		now := time.Now()
		for len(l.q) > 0 {
			if d := l.q[0].at.Sub(now); d > 0 {
				next = d
				break
			}
			due = append(due, heap.Pop(&l.q).(heldFrame).frame)
		}
		l.mu.Unlock()
		for _, f := range due {
			l.dst.Write(f)
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
		}
	}
}

type heldFrame struct {
	at    time.Time
	seq   uint64
	frame []byte
}

// heldFrames is a min-heap by due time, then arrival.
type heldFrames []heldFrame

func (h heldFrames) Len() int { return len(h) }
func (h heldFrames) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h heldFrames) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldFrames) Push(x any)   { *h = append(*h, x.(heldFrame)) }
func (h *heldFrames) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = heldFrame{}
	*h = old[:len(old)-1]
	return x
}
