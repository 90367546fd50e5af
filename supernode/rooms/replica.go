package rooms

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Replication among a room's homes (docs/ROOMS.md, "Replication and
// failover"). A room's homes are the first wire.Homes supernodes in
// rendezvous order of its name (client.RoomHomes) among the live ones the
// registry lists and this one; its primary is the first of them this home
// does not take for dead. The primary sequences the room's ops and gives
// each message its position in the room's one message order; every other
// home forwards its members' ops and messages to it, and the primary
// passes each sequenced item on to the other homes, which verify it again
// and pass it to the members joined there.

// replication is the service's view of its peers and of the rooms it acts
// as primary of.
type replication struct {
	mu      sync.Mutex
	host    host.Host // the host Attach served on: home-to-home calls go out of it
	known   []peer.ID // the registry's live supernodes
	down    map[peer.ID]time.Time
	suspect map[peer.ID]suspicion // homes that did not answer their last calls, not (yet) taken for dead
	primary map[string]caughtUp   // rooms this home sequences, and when and with whom it last caught up
	kick    chan struct{}         // a refresh now
	stop    context.CancelFunc
	ctx     context.Context // ended by stop: the replication's goroutines run under it
	wg      sync.WaitGroup
	synced  string // the last room the anti-entropy compared (sync)
	// gaps counts replicated messages that arrived past a gap, each
	// costing a read of the messages missed from the sender: a shipping
	// order that holds keeps it at zero.
	gaps atomic.Int64
	// forwardTimeout, if set, replaces wire.RoomForwardTimeout, and
	// delay, if set, runs before every forward this home takes as a
	// primary: tests make a slow primary with them.
	forwardTimeout time.Duration
	delay          func(context.Context)
}

// caughtUp is when a primary last caught up with its room's other homes,
// and the live homes it did so with: a home taken for dead since, or live
// again since, makes it catch up again before its next item (a home
// coming back may hold messages it acknowledged alone meanwhile).
type caughtUp struct {
	at   time.Time
	with []peer.ID
}

// suspicion is a home's calls in a row that it did not answer: how many,
// and when the first and the last of them failed.
type suspicion struct {
	fails       int
	since, last time.Time
}

// fail counts one more call without an answer, at now, and reports whether
// the home is now to be taken for dead: wire.RoomHomeFailures of them, the
// first at least wire.RoomHomeSuspect ago. Calls timing out together in
// one stall of a busy home do not make it dead; a home that stays silent
// does. A count whose last failure is older than wire.RoomHomeDown starts
// again: an old stall says nothing about the home now.
func (sp *suspicion) fail(now time.Time) bool {
	if sp.fails == 0 || now.Sub(sp.last) > wire.RoomHomeDown {
		sp.fails, sp.since = 0, now
	}
	sp.fails++
	sp.last = now
	return sp.fails >= wire.RoomHomeFailures && now.Sub(sp.since) >= wire.RoomHomeSuspect
}

