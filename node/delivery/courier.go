package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// window is how many envelopes a courier sends before it waits for their
// acks: enough to hide the round trip, small enough that a refusal stops
// a burst early.
const window = 64

// courier delivers everything for one contact: the durable outbox in order,
// then the latest presence (not durable: only the newest value matters). One
// goroutine per contact, so order per conversation is kept by construction.
type courier struct {
	d    *Delivery
	peer string // the route (route.go)
	// user and route are the route's account and device ("" for an
	// account's route: whichever device answers).
	user  string
	route peer.ID
	kick  chan struct{}

	mu       chan struct{} // 1-slot lock usable with select
	presence *wire.Presence
	signals  []pendingSignal // typing and nudges: sent once, never stored (below)

	// The open stream, reused between rounds; owned by the run goroutine.
	st     network.Stream
	r      *wire.Reader
	remote *ticket.Ticket
	// device is the contact's device the last stream reached: what new
	// entries are sealed for when they are queued.
	device atomic.Pointer[peer.ID]
	// rehello asks the run goroutine to open a new stream, whose hello
	// carries what changed in ours (our account's device list); greet
	// asks it to open one even with nothing to send.
	rehello, greet atomic.Bool
}

// lastDevice is the device the courier last reached, "" before any.
func (c *courier) lastDevice() peer.ID {
	if p := c.device.Load(); p != nil {
		return *p
	}
	return ""
}

// outbox is what waits for the contact, less what was acknowledged and
// is being recorded.
func (c *courier) outbox() ([]store.OutboxEntry, error) {
	es, err := c.d.h.Store().Outbox(c.peer)
	if err != nil {
		return nil, err
	}
	return c.d.rec.without(es), nil
}

// window is the next window of the outbox after seq: at most window
// entries, less those acknowledged and being recorded.
func (c *courier) window(after int64) ([]store.OutboxEntry, error) {
	for {
		es, err := c.d.h.Store().OutboxAfter(c.peer, after, window)
		if err != nil || len(es) == 0 {
			return nil, err
		}
		if left := c.d.rec.without(es); len(left) > 0 {
			return left, nil
		}
		after = es[len(es)-1].Seq
	}
}

// courierFor returns the courier for username, starting it if needed.
func (d *Delivery) courierFor(username string) *courier {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.couriers[username]; ok {
		return c
	}
	user, device, err := splitRoute(username)
	if err != nil {
		// Not a route anything queues under: a courier with nothing to
		// find, whose rounds fail.
		d.h.Log().Warn("outbox entry under a malformed route", "route", username, "err", err)
		user = username
	}
	c := &courier{d: d, peer: username, user: user, route: device, kick: make(chan struct{}, 1), mu: make(chan struct{}, 1)}
	d.couriers[username] = c
	d.tasks.Go(c.run)
	return c
}
func (c *courier) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *courier) setPresence(p *wire.Presence) {
	c.mu <- struct{}{}
	c.presence = p
	<-c.mu
	c.poke()
}

func (c *courier) takePresence() *wire.Presence {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	p := c.presence
	c.presence = nil
	return p
}

// takeSignals returns the signals waiting to go and forgets them: a signal
// is tried in one round only.
func (c *courier) takeSignals() []pendingSignal {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	sigs := c.signals
	c.signals = nil
	return sigs
}

