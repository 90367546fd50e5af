package xvfb

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestStopLeavesNoLock: a display stopped frees its number (the lock file
// and socket go), and a lock whose server is gone does not hold one.
func TestStopLeavesNoLock(t *testing.T) {
	if _, err := exec.LookPath("Xvfb"); err != nil {
		t.Skip("Xvfb is not installed")
	}
	d, err := Start(400)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscanf(d.Name, ":%d", &n)
	lock := fmt.Sprintf("/tmp/.X%d-lock", n)
	if !exists(lock) {
		t.Fatalf("no lock file %s while running", lock)
	}
	d.Stop()
	if exists(lock) || exists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) {
		t.Fatalf("display %s left its lock or socket", d.Name)
	}

	// A lock left by a server that is gone (a PID no process has).
	if err := os.WriteFile(lock, []byte(fmt.Sprintf("%10d\n", 1<<22+12345)), 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(lock) })
	if !stale(lock) {
		t.Fatal("a dead server's lock is not stale")
	}
	d, err = Start(n)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if d.Name != fmt.Sprintf(":%d", n) {
		t.Fatalf("started on %s, not on the stale lock's :%d", d.Name, n)
	}
}
