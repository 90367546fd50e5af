package call

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"

	"eserver/node/api"
	"eserver/node/call/audio"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/pipeline"
)

// Host is what the capability needs from the node.
type Host interface {
	// Libp2p is the node's host, for the audio streams.
	Libp2p() host.Host
	Now() time.Time
	Log() *slog.Logger
	Emit(e api.Event)
	// Contact returns username's entry in our list (api.ErrNotContact if
	// none).
	Contact(username string) (api.Contact, error)
	// SendNow sends p once to username's device (every device when device
	// is "") if it can go now; never stored or mailed. done is called once
	// per device route tried, without blocking, with the device reached
	// and nil, or why not. It returns how many routes were tried.
	SendNow(username string, device peer.ID, p *wire.Payload, done func(device peer.ID, err error)) int
	// Record stores a history entry (the front ends learn of the call's
	// end from its CallState event).
	Record(m store.Message)
}

// Calls is the capability for one session. Make it with New, register its
// Kinds, Start it when the session runs and Close it when it ends (which
// hangs up whatever runs).
type Calls struct {
	h      Host
	listen *pipeline.Listener
	// open opens a call's audio; tests and benchmarks replace it.
	open func(api.CallAudio) (audio.Source, audio.Sink, error)

	mu sync.Mutex
	// ringFor is how long a call rings unanswered (api.CallRingTimeout;
	// tests shorten it).
	ringFor time.Duration
	trace   *Trace           // set by SetTrace, nil by default
	calls   map[string]*call // ringing or running, by ID (hex)
}

// SetRingTimeout changes how long calls ring unanswered, for tests that
// cannot wait api.CallRingTimeout.
func (c *Calls) SetRingTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ringFor = d
}

// New returns the capability on h.
func New(h Host) *Calls {
	return &Calls{h: h, listen: pipeline.NewListener(h.Log()), open: OpenAudio, ringFor: api.CallRingTimeout, calls: map[string]*call{},
		trace: defaultTrace.Load()}
}

// Kinds are the payload kinds the capability handles: a call's signalling,
// from accepted contacts only.
func (c *Calls) Kinds() []payload.Kind {
	return []payload.Kind{{Of: (*wire.Payload_Call)(nil), From: payload.Accepted, Handle: c.receive}}
}

// Start takes the audio streams of calls we placed until Close.
func (c *Calls) Start() {
	// The stream lives as long as its call: the handler sets its own
	// deadlines, frame by frame.
	c.listen.Handle(c.h.Libp2p(), protocol.ID(wire.CallProtocol), 24*time.Hour, c.serveAudio)
}

