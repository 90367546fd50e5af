package poll

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestUntilReturnsWhenCondHolds(t *testing.T) {
	var n atomic.Int32
	Until(t, "the third call", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3", n.Load())
	}
}

func TestUntilNil(t *testing.T) {
	var n atomic.Int32
	UntilNil(t, "the second call", func() error {
		if n.Add(1) < 2 {
			return errTest
		}
		return nil
	})
}

var errTest = errors.New("not yet")

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, ch, "seven"); got != 7 {
		t.Errorf("Receive = %d, want 7", got)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping the
// test, so the failure paths can be checked.
type recorder struct {
	testing.TB
	failed atomic.Bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(true)
	r.TB.Logf("(expected) "+format, args...)
}

func TestWithinFailsWhenBoundPasses(t *testing.T) {
	r := &recorder{TB: t}
	Within(r, 0, "never", func() bool { return false })
	if !r.failed.Load() {
		t.Error("Within returned without failing for a condition that never holds")
	}
}

func TestReceiveFailsOnClose(t *testing.T) {
	r := &recorder{TB: t}
	ch := make(chan int)
	close(ch)
	Receive(r, ch, "a value")
	if !r.failed.Load() {
		t.Error("Receive did not fail on a closed channel")
	}
}

func TestReceiveMatchSkipsOthers(t *testing.T) {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 4
	ch <- 6
	if got := ReceiveMatch(t, ch, "an even number", func(v int) bool { return v%2 == 0 }); got != 4 {
		t.Errorf("ReceiveMatch = %d, want 4", got)
	}
	if got := Receive(t, ch, "six"); got != 6 {
		t.Errorf("the next value = %d, want 6: ReceiveMatch took more than it returned", got)
	}
}

func TestReceiveMatchFailsOnClose(t *testing.T) {
	r := &recorder{TB: t}
	ch := make(chan int, 1)
	ch <- 1
	close(ch)
	ReceiveMatch(r, ch, "a two", func(v int) bool { return v == 2 })
	if !r.failed.Load() {
		t.Error("ReceiveMatch did not fail on a closed channel")
	}
}
