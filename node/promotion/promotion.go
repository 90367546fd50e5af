// Package promotion is the promotion manager that decides when a node
// becomes a supernode and when it stops being one.
//
// It is the seed's "When switch from Node to Supernode" brought up to date.
// A node is promoted when, for Config.Settle without a break:
//
//   - AutoNAT says the host is publicly reachable
//     (event.EvtLocalReachabilityChanged with network.ReachabilityPublic);
//   - it has a public TCP address and a public QUIC address (the seed's "TCP
//     and UDP"), from the host's addresses and AutoNAT v2's
//     event.EvtHostReachableAddrsChanged;
//   - at least Config.MinMemory (2 GiB) of memory is available;
//   - the user has allowed it (SetAllowed, from the settings).
//
// A supernode is demoted when any condition fails for Config.Sustain without
// a break, so a reachability flap does not flap the role. The manager does
// not know what a supernode runs: Config.Start starts it (the node calls
// supernode.StartServices and runs a Heartbeater) and the Stopper it returns
// hands the supernode's nodes over and stops it. The design follows
// go-libp2p's relaysvc, which starts and stops the relay service on
// reachability events, with the hysteresis and the other conditions added.
package promotion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Defaults, each the value a zero field of Config takes.
const (
	// DefaultSettle is how long every condition must hold before a node is
	// promoted: long enough for AutoNAT to confirm itself a few times, short
	// enough that a well-connected node serves soon after it starts.
	DefaultSettle = 30 * time.Second
	// DefaultSustain is how long a condition must fail before a supernode is
	// demoted. A demotion moves every node it serves to other supernodes, so
	// it must not follow a router reboot or one bad AutoNAT probe.
	DefaultSustain = 2 * time.Minute
	// DefaultMinMemory is the seed's "more than 1Gb ram (or two)": 2 GiB.
	DefaultMinMemory = 2 << 30
	// DefaultMemoryInterval is how often memory is probed; memory has no
	// event, so it is polled.
	DefaultMemoryInterval = 30 * time.Second
	// DefaultRetryInterval is how long after a failed Start it is tried
	// again (if the conditions still hold).
	DefaultRetryInterval = time.Minute
	// DefaultStopTimeout bounds a Stop, the hand-over included.
	DefaultStopTimeout = 30 * time.Second
)

// Errors callers branch on.
var (
	// ErrServing is returned by a second concurrent Serve.
	ErrServing = errors.New("promotion: Serve already running")
	// ErrNoStart is returned by Serve when Config.Start is nil.
	ErrNoStart = errors.New("promotion: Config.Start is required")
)

// Role is what a node is in the network.
type Role int

const (
	// RoleNode is an ordinary node: it keeps supernodes, it is not one.
	RoleNode Role = iota
	// RoleSupernode runs the supernode services for other nodes.
	RoleSupernode
)

func (r Role) String() string {
	switch r {
	case RoleNode:
		return "node"
	case RoleSupernode:
		return "supernode"
	default:
		return fmt.Sprintf("Role(%d)", int(r))
	}
}

// Reason says why the role changed (or did not, for ReasonStartFailed).
// Demotion reasons name the first failing condition in the order of the
// constants below; RoleEvent.Conditions has all of them.
type Reason string

const (
	// ReasonConditionsHold: every condition held for Config.Settle.
	ReasonConditionsHold Reason = "conditions hold"
	// ReasonOptedOut: the user does not allow supernode duty.
	ReasonOptedOut Reason = "not allowed by the user"
	// ReasonNotPublic: AutoNAT does not say the host is publicly reachable.
	ReasonNotPublic Reason = "not publicly reachable"
	// ReasonNoTCP: no public TCP address.
	ReasonNoTCP Reason = "no public TCP address"
	// ReasonNoQUIC: no public QUIC address.
	ReasonNoQUIC Reason = "no public QUIC address"
	// ReasonLowMemory: less than Config.MinMemory available, or the probe
	// failed.
	ReasonLowMemory Reason = "not enough memory"
	// ReasonStartFailed: Start returned an error; the role stays RoleNode
	// and Start is retried after Config.RetryInterval.
	ReasonStartFailed Reason = "starting supernode services failed"
	// ReasonShutdown: Serve's context ended.
	ReasonShutdown Reason = "shutting down"
)

