package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// ErrClosed is what a MailConn answers once it is closed.
var ErrClosed = errors.New("mailbox connection closed")

// ErrNoDeviceMailboxes is PutDevice's answer from a supernode that does not
// speak wire.ProtoMailboxDevices: it would hand mail left for a device
// mailbox to no one. Put the item into the account's mailbox instead.
var ErrNoDeviceMailboxes = errors.New("supernode keeps no device mailboxes")

// MailConn is a node's mailbox stream to one supernode, kept open: calls
// from any goroutine are written on it one after another without waiting
// for the answers before (at most wire.MailboxInFlight unanswered), and
// the supernode answers them in order, each once it is durable. Opening a
// stream (multistream negotiation, a yamux stream, its windows) cost more
// than the request itself, so a node sends all its mailbox calls to a
// home on one stream. A supernode that speaks only wire.ProtoMailbox gets
// one request per stream, as from PutMail, FetchMail and AckMail. Its
// methods are safe for concurrent use; Close it when done.
type MailConn struct {
	h     host.Host
	sn    peer.ID
	slots chan struct{} // calls in flight: wire.MailboxInFlight

	mu     sync.Mutex
	cur    *mailStream // nil: none open
	legacy bool        // the supernode speaks one request per stream only
	closed bool
}

// NewMailConn returns a MailConn from h to the supernode sn; the stream is
// opened by the first call. The caller connects h to sn.
func NewMailConn(h host.Host, sn peer.ID) *MailConn {
	return &MailConn{h: h, sn: sn, slots: make(chan struct{}, wire.MailboxInFlight)}
}

// Close resets the open stream (calls in flight fail with ErrClosed) and
// waits for its reader; later calls fail with ErrClosed.
func (c *MailConn) Close() error {
	c.mu.Lock()
	c.closed = true
	ms := c.cur
	c.cur = nil
	c.mu.Unlock()
	if ms != nil {
		ms.fail(ErrClosed)
		<-ms.done
	}
	return nil
}

// Put is PutMail on the kept stream.
func (c *MailConn) Put(ctx context.Context, t *wire.SignedTicket, mailbox, item []byte) (uint64, error) {
	req, err := putRequest(t, mailbox, item)
	if err != nil {
		return 0, fmt.Errorf("putting mail: %w", err)
	}
	resp, err := c.call(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("putting mail: %w", err)
	}
	return resp.GetSeq(), nil
}

// PutDevice leaves item in the device mailbox mailbox
// (DeviceMailboxID) of the account whose mailbox (MailboxID) is home: the
// supernode takes it if it is a home of that account. It fails with
// ErrNoDeviceMailboxes, storing nothing, if the supernode does not keep
// device mailboxes.
func (c *MailConn) PutDevice(ctx context.Context, t *wire.SignedTicket, home, mailbox, item []byte) (uint64, error) {
	req, err := putRequest(t, mailbox, item)
	if err == nil && len(home) != MailboxIDSize {
		err = fmt.Errorf("%w: home mailbox ID of %d bytes", ErrBadRequest, len(home))
	}
	if err != nil {
		return 0, fmt.Errorf("putting device mail: %w", err)
	}
	req.GetPut().Home = home
	resp, err := c.call(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("putting device mail: %w", err)
	}
	return resp.GetSeq(), nil
}

// DeviceMailboxes reports whether the supernode keeps device mailboxes
// (speaks wire.ProtoMailboxDevices), opening the stream if none is open.
// A supernode that does still fetches a device's mail from both its
// mailboxes for every version; one that does not fetches only the
// account's.
func (c *MailConn) DeviceMailboxes(ctx context.Context) (bool, error) {
	ms, _, err := c.stream(ctx)
	if err != nil {
		return false, err
	}
	return ms != nil && ms.devices, nil
}