// Close hangs up every call, telling the other sides (waiting up to
// closeWait for that to go, before the session's delivery stops), and
// waits for the calls' goroutines.
func (c *Calls) Close() {
	c.mu.Lock()
	var all []*call
	for _, k := range c.calls {
		all = append(all, k)
	}
	c.mu.Unlock()
	told := make(chan struct{}, 64)
	n := 0
	for _, k := range all {
		c.end(k, api.CallReasonHungUp, false)
		n += c.h.SendNow(k.with, k.device, signal(wire.Call_HANGUP, k.id, nil, k.hangupReason(api.CallReasonHungUp)),
			func(peer.ID, error) {
				select {
				case told <- struct{}{}:
				default:
				}
			})
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for ; n > 0; n-- {
		select {
		case <-told:
		case <-deadline.C:
			n = 1
		}
	}
	c.listen.Close()
}

// closeWait bounds how long Close waits for its hang-ups to go.
const closeWait = 2 * time.Second

// call is one call ringing or running. Its fields are guarded by Calls.mu,
// but for what media owns.
type call struct {
	id       []byte
	sid      string
	with     string
	outgoing bool
	secret   []byte
	state    api.CallState
	prev     api.CallState // the state it ended in
	// device is the other side's device: the caller's (ours incoming), or
	// the one that answered (ours outgoing, once answered).
	device  peer.ID
	started time.Time // when placed or offered
	since   time.Time // when answered
	relayed bool
	audio   api.CallAudio
	muted   bool
	volume  float64     // 0..2, 1 as received
	timer   *time.Timer // ends a ringing call unanswered
	// lanes are the audio streams that came for a call we placed, by
	// lane, until all have; audioDone is closed when its audio is over
	// (or never ran), once.
	lanes     [wire.CallLanes]network.Stream
	audioDone chan struct{}
	audioOnce sync.Once
	media     *media        // the audio, once answered
	ended     chan struct{} // closed when the call ends
}

// audioOver closes audioDone, once.
func (k *call) audioOver() { k.audioOnce.Do(func() { close(k.audioDone) }) }

func (k *call) event() api.CallEvent {
	return api.CallEvent{ID: k.sid, With: k.with, Outgoing: k.outgoing, State: k.state, Relayed: k.relayed, Since: k.since}
}

// live is a call that has not ended.
func (c *Calls) live() *call {
	for _, k := range c.calls {
		return k
	}
	return nil
}

// Call rings every online device of to (api.Calls).
func (c *Calls) Call(ctx context.Context, to string, a api.CallAudio) (string, error) {
	ct, err := c.h.Contact(to)
	if err != nil {
		return "", err
	}
	if ct.Relation != api.RelationAccepted {
		return "", fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	if ct.Status == api.StatusOffline || ct.Status == "" {
		return "", api.Mark(api.ErrOffline, fmt.Errorf("%s is offline", to))
	}
	if err := checkAudio(a); err != nil {
		return "", err
	}
	k := &call{id: make([]byte, wire.CallIDSize), secret: make([]byte, wire.CallKeySize), with: to, outgoing: true,
		state: api.CallCalling, started: c.h.Now(), audio: a, volume: 1, ended: make(chan struct{}), audioDone: make(chan struct{})}
	rand.Read(k.id)
	rand.Read(k.secret)
	k.sid = hex.EncodeToString(k.id)
	c.mu.Lock()
	if c.live() != nil {
		c.mu.Unlock()
		return "", api.ErrBusy
	}
	c.calls[k.sid] = k
	k.timer = time.AfterFunc(c.ringFor, func() { c.unanswered(k) })
	c.mu.Unlock()
	c.emit(k)

	// Ring every device; the call is over at once when none can be
	// reached (the contact showed online, but is gone).
	var mu sync.Mutex
	left, reached := 0, false
	done := func(_ peer.ID, err error) {
		mu.Lock()
		defer mu.Unlock()
		left--
		reached = reached || err == nil
		if left == 0 && !reached {
			c.listen.Go(func(context.Context) { c.end(k, api.CallReasonOffline, false) })
		}
	}
	mu.Lock()
	left = c.h.SendNow(to, "", signal(wire.Call_OFFER, k.id, k.secret, ""), done)
	n := left
	mu.Unlock()
	if n == 0 {
		c.end(k, api.CallReasonFailed, false)
		return "", fmt.Errorf("%w: too many signals wait for %s", api.ErrRateLimited, to)
	}
	return k.sid, nil
}

// checkAudio refuses audio files that cannot be opened before anything
// rings.
func checkAudio(a api.CallAudio) error {
	if a.InFile == "" {
		return nil
	}
	src, err := audio.OpenFileSource(a.InFile)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return src.Close()
}

// unanswered ends a call still ringing when its time is up; the caller
// tells the devices it rang (the callee's own timer runs a little longer,
// so the caller's word comes first).
func (c *Calls) unanswered(k *call) {
	c.mu.Lock()
	ringing := k.state == api.CallCalling || k.state == api.CallRinging || k.state == api.CallIncoming
	c.mu.Unlock()
	if ringing {
		c.end(k, api.CallReasonMissed, k.outgoing)
	}
}

// AnswerCall answers an incoming call (api.Calls): we tell the caller's
// device, and once it took that, open the audio stream to it.
func (c *Calls) AnswerCall(ctx context.Context, id string, a api.CallAudio) error {
	if err := checkAudio(a); err != nil {
		return err
	}
	c.mu.Lock()
	k := c.calls[id]
	if k == nil || k.outgoing || k.state != api.CallIncoming {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", api.ErrNoSuchCall, id)
	}
	k.state, k.audio = api.CallRinging, a // answering: no second answer
	k.timer.Stop()
	c.mu.Unlock()

	taken := make(chan error, 1)
	if c.h.SendNow(k.with, k.device, signal(wire.Call_ACCEPT, k.id, nil, ""), func(_ peer.ID, err error) { taken <- err }) == 0 {
		taken <- errors.New("too many signals wait")
	}
	var err error
	select {
	case err = <-taken:
	case <-ctx.Done():
		err = ctx.Err()
	case <-k.ended:
		return fmt.Errorf("%w: %s ended", api.ErrNoSuchCall, id)
	}
	if err != nil {
		c.end(k, api.CallReasonFailed, false)
		return fmt.Errorf("%w: answering %s: %v", api.ErrUnreachable, k.with, err)
	}
	octx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "call"), wire.CallOpenTimeout)
	defer cancel()
	lanes := make([]network.Stream, 0, wire.CallLanes)
	for i := range wire.CallLanes {
		st, err := openAudio(octx, c.h.Libp2p(), k.device)
		if err == nil {
			st.SetDeadline(time.Now().Add(wire.CallOpenTimeout))
			if _, err = st.Write(append(slices.Clone(k.id), byte(i))); err != nil {
				st.Reset()
			}
		}
		if err != nil {
			resetAll(lanes)
			c.end(k, api.CallReasonFailed, true)
			return fmt.Errorf("%w: audio stream to %s: %v", api.ErrUnreachable, k.with, err)
		}
		lanes = append(lanes, st)
	}
	if !c.listen.Go(func(ctx context.Context) { c.run(ctx, k, lanes) }) {
		resetAll(lanes)
		return api.ErrNotLoggedIn
	}
	return nil
}