// Conditions is the state of every promotion condition at one moment.
type Conditions struct {
	// Allowed is the user's opt-in.
	Allowed bool
	// Reachability is AutoNAT's latest verdict.
	Reachability network.Reachability
	// PublicTCP and PublicQUIC are the public addresses of each transport
	// that AutoNAT v2 has not found unreachable.
	PublicTCP  []ma.Multiaddr
	PublicQUIC []ma.Multiaddr
	// MemAvailable is the latest memory probe's answer, MemErr its error.
	MemAvailable uint64
	MemErr       error
	// MinMemory is the threshold MemAvailable is held to.
	MinMemory uint64
}

// Failing returns the first condition that fails, or "" when all hold.
func (c Conditions) Failing() Reason {
	switch {
	case !c.Allowed:
		return ReasonOptedOut
	case c.Reachability != network.ReachabilityPublic:
		return ReasonNotPublic
	case len(c.PublicTCP) == 0:
		return ReasonNoTCP
	case len(c.PublicQUIC) == 0:
		return ReasonNoQUIC
	case c.MemErr != nil || c.MemAvailable < c.MinMemory:
		return ReasonLowMemory
	}
	return ""
}

// Hold reports whether every condition holds.
func (c Conditions) Hold() bool { return c.Failing() == "" }

// RoleEvent reports a role change, or a failed promotion (Reason
// ReasonStartFailed, Role RoleNode, Err set).
type RoleEvent struct {
	Role   Role
	Reason Reason
	Time   time.Time
	// Conditions at the time of the event.
	Conditions Conditions
	// UploadCap is Config.UploadCap, for the services and the GUI (see
	// Config.UploadCap for why the manager cannot enforce it itself).
	UploadCap int64
	// Err is Start's error (ReasonStartFailed) or Stop's (on a demotion:
	// the role is RoleNode regardless, as a half-stopped supernode cannot
	// be resumed).
	Err error
}

// Stopper stops what Start started.
type Stopper interface {
	// Stop hands the supernode's nodes over to other supernodes without
	// losing a message, stops the services and returns when they are gone.
	// ctx bounds it (Config.StopTimeout).
	Stop(ctx context.Context) error
}

// StopFunc adapts a function to Stopper.
type StopFunc func(ctx context.Context) error

// Stop calls f.
func (f StopFunc) Stop(ctx context.Context) error { return f(ctx) }

// MemoryProbe returns the memory available to new work, in bytes.
type MemoryProbe func() (uint64, error)