// Fetch is FetchMail on the kept stream, and it first deletes the items
// ack (as Ack would) in the same round trip: draining a mailbox is then one
// round trip per fetch, each carrying the ack of the one before. The ack is
// committed before the fetch is answered; a failed fetch may or may not
// have deleted them (acks are idempotent: send them again).
func (c *MailConn) Fetch(ctx context.Context, t *wire.SignedTicket, after uint64, limit int, ack []uint64) (items []*wire.StoredMail, more bool, err error) {
	if len(ack) > MaxMailAck {
		// Only the last MaxMailAck ride along; the rest go first.
		if err := c.Ack(ctx, t, ack[:len(ack)-MaxMailAck]); err != nil {
			return nil, false, err
		}
		ack = ack[len(ack)-MaxMailAck:]
	}
	limit = fetchLimit(limit)
	if c.isLegacy() && len(ack) > 0 {
		// A supernode without ProtoMailboxStream ignores a fetch's ack.
		if err := c.Ack(ctx, t, ack); err != nil {
			return nil, false, err
		}
		ack = nil
	}
	resp, err := c.call(ctx, fetchRequest(t, after, limit, ack))
	if err != nil {
		return nil, false, fmt.Errorf("fetching mail: %w", err)
	}
	return checkFetched(resp, after, limit)
}

// Ack is AckMail on the kept stream.
func (c *MailConn) Ack(ctx context.Context, t *wire.SignedTicket, seqs []uint64) error {
	for len(seqs) > 0 {
		n := min(len(seqs), MaxMailAck)
		if _, err := c.call(ctx, ackRequest(t, seqs[:n])); err != nil {
			return fmt.Errorf("acknowledging mail: %w", err)
		}
		seqs = seqs[n:]
	}
	return nil
}

func (c *MailConn) isLegacy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legacy
}

// call sends req and returns its answer (with its code's sentinel, as Call
// does). A call that fails on a stream which had served before — the
// supernode may have closed it as idle, or restarted — is sent once more on
// a fresh stream: every mailbox request may be repeated (a put repeated
// leaves a copy the recipient drops as seen; acks and fetches repeat
// harmlessly).
func (c *MailConn) call(ctx context.Context, req *wire.MailboxRequest) (*wire.MailboxResponse, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	for attempt := 0; ; attempt++ {
		ms, fresh, err := c.stream(ctx)
		if err != nil {
			return nil, err
		}
		// Checked on the stream it goes on: a supernode restarted at an
		// older version since the last stream would keep the item from
		// everyone.
		if req.GetPut().GetHome() != nil && (ms == nil || !ms.devices) {
			return nil, fmt.Errorf("%s: %w", c.sn, ErrNoDeviceMailboxes)
		}
		if ms == nil { // legacy: one request per stream
			return Call[*wire.MailboxResponse](ctx, c.h, c.sn, wire.ProtoMailbox, req)
		}
		resp, err := ms.roundTrip(ctx, req)
		if err == nil {
			return resp, codeErr(resp.GetError())
		}
		c.drop(ms)
		if fresh || attempt > 0 || ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, err
		}
	}
}

// stream returns the open stream, opening one if none is; fresh reports
// that it was opened for this call. It returns nil (and no error) when the
// supernode speaks only ProtoMailbox.
func (c *MailConn) stream(ctx context.Context) (ms *mailStream, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, false, ErrClosed
	case c.legacy:
		return nil, false, nil
	case c.cur != nil:
		return c.cur, false, nil
	}
	// Opened under the lock: calls that arrive meanwhile wait for this
	// stream rather than each opening one.
	ctx, cancel := context.WithTimeout(ctx, wire.MailboxTimeout)
	defer cancel()
	s, err := c.h.NewStream(ctx, c.sn, wire.ProtoMailboxDevices, wire.ProtoMailboxStream, wire.ProtoMailbox)
	if err != nil {
		return nil, false, fmt.Errorf("opening stream to %s: %w", c.sn, err)
	}
	devices := s.Protocol() == wire.ProtoMailboxDevices
	if !devices && s.Protocol() != wire.ProtoMailboxStream {
		_ = s.Reset()
		c.legacy = true
		return nil, false, nil
	}
	c.cur = newMailStream(s)
	c.cur.devices = devices
	return c.cur, true, nil
}

