package promotion

import "time"

// Clock is the time the manager's hysteresis runs on: Settle, Sustain,
// RetryInterval, MemoryInterval and RoleEvent.Time. The zero Config uses
// the real clock; tests pass a fake one (promotiontest.Clock) and advance it
// instead of sleeping. StopTimeout is a context deadline and stays on the
// real clock: it bounds a real hand-over.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a timer that fires every d, dropping ticks a slow
	// reader misses (as time.Ticker does).
	NewTicker(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer or ticker.
type Timer interface {
	C() <-chan time.Time
	// Stop stops it; after Stop, C delivers nothing more.
	Stop()
}

// realClock is the Clock a zero Config.Clock means.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) NewTicker(d time.Duration) Timer { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop()               { t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }
