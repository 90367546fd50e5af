package rooms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/pipeline"
)

// join admits a member and keeps its stream as the member's subscription:
// the answer (position, members online) goes first, then every event of
// the room, until the member leaves or closes the stream, or is kicked,
// banned or too far behind; the last frame, which Output writes, says why.
func (s *Service) join(ctx context.Context, r *pipeline.Request[*wire.RoomRequest], from room.Sender, q *wire.RoomJoin) (*wire.RoomResponse, error) {
	st, _ := ctx.Value(streamKey{}).(network.Stream)
	if st == nil {
		// Served without a libp2p stream (a test's pipe): nothing to
		// keep open.
		return failed(wire.CodeBadRequest), nil
	}
	name := q.GetRoom()
	if wire.ValidRoomName(name) != nil || len(q.GetPassword()) > wire.MaxRoomPassword || q.GetSince() > wire.MaxRoomPosition {
		return failed(wire.CodeBadRequest), nil
	}
	if !s.allowJoin(from.Username) {
		return failed(wire.CodeRateLimited), nil
	}
	state, err := s.store.State(ctx, name)
	if err != nil {
		return failed(code(err)), nil
	}
	if s.isHome(name, s.self()) && (state.Exists() || (!state.Deleted && wire.RoomRegion(name) == "")) {
		// A member attaching here (maybe after its home died) gets what
		// the room's homes hold, not what this one missed; a home that
		// has not heard of the room asks the others before it says no.
		if state, err = s.fill(ctx, name, state); err != nil {
			return failed(code(err)), nil
		}
	}
	// AdmitJoin runs without the locks (a password costs an Argon2id
	// evaluation); register checks the member limit again under them.
	if err := room.AdmitJoin(state, from, q.GetPassword(), s.Online(name), s.cfg.Now()); err != nil {
		s.log.Debug("join refused", "room", name, "from", from.Username, "err", err)
		return failed(code(err)), nil
	}
	sb, m, users, newest, refusal := s.register(ctx, state, r.Remote, from.Username)
	if refusal != "" {
		return failed(refusal), nil
	}
	defer s.unregister(sb, m)
	// A member back after a drop names the last message it saw: the
	// messages after it up to newest follow the answer (later ones are
	// queued to sb already), if this home still holds them all.
	caughtUp := false
	if q.GetCatchUp() {
		if caughtUp, err = s.holdsAfter(ctx, name, q.GetSince(), newest); err != nil {
			return nil, err
		}
	}

	// The stream lives as long as the membership: no deadline on reading
	// (reading only tells us the member went), one per event written.
	if err := st.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing the read deadline: %w", err)
	}
	if err := s.write(st, &wire.RoomResponse{Position: state.Seq, Members: uint32(len(users)), Usernames: users,
		CaughtUp: caughtUp, Newest: newest}); err != nil {
		return nil, err
	}
	if caughtUp {
		if err := s.pushMissed(ctx, st, name, q.GetSince(), newest); err != nil {
			return nil, err
		}
	}
	gone := make(chan struct{})
	go func() {
		// The member sends nothing after its join: a byte is a protocol
		// error, EOF or a reset is its leaving.
		var b [1]byte
		_, _ = st.Read(b[:])
		close(gone)
	}()
	w := pusher{gap: s.cfg.WriteGap}
	defer w.stop()
	for {
		// Until the gap since the last write has passed, events only
		// queue; the select below then takes them all in one write.
		w.rest(sb.done, gone, ctx.Done())
		select {
		case f := <-sb.events:
			if err := w.writeQueued(st, f, sb.events); err != nil {
				return nil, err
			}
		case <-sb.done:
			// Events queued before the end (the kick line itself) go
			// first.
			for {
				select {
				case f := <-sb.events:
					if err := w.writeQueued(st, f, sb.events); err != nil {
						return nil, err
					}
				default:
					return s.ended(st, sb.why), nil
				}
			}
		case <-gone:
			sb.end(EndLeft)
			return nil, errors.New("member closed its joined stream")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// frame is one pushed event, encoded as the member reads it: a
// RoomResponse carrying the event, length prefix included.
type frame []byte

// encodeEvent is ev's frame.
func encodeEvent(ev *wire.RoomEvent) frame {
	b := wire.MustMarshal(&wire.RoomResponse{Event: ev})
	f := make(frame, 0, binary.MaxVarintLen64+len(b))
	f = binary.AppendUvarint(f, uint64(len(b)))
	return append(f, b...)
}

// pusher is a joined member's write loop's state: the write deadline in
// force on its stream, and when the last write was, for wire.RoomWriteGap.
type pusher struct {
	gap      time.Duration // wire.RoomWriteGap, or as configured
	deadline time.Time
	last     time.Time
	timer    *time.Timer // rest's, made at the first rest that waits
}

// rest returns once the gap has passed since the last write, or
// at once when the member's stream ends (done, gone, cancelled): its
// events meanwhile wait in its queue, which wakes no one, and go out in
// the next write together.
func (w *pusher) rest(done, gone, cancelled <-chan struct{}) {
	wait := w.gap - time.Since(w.last)
	if w.last.IsZero() || wait <= 0 {
		return
	}
	if w.timer == nil {
		w.timer = time.NewTimer(wait)
	} else {
		w.timer.Reset(wait)
	}
	select {
	case <-w.timer.C:
	case <-done:
	case <-gone:
	case <-cancelled:
	}
}

// stop releases rest's timer.
func (w *pusher) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// deadlineSlack is how stale a member's write deadline may grow before a
// write sets it again: setting it costs a lock and a timer in the stream
// muxer, so it is renewed at most once a second, and every write still
// gets at least wire.RoomWriteTimeout less this.
const deadlineSlack = time.Second

// writeQueued writes first and the events queued behind it, up to
// wire.RoomWriteBatch bytes, in one write: with a busy room a member's
// events go out in a few TLS records and syscalls, not one each. Events
// stay whole and in their queue's order.
func (w *pusher) writeQueued(st network.Stream, first frame, queue <-chan frame) error {
	out := []byte(first)
	if len(first) < wire.RoomWriteBatch {
		var more []frame
		size := len(first)
	collect:
		for size < wire.RoomWriteBatch {
			select {
			case f := <-queue:
				more = append(more, f)
				size += len(f)
			default:
				break collect
			}
		}
		if len(more) > 0 {
			// Copied into a buffer of this batch only: nothing is kept
			// per member between batches.
			out = make([]byte, 0, size)
			out = append(out, first...)
			for _, f := range more {
				out = append(out, f...)
			}
		}
	}
	if due := time.Now().Add(wire.RoomWriteTimeout); due.Sub(w.deadline) > deadlineSlack {
		if err := st.SetWriteDeadline(due); err != nil {
			return fmt.Errorf("setting the write deadline: %w", err)
		}
		w.deadline = due
	}
	if _, err := st.Write(out); err != nil {
		return fmt.Errorf("pushing to a joined member: %w", err)
	}
	w.last = time.Now()
	return nil
}

// ended is a joined stream's last frame; Output writes it under a fresh
// write deadline.
func (s *Service) ended(st network.Stream, why string) *wire.RoomResponse {
	_ = st.SetWriteDeadline(time.Now().Add(wire.RoomWriteTimeout))
	return &wire.RoomResponse{Ended: why}
}

// write pushes one frame to a joined member within wire.RoomWriteTimeout.
func (s *Service) write(st network.Stream, resp *wire.RoomResponse) error {
	if err := st.SetWriteDeadline(time.Now().Add(wire.RoomWriteTimeout)); err != nil {
		return fmt.Errorf("setting the write deadline: %w", err)
	}
	if err := wire.WriteMsg(st, resp); err != nil {
		return fmt.Errorf("pushing to a joined member: %w", err)
	}
	return nil
}

// allowJoin spends one of user's join attempts.
func (s *Service) allowJoin(user string) bool {
	return s.allow(s.joins, user, wire.RoomJoinRate, wire.RoomJoinBurst)
}

// allow spends one of user's tokens in limiters (one of the service's
// per-account limiter maps), making its bucket on first use. The map holds
// at most as many accounts as the service has subscriptions: past that,
// the accounts whose buckets are full again go first (they lose nothing),
// and if none is, the request is refused.
func (s *Service) allow(limiters map[string]*rate.Limiter, user string, r rate.Limit, burst int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	l := limiters[user]
	if l == nil {
		if len(limiters) >= s.cfg.Subscriptions {
			for u, b := range limiters {
				if b.TokensAt(now) >= float64(burst) {
					delete(limiters, u)
				}
			}
			if len(limiters) >= s.cfg.Subscriptions {
				return false
			}
		}
		l = rate.NewLimiter(r, burst)
		limiters[user] = l
	}
	return l.AllowN(now, 1)
}

// register adds remote's joined stream to state's room, ending one it
// already had there, within the caps: the service's subscriptions, the
// device's rooms, and the room's member limit (checked again here, under
// the lock, as joins may race). It returns the users joined with it
// (user first, at most wire.RoomMembersListed of them) and the room's
// newest message position here — read under the room's lock, which every
// message is stored and queued under, so the messages after it reach the
// new stream as events — or a refusal code.
// Reports waiting for the room's owner or an operator are queued to the
// new stream when its user is one.
func (s *Service) register(ctx context.Context, state *room.State, remote peer.ID, user string) (*sub, *members, []string, uint64, string) {
	m := s.lockRoom(state.Room)
	defer m.mu.Unlock()
	newest, err := s.store.LastPosition(ctx, state.Room)
	if err != nil {
		s.log.Warn("reading a room's newest position", "room", state.Room, "err", err)
		return nil, nil, nil, 0, wire.CodeInternal
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, nil, 0, wire.CodeBusy
	}
	old := m.byPeer[remote]
	switch {
	case old == nil && s.subs >= s.cfg.Subscriptions:
		return nil, nil, nil, 0, wire.CodeFull
	case old == nil && s.perPeer[remote] >= wire.MaxRoomsJoined:
		return nil, nil, nil, 0, wire.CodeTooMany
	case m.users[user] == 0 && state.Modes.MemberLimit > 0 && len(m.users) >= state.Modes.MemberLimit &&
		state.Role(user) != room.RoleOwner && state.Role(user) != room.RoleOp:
		return nil, nil, nil, 0, wire.CodeRoomFull
	}
	if old != nil {
		old.end(EndReplaced)
		s.drop(m, old)
	}
	sb := &sub{room: state.Room, peer: remote, user: user, events: make(chan frame, s.cfg.Queue), done: make(chan struct{})}
	if m.users[user] == 0 {
		m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Joined{Joined: user}})
	}
	m.byPeer[remote] = sb
	m.users[user]++
	m.online.Store(int64(len(m.users)))
	s.subs++
	s.perPeer[remote]++
	if moderates(state, user) {
		m.deliverReports(sb, s.cfg.Now())
	}
	users := []string{user}
	for u := range m.users {
		if u != user && len(users) < wire.RoomMembersListed {
			users = append(users, u)
		}
	}
	return sb, m, users, newest, ""
}

