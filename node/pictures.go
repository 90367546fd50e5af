package node

import (
	"context"
	"path/filepath"

	"eserver/node/api"
	"eserver/node/presence"
)

// Display pictures are node/presence's; they are cached per profile.

func (n *Node) pictureDir() string { return filepath.Join(n.cfg.ProfileDir, "pictures") }

// picturePath returns the cached picture with hex hash h, or "".
func (n *Node) picturePath(h string) string { return presence.PicturePath(n.pictureDir(), h) }

// SetAvatar implements API.
func (n *Node) SetAvatar(ctx context.Context, path string, crop api.Crop) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.presence.SetPicture(path, crop)
}
