package rooms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Messages acknowledged at one home that the room's order lost
// (docs/ROOMS.md, "Forks"). A primary acknowledges a message only once
// another live home stored it, unless it takes every other home for dead;
// then it alone holds it, and the other homes, taking it for dead in turn,
// sequence other messages at the same positions. When they meet again
// the primary's catch-up compares its newest messages with theirs
// (reconcile): where the orders part it takes theirs — two homes hold it,
// their members were shown it — and places its own messages from there
// after them, as new ones, so they reach every home; a home's members are
// shown each message once (a message placed again is not pushed where it
// was shown). Likewise a home whose messages a primary's replica displaced
// hands them back to the primary to be placed (handBack).

// reconcileWindow is how many of its newest positions a catching-up
// primary compares with another home's: one page of messages_since. A
// split during which the primary alone sequenced more than that is not
// found (its messages stay where they are, not at the other homes).
const reconcileWindow = wire.RoomMessagesPage

// messageID is the ID a signed message carries ("" if it does not decode:
// it is then verified, and refused, where it is stored).
func messageID(sm *wire.SignedRoomMessage) string {
	var m wire.RoomMessage
	if proto.Unmarshal(sm.GetMessage(), &m) != nil {
		return ""
	}
	return m.Id
}

// reconcile is the primary's catch-up of name's messages from home: the
// messages past its own newest (pullMessages), and before that, where
// home's order and this one's differ among the newest reconcileWindow
// positions, home's order from there, with this home's messages from
// there placed after it. It returns pullMessages's errors (errUnread: the
// home was not read).
func (s *Service) reconcile(ctx context.Context, home peer.ID, name string) error {
	last, err := s.store.LastPosition(ctx, name)
	if err != nil {
		return err
	}
	since := last - min(last, reconcileWindow)
	if last == 0 {
		return s.pullMessages(ctx, home, name)
	}
	var page []*wire.RoomOrderedMessage
	if err := s.call(ctx, home, func(ctx context.Context, h host.Host, tk *wire.SignedTicket) error {
		page, err = client.RoomMessagesSince(ctx, h, home, tk, name, since)
		return err
	}); err != nil {
		return unread(err)
	}
	mine, err := s.store.OrderIDs(ctx, name, since, last)
	if err != nil {
		return err
	}
	at := -1
	for i, om := range page {
		if om.GetPosition() > last {
			break
		}
		if id, ok := mine[om.GetPosition()]; ok && id != messageID(om.GetMessage()) {
			at = i
			break
		}
	}
	if at < 0 {
		return s.pullMessages(ctx, home, name)
	}
	fork := page[at].GetPosition()
	s.log.Info("another home holds another message order: taking it", "room", name, "home", home, "from", fork)
	// This home's messages from the fork on, to place after home's.
	var own []Message
	for from := fork - 1; ; {
		more, err := s.store.MessagesSince(ctx, name, from)
		if err != nil {
			return err
		}
		own = append(own, more...)
		if len(more) < wire.RoomMessagesPage {
			break
		}
		from = more[len(more)-1].Position
	}
	_, err = s.storeOrdered(ctx, name, page[at:], false)
	switch {
	case err != nil && !errors.Is(err, ErrGap):
		err = fmt.Errorf("taking another home's order: %w", err)
	case len(page) == wire.RoomMessagesPage:
		err = s.pullMessages(ctx, home, name)
	default:
		err = nil
	}
	// Placed whatever befell the rest: once displaced here they would
	// not be found again (a next catch-up finds the orders alike). Should
	// home's order go on past them, that catch-up takes it and places
	// them again.
	if _, perr := s.placeHere(ctx, name, own); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// placeHere places ms in name's order as its primary (Store.Place), pushes
// those not held here before to the members joined here, and ships those
// that took a new position to the other homes, in their order.
func (s *Service) placeHere(ctx context.Context, name string, ms []Message) ([]Placed, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	m := s.lockRoom(name)
	out, err := s.store.Place(ctx, name, ms)
	var moved []*wire.RoomOrderedMessage
	for i, p := range out {
		if p.Err != nil || !p.Moved {
			continue
		}
		sm, derr := room.DecodeMessage(ms[i].Body)
		if derr != nil {
			continue
		}
		om := &wire.RoomOrderedMessage{Position: p.Position, Message: sm}
		if p.Fresh {
			m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: sm}, Position: p.Position})
		}
		moved = append(moved, om)
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, om := range moved {
		s.log.Info("a message the order lost placed again", "room", name, "position", om.Position)
		s.ship(name, om)
	}
	return out, nil
}

// handBackTries is how many times a home hands displaced messages back to
// the primary while it is answered busy or not at all (a failover under
// way), wire.RoomReplicaTimeout apart.
const handBackTries = 4

// handBackAge bounds how old a message handed back may be (by its
// author's signed time) for the primary to place it: a split lasts
// seconds to minutes, and an older message handed back is a replay the
// primary has no way to tell from one.
const handBackAge = time.Hour