// drop forgets ms (if it is still the open stream) and resets it.
func (c *MailConn) drop(ms *mailStream) {
	c.mu.Lock()
	if c.cur == ms {
		c.cur = nil
	}
	c.mu.Unlock()
	ms.fail(errors.New("stream dropped"))
}

// mailStream is one open pipelined stream: writes in order under mu, each
// leaving a waiter in waiters; its reader hands the answers to the waiters
// in the same order.
type mailStream struct {
	s       mailPipe
	devices bool // negotiated wire.ProtoMailboxDevices

	mu      sync.Mutex // orders writes with their waiters; guards err
	err     error      // why the stream failed; nil while it works
	waiters chan *mailWaiter
	done    chan struct{} // closed when the reader returns
}

// mailWaiter is one call waiting for its answer.
type mailWaiter struct {
	answer chan mailAnswer // buffered(1): the reader never waits for a caller who left
}

type mailAnswer struct {
	resp *wire.MailboxResponse
	err  error
}

// mailPipe is what a mailStream needs of its stream: a network.Stream is
// one (tests feed it other bytes).
type mailPipe interface {
	io.ReadWriter
	Reset() error
	SetWriteDeadline(time.Time) error
}

func newMailStream(s mailPipe) *mailStream {
	ms := &mailStream{s: s, waiters: make(chan *mailWaiter, wire.MailboxInFlight), done: make(chan struct{})}
	go ms.read()
	return ms
}

// roundTrip writes req and waits for its answer, for ctx and at most
// wire.MailboxTimeout. A caller whose ctx is cancelled leaves its answer
// to be dropped; a caller that waited out its deadline fails the stream
// (the supernode is stuck, or the stream is): the next call opens another.
func (ms *mailStream) roundTrip(ctx context.Context, req *wire.MailboxRequest) (*wire.MailboxResponse, error) {
	w := &mailWaiter{answer: make(chan mailAnswer, 1)}
	ms.mu.Lock()
	if ms.err != nil {
		err := ms.err
		ms.mu.Unlock()
		return nil, err
	}
	ms.waiters <- w // never blocks: a call holds one of MailConn's slots
	_ = ms.s.SetWriteDeadline(time.Now().Add(wire.MailboxTimeout))
	err := wire.WriteMsg(ms.s, req)
	ms.mu.Unlock()
	if err != nil {
		ms.fail(fmt.Errorf("writing request: %w", err))
		// The waiter is answered with the failure (or, had the answer
		// raced in, with it).
	}
	timer := time.NewTimer(wire.MailboxTimeout)
	defer timer.Stop()
	select {
	case a := <-w.answer:
		return a.resp, a.err
	case <-timer.C:
		ms.fail(fmt.Errorf("no answer within %v", wire.MailboxTimeout))
		return nil, fmt.Errorf("no answer within %v", wire.MailboxTimeout)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			ms.fail(ctx.Err())
		}
		return nil, ctx.Err()
	}
}

// read hands each answer to the oldest waiter until the stream fails.
func (ms *mailStream) read() {
	defer close(ms.done)
	for {
		resp := &wire.MailboxResponse{}
		if err := wire.ReadMsg(ms.s, wire.MaxMailboxFrame, resp); err != nil {
			ms.fail(fmt.Errorf("reading answer: %w", err))
			return
		}
		select {
		case w := <-ms.waiters:
			w.answer <- mailAnswer{resp: resp}
		default:
			ms.fail(fmt.Errorf("%w: an answer to no request", ErrProtocol))
			return
		}
	}
}

// fail marks the stream failed with err (the first failure stays), resets
// it, and answers every waiter with the failure.
func (ms *mailStream) fail(err error) {
	// Reset first: it ends a write blocked under mu, so the lock is free.
	_ = ms.s.Reset()
	ms.mu.Lock()
	if ms.err == nil {
		ms.err = err
	}
	err = ms.err
	ms.mu.Unlock()
	for {
		select {
		case w := <-ms.waiters:
			w.answer <- mailAnswer{err: err}
		default:
			return
		}
	}
}