// resetAll resets every stream of sts.
func resetAll(sts []network.Stream) {
	for _, st := range sts {
		st.Reset()
	}
}

// openAudio opens the audio stream to p over the connection the two
// already have, preferring a direct QUIC one when there is one: libp2p
// would pick any direct connection, and over TCP a packet lost for a file
// transfer on the same connection holds up the call's frames behind it
// (QUIC's streams are independent; yamux over TCP is one byte stream).
// When the two are connected only through a relay (the message channel
// may have reached p that way first), a direct connection is tried for up
// to directWait before the call settles for the relay.
func openAudio(ctx context.Context, h host.Host, p peer.ID) (network.Stream, error) {
	pid := protocol.ID(wire.CallProtocol)
	if !slices.ContainsFunc(h.Network().ConnsToPeer(p), direct) {
		dctx, cancel := context.WithTimeout(ctx, directWait)
		_ = h.Connect(network.WithForceDirectDial(dctx, "call"), peer.AddrInfo{ID: p}) // the relay still carries it if this fails
		cancel()
	}
	for _, conn := range h.Network().ConnsToPeer(p) {
		if !direct(conn) || !isQUIC(conn) {
			continue
		}
		st, err := conn.NewStream(ctx)
		if err != nil {
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			st.SetDeadline(dl)
		}
		if err := multistream.SelectProtoOrFail(pid, st); err != nil {
			st.Reset()
			continue
		}
		st.SetProtocol(pid)
		return st, nil
	}
	return h.NewStream(ctx, p, pid)
}

// directWait bounds the try for a direct connection before a call goes
// through a relay: a hole punch or a dial to a reachable peer on the same
// network takes milliseconds; a peer behind a NAT fails fast or not at all.
const directWait = 2 * time.Second

// direct reports whether conn reaches its peer without a relay.
func direct(conn network.Conn) bool { return !conn.Stat().Limited && !isCircuit(conn) }