// SetSupernodes sets the live supernodes the room's homes are chosen
// among (the registry's list, with their addresses); this home is one of
// them whether listed or not. An empty list makes this home every room's
// only home.
// It reports whether the set of supernodes changed.
func (s *Service) SetSupernodes(sns []peer.AddrInfo) bool {
	r := &s.repl
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]peer.ID, 0, len(sns))
	for _, sn := range sns {
		ids = append(ids, sn.ID)
		if r.host != nil && sn.ID != r.host.ID() && len(sn.Addrs) > 0 {
			r.host.Peerstore().AddAddrs(sn.ID, sn.Addrs, peerstore.AddressTTL)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	changed := !slices.Equal(ids, r.known)
	r.known = ids
	return changed
}

// refresh reads the registry's list until ctx ends: every
// wire.RoomHomesRefreshFast while it changed within wire.RoomHomesSettle
// or does not list this supernode yet (at start, and as supernodes come
// and go), every wire.RoomHomesRefresh once it is stable; and at once when
// kicked (a home's request or answer showed the lists disagree).
func (s *Service) refresh(ctx context.Context) {
	changed := time.Now()
	for {
		lctx, cancel := context.WithTimeout(ctx, wire.RoomTimeout)
		sns, err := s.cfg.Supernodes(lctx)
		cancel()
		self := s.self()
		switch {
		case err != nil:
			s.log.Debug("listing the supernodes", "err", err)
			changed = time.Now() // not known yet: ask again soon
		case s.SetSupernodes(sns):
			changed = time.Now()
			s.log.Debug("the live supernodes changed", "count", len(sns))
		case !slices.ContainsFunc(sns, func(ai peer.AddrInfo) bool { return ai.ID == self }):
			changed = time.Now() // not listed yet: the others do not count us
		}
		// At most one list a wire.RoomHomesRefreshFast, kicked or not:
		// the registry is not asked at a peer's pace.
		select {
		case <-ctx.Done():
			return
		case <-time.After(wire.RoomHomesRefreshFast):
		}
		if time.Since(changed) < wire.RoomHomesSettle {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.repl.kick:
		case <-time.After(wire.RoomHomesRefresh - wire.RoomHomesRefreshFast):
		}
	}
}

// kick asks the refresher to read the registry's list now: this home and
// another disagree on a room's homes.
func (s *Service) kick() {
	select {
	case s.repl.kick <- struct{}{}:
	default:
	}
}

// self is this home's peer ID ("" before Attach).
func (s *Service) self() peer.ID {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	if s.repl.host == nil {
		return ""
	}
	return s.repl.host.ID()
}

// homes are the room's homes, best first, dead or alive: this home and the
// registry's supernodes in rendezvous order of the name.
func (s *Service) homes(name string) []peer.ID {
	r := &s.repl
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.host == nil {
		return nil
	}
	return client.RoomHomes(name, append(slices.Clone(r.known), r.host.ID()), wire.Homes)
}

// isHome reports whether p is one of the room's homes by this home's own
// computation.
func (s *Service) isHome(name string, p peer.ID) bool {
	return slices.Contains(s.homes(name), p)
}

// live are the room's homes this home does not take for dead, best first;
// the first is its primary. This home is always live to itself.
func (s *Service) live(name string) []peer.ID {
	homes := s.homes(name)
	r := &s.repl
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.cfg.Now()
	out := homes[:0]
	for _, h := range homes {
		if until, ok := r.down[h]; ok && now.Before(until) && h != r.host.ID() {
			continue
		}
		out = append(out, h)
	}
	return out
}

// markDown takes p for dead for wire.RoomHomeDown.
func (s *Service) markDown(p peer.ID) {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	s.repl.down[p] = s.cfg.Now().Add(wire.RoomHomeDown)
	delete(s.repl.suspect, p)
	// A catch-up that read p no longer covers the rooms: p may come back
	// holding what it sequenced meanwhile (isPrimary).
	for name, c := range s.repl.primary {
		if slices.Contains(c.with, p) {
			delete(s.repl.primary, name)
		}
	}
}

// markUp takes p for alive again: it spoke to us.
func (s *Service) markUp(p peer.ID) {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	delete(s.repl.down, p)
	delete(s.repl.suspect, p)
}

// isDown reports whether this home takes p for dead now.
func (s *Service) isDown(p peer.ID) bool {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	until, ok := s.repl.down[p]
	return ok && s.cfg.Now().Before(until)
}

// unanswered counts a call p did not answer and reports whether p is now
// taken for dead: at once when this host cannot connect to it (a dead or
// unreachable process: nothing to wait for), else only when its suspicion
// says so (a slow home keeps its connection and answers again).
func (s *Service) unanswered(ctx context.Context, h host.Host, p peer.ID) bool {
	reachable := h.Network().Connectedness(p) == network.Connected
	if !reachable {
		dctx, cancel := context.WithTimeout(ctx, wire.RoomHomeDial)
		reachable = h.Connect(dctx, peer.AddrInfo{ID: p}) == nil
		cancel()
	}
	s.repl.mu.Lock()
	sp := s.repl.suspect[p]
	dead := sp.fail(s.cfg.Now()) || !reachable
	s.repl.suspect[p] = sp
	s.repl.mu.Unlock()
	if dead {
		s.markDown(p)
	}
	return dead
}

// setPrimary records whether this home sequences name now, caught up with
// the homes live now; a home that stops (another home sequences, or it
// steps down) catches up again before it next sequences.
func (s *Service) setPrimary(name string, yes bool) {
	var live []peer.ID
	if yes {
		live = s.live(name)
	}
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	if yes {
		s.repl.primary[name] = caughtUp{at: s.cfg.Now(), with: slices.Clone(live)}
	} else {
		delete(s.repl.primary, name)
	}
}

// isPrimary reports whether this home sequences name and caught up with
// its other homes within wire.RoomPrimaryFresh, every home live now among
// them.
func (s *Service) isPrimary(name string) bool {
	live := s.live(name)
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	c, ok := s.repl.primary[name]
	if !ok || s.cfg.Now().Sub(c.at) >= wire.RoomPrimaryFresh {
		return false
	}
	for _, h := range live {
		if !slices.Contains(c.with, h) {
			return false
		}
	}
	return true
}

// before reports whether a comes before b among the room's homes.
func (s *Service) before(name string, a, b peer.ID) bool {
	homes := s.homes(name)
	ia, ib := slices.Index(homes, a), slices.Index(homes, b)
	return ia >= 0 && (ib < 0 || ia < ib)
}

// answered reports whether err is a home's answer (a refusal with a code)
// rather than a home that did not answer.
func answered(err error) bool {
	for _, e := range []error{client.ErrUnauthorized, client.ErrBadRequest, client.ErrTooMany, client.ErrRateLimited,
		client.ErrStale, client.ErrInternal, client.ErrFull, client.ErrBusy, client.ErrBanned, client.ErrRoomFull,
		client.ErrNotAllowed, client.ErrWrongPassword, client.ErrQuota, client.ErrNotHome} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// clientCode is the wire code of a home's answer err, to hand on.
func clientCode(err error) string {
	for c, e := range map[string]error{wire.CodeBadRequest: client.ErrBadRequest, wire.CodeStale: client.ErrStale,
		wire.CodeFull: client.ErrFull, wire.CodeBusy: client.ErrBusy, wire.CodeBanned: client.ErrBanned,
		wire.CodeRoomFull: client.ErrRoomFull, wire.CodeNotAllowed: client.ErrNotAllowed,
		wire.CodeRateLimited: client.ErrRateLimited, wire.CodeWrongPassword: client.ErrWrongPassword} {
		if errors.Is(err, e) {
			return c
		}
	}
	return wire.CodeInternal
}

// ticket is this supernode's ticket for home-to-home calls, or nil.
func (s *Service) ticket() *wire.SignedTicket {
	if s.cfg.Ticket == nil {
		return nil
	}
	return s.cfg.Ticket()
}

// errNoTicket: this supernode has no host or no supernode ticket yet (its
// first heartbeat has not been answered), so it cannot reach another home.
var errNoTicket = errors.New("rooms: no supernode ticket yet")

// call runs f against home within wire.RoomReplicaTimeout, taking the home
// for alive when it answers and counting it towards dead when it does not
// (unanswered).
func (s *Service) call(ctx context.Context, home peer.ID, f func(context.Context, host.Host, *wire.SignedTicket) error) error {
	return s.callWithin(ctx, wire.RoomReplicaTimeout, home, f)
}

// callWithin is call with its own timeout.
func (s *Service) callWithin(ctx context.Context, timeout time.Duration, home peer.ID, f func(context.Context, host.Host, *wire.SignedTicket) error) error {
	s.repl.mu.Lock()
	h := s.repl.host
	s.repl.mu.Unlock()
	st := s.ticket()
	if h == nil || st == nil {
		// Not the other home's fault: it is not taken for dead.
		return fmt.Errorf("%w: to reach home %s", errNoTicket, home)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := f(cctx, h, st)
	switch {
	case err == nil || answered(err):
		s.markUp(home)
	case ctx.Err() == nil:
		dead := s.unanswered(ctx, h, home)
		s.log.Debug("a room home did not answer", "home", home, "dead", dead, "err", err)
	}
	return err
}

// toPrimary runs f at the room's primary, the next live home each time one
// is taken for dead; it returns "" when this home is the primary (the
// caller sequences), or the code to answer with. A primary that did not
// answer but is only suspect (slow, not dead: unanswered) gets no
// successor: the member is answered busy and tries again, and nothing is
// sequenced here beside a primary that may still sequence the item — two
// homes sequencing at once is what parts the room's message orders.
func (s *Service) toPrimary(ctx context.Context, name string, f func(context.Context, host.Host, peer.ID, *wire.SignedTicket) error) (forwarded bool, code string) {
	self := s.self()
	for range wire.Homes {
		live := s.live(name)
		if len(live) == 0 || live[0] == self || self == "" {
			return false, ""
		}
		primary := live[0]
		s.setPrimary(name, false)
		s.repl.mu.Lock()
		timeout := cmp.Or(s.repl.forwardTimeout, wire.RoomForwardTimeout)
		s.repl.mu.Unlock()
		err := s.callWithin(ctx, timeout, primary, func(ctx context.Context, h host.Host, st *wire.SignedTicket) error {
			return f(ctx, h, primary, st)
		})
		switch {
		case err == nil:
			return true, ""
		case answered(err):
			return true, clientCode(err)
		case errors.Is(err, errNoTicket), !s.isDown(primary):
			return true, wire.CodeBusy
		}
	}
	return true, wire.CodeBusy
}

// replicate passes rep to the room's other live homes at once and waits
// for their answers: a sequenced item is acknowledged to its author only
// once another home holds it too (or none answers: then this home alone
// does, docs/ROOMS.md). An earlier home refusing it as stale holds another
// branch, which wins: this home steps down.
func (s *Service) replicate(ctx context.Context, name string, rep *wire.RoomReplica) int {
	self := s.self()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acks := 0
	for _, home := range s.live(name) {
		if home == self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.call(ctx, home, func(ctx context.Context, h host.Host, st *wire.SignedTicket) error {
				return client.ReplicateRoom(ctx, h, home, st, rep)
			})
			if err == nil {
				mu.Lock()
				acks++
				mu.Unlock()
			}
			s.replicaAnswered(name, home, err)
		}()
	}
	wg.Wait()
	return acks
}

// catchUp makes this home, about to sequence name as its primary, hold
// everything the other live homes hold: their chains where they extend
// this one (the longest wins; a branch that forks from this one loses to
// it, as this home comes first among the live ones) and their messages
// after its newest position. It runs when this home starts sequencing the
// room and again every wire.RoomPrimaryFresh while it does.
//
// It reports whether this home may sequence: every other live home was
// read, or was taken for dead meanwhile (a home that cannot be reached at
// all: the weak case of "acknowledged means at two homes"). A home that is
// live but was not read — it did not answer in time, it is restarting and
// does not serve rooms yet, its connection was reset — may hold messages
// it sequenced and acknowledged while this home was not the primary;
// sequencing over them would give their positions to other messages, and
// as this home comes first, the other homes would displace what their
// members were told was taken (the chaos soak's room messages lost under
// supernode kills). The caller answers busy and the member tries again,
// as when a forward to a suspect primary goes unanswered; a home that
// keeps not answering is taken for dead by call.
func (s *Service) catchUp(ctx context.Context, name string) bool {
	if s.isPrimary(name) {
		return true
	}
	// Bounded as a whole, so the forward that brought the item here does
	// not time out and take this home for dead.
	ctx, cancel := context.WithTimeout(ctx, wire.RoomReplicaTimeout)
	defer cancel()
	self := s.self()
	var unread []peer.ID
	for _, home := range s.live(name) {
		if home == self {
			continue
		}
		errOps := s.pullOps(ctx, home, name)
		if errOps != nil {
			s.log.Debug("catching up a room's chain", "room", name, "home", home, "err", errOps)
		}
		errMsgs := s.reconcile(ctx, home, name)
		if errMsgs != nil {
			s.log.Debug("catching up a room's messages", "room", name, "home", home, "err", errMsgs)
		}
		if notRead(ctx, errOps) || notRead(ctx, errMsgs) {
			unread = append(unread, home)
		}
	}
	live := s.live(name)
	for _, home := range unread {
		if slices.Contains(live, home) {
			s.log.Debug("not sequencing before catching up", "room", name, "home", home)
			return false
		}
	}
	s.setPrimary(name, true)
	return true
}

// errUnread marks a pull's failure to hear from the other home at all (no
// answer, or no connection), as opposed to an answer this home refused.
var errUnread = errors.New("rooms: the other home was not read")

// unread wraps a call's error that is not the other home's answer with
// errUnread.
func unread(err error) error {
	if err == nil || answered(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnread, err)
}

// notRead reports whether a pull's err means the other home's messages or
// ops were not read: it did not answer, or the catch-up's time ran out.
// A refusal (a fork this home's branch wins, a message that does not
// verify) is an answer: what the other home holds was seen.
func notRead(ctx context.Context, err error) bool {
	return err != nil && (errors.Is(err, errUnread) || ctx.Err() != nil)
}

// fill brings name up to date at this home before a member attaches
// here, and returns its state then: the primary catches up with the other
// homes (if its catch-up is not fresh); another home reads what it lacks
// from the primary, and, if it holds none of the room, from any live home
// that does. Everything is bounded by wire.RoomReplicaTimeout.
func (s *Service) fill(ctx context.Context, name string, st *room.State) (*room.State, error) {
	self := s.self()
	live := s.live(name)
	if len(live) == 0 || live[0] == self {
		if st.Exists() {
			s.catchUp(ctx, name) // a join goes on with what it read
			return s.store.State(ctx, name)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wire.RoomReplicaTimeout)
	defer cancel()
	for _, home := range live {
		if home == self {
			continue
		}
		if err := s.pullOps(ctx, home, name); err != nil {
			s.log.Debug("reading a room's chain from another home", "room", name, "home", home, "err", err)
			continue
		}
		if err := s.pullMessages(ctx, home, name); err != nil {
			s.log.Debug("reading a room's messages from another home", "room", name, "home", home, "err", err)
		}
		if now, err := s.store.State(ctx, name); err == nil && (now.Exists() || now.Deleted) {
			break
		}
	}
	return s.store.State(ctx, name)
}

// pullOps reads home's chain of name after this home's head and stores
// every op that extends it (verified: room.Step), passing each on to the
// members joined here. An op that does not fit ends it.
func (s *Service) pullOps(ctx context.Context, home peer.ID, name string) error {
	for {
		st, err := s.store.State(ctx, name)
		if err != nil {
			return err
		}
		var ops []*wire.SignedRoomOp
		var more bool
		if err := s.call(ctx, home, func(ctx context.Context, h host.Host, tk *wire.SignedTicket) error {
			ops, more, err = client.RoomOpsSince(ctx, h, home, tk, name, st.Seq)
			return err
		}); err != nil {
			return unread(err)
		}
		for _, o := range ops {
			next, err := s.store.Replicate(ctx, o)
			if err != nil {
				return err
			}
			s.deliverOp(o, next)
		}
		if !more || len(ops) == 0 {
			return nil
		}
	}
}

// pullMessages reads home's messages of name after this home's newest
// position and stores them at their positions, passing the new ones on.
func (s *Service) pullMessages(ctx context.Context, home peer.ID, name string) error {
	for {
		last, err := s.store.LastPosition(ctx, name)
		if err != nil {
			return err
		}
		var page []*wire.RoomOrderedMessage
		if err := s.call(ctx, home, func(ctx context.Context, h host.Host, tk *wire.SignedTicket) error {
			page, err = client.RoomMessagesSince(ctx, h, home, tk, name, last)
			return err
		}); err != nil {
			return unread(err)
		}
		if _, err := s.storeOrdered(ctx, name, page, false); err != nil {
			return err
		}
		if len(page) < wire.RoomMessagesPage {
			return nil
		}
	}
}

// storeOrdered verifies ordered messages another home passed on and
// stores them at their positions in one transaction, passing those new
// here to the members joined here, in order. Each is its author's signed
// message, of this room; revocation and age are the sequencing primary's
// to check (a device revoked since does not undo what it posted, and a
// copy may arrive late). Copies held already are skipped; it returns the
// first other refusal (ErrGap: catch up first), after storing and passing
// on the messages before it, and the IDs of messages here the positions
// displaced (AddOrdered).
func (s *Service) storeOrdered(ctx context.Context, name string, oms []*wire.RoomOrderedMessage, next bool) ([]string, error) {
	ms := make([]Message, 0, len(oms))
	var bad error
	for _, om := range oms {
		msg, err := room.VerifyMessage(om.GetMessage(), s.cfg.Now(), room.Checks{Server: s.cfg.AuthServer})
		if err == nil && msg.Room != name {
			err = fmt.Errorf("%w: a message of %q for %q", room.ErrWrongRoom, msg.Room, name)
		}
		if err != nil {
			bad = err
			break
		}
		ms = append(ms, Message{ID: msg.ID, Author: msg.Author, Time: msg.Time, Body: wire.MustMarshal(om.Message), Position: om.Position})
	}
	if len(ms) == 0 {
		return nil, bad
	}
	m := s.membersOf(name, false)
	if m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
	}
	out, err := s.store.AddOrderedBatch(ctx, name, ms, next)
	if err != nil {
		return nil, err
	}
	var displaced []string
	for i, o := range out {
		displaced = append(displaced, o.Displaced...)
		switch {
		case o.Err != nil && errors.Is(o.Err, ErrDuplicate):
		case o.Err != nil:
			return displaced, o.Err
		case o.Fresh && m != nil:
			m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: oms[i].Message}, Position: oms[i].Position})
		}
	}
	return displaced, bad
}

