package task

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCloseWaitsForEveryGoroutine(t *testing.T) {
	g := New(context.Background())
	var finished atomic.Int32
	started := make(chan struct{}, 10)
	for range 10 {
		if !g.Go(func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			finished.Add(1)
		}) {
			t.Fatal("Go refused on an open group")
		}
	}
	for range 10 {
		<-started
	}
	g.Close()
	if n := finished.Load(); n != 10 {
		t.Fatalf("Close returned with %d of 10 goroutines finished", n)
	}
}

func TestNothingStartsAfterClose(t *testing.T) {
	g := New(context.Background())
	g.Close()
	if g.Go(func(context.Context) { t.Error("ran after Close") }) {
		t.Fatal("Go accepted work after Close")
	}
	if g.Enter() {
		t.Fatal("Enter admitted work after Close")
	}
	if g.Context().Err() == nil {
		t.Fatal("context not cancelled by Close")
	}
	g.Close() // twice is fine
}

// TestEnterRacesClose runs admissions concurrently with Close: under -race
// this is the test that a check-then-Add without the lock would fail; and
// whatever was admitted must have exited when Close returns.
func TestEnterRacesClose(t *testing.T) {
	for range 50 {
		g := New(context.Background())
		var inside atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if !g.Enter() {
						return
					}
					inside.Add(1)
					inside.Add(-1)
					g.Exit()
				}
			}()
		}
		g.Close()
		if n := inside.Load(); n != 0 {
			t.Fatalf("%d units still inside after Close", n)
		}
		wg.Wait()
	}
}
