package pipeline

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// ErrBudgetSpent is why a Budget refuses a reservation: the service, or the
// peer's share of it, holds all the request bytes it may at once. The
// request is answered wire.CodeBusy.
var ErrBudgetSpent = errors.New("pipeline: request budget spent")

// Budget bounds the request bytes a service holds at once, over all its
// streams and peers: the Listen stage reserves every frame's buffer in it
// (and in the stream's libp2p resource scope) as the bytes arrive, and
// gives it back when the request is done. Reservations never wait: when the
// budget is spent a request is refused at once, so nothing queues behind a
// large request. A reservation's priority follows libp2p's (p+1)/256 of the
// limit, so large frames (wire.PrioLargeFrame) leave a quarter to small
// ones; and one peer may hold at most its share. Its methods are safe for
// concurrent use.
type Budget struct {
	limit, perPeer int64
	// minRate and grace bound how slowly the service's frames may arrive
	// (SetReceiveRate); zero means the wire defaults.
	minRate, grace atomic.Int64

	mu    sync.Mutex
	used  int64
	peak  int64
	peers map[peer.ID]int64

	refused atomic.Uint64
}

// NewBudget returns a budget of limit bytes of which one peer may hold
// perPeer (0: all of it).
func NewBudget(limit, perPeer int64) *Budget {
	if perPeer <= 0 || perPeer > limit {
		perPeer = limit
	}
	return &Budget{limit: limit, perPeer: perPeer, peers: map[peer.ID]int64{}}
}

// NewServiceBudget is the budget of a service whose frames are at most
// maxFrame bytes: limit in all, a wire.PeerBudgetShare-th of it per peer
// but never less than two frames.
func NewServiceBudget(limit int64, maxFrame int) *Budget {
	return NewBudget(limit, max(limit/wire.PeerBudgetShare, 2*int64(maxFrame)))
}

// BudgetStats is a Budget's state and history.
type BudgetStats struct {
	Limit   int64  // bytes
	InUse   int64  // bytes reserved now
	Peak    int64  // the most ever reserved at once
	Refused uint64 // reservations refused
}

// Stats returns the budget's state.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BudgetStats{Limit: b.limit, InUse: b.used, Peak: b.peak, Refused: b.refused.Load()}
}

func (b *Budget) reserve(p peer.ID, size int, prio uint8) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int64(size)
	if limit := b.limit * (int64(prio) + 1) / 256; b.used+n > limit {
		b.refused.Add(1)
		return fmt.Errorf("%w: %d of %d bytes in use, %d more asked", ErrBudgetSpent, b.used, limit, n)
	}
	if held := b.peers[p]; held+n > b.perPeer {
		b.refused.Add(1)
		return fmt.Errorf("%w: peer holds %d of its %d bytes, %d more asked", ErrBudgetSpent, held, b.perPeer, n)
	}
	b.used += n
	b.peers[p] += n
	b.peak = max(b.peak, b.used)
	return nil
}

func (b *Budget) release(p peer.ID, size int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int64(size)
	b.used -= n
	if left := b.peers[p] - n; left > 0 {
		b.peers[p] = left
	} else {
		delete(b.peers, p)
	}
}

// account is one stream's reservations: each in the stream's libp2p scope
// first (nil for a plain io.ReadWriter), then in the budget under its peer.
// It is a wire.Memory; a Reader's Release gives everything back.
type account struct {
	b     *Budget
	peer  peer.ID
	scope wire.Memory
}

func (a *account) ReserveMemory(size int, prio uint8) error {
	if a.scope != nil {
		if err := a.scope.ReserveMemory(size, prio); err != nil {
			return fmt.Errorf("libp2p resource manager: %w", err)
		}
	}
	if err := a.b.reserve(a.peer, size, prio); err != nil {
		if a.scope != nil {
			a.scope.ReleaseMemory(size)
		}
		return err
	}
	return nil
}

func (a *account) ReleaseMemory(size int) {
	a.b.release(a.peer, size)
	if a.scope != nil {
		a.scope.ReleaseMemory(size)
	}
}

// Reader returns a frame reader for an inbound stream of a protocol that
// reads more than one request per stream (the node's message stream): each
// frame is reserved in st's resource scope and in b under st's remote peer,
// and given back at the next ReadMsg or Release, which the caller defers.
func (b *Budget) Reader(st network.Stream, max int) *wire.Reader {
	var scope wire.Memory
	if sc := st.Scope(); sc != nil {
		scope = sc
	}
	return b.reader(st, st.Conn().RemotePeer(), scope, max)
}

// reader returns a frame reader of at most max bytes a frame on r, from
// remote, accounted in scope (nil: none) and in b.
func (b *Budget) reader(r io.Reader, remote peer.ID, scope wire.Memory, max int) *wire.Reader {
	fr := wire.NewReader(r, max)
	fr.Mem = &account{b: b, peer: remote, scope: scope}
	if r := b.minRate.Load(); r > 0 {
		fr.MinRate = int(r)
	}
	if g := b.grace.Load(); g > 0 {
		fr.Grace = time.Duration(g)
	}
	return fr
}

// SetReceiveRate sets how slowly the service's frames may arrive from now
// on (wire.Reader's MinRate and Grace); zero restores wire.MinFrameRate and
// wire.FrameGrace. Tests shorten the grace so a stalled sender is dropped
// at once.
func (b *Budget) SetReceiveRate(minRate int, grace time.Duration) {
	b.minRate.Store(int64(minRate))
	b.grace.Store(int64(grace))
}
