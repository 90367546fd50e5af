package promotion_test

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

	"eserver/internal/poll"
	"eserver/node/promotion"
	"eserver/node/promotion/promotiontest"
)

// The manager runs on a promotiontest.Clock, so these are durations of the
// fake clock: the tests advance it to a timer's deadline and check event
// times by arithmetic. Nothing here is measured with a stopwatch.
const (
	settle   = 30 * time.Second
	sustain  = 2 * time.Minute
	retry    = time.Minute
	memEvery = 5 * time.Second
	minMem   = 2 << 30 // DefaultMinMemory
)

var (
	// Public addresses (not the documentation ranges, which manet counts as
	// private).
	publicTCP  = ma.StringCast("/ip4/1.2.3.4/tcp/1865")
	publicQUIC = ma.StringCast("/ip4/1.2.3.4/udp/1865/quic-v1")
)

// rig is a manager on a real loopback host and a fake clock, driven by
// synthetic events on the host's bus, a fake memory probe and a fake
// Start/Stop.
type rig struct {
	t      *testing.T
	m      *promotion.Manager
	clk    *promotiontest.Clock
	reach  event.Emitter
	addrs  event.Emitter
	mem    atomic.Uint64
	events chan promotion.RoleEvent

	starts, stops atomic.Int32
	failStarts    atomic.Int32 // Starts left to fail
	stopped       atomic.Bool  // the last Stop ran to its end
	// holdStop makes Stop signal stopping and wait for releaseStop, so a
	// test sees what happens while a hand-over is under way.
	holdStop    bool
	stopping    chan struct{}
	release     chan struct{}
	releaseOnce sync.Once

	mu       sync.Mutex
	startCtx context.Context
	lowAt    time.Time // clock time of the first probe that found too little memory

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, mod func(*promotion.Config)) *rig {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r := &rig{
		t: t, clk: promotiontest.NewClock(), events: make(chan promotion.RoleEvent, 64), done: make(chan error, 1),
		stopping: make(chan struct{}, 1), release: make(chan struct{}),
	}
	r.mem.Store(4 << 30)
	if r.reach, err = h.EventBus().Emitter(new(event.EvtLocalReachabilityChanged), eventbus.Stateful); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.reach.Close() })
	if r.addrs, err = h.EventBus().Emitter(new(event.EvtHostReachableAddrsChanged), eventbus.Stateful); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.addrs.Close() })
	cfg := promotion.Config{
		Start:          r.start,
		Allowed:        true,
		UploadCap:      1 << 20,
		Settle:         settle,
		Sustain:        sustain,
		MemoryInterval: memEvery,
		RetryInterval:  retry,
		Memory:         r.probe,
		OnRole:         func(ev promotion.RoleEvent) { r.events <- ev },
		Clock:          r.clk,
	}
	if mod != nil {
		mod(&cfg)
	}
	r.m = promotion.New(h, cfg)
	return r
}

func (r *rig) probe() (uint64, error) {
	v := r.mem.Load()
	if v < minMem {
		r.mu.Lock()
		if r.lowAt.IsZero() {
			r.lowAt = r.clk.Now()
		}
		r.mu.Unlock()
	}
	return v, nil
}

// lowSeen waits until a memory probe has found too little memory and
// returns the clock time it did.
func (r *rig) lowSeen() time.Time {
	r.t.Helper()
	var at time.Time
	poll.Until(r.t, "a memory probe sees the drop", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		at = r.lowAt
		return !at.IsZero()
	})
	return at
}

