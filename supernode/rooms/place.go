package rooms

import (
	"context"
	"errors"
	"fmt"

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
	if err := s.storeOrdered(ctx, name, page[at:], false); err != nil && !errors.Is(err, ErrGap) {
		return fmt.Errorf("taking another home's order: %w", err)
	}
	if len(page) == wire.RoomMessagesPage {
		if err := s.pullMessages(ctx, home, name); err != nil {
			return err
		}
	}
	_, err = s.placeHere(ctx, name, own)
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
