package authserver

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/wire"
	"eserver/pipeline"
)

// startLimited runs a server on db (a fresh SQLite file when empty) with
// the given rate limits on 127.0.0.1.
func startLimited(t *testing.T, db string, clk *clock, maxFailures, maxAddrFailures int) *fixture {
	t.Helper()
	if db == "" {
		db = filepath.Join(t.TempDir(), "auth.db")
	}
	key, err := LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{DBPath: db, Key: key, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		MaxFailures: maxFailures, MaxAddrFailures: maxAddrFailures})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	srv.Attach(h)
	f := &fixture{db: db, clk: clk, h: h, srv: srv, info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}}
	t.Cleanup(f.stop)
	return f
}

// guess makes one wrong-password login attempt as user from c without the
// client's password hashing: a KE1 for a guess, then a forged KE3. It
// returns the server's first answer when that is not a KE2 (a refusal),
// else the answer to the KE3. Safe for concurrent use (no t.Fatal).
func guess(c host.Host, f *fixture, user string) (*wire.AuthResponse, error) {
	pc, err := pake.NewClient(user)
	if err != nil {
		return nil, err
	}
	ke1, err := pc.LoginStart([]byte("guess"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx, f.info); err != nil {
		return nil, err
	}
	st, err := c.NewStream(ctx, f.info.ID, wire.ProtoAuth)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: user, Ke1: ke1}}}); err != nil {
		return nil, err
	}
	var r wire.AuthResponse
	if err := wire.ReadMsg(st, wire.MaxAuthFrame, &r); err != nil {
		return nil, err
	}
	if _, ok := r.Kind.(*wire.AuthResponse_Ke2); !ok {
		return &r, nil
	}
	if err := wire.WriteMsg(st, &wire.LoginFinish{Ke3: make([]byte, 64)}); err != nil {
		return nil, err
	}
	r.Reset()
	if err := wire.ReadMsg(st, wire.MaxAuthFrame, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TestBruteForceEdge: within the window, the attempts up to the limit are
// tried (each costs the server a KE2 and fails), and the next is refused
// without any OPAQUE work, per account and per address, for real and
// unknown users alike, with answers that cannot tell the two apart.
func TestBruteForceEdge(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { testBruteForceEdge(t, e.fresh) })
	}
}

func testBruteForceEdge(t *testing.T, fresh func(testing.TB) string) {
	const maxAcct, maxAddr = 5, 3
	tests := []struct {
		name  string
		limit int
		real  bool
		user  func(i int) string // the name of the i-th attempt
	}{
		{"per account, real user", maxAcct, true, func(int) string { return "alice" }},
		{"per account, unknown user", maxAcct, false, func(int) string { return "ghost" }},
		{"per address, real users", maxAddr, true, func(i int) string { return fmt.Sprintf("user%d", i) }},
		{"per address, unknown users", maxAddr, false, func(i int) string { return fmt.Sprintf("ghost%d", i) }},
	}
	refusals := map[bool][]*wire.AuthResponse{} // real → the refusals seen
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrLimit := 100 // out of the way of the account limit
			if tt.limit == maxAddr {
				addrLimit = maxAddr
			}
			f := startLimited(t, fresh(t), &clock{t: time.Now()}, maxAcct, addrLimit)
			c := newClient(t)
			if tt.real {
				for i := range tt.limit + 1 {
					if got := register(t, c, f, tt.user(i), "right"); got != "" && got != CodeUsernameTaken {
						t.Fatal(got)
					}
				}
			}
			for i := range tt.limit {
				before := f.srv.stats.ke2.Load()
				r, err := guess(c, f, tt.user(i))
				if err != nil {
					t.Fatal(err)
				}
				if got := errCode(r); got != CodeLoginFailed {
					t.Fatalf("attempt %d: %q, want %q", i+1, got, CodeLoginFailed)
				}
				if f.srv.stats.ke2.Load() != before+1 {
					t.Fatalf("attempt %d was not tried", i+1)
				}
			}
			before := f.srv.stats.ke2.Load()
			r, err := guess(c, f, tt.user(tt.limit))
			if err != nil {
				t.Fatal(err)
			}
			if got := errCode(r); got != CodeRateLimited {
				t.Fatalf("attempt %d: %q, want %q", tt.limit+1, got, CodeRateLimited)
			}
			if f.srv.stats.ke2.Load() != before {
				t.Fatalf("attempt %d over the limit computed a KE2", tt.limit+1)
			}
			if got := f.srv.Stats().LoginsRateLimited; got != 1 {
				t.Fatalf("%d rate-limited logins counted, want 1", got)
			}
			refusals[tt.real] = append(refusals[tt.real], r)
		})
	}
	// Real and unknown users get byte-for-byte the same refusal.
	if len(refusals[true]) != 2 || len(refusals[false]) != 2 {
		t.Fatalf("refusals %v", refusals)
	}
	for i := range refusals[true] {
		if !proto.Equal(refusals[true][i], refusals[false][i]) {
			t.Fatalf("refusals differ: real %v, unknown %v", refusals[true][i], refusals[false][i])
		}
	}
}

