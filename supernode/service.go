package supernode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// service is what every supernode service shares: the listen stage (one
// request per stream, a deadline, Reset on failure, Close on success) and
// the lifecycle (the hosts it serves on, the streams in flight, and a close
// that resets them and waits for their handlers, so no goroutine outlives
// the service).
type service struct {
	pid     protocol.ID
	timeout time.Duration
	log     *slog.Logger
	// serve reads one request from rw, sent by the authenticated remote
	// peer, and writes the answer; an error resets the stream.
	serve func(rw io.ReadWriter, remote peer.ID) error

	mu      sync.Mutex
	closed  bool
	hosts   []host.Host
	streams map[network.Stream]struct{}
	wg      sync.WaitGroup
}

func newService(pid protocol.ID, timeout time.Duration, log *slog.Logger, serve func(io.ReadWriter, peer.ID) error) *service {
	return &service{pid: pid, timeout: timeout, log: log, serve: serve, streams: map[network.Stream]struct{}{}}
}

// attach serves on h until close; after close it does nothing.
func (sv *service) attach(h host.Host) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closed {
		return
	}
	sv.hosts = append(sv.hosts, h)
	h.SetStreamHandler(sv.pid, sv.handle)
}

// close stops serving on every host, resets the streams in flight and waits
// for their handlers and tracked goroutines. It reports false when the
// service was already closed.
func (sv *service) close() bool {
	sv.mu.Lock()
	if sv.closed {
		sv.mu.Unlock()
		return false
	}
	sv.closed = true
	for _, h := range sv.hosts {
		h.RemoveStreamHandler(sv.pid)
	}
	for s := range sv.streams {
		_ = s.Reset()
	}
	sv.mu.Unlock()
	sv.wg.Wait()
	return true
}

// handle is the listen stage: it owns the stream, its deadline and its fate.
func (sv *service) handle(s network.Stream) {
	sv.mu.Lock()
	if sv.closed {
		sv.mu.Unlock()
		_ = s.Reset()
		return
	}
	sv.wg.Add(1)
	sv.streams[s] = struct{}{}
	sv.mu.Unlock()
	defer func() {
		sv.mu.Lock()
		delete(sv.streams, s)
		sv.mu.Unlock()
		sv.wg.Done()
	}()

	remote := s.Conn().RemotePeer()
	if err := s.SetDeadline(time.Now().Add(sv.timeout)); err != nil {
		sv.log.Debug("setting deadline", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	if err := sv.serve(s, remote); err != nil {
		sv.log.Debug("stream failed", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// attached returns the hosts the service serves on.
func (sv *service) attached() []host.Host {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return append([]host.Host(nil), sv.hosts...)
}

// spawn runs f in a goroutine that close waits for; it reports false (and
// runs nothing) once the service is closed.
func (sv *service) spawn(f func()) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closed {
		return false
	}
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		f()
	}()
	return true
}

// inFlight counts the streams being served.
func (sv *service) inFlight() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return len(sv.streams)
}

// answer is the stages every service's serve shares: read one request of
// type Q (at most max bytes), let process authenticate and answer it from
// the stream's peer, write the answer. An error resets the stream; a
// refusal is an answer with an error code, not an error.
func answer[Q any, PQ interface {
	*Q
	proto.Message
}, R proto.Message](rw io.ReadWriter, max int, remote peer.ID, process func(PQ, peer.ID) (R, error)) error {
	req := PQ(new(Q))
	if err := wire.ReadMsg(rw, max, req); err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	resp, err := process(req, remote)
	if err != nil {
		return err
	}
	if err := wire.WriteMsg(rw, resp); err != nil {
		return fmt.Errorf("writing response: %w", err)
	}
	return nil
}

// runSweeper runs sweep at once and then every interval until ctx ends,
// logging what it did as what (e.g. "expired mail"). It closes done when it
// returns.
func runSweeper(ctx context.Context, interval time.Duration, log *slog.Logger, what string, done chan<- struct{}, sweep func(context.Context) (int, error)) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("sweeping "+what, "err", err)
		case n > 0:
			log.Debug("swept "+what, "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
