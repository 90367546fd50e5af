package authserver

import (
	"net/netip"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// source is where a request came from, as the rate limits key it. An IPv6
// host picks any address of its /64 at will (privacy addresses), so
// keying by the full address would give one machine 2^64 allowances: an
// IPv6 source counts as its /64, an IPv4 source as its address.
type source struct {
	ip     string     // the remote address as seen, for logs
	addr   string     // one host: the IPv4 address, or the IPv6 /64
	prefix string     // one network: the IPv4 /24, or the IPv6 /56 (a typical site's delegation)
	remote netip.Addr // the remote address, unmapped; invalid when the connection has none
}

// unknownSource is the key of a connection with no IP address (none of
// ours today): all such share one allowance.
const unknownSource = "unknown"

// sourceOf returns the rate-limit keys of a connection's remote multiaddr.
// An IPv4-mapped IPv6 address is its IPv4 address.
func sourceOf(a ma.Multiaddr) source {
	var v string
	if a != nil {
		var err error
		if v, err = a.ValueForProtocol(ma.P_IP6); err != nil {
			v, _ = a.ValueForProtocol(ma.P_IP4)
		}
	}
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return source{ip: unknownSource, addr: unknownSource, prefix: unknownSource}
	}
	ip = ip.Unmap().WithZone("")
	addrBits, prefixBits := 32, 24
	if ip.Is6() {
		addrBits, prefixBits = 64, 56
	}
	host, _ := ip.Prefix(addrBits)
	site, _ := ip.Prefix(prefixBits)
	return source{ip: ip.String(), addr: host.String(), prefix: site.String(), remote: ip}
}

// limiter counts events per key (login failures per account, device or
// address; registrations per address or network) in a sliding window. Once a key has max failures inside the window it is
// refused until the oldest of them ages out: every further failure pushes
// the refusal out again, which is the back-off. It is kept in memory: a
// restart forgets it, which costs an attacker a restart of our process.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time // oldest first, at most max entries
}

// maxTrackedKeys bounds memory: past it, stale keys are swept on insert.
const maxTrackedKeys = 100_000

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, fails: make(map[string][]time.Time)}
}

// recent returns key's failures inside the window ending at now, pruning
// older ones. Callers hold mu.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && !now.Before(ts[i].Add(l.window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}

// attempt reports whether key may make another attempt at now and, if so,
// counts the attempt as a failure until succeeded or forgetOne says
// otherwise. Counting up front matters: an OPAQUE client learns whether its
// password guess was right from KE2 alone, so a guess that never sends KE3
// must still count. Check and count are one step so parallel attempts
// cannot slip past the limit.
func (l *limiter) attempt(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) >= l.max {
		return false
	}
	if len(l.fails) >= maxTrackedKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	l.fails[key] = append(ts, now)
	return true
}

// forgetOne removes key's newest failure: a login that was counted as a
// failure when it started turned out to succeed. A success forgets only
// itself, never the key's other failures: otherwise an attacker whose
// guesses interleave with the owner's logins would get a fresh allowance
// after each of them.
func (l *limiter) forgetOne(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.fails[key]
	if len(ts) <= 1 {
		delete(l.fails, key)
		return
	}
	l.fails[key] = ts[:len(ts)-1]
}

// admitRegistration reports whether src may create another account at now
// and, if so, counts it against its address and its network until
// releaseRegistration gives it back. Always true when the throttle is off.
func (s *Server) admitRegistration(src source, now time.Time) bool {
	if s.regAddrs == nil {
		return true
	}
	if !s.regAddrs.attempt(src.addr, now) {
		return false
	}
	if !s.regNets.attempt(src.prefix, now) {
		s.regAddrs.forgetOne(src.addr)
		return false
	}
	return true
}

// releaseRegistration gives back a registration admitted for src that did
// not create an account (a taken name, a malformed record, a hang-up).
func (s *Server) releaseRegistration(src source) {
	if s.regAddrs == nil {
		return
	}
	s.regAddrs.forgetOne(src.addr)
	s.regNets.forgetOne(src.prefix)
}