func (c *courier) run(ctx context.Context) {
	defer c.closeStream(false)
	backoff := time.Duration(0)
	for {
		err := c.round(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		if err != nil {
			c.d.h.Log().Debug("delivery round failed", "to", c.peer, "err", err)
			backoff = min(max(2*backoff, 250*time.Millisecond), c.d.retryMax)
			wait = time.After(backoff)
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-wait:
		}
	}
}

// round delivers everything pending. A stream that broke while idle is
// reopened once before the round counts as failed.
func (c *courier) round(ctx context.Context) error {
	if c.rehello.Swap(false) {
		c.closeStream(false)
	}
	p := c.takePresence()
	sigs := c.takeSignals()
	sigErr := errors.New("not sent")
	defer func() {
		for _, sg := range sigs {
			sg.finish(c.lastDevice(), sigErr)
		}
	}()
	greet := c.greet.Swap(false)
	entries, err := c.window(0)
	if err != nil {
		return fmt.Errorf("reading outbox: %w", err)
	}
	if p == nil && len(sigs) == 0 && len(entries) == 0 && !greet {
		return nil
	}
	for attempt := 0; ; attempt++ {
		reused := c.st != nil
		err = c.deliver(ctx, p, sigs, &sigErr, entries)
		if err == nil {
			return nil
		}
		c.closeStream(true)
		if !reused || attempt > 0 {
			break
		}
		if entries, err = c.window(0); err != nil {
			return err
		}
	}
	// Presence is best effort: an unreachable contact learns ours when it
	// comes back and sends its own.
	if len(entries) == 0 {
		return nil
	}
	// No way to the contact's device: leave the rest in its mailboxes.
	if errors.Is(err, errNoRoute) {
		rest, rerr := c.outbox()
		if rerr != nil {
			return rerr
		}
		if len(rest) == 0 {
			return nil
		}
		if merr := c.mail(ctx, rest); merr != nil {
			return errors.Join(err, merr)
		}
		return nil
	}
	return err
}

// errNoRoute is a delivery failure before any envelope was sent: the
// contact's device could not be found or reached.
var errNoRoute = errors.New("contact unreachable")

// deliver sends presence and signals (once: *sigErr records how the
// signals fared), then the outbox.
func (c *courier) deliver(ctx context.Context, p *wire.Presence, sigs []pendingSignal, sigErr *error, entries []store.OutboxEntry) error {
	if err := c.ensureStream(ctx); err != nil {
		if *sigErr != nil {
			*sigErr = fmt.Errorf("%w: %v", errNoRoute, err)
		}
		return fmt.Errorf("%w: %v", errNoRoute, err)
	}
	if err := c.d.keys.Ensure(ctx, c.remote); err != nil {
		return fmt.Errorf("end-to-end session with %s: %w", c.peer, err)
	}
	var moment []store.OutboxEntry // not durable: acks are read, not recorded
	now := c.d.h.Now().UnixMilli()
	if p != nil {
		moment = append(moment, store.OutboxEntry{ID: wire.NewID(), Peer: c.peer,
			Payload: wire.MustMarshal(&wire.Payload{SentUnixMilli: now, Kind: &wire.Payload_Presence{Presence: p}})})
	}
	if *sigErr != nil {
		for _, sg := range sigs {
			moment = append(moment, store.OutboxEntry{ID: wire.NewID(), Peer: c.peer,
				Payload: wire.MustMarshal(&wire.Payload{SentUnixMilli: now, Kind: sg.payload.Kind})})
		}
	}
	if len(moment) > 0 {
		if _, err := c.exchange(moment, false); err != nil {
			if *sigErr != nil {
				*sigErr = err
			}
			return err
		}
		*sigErr = nil
	}
	for len(entries) > 0 {
		// Each batch: a session may have become possible (a bundle found)
		// or needed (the contact reset ours) since the last one.
		if err := c.d.keys.Ensure(ctx, c.remote); err != nil {
			return fmt.Errorf("end-to-end session with %s: %w", c.peer, err)
		}
		n := min(len(entries), window)
		stop, err := c.exchange(entries[:n], true)
		if err != nil || stop {
			return err
		}
		var rerr error
		if entries, rerr = c.window(entries[n-1].Seq); rerr != nil {
			return rerr
		}
	}
	return nil
}

// exchange writes the envelopes, then reads their acks in order. durable
// entries are acknowledged in the store. stop reports a refusal after which
// the rest should wait (rate limited or a failure at the peer).
func (c *courier) exchange(batch []store.OutboxEntry, durable bool) (stop bool, err error) {
	envs, err := c.envelopes(batch)
	if err != nil {
		return false, err
	}
	for i, env := range envs {
		env.Order = uint64(batch[i].Seq) // 0 for the moment's payloads
	}
	// One write for the whole window: the contact reads them as one batch.
	var buf bytes.Buffer
	for _, env := range envs {
		if err := wire.WriteMsg(&buf, &wire.Frame{Kind: &wire.Frame_Envelope{Envelope: env}}); err != nil {
			return false, err
		}
	}
	c.st.SetDeadline(time.Now().Add(wire.MsgWriteTimeout))
	if _, err := c.st.Write(buf.Bytes()); err != nil {
		return false, fmt.Errorf("writing envelopes: %w", err)
	}
	var acked []store.OutboxEntry
	var again []string
	defer func() { c.d.acknowledged(acked) }()
	for _, e := range batch {
		var f wire.Frame
		if err := c.r.ReadMsg(&f); err != nil {
			return false, fmt.Errorf("reading ack: %w", err)
		}
		ack := f.GetAck()
		if ack == nil || ack.Id != e.ID {
			return false, fmt.Errorf("protocol error: ack for %q, want %q", ack.GetId(), e.ID)
		}
		if !durable {
			continue
		}
		switch ack.Error {
		case "":
			acked = append(acked, e)
		case string(payload.ErrRateLimited), string(payload.ErrInternal):
			stop = true // the rest of the batch is resent later, in order
			again = append(again, e.ID)
		case string(payload.ErrSessionReset):
			if !stop {
				if err := c.d.keys.Reset(c.remote.Peer); err != nil {
					return false, err
				}
			}
			stop = true // resent later under a new session
			again = append(again, e.ID)
		default:
			// Refused for good: the entry is dropped (for a member's copy
			// of a multi-party message, that member's alone). Said, so
			// that a message missing at one recipient can be traced.
			c.d.h.Log().Warn("delivery refused for good", "id", e.ID, "to", c.peer, "error", ack.Error)
			if err := c.d.h.Store().Fail(e.ID); err != nil {
				return false, err
			}
			if m, err := c.d.h.Store().Message(e.ID); err == nil {
				msg := c.d.h.Message(m)
				c.d.h.Emit(api.Event{Message: &msg})
			}
		}
		if stop {
			// Drain the remaining acks so the stream stays in step.
			continue
		}
	}
	if len(again) > 0 {
		// The contact may have used the keys of what it refused: what is
		// sent again is sealed again, never repeated.
		if err := c.d.h.Store().Unseal(again); err != nil {
			return false, err
		}
	}
	if stop {
		return true, errors.New("peer asked to retry later")
	}
	return false, nil
}

// envelopes are the batch's envelopes: the one sealed when an entry was
// queued if it was for this device in a session still ours, else sealed
// now (and the session stored before any of them leaves).
func (c *courier) envelopes(batch []store.OutboxEntry) ([]*wire.Envelope, error) {
	envs := make([]*wire.Envelope, len(batch))
	var stale []store.OutboxEntry
	var at []int
	to := c.remote.Peer
	for i, e := range batch {
		if len(e.Sealed) > 0 && e.SealedPeer == to.String() && c.d.keys.Current(to, e.SealedSession) {
			var env wire.Envelope
			if err := proto.Unmarshal(e.Sealed, &env); err == nil && env.Id == e.ID {
				envs[i] = &env
				continue
			}
		}
		stale = append(stale, e)
		at = append(at, i)
	}
	if len(stale) == 0 {
		return envs, nil
	}
	sealed, err := c.d.keys.Seal(c.remote, stale)
	if err != nil {
		return nil, err
	}
	for j, env := range sealed {
		envs[at[j]] = env
	}
	return envs, nil
}

// ensureStream opens a message stream to the contact's device, finding its
// addresses at the rendezvous when the ones we know fail.
func (c *courier) ensureStream(ctx context.Context) error {
	if c.st != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wire.DialTimeout)
	defer cancel()
	t, err := c.resolve(ctx, false)
	if err == nil {
		err = c.open(ctx, t)
	}
	if err != nil {
		// The device or its addresses may have changed: ask again.
		t, err = c.resolve(ctx, true)
		if err != nil {
			return err
		}
		if err := c.open(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds the route's device: the account's current one, or the
// route's own.
func (c *courier) resolve(ctx context.Context, refresh bool) (*ticket.Ticket, error) {
	if c.route == "" {
		return c.d.route.Resolve(ctx, c.user, refresh)
	}
	return c.d.route.ResolveDevice(ctx, c.user, c.route, refresh)
}

func (c *courier) open(ctx context.Context, t *ticket.Ticket) error {
	st, err := c.d.h.Libp2p().NewStream(network.WithAllowLimitedConn(ctx, "msg"), t.Peer, protocol.ID(wire.ProtoMsg))
	if err != nil {
		return fmt.Errorf("opening stream to %s: %w", c.peer, err)
	}
	if !c.d.hold(st) {
		return errors.New("delivery closed")
	}
	fail := func(err error) error {
		st.Reset()
		c.d.release(st)
		return err
	}
	st.SetDeadline(time.Now().Add(wire.MsgWriteTimeout))
	// Mail we left must not be overtaken by what we send directly: the
	// contact fetches it before it answers our hello.
	mailed := c.d.Mailed(c.peer)
	if err := wire.WriteMsg(st, &wire.Hello{Ticket: c.d.h.Ticket().Signed, Mailed: mailed, Devices: c.d.h.Devices()}); err != nil {
		return fail(err)
	}
	r := wire.NewReader(st, wire.MaxMsgFrame)
	var h wire.Hello
	if err := r.ReadMsg(&h); err != nil {
		return fail(fmt.Errorf("reading hello from %s: %w", c.peer, err))
	}
	remote, err := c.d.verifyHello(st.Conn().RemotePeer(), &h)
	if err == nil && (remote.Username != c.user || (c.route != "" && remote.Peer != c.route)) {
		err = fmt.Errorf("peer %s is %q, want %q", remote.Peer, remote.Username, c.peer)
	}
	if err != nil {
		return fail(err)
	}
	if mailed {
		c.d.setMailed(c.peer, false)
	}
	c.st, c.r, c.remote = st, r, remote
	c.device.Store(&remote.Peer)
	return nil
}

func (c *courier) closeStream(reset bool) {
	if c.st == nil {
		return
	}
	if reset {
		c.st.Reset()
	} else {
		c.st.Close()
	}
	c.d.release(c.st)
	c.st, c.r, c.remote = nil, nil, nil
}

// sayGoodbye tells the contact we are going offline, if it is online now.
// It runs on the caller's goroutine with a fresh stream, because the run
// goroutine is about to be stopped.
func (c *courier) sayGoodbye(ctx context.Context) {
	if c.user == c.d.h.Ticket().Username {
		return // our own devices: their presence is merged elsewhere
	}
	cc, err := c.d.h.Store().Contact(c.user)
	if err != nil || api.Relation(cc.Relation) != api.RelationAccepted || api.Status(cc.Status) == api.StatusOffline ||
		(c.route == "" && cc.PeerID == "") {
		return
	}
	// Presence goes to each device of a contact with several (SendPresence),
	// and so does the goodbye.
	t, err := c.resolve(ctx, false)
	if err != nil {
		return
	}
	g := &courier{d: c.d, peer: c.peer, user: c.user, route: c.route}
	if err := g.open(ctx, t); err != nil {
		return
	}
	defer g.closeStream(false)
	raw, _ := proto.Marshal(&wire.Payload{SentUnixMilli: c.d.h.Now().UnixMilli(), Kind: &wire.Payload_Presence{Presence: &wire.Presence{Status: string(api.StatusOffline)}}})
	g.exchange([]store.OutboxEntry{{ID: wire.NewID(), Peer: c.peer, Payload: raw}}, false)
}

// Typing and nudges are signals (node/presence): news of the moment for a
// contact who is reachable now. They ride the contact's courier after its
// presence, encrypted like everything else, but are never stored or mailed;
// a signal that cannot go in one delivery round is dropped.

// maxPendingSignals bounds what waits in one courier: a burst of nudges to
// an unreachable contact cannot pile up.
const maxPendingSignals = 4

// A pendingSignal is one payload of the moment (a Signal, a Call) and
// what to tell when it went, or not: done gets the device the courier
// reached (its last one when it reached none) and nil, or why it failed.
// done must not block: the courier's round calls it.
type pendingSignal struct {
	payload *wire.Payload // its time is set when it goes
	done    func(device peer.ID, err error)
}

func (sg pendingSignal) finish(device peer.ID, err error) {
	if errors.Is(err, errNoRoute) {
		err = fmt.Errorf("%w: %v", api.ErrUnreachable, err)
	}
	sg.done(device, err)
}

// signal queues a signal for the contact; false when too many wait.
func (c *courier) signal(sg pendingSignal) bool {
	c.mu <- struct{}{}
	if len(c.signals) >= maxPendingSignals {
		<-c.mu
		return false
	}
	c.signals = append(c.signals, sg)
	<-c.mu
	c.poke()
	return true
}