// membersOf is the room's members here; with create, made if none.
func (s *Service) membersOf(name string, create bool) *members {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.rooms[name]
	if m == nil && create {
		m = newMembers()
		s.rooms[name] = m
	}
	return m
}

// lockRoom is the room's members here, made if none, returned with m.mu
// held and still in s.rooms (not dropped by unregister meanwhile). The
// service's lock is never held while waiting for a room's: a busy room's
// send holds its lock across the store's transaction, and every request
// needing the service's lock would wait behind it. The order is a room's
// lock, then the service's.
func (s *Service) lockRoom(name string) *members {
	for {
		m := s.membersOf(name, true)
		m.mu.Lock()
		if !m.gone {
			return m
		}
		m.mu.Unlock()
	}
}

// replicated is the replicate request: a home of the room (by this home's
// own computation) passes on an op or a message its primary sequenced.
// Everything in it is its author's signed item and verified here again;
// the check on the sender keeps supernodes that are not the room's homes
// from pushing even valid items in another order.
func (s *Service) replicated(ctx context.Context, remote peer.ID, rep *wire.RoomReplica) *wire.RoomResponse {
	name := rep.GetRoom()
	kinds := 0
	for _, has := range []bool{rep.Op != nil, rep.Message != nil, len(rep.Messages) > 0} {
		if has {
			kinds++
		}
	}
	if wire.ValidRoomName(name) != nil || kinds != 1 || len(rep.Messages) > maxShipBatch {
		return failed(wire.CodeBadRequest)
	}
	if !s.isHome(name, remote) {
		s.log.Debug("a replica from a supernode that is not the room's home", "room", name, "from", remote)
		s.kick()
		return failed(wire.CodeNotAllowed)
	}
	if handedBack(rep) {
		return s.placeHandedBack(ctx, remote, name, rep.Messages)
	}
	// Another home sequences the room: this one catches up again before it
	// next does. A home this one took for dead is alive, and sequencing:
	// taken for alive again, so that this home forwards to it if it comes
	// first (a primary back from a restart) rather than sequence beside it.
	s.setPrimary(name, false)
	if s.isDown(remote) {
		s.log.Info("a home taken for dead replicates: alive again", "room", name, "home", remote)
		s.markUp(remote)
	}
	if rep.Message != nil || len(rep.Messages) > 0 {
		oms := rep.Messages
		if rep.Message != nil {
			oms = []*wire.RoomOrderedMessage{rep.Message}
		}
		displaced, err := s.storeOrdered(ctx, name, oms, true)
		if len(displaced) > 0 {
			// The primary's order took their positions: they may have
			// been acknowledged, and are handed back to be placed.
			s.handBackLater(name, displaced)
		}
		if errors.Is(err, ErrGap) {
			s.repl.gaps.Add(1)
			// Read what was missed, these included.
			err = s.pullMessages(ctx, remote, name)
		}
		if err != nil {
			s.log.Debug("a replicated message refused", "room", name, "err", err)
			return failed(code(err))
		}
		return &wire.RoomResponse{}
	}
	if n, _, err := peek(rep.Op); err != nil || n != name {
		return failed(wire.CodeBadRequest)
	}
	next, err := s.store.Replicate(ctx, rep.Op)
	switch {
	case err == nil:
		s.deliverOp(rep.Op, next)
		return &wire.RoomResponse{Position: next.Seq}
	case errors.Is(err, room.ErrGap):
		if err := s.pullOps(ctx, remote, name); err != nil {
			return failed(code(err))
		}
		return &wire.RoomResponse{}
	case errors.Is(err, room.ErrStale), errors.Is(err, room.ErrFork):
		return s.fork(ctx, remote, name, rep.Op)
	}
	s.log.Debug("a replicated op refused", "room", name, "err", err)
	return failed(code(err))
}

