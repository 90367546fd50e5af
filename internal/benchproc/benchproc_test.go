package benchproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testRole = "BENCHPROC_TEST_ROLE"

// TestMain lets the test binary stand in for a child: "server" prints an
// address first, "worker" is ready with "{}"; both double numbers.
func TestMain(m *testing.M) {
	switch role := os.Getenv(testRole); role {
	case "":
		os.Exit(m.Run())
	case "server", "worker":
		ready := ""
		if role == "server" {
			ready = "ADDR /ip4/127.0.0.1/tcp/1"
		}
		if err := Serve(os.Stdin, os.Stdout, ready, double); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown role", role)
		os.Exit(2)
	}
}

type doubled struct {
	N int `json:"n"`
}

func double(cmd, arg string) (any, error) {
	switch cmd {
	case "double":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return nil, fmt.Errorf("not a number: %q", arg)
		}
		return doubled{2 * n}, nil
	case "quit":
		return nil, ErrQuit
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

func TestServe(t *testing.T) {
	in := strings.NewReader("double 21\ndouble x\ngc\nnope\nquit\ndouble 1\n")
	var out bytes.Buffer
	if err := Serve(in, &out, "", double); err != nil {
		t.Fatal(err)
	}
	want := "{}\n" + `{"n":42}` + "\n" + `{"err":"not a number: \"x\""}` + "\n{}\n" +
		`{"err":"unknown command \"nope\""}` + "\n{}\n"
	if out.String() != want {
		t.Fatalf("Serve wrote\n%s\nwant\n%s", out.String(), want)
	}
}

func TestChildren(t *testing.T) {
	stderr := &SyncWriter{W: &bytes.Buffer{}}
	srv, err := Start(testRole, "server", os.Environ(), stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if srv.Addr != "/ip4/127.0.0.1/tcp/1" {
		t.Errorf("server address %q", srv.Addr)
	}
	var ws []*Child
	for range 3 {
		w, err := Start(testRole, "worker", os.Environ(), stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if w.Addr != "" {
			t.Errorf("worker address %q", w.Addr)
		}
		ws = append(ws, w)
	}
	var d doubled
	if err := srv.Do("double 4", &d); err != nil || d.N != 8 {
		t.Errorf("double 4: %v, %v", d, err)
	}
	if err := srv.Do("double four", &d); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("double four: %v, want the child's error", err)
	}
	got, err := All[doubled](ws, "double 5")
	if err != nil || len(got) != 3 || got[0].N != 10 || got[2].N != 10 {
		t.Errorf("All: %v, %v", got, err)
	}
	if _, err := All[doubled](ws, "bogus"); err == nil {
		t.Error("All of an unknown command: no error")
	}
	rss, err := ws[0].RSS()
	if err != nil || rss <= 0 {
		t.Errorf("RSS: %d, %v", rss, err)
	}
	if cpu, err := ws[0].CPU(); err != nil || cpu < 0 {
		t.Errorf("CPU: %v, %v", cpu, err)
	}
	if err := ws[1].Do("quit", nil); err != nil {
		t.Errorf("quit: %v", err)
	}
	if err := ws[1].Do("double 1", nil); err == nil {
		t.Error("a child that quit still answers")
	}
}

func TestCPUOf(t *testing.T) {
	before, err := CPUOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves; the bound only keeps a broken
	// reading from spinning forever.
	x := 0
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		for i := range 1_000_000 {
			x += i
		}
		after, err := CPUOf(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Fatalf("CPU time did not move (%d)", x)
}

func TestStartFails(t *testing.T) {
	if _, err := Start(testRole, "nobody", os.Environ(), &bytes.Buffer{}); err == nil {
		t.Fatal("a child that exits at once started")
	}
}

func TestParallel(t *testing.T) {
	var ran atomic.Int64
	seen := make([]atomic.Bool, 100)
	if err := Parallel(100, 7, func(i int) error {
		ran.Add(1)
		if seen[i].Swap(true) {
			return fmt.Errorf("%d twice", i)
		}
		return nil
	}); err != nil || ran.Load() != 100 {
		t.Fatalf("ran %d: %v", ran.Load(), err)
	}
	boom := errors.New("boom")
	if err := Parallel(10, 2, func(i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	lat, _, err := Measure(5, 2, func(int) error { return nil })
	if err != nil || len(lat) != 5 {
		t.Fatalf("Measure: %d latencies, %v", len(lat), err)
	}
}

func TestPct(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // reversed: Pct sorts
	}
	for _, c := range []struct {
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 100, 100 * time.Millisecond},
		{hundred, 0.1, time.Millisecond},
	} {
		if got := Pct(c.ds, c.p); got != c.want {
			t.Errorf("Pct(%d values, %v) = %v, want %v", len(c.ds), c.p, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Dur(1500 * time.Microsecond), "1.50 ms"},
		{Dur(2500 * time.Nanosecond), "2.5 µs"},
		{Dur(12), "12 ns"},
		{KiB(2048), "2.0 KiB"},
		{Ratio(3*time.Millisecond, 2*time.Millisecond), "1.5x"},
		{fmt.Sprint(MiB(3 << 20)), "3"},
		{fmt.Sprint(Durs(Nanos([]time.Duration{time.Second}))), "[1s]"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestBenchLines(t *testing.T) {
	out := "table\nBenchmarkRoomFanoutP50\t10\t5 ns/op\t3 members\nBenchmarkOther\t1\t2 ns/op\nBenchmarkRoomX\n"
	got := BenchLines(out, "BenchmarkRoom")
	if len(got) != 1 || strings.Join(got["FanoutP50"], " ") != "10 5 ns/op 3 members" {
		t.Fatalf("BenchLines: %q", got)
	}
}

func TestAuthEnv(t *testing.T) {
	a, err := NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	env, err := a.Env("BENCHPROC_TEST_KEY")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := strings.CutPrefix(env[len(env)-1], "BENCHPROC_TEST_KEY=")
	if !ok {
		t.Fatalf("env ends with %q", env[len(env)-1])
	}
	t.Setenv("BENCHPROC_TEST_KEY", v)
	b, err := AuthFromEnv("BENCHPROC_TEST_KEY")
	if err != nil || b.ID != a.ID || !b.Key.Equals(a.Key) {
		t.Fatalf("AuthFromEnv: %v, %v", b.ID, err)
	}
	t.Setenv("BENCHPROC_TEST_KEY", "zz")
	if _, err := AuthFromEnv("BENCHPROC_TEST_KEY"); err == nil {
		t.Fatal("a bad key read")
	}
}

// FuzzServe feeds Serve any input: it answers every command line with
// exactly one JSON line, and a Child reading those lines decodes each.
func FuzzServe(f *testing.F) {
	f.Add("double 21\ngc\nnope\n")
	f.Add("double \x00\n\n\nquit\ndouble 1\n")
	f.Add(`{"err":"x"}` + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		if err := Serve(strings.NewReader(in), &out, "", double); err != nil {
			return // a line longer than the scanner takes
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		c := &Child{Role: "fuzz"}
		for _, l := range lines {
			// A command's failure is an error; a line that is not a
			// reply at all is a broken Serve.
			if err := c.decode(l, &doubled{}); err != nil && strings.HasPrefix(err.Error(), "fuzz: bad reply") {
				t.Fatalf("Serve wrote a line that is not a reply: %q: %v", l, err)
			}
		}
		want := 1 + strings.Count(in, "\n") // the ready line, then one per command
		if !strings.HasSuffix(in, "\n") && in != "" {
			want++
		}
		if strings.Contains("\n"+in, "\nquit") {
			want = len(lines) // a quit may end it early
		}
		if len(lines) != want {
			t.Fatalf("%d reply lines for input %q, want %d", len(lines), in, want)
		}
	})
}
