package client

import "github.com/libp2p/go-libp2p/core/peer"

// roomHomesLabel keeps a room's key apart from every mailbox ID, so a room
// named like some mailbox ID's bytes gets homes of its own.
const roomHomesLabel = "room/"

// RoomHomes picks the n home supernodes of the chat room named room among
// sns: HomesFor keyed by the room's name, best first. Every member and home
// computes the same homes from the same supernodes; the first live one is
// the room's primary (docs/ROOMS.md).
func RoomHomes(room string, sns []peer.ID, n int) []peer.ID {
	return HomesFor(roomHomesLabel+room, sns, n)
}
