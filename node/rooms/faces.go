package rooms

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/picture"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/text"
	"eserver/node/wire"
)

// Strangers' nicks and pictures (docs/ROOMS.md). A contact's nick and
// picture reach us with its presence; a room's members need not be
// contacts, and hear no presence from each other. So a plain room message
// carries its author's nick and picture hash, signed with it, and a member
// asks an author it lacks the picture of for it with a RoomPicture payload
// through the node's outbox — the end-to-end session the pair has, or one
// started from the author's prekeys, as invite-only rooms' keys travel.
// The answer is taken only for a picture asked for, only if its bytes hash
// to the name the signed message gave, and only if it is a small PNG.
//
// What a chatty room can cost is bounded: a picture is asked for once per
// author and hash every wire.RoomPictureRetry, at most
// wire.RoomPictureFetches at once, and never for a picture we hold (ours,
// a contact's, or one cached here). Pictures live in a cache of their own
// (Config.PictureDir), apart from the contacts' (node/presence prunes that
// one to the pictures contacts show): wire.RoomPicturesCached files, the
// oldest dropped. Nothing of a stranger enters the contact list.

// ErrBadPicture: a RoomPicture payload that is malformed, unasked for,
// or not the picture it claims.
var ErrBadPicture = errors.New("bad room picture")

// face is how an author showed itself in a room: its newest message's
// nick and picture hash (hex).
type face struct {
	nick, avatar string
	at           time.Time
}

// ask is a picture asked for and not arrived.
type ask struct {
	hash string
	at   time.Time
}

// faces holds the authors' faces by room and the picture traffic both ways.
type faces struct {
	dir string // strangers' pictures; "" keeps none (and asks for none)

	mu     sync.Mutex
	byRoom map[string]map[string]face // room → author → face
	asking map[string]ask             // author → the picture asked for
	asked  map[string]time.Time       // author + "/" + hash → when asked last
	// answered spaces our answers to one requester; window and sent bound
	// all answers in a wire.RoomPictureRetry.
	answered map[string]time.Time
	window   time.Time
	sent     int
	// files orders the cache's writes and pruning.
	files sync.Mutex
}

func newFaces(dir string) *faces {
	return &faces{dir: dir, byRoom: map[string]map[string]face{}, asking: map[string]ask{}, asked: map[string]time.Time{},
		answered: map[string]time.Time{}}
}

// validHash reports whether h is a picture's hex SHA-256.
func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

// pictureFile is the name picture h is cached under.
func pictureFile(h string) string { return h + ".png" }

