package memstat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestSnapshotOnSignal: with the variable set, SIGUSR1 writes the figures
// and the heap profile, and the figures add up.
func TestSnapshotOnSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mem.json")
	t.Setenv(Env, path)
	stop := Install()
	defer stop()
	keep := make([]byte, 8<<20) // something live to see
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var b []byte
	var err error
	for range 200 {
		if b, err = os.ReadFile(path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.HeapObjects < uint64(len(keep)) || s.Mapped < s.HeapObjects+s.Stacks || s.HeapGoal == 0 {
		t.Errorf("snapshot does not add up: %+v", s)
	}
	if fi, err := os.Stat(path + ".pprof"); err != nil || fi.Size() == 0 {
		t.Errorf("no heap profile beside it: %v", err)
	}
	runtime.KeepAlive(keep)
}
