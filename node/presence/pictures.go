package presence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"eserver/node/api"
	"eserver/node/payload"
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
//
// The cache holds one picture per contact: the one it shows now. A contact
// could otherwise fill the disk by cycling through pictures, each a new
// hash we fetch (issue 13, item 11). When a contact's picture changes, the
// old one goes unless another contact still shows it; a fetched picture
// its contact no longer shows is not kept. Our own pictures live apart, in
// the cache's "own" folder, which this never prunes: a contact showing the
// same bytes as one of ours (another account of the profile, say) and
// moving on must not take our picture with it.

const (
	settingAvatar = settingPrefix + "avatar" // our picture's hex SHA-256 (fieldKeys[fieldAvatar])
	// pictureRetry is how soon a contact's picture is asked for again when
	// it has not arrived, and how often we answer one contact's requests
	// for one picture.
	pictureRetry = 30 * time.Second
)

// pictures remembers which pictures we asked for and whose requests we
// answered, to keep both sides' traffic bounded.
type pictures struct {
	mu       sync.Mutex
	asked    map[string]time.Time // contact + "/" + hash → when we asked
	answered map[string]time.Time // contact + "/" + hash → when we last offered it

	// cache orders the contacts' side of the cache: deciding that a
	// picture is (no longer) shown and adding (removing) its file happen
	// together, so a fetch completing while its contact moves on cannot
	// leave a file nobody shows.
	cache sync.Mutex
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

// ownDir is the folder of the cache dir that holds our own pictures.
func ownDir(dir string) string { return filepath.Join(dir, "own") }

// PicturePath returns the picture with hex hash h cached in dir (ours or a
// contact's), or "" when it is not there.
func PicturePath(dir, h string) string {
	if !validHash(h) {
		return ""
	}
	for _, d := range []string{ownDir(dir), dir} {
		p := filepath.Join(d, PictureFile(h))
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// PictureFile is the name picture h travels under in its offer and is
// cached as.
func PictureFile(h string) string { return h + ".png" }

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

// picturePath is PicturePath in our cache.
func (p *Presence) picturePath(h string) string { return PicturePath(p.dir, h) }

// SetPicture makes the picture at path, cropped to crop, our display
// picture ("" for none) and tells everyone.
func (p *Presence) SetPicture(path string, crop api.Crop) error {
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
		if err := cachePicture(ownDir(p.dir), h, data); err != nil {
			return err
		}
	}
	now := p.h.Now().UnixMilli()
	if err := p.setField(fieldAvatar, h, now); err != nil {
		return err
	}
	p.mu.Lock()
	p.mine.Avatar, p.changed[fieldAvatar] = h, now
	p.mu.Unlock()
	p.h.AccountChanged()
	p.Broadcast()
	return nil
}

// cachePicture stores data as the picture named h in dir, durably and
// atomically: a reader never sees half a picture under its final name.
func cachePicture(dir, h string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	final := filepath.Join(dir, PictureFile(h))
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
// no longer in the cache. A picture cached before ours had their own
// folder is copied there, out of the contacts' pruned side.
func (p *Presence) loadAvatar() string {
	h, _ := p.h.Store().Setting(settingAvatar)
	path := p.picturePath(h)
	if path == "" {
		return ""
	}
	if filepath.Dir(path) != ownDir(p.dir) {
		if data, err := os.ReadFile(path); err == nil {
			cachePicture(ownDir(p.dir), h, data) // best effort: it is still found where it is
		}
	}
	return h
}

// shown reports whether h is a picture a contact shows now; with except
// set, that contact does not count. The caller holds pics.cache.
func (p *Presence) shown(h, except string) (bool, error) {
	cs, err := p.h.Store().Contacts()
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.Avatar == h && c.Username != except {
			return true, nil
		}
	}
	return false, nil
}

// forgetPicture removes picture h from the contacts' cache once the
// contact who showed it moved on, unless another contact shows it too.
// Our own pictures are in their own folder and never removed here.
func (p *Presence) forgetPicture(h, who string) {
	if !validHash(h) {
		return
	}
	p.pics.cache.Lock()
	defer p.pics.cache.Unlock()
	if used, err := p.shown(h, who); err != nil || used {
		return
	}
	os.Remove(filepath.Join(p.dir, PictureFile(h))) // gone already is fine
}

// contactPicture notes the picture a contact advertises and asks for it
// when we do not have it. Called under the contact list's lock, c as stored.
func (p *Presence) contactPicture(c *store.Contact, raw []byte) error {
	if len(raw) != 0 && len(raw) != sha256.Size {
		return payload.ErrBadRequest
	}
	h := hex.EncodeToString(raw)
	c.Avatar = h
	if h != "" && p.picturePath(h) == "" && p.pics.due(&p.pics.asked, c.Username+"/"+h, p.h.Now()) {
		return p.h.Enqueue(c.Username, &wire.Payload{Kind: &wire.Payload_AvatarRequest{AvatarRequest: &wire.AvatarRequest{Sha256: raw}}}, nil)
	}
	return nil
}

// receiveAvatarRequest offers our picture to a contact that asked for it.
// A request for any other picture (an old one, a made-up hash) is ignored:
// we serve only what we advertise now.
func (p *Presence) receiveAvatarRequest(in *payload.Inbound) error {
	from, r := in.From(), in.Payload.GetAvatarRequest()
	h := p.Mine().Avatar
	path := p.picturePath(h)
	if len(r.Sha256) != sha256.Size || hex.EncodeToString(r.Sha256) != h || path == "" {
		return nil
	}
	// Limited per contact and picture: a contact asking for the picture we
	// have just changed to is answered at once, however lately it fetched
	// the last one.
	if !p.pics.due(&p.pics.answered, from+"/"+h, p.h.Now()) {
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
	if err := p.h.OfferAvatar(from, path); err != nil {
		return fmt.Errorf("offering our picture: %w", err)
	}
	return nil
}

// AvatarOffered fetches a contact's picture: only the one it advertises
// (the offer's name says which; AvatarArrived checks the bytes against
// it), only if we lack it, only if it is small. Nothing asks the user.
func (p *Presence) AvatarOffered(from string, o *wire.FileOffer) error {
	c, err := p.h.Store().Contact(from)
	if err != nil {
		return err
	}
	h := c.Avatar
	if !validHash(h) || o.Name != PictureFile(h) || o.Size <= 0 || o.Size > api.MaxAvatarBytes || len(o.Id) != 16 ||
		len(o.Key) != 32 || len(o.Hash) != transfer.HashSize {
		return nil // stale, unasked or oversized: not fetched
	}
	if p.picturePath(h) != "" {
		return nil
	}
	if _, err := p.h.Store().Transfer(o.Id); err == nil {
		return nil // a resend of an offer we have
	}
	dir := filepath.Join(p.dir, "incoming")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("picture cache: %w", err)
	}
	return p.h.FetchAvatar(from, o, dir)
}

// ErrNotShown: a fetched picture arrived after every contact showing it
// moved on to another; it is not kept.
var ErrNotShown = errors.New("display picture no contact shows")

// AvatarArrived moves a fetched picture into the cache under its hash,
// after checking its SHA-256 is the one its offer named (the transfer
// checked only the offer's BLAKE3), it is a picture we are willing to show
// and a contact still shows it, and tells the front ends which contacts
// now have one.
func (p *Presence) AvatarArrived(t store.Transfer, file string) error {
	defer os.Remove(file)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if PictureFile(h) != t.Name {
		return fmt.Errorf("picture from %s: %w", t.Peer, transfer.ErrCorrupt)
	}
	if err := picture.CheckAvatar(data); err != nil {
		return fmt.Errorf("picture from %s: %w", t.Peer, err)
	}
	p.pics.cache.Lock()
	used, err := p.shown(h, "")
	if err == nil && !used {
		err = fmt.Errorf("picture from %s: %w", t.Peer, ErrNotShown)
	}
	if err == nil {
		err = cachePicture(p.dir, h, data)
	}
	p.pics.cache.Unlock()
	if err != nil {
		return err
	}
	cs, err := p.h.Store().Contacts()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Avatar == h {
			p.h.ContactChanged(c.Username)
		}
	}
	return nil
}
