// Package promotiontest has what a test of the promotion manager needs that
// the manager does not: a Clock that moves only when the test moves it.
package promotiontest

import (
	"slices"
	"sync"
	"time"

	"eserver/node/promotion"
)

// Epoch is where a Clock made by NewClock starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a promotion.Clock whose time stands still until Advance. A test
// waits (bounded) until the manager has armed the timer it expects —
// Timers lists them — then advances exactly to its deadline, so "not before
// Settle" is checked by the clock's arithmetic, not by a stopwatch.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer // pending timers and tickers
}

// NewClock returns a Clock at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

type timer struct {
	c      *Clock
	ch     chan time.Time
	when   time.Time
	period time.Duration // zero for a one-shot timer
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *timer) bool { return x == t })
	// As with time.Timer since Go 1.23: nothing is received after Stop.
	select {
	case <-t.ch:
	default:
	}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires once when the clock reaches d from now.
func (c *Clock) NewTimer(d time.Duration) promotion.Timer { return c.add(d, 0) }

// NewTicker returns a ticker that fires every d of the clock's time.
func (c *Clock) NewTicker(d time.Duration) promotion.Timer {
	if d <= 0 {
		panic("promotiontest: non-positive ticker period")
	}
	return c.add(d, d)
}

func (c *Clock) add(d, period time.Duration) *timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, ch: make(chan time.Time, 1), when: c.now.Add(d), period: period}
	c.timers = append(c.timers, t)
	return t
}

// Timers returns the deadlines of the pending one-shot timers (not the
// tickers), earliest first.
func (c *Clock) Timers() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		if t.period == 0 {
			out = append(out, t.when)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// Armed reports whether a one-shot timer is pending that fires d from now.
func (c *Clock) Armed(d time.Duration) bool {
	return slices.Contains(c.Timers(), c.Now().Add(d))
}

// Advance moves the clock d forward, firing every timer and tick that falls
// due, earliest first, and returns how many one-shot timers fired. A fired
// timer's channel holds one value, as a real one's does; a tick the reader
// has not taken yet is dropped, as time.Ticker drops it. What the manager
// does about a timer happens on its own goroutine, after Advance returns.
func (c *Clock) Advance(d time.Duration) (fired int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	for {
		var next *timer
		for _, t := range c.timers {
			if !t.when.After(end) && (next == nil || t.when.Before(next.when)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		c.now = next.when
		select {
		case next.ch <- next.when:
		default:
		}
		if next.period > 0 {
			next.when = next.when.Add(next.period)
			continue
		}
		fired++
		c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool { return x == next })
	}
	c.now = end
	return fired
}