// fork settles an op that does not extend this home's chain: the same op
// held already is fine; another op at its position is a fork, which the
// branch of the home earlier in the room's rendezvous order wins. When
// remote's does, this home drops its own from where they part and takes
// remote's; when this home's does, remote is answered stale.
func (s *Service) fork(ctx context.Context, remote peer.ID, name string, signed *wire.SignedRoomOp) *wire.RoomResponse {
	var op wire.RoomOp
	_ = proto.Unmarshal(signed.Op, &op)
	if op.Seq > 0 {
		if have, err := s.store.OpsSince(ctx, name, op.Seq-1); err == nil && len(have) > 0 && bytes.Equal(have[0].Op, signed.Op) {
			return &wire.RoomResponse{} // held already
		}
	}
	if !s.before(name, remote, s.self()) {
		s.log.Info("a fork: this home's branch wins", "room", name, "from", remote, "position", op.Seq)
		return failed(wire.CodeStale)
	}
	s.log.Info("a fork: taking an earlier home's branch", "room", name, "from", remote, "position", op.Seq)
	at, err := s.forkPoint(ctx, remote, name)
	if err != nil {
		return failed(code(err))
	}
	if err := s.store.Truncate(ctx, name, at); err != nil {
		s.log.Warn("dropping a losing branch", "room", name, "err", err)
		return failed(wire.CodeInternal)
	}
	s.endAll(name, EndReplaced) // members here hold the losing branch: they read the chain again
	if err := s.pullOps(ctx, remote, name); err != nil {
		return failed(code(err))
	}
	return &wire.RoomResponse{}
}

