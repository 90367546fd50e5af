package livestream

import (
	"context"
	"crypto/rand"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// newHost starts a real libp2p host on a random loopback port.
func newHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// connected returns two connected hosts; the leak check runs after both
// are closed.
func connected(tb testing.TB) (a, b host.Host) {
	tb.Helper()
	noLeaks(tb)
	a, b = newHost(tb), newHost(tb)
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		tb.Fatal(err)
	}
	return a, b
}

func newKey(tb testing.TB) []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// fixed is a Config taking streams from one peer with one key.
func fixed(from peer.ID, key []byte) Config {
	return Config{
		Allow: func(p peer.ID, _ string) bool { return p == from },
		Key:   func(peer.ID, ID, string) ([]byte, error) { return key, nil },
	}
}

// pipe opens a stream from a to b and accepts it.
func pipe(tb testing.TB, label string) (*Sender, *Receiver) {
	tb.Helper()
	a, b := connected(tb)
	key := newKey(tb)
	l := Listen(b, fixed(a.ID(), key))
	tb.Cleanup(func() { l.Close() })
	s, err := Open(context.Background(), a, b.ID(), key, label)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Abort() })
	r, err := l.Accept(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return s, r
}

// ourGoroutines counts goroutines running this package's code.
func ourGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "livestream.(*Sender).flushLoop") || strings.Contains(g, "livestream.(*Listener).handle") {
			n++
			found = append(found, g)
		}
	}
	return n, strings.Join(found, "\n\n")
}

// noLeaks fails the test if a goroutine of this package outlives it (its
// cleanups included).
func noLeaks(tb testing.TB) {
	tb.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, stacks := ourGoroutines()
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				tb.Fatalf("%d livestream goroutines outlived the test:\n%s", n, stacks)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
