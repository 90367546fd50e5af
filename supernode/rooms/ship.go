package rooms

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
	"eserver/supernode/client"
)

// How the primary passes its messages on to the room's other homes. Each
// other home has one queue per room, filled by the room's sequence runner
// in position order and emptied by one runner at a time, which sends what
// waits in one replicate request (wire.RoomReplica.messages) and waits for
// the answer before the next. A home so receives a room's messages in
// their order — one replica per message sent at once would arrive out of
// order under load, and each arriving past a gap made the home read the
// messages it missed from the primary (verifying each again): under load
// that reading, not the messages, filled the homes' CPU.

// shipBytes bounds the messages of one replicate request, leaving room in
// wire.MaxRoomRequest for the supernode's ticket and the framing; one
// message always goes (a member's send of it fitted in a request).
const shipBytes = wire.MaxRoomRequest - 4<<10

// maxShipBatch bounds the messages of one replicate request.
const maxShipBatch = 64

// shipper holds the messages waiting for each (room, home), and their
// runners.
type shipper = batches[shipKey, *shipment]

type shipKey struct {
	room string
	home peer.ID
}

// shipment is one ordered message on its way to the other homes; each
// home's runner sends on done whether the home took it.
type shipment struct {
	om    *wire.RoomOrderedMessage
	homes int
	done  chan bool // buffered: homes
}

// ship queues om to name's other live homes and returns its shipment. The
// caller ships a room's messages in their order.
func (s *Service) ship(name string, om *wire.RoomOrderedMessage) *shipment {
	self := s.self()
	var homes []peer.ID
	for _, h := range s.live(name) {
		if h != self {
			homes = append(homes, h)
		}
	}
	sh := &shipment{om: om, homes: len(homes), done: make(chan bool, len(homes))}
	for _, h := range homes {
		s.shipping.add(shipKey{name, h}, sh, s.runShipping)
	}
	return sh
}

// awaitShipped waits until every other home answered sh's message (each
// within wire.RoomReplicaTimeout) or ctx ends: a member answered has its
// message at every live home, so the next home attached to sees it. It
// reports whether another home took it, or none was live to: a message
// only this home holds while others are live is not acknowledged
// (sequenceMessage).
func awaitShipped(ctx context.Context, sh *shipment) bool {
	took := false
	for range sh.homes {
		select {
		case ok := <-sh.done:
			took = took || ok
		case <-ctx.Done():
			return took
		}
	}
	return took || sh.homes == 0
}

// runShipping sends k's waiting messages to its home, a request at a
// time, until none waits.
func (s *Service) runShipping(k shipKey) {
	for {
		batch, ok := s.shipping.next(k, shipSize)
		if !ok {
			return
		}
		ok = s.shipTo(k, batch)
		for _, sh := range batch {
			sh.done <- ok
		}
	}
}

// shipSize is how many of the waiting shipments one request takes: at
// most maxShipBatch and shipBytes of messages, and always the first.
func shipSize(queue []*shipment) int {
	n, size := 0, 0
	for n < len(queue) && n < maxShipBatch {
		size += proto.Size(queue[n].om)
		if n > 0 && size > shipBytes {
			break
		}
		n++
	}
	return n
}

// shipTo sends batch to k's home in one replicate request, unless the
// home is taken for dead; it reports whether the home took them.
func (s *Service) shipTo(k shipKey, batch []*shipment) bool {
	live := false
	for _, h := range s.live(k.room) {
		live = live || h == k.home
	}
	if !live {
		return false
	}
	oms := make([]*wire.RoomOrderedMessage, len(batch))
	for i, sh := range batch {
		oms[i] = sh.om
	}
	rep := &wire.RoomReplica{Room: k.room, Messages: oms}
	err := s.call(context.Background(), k.home, func(ctx context.Context, h host.Host, st *wire.SignedTicket) error {
		return client.ReplicateRoom(ctx, h, k.home, st, rep)
	})
	s.replicaAnswered(k.room, k.home, err)
	return err == nil
}

// replicaAnswered acts on a home's answer to a replica: a stale answer
// from a home earlier in the room's order means it holds another branch,
// and this home steps down; a home that does not count this one among the
// room's homes means a list is behind the registry.
func (s *Service) replicaAnswered(name string, home peer.ID, err error) {
	switch {
	case err == nil:
	case errors.Is(err, client.ErrStale) && s.before(name, home, s.self()):
		s.log.Info("an earlier home holds another branch: stepping down", "room", name, "home", home)
		s.setPrimary(name, false)
	case errors.Is(err, client.ErrNotAllowed):
		s.kick()
		s.log.Debug("replicating", "room", name, "home", home, "err", err)
	default:
		s.log.Debug("replicating", "room", name, "home", home, "err", err)
	}
}
