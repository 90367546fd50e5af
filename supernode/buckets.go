package supernode

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds a buckets map between sweeps; past it, idle buckets
// (full, so indistinguishable from new ones) are dropped.
const maxLimiters = 1 << 16

// buckets is a token bucket per account: the request rate limit every
// supernode service applies to ticket holders, so that one account cannot
// starve the others. Keys are usernames (an account's devices share one
// bucket), never peer IDs, which cost nothing to make.
type buckets struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newBuckets(r rate.Limit, burst int) *buckets {
	return &buckets{rate: r, burst: burst, m: make(map[string]*rate.Limiter)}
}

// allow takes one token from key's bucket at now.
func (b *buckets) allow(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limiterLocked(key, now).AllowN(now, 1)
}

// limiterLocked returns key's bucket, making a full one if key has none.
func (b *buckets) limiterLocked(key string, now time.Time) *rate.Limiter {
	l, ok := b.m[key]
	if !ok {
		if len(b.m) >= maxLimiters {
			b.sweepLocked(now)
		}
		l = rate.NewLimiter(b.rate, b.burst)
		b.m[key] = l
	}
	return l
}

// take takes n tokens from key's bucket at now if it holds them, and returns
// a function that puts them back (for a request refused later on), or
// false: the bucket holds fewer than n tokens, or n exceeds the burst.
func (b *buckets) take(key string, now time.Time, n int) (undo func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.limiterLocked(key, now)
	r := l.ReserveN(now, n)
	if !r.OK() {
		return nil, false
	}
	if r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		return nil, false
	}
	return func() { r.CancelAt(now) }, true
}

// sweep forgets the buckets that are full again: a new one would behave the
// same.
func (b *buckets) sweep(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now)
}

func (b *buckets) sweepLocked(now time.Time) {
	for k, l := range b.m {
		if l.TokensAt(now) >= float64(b.burst) {
			delete(b.m, k)
		}
	}
}

// len is the number of buckets kept.
func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
