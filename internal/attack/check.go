package attack

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/pipeline"
)

// Target is one protocol of a server under attack in a test.
type Target struct {
	Server   peer.AddrInfo
	Protocol protocol.ID
	MaxFrame int // the protocol's frame limit: what the attack claims
	// Budget is the service's request budget.
	Budget *pipeline.Budget
	// Legit makes one legitimate request, which must succeed while the
	// attack holds; it may fail t itself.
	Legit func(t *testing.T) error
	// Peers attacking (default 20) and streams of the partial-frame attack
	// (default: enough to claim four times the budget, at most 600).
	Peers, Streams int
}

// Check runs the partial-frame attack, the stalled-trickle attack and a
// burst of 2,000 streams on tg in turn, each from fresh peers on
// 127.0.0.1. For each it checks that the service's accounted request bytes
// never exceed its budget, that the attack reached the budget (so the check
// means something), that the legitimate request still succeeds while the
// attack holds, and that everything is given back once the attack ends.
// The partial-frame attack also checks the live heap: it must grow by no
// more than the budget and some slack, where reading each claimed frame
// up front would grow it by everything claimed. Check sets the budget's
// receive grace for each attack (long while partial frames must stay, short
// so the trickle is dropped at once) and restores the default.
func Check(t *testing.T, tg Target) {
	t.Helper()
	SkipUnderRace(t)
	defer tg.Budget.SetReceiveRate(0, 0)
	if tg.Peers == 0 {
		tg.Peers = 20
	}
	limit := tg.Budget.Stats().Limit
	if tg.Streams == 0 {
		tg.Streams = min(int(4*limit/int64(tg.MaxFrame))+1, 600)
	}
	t.Run("partial frames", func(t *testing.T) {
		tg.Budget.SetReceiveRate(0, time.Minute)
		a := start(t, tg)
		before := liveHeap()
		res := a.Partial(ctx(t), tg.Protocol, tg.Streams, 64, tg.MaxFrame, tg.MaxFrame-1)
		grown := settledHeap() - before
		st := tg.Budget.Stats()
		t.Logf("%d streams claiming %d bytes each (%d opened, %d written): %d bytes held, peak %d of %d, %d refused; live heap +%d",
			tg.Streams, tg.MaxFrame, res.Opened, res.Written, st.InUse, st.Peak, st.Limit, st.Refused, grown)
		within(t, tg, st)
		if claimed := int64(res.Opened) * int64(tg.MaxFrame); claimed > 2*st.Limit && st.Refused == 0 {
			t.Fatalf("%d bytes claimed and nothing refused", claimed)
		}
		// Slack for the attacking peers' own buffers and the server's
		// per-stream state; reading every claimed frame up front would
		// take four budgets.
		if slack := st.Limit/2 + 8<<20; grown > st.Limit+slack {
			t.Fatalf("the live heap grew by %d bytes under a budget of %d", grown, st.Limit)
		}
		legit(t, tg)
		a.Close()
		drained(t, tg)
	})
	t.Run("stalled trickle", func(t *testing.T) {
		tg.Budget.SetReceiveRate(0, 100*time.Millisecond)
		a := start(t, tg)
		tr := a.Trickle(ctx(t), tg.Protocol, 50, tg.MaxFrame, 10*time.Millisecond)
		legit(t, tg)
		eventually(t, "the server dropped every trickling stream", func() bool { return tr.Dropped() == tr.Opened() })
		within(t, tg, tg.Budget.Stats())
		a.Close()
		drained(t, tg)
	})
	t.Run("2000-stream burst", func(t *testing.T) {
		tg.Budget.SetReceiveRate(0, time.Minute)
		a := start(t, tg)
		res := a.Partial(ctx(t), tg.Protocol, 2000, 256, tg.MaxFrame, min(4<<10, tg.MaxFrame-1))
		st := tg.Budget.Stats()
		t.Logf("2000 streams (%d opened, %d written): %d bytes held, peak %d of %d, %d refused",
			res.Opened, res.Written, st.InUse, st.Peak, st.Limit, st.Refused)
		if res.Opened == 0 {
			t.Fatal("no stream of the burst was opened")
		}
		within(t, tg, st)
		legit(t, tg)
		a.Close()
		drained(t, tg)
	})
}

// SkipUnderRace skips an attack test in a race-detector build. The race
// detector slows the server several times over, so a burst measures the
// detector rather than the limits: streams queue where they would run,
// hiding a limit a burst takes in full, and the attack's CPU starves timing
// tests of other packages running beside it. `make unit` runs the attack
// tests on their own, without it.
func SkipUnderRace(t *testing.T) {
	t.Helper()
	if Race {
		t.Skip("an attack test: run without -race (make unit does)")
	}
}

func start(t *testing.T, tg Target) *Attacker {
	t.Helper()
	a, err := New(ctx(t), tg.Server, tg.Peers, "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func within(t *testing.T, tg Target, st pipeline.BudgetStats) {
	t.Helper()
	if st.Peak > st.Limit || st.InUse > st.Limit {
		t.Fatalf("accounted %d bytes now, %d at the peak: over the budget of %d", st.InUse, st.Peak, st.Limit)
	}
	if st.Peak == 0 {
		t.Fatal("the attack never reached the budget")
	}
}

func legit(t *testing.T, tg Target) {
	t.Helper()
	if err := tg.Legit(t); err != nil {
		t.Fatalf("a legitimate request during the attack: %v", err)
	}
}

// drained waits until the service holds nothing for the ended attack.
func drained(t *testing.T, tg Target) {
	t.Helper()
	eventually(t, "the budget given back after the attack", func() bool { return tg.Budget.Stats().InUse == 0 })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// settledHeap is the least live heap over a few samples: the attacking
// peers share the process, and the bytes they have written but the server
// not yet read sit in their connections' buffers for a moment.
func settledHeap() int64 {
	least := liveHeap()
	for range 5 {
		time.Sleep(50 * time.Millisecond)
		least = min(least, liveHeap())
	}
	return least
}

// liveHeap is the heap in use after a collection; the second one empties
// the buffer pools' victim caches.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// eventually waits for cond, failing after a generous bound; it asserts no
// duration, it only keeps a broken test from hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}