// TestBruteForceParallel: many guesses at once cannot slip past the limit,
// since an attempt is counted before its OPAQUE work starts.
func TestBruteForceParallel(t *testing.T) { forEngines(t, testBruteForceParallel) }

func testBruteForceParallel(t *testing.T, db string) {
	f := startLimited(t, db, &clock{t: time.Now()}, DefaultMaxFailures, 100)
	c := newClient(t)
	const n = 3 * DefaultMaxFailures
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := guess(c, f, "ghost")
			if err != nil {
				codes <- err.Error()
				return
			}
			codes <- errCode(r)
		})
	}
	wg.Wait()
	close(codes)
	count := map[string]int{}
	for c := range codes {
		count[c]++
	}
	if count[CodeLoginFailed] != DefaultMaxFailures || count[CodeRateLimited] != n-DefaultMaxFailures {
		t.Fatalf("answers %v, want %d %s and the rest %s", count, DefaultMaxFailures, CodeLoginFailed, CodeRateLimited)
	}
	if got := f.srv.stats.ke2.Load(); got != DefaultMaxFailures {
		t.Fatalf("%d KE2s computed, want %d", got, DefaultMaxFailures)
	}
}

// BenchmarkLimitAttempt measures one rate-limit check as a login makes it
// (an attempt, then forget as if it succeeded) on each engine, and on
// PostgreSQL both ways of keeping racing attempts apart: the advisory lock
// per key at READ COMMITTED the dialect uses, and SERIALIZABLE with the
// store's retries. "serial" is one check at a time; "distinct" has 8 at
// once, each goroutine on a key of its own (many accounts signing in); "one
// key" has them all on one (a brute force on one account). failed/op is
// the share of checks that failed: under SERIALIZABLE, those that still
// failed to serialize after maxTxAttempts runs.
func BenchmarkLimitAttempt(b *testing.B) {
	serializable := func(d *dialect) { d.limitTxOptions, d.lockLimits = nil, nil }
	variants := []struct {
		name   string
		engine int // index in engines
		tweak  func(*dialect)
	}{
		{"sqlite", 0, nil},
		{"postgres/advisory", 1, nil},
		{"postgres/serializable", 1, serializable},
	}
	for _, v := range variants {
		for _, mode := range []string{"serial", "distinct", "one-key"} {
			b.Run(v.name+"/"+mode, func(b *testing.B) {
				st := openTest(b, engines[v.engine].fresh(b)).(*sqlStore)
				if v.tweak != nil {
					d := *st.d
					v.tweak(&d)
					st.d = &d
				}
				ctx := context.Background()
				var next, failed atomic.Int64
				check := func(k limitKey) {
					if full, err := st.attempt(ctx, time.Now(), k); err != nil || full != nil {
						failed.Add(1)
						return
					}
					if err := st.forget(ctx, k); err != nil {
						failed.Add(1)
					}
				}
				key := func() limitKey {
					k := limitKey{bucket: "bench", key: fmt.Sprint(next.Add(1)), max: 1 << 30, window: time.Minute}
					if mode == "one-key" {
						k.key = "one"
					}
					return k
				}
				b.ResetTimer()
				if mode == "serial" {
					k := key()
					for b.Loop() {
						check(k)
					}
				} else {
					b.SetParallelism(4) // 8 goroutines on 2 cores
					b.RunParallel(func(pb *testing.PB) {
						k := key()
						for pb.Next() {
							check(k)
						}
					})
				}
				b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
			})
		}
	}
}