// cached is the cached stranger's picture h, or "".
func (f *faces) cached(h string) string {
	if f.dir == "" || !validHash(h) {
		return ""
	}
	p := filepath.Join(f.dir, pictureFile(h))
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// picturePath is picture h (hex) as a local file: ours or a contact's,
// else a stranger's; "" when we hold none.
func (r *Rooms) picturePath(h string) string {
	if !validHash(h) {
		return ""
	}
	if p := r.h.PicturePath(h); p != "" {
		return p
	}
	return r.faces.cached(h)
}

// note remembers m's author's face in its room and asks for the picture
// when we lack it. Called for every message shown or listed, so it does
// no more than a map update unless a picture is missing.
func (r *Rooms) note(m *room.Message) {
	if m.Sealed != nil || m.Author == r.h.Ticket().Username {
		return
	}
	fc := face{nick: text.Clean(m.Nick), avatar: hex.EncodeToString(m.Avatar), at: m.Time}
	f := r.faces
	f.mu.Lock()
	inRoom := f.byRoom[m.Room]
	if inRoom == nil {
		if len(f.byRoom) >= 2*wire.MaxRoomsJoined {
			r.mu.Lock()
			for name := range f.byRoom { // rooms left or forgotten
				if r.joined[name] == nil {
					delete(f.byRoom, name)
				}
			}
			r.mu.Unlock()
		}
		inRoom = map[string]face{}
		f.byRoom[m.Room] = inRoom
	}
	if old, ok := inRoom[m.Author]; !ok || !fc.at.Before(old.at) {
		if !ok && len(inRoom) >= wire.RoomFaces {
			clear(inRoom) // bounded; the faces come back with their next messages
		}
		inRoom[m.Author] = fc
	}
	f.mu.Unlock()
	if fc.avatar != "" {
		r.want(m.Author, fc.avatar)
	}
}

// want asks author for picture h unless we hold it, it is a contact's
// (its presence brings it), we asked lately, or enough asks are out.
func (r *Rooms) want(author, h string) {
	f := r.faces
	if f.dir == "" || r.picturePath(h) != "" {
		return
	}
	if c, err := r.h.Store().Contact(author); err == nil && api.Relation(c.Relation) == api.RelationAccepted {
		return
	}
	now := r.h.Now()
	f.mu.Lock()
	inFlight := 0
	for u, a := range f.asking {
		if now.Sub(a.at) >= wire.RoomPictureWait {
			delete(f.asking, u)
		} else {
			inFlight++
		}
	}
	key := author + "/" + h
	last, done := f.asked[key]
	if inFlight >= wire.RoomPictureFetches || (done && now.Sub(last) < wire.RoomPictureRetry) {
		f.mu.Unlock()
		return
	}
	if _, busy := f.asking[author]; busy {
		f.mu.Unlock()
		return
	}
	if len(f.asked) >= 10*wire.RoomPicturesCached {
		clear(f.asked) // bounded; the worst case is an early ask
	}
	f.asked[key] = now
	f.asking[author] = ask{hash: h, at: now}
	f.mu.Unlock()
	raw, _ := hex.DecodeString(h)
	r.sendPicture(author, &wire.RoomPicture{Sha256: raw})
}

// sendPicture puts p in the outbox to user.
func (r *Rooms) sendPicture(user string, p *wire.RoomPicture) {
	now := r.h.Now()
	raw := wire.MustMarshal(&wire.Payload{SentUnixMilli: now.UnixMilli(), Kind: &wire.Payload_RoomPicture{RoomPicture: p}})
	e := store.OutboxEntry{ID: wire.NewID(), Peer: user, Payload: raw, Created: now}
	if err := r.h.EnqueueFanout(nil, "", []store.OutboxEntry{e}); err != nil {
		r.log.Warn("queueing a room picture", "to", user, "answer", len(p.Png) > 0, "err", err)
	}
}

// checkPicture checks a RoomPicture's shape: a hash, and a picture of at
// most wire.MaxRoomPicture bytes or none.
func checkPicture(p *wire.RoomPicture) error {
	switch {
	case p == nil:
		return fmt.Errorf("%w: none", ErrBadPicture)
	case len(p.Sha256) != sha256.Size:
		return fmt.Errorf("%w: hash of %d bytes, want %d", ErrBadPicture, len(p.Sha256), sha256.Size)
	case len(p.Png) > wire.MaxRoomPicture:
		return fmt.Errorf("%w: picture of %d bytes, limit %d", ErrBadPicture, len(p.Png), wire.MaxRoomPicture)
	case len(p.ProtoReflect().GetUnknown()) > 0:
		return fmt.Errorf("%w: unknown fields", ErrBadPicture)
	}
	return nil
}

// DecodePicture parses a RoomPicture payload's bytes and checks its shape;
// an answer's bytes are checked against its hash and as a picture when it
// is taken (receivePicture).
func DecodePicture(b []byte) (*wire.RoomPicture, error) {
	if len(b) > wire.MaxRoomPicture+sha256.Size+16 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPicture, len(b))
	}
	var p wire.RoomPicture
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPicture, err)
	}
	if err := checkPicture(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// receivePicture answers a request for our picture or takes a picture we
// asked for. It runs under the node's contact lock: it queues, never
// waits on the network.
func (r *Rooms) receivePicture(in *payload.Inbound) error {
	p := in.Payload.GetRoomPicture()
	if err := checkPicture(p); err != nil {
		return fmt.Errorf("%w: %v", payload.ErrBadRequest, err)
	}
	if len(p.Png) == 0 {
		r.answerPicture(in.From(), hex.EncodeToString(p.Sha256))
		return nil
	}
	if err := r.takePicture(in.From(), p); err != nil {
		// Unasked, stale or not the picture named: dropped, said nothing
		// about (the sender learns nothing from a refusal).
		r.log.Info("a room picture not taken", "from", in.From(), "err", err)
	}
	return nil
}

// ourPicture is the picture we advertise in rooms, hex and file: our
// display picture when it is small enough to send this way.
func (r *Rooms) ourPicture() (string, string) {
	_, h := r.h.Face()
	path := r.h.PicturePath(h)
	if path == "" {
		return "", ""
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > wire.MaxRoomPicture {
		return "", ""
	}
	return h, path
}

// answerPicture sends our picture to a member who asked for it by its
// hash: only the picture we advertise now (not an old one, not a guess),
// once per requester every wire.RoomPictureRetry, and at most
// wire.RoomPictureAnswers answers in all in that time, so no one makes us
// fill our outbox.
func (r *Rooms) answerPicture(from, h string) {
	ours, path := r.ourPicture()
	if ours == "" || h != ours {
		return
	}
	f, now := r.faces, r.h.Now()
	f.mu.Lock()
	if now.Sub(f.window) >= wire.RoomPictureRetry {
		f.window, f.sent = now, 0
		for u, at := range f.answered {
			if now.Sub(at) >= wire.RoomPictureRetry {
				delete(f.answered, u)
			}
		}
	}
	at, done := f.answered[from]
	ok := f.sent < wire.RoomPictureAnswers && (!done || now.Sub(at) >= wire.RoomPictureRetry)
	if ok {
		f.answered[from] = now
		f.sent++
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		r.log.Warn("reading our picture", "err", err)
		return
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != ours || len(data) > wire.MaxRoomPicture {
		r.log.Warn("our cached picture does not match its name", "hash", ours)
		return
	}
	raw, _ := hex.DecodeString(ours)
	r.sendPicture(from, &wire.RoomPicture{Sha256: raw, Png: data})
}

// takePicture caches a picture from who if it is the one we asked them
// for, and tells the front ends where it shows.
func (r *Rooms) takePicture(from string, p *wire.RoomPicture) error {
	h := hex.EncodeToString(p.Sha256)
	f := r.faces
	f.mu.Lock()
	a, ok := f.asking[from]
	f.mu.Unlock()
	switch {
	case f.dir == "":
		return fmt.Errorf("%w: no picture cache", ErrBadPicture)
	case !ok || a.hash != h:
		return fmt.Errorf("%w: a picture not asked for", ErrBadPicture)
	}
	if sum := sha256.Sum256(p.Png); hex.EncodeToString(sum[:]) != h {
		return fmt.Errorf("%w: the bytes do not hash to %s", ErrBadPicture, h)
	}
	if err := picture.CheckAvatar(p.Png); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPicture, err)
	}
	f.mu.Lock()
	if f.asking[from] == a {
		delete(f.asking, from)
	}
	f.mu.Unlock()
	path, err := f.store(h, p.Png)
	if err != nil {
		return err
	}
	r.showPicture(h, path)
	return nil
}

// showPicture tells the front ends that picture h is at path, once per
// room and author showing it.
func (r *Rooms) showPicture(h, path string) {
	f := r.faces
	var events []api.RoomEvent
	f.mu.Lock()
	for name, inRoom := range f.byRoom {
		for u, fc := range inRoom {
			if fc.avatar == h {
				events = append(events, api.RoomEvent{Room: name, Kind: api.RoomPicture, Username: u, AvatarPath: path})
			}
		}
	}
	f.mu.Unlock()
	slices.SortFunc(events, func(a, b api.RoomEvent) int {
		return strings.Compare(a.Room+"/"+a.Username, b.Room+"/"+b.Username)
	})
	for i := range events {
		r.h.Emit(api.Event{RoomEvent: &events[i]})
	}
}

// store writes picture h into the cache, whole or not at all, and drops
// the oldest pictures past wire.RoomPicturesCached.
func (f *faces) store(h string, data []byte) (string, error) {
	f.files.Lock()
	defer f.files.Unlock()
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return "", fmt.Errorf("room picture cache: %w", err)
	}
	final := filepath.Join(f.dir, pictureFile(h))
	tmp, err := os.CreateTemp(f.dir, ".picture-*")
	if err != nil {
		return "", fmt.Errorf("room picture cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return "", fmt.Errorf("room picture cache: %w", err)
	}
	f.prune(final)
	return final, nil
}

// prune drops the oldest cached pictures past wire.RoomPicturesCached,
// never keep (the one just stored). f.files is held.
func (f *faces) prune(keep string) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".png") || !validHash(strings.TrimSuffix(e.Name(), ".png")) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, file{filepath.Join(f.dir, e.Name()), fi.ModTime()})
		}
	}
	if len(files) <= wire.RoomPicturesCached {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, fl := range files[:len(files)-wire.RoomPicturesCached] {
		if fl.path != keep {
			os.Remove(fl.path) // gone already is fine
		}
	}
}

