package authserver

import (
	"sync"
	"time"
)

// limiter counts login failures per key (an account name or an address) in a
// sliding window. Once a key has max failures inside the window it is
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