func (r *rig) start(ctx context.Context) (promotion.Stopper, error) {
	r.starts.Add(1)
	if r.failStarts.Load() > 0 {
		r.failStarts.Add(-1)
		return nil, errors.New("mailbox database locked")
	}
	r.mu.Lock()
	r.startCtx = ctx
	r.mu.Unlock()
	r.stopped.Store(false)
	return promotion.StopFunc(func(ctx context.Context) error {
		r.stops.Add(1)
		if r.holdStop {
			r.stopping <- struct{}{}
			select {
			case <-r.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r.stopped.Store(true)
		return nil
	}), nil
}

func (r *rig) releaseStop() { r.releaseOnce.Do(func() { close(r.release) }) }

// duringStop waits for the held Stop to begin, runs check while it is under
// way, and lets it finish.
func (r *rig) duringStop(what string, check func()) {
	r.t.Helper()
	poll.Receive(r.t, r.stopping, what)
	check()
	r.releaseStop()
}

// serve runs Serve and returns once it is Ready, so nothing the test does
// next can happen before the manager watches for it.
func (r *rig) serve() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.m.Serve(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		r.releaseStop()
		poll.Receive(r.t, r.done, "Serve to return at the end of the test")
	})
	select {
	case <-r.m.Ready():
	case err := <-r.done:
		r.t.Fatalf("Serve returned %v before it was ready", err)
	case <-time.After(poll.Bound):
		r.t.Fatalf("Serve not ready after %v", poll.Bound)
	}
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

func (r *rig) next() promotion.RoleEvent {
	r.t.Helper()
	return poll.Receive(r.t, r.events, "a role event")
}

// failing waits until the manager has evaluated the conditions to fail for
// want.
func (r *rig) failing(want promotion.Reason) {
	r.t.Helper()
	poll.Until(r.t, "the conditions fail for "+string(want), func() bool { return r.m.Conditions().Failing() == want })
}

// noTimers waits until the manager has disarmed its hysteresis timers.
func (r *rig) noTimers(what string) {
	r.t.Helper()
	poll.Until(r.t, what, func() bool { return len(r.clk.Timers()) == 0 })
}

// armed waits until the manager has armed one hysteresis timer and returns
// its deadline.
func (r *rig) armed(what string) time.Time {
	r.t.Helper()
	poll.Until(r.t, what+" is armed", func() bool { return len(r.clk.Timers()) == 1 })
	return r.clk.Timers()[0]
}

// quiet advances the clock by d and asserts that no hysteresis timer fired
// and no role event came: the manager changes the role only when one fires.
func (r *rig) quiet(d time.Duration) {
	r.t.Helper()
	if n := r.clk.Advance(d); n != 0 {
		r.t.Fatalf("%d timers fired within %v", n, d)
	}
	none(r.t, r.events, "a role event")
}

// none asserts that nothing is ready on ch.
func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected: %s (%+v)", what, v)
	default:
	}
}

// fire waits for the manager's one hysteresis timer, advances the clock to
// a nanosecond before its deadline (nothing may happen), then to the
// deadline, and returns the deadline: the time of the event that follows.
func (r *rig) fire(what string) time.Time {
	r.t.Helper()
	at := r.armed(what)
	r.quiet(at.Sub(r.clk.Now()) - time.Nanosecond)
	if n := r.clk.Advance(time.Nanosecond); n != 1 {
		r.t.Fatalf("%s: %d timers fired at its deadline, want 1", what, n)
	}
	return at
}

// promoted fires the settle (or retry) timer and checks the promotion.
func (r *rig) promoted() promotion.RoleEvent {
	r.t.Helper()
	at := r.fire("the settle timer")
	ev := r.next()
	if ev.Role != promotion.RoleSupernode || ev.Reason != promotion.ReasonConditionsHold || ev.Err != nil {
		r.t.Fatalf("want promotion, got %+v", ev)
	}
	if !ev.Time.Equal(at) {
		r.t.Errorf("promotion at %v, want the timer's deadline %v", ev.Time, at)
	}
	if r.m.Role() != promotion.RoleSupernode {
		r.t.Fatalf("Role() = %v after promotion event", r.m.Role())
	}
	return ev
}

