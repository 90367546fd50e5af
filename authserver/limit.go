package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/wire"
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

// limiter is one rate limit: events per key (login failures per account,
// device or address; registrations per address or network; lookups and
// device lists per account) in a sliding window. Once a key has max
// events inside the window it is refused until the oldest of them ages
// out: every further failure pushes the refusal out again, which is the
// back-off. The events are counted in the store, under the limiter's
// bucket, so replicas sharing a database share every limit: an attacker
// gains nothing by spreading guesses over them, nor by restarting one.
type limiter struct {
	bucket string
	max    int
	window time.Duration
}

// Buckets: the names limits keep their events under in the store. They
// are stored: renaming one forgets its counts.
const (
	bucketAccount    = "login-account"
	bucketAddress    = "login-address"
	bucketDevice     = "login-device"
	bucketRegAddress = "register-address"
	bucketRegNetwork = "register-network"
	bucketRegStarts  = "register-starts"
	bucketLookups    = "lookups"
	bucketPublishes  = "publishes"
)

func newLimiter(bucket string, max int, window time.Duration) *limiter {
	return &limiter{bucket: bucket, max: max, window: window}
}

// key is l's counter for k.
func (l *limiter) key(k string) limitKey {
	return limitKey{bucket: l.bucket, key: k, max: l.max, window: l.window}
}

// errLimitStore is what a limit check that could not reach the store
// returns: the request is refused (fail closed) rather than let through
// unlimited.
var errLimitStore = errors.New("rate limits unavailable")

// admit counts an attempt at now against every key in keys, all or none,
// and reports whether it may go ahead: when one key is at its limit,
// nothing is counted and full is that key. Counting up front matters: an
// OPAQUE client learns whether its password guess was right from KE2
// alone, so a guess that never sends KE3 must still count; and check and
// count are one step, so parallel attempts — at this replica or any other
// — cannot slip past the limit. When the store fails admit logs it and
// returns errLimitStore: the caller refuses the request.
func (s *Server) admit(ctx context.Context, now time.Time, keys ...limitKey) (full *limitKey, err error) {
	full, err = s.store.attempt(ctx, now, keys...)
	if err != nil {
		if !s.store.lostDB(err) { // an outage is said once (markDBDown)
			s.log.Error("request refused: the rate limits cannot be checked", "limit", keys[0].bucket, "err", err)
		}
		return nil, fmt.Errorf("%w: %w", errLimitStore, err)
	}
	return full, nil
}

// release gives back the newest attempt of each key: an attempt counted
// up front turned out not to be one that counts (a login that succeeded, a
// registration that created nothing). A success gives back only itself,
// never the key's other failures: otherwise an attacker whose guesses
// interleave with the owner's logins would get a fresh allowance after
// each of them. It runs even when the request's context is done (the
// client hung up), with limitReleaseTimeout; a failure is logged and
// leaves the attempt counted, which errs on the side of the limit.
func (s *Server) release(ctx context.Context, keys ...limitKey) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limitReleaseTimeout)
	defer cancel()
	if err := s.store.forget(ctx, keys...); err != nil {
		s.log.Error("rate limit: an attempt that did not count stays counted", "limit", keys[0].bucket, "err", err)
	}
}

// limitsFailed answers a request refused because its limits could not be
// checked (admit's error): unreachable when the database is out of reach,
// else internal.
func (s *Server) limitsFailed(err error) *wire.AuthResponse {
	if s.store.lostDB(err) {
		s.markDBDown(err)
		return refusal(CodeUnreachable, dbUnreachable)
	}
	return refusal(CodeInternal, "the server cannot check its rate limits right now, try again in a moment")
}

// admitRegistration reports whether src may create another account at now
// and, if so, counts it against its address and its network until
// releaseRegistration gives it back. Always true when the throttle is off.
// err is errLimitStore when the store could not say.
func (s *Server) admitRegistration(ctx context.Context, src source, now time.Time) (bool, error) {
	if s.regAddrs == nil {
		return true, nil
	}
	full, err := s.admit(ctx, now, s.regAddrs.key(src.addr), s.regNets.key(src.prefix))
	return full == nil && err == nil, err
}

// releaseRegistration gives back a registration admitted for src that did
// not create an account (a taken name, a malformed record, a hang-up).
func (s *Server) releaseRegistration(ctx context.Context, src source) {
	if s.regAddrs == nil {
		return
	}
	s.release(ctx, s.regAddrs.key(src.addr), s.regNets.key(src.prefix))
}

// sweep drops, every sweepInterval until ctx is done, the rate limits'
// attempts that no longer count and the registry's supernodes no longer
// live: nothing reads them any more, they only take space. Every replica
// sweeps; a sweep racing another deletes nothing twice.
func (s *Server) sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		if err := s.store.pruneAttempts(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping rate limits", "err", err)
		}
		if err := s.store.sweepSupernodes(ctx, now.Add(-wire.SupernodeTTL)); err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping the registry", "err", err)
		}
	}
}