// serveAudio takes the audio stream of a call we placed, from the device
// whose answer we accepted — nobody else's.
//
// The call has wire.CallLanes streams, each naming its lane after the
// call's ID; the handler of the last to come runs the call, the others
// keep their streams open until it is over (the listener closes a stream
// when its handler returns).
func (c *Calls) serveAudio(ctx context.Context, st network.Stream) error {
	hello := make([]byte, wire.CallIDSize+1)
	st.SetDeadline(time.Now().Add(wire.CallOpenTimeout))
	if _, err := io.ReadFull(st, hello); err != nil {
		return fmt.Errorf("reading the call's ID: %w", err)
	}
	id, lane := hello[:wire.CallIDSize], int(hello[wire.CallIDSize])
	remote := st.Conn().RemotePeer()
	c.mu.Lock()
	k := c.calls[hex.EncodeToString(id)]
	ok := k != nil && k.outgoing && k.state == api.CallRinging && k.device == remote && k.media == nil &&
		lane < wire.CallLanes && k.lanes[lane] == nil
	var all []network.Stream
	if ok {
		k.lanes[lane] = st
		if !slices.Contains(k.lanes[:], nil) {
			all = slices.Clone(k.lanes[:])
		}
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("an audio stream from %s for no call it answered (or a lane twice)", remote)
	}
	if all == nil {
		select {
		case <-k.audioDone:
		case <-ctx.Done():
		}
		return nil
	}
	c.run(ctx, k, all)
	return nil
}

// run plays the call's audio on its lanes until it ends.
func (c *Calls) run(ctx context.Context, k *call, lanes []network.Stream) {
	defer k.audioOver()
	src, sink, err := c.open(k.audio)
	if err != nil {
		c.h.Log().Warn("opening the call's audio", "err", err)
		resetAll(lanes)
		c.end(k, api.CallReasonFailed, true)
		return
	}
	keys, err := DeriveKeys(k.secret, k.id, k.outgoing)
	if err != nil {
		resetAll(lanes)
		c.end(k, api.CallReasonFailed, true)
		return
	}
	st := lanes[0]
	remote := st.Conn().RemotePeer()
	m := newMedia(lanes, keys, src, sink, c.h.Now, func() time.Duration { return c.h.Libp2p().Peerstore().LatencyEWMA(remote) })
	c.mu.Lock()
	if c.trace != nil {
		m.trace = *c.trace
	}
	if k.state != api.CallRinging {
		c.mu.Unlock()
		m.close()
		resetAll(lanes)
		return
	}
	k.media, k.state, k.since = m, api.CallActive, c.h.Now()
	m.mute(k.muted)
	m.setVolume(k.volume)
	k.relayed = st.Conn().Stat().Limited || isCircuit(st.Conn())
	c.mu.Unlock()
	if m.trace.Keyed != nil {
		m.trace.Keyed(k.sid, k.secret)
	}
	c.emit(k)
	reason := m.run(ctx, k.sid, c.h, func() bool { return k.relayed })
	js := m.jitter.Stats() // the loops are done: nobody else holds it
	c.h.Log().Info("call audio ended", "call", k.sid, "with", k.with, "reason", reason, "relayed", k.relayed,
		"played", js.Played, "concealed", js.Concealed, "rebuilt", js.Recovered, "late", js.Late, "delay", js.Delay,
		"sent", m.sent.Load(), "forged", m.forged.Load())
	c.end(k, reason, reason != api.CallReasonTheyHung)
}