// handedBack reports whether rep is a home handing displaced messages
// back to the primary: messages without positions (a replica's always
// have one).
func handedBack(rep *wire.RoomReplica) bool {
	if len(rep.GetMessages()) == 0 {
		return false
	}
	for _, om := range rep.Messages {
		if om.GetPosition() != 0 {
			return false
		}
	}
	return true
}

// handBackLater hands the messages ids, displaced here by the primary's
// replica, back to the primary in the background (handBack), under the
// replication's context.
func (s *Service) handBackLater(name string, ids []string) {
	s.repl.mu.Lock()
	ctx := s.repl.ctx
	if s.repl.stop == nil {
		// Closing (or not attached): the replication's goroutines are
		// being waited for.
		s.repl.mu.Unlock()
		return
	}
	s.repl.wg.Add(1)
	s.repl.mu.Unlock()
	go func() {
		defer s.repl.wg.Done()
		s.handBack(ctx, name, ids)
	}()
}

// handBack sends those of ids still displaced here to the room's primary
// to be placed at new positions (a replicate request whose messages have
// no positions), or places them itself when it is the primary. The
// primary places each once: one it holds in its order already stays
// where it is. It tries again while the primary is busy or does not
// answer, handBackTries times in all.
func (s *Service) handBack(ctx context.Context, name string, ids []string) {
	for try := range handBackTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wire.RoomReplicaTimeout):
			}
		}
		ms, err := s.store.Displaced(ctx, name, ids)
		if err != nil || len(ms) == 0 {
			return
		}
		live, self := s.live(name), s.self()
		if len(live) == 0 || live[0] == self {
			if !s.catchUp(ctx, name) {
				continue
			}
			if _, err := s.placeHere(ctx, name, ms); err != nil {
				s.log.Warn("placing displaced messages", "room", name, "err", err)
			}
			return
		}
		primary := live[0]
		err = s.sendBack(ctx, primary, name, ms)
		switch {
		case err == nil:
			s.log.Info("displaced messages handed back to the primary", "room", name, "primary", primary, "count", len(ms))
			return
		case answered(err) && !errors.Is(err, client.ErrBusy):
			s.log.Info("the primary refused displaced messages", "room", name, "primary", primary, "err", err)
			return
		}
		s.log.Debug("handing displaced messages back", "room", name, "primary", primary, "err", err)
	}
}

// sendBack sends ms to primary without positions, as many a request as
// wire.MaxRoomRequest holds.
func (s *Service) sendBack(ctx context.Context, primary peer.ID, name string, ms []Message) error {
	var oms []*wire.RoomOrderedMessage
	for _, m := range ms {
		if sm, err := room.DecodeMessage(m.Body); err == nil {
			oms = append(oms, &wire.RoomOrderedMessage{Message: sm})
		}
	}
	for len(oms) > 0 {
		n, size := 0, 0
		for n < len(oms) && n < maxShipBatch {
			size += proto.Size(oms[n])
			if n > 0 && size > shipBytes {
				break
			}
			n++
		}
		rep := &wire.RoomReplica{Room: name, Messages: oms[:n]}
		if err := s.call(ctx, primary, func(ctx context.Context, h host.Host, st *wire.SignedTicket) error {
			return client.ReplicateRoom(ctx, h, primary, st, rep)
		}); err != nil {
			return err
		}
		oms = oms[n:]
	}
	return nil
}

// placeHandedBack is the primary's side of handBack: remote, a home of
// the room, hands back messages a replica displaced there. Each is its
// author's signed message of this room, verified as a replica's is (not
// for revocation or age: it was admitted when it was first sequenced),
// signed within handBackAge; the primary, caught up, places it (Place:
// at the next position unless it holds it in its order already) and
// passes it on as any message. A home that is not the primary in its own
// view answers busy: the other tries again.
func (s *Service) placeHandedBack(ctx context.Context, remote peer.ID, name string, oms []*wire.RoomOrderedMessage) *wire.RoomResponse {
	if live := s.live(name); len(live) == 0 || live[0] != s.self() {
		return failed(wire.CodeBusy)
	}
	if !s.catchUp(ctx, name) {
		return failed(wire.CodeBusy)
	}
	now := s.cfg.Now()
	ms := make([]Message, 0, len(oms))
	for _, om := range oms {
		msg, err := room.VerifyMessage(om.GetMessage(), now, room.Checks{Server: s.cfg.AuthServer})
		switch {
		case err != nil:
			s.log.Debug("a displaced message handed back does not verify", "room", name, "from", remote, "err", err)
			continue
		case msg.Room != name || now.Sub(msg.Time) > handBackAge:
			continue
		}
		ms = append(ms, Message{ID: msg.ID, Author: msg.Author, Time: msg.Time, Body: wire.MustMarshal(om.Message)})
	}
	if _, err := s.placeHere(ctx, name, ms); err != nil {
		return failed(code(err))
	}
	return &wire.RoomResponse{}
}