// forkPoint is the first position at which remote's chain of name and
// this home's differ, reading both a page at a time.
func (s *Service) forkPoint(ctx context.Context, remote peer.ID, name string) (uint64, error) {
	var since uint64
	for {
		mine, err := s.store.OpsSince(ctx, name, since)
		if err != nil {
			return 0, err
		}
		var theirs []*wire.SignedRoomOp
		var more bool
		if err := s.call(ctx, remote, func(ctx context.Context, h host.Host, tk *wire.SignedTicket) error {
			theirs, more, err = client.RoomOpsSince(ctx, h, remote, tk, name, since)
			return err
		}); err != nil {
			return 0, err
		}
		for i := range min(len(mine), len(theirs)) {
			if !bytes.Equal(mine[i].Op, theirs[i].Op) {
				return since + uint64(i) + 1, nil
			}
		}
		if len(mine) != len(theirs) || !more {
			return since + uint64(min(len(mine), len(theirs))) + 1, nil
		}
		since += uint64(len(theirs))
	}
}

// endAll ends every joined stream of name here with why.
func (s *Service) endAll(name, why string) {
	if m := s.membersOf(name, false); m != nil {
		m.mu.Lock()
		for _, sb := range m.byPeer {
			sb.end(why)
		}
		m.mu.Unlock()
	}
}

