// Package handover brings the recent history to a new device of an
// account: when a person signs in on another computer, one of the
// account's devices that is online sends it what it holds of the last
// DefaultWindow (90 days), end to end encrypted, and both show progress.
//
// The protocol, /eserver/handover/1.0.0 (wire.ProtoHandover), is one
// HandoverRequest from the new device, answered by HandoverChunks in the
// order the answering device stored its history until one says done; the
// new device stores each chunk in one transaction, de-duplicated on the
// message's conversation and ID, so a repeated or interrupted hand-over
// adds nothing twice.
//
// Why it is safe. The stream's remote peer is authenticated by libp2p's
// Noise handshake with its device key, and both ends refuse unless that
// peer is another device in our own account's signed device list
// (Host.Sibling) — before anything of the store is read, or anything
// received is stored. Being in that list is the password proof: a device
// is added to it only by a signature of the account identity, whose key
// opens only with the export key of an OPAQUE sign-in with the password
// (node/account's Seal and Open). The stream is encrypted between the two
// devices' keys, through a relay circuit too, so the history is end to end
// encrypted: a relay or supernode sees its size and timing only.
// SECURITY.md says the same for users.
package handover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/pipeline"
)

// DefaultWindow is how far back a new device asks for history: what the
// person most likely reads again, without weeks of transfer for a history
// of years.
const DefaultWindow = 90 * 24 * time.Hour

// Errors callers branch on.
var (
	// ErrNotOwnDevice: the other device is not another device in our
	// account's signed list, so nothing is asked of or given to it; or
	// the answering device says the same of us.
	ErrNotOwnDevice = errors.New("handover: not another device of this account")
	// ErrRefused: the answering device could not answer (its store
	// failed).
	ErrRefused = errors.New("handover: refused by the other device")
	// ErrBadChunk: a chunk broke the protocol's limits or rules; nothing
	// of it is stored.
	ErrBadChunk = errors.New("handover: malformed chunk")
	// ErrClosed: the capability was closed (the session ended).
	ErrClosed = errors.New("handover: closed")
)

// Host is what the capability needs of the session.
type Host interface {
	Libp2p() host.Host
	Store() *store.Store
	Log() *slog.Logger
	Now() time.Time
	// Sibling reports whether p is another device in our account's
	// signed device list (not this one).
	Sibling(p peer.ID) bool
	// Emit passes a progress event to the front ends.
	Emit(api.Event)
}

// Handover is the capability for one session: it answers our other
// devices' requests once Started, and asks one with Fetch.
type Handover struct {
	h      Host
	listen *pipeline.Listener
	budget *pipeline.Budget
}

// New returns the capability on h.
func New(h Host) *Handover {
	return &Handover{h: h, listen: pipeline.NewListener(h.Log()),
		budget: pipeline.NewServiceBudget(wire.HandoverBudget, wire.MaxHandoverFrame)}
}

// Start answers hand-over requests until Close.
func (x *Handover) Start() {
	x.listen.Handle(x.h.Libp2p(), wire.ProtoHandover, wire.HandoverIdle, x.serve)
}

// Close stops answering, resets the hand-overs in flight (both ways) and
// waits for them.
func (x *Handover) Close() { x.listen.Close() }

// serve answers one request: a refusal to anyone but another device of
// ours, read before a byte of the request; else the history since the
// asked time, in chunks.
func (x *Handover) serve(ctx context.Context, st network.Stream) error {
	remote := st.Conn().RemotePeer()
	if !x.h.Sibling(remote) {
		x.h.Log().Warn("refused a history hand-over to a device not in our account's list", "peer", remote)
		if err := wire.WriteMsg(st, &wire.HandoverChunk{Error: wire.CodeNotOwnDevice, Done: true}); err != nil {
			return err
		}
		return nil
	}
	r := x.budget.Reader(st, wire.MaxHandoverRequest)
	defer r.Release()
	var req wire.HandoverRequest
	if err := r.ReadMsg(&req); err != nil {
		return fmt.Errorf("reading the hand-over request of %s: %w", remote, err)
	}
	since, err := Since(&req, x.h.Now())
	if err != nil {
		return fmt.Errorf("hand-over request of %s: %w", remote, err)
	}
	return x.send(ctx, st, remote, since)
}

