package promotion

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
)

// Test durations: short enough for a quick test, long enough that -race on
// a busy 2-core machine does not blur settle from sustain.
const (
	settle  = 60 * time.Millisecond
	sustain = 400 * time.Millisecond
	wait    = 5 * time.Second // upper bound for anything that should happen
)

var (
	// Public addresses (not the documentation ranges, which manet counts as
	// private).
	publicTCP  = ma.StringCast("/ip4/1.2.3.4/tcp/1865")
	publicQUIC = ma.StringCast("/ip4/1.2.3.4/udp/1865/quic-v1")
)

// rig is a manager on a real loopback host, driven by synthetic events on
// its bus, a fake memory probe and a fake Start/Stop.
type rig struct {
	t      *testing.T
	m      *Manager
	reach  event.Emitter
	addrs  event.Emitter
	mem    atomic.Uint64
	events chan RoleEvent

	starts, stops atomic.Int32
	failStarts    atomic.Int32 // Starts left to fail
	stopDelay     time.Duration
	stopped       atomic.Bool // the last Stop ran to its end
	mu            sync.Mutex
	startCtx      context.Context

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r := &rig{t: t, events: make(chan RoleEvent, 64), done: make(chan error, 1)}
	r.mem.Store(4 << 30)
	if r.reach, err = h.EventBus().Emitter(new(event.EvtLocalReachabilityChanged), eventbus.Stateful); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.reach.Close() })
	if r.addrs, err = h.EventBus().Emitter(new(event.EvtHostReachableAddrsChanged), eventbus.Stateful); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.addrs.Close() })
	cfg := Config{
		Start:          r.start,
		Allowed:        true,
		UploadCap:      1 << 20,
		Settle:         settle,
		Sustain:        sustain,
		MemoryInterval: 5 * time.Millisecond,
		RetryInterval:  100 * time.Millisecond,
		Memory:         func() (uint64, error) { return r.mem.Load(), nil },
		OnRole:         func(ev RoleEvent) { r.events <- ev },
	}
	if mod != nil {
		mod(&cfg)
	}
	r.m = New(h, cfg)
	return r
}

func (r *rig) start(ctx context.Context) (Stopper, error) {
	r.starts.Add(1)
	if r.failStarts.Load() > 0 {
		r.failStarts.Add(-1)
		return nil, errors.New("mailbox database locked")
	}
	r.mu.Lock()
	r.startCtx = ctx
	r.mu.Unlock()
	r.stopped.Store(false)
	return StopFunc(func(ctx context.Context) error {
		r.stops.Add(1)
		select {
		case <-time.After(r.stopDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
		r.stopped.Store(true)
		return nil
	}), nil
}

func (r *rig) serve() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.m.Serve(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			r.t.Error("Serve did not return")
		}
	})
}

func (r *rig) setReach(v network.Reachability) {
	r.t.Helper()
	if err := r.reach.Emit(event.EvtLocalReachabilityChanged{Reachability: v}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) setAddrs(reachable, unreachable []ma.Multiaddr) {
	r.t.Helper()
	if err := r.addrs.Emit(event.EvtHostReachableAddrsChanged{Reachable: reachable, Unreachable: unreachable}); err != nil {
		r.t.Fatal(err)
	}
}

// allHold makes every condition hold.
func (r *rig) allHold() {
	r.setReach(network.ReachabilityPublic)
	r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil)
	r.mem.Store(4 << 30)
	r.m.SetAllowed(true)
}

func (r *rig) next() RoleEvent {
	r.t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(wait):
		r.t.Fatalf("no role event within %v (role %v, conditions %+v)", wait, r.m.Role(), r.m.Conditions())
		return RoleEvent{}
	}
}

// quiet asserts no role event for d.
func (r *rig) quiet(d time.Duration) {
	r.t.Helper()
	select {
	case ev := <-r.events:
		r.t.Fatalf("unexpected role event %+v", ev)
	case <-time.After(d):
	}
}