// receive handles a contact's signalling.
func (c *Calls) receive(in *payload.Inbound) error {
	s := in.Payload.GetCall()
	if len(s.Id) != wire.CallIDSize || len(s.Reason) > wire.MaxCallReason {
		return payload.ErrBadRequest
	}
	from, device, sid := in.From(), in.Ticket.Peer, hex.EncodeToString(s.Id)
	if s.Kind == wire.Call_OFFER {
		return c.offered(in, s, sid)
	}
	c.mu.Lock()
	k := c.calls[sid]
	if k == nil || k.with != from {
		c.mu.Unlock()
		return nil // over already, or never ours: nothing to do
	}
	// Only the device that answered (or the caller's device) speaks for
	// the call once it is answered; before that, any of the callee's.
	if k.device != "" && k.device != device {
		c.mu.Unlock()
		return nil
	}
	var reason string
	switch s.Kind {
	case wire.Call_RINGING:
		if k.outgoing && k.state == api.CallCalling {
			k.state = api.CallRinging
			c.mu.Unlock()
			c.emit(k)
			return nil
		}
	case wire.Call_ACCEPT:
		if k.outgoing && k.device == "" && (k.state == api.CallCalling || k.state == api.CallRinging) {
			// This device answered: the audio stream comes from it; the
			// others stop ringing.
			k.device, k.state = device, api.CallRinging
			k.timer.Stop()
			k.timer = time.AfterFunc(wire.CallOpenTimeout+2*time.Second, func() { c.notConnected(k) })
			c.mu.Unlock()
			// Every device of theirs, not only those whose ringing we
			// heard of: a device's acknowledgement of the offer may come
			// after another device's answer (TestCallRingsEveryDevice
			// saw it under load), and it would ring on. The device that
			// answered ignores it (it no longer rings).
			c.h.SendNow(k.with, "", signal(wire.Call_HANGUP, k.id, nil, api.CallReasonElsewhere), func(peer.ID, error) {})
			return nil
		}
	case wire.Call_DECLINE:
		reason = api.CallReasonDeclined
	case wire.Call_BUSY:
		reason = api.CallReasonBusy
	case wire.Call_HANGUP:
		reason = api.CallReasonTheyHung
		switch {
		case s.Reason == api.CallReasonElsewhere && (k.outgoing || k.state != api.CallIncoming):
			reason = "" // only a device still ringing was answered elsewhere
		case !k.outgoing && k.state == api.CallIncoming && s.Reason == api.CallReasonElsewhere:
			reason = api.CallReasonElsewhere
		case !k.outgoing && k.state == api.CallIncoming:
			reason = api.CallReasonMissed // the caller gave up
		}
	}
	c.mu.Unlock()
	switch {
	case reason != "" && s.Kind == wire.Call_HANGUP:
		c.end(k, reason, false)
	case reason != "" && k.outgoing:
		// Declined or busy at one device: the others stop ringing.
		c.end(k, reason, true)
	}
	return nil
}

// notConnected ends an answered call whose audio stream never came.
func (c *Calls) notConnected(k *call) {
	c.mu.Lock()
	stuck := k.media == nil && k.state == api.CallRinging
	c.mu.Unlock()
	if stuck {
		c.end(k, api.CallReasonFailed, true)
	}
}

// offered rings here for a contact's offer, or answers busy.
func (c *Calls) offered(in *payload.Inbound, s *wire.Call, sid string) error {
	if len(s.Secret) != wire.CallKeySize {
		return payload.ErrBadRequest
	}
	from, device, now := in.From(), in.Ticket.Peer, c.h.Now()
	if sent := time.UnixMilli(in.Payload.SentUnixMilli); now.Sub(sent) > wire.CallOfferTTL {
		return nil // a stale offer rings nothing
	}
	k := &call{id: s.Id, sid: sid, with: from, secret: s.Secret, device: device, state: api.CallIncoming,
		started: now, volume: 1, ended: make(chan struct{}), audioDone: make(chan struct{})}
	c.mu.Lock()
	if old := c.calls[sid]; old != nil {
		c.mu.Unlock()
		return nil // the same offer twice
	}
	if c.live() != nil {
		c.mu.Unlock()
		c.h.SendNow(from, device, signal(wire.Call_BUSY, s.Id, nil, ""), func(peer.ID, error) {})
		c.h.Record(store.Message{ID: sid, Peer: from, Kind: store.EntryCall, Time: now,
			Call: &store.CallEntry{Reason: api.CallReasonBusy}})
		return nil
	}
	c.calls[sid] = k
	k.timer = time.AfterFunc(c.ringFor+c.ringFor/8, func() { c.unanswered(k) })
	c.mu.Unlock()
	c.h.Emit(api.Event{CallIncoming: &api.IncomingCall{ID: sid, From: from}})
	c.emit(k)
	c.h.SendNow(from, device, signal(wire.Call_RINGING, s.Id, nil, ""), func(peer.ID, error) {})
	return nil
}

// DeclineCall refuses an incoming call (api.Calls).
func (c *Calls) DeclineCall(ctx context.Context, id string) error {
	c.mu.Lock()
	k := c.calls[id]
	ok := k != nil && !k.outgoing && k.state == api.CallIncoming
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrNoSuchCall, id)
	}
	c.h.SendNow(k.with, k.device, signal(wire.Call_DECLINE, k.id, nil, ""), func(peer.ID, error) {})
	c.end(k, api.CallReasonDeclined, false)
	return nil
}

