package node

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// The session's side of rooms.Host beyond host.go.

// RoomHomes are a chat room's home supernodes, best first.
func (s *session) RoomHomes(room string) []peer.AddrInfo { return s.discovery.RoomHomes(room) }

// Supernodes are the live supernodes, at most n, best first.
func (s *session) Supernodes(n int) []peer.AddrInfo { return s.discovery.Supernodes(n) }
