package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"eserver/internal/benchproc"
)

// TestMain lets the test binary stand in for the program when run() re-executes
// itself as the supernode, the bare host or a worker.
func TestMain(m *testing.M) {
	benchproc.AsChild(envRole, "snbench", child)
	os.Exit(m.Run())
}

// TestRunSmall runs the whole benchmark with 20 nodes and checks that every
// figure comes out as a benchmark line. No time is asserted.
func TestRunSmall(t *testing.T) {
	var out, log bytes.Buffer
	args := []string{"-n", "20", "-lookups", "20", "-mail", "40", "-msgs", "20", "-transfer-mib", "1"}
	if err := run(context.Background(), args, &out, &log); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, log.String())
	}
	got := benchproc.BenchLines(out.String(), "BenchmarkSN")
	for _, name := range []string{
		"RSSPerNode", "BareRSSPerNode", "PublishAll", "PingP50", "PingP99", "LookupP50", "LookupP99",
		"MailPut", "MailPutP50", "MailFetchAckP99", "RelayMsgP50", "DirectMsgP50", "RelayTransfer", "DirectTransfer",
	} {
		f, ok := got[name]
		if !ok {
			t.Errorf("no BenchmarkSN%s line in:\n%s", name, out.String())
			continue
		}
		if len(f) < 5 || f[2] != "ns/op" || f[3] != "20" || f[4] != "nodes" {
			t.Errorf("BenchmarkSN%s: fields %q", name, f)
		}
		if _, err := strconv.ParseFloat(f[1], 64); err != nil {
			t.Errorf("BenchmarkSN%s: value %q: %v", name, f[1], err)
		}
	}
	if !strings.Contains(log.String(), "lookups: ") {
		t.Errorf("no lookup summary on stderr (%d bytes):\n%s", log.Len(), log.String())
	}
}

func TestContactsSymmetric(t *testing.T) {
	for _, n := range []int{2, 3, 20, 101} {
		k := min(50, n-1)
		for i := range n {
			cs := contacts(i, n, k)
			seen := map[int]bool{}
			for _, c := range cs {
				if c == i || seen[c] {
					t.Fatalf("n=%d: contacts(%d) = %v: self or duplicate", n, i, cs)
				}
				seen[c] = true
				back := false
				for _, d := range contacts(c, n, k) {
					back = back || d == i
				}
				if !back {
					t.Fatalf("n=%d: %d lists %d but not the other way", n, i, c)
				}
			}
		}
	}
}