func TestPromotesWhenAllHold(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	begin := r.clk.Now()
	r.allHold()
	ev := r.promoted()
	if got := ev.Time.Sub(begin); got != settle {
		t.Errorf("promoted %v after the conditions held, want the settle time %v", got, settle)
	}
	if ev.UploadCap != 1<<20 || ev.Time.IsZero() || !ev.Conditions.Hold() {
		t.Errorf("event fields: %+v", ev)
	}
	if r.m.Role() != promotion.RoleSupernode || r.starts.Load() != 1 {
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
		want  promotion.Reason
	}{
		{"opted out", func(r *rig) { r.m.SetAllowed(false) }, func(r *rig) { r.m.SetAllowed(true) }, promotion.ReasonOptedOut},
		// The fix lands at the next probe; exactly the threshold is enough.
		{"low memory", func(r *rig) { r.mem.Store(1 << 30) }, func(r *rig) { r.mem.Store(minMem); r.clk.Advance(memEvery) }, promotion.ReasonLowMemory},
		{"private", func(r *rig) { r.setReach(network.ReachabilityPrivate) }, func(r *rig) { r.setReach(network.ReachabilityPublic) }, promotion.ReasonNotPublic},
		{"only TCP public", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP}, nil) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, promotion.ReasonNoQUIC},
		{"QUIC unreachable", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP}, []ma.Multiaddr{publicQUIC}) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, promotion.ReasonNoQUIC},
		{"only QUIC public", func(r *rig) { r.setAddrs([]ma.Multiaddr{publicQUIC}, nil) },
			func(r *rig) { r.setAddrs([]ma.Multiaddr{publicTCP, publicQUIC}, nil) }, promotion.ReasonNoTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.allHold()
			tc.spoil(r)
			r.serve()
			r.failing(tc.want)
			r.quiet(5 * settle)
			if r.starts.Load() != 0 || r.m.Role() != promotion.RoleNode {
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
	r.failing(promotion.ReasonNoTCP)
	r.quiet(5 * settle)
	if got := r.m.Conditions().Failing(); got != promotion.ReasonNoTCP {
		t.Errorf("Failing() = %q, want %q", got, promotion.ReasonNoTCP)
	}
}

func TestSettleRestartsOnFlap(t *testing.T) {
	r := newRig(t, nil)
	r.serve()
	r.allHold()
	first := r.armed("the settle timer")
	r.quiet(settle / 2)
	r.setReach(network.ReachabilityPrivate)
	r.noTimers("the flap disarms the settle timer")
	r.quiet(time.Second)
	flapEnd := r.clk.Now()
	r.setReach(network.ReachabilityPublic)
	// promoted advances past the first deadline; quiet fails if anything
	// fires there.
	ev := r.promoted()
	if got := ev.Time.Sub(flapEnd); got != settle || !ev.Time.After(first) {
		t.Errorf("promoted %v after the flap (first deadline %v, promotion %v); the settle time must restart", got, first, ev.Time)
	}
}

func TestDemotesAfterSustain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// spoil breaks a condition and returns when the manager saw it.
		spoil func(*rig) time.Time
		want  promotion.Reason
	}{
		{"reachability private", func(r *rig) time.Time { r.setReach(network.ReachabilityPrivate); return r.clk.Now() }, promotion.ReasonNotPublic},
		{"memory drops", func(r *rig) time.Time { r.mem.Store(512 << 20); r.clk.Advance(memEvery); return r.lowSeen() }, promotion.ReasonLowMemory},
		{"user opts out", func(r *rig) time.Time { r.m.SetAllowed(false); return r.clk.Now() }, promotion.ReasonOptedOut},
		{"QUIC lost", func(r *rig) time.Time {
			r.setAddrs([]ma.Multiaddr{publicTCP}, []ma.Multiaddr{publicQUIC})
			return r.clk.Now()
		}, promotion.ReasonNoQUIC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.holdStop = true
			r.serve()
			r.allHold()
			r.promoted()
			begin := tc.spoil(r)
			at := r.fire("the sustain timer")
			// The demotion waits for Stop: nothing is announced while the
			// hand-over runs.
			r.duringStop("Stop to be called", func() { none(t, r.events, "a role event before Stop returned") })
			ev := r.next()
			if ev.Role != promotion.RoleNode || ev.Reason != tc.want || ev.Err != nil {
				t.Fatalf("event %+v, want demotion for %q", ev, tc.want)
			}
			if got := ev.Time.Sub(begin); got != sustain || !ev.Time.Equal(at) {
				t.Errorf("demoted %v after the condition failed, want the sustain period %v", got, sustain)
			}
			if r.stops.Load() != 1 || !r.stopped.Load() {
				t.Errorf("stops %d, stop finished %v: the demotion must wait for Stop", r.stops.Load(), r.stopped.Load())
			}
			if r.m.Role() != promotion.RoleNode {
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
	for end := r.clk.Now().Add(2 * sustain); r.clk.Now().Before(end); {
		r.setReach(network.ReachabilityPrivate)
		r.armed("the sustain timer (unreachable)")
		r.quiet(sustain / 4)
		r.setReach(network.ReachabilityPublic)
		r.noTimers("reachability back disarms the sustain timer")
		r.mem.Store(1 << 30)
		r.quiet(memEvery)
		r.armed("the sustain timer (low memory)")
		r.quiet(sustain / 8)
		r.mem.Store(4 << 30)
		r.quiet(memEvery)
		r.noTimers("memory back disarms the sustain timer")
	}
	r.quiet(sustain / 2)
	if r.stops.Load() != 0 || r.m.Role() != promotion.RoleSupernode {
		t.Fatalf("demoted by brief flaps: stops %d, role %v", r.stops.Load(), r.m.Role())
	}
}

func TestServeDemotesOnContextEnd(t *testing.T) {
	r := newRig(t, nil)
	r.holdStop = true
	r.serve()
	r.allHold()
	r.promoted()
	r.cancel()
	r.duringStop("Stop on shutdown", func() { none(t, r.done, "Serve's return before Stop finished") })
	err := poll.Receive(t, r.done, "Serve to return")
	r.done <- err // for the cleanup
	if err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if !r.stopped.Load() {
		t.Error("Serve returned before Stop finished")
	}
	ev := r.next()
	if ev.Role != promotion.RoleNode || ev.Reason != promotion.ReasonShutdown {
		t.Errorf("event %+v, want shutdown demotion", ev)
	}
	if r.m.Role() != promotion.RoleNode {
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
	err := poll.Receive(t, r.done, "Serve to return")
	r.done <- err
	if err != nil {
		t.Errorf("Serve = %v", err)
	}
	if r.stops.Load() != 0 || len(r.events) != 0 {
		t.Errorf("a node that never promoted stopped or emitted: stops %d, events %d", r.stops.Load(), len(r.events))
	}
}

func TestFailingStartIsRetried(t *testing.T) {
	r := newRig(t, nil)
	r.failStarts.Store(2)
	r.serve()
	last := r.clk.Now()
	r.allHold()
	for i, wait := range []time.Duration{settle, retry} {
		at := r.fire("the settle or retry timer")
		ev := r.next()
		if ev.Role != promotion.RoleNode || ev.Reason != promotion.ReasonStartFailed || ev.Err == nil {
			t.Fatalf("event %+v, want a failed start", ev)
		}
		if r.m.Role() != promotion.RoleNode {
			t.Fatalf("Role() = %v after a failed start", r.m.Role())
		}
		if got := at.Sub(last); got != wait || !ev.Time.Equal(at) {
			t.Errorf("start %d tried %v after the last (event at %v, deadline %v), want %v", i+1, got, ev.Time, at, wait)
		}
		last = at
	}
	ev := r.promoted()
	if got := ev.Time.Sub(last); got != retry {
		t.Errorf("third start %v after the second failed, want the retry interval %v", got, retry)
	}
	if n := r.starts.Load(); n != 3 {
		t.Errorf("Start called %d times, want 3", n)
	}
}

func TestSecondServeRefused(t *testing.T) {
	r := newRig(t, nil)
	r.serve() // returns once the first Serve is Ready
	if err := r.m.Serve(context.Background()); !errors.Is(err, promotion.ErrServing) {
		t.Errorf("second Serve = %v, want ErrServing", err)
	}
}

func TestServeNeedsStart(t *testing.T) {
	r := newRig(t, func(c *promotion.Config) { c.Start = nil })
	if err := r.m.Serve(context.Background()); !errors.Is(err, promotion.ErrNoStart) {
		t.Errorf("Serve without Start = %v, want ErrNoStart", err)
	}
}