// Since is the time a request asks the history from, checked: not
// before the Unix epoch and not in the future (beyond the clock skew we
// allow).
func Since(req *wire.HandoverRequest, now time.Time) (time.Time, error) {
	ms := req.GetSinceUnixMilli()
	if ms < 0 || ms > now.Add(wire.MaxClockSkew).UnixMilli() {
		return time.Time{}, fmt.Errorf("%w: asks the history since %d ms", ErrBadChunk, ms)
	}
	return time.UnixMilli(ms), nil
}

// send writes the history since since to st in chunks, reporting progress.
func (x *Handover) send(ctx context.Context, st network.Stream, remote peer.ID, since time.Time) (err error) {
	s := x.h.Store()
	ev := api.HistoryEvent{Direction: api.HistorySending, Device: remote.String()}
	defer func() {
		ev.Finished = true
		if err != nil {
			ev.Error = err.Error()
		}
		x.h.Emit(api.Event{History: &ev})
	}()
	total, err := s.CountSince(since)
	if err != nil {
		_ = wire.WriteMsg(st, &wire.HandoverChunk{Error: wire.CodeInternal, Done: true})
		return err
	}
	ev.Total = total
	x.h.Log().Info("handing our history over to another device of ours", "peer", remote, "since", since, "messages", total)
	c := chunker{w: st, total: uint64(total), sent: func(n int) {
		ev.Done += n
		ev.Total = max(ev.Total, ev.Done)
		x.h.Emit(api.Event{History: &ev})
	}}
	for cursor := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		ms, next, err := s.HistoryPage(since, cursor, wire.MaxHandoverMessages)
		if err != nil {
			return fmt.Errorf("reading our history: %w", err)
		}
		self := x.h.Libp2p().ID()
		for i := range ms {
			authored(&ms[i], self)
			if err := c.add(Encode(&ms[i])); err != nil {
				return err
			}
		}
		if len(ms) < wire.MaxHandoverMessages {
			break
		}
		cursor = next
	}
	return c.finish()
}

// authored names this device, self, as the author of a message it sent:
// here its own rows carry no device (they are this device's), but on the
// new device they are another device's — and the live copies of what we
// send reach it naming us, each placed in our order among the others
// (store's place) only if every row of ours names us too, with its order.
// A multi-party conversation's messages are ordered by their sending time,
// as their events are; a contact's by our outbox position, kept already.
// A row of ours without them was shown where it arrived, so one copy late
// in the hand-over came after a later message (the soak found it).
func authored(m *store.Message, self peer.ID) {
	if !m.Outgoing || m.Device != "" || m.Kind != store.EntryMessage {
		return
	}
	if m.Order == 0 && api.IsConversation(m.Peer) {
		m.Order = uint64(max(m.Time.UnixMilli(), 0))
	}
	if m.Order != 0 {
		m.Device = self.String()
	}
}

// chunker packs messages into chunks of at most wire.MaxHandoverMessages
// messages and wire.MaxHandoverFrame bytes and writes them, moving the
// stream's deadline on before each.
type chunker struct {
	w     deadlineWriter
	total uint64
	sent  func(n int)
	cur   wire.HandoverChunk
	size  int // proto.Size of cur, kept as messages are added
}

// deadlineWriter is the stream as the chunker writes it.
type deadlineWriter interface {
	io.Writer
	SetDeadline(time.Time) error
}

// chunkRoom is what a chunk's frame holds besides its messages: the total,
// done and the messages' own field headers are under it.
const chunkRoom = 64

func (c *chunker) add(m *wire.HandoverMessage) error {
	n := proto.Size(m)
	n += protoLenSize(n) + 1 // field 1's tag and length
	if n+chunkRoom > wire.MaxHandoverFrame {
		// Never written by this program (text is at most MaxChatText):
		// a row that could not travel is left out rather than stopping
		// the rest.
		return nil
	}
	if len(c.cur.Messages) == wire.MaxHandoverMessages || c.size+n+chunkRoom > wire.MaxHandoverFrame {
		if err := c.flush(false); err != nil {
			return err
		}
	}
	c.cur.Messages = append(c.cur.Messages, m)
	c.size += n
	return nil
}