func (r *rig) promoted() {
	r.t.Helper()
	ev := r.next()
	if ev.Role != RoleSupernode || ev.Reason != ReasonConditionsHold || ev.Err != nil {
		r.t.Fatalf("want promotion, got %+v", ev)
	}
	if r.m.Role() != RoleSupernode {
		r.t.Fatalf("Role() = %v after promotion event", r.m.Role())
	}
}

func TestPromotesWhenAllHold(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	begin := time.Now()
	r.allHold()
	ev := r.next()
	if took := time.Since(begin); took < settle {
		t.Errorf("promoted after %v, before the %v settle time", took, settle)
	}
	if ev.Role != RoleSupernode || ev.Reason != ReasonConditionsHold {
		t.Fatalf("event %+v", ev)
	}
	if ev.UploadCap != 1<<20 || ev.Time.IsZero() || !ev.Conditions.Hold() {
		t.Errorf("event fields: %+v", ev)
	}
	if r.m.Role() != RoleSupernode || r.starts.Load() != 1 {
		t.Errorf("role %v, starts %d", r.m.Role(), r.starts.Load())
	}
	r.quiet(2 * settle)
	if r.starts.Load() != 1 {
		t.Errorf("Start called %d times, want 1", r.starts.Load())
	}
}

func TestNoPromotionUnlessAllHold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(*rig)
		fix   func(*rig)
		want  Reason
	}{
		{"opted out", func(r *rig) { r.m.SetAllowed(false) }, func(r *rig) { r.m.SetAllowed(true) }, ReasonOptedOut},
		{"low memory", func(r *rig) { r.mem.Store(1 << 30) }, func(r *rig) { r.mem.Store(2 << 30) }, ReasonLowMemory},
		{"private", func(r *rig) { r.setReach(network.ReachabilityPrivate) }, func(r *rig) { r.setReach(network.ReachabilityPublic) }, ReasonNotPublic},
		{"only TCP public", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP}, nil) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, ReasonNoQUIC},
		{"QUIC unreachable", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP}, []ma.Multiaddr{publicQUIC}) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, ReasonNoQUIC},
		{"only QUIC public", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicQUIC}, nil) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, ReasonNoTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.allHold()
			tc.spoil(r)
			r.serve()
			r.quiet(5 * settle)
			if r.starts.Load() != 0 || r.m.Role() != RoleNode {
				t.Fatalf("promoted: starts %d, role %v", r.starts.Load(), r.m.Role())
			}
			if got := r.m.Conditions().Failing(); got != tc.want {
				t.Errorf("Failing() = %q, want %q", got, tc.want)
			}
			// The broken condition was the only thing in the way.
			tc.fix(r)
			r.promoted()
		})
	}
}

func TestLoopbackAddrsDoNotCount(t *testing.T) {
	// The host listens on 127.0.0.1 TCP and QUIC: public reachability
	// alone must not make those count as public transports.
	r := newRig(t, nil)
	r.setReach(network.ReachabilityPublic)
	r.serve()
	r.quiet(5 * settle)
	if got := r.m.Conditions().Failing(); got != ReasonNoTCP {
		t.Errorf("Failing() = %q, want %q", got, ReasonNoTCP)
	}
}

func TestSettleRestartsOnFlap(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Settle = 300 * time.Millisecond })
	r.serve()
	r.allHold()
	time.Sleep(150 * time.Millisecond)
	r.setReach(network.ReachabilityPrivate)
	time.Sleep(20 * time.Millisecond)
	begin := time.Now()
	r.setReach(network.ReachabilityPublic)
	r.promoted()
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Errorf("promoted %v after the flap; the settle time must restart", took)
	}
}

