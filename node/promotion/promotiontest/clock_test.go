package promotiontest

import (
	"testing"
	"time"
)

func TestAdvanceFiresDueTimersOnly(t *testing.T) {
	c := NewClock()
	a, b := c.NewTimer(time.Second), c.NewTimer(3*time.Second)
	tick := c.NewTicker(time.Second)
	if got := c.Timers(); len(got) != 2 || !got[0].Equal(Epoch.Add(time.Second)) || !c.Armed(3*time.Second) {
		t.Fatalf("Timers = %v", got)
	}
	if n := c.Advance(2 * time.Second); n != 1 {
		t.Fatalf("Advance fired %d timers, want 1", n)
	}
	if at := <-a.C(); !at.Equal(Epoch.Add(time.Second)) {
		t.Errorf("timer fired with %v", at)
	}
	// Two ticks fell due; the unread second one was dropped.
	if at := <-tick.C(); !at.Equal(Epoch.Add(time.Second)) {
		t.Errorf("first tick %v", at)
	}
	select {
	case at := <-tick.C():
		t.Errorf("second tick %v not dropped", at)
	default:
	}
	b.Stop()
	if n := c.Advance(time.Hour); n != 0 {
		t.Errorf("stopped timer fired")
	}
	if !c.Now().Equal(Epoch.Add(time.Hour + 2*time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	tick.Stop()
	select {
	case <-tick.C():
		t.Error("tick received after Stop")
	default:
	}
}