func (c *chunker) flush(done bool) error {
	c.cur.Total, c.cur.Done = c.total, done
	if err := c.w.SetDeadline(time.Now().Add(wire.HandoverIdle)); err != nil {
		return fmt.Errorf("setting the hand-over's deadline: %w", err)
	}
	if err := wire.WriteMsg(c.w, &c.cur); err != nil {
		return fmt.Errorf("sending history: %w", err)
	}
	c.sent(len(c.cur.Messages))
	c.cur.Messages, c.size = c.cur.Messages[:0], 0
	return nil
}

// finish writes the last chunk, done.
func (c *chunker) finish() error { return c.flush(true) }

// protoLenSize is the bytes of n as a varint.
func protoLenSize(n int) int {
	s := 1
	for n >= 0x80 {
		n >>= 7
		s++
	}
	return s
}

// Result is what a Fetch stored.
type Result struct {
	Received int // messages received
	Added    int // of them, new here (the rest were here already)
}

// Fetch asks device p, another of our account's, for the history since
// since and stores it as it comes, a chunk per transaction, reporting
// progress. What was stored stays stored when it fails half way; asking
// again adds only what is missing.
func (x *Handover) Fetch(ctx context.Context, p peer.ID, since time.Time) (res Result, err error) {
	if !x.h.Sibling(p) {
		return res, fmt.Errorf("asking %s for our history: %w", p, ErrNotOwnDevice)
	}
	ev := api.HistoryEvent{Direction: api.HistoryReceiving, Device: p.String()}
	defer func() {
		ev.Finished = true
		if err != nil {
			ev.Error = err.Error()
		}
		x.h.Emit(api.Event{History: &ev})
	}()
	lctx := x.listen.Context()
	if lctx.Err() != nil {
		return res, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lctx, cancel) // Close ends a Fetch too
	defer stop()
	st, err := x.h.Libp2p().NewStream(network.WithAllowLimitedConn(ctx, "history hand-over"), p, protocol.ID(wire.ProtoHandover))
	if err != nil {
		return res, fmt.Errorf("opening a hand-over stream to %s: %w", p, err)
	}
	defer context.AfterFunc(ctx, func() { st.Reset() })()
	defer func() {
		if err != nil {
			st.Reset()
		} else {
			st.Close()
		}
	}()
	if err := st.SetDeadline(time.Now().Add(wire.HandoverIdle)); err != nil {
		return res, fmt.Errorf("setting the hand-over's deadline: %w", err)
	}
	if err := wire.WriteMsg(st, &wire.HandoverRequest{SinceUnixMilli: since.UnixMilli()}); err != nil {
		return res, fmt.Errorf("asking %s for our history: %w", p, err)
	}
	r := x.budget.Reader(st, wire.MaxHandoverFrame)
	defer r.Release()
	s := x.h.Store()
	for {
		var c wire.HandoverChunk
		if err := r.ReadMsg(&c); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, fmt.Errorf("reading history from %s after %d messages: %w", p, res.Received, err)
		}
		ms, err := Decode(&c)
		if err != nil {
			return res, fmt.Errorf("history from %s after %d messages: %w", p, res.Received, err)
		}
		if len(ms) > 0 {
			ins, err := s.AddIncomingBatch(ms)
			if err != nil {
				return res, fmt.Errorf("storing history from %s: %w", p, err)
			}
			res.Received += len(ms)
			for _, in := range ins {
				if in {
					res.Added++
				}
			}
		}
		ev.Done, ev.Total = res.Received, max(int(min(c.Total, uint64(1<<31))), res.Received)
		if !c.Done {
			x.h.Emit(api.Event{History: &ev})
			if err := st.SetDeadline(time.Now().Add(wire.HandoverIdle)); err != nil {
				return res, fmt.Errorf("setting the hand-over's deadline: %w", err)
			}
			continue
		}
		return res, nil
	}
}
