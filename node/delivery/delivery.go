// Package delivery carries payloads between our node and our contacts'
// nodes: the message protocol that receives them, the couriers that send
// them, and the mailboxes that hold them while a contact is away.
//
// The message protocol, /eserver/msg/1.0.0 (wire.ProtoMsg), in the seed's
// layers, and where each stage lives:
//
//	listen          pipeline.Listener (Start): deadline, tracking, reset
//	                on error; serveMsg serves what it admits
//	authentication  Hello: the peer's ticket passes the Authenticator
//	                and its device the account check against the list
//	                its account signed (verifyHello, Host.AdmitDevice);
//	                mail: the same checks, the ticket's at the time the
//	                mail was left (openMail)
//	security        the envelope is opened by the end-to-end scheme
//	                (Sealer.Open, in open)
//	process         Host.Process: the node dispatches the payload to the
//	                component that registered its kind, under the contact
//	                list's lock — delivery knows nothing of contacts
//	output          an Ack, written only after the store committed
//
// The initiator of a stream is the sender; the responder only acks.
//
// Outbound, one courier per route (a contact's account, or one device of
// a contact whose list names several: route.go) sends the durable outbox
// in order (Enqueue, Deliver), then the latest presence and the signals of
// the moment (SendPresence, Signal), directly over a message stream when
// the device can be reached, else into the mailboxes at the contact's
// home supernodes. Chat messages, conversation events, presence and
// signals go to every device of a contact we know, and what we send to
// our other devices as well (enqueueDevices, expand). The mail drain (DrainMail) runs the inbound stages
// on what others left in ours, in each sender's order across homes, and
// answers with receipts (or, for mail sealed in a session we lost, with a
// request to send it again): the Receipt and ResendRequest payload kinds
// are this package's (Kinds).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/task"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// goodbyeWait bounds Goodbye: signing out must not wait for a contact that
// does not answer.
const goodbyeWait = 2 * time.Second

// Host is what delivery needs from the node beyond its Sealer, Router and
// Authenticator.
type Host interface {
	// Libp2p is the node's host: message streams and mailbox calls.
	Libp2p() host.Host
	// Store is the account's database: the outbox, the history, the
	// contacts' records and settings.
	Store() *store.Store
	// Ticket is our current ticket.
	Ticket() *ticket.Ticket
	// Now is the session's clock.
	Now() time.Time
	// Log is the node's logger.
	Log() *slog.Logger
	// Emit tells the front ends.
	Emit(e api.Event)
	// Message is a stored message as the front ends see it.
	Message(m store.Message) api.Message
	// Process is the process stage: it applies payload p with ID id from
	// the holder of ticket t, by the component that registered its kind,
	// if the sender's relation allows. backlog is not nil for mail: a chat
	// message is appended to *backlog for the caller to store with the rest
	// of the drain, rather than stored now, and the sender's device is not
	// taken as the contact's current one. order is the sending device's
	// outbox position of the envelope (0: not said). Its error is the
	// sender's Ack.
	Process(t *ticket.Ticket, id string, order uint64, p *wire.Payload, backlog *[]store.Message) error
	// ProcessDirect is Process for an envelope that came on the sender's
	// own stream (the device it came from is noted), with a chat message
	// appended to *batch for the caller to store with the rest of the
	// frames read together, in one transaction before their acks.
	ProcessDirect(t *ticket.Ticket, id string, order uint64, p *wire.Payload, batch *[]store.Message) error
	// Accepted reports whether username is our accepted contact.
	Accepted(username string) bool
	// Devices is our account's device list signed by its identity, to
	// present with our ticket (nil while we hold none).
	Devices() *wire.SignedAccountDevices
	// Fanout is where a chat message to username goes: theirs, the
	// devices of username's newest list we know (nil: we know none, and
	// it goes to whichever device answers), and ours, the devices of our
	// own list but this one, which get a copy.
	Fanout(username string) (theirs, ours []ticket.Device)
	// DeviceTicket is what we know of device p of username's to seal
	// mail to it: from its list (its box key) or its last ticket; false
	// when we know no box key of it.
	DeviceTicket(username string, p peer.ID) (*ticket.Ticket, bool)
	// AdmitDevice is the account check after the ticket check: the
	// device of t must be one its account lists (node/account.Admit),
	// judged with the list it presented (nil: none).
	AdmitDevice(t *ticket.Ticket, presented *wire.SignedAccountDevices) error
}

