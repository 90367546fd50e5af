package node

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// The session's side of rooms.Host beyond host.go.

// RoomHomes are a chat room's home supernodes, best first.
func (s *session) RoomHomes(room string) []peer.AddrInfo { return s.discovery.RoomHomes(room) }

// Supernodes are the live supernodes, at most n, best first.
func (s *session) Supernodes(n int) []peer.AddrInfo { return s.discovery.Supernodes(n) }

// Face is our nick and display picture's hash, as our presence holds them:
// a plain room message carries them for members who are not contacts.
func (s *session) Face() (nick, avatar string) {
	m := s.presence.Mine()
	return m.Nick, m.Avatar
}

// PicturePath is picture h (hex SHA-256) in the profile's cache, ours or a
// contact's, or "".
func (s *session) PicturePath(h string) string { return s.n.picturePath(h) }