// faceOf is user's face in room name, its picture as a local file.
func (r *Rooms) faceOf(name, user string) (nick, path string) {
	r.faces.mu.Lock()
	fc := r.faces.byRoom[name][user]
	r.faces.mu.Unlock()
	return fc.nick, r.picturePath(fc.avatar)
}

// dropFaces forgets the faces of a room we left.
func (f *faces) drop(name string) {
	f.mu.Lock()
	delete(f.byRoom, name)
	f.mu.Unlock()
}

// stamp puts our nick and picture on a plain message we post, for members
// who are not our contacts; a sealed one carries neither (the homes would
// read them beside the ciphertext).
func (r *Rooms) stamp(m *wire.RoomMessage) {
	if m.Sealed != nil {
		return
	}
	nick, _ := r.h.Face()
	if len(nick) <= wire.MaxNick {
		m.Nick = nick
	}
	if h, _ := r.ourPicture(); h != "" {
		m.Avatar, _ = hex.DecodeString(h)
	}
}

// dress gives v, the front ends' view of m, its author's nick and picture
// as m signed them: the nick cleaned, the picture a local file once held.
func (r *Rooms) dress(v *api.RoomMessage, m *room.Message) {
	if m.Sealed != nil {
		return
	}
	v.Nick = text.Clean(m.Nick)
	v.AvatarPath = r.picturePath(hex.EncodeToString(m.Avatar))
}