// Sealer is the end-to-end layer (node/keys): sessions with the contacts'
// devices, the envelopes sealed in them, and the anonymous outer layer of
// mail.
type Sealer interface {
	// Ensure makes sure a session with t's device exists, starting one
	// from its prekey bundle when needed.
	Ensure(ctx context.Context, t *ticket.Ticket) error
	// Seal seals each entry for t's device, in order.
	Seal(to *ticket.Ticket, entries []store.OutboxEntry) ([]*wire.Envelope, error)
	// Open opens an envelope from t's device; payload.ErrSessionReset
	// when no session of ours opens it, ratchet.ErrDuplicate for one
	// opened before.
	Open(t *ticket.Ticket, env *wire.Envelope) ([]byte, error)
	// OpenDirect is Open leaving the session's new state to Persist.
	OpenDirect(t *ticket.Ticket, env *wire.Envelope) ([]byte, error)
	// Persist submits ops with the new state of the sessions with the
	// devices ps, in one transaction.
	Persist(ps []peer.ID, ops ...store.Op) (*store.Pending, error)
	// Queue seals the outbox entry e for device to when a session with it
	// exists, and submits op (which stores e) with the session's state.
	Queue(to peer.ID, e *store.OutboxEntry, op store.Op) (*store.Pending, error)
	// Current reports whether session id with device p is still ours, so
	// that an envelope sealed in it when queued may go as it is.
	Current(p peer.ID, id []byte) bool
	// Reset drops our session with device p.
	Reset(p peer.ID) error
	// OpenAnonymous opens a mailbox item's outer layer.
	OpenAnonymous(item []byte) ([]byte, error)
}

// Router finds contacts' devices and homes (node/discovery).
type Router interface {
	// Resolve is username's current ticket and addresses; refresh asks
	// the rendezvous again.
	Resolve(ctx context.Context, username string, refresh bool) (*ticket.Ticket, error)
	// ResolveDevice is Resolve for one device of username's.
	ResolveDevice(ctx context.Context, username string, device peer.ID, refresh bool) (*ticket.Ticket, error)
	// HomesOf are username's home supernodes.
	HomesOf(username string) []peer.AddrInfo
	// Connect connects to a home.
	Connect(ctx context.Context, home peer.AddrInfo) error
	// HasMailboxes reports whether any supernode keeps mailboxes.
	HasMailboxes() bool
	// MailHomes are where our mail may wait: our homes and the next few
	// supernodes after them, where senders who saw our homes down left
	// it, and the first few of every supernode we know or knew lately,
	// where senders whose list differs from ours left it; none while no
	// supernode is known.
	MailHomes() []peer.AddrInfo
	// IsMailHome reports whether p is one of MailHomes.
	IsMailHome(p peer.ID) bool
}

// Authenticator is the authenticate stage (pipeline.Authenticator).
type Authenticator interface {
	// Authenticate checks a ticket shown by remote now.
	Authenticate(remote peer.ID, st *wire.SignedTicket) (*ticket.Ticket, error)
	// AuthenticateAt checks a ticket as it was at a past moment.
	AuthenticateAt(st *wire.SignedTicket, at time.Time) (*ticket.Ticket, error)
}