// Config configures a Manager. Every zero field is a documented default,
// except Start, which is required.
type Config struct {
	// Start starts the supernode: supernode.StartServices and a Heartbeater.
	// ctx lives as long as the promotion: it ends after the Stopper's Stop
	// returns (or at once if Start fails), so Start may run goroutines on
	// it. Required.
	Start func(ctx context.Context) (Stopper, error)
	// Allowed is the user's initial opt-in; SetAllowed changes it.
	Allowed bool
	// UploadCap is the user's upload bandwidth cap for supernode duty in
	// bytes per second; zero means none. It is carried in every RoleEvent
	// and returned by Manager.UploadCap for Start to apply. libp2p's circuit
	// relay v2 limits each circuit's duration and byte count but has no rate
	// limit, and the resource manager limits memory, streams and connections,
	// not bandwidth, so enforcing the cap needs a rate-limited wrapper in the
	// services; the manager only passes it on.
	UploadCap int64
	// Settle is how long every condition must hold before promotion; zero
	// means DefaultSettle.
	Settle time.Duration
	// Sustain is how long a condition must fail before demotion; zero means
	// DefaultSustain.
	Sustain time.Duration
	// MinMemory is the available memory a supernode needs, in bytes; zero
	// means DefaultMinMemory.
	MinMemory uint64
	// Memory probes available memory; nil means MemAvailable from
	// /proc/meminfo (where there is none, the probe fails and the node is
	// never promoted).
	Memory MemoryProbe
	// MemoryInterval is how often Memory is called; zero means
	// DefaultMemoryInterval.
	MemoryInterval time.Duration
	// RetryInterval is the wait after a failed Start; zero means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// StopTimeout bounds Stop; zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// Addrs returns the host's current addresses; nil means h.Addrs. Only
	// public IP or DNS addresses count.
	Addrs func() []ma.Multiaddr
	// OnRole receives every RoleEvent, on Serve's goroutine, in order. It
	// must not block for long; it may call the Manager's methods.
	OnRole func(RoleEvent)
	// Clock drives the hysteresis timers, the memory probe's ticker and
	// event times; nil means the real clock.
	Clock Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Manager decides the node's role. Create it with New and run Serve once.
type Manager struct {
	h   host.Host
	cfg Config
	log *slog.Logger

	role      atomic.Int32
	allowed   atomic.Bool
	wake      chan struct{} // SetAllowed pokes Serve; buffered 1
	serving   atomic.Bool
	ready     chan struct{} // closed when Serve is watching; see Ready
	readyOnce sync.Once

	mu   sync.Mutex // guards cond, for Conditions
	cond Conditions
	// reach is AutoNAT's latest verdict on the host, reachable and
	// unreachable AutoNAT v2's on single addresses.
	reach                  network.Reachability
	reachable, unreachable []ma.Multiaddr
}

// New returns a manager for h; nothing happens until Serve.
func New(h host.Host, cfg Config) *Manager {
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Sustain <= 0 {
		cfg.Sustain = DefaultSustain
	}
	if cfg.MinMemory == 0 {
		cfg.MinMemory = DefaultMinMemory
	}
	if cfg.Memory == nil {
		cfg.Memory = ProcMemAvailable
	}
	if cfg.MemoryInterval <= 0 {
		cfg.MemoryInterval = DefaultMemoryInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.Addrs == nil {
		cfg.Addrs = h.Addrs
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{h: h, cfg: cfg, log: log, wake: make(chan struct{}, 1), ready: make(chan struct{})}
	m.allowed.Store(cfg.Allowed)
	m.cond = Conditions{Allowed: cfg.Allowed, MinMemory: cfg.MinMemory, MemErr: errors.New("memory not probed yet")}
	return m
}

// SetAllowed records the user's opt-in. Opting out demotes a supernode after
// Config.Sustain like any other failing condition.
func (m *Manager) SetAllowed(ok bool) {
	if m.allowed.Swap(ok) == ok {
		return
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Role returns the current role.
func (m *Manager) Role() Role { return Role(m.role.Load()) }

// UploadCap returns Config.UploadCap, for Start.
func (m *Manager) UploadCap() int64 { return m.cfg.UploadCap }

// Conditions returns the conditions as last evaluated, for the settings UI.
func (m *Manager) Conditions() Conditions {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cond
}

// Ready is closed once Serve has subscribed to the host's events and
// evaluated the conditions as they stand: an event emitted after it is not
// missed, and a second Serve is refused with ErrServing. A caller that
// starts Serve in a goroutine waits for Ready before it acts on the manager.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Serve watches the host's event bus and memory and promotes and demotes the
// node until ctx ends; then it demotes (waiting for Stop) and returns nil.
// No goroutine it starts outlives it.
func (m *Manager) Serve(ctx context.Context) error {
	if m.cfg.Start == nil {
		return ErrNoStart
	}
	if !m.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	defer m.serving.Store(false)

	sub, err := m.h.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged),
		new(event.EvtHostReachableAddrsChanged),
		new(event.EvtLocalAddressesUpdated),
	}, eventbus.Name("promotion"))
	if err != nil {
		return fmt.Errorf("promotion: subscribing to host events: %w", err)
	}
	defer sub.Close()

	s := &serveState{}
	defer s.stopTimers()
	// A supernode still running when Serve returns, for whatever reason,
	// is stopped first.
	defer func() {
		if m.Role() == RoleSupernode {
			m.demote(ctx, s, ReasonShutdown)
		}
	}()

	memTick := m.cfg.Clock.NewTicker(m.cfg.MemoryInterval)
	defer memTick.Stop()
	m.probeMemory()
	m.evaluate(s)
	m.readyOnce.Do(func() { close(m.ready) })

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.Out():
			if !ok {
				return errors.New("promotion: host event bus closed")
			}
			m.handle(ev)
		case <-memTick.C():
			m.probeMemory()
		case <-m.wake:
		case <-s.settleC():
			s.settle = nil
			if m.snapshot().Hold() {
				m.promote(ctx, s)
			}
		case <-s.retryC():
			s.retry = nil
			if m.snapshot().Hold() {
				m.promote(ctx, s)
			}
		case <-s.sustainC():
			s.sustain = nil
			if r := m.snapshot().Failing(); r != "" {
				m.demote(ctx, s, r)
			}
		}
		m.evaluate(s)
	}
}