// HangUp ends a call ringing or running (api.Calls).
func (c *Calls) HangUp(ctx context.Context, id string) error {
	c.mu.Lock()
	k := c.calls[id]
	c.mu.Unlock()
	if k == nil {
		return fmt.Errorf("%w: %s", api.ErrNoSuchCall, id)
	}
	if !k.outgoing && k.state == api.CallIncoming {
		return c.DeclineCall(ctx, id)
	}
	c.end(k, api.CallReasonHungUp, true)
	return nil
}

// MuteCall stops or resumes sending our voice (api.Calls).
func (c *Calls) MuteCall(ctx context.Context, id string, muted bool) error {
	return c.withCall(id, func(k *call) {
		k.muted = muted
		if k.media != nil {
			k.media.mute(muted)
		}
	})
}

// SetCallVolume scales what we hear (api.Calls).
func (c *Calls) SetCallVolume(ctx context.Context, id string, volume float64) error {
	if !(volume >= 0 && volume <= 2) {
		return fmt.Errorf("%w: volume %v is not within 0..2", api.ErrBadRequest, volume)
	}
	return c.withCall(id, func(k *call) {
		k.volume = volume
		if k.media != nil {
			k.media.setVolume(volume)
		}
	})
}

// withCall runs f on call id under the lock.
func (c *Calls) withCall(id string, f func(k *call)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.calls[id]
	if k == nil {
		return fmt.Errorf("%w: %s", api.ErrNoSuchCall, id)
	}
	f(k)
	return nil
}

// ActiveCalls lists the calls ringing or running (api.Calls).
func (c *Calls) ActiveCalls(ctx context.Context) ([]api.CallEvent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]api.CallEvent, 0, len(c.calls))
	for _, k := range c.calls {
		out = append(out, k.event())
	}
	return out, nil
}

// end ends k once: it stops its audio, tells the other side when tell is
// set (best effort), records it in history and tells the front ends.
func (c *Calls) end(k *call, reason string, tell bool) {
	c.mu.Lock()
	if c.calls[k.sid] != k {
		c.mu.Unlock()
		return
	}
	delete(c.calls, k.sid)
	if k.timer != nil {
		k.timer.Stop()
	}
	m := k.media
	k.prev, k.state = k.state, api.CallEnded
	close(k.ended)
	c.mu.Unlock()
	if m == nil {
		k.audioOver() // lanes that came wait for nothing more
	}
	if m != nil {
		m.hangUp(reason == api.CallReasonHungUp)
	}
	if tell {
		c.h.SendNow(k.with, k.device, signal(wire.Call_HANGUP, k.id, nil, k.hangupReason(reason)), func(peer.ID, error) {})
	}
	// In history before the event: a front end that reads the history
	// when the call ends finds it there.
	if reason != api.CallReasonElsewhere { // the device that answered keeps it
		dur := 0
		if !k.since.IsZero() {
			dur = int(c.h.Now().Sub(k.since).Round(time.Second) / time.Second)
		}
		c.h.Record(store.Message{ID: k.sid, Peer: k.with, Outgoing: k.outgoing, Kind: store.EntryCall, Time: k.started,
			Call: &store.CallEntry{Reason: reason, Duration: dur}})
	}
	ev := k.event()
	ev.Reason = reason
	c.h.Emit(api.Event{CallState: &ev})
}

// hangupReason is what a hang-up tells the other side when we end k for
// reason.
func (k *call) hangupReason(reason string) string {
	if k.outgoing && k.prev != api.CallActive {
		switch reason {
		case api.CallReasonHungUp, api.CallReasonMissed:
			return api.CallReasonMissed // the caller gave up: a missed call there
		case api.CallReasonDeclined, api.CallReasonBusy:
			return api.CallReasonElsewhere // another of their devices said so
		}
	}
	return reason
}

// emit tells the front ends where k stands.
func (c *Calls) emit(k *call) {
	c.mu.Lock()
	ev := k.event()
	c.mu.Unlock()
	c.h.Emit(api.Event{CallState: &ev})
}

// signal is a Call payload.
func signal(kind wire.Call_Kind, id, secret []byte, reason string) *wire.Payload {
	return &wire.Payload{Kind: &wire.Payload_Call{Call: &wire.Call{Kind: kind, Id: id, Secret: secret, Reason: reason}}}
}
