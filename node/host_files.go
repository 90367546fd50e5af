package node

import (
	"eserver/node/store"
	"eserver/node/wire"
)

// The session as files.Avatars: display pictures (node/presence) travel as
// file transfers of kind avatar.

// AvatarOffered is a contact's offer of its display picture.
func (s *session) AvatarOffered(from string, o *wire.FileOffer) error {
	return s.presence.AvatarOffered(from, o)
}

// AvatarArrived is a contact's display picture, fetched into file.
func (s *session) AvatarArrived(t store.Transfer, file string) error {
	return s.presence.AvatarArrived(t, file)
}
