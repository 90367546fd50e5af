package transfer

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// newKey returns a fresh libp2p identity, so a test can restart a host as
// the same peer.
func newIdentity(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newHost starts a real libp2p host on 127.0.0.1 with a random port.
func newHost(t testing.TB, id crypto.PrivKey) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}
	if id != nil {
		opts = append(opts, libp2p.Identity(id))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes size pseudo-random bytes (seeded, so failures repeat).
func writeFile(t testing.TB, dir, name string, size int64, seed uint64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pair is a sender and a receiver host, connected, with a Sender started.
type pair struct {
	sh, rh         host.Host
	sid, rid       crypto.PrivKey
	s              *Sender
	r              *Receiver
	srcDir, dstDir string

	mu     sync.Mutex
	served map[uint64]int // chunk frames written, by index (all transfers)
}

func newPair(t testing.TB) *pair {
	t.Helper()
	p := &pair{sid: newIdentity(t), rid: newIdentity(t), srcDir: t.TempDir(), dstDir: t.TempDir(),
		served: make(map[uint64]int)}
	p.sh = newHost(t, p.sid)
	p.rh = newHost(t, p.rid)
	connect(t, p.rh, p.sh)
	p.startSender(t)
	p.r = &Receiver{Host: p.rh}
	t.Cleanup(func() { p.r.Close() })
	return p
}

func (p *pair) startSender(t testing.TB) {
	t.Helper()
	p.s = NewSender(p.sh)
	p.s.served = func(_ ID, i uint64) {
		p.mu.Lock()
		p.served[i]++
		p.mu.Unlock()
	}
	if err := p.s.Start(); err != nil {
		t.Fatal(err)
	}
	s := p.s
	t.Cleanup(func() { s.Close() })
}

func (p *pair) servedCounts() map[uint64]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[uint64]int, len(p.served))
	for k, v := range p.served {
		m[k] = v
	}
	clear(p.served)
	return m
}

// offer writes a file of size bytes and offers it to the receiver.
func (p *pair) offer(t testing.TB, name string, size int64, chunkSize int) (Offer, string) {
	t.Helper()
	path := writeFile(t, p.srcDir, name, size, uint64(size)^uint64(len(name)))
	o, err := NewOffer(path, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.s.Add(Share{Offer: o, Path: path, Peer: p.rh.ID()}); err != nil {
		t.Fatal(err)
	}
	return o, path
}

func (p *pair) req(o Offer) Request {
	return Request{Peer: p.sh.ID(), Offer: o, Dir: p.dstDir}
}

func sameFile(t testing.TB, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ (%d and %d bytes)", a, b, len(x), len(y))
	}
}

// dirNames lists a directory, hidden files included.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// checkNoLeaks fails if a goroutine running this package's code outlives
// its owner (the test's own goroutine aside).
func checkNoLeaks(t testing.TB) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		last = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "transfer.(*") && !strings.Contains(g, "transfer.Test") &&
				!strings.Contains(g, "transfer.Benchmark") {
				last += g + "\n\n"
			}
		}
		if last == "" {
			return
		}
	}
	t.Fatalf("goroutines of the transfer package outlived their owner:\n%s", last)
}

// cancelAfter returns a Receiver.written hook that cancels once n chunks
// were written, standing in for a receiver killed mid-way.
func cancelAfter(n int32, cancel context.CancelFunc) func(ID, uint64) {
	var k atomic.Int32
	return func(ID, uint64) {
		if k.Add(1) == n {
			cancel()
		}
	}
}