func TestDemotesAfterSustain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(*rig)
		want  Reason
	}{
		{"reachability private", func(r *rig) { r.setReach(network.ReachabilityPrivate) }, ReasonNotPublic},
		{"memory drops", func(r *rig) { r.mem.Store(512 << 20) }, ReasonLowMemory},
		{"user opts out", func(r *rig) { r.m.SetAllowed(false) }, ReasonOptedOut},
		{"QUIC lost", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP}, []ma.Multiaddr{publicQUIC}) }, ReasonNoQUIC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.stopDelay = 50 * time.Millisecond
			r.serve()
			r.allHold()
			r.promoted()
			begin := time.Now()
			tc.spoil(r)
			ev := r.next()
			took := time.Since(begin)
			if took < sustain {
				t.Errorf("demoted after %v, before the %v sustain period", took, sustain)
			}
			if ev.Role != RoleNode || ev.Reason != tc.want || ev.Err != nil {
				t.Fatalf("event %+v, want demotion for %q", ev, tc.want)
			}
			if r.stops.Load() != 1 || !r.stopped.Load() {
				t.Errorf("stops %d, stop finished %v: the demotion must wait for Stop", r.stops.Load(), r.stopped.Load())
			}
			if r.m.Role() != RoleNode {
				t.Errorf("Role() = %v", r.m.Role())
			}
			r.mu.Lock()
			sctx := r.startCtx
			r.mu.Unlock()
			if sctx.Err() == nil {
				t.Error("Start's context outlives the demotion")
			}
		})
	}
}

func TestBriefFlapsDoNotDemote(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	r.allHold()
	r.promoted()
	// Flap for twice the sustain period, each failure shorter than it.
	end := time.Now().Add(2 * sustain)
	for time.Now().Before(end) {
		r.setReach(network.ReachabilityPrivate)
		time.Sleep(sustain / 4)
		r.setReach(network.ReachabilityPublic)
		r.mem.Store(1 << 30)
		time.Sleep(sustain / 8)
		r.mem.Store(4 << 30)
		time.Sleep(sustain / 8)
	}
	r.quiet(sustain / 2)
	if r.stops.Load() != 0 || r.m.Role() != RoleSupernode {
		t.Fatalf("demoted by brief flaps: stops %d, role %v", r.stops.Load(), r.m.Role())
	}
}

func TestServeDemotesOnContextEnd(t *testing.T) {
	r := newRig(t, nil)
	r.stopDelay = 100 * time.Millisecond
	r.serve()
	r.allHold()
	r.promoted()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
		r.done <- err // for the cleanup
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
	if !r.stopped.Load() {
		t.Error("Serve returned before Stop finished")
	}
	ev := r.next()
	if ev.Role != RoleNode || ev.Reason != ReasonShutdown {
		t.Errorf("event %+v, want shutdown demotion", ev)
	}
	if r.m.Role() != RoleNode {
		t.Errorf("Role() = %v", r.m.Role())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.startCtx.Err() == nil {
		t.Error("Start's context outlives Serve")
	}
}

func TestServeReturnsAsNode(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
		r.done <- err
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
	if r.stops.Load() != 0 || len(r.events) != 0 {
		t.Errorf("a node that never promoted stopped or emitted: stops %d, events %d", r.stops.Load(), len(r.events))
	}
}

func TestFailingStartIsRetried(t *testing.T) {
	r := newRig(t, nil)
	r.failStarts.Store(2)
	r.serve()
	r.allHold()
	for range 2 {
		ev := r.next()
		if ev.Role != RoleNode || ev.Reason != ReasonStartFailed || ev.Err == nil {
			t.Fatalf("event %+v, want a failed start", ev)
		}
		if r.m.Role() != RoleNode {
			t.Fatalf("Role() = %v after a failed start", r.m.Role())
		}
	}
	r.promoted()
	if n := r.starts.Load(); n != 3 {
		t.Errorf("Start called %d times, want 3", n)
	}
}

func TestSecondServeRefused(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	time.Sleep(20 * time.Millisecond)
	if err := r.m.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v, want ErrServing", err)
	}
}

func TestParseMemAvailable(t *testing.T) {
	in := []byte("MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    3000000 kB\n")
	got, err := parseMemAvailable(in)
	if err != nil || got != 3000000<<10 {
		t.Errorf("parseMemAvailable = %d, %v", got, err)
	}
	if _, err := parseMemAvailable([]byte("MemTotal: 1 kB\n")); !errors.Is(err, ErrNoMemAvailable) {
		t.Errorf("no MemAvailable: %v", err)
	}
	if _, err := ProcMemAvailable(); err != nil {
		t.Logf("ProcMemAvailable on this machine: %v", err)
	}
}
