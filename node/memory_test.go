package node

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

// goHeap is what the Go runtime holds of its heap, in bytes: live is what
// the last collection found reachable (the next heap goal is set from it),
// free is memory freed but kept from the OS.
type goHeap struct{ live, free uint64 }

func readGoHeap() goHeap {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return goHeap{live: s[0].Value.Uint64(), free: s[1].Value.Uint64()}
}

// TestSignInReturnsStretchingMemory: signing in runs Argon2id over a 64 MiB
// block twice (opening the identity, the OPAQUE login). Once Login returns,
// neither block may still count as live (the heap goal, twice the live heap,
// would keep ~130 MB more) nor sit freed but kept from the OS, as they did
// for minutes in the desktop app (issue 21).
func TestSignInReturnsStretchingMemory(t *testing.T) {
	const block = 64 << 20
	alice := newTestNode(t, testServer(t), "alice")
	alice.register()
	alice.login() // creates the identity
	alice.stop()
	alice.open()
	runtime.GC()
	before := readGoHeap()
	alice.login() // the everyday sign-in: the identity opens, OPAQUE logs in
	after := readGoHeap()
	if grown := int64(after.live) - int64(before.live); grown >= block/2 {
		t.Errorf("after sign-in the live heap grew by %d MiB (the stretching's block counted live; before %d MiB)",
			grown>>20, before.live>>20)
	}
	if after.free >= block/2 {
		t.Errorf("after sign-in %d MiB of heap are freed but kept from the OS", after.free>>20)
	}
}
