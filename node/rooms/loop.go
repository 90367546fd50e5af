package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// attach joins j's room at its home. The joined stream is opened first,
// then the chain since what j holds and the backlog are read, so nothing
// posted in between is missed; a message both carry is shown once (show).
// Ops of the chain are shown as events only when j held part of it
// already: a first join shows the room as it is, not its history. A
// rejoin names the last message position shown: when the home still holds
// every message after it, it pushes them on the stream before the live
// events and the backlog is not read (docs/ROOMS.md "Catching up").
func (r *Rooms) attach(ctx context.Context, j *joined) (*client.Subscription, error) {
	home, err := r.home(ctx, j.room)
	if err != nil {
		return nil, err
	}
	tk, pass := r.credentials(j.room)
	j.mu.Lock()
	last := j.last
	j.mu.Unlock()
	var sub *client.Subscription
	if last.known {
		sub, err = client.JoinRoomAfter(ctx, r.h.Libp2p(), home, tk.Signed, j.room, j.password, pass, last.at)
	} else {
		sub, err = client.JoinRoom(ctx, r.h.Libp2p(), home, tk.Signed, j.room, j.password, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("joining %q: %w", j.room, mapErr(err))
	}
	// Joined at home from now on: a post need not wait for the catch-up.
	j.mu.Lock()
	j.home, j.members = home, sub.Members
	j.online = make(map[string]bool, len(sub.Usernames))
	for _, u := range sub.Usernames {
		j.online[u] = true
	}
	j.mu.Unlock()
	fail := func(err error) (*client.Subscription, error) {
		j.mu.Lock()
		j.home = ""
		j.mu.Unlock()
		_ = sub.Close()
		return nil, err
	}
	// A regional room's chain is its moderators' changes, empty until
	// the first.
	if err := r.catchUp(ctx, j, home); err != nil {
		return fail(err)
	}
	if sub.CaughtUp {
		r.log.Debug("attached to a room's home", "room", j.room, "home", home, "since", last.at, "newest", sub.Newest, "caughtUp", true)
		return sub, nil // what we missed comes first on the stream
	}
	msgs, err := client.RoomBacklog(ctx, r.h.Libp2p(), home, tk.Signed, j.room, 0)
	if err != nil {
		return fail(fmt.Errorf("reading %q's backlog: %w", j.room, mapErr(err)))
	}
	r.log.Debug("attached to a room's home", "room", j.room, "home", home, "since", last.at, "known", last.known, "newest", sub.Newest, "backlog", len(msgs))
	for _, s := range msgs {
		r.show(j, s, 0)
	}
	// The backlog is what there is to see up to the newest position when
	// the home admitted us; later messages come on the stream.
	j.mu.Lock()
	j.last = mark{sub.Newest, true}
	j.mu.Unlock()
	return sub, nil
}

// keep records j's last message position shown in the store, so a rejoin
// after a restart catches up from it too; a room forgotten keeps none.
// Each message shown moved it already, in the transaction that stored it
// (reveal); this records the position past what was not shown — copies,
// a backlog's newest, messages that do not verify or wait for a key.
func (r *Rooms) keep(j *joined) {
	j.mu.Lock()
	last, gone := j.last, j.gone
	j.mu.Unlock()
	if !last.known || gone {
		return
	}
	if err := r.h.Store().SetRoomPosition(j.room, last.at); err != nil {
		r.log.Warn("keeping a room's position", "room", j.room, "err", err)
	}
}

// catchUp reads the room's chain at home after the position j holds, a
// page at a time, verifying every op against the state before it.
func (r *Rooms) catchUp(ctx context.Context, j *joined, home peer.ID) error {
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	show := st.Seq > 0
	replayed, restart := false, false
	for {
		restart = false
		ops, more, err := client.RoomOpsSince(ctx, r.h.Libp2p(), home, r.h.Ticket().Signed, j.room, st.Seq)
		if err != nil {
			return fmt.Errorf("reading %q's chain: %w", j.room, mapErr(err))
		}
		for i, s := range ops {
			next, op, err := room.Step(st, s, r.h.Now(), r.checks())
			if err != nil && i == 0 && errors.Is(err, room.ErrFork) && !replayed {
				// Our head is on a branch the homes dropped (a fork
				// settled for an earlier home's branch, docs/ROOMS.md):
				// read the whole chain again, every op verified.
				r.log.Info("a room's chain forked from ours: reading it again", "room", j.room, "at", st.Seq)
				st, show, replayed, restart = room.New(j.room), false, true, true
				break
			}
			if err != nil {
				// The home hands out a chain that does not verify: take
				// nothing more from it.
				return fmt.Errorf("room %q's chain at position %d: %w", j.room, st.Seq+1, err)
			}
			st = next
			if show {
				r.showOp(op)
			}
		}
		if restart {
			continue // start over from the genesis op
		}
		if !more || len(ops) == 0 {
			break
		}
	}
	j.mu.Lock()
	j.state = st
	j.mu.Unlock()
	return nil
}

// loop follows j's joined stream until we leave (j.ctx ends), rejoining
// with a bounded back-off whenever the stream drops, and forgetting the
// room when its home removed us for good (kicked, banned, deleted) or a
// rejoin is refused for good (banned, wrong password).
func (r *Rooms) loop(j *joined, sub *client.Subscription) {
	defer func() {
		if sub != nil {
			_ = sub.Close()
		}
		r.keep(j)
	}()
	delay := r.cfg.RetryMin
	for {
		if sub == nil {
			select {
			case <-j.ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, r.cfg.RetryMax)
			ctx, cancel := context.WithTimeout(j.ctx, 2*wire.RoomTimeout)
			s, err := r.attach(ctx, j)
			cancel()
			switch {
			case j.ctx.Err() != nil:
				return
			case errors.Is(err, api.ErrBanned), errors.Is(err, api.ErrWrongPassword):
				r.log.Info("not rejoining a room", "room", j.room, "err", err)
				r.forget(j)
				return
			case err != nil:
				r.log.Debug("rejoining a room", "room", j.room, "err", err, "retry", delay)
				continue
			}
			sub = s
		}
		ev, err := sub.Next(j.ctx)
		if err != nil {
			_ = sub.Close()
			sub = nil
			j.mu.Lock()
			j.home = ""
			j.mu.Unlock()
			if j.ctx.Err() != nil {
				return
			}
			r.keep(j)
			switch endReason(err) {
			case endKicked, endBanned, endDeleted:
				r.log.Info("removed from a room", "room", j.room, "err", err)
				r.forget(j)
				return
			}
			r.log.Debug("room stream dropped", "room", j.room, "err", err)
			continue
		}
		delay = r.cfg.RetryMin
		r.handle(j, ev)
	}
}

// The reasons a home ends a joined stream for good (supernode/rooms'
// End*, which TestEndReasons holds these to: a component reaches the
// supernode only through its client package).
const (
	endKicked  = "kicked"
	endBanned  = "banned"
	endDeleted = "deleted"
)

// endReason is the home's reason for ending a joined stream, or "".
func endReason(err error) string {
	if !errors.Is(err, client.ErrRoomEnded) {
		return ""
	}
	msg := err.Error()
	return msg[strings.LastIndex(msg, ": ")+2:]
}

// removes reports whether op puts user out of its room: a kick or a ban
// of user, or the room's deletion.
func removes(op *room.Op, user string) bool {
	switch op.Kind {
	case room.KindKick, room.KindBan:
		return op.Target == user
	case room.KindDeleteRoom:
		return true
	}
	return false
}

// forget drops j: we are no longer in its room, now or at the next sign-in.
func (r *Rooms) forget(j *joined) {
	j.mu.Lock()
	j.gone = true
	j.mu.Unlock()
	r.mu.Lock()
	if r.joined[j.room] == j {
		delete(r.joined, j.room)
	}
	r.mu.Unlock()
	j.cancel()
	r.dropKeys(j.room)
	if err := r.h.Store().DropRoom(j.room); err != nil {
		r.log.Warn("forgetting a room", "room", j.room, "err", err)
	}
}

// handle shows one event of j's joined stream.
func (r *Rooms) handle(j *joined, ev *wire.RoomEvent) {
	switch k := ev.Kind.(type) {
	case *wire.RoomEvent_Message:
		r.show(j, k.Message, ev.Position)
		if ev.Position > 0 {
			// The home's word, as the message order is: a rejoin asks it
			// (or another home) for what follows.
			j.mu.Lock()
			j.last = mark{ev.Position, true}
			j.mu.Unlock()
		}
	case *wire.RoomEvent_Op:
		j.mu.Lock()
		next, op, err := room.Step(j.state, k.Op, r.h.Now(), r.checks())
		if err == nil {
			j.state = next
		}
		home := j.home
		j.mu.Unlock()
		switch {
		case err == nil:
			if removes(op, r.h.Ticket().Username) {
				// Out of the room from this line on: forgotten before the
				// line is shown, so a join right after it is a new join,
				// which the home admits or refuses — not "joined already"
				// while the home's end of the stream is still on its way.
				r.forget(j)
			}
			r.showOp(op)
		case (errors.Is(err, room.ErrGap) || errors.Is(err, room.ErrFork)) && home != "":
			// Ops we missed (a lagging stream, or a fork the homes
			// settled against our branch): read them from the chain,
			// this one included.
			ctx, cancel := context.WithTimeout(j.ctx, 2*wire.RoomTimeout)
			if err := r.catchUp(ctx, j, home); err != nil {
				r.log.Warn("catching up a room's chain", "room", j.room, "err", err)
			}
			cancel()
		case errors.Is(err, room.ErrStale):
			// Already applied from the chain.
		default:
			r.log.Warn("a room op that does not verify", "room", j.room, "err", err)
		}
	case *wire.RoomEvent_Joined:
		j.setOnline(k.Joined, true)
		r.keysOnLine(j.room, k.Joined, true)
		r.h.Emit(api.Event{RoomEvent: &api.RoomEvent{Room: j.room, Kind: api.RoomJoin, Username: k.Joined}})
	case *wire.RoomEvent_Left:
		j.setOnline(k.Left, false)
		r.keysOnLine(j.room, k.Left, false)
		r.h.Emit(api.Event{RoomEvent: &api.RoomEvent{Room: j.room, Kind: api.RoomLeave, Username: k.Left}})
	case *wire.RoomEvent_Report:
		r.showReport(j, k.Report)
	}
}

// show verifies a message of j's room, at pos in its order (0: not
// known), and shows it unless it was shown before (on this device, in
// this room); a sealed one once it opens (reveal).
func (r *Rooms) show(j *joined, s *wire.SignedRoomMessage, pos uint64) {
	m, err := r.verify(j.room, s)
	if err != nil {
		r.log.Warn("a room message that does not verify", "room", j.room, "err", err)
		return
	}
	r.reveal(m, pos)
}

// verify checks a message's author signature and ticket, and that it is of
// room name.
func (r *Rooms) verify(name string, s *wire.SignedRoomMessage) (*room.Message, error) {
	m, err := room.VerifyMessage(s, r.h.Now(), r.checks())
	if err != nil {
		return nil, err
	}
	if m.Room != name {
		return nil, fmt.Errorf("%w: a message of %q in %q", room.ErrWrongRoom, m.Room, name)
	}
	return m, nil
}

// checks are what ops and messages are verified against: tickets of our
// auth server. Revocation is the homes' to check when they take an item;
// a device revoked later does not undo what it signed before.
func (r *Rooms) checks() room.Checks { return room.Checks{Server: r.h.Ticket().Server} }

// showOp shows a verified op as a line of the room.
func (r *Rooms) showOp(op *room.Op) {
	r.keysOnOp(op)
	e := api.RoomEvent{Room: op.Room, By: op.Author}
	switch op.Kind {
	case room.KindTopic:
		e.Kind, e.Topic = api.RoomTopic, op.Topic
	case room.KindModes:
		e.Kind = api.RoomModes
	case room.KindBan:
		e.Kind, e.Username, e.Until = api.RoomBan, op.Target, op.Until
	case room.KindOp, room.KindDeop, room.KindVoice, room.KindDevoice, room.KindKick, room.KindUnban:
		e.Kind, e.Username = api.RoomEventKind(op.Kind), op.Target
	case room.KindInvite:
		e.Kind, e.Username = api.RoomInvited, op.Target
	case room.KindTransferOwner:
		e.Kind, e.Username = api.RoomOwner, op.Target
	case room.KindDeleteMessage:
		e.Kind, e.Username, e.ID = api.RoomMessageDeleted, op.Target, op.MessageID
	case room.KindDeleteRoom:
		e.Kind = api.RoomDeleted
	default: // create: the room as it is, not a line
		return
	}
	r.h.Emit(api.Event{RoomEvent: &e})
}

// view is a verified message as the front ends see it.
func view(m *room.Message) api.RoomMessage {
	return api.RoomMessage{Room: m.Room, ID: m.ID, From: m.Author, Text: m.Text, Time: m.Time}
}
