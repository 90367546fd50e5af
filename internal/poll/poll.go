// Package poll is how a test waits for something to happen: it polls with a
// generous bound and fails with a clear message when the bound passes. The
// bound keeps a broken test from hanging; it is not a claim about how fast
// anything is. Tests never assert a wall-clock duration (docs/TESTING.md).
package poll

import (
	"testing"
	"time"
)

// Bound is how long Until and Receive wait. It is generous because the
// machines running the tests are shared and slow under -race; a test that
// needs it is broken, not slow.
const Bound = time.Minute

// interval is how often Until checks its condition.
const interval = 5 * time.Millisecond

// Until polls cond until it holds, failing t with what when Bound passes
// first ("timed out waiting until " + what).
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Bound, what, cond)
}

// Within is Until with its own bound, for a caller that has a reason to
// give up sooner or later.
func Within(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", bound, what)
			return
		}
		time.Sleep(interval)
	}
}

// UntilNil polls f until it returns nil, failing t with what and f's last
// error when Bound passes first: the error says what is still missing.
func UntilNil(t testing.TB, what string, f func() error) {
	t.Helper()
	var err error
	deadline := time.Now().Add(Bound)
	for err = f(); err != nil; err = f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s: %v", Bound, what, err)
			return
		}
		time.Sleep(interval)
	}
}

// Receive returns the next value from ch, failing t with what when Bound
// passes first or ch is closed.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed waiting for %s", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", Bound, what)
	}
	var zero T
	return zero
}

// ReceiveMatch takes values from ch until one satisfies match and returns
// it, failing t with what when Bound passes first (over all the values, not
// each) or ch is closed. It is how a test waits for an event on a stream
// that carries others too (a node's Watch, a daemon's notifications).
func ReceiveMatch[T any](t testing.TB, ch <-chan T, what string, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed waiting for %s", what)
				var zero T
				return zero
			}
			if match(v) {
				return v
			}
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s", Bound, what)
			var zero T
			return zero
		}
	}
}