// unregister removes sb when its stream ends (unless a newer join of the
// same device replaced it already).
func (s *Service) unregister(sb *sub, m *members) {
	sb.end(EndLeft)
	m.mu.Lock()
	defer m.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.byPeer[sb.peer] == sb {
		s.drop(m, sb)
	}
	// Recent sends of users no longer here are kept while they bind, so
	// leaving and joining again frees no one from slow mode or the flood
	// limit; then they go, and so does a room no one is in.
	m.sweep(s.cfg.Now())
	if len(m.byPeer) == 0 && len(m.recent) == 0 && len(m.reports) == 0 && s.rooms[sb.room] == m {
		delete(s.rooms, sb.room)
		m.gone = true
	}
}

// sweep forgets the recent sends of users not joined here that no longer
// bind; m.mu is held.
func (m *members) sweep(now time.Time) {
	for u, r := range m.recent {
		if m.users[u] == 0 && now.Sub(r.last) > recentBinds {
			delete(m.recent, u)
		}
	}
}

// drop takes sb out of m and the counts; s.mu and m.mu are held. The last
// device of a user leaving is a line for the others.
func (s *Service) drop(m *members, sb *sub) {
	delete(m.byPeer, sb.peer)
	s.subs--
	if s.perPeer[sb.peer]--; s.perPeer[sb.peer] <= 0 {
		delete(s.perPeer, sb.peer)
	}
	if m.users[sb.user]--; m.users[sb.user] <= 0 {
		delete(m.users, sb.user)
		m.online.Store(int64(len(m.users)))
		m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Left{Left: sb.user}})
	}
}