// serveState is Serve's own: the hysteresis timers and the running
// supernode. Only Serve's goroutine touches it.
type serveState struct {
	settle, sustain, retry Timer
	stopper                Stopper
	cancel                 context.CancelFunc
}

func timerC(t Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C()
}

func (s *serveState) settleC() <-chan time.Time  { return timerC(s.settle) }
func (s *serveState) sustainC() <-chan time.Time { return timerC(s.sustain) }
func (s *serveState) retryC() <-chan time.Time   { return timerC(s.retry) }

func stopTimer(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

func (s *serveState) stopTimers() {
	stopTimer(&s.settle)
	stopTimer(&s.sustain)
	stopTimer(&s.retry)
}

// handle records one host event.
func (m *Manager) handle(ev any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e := ev.(type) {
	case event.EvtLocalReachabilityChanged:
		m.reach = e.Reachability
		m.log.Debug("reachability changed", "reachability", e.Reachability)
	case event.EvtHostReachableAddrsChanged:
		m.reachable = e.Reachable
		m.unreachable = e.Unreachable
	case event.EvtLocalAddressesUpdated:
		// Nothing to record: Addrs is read at every evaluation.
	}
}

func (m *Manager) probeMemory() {
	avail, err := m.cfg.Memory()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cond.MemAvailable, m.cond.MemErr = avail, err
	if err != nil {
		m.cond.MemErr = fmt.Errorf("probing memory: %w", err)
	}
}

// snapshot recomputes the conditions from what has been recorded.
func (m *Manager) snapshot() Conditions {
	addrs := m.cfg.Addrs()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cond
	c.Allowed = m.allowed.Load()
	c.Reachability = m.reach
	c.PublicTCP, c.PublicQUIC = publicTransports(addrs, m.reachable, m.unreachable)
	m.cond = c
	return c
}

// publicTransports returns the public TCP and QUIC addresses among the host's
// addresses and the ones AutoNAT v2 confirmed, less those it refuted.
func publicTransports(addrs, reachable, unreachable []ma.Multiaddr) (tcp, quic []ma.Multiaddr) {
	seen := make(map[string]bool)
	for _, a := range unreachable {
		seen[string(a.Bytes())] = true
	}
	for _, list := range [][]ma.Multiaddr{reachable, addrs} {
		for _, a := range list {
			k := string(a.Bytes())
			if seen[k] || !manet.IsPublicAddr(a) {
				continue
			}
			seen[k] = true
			switch {
			case isTCP(a):
				tcp = append(tcp, a)
			case isQUIC(a):
				quic = append(quic, a)
			}
		}
	}
	return tcp, quic
}

// isTCP reports a direct TCP address (not a relayed or websocket one: the
// seed's TCP is plain TCP).
func isTCP(a ma.Multiaddr) bool {
	if !hasProto(a, ma.P_TCP) {
		return false
	}
	for _, c := range a {
		switch c.Code() {
		case ma.P_CIRCUIT, ma.P_WS, ma.P_WSS, ma.P_HTTP, ma.P_HTTPS:
			return false
		}
	}
	return true
}

// isQUIC reports a direct QUIC v1 address (webtransport on top of it
// included: the UDP port is what matters).
func isQUIC(a ma.Multiaddr) bool {
	return hasProto(a, ma.P_QUIC_V1) && !hasProto(a, ma.P_CIRCUIT)
}

func hasProto(a ma.Multiaddr, code int) bool {
	for _, c := range a {
		if c.Code() == code {
			return true
		}
	}
	return false
}

// evaluate arms and disarms the hysteresis timers for the current
// conditions.
func (m *Manager) evaluate(s *serveState) {
	c := m.snapshot()
	switch m.Role() {
	case RoleNode:
		if !c.Hold() {
			if s.settle != nil || s.retry != nil {
				m.log.Debug("promotion condition failed", "reason", c.Failing())
			}
			stopTimer(&s.settle)
			stopTimer(&s.retry)
			return
		}
		if s.settle == nil && s.retry == nil {
			s.settle = m.cfg.Clock.NewTimer(m.cfg.Settle)
		}
	case RoleSupernode:
		if c.Hold() {
			stopTimer(&s.sustain)
			return
		}
		if s.sustain == nil {
			m.log.Info("supernode condition failing", "reason", c.Failing(), "demote_after", m.cfg.Sustain)
			s.sustain = m.cfg.Clock.NewTimer(m.cfg.Sustain)
		}
	}
}

func (m *Manager) promote(ctx context.Context, s *serveState) {
	stopTimer(&s.settle)
	stopTimer(&s.retry)
	c := m.snapshot()
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Shutting down while Start runs cancels it; a started supernode lives
	// on pctx until Stop.
	unhook := context.AfterFunc(ctx, cancel)
	stopper, err := m.cfg.Start(pctx)
	unhook()
	if err == nil && stopper == nil {
		err = errors.New("start returned no Stopper")
	}
	if err != nil {
		cancel()
		m.log.Warn("starting supernode failed", "err", err, "retry_after", m.cfg.RetryInterval)
		s.retry = m.cfg.Clock.NewTimer(m.cfg.RetryInterval)
		m.emit(RoleEvent{Role: RoleNode, Reason: ReasonStartFailed, Conditions: c, Err: err})
		return
	}
	s.stopper, s.cancel = stopper, cancel
	m.role.Store(int32(RoleSupernode))
	m.log.Info("promoted to supernode")
	m.emit(RoleEvent{Role: RoleSupernode, Reason: ReasonConditionsHold, Conditions: c})
}

func (m *Manager) demote(ctx context.Context, s *serveState, why Reason) {
	stopTimer(&s.sustain)
	c := m.snapshot()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StopTimeout)
	err := s.stopper.Stop(sctx)
	cancel()
	s.cancel()
	s.stopper, s.cancel = nil, nil
	m.role.Store(int32(RoleNode))
	if err != nil {
		err = fmt.Errorf("stopping supernode: %w", err)
		m.log.Warn("demoted to node", "reason", why, "err", err)
	} else {
		m.log.Info("demoted to node", "reason", why)
	}
	m.emit(RoleEvent{Role: RoleNode, Reason: why, Conditions: c, Err: err})
}

func (m *Manager) emit(ev RoleEvent) {
	ev.Time = m.cfg.Clock.Now()
	ev.UploadCap = m.cfg.UploadCap
	if m.cfg.OnRole != nil {
		m.cfg.OnRole(ev)
	}
}