// forward is fw with this home's positions of name filled in.
func (s *Service) forward(ctx context.Context, name string, fw *wire.RoomForward) *wire.RoomForward {
	if st, err := s.store.State(ctx, name); err == nil {
		fw.Position = st.Seq
	}
	if last, err := s.store.LastPosition(ctx, name); err == nil {
		fw.MessagePosition = last
	}
	return fw
}

// behind catches this home, the primary, up from remote, a home that
// forwarded an item with positions past this home's: it sequenced while
// this home was taken for dead.
func (s *Service) behind(ctx context.Context, remote peer.ID, name string, fw *wire.RoomForward) {
	if st, err := s.store.State(ctx, name); err == nil && st.Seq < fw.Position {
		if err := s.pullOps(ctx, remote, name); err != nil {
			s.log.Debug("catching up a forwarding home's chain", "room", name, "home", remote, "err", err)
		}
	}
	if last, err := s.store.LastPosition(ctx, name); err == nil && last < fw.MessagePosition {
		if err := s.reconcile(ctx, remote, name); err != nil {
			s.log.Debug("catching up a forwarding home's messages", "room", name, "home", remote, "err", err)
		}
	}
}

// forwarded is the forward request: a home of the room hands over an op or
// a message one of its members sent, for this home to sequence. Each is
// verified here in full, as if its author had sent it here: the author's
// signature and ticket, revocation, age, and for a message room.Admit with
// the sender its ticket and region pass make.
func (s *Service) forwarded(ctx context.Context, remote peer.ID, fw *wire.RoomForward) *wire.RoomResponse {
	s.repl.mu.Lock()
	delay := s.repl.delay
	s.repl.mu.Unlock()
	if delay != nil {
		delay(ctx)
	}
	switch {
	case fw.GetOp() != nil && fw.GetSend() == nil:
		name, _, err := peek(fw.Op)
		if err != nil {
			return failed(code(err))
		}
		if !s.isHome(name, remote) {
			s.kick()
			return failed(wire.CodeNotAllowed)
		}
		s.behind(ctx, remote, name, fw)
		return s.sequenceOp(ctx, fw.Op)
	case fw.GetSend() != nil && fw.GetOp() == nil:
		now := s.cfg.Now()
		msg, err := room.VerifyMessage(fw.Send.GetMessage(), now, s.checks)
		if err != nil {
			return failed(code(err))
		}
		if !s.isHome(msg.Room, remote) {
			s.kick()
			return failed(wire.CodeNotAllowed)
		}
		s.behind(ctx, remote, msg.Room, fw)
		from := room.Sender{Username: msg.Author, AccountCreated: msg.Ticket.AccountCreated}
		if fw.Send.Pass != nil {
			p, err := ticket.VerifyPass(s.cfg.AuthServer, fw.Send.Pass, msg.Ticket, now)
			if err != nil {
				return failed(wire.CodeNotAllowed)
			}
			from.Region = p.Region
		}
		return s.sequenceMessage(ctx, from, msg)
	}
	return failed(wire.CodeBadRequest)
}