// Delivery is the capability for one session. Make it with New, register
// its Kinds, Start it when the session runs and Close it when it ends.
// Couriers run from the first Enqueue on; Start adds the message protocol,
// mail notifications and the mail loop.
type Delivery struct {
	h        Host
	keys     Sealer
	route    Router
	auth     Authenticator
	retryMax time.Duration // the longest back-off of a courier
	tasks    *task.Group   // couriers, inbound streams, the mail loop
	stop     func() bool   // detaches Start's context
	// listen is the listen stage of the message protocol and of mail
	// notifications (set by Start): it tracks the inbound streams, resets
	// them and waits for their handlers at Close.
	listen *pipeline.Listener
	// inbound bounds the bytes of inbound message frames held at once, over
	// every peer (wire.MsgBudget).
	inbound *pipeline.Budget

	rec recorder // acknowledged entries, their removal queued (record.go)

	mu       sync.Mutex
	couriers map[string]*courier
	acks     map[string]chan struct{}    // outbox entries someone waits to see acknowledged
	live     map[network.Stream]struct{} // couriers' open streams, reset by Close

	mail mailState
}

// New returns the capability on h, sealing with keys, finding contacts
// with route and checking tickets with auth. retryMax caps the back-off
// between delivery attempts to an unreachable contact.
func New(h Host, keys Sealer, route Router, auth Authenticator, retryMax time.Duration) *Delivery {
	d := &Delivery{h: h, keys: keys, route: route, auth: auth, retryMax: retryMax,
		tasks: task.New(context.Background()), stop: func() bool { return false },
		couriers: map[string]*courier{}, acks: map[string]chan struct{}{}, live: map[network.Stream]struct{}{},
		mail:    mailState{kick: make(chan struct{}, 1)},
		inbound: pipeline.NewServiceBudget(wire.MsgBudget, wire.MaxMsgFrame),
		rec:     newRecorder()}
	d.tasks.Go(d.recordLoop)
	return d
}

// Start serves the message protocol and mail notifications, looks in our
// mailboxes every mailPoll and when told, and wakes the couriers of every
// contact with something queued from an earlier run. Everything stops
// when ctx ends or at Close.
func (d *Delivery) Start(ctx context.Context) {
	d.stop = context.AfterFunc(ctx, d.tasks.Cancel)
	h := d.h.Libp2p()
	d.listen = pipeline.NewListener(d.h.Log())
	d.listen.Handle(h, wire.ProtoMsg, wire.MsgWriteTimeout, d.serveMsg)
	d.listen.Handle(h, wire.ProtoMailNotify, wire.MsgWriteTimeout, d.serveMailNotify)
	d.tasks.Go(d.mailLoop)
	if peers, err := d.h.Store().OutboxPeers(); err == nil {
		for _, p := range peers {
			d.Poke(p)
		}
	}
}

// Close stops serving, resets the message streams still open and waits
// for every goroutine: couriers, inbound streams, the mail loop.
func (d *Delivery) Close() {
	d.stop()
	d.tasks.Cancel()
	if d.listen != nil {
		d.listen.Close() // removes the handlers, resets inbound streams, waits
	}
	d.mu.Lock()
	for st := range d.live {
		st.Reset()
	}
	d.live = nil
	d.mu.Unlock()
	d.tasks.Close()
}

// hold notes an open message stream for Close to reset; false (the
// stream is reset) once Close has begun.
func (d *Delivery) hold(st network.Stream) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live == nil {
		st.Reset()
		return false
	}
	d.live[st] = struct{}{}
	return true
}

// release forgets a stream hold noted.
func (d *Delivery) release(st network.Stream) {
	d.mu.Lock()
	delete(d.live, st)
	d.mu.Unlock()
}

// Kinds are the payload kinds delivery handles: receipts for mailed
// messages, and requests to send again what a lost session sealed.
func (d *Delivery) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_Receipt)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error { return d.receiveReceipt(in.From(), in.Payload.GetReceipt()) }},
		{Of: (*wire.Payload_ResendRequest)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error {
				return d.receiveResendRequest(in.From(), in.Ticket.Peer, in.Payload.GetResendRequest())
			}},
	}
}

// Enqueue stores p (and the chat message m, if any, in the history) in the
// durable outbox for username and wakes that contact's courier: it is
// delivered in order, directly or through the contact's mailboxes, however
// long that takes.
func (d *Delivery) Enqueue(username string, p *wire.Payload, m *store.Message) error {
	id := wire.NewID()
	if m != nil {
		id = m.ID
		if theirs, ours := d.h.Fanout(username); len(theirs) > 1 || len(ours) > 0 {
			return d.enqueueDevices(username, p, m, theirs, ours)
		}
	}
	return d.enqueue(username, store.OutboxEntry{ID: id}, p, m)
}

