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

// TestMain lets the test binary stand in for the program when run()
// re-executes itself as a home or a worker.
func TestMain(m *testing.M) {
	benchproc.AsChild(envRole, "roombench", child)
	os.Exit(m.Run())
}

// TestRunSmall runs the whole benchmark with 30 members for a second, at
// a room's three homes and at one, and checks that every message reached
// every member once and that every figure comes out as a benchmark line.
// No time is asserted.
func TestRunSmall(t *testing.T) {
	for _, homes := range []string{"3", "1"} {
		t.Run("homes="+homes, func(t *testing.T) { runSmall(t, homes) })
	}
}

func runSmall(t *testing.T, homes string) {
	var out, log bytes.Buffer
	args := []string{"-n", "30", "-homes", homes, "-rate", "20", "-duration", "1s", "-joins", "4", "-ping-rate", "10", "-setup-conc", "8"}
	if err := run(context.Background(), args, &out, &log); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, log.String())
	}
	got := benchproc.BenchLines(out.String(), "BenchmarkRoom")
	for _, name := range []string{"FanoutP50", "FanoutP99", "PingP50", "PingP99", "SendP50", "SendP99", "JoinP50", "JoinP99", "Sustained", "TargetRate"} {
		f, ok := got[name]
		if !ok {
			t.Errorf("no BenchmarkRoom%s line in:\n%s", name, out.String())
			continue
		}
		if len(f) < 4 || f[2] != "ns/op" || f[3] != "30" || f[4] != "members" {
			t.Errorf("BenchmarkRoom%s: fields %q", name, f)
		}
		if v, err := strconv.ParseFloat(f[1], 64); err != nil || v <= 0 {
			t.Errorf("BenchmarkRoom%s: value %q: %v", name, f[1], err)
		}
	}
	// 20 messages, each to all 30 members; 4 joins.
	if f := got["Sustained"]; len(f) < 12 || f[7] != "20" || f[9] != "600" || f[11] != "600" {
		t.Errorf("not every message reached every member: %q\n%s", f, out.String())
	}
	if f := got["JoinP50"]; f[0] != "4" {
		t.Errorf("%s joins measured, want 4", f[0])
	}
	for _, want := range []string{"each to every member: 20 of 20", "streams ended early: none", "verifying member: 0", "received twice: 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-n", "1"}, false},
		{[]string{"-homes", "4"}, false},
		{[]string{"-homes", "0"}, false},
		{[]string{"-n", "3", "-workers", "4"}, false},
		{[]string{"-rate", "0"}, false},
		{[]string{"-joins", "0"}, false},
		{[]string{"-addrs", "251"}, false},
		{[]string{"extra"}, false},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if (err == nil) != c.ok {
			t.Errorf("parseFlags(%q): %v", c.args, err)
		}
	}
}