// messagesSince answers a page of the room's ordered messages.
func (s *Service) messagesSince(ctx context.Context, q *wire.RoomMessagesRequest) *wire.RoomResponse {
	if wire.ValidRoomName(q.GetRoom()) != nil {
		return failed(wire.CodeBadRequest)
	}
	msgs, err := s.store.MessagesSince(ctx, q.Room, q.Since)
	if err != nil {
		s.log.Warn("reading messages", "err", err)
		return failed(wire.CodeInternal)
	}
	out := &wire.RoomResponse{}
	s.decodeStored(q.Room, msgs, func(m Message, sm *wire.SignedRoomMessage) {
		out.Ordered = append(out.Ordered, &wire.RoomOrderedMessage{Position: m.Position, Message: sm})
	})
	return out
}

// sync compares a few rooms with their primaries every
// wire.RoomSyncInterval until ctx ends (anti-entropy, syncRooms).
func (s *Service) sync(ctx context.Context) {
	t := time.NewTicker(wire.RoomSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.syncRooms(ctx)
		}
	}
}

// syncRooms compares the next wire.RoomSyncRooms rooms with members joined
// here, in name order after the last compared (wrapping round), with
// their primary: a home that missed a quiet room's last replica (the
// primary took it for dead a moment, or the replica timed out) has it,
// and passes it to its members, without waiting for the room's next item.
// The primary itself compares nothing: the others read from it.
func (s *Service) syncRooms(ctx context.Context) {
	s.mu.Lock()
	names := make([]string, 0, len(s.rooms))
	for name, m := range s.rooms {
		if m.online.Load() > 0 {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	s.repl.mu.Lock()
	after := s.repl.synced
	s.repl.mu.Unlock()
	pick := nextRooms(names, after, wire.RoomSyncRooms)
	if len(pick) == 0 {
		return
	}
	s.repl.mu.Lock()
	s.repl.synced = pick[len(pick)-1]
	s.repl.mu.Unlock()
	self := s.self()
	for _, name := range pick {
		if ctx.Err() != nil {
			return
		}
		live := s.live(name)
		if len(live) == 0 || live[0] == self || self == "" {
			continue
		}
		s.syncRoom(ctx, live[0], name)
	}
}

// syncRoom reads the ops and messages of name after this home's from
// primary, within wire.RoomReplicaTimeout: nothing when they are in step.
func (s *Service) syncRoom(ctx context.Context, primary peer.ID, name string) {
	ctx, cancel := context.WithTimeout(ctx, wire.RoomReplicaTimeout)
	defer cancel()
	if err := s.pullOps(ctx, primary, name); err != nil {
		s.log.Debug("comparing a room's chain with its primary", "room", name, "err", err)
		return
	}
	if err := s.pullMessages(ctx, primary, name); err != nil {
		s.log.Debug("comparing a room's messages with its primary", "room", name, "err", err)
	}
}

// nextRooms is the first n of names (in any order) after after in name
// order, wrapping round to the start: each room's turn comes once in
// every len(names)/n ticks, whatever joins and leaves meanwhile.
func nextRooms(names []string, after string, n int) []string {
	slices.Sort(names)
	i, _ := slices.BinarySearch(names, after)
	if i < len(names) && names[i] == after {
		i++
	}
	out := make([]string, 0, min(n, len(names)))
	for k := range min(n, len(names)) {
		out = append(out, names[(i+k)%len(names)])
	}
	return out
}