// Deliver queues p for username and waits until the contact's node
// acknowledged it; when ctx ends first, p stays queued.
func (d *Delivery) Deliver(ctx context.Context, username string, p *wire.Payload) error {
	id := wire.NewID()
	acked := d.waitAck(id)
	defer d.forgetAck(id)
	if err := d.enqueue(username, store.OutboxEntry{ID: id}, p, nil); err != nil {
		return err
	}
	select {
	case <-acked:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue stores p as the outbox entry e (its ID and flags set) for
// username, with m, and wakes the contact's courier.
func (d *Delivery) enqueue(username string, e store.OutboxEntry, p *wire.Payload, m *store.Message) error {
	now := d.h.Now()
	p.SentUnixMilli = now.UnixMilli()
	raw, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding payload: %w", err)
	}
	e.Peer, e.Payload, e.Created = username, raw, now
	op, err := d.h.Store().EnqueueOp(m, &e)
	if err != nil {
		return fmt.Errorf("queueing for %s: %w", username, err)
	}
	// Sealed now, for the device the courier last reached, in the
	// transaction that stores it: the courier sends it without another
	// write. Concurrent sends share the commit.
	c := d.courierFor(username)
	if m != nil {
		d.rec.queuedChat(e.ID) // before the courier can see it
	}
	pend, err := d.keys.Queue(c.lastDevice(), &e, op)
	if err == nil {
		err = pend.Wait()
	}
	if err != nil {
		d.rec.forget(e.ID)
		return fmt.Errorf("queueing for %s: %w", username, err)
	}
	c.poke()
	return nil
}

// EnqueueFanout stores one multi-party event for several members (and m,
// the message it carries, if any, in conversation conv's history) in one
// transaction, and wakes each member's courier.
func (d *Delivery) EnqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry) error {
	return d.EnqueueFanoutWith(m, conv, entries)
}

// EnqueueFanoutWith is EnqueueFanout with ops committed in the same
// transaction: a member applies an event and queues it for the others at
// once, so a kill cannot leave it applied but never passed on. Entries
// for accounts go to every device of theirs we know, and one for our own
// account to each of our other devices (expand).
func (d *Delivery) EnqueueFanoutWith(m *store.Message, conv string, entries []store.OutboxEntry, ops ...store.Op) error {
	st := d.h.Store()
	entries, copies := d.expand(entries)
	op, err := st.FanoutCopiesOp(m, conv, entries, copies)
	if err != nil {
		return err
	}
	if err := st.Commit(append(ops, op)...); err != nil {
		return fmt.Errorf("queueing in conversation %q: %w", conv, err)
	}
	for _, e := range append(entries, copies...) {
		d.Poke(e.Peer)
	}
	return nil
}

// Rehello makes every courier open a new stream for what it sends next:
// our hello changed (our account's device list), and a contact reads it
// once per stream.
func (d *Delivery) Rehello() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.couriers {
		c.rehello.Store(true)
	}
}

// Greet opens a stream to route's device now, if it is reachable, even
// with nothing to send: its hello is the news (our account's device list,
// for our own other devices). An unreachable device learns it at its next
// sign-in.
func (d *Delivery) Greet(route string) {
	c := d.courierFor(route)
	c.rehello.Store(true)
	c.greet.Store(true)
	c.poke()
}

// Poke tries delivering what waits for username now.
func (d *Delivery) Poke(username string) { d.courierFor(username).poke() }

// SendPresence puts p in the presence slot of the courier of each of
// username's routes (every device of a contact whose list names several),
// replacing what waited there: every device shows our status.
func (d *Delivery) SendPresence(username string, p *wire.Presence) {
	for _, r := range d.Routes(username) {
		d.courierFor(r).setPresence(p)
	}
}

