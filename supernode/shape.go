package supernode

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"
)

// minUploadBurst is the smallest token bucket a shaped relay gets: a relay
// copies in BufferSize pieces (DefaultRelayResources: 32 KiB), and a bucket
// smaller than one piece would only split writes without smoothing anything.
const minUploadBurst = 64 << 10

// shaper caps the bytes per second a relay writes to its streams, both
// directions of every circuit together: the upload bandwidth a user grants
// to supernode duty. libp2p's circuit relay limits circuits by duration and
// bytes but not by rate, and copies between streams internally, so the cap
// is applied by handing the relay a host whose streams pace their writes.
type shaper struct {
	lim *rate.Limiter
	ctx context.Context // ends when the relay closes, waking paced writers
}

// newShaper returns a shaper at bytesPerSec; zero means no cap.
func newShaper(ctx context.Context, bytesPerSec int64) *shaper {
	s := &shaper{lim: rate.NewLimiter(rate.Inf, minUploadBurst), ctx: ctx}
	s.set(bytesPerSec)
	return s
}

// set changes the cap, also for the circuits already open.
func (s *shaper) set(bytesPerSec int64) {
	if bytesPerSec <= 0 {
		s.lim.SetLimit(rate.Inf)
		s.lim.SetBurst(minUploadBurst)
		return
	}
	// A bucket of one second's worth: a burst no larger than the user
	// granted, and whole relay pieces.
	s.lim.SetBurst(max(int(min(bytesPerSec, 1<<30)), minUploadBurst))
	s.lim.SetLimit(rate.Limit(bytesPerSec))
}

func (s *shaper) rate() int64 {
	l := s.lim.Limit()
	if l == rate.Inf {
		return 0
	}
	return int64(l)
}

// shapedHost is the host the relay sees: the same host, except that the
// streams it accepts (hop) and opens (stop) are paced.
type shapedHost struct {
	host.Host
	s *shaper
}

func (h shapedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(st network.Stream) { handler(shapedStream{st, h.s}) })
}

func (h shapedHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	st, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return shapedStream{st, h.s}, nil
}

// shapedStream waits for tokens before each write, in pieces no larger than
// the bucket so that a large write cannot ask for more than it could ever
// hold.
type shapedStream struct {
	network.Stream
	s *shaper
}

func (st shapedStream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), st.s.lim.Burst())
		if err := st.s.lim.WaitN(st.s.ctx, n); err != nil {
			return written, fmt.Errorf("relay upload cap: %w", err)
		}
		w, err := st.Stream.Write(p[:n])
		written += w
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
