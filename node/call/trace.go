package call

import (
	"sync/atomic"
	"time"
)

// Trace observes a call's audio frame by frame, for the benchmarks that
// measure what EServer adds between a capture and its playout, and for
// the tests that look for a call's secret where it must not be. Every
// field may be nil; a Calls without a Trace (the default) pays one nil
// check per frame. The functions run on the call's audio loops: they must
// return at once.
type Trace struct {
	// Captured: the source handed over frame seq at at (before it is
	// encoded). A file source hands a frame over at the end of its 20 ms,
	// as a microphone does.
	Captured func(seq uint32, at time.Time)
	// Sent: n bytes of a frame (its length prefix and sealed frame) were
	// written to the call's stream.
	Sent func(n int)
	// Played: the slot of the other side's frame seq was decoded (Play),
	// rebuilt from the next frame (Recover) or concealed (Conceal), and
	// written to the sink at at.
	Played func(seq uint32, slot Slot, at time.Time)
	// Keyed: the call id's audio is about to run under secret (the
	// caller's random secret the keys derive from).
	Keyed func(id string, secret []byte)
}

// SetTrace makes t observe the calls whose audio starts from now on; nil
// stops it.
func (c *Calls) SetTrace(t *Trace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trace = t
}

// defaultTrace is the Trace of every Calls New makes after
// SetDefaultTrace: a benchmark's daemons, a process each, trace their
// calls with no handle on their node.
var defaultTrace atomic.Pointer[Trace]

// SetDefaultTrace makes t the Trace of the Calls New makes from now on
// (nil: none).
func SetDefaultTrace(t *Trace) { defaultTrace.Store(t) }