// Signal queues a signal in the courier of each of username's routes for
// its next round; the channel gets how it went: nil as soon as one device
// took it (the person saw it, wherever), else the devices' errors joined
// (api.ErrUnreachable among them when one could not be reached). false:
// too many signals wait for every device.
func (d *Delivery) Signal(username string, kind wire.Signal_Kind) (<-chan error, bool) {
	p := &wire.Payload{Kind: &wire.Payload_Signal{Signal: &wire.Signal{Kind: kind}}}
	rs := d.Routes(username)
	if len(rs) == 1 {
		done := make(chan error, 1)
		return done, d.courierFor(rs[0]).signal(pendingSignal{payload: p, done: func(_ peer.ID, err error) { done <- err }})
	}
	// One channel for every device's result (room for all: a courier
	// never blocks finishing its signal).
	done, n := make(chan error, len(rs)), 0
	for _, r := range rs {
		if d.courierFor(r).signal(pendingSignal{payload: p, done: func(_ peer.ID, err error) { done <- err }}) {
			n++
		}
	}
	if n == 0 {
		return nil, false
	}
	out := make(chan error, 1)
	// Each courier finishes its signal within its next round; the wait
	// ends with the session's couriers.
	if !d.tasks.Go(func(ctx context.Context) { out <- firstTaken(ctx, done, n) }) {
		out <- fmt.Errorf("%w: signing out", api.ErrUnreachable)
	}
	return out, true
}

// SendNow sends p once, in the next delivery round, to username's device
// (every device when device is ""), like a signal: never stored or mailed,
// dropped when it cannot go now (voice calls ring only devices online).
// done is called once per route p was queued on, from that route's
// courier, with the device it reached (or last tried) and nil, or why it
// failed; it must not block. It returns how many routes p was queued on
// (0: none, too many signals wait).
func (d *Delivery) SendNow(username string, device peer.ID, p *wire.Payload, done func(device peer.ID, err error)) int {
	rs := d.Routes(username)
	if device != "" {
		// A list of one device (or none known) is the account's route.
		r := username
		if len(rs) > 1 || (len(rs) == 1 && rs[0] != username) {
			r = DeviceRoute(username, device)
		}
		rs = []string{r}
	}
	n := 0
	for _, r := range rs {
		if d.courierFor(r).signal(pendingSignal{payload: p, done: done}) {
			n++
		}
	}
	return n
}

// firstTaken is nil as soon as one of n results on done is, else the n
// errors joined; ctx's error if it ends first.
func firstTaken(ctx context.Context, done <-chan error, n int) error {
	var errs []error
	for range n {
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// Pending returns how many items wait in the outbox for username: neither
// delivered directly nor left in its mailboxes yet.
func (d *Delivery) Pending(username string) (int, error) {
	out, err := d.h.Store().Outbox(username)
	return len(d.rec.without(out)), err
}

// Goodbye tells the contacts we have couriers for, and which are online
// now, that we are going offline: best effort, all at once, each on a
// fresh stream of its own (the couriers are about to stop), bounded by
// goodbyeWait.
func (d *Delivery) Goodbye(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, goodbyeWait)
	defer cancel()
	d.mu.Lock()
	cs := make([]*courier, 0, len(d.couriers))
	for _, c := range d.couriers {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sayGoodbye(ctx)
		}()
	}
	wg.Wait()
}

// waitAck returns a channel closed when the contact's node acknowledges
// the outbox entry id (see courier.exchange).
func (d *Delivery) waitAck(id string) <-chan struct{} {
	ch := make(chan struct{})
	d.mu.Lock()
	d.acks[id] = ch
	d.mu.Unlock()
	return ch
}

func (d *Delivery) forgetAck(id string) {
	d.mu.Lock()
	delete(d.acks, id)
	d.mu.Unlock()
}

// acked wakes whoever waits for entry id.
func (d *Delivery) acked(id string) {
	d.mu.Lock()
	ch, ok := d.acks[id]
	delete(d.acks, id)
	d.mu.Unlock()
	if ok {
		close(ch)
	}
}

// InboundBudget is the budget inbound message frames are held under, for
// metrics and tests.
func (d *Delivery) InboundBudget() *pipeline.Budget { return d.inbound }
