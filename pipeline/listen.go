package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// StreamFunc serves one inbound stream. An error resets the stream; nil
// closes it. ctx ends when the Listener closes.
type StreamFunc func(ctx context.Context, s network.Stream) error

// Listener is the Listen stage and the lifecycle of one service: the
// protocols it handles on the hosts it is attached to, the streams in
// flight, and a Close that removes the handlers, resets the streams in
// flight and waits for their handlers and for the goroutines started with
// Go, so no goroutine outlives the service. Its methods are safe for
// concurrent use.
type Listener struct {
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards closed together with wg.Add, so Close's Wait never races
	// an Add.
	mu       sync.Mutex
	closed   bool
	handlers []handled
	streams  map[network.Stream]struct{}
	wg       sync.WaitGroup
}

type handled struct {
	h   host.Host
	pid protocol.ID
}

// NewListener returns a Listener logging stream failures to log (nil
// discards them).
func NewListener(log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{log: log, ctx: ctx, cancel: cancel, streams: map[network.Stream]struct{}{}}
}

// Handle serves pid on h with serve until Close, each stream bounded by
// timeout. It reports false, and does nothing, once the Listener is closed.
func (l *Listener) Handle(h host.Host, pid protocol.ID, timeout time.Duration, serve StreamFunc) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.handlers = append(l.handlers, handled{h, pid})
	h.SetStreamHandler(pid, func(s network.Stream) { l.listen(s, timeout, serve) })
	return true
}

// listen owns one stream: its deadline, its tracking and its fate.
func (l *Listener) listen(s network.Stream, timeout time.Duration, serve StreamFunc) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = s.Reset()
		return
	}
	l.wg.Add(1)
	l.streams[s] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.streams, s)
		l.mu.Unlock()
		l.wg.Done()
	}()

	remote := s.Conn().RemotePeer()
	if err := s.SetDeadline(time.Now().Add(timeout)); err != nil {
		l.log.Debug("setting deadline", "peer", remote, "protocol", s.Protocol(), "err", err)
		_ = s.Reset()
		return
	}
	if err := serve(l.ctx, s); err != nil {
		l.log.Debug("stream failed", "peer", remote, "protocol", s.Protocol(), "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// Close stops serving on every host, resets the streams in flight, cancels
// the context handlers and Go functions see, and waits for them all. It
// reports false when the Listener was already closed.
func (l *Listener) Close() bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.closed = true
	for _, hd := range l.handlers {
		hd.h.RemoveStreamHandler(hd.pid)
	}
	for s := range l.streams {
		_ = s.Reset()
	}
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return true
}

// Go runs f in a goroutine Close waits for, with a context Close cancels;
// it reports false, and runs nothing, once the Listener is closed.
func (l *Listener) Go(f func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f(l.ctx)
	}()
	return true
}

// Hosts returns the hosts the Listener serves on, each once.
func (l *Listener) Hosts() []host.Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hs []host.Host
	seen := map[host.Host]bool{}
	for _, hd := range l.handlers {
		if !seen[hd.h] {
			seen[hd.h] = true
			hs = append(hs, hd.h)
		}
	}
	return hs
}

// InFlight counts the streams being served.
func (l *Listener) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.streams)
}

// Context is canceled when the Listener closes.
func (l *Listener) Context() context.Context { return l.ctx }
