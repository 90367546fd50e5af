package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"eserver/node/payload"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"eserver/node/api"
	"eserver/node/picture"
	"eserver/node/store"
	"eserver/node/transfer"
	"eserver/node/wire"
)

// Display pictures. Ours is a PNG made by SetAvatar; its SHA-256 travels in
// our presence. A contact that lacks the picture asks for it once
// (AvatarRequest) and we offer it as a transfer of kind avatar — the same
// protocol, encryption and integrity checks as files — which the contact
// takes without asking its user. Pictures are cached by hash in the
// profile's "pictures" folder, shared by every account of the profile:
// a name that is a hash cannot be mixed up.
//
// The picture's name (its hex SHA-256) and the transfer's hash (BLAKE3, as
// for every file) are two different digests: the offer says which picture
// it carries by its file name, pictureFile(h), and the receiver checks the
// SHA-256 of what arrived against that name before caching it.

const (
	settingAvatar = "presence.avatar" // our picture's hex SHA-256
	// pictureRetry is how soon a contact's picture is asked for again when
	// it has not arrived, and how often we answer one contact's requests.
	pictureRetry = 30 * time.Second
)

// pictures remembers which pictures we asked for and whose requests we
// answered, to keep both sides' traffic bounded.
type pictures struct {
	mu       sync.Mutex
	asked    map[string]time.Time // contact + "/" + hash → when we asked
	answered map[string]time.Time // contact → when we last offered ours
}

func (p *pictures) due(m *map[string]time.Time, key string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if last, ok := (*m)[key]; ok && now.Sub(last) < pictureRetry {
		return false
	}
	if len(*m) > 10000 {
		clear(*m) // bounded memory; the worst case is an early retry
	}
	(*m)[key] = now
	return true
}

func (n *Node) pictureDir() string { return filepath.Join(n.cfg.ProfileDir, "pictures") }

// picturePath returns the cached picture with hex hash h, or "" when we do
// not have it.
func (n *Node) picturePath(h string) string {
	if !validHash(h) {
		return ""
	}
	p := filepath.Join(n.pictureDir(), pictureFile(h))
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// pictureFile is the name picture h travels under in its offer and is
// cached as.
func pictureFile(h string) string { return h + ".png" }

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

// SetAvatar implements API.
func (n *Node) SetAvatar(ctx context.Context, path string, crop api.Crop) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	h := ""
	if path != "" {
		data, err := picture.AvatarFile(path, crop)
		if err != nil {
			return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		if len(data) > api.MaxAvatarBytes {
			return fmt.Errorf("%w: display picture of %d bytes", api.ErrBadRequest, len(data))
		}
		sum := sha256.Sum256(data)
		h = hex.EncodeToString(sum[:])
		if err := n.cachePicture(h, data); err != nil {
			return err
		}
	}
	if err := s.store.SetSetting(settingAvatar, h); err != nil {
		return err
	}
	s.presence.SetAvatar(h)
	return nil
}

// cachePicture stores data as the picture named h, durably and atomically:
// a reader never sees half a picture under its final name.
func (n *Node) cachePicture(h string, data []byte) error {
	dir := n.pictureDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	final := filepath.Join(dir, pictureFile(h))
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".picture-*")
	if err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("picture cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("picture cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	return nil
}

// loadAvatar is our picture's hash as remembered, or "" when the picture is
// no longer in the cache.
func (s *session) loadAvatar() string {
	h, _ := s.store.Setting(settingAvatar)
	if s.n.picturePath(h) == "" {
		return ""
	}
	return h
}

// contactPicture notes the picture a contact advertises and asks for it
// when we do not have it. Called under the contact list's lock, c as stored.
func (s *session) contactPicture(c *store.Contact, raw []byte) error {
	if len(raw) != 0 && len(raw) != sha256.Size {
		return payload.ErrBadRequest
	}
	h := hex.EncodeToString(raw)
	c.Avatar = h
	if h != "" && s.n.picturePath(h) == "" && s.pics.due(&s.pics.asked, c.Username+"/"+h, s.n.cfg.Now()) {
		return s.Enqueue(c.Username, &wire.Payload{Kind: &wire.Payload_AvatarRequest{AvatarRequest: &wire.AvatarRequest{Sha256: raw}}}, nil)
	}
	return nil
}

// receiveAvatarRequest offers our picture to a contact that asked for it.
// A request for any other picture (an old one, a made-up hash) is ignored:
// we serve only what we advertise now.
func (s *session) receiveAvatarRequest(from string, r *wire.AvatarRequest) error {
	h := s.presence.Mine().Avatar
	path := s.n.picturePath(h)
	if len(r.Sha256) != sha256.Size || hex.EncodeToString(r.Sha256) != h || path == "" {
		return nil
	}
	if !s.pics.due(&s.pics.answered, from, s.n.cfg.Now()) {
		return nil
	}
	// The offer's hash is BLAKE3; the picture's name is its SHA-256, so
	// check the cached file against its name here (it is small).
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("offering our picture: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != h {
		return fmt.Errorf("offering our picture: cached file does not match its name %s", h)
	}
	if err := s.files.OfferAvatar(from, path); err != nil {
		return fmt.Errorf("offering our picture: %w", err)
	}
	return nil
}

// receiveAvatarOffer fetches a contact's picture: only the one it
// advertises (the offer's name says which; pictureArrived checks the bytes
// against it), only if we lack it, only if it is small. Nothing asks the
// user.
func (s *session) receiveAvatarOffer(from string, o *wire.FileOffer) error {
	c, err := s.store.Contact(from)
	if err != nil {
		return err
	}
	h := c.Avatar
	if !validHash(h) || o.Name != pictureFile(h) || o.Size <= 0 || o.Size > api.MaxAvatarBytes || len(o.Id) != 16 ||
		len(o.Key) != 32 || len(o.Hash) != transfer.HashSize {
		return nil // stale, unasked or oversized: not fetched
	}
	if s.n.picturePath(h) != "" {
		return nil
	}
	if _, err := s.store.Transfer(o.Id); err == nil {
		return nil // a resend of an offer we have
	}
	dir := filepath.Join(s.n.pictureDir(), "incoming")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	return s.files.FetchAvatar(from, o, dir)
}

// pictureArrived moves a fetched picture into the cache under its hash,
// after checking its SHA-256 is the one its offer named (the transfer
// checked only the offer's BLAKE3) and it is a picture we are willing to
// show, and tells the front ends which contacts now have one.
func (s *session) pictureArrived(t store.Transfer, file string) error {
	defer os.Remove(file)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if pictureFile(h) != t.Name {
		return fmt.Errorf("picture from %s: %w", t.Peer, transfer.ErrCorrupt)
	}
	if err := picture.CheckAvatar(data); err != nil {
		return fmt.Errorf("picture from %s: %w", t.Peer, err)
	}
	if err := s.n.cachePicture(h, data); err != nil {
		return err
	}
	cs, err := s.store.Contacts()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Avatar == h {
			s.contacts.Changed(c.Username)
		}
	}
	return nil
}

// pictureKinds: a contact asks for our display picture.
func (s *session) pictureKinds() []payload.Kind {
	return []payload.Kind{{Of: (*wire.Payload_AvatarRequest)(nil), From: payload.Accepted,
		Handle: func(in *payload.Inbound) error {
			return s.receiveAvatarRequest(in.From(), in.Payload.GetAvatarRequest())
		}}}
}
