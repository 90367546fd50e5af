package rooms

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"eserver/node/room"
	"eserver/supernode/internal/sntest"
)

// TestCrashKeepsAppended re-runs this test binary as a child that appends
// ops to a room and prints each position once Append has returned; the
// parent kills it with SIGKILL mid-run, reopens the store and checks that
// every printed op survived and the chain still replays.
func TestCrashKeepsAppended(t *testing.T) {
	if env := os.Getenv("ESERVER_ROOMS_CRASH_CHILD"); env != "" {
		crashChild(t, env)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	key := sntest.Key(t)
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAppended$")
	cmd.Env = append(os.Environ(), "ESERVER_ROOMS_CRASH_CHILD="+dir+"|"+hex.EncodeToString(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 60
	var acked uint64
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		s, ok := strings.CutPrefix(sc.Text(), "APPENDED ")
		if !ok {
			continue
		}
		if acked, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
		if acked == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before being killed (%d ops): %v", acked, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}

	w := newWorldWith(t, key)
	w.clock.now = t0.Add(time.Hour) // after every op the child signed
	s := w.open(dir, Limits{}, 0)
	defer s.Close()
	st, err := s.State(context.Background(), "lounge")
	if err != nil {
		t.Fatalf("replaying after the crash: %v", err)
	}
	if st.Seq < acked {
		t.Fatalf("room at %d after the crash, but op %d was acknowledged", st.Seq, acked)
	}
	if n := countOps(t, s); uint64(n) != st.Seq {
		t.Fatalf("%d ops stored, head at %d", n, st.Seq)
	}
	// The store goes on from the head it found.
	must(t, s, w.op(st, "olivia", topic("after the crash")))
	t.Logf("%d ops acknowledged before SIGKILL, %d stored", acked, st.Seq)
}

// crashChild appends ops until it is killed, printing each position once
// it is stored.
func crashChild(t *testing.T, env string) {
	dir, keyHex, _ := strings.Cut(env, "|")
	raw, err := hex.DecodeString(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, key)
	s := w.open(dir, Limits{}, 0)
	st := must(t, s, w.create("lounge", "olivia"))
	for i := 0; i < 1000; i++ {
		fmt.Printf("APPENDED %d\n", st.Seq)
		st, err = s.Append(context.Background(), w.op(st, "olivia", topic(fmt.Sprintf("topic %d", i))), room.Checks{})
		if err != nil {
			t.Fatal(err)
		}
	}
}
