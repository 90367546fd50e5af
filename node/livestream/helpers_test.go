package livestream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/poll"
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
		poll.UntilNil(tb, "this package's goroutines end with the test", func() error {
			if n, stacks := ourGoroutines(); n > 0 {
				return fmt.Errorf("%d livestream goroutines outlived the test:\n%s", n, stacks)
			}
			return nil
		})
	})
}

// writeUntil writes p to s (and flushes) until it fails, which it must do
// with want: the sender learns of what happened at the other end by its
// next write, not at once.
func writeUntil(t *testing.T, s *Sender, p []byte, want error) {
	t.Helper()
	poll.UntilNil(t, fmt.Sprintf("a write fails with %v", want), func() error {
		_, err := s.Write(p)
		if err == nil {
			err = s.Flush()
		}
		if err == nil {
			return errors.New("writes still succeed")
		}
		if !errors.Is(err, want) {
			t.Fatalf("write: %v, want %v", err, want)
		}
		return nil
	})
}
