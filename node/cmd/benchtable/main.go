// Command benchtable reads `go test -bench` output on stdin and prints the
// table `make bench` shows: each measured operation beside its baseline from
// the same run, as a ratio, so results compare across machines.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// pairs names each benchmark and the baseline it is judged against.
var pairs = []struct{ what, bench, baseline string }{
	{"chat round trip vs raw libp2p stream echo", "BenchmarkChatRoundTrip", "BenchmarkRawStreamEcho"},
	{"E2E v1 seal+open vs bare XChaCha20-Poly1305", "BenchmarkSealOpen", "BenchmarkBareXChaCha20Poly1305"},
}

// rates are benchmarks also shown as operations per second.
var rates = []struct{ what, bench string }{
	{"logins per second (OPAQUE + ticket, real host)", "BenchmarkLogin"},
}

func main() {
	ns := map[string]float64{}
	sc := bufio.NewScanner(os.Stdin)
	pending := "" // a benchmark name whose result a log line pushed to the next line
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") && (len(f) < 4 || f[3] != "ns/op") {
			pending = f[0]
			continue
		}
		if len(f) >= 3 && pending != "" && f[2] == "ns/op" {
			f = append([]string{pending}, f...)
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		pending = ""
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // drop the -GOMAXPROCS suffix
		}
		if v, err := strconv.ParseFloat(f[2], 64); err == nil {
			ns[name] = v
		}
	}
	fmt.Println()
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "op", "baseline", "ratio")
	for _, p := range pairs {
		a, okA := ns[p.bench]
		b, okB := ns[p.baseline]
		if !okA || !okB {
			fmt.Printf("%-48s %14s\n", p.what, "(not run)")
			continue
		}
		fmt.Printf("%-48s %14s %14s %9.1fx\n", p.what, dur(a), dur(b), a/b)
	}
	for _, r := range rates {
		if v, ok := ns[r.bench]; ok {
			fmt.Printf("%-48s %14.1f/s\n", r.what, 1e9/v)
		}
	}
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}
