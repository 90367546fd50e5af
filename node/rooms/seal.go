package rooms

// Invite-only rooms are end-to-end encrypted (docs/ROOMS.md, "Invite-only
// rooms"). Every member seals what it posts under its own sender key — a
// random 32-byte chain key with a random 16-byte ID — which it sends to
// every other member over the pair's end-to-end session (a RoomKey
// payload in the node's durable outbox: directly, or sealed into the
// member's mailboxes when the member is a stranger). The home verifies the
// author's signature over the sealed text and moderates as for any room;
// it never holds a key.
//
// A member's key is replaced whenever someone departs — a kick, a ban, a
// deop or devoice, a leave line — and the new one goes only to those who
// remain; and when someone joins, so that a newcomer reads from its join
// on, not the backlog sealed before. The replacement is lazy: the old key is dropped at once, so
// nothing more is sealed under it, and the new one is made and sent with
// the next message (a member who does not speak sends nothing).
//
// Every device of a member reads the room (membership is per username):
// our key goes to our own other devices too, and a member's key is passed
// on among our devices when it came to only one of them (receiveKey).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/text"
	"eserver/node/wire"
)

// Errors of the sealed layer.
var (
	// ErrNoKey: a sealed message under a sender key we do not hold (yet).
	ErrNoKey = errors.New("rooms: no sender key for this message")
	// ErrOpen: a sealed message that does not open under its author's key:
	// changed, or sealed for another room, author, ID or key.
	ErrOpen = errors.New("rooms: sealed message does not open")
	// ErrBadKey: a RoomKey payload out of shape.
	ErrBadKey = errors.New("rooms: malformed room key")
)

// Labels separating the uses of a chain key and of the AEAD.
const (
	messageKeyLabel = "eserver-room-msg-key-v1"
	sealADLabel     = "eserver-room-seal-v1"
)

// senderKey is one sender key of one author in one room.
type senderKey struct {
	id    [wire.RoomKeyID]byte
	chain [wire.RoomChainKey]byte
}

// newSenderKey draws a fresh key.
func newSenderKey() (senderKey, error) {
	var k senderKey
	if _, err := rand.Read(k.id[:]); err != nil {
		return k, fmt.Errorf("drawing a sender key: %w", err)
	}
	if _, err := rand.Read(k.chain[:]); err != nil {
		return k, fmt.Errorf("drawing a sender key: %w", err)
	}
	return k, nil
}

// messageKey is the AEAD key of message id under chain: one key per
// message, so a nonce is never reused under one key even if an author
// seals twice with one ID.
func messageKey(chain []byte, id string) []byte {
	mac := hmac.New(sha256.New, chain)
	mac.Write([]byte(messageKeyLabel))
	mac.Write([]byte{0})
	mac.Write([]byte(id))
	return mac.Sum(nil)
}

// sealAD binds a sealed text to its room, author, ID and sender key: a
// ciphertext moved to another message, room or author does not open.
func sealAD(name, author, id string, keyID []byte) []byte {
	ad := []byte(sealADLabel)
	for _, f := range [][]byte{[]byte(name), []byte(author), []byte(id), keyID} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

// seal encrypts text as m's under k (m's room, author and ID set).
func seal(k senderKey, m *wire.RoomMessage, text string) (*wire.RoomSealed, error) {
	aead, err := chacha20poly1305.NewX(messageKey(k.chain[:], m.Id))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, wire.RoomSealNonce)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("drawing a nonce: %w", err)
	}
	ct := aead.Seal(nil, nonce, []byte(text), sealAD(m.Room, m.Author, m.Id, k.id[:]))
	return &wire.RoomSealed{KeyId: k.id[:], Nonce: nonce, Ciphertext: ct}, nil
}

// open decrypts the verified message m under chain, its author's key of
// m.Sealed.KeyId.
func open(chain []byte, m *room.Message) (string, error) {
	aead, err := chacha20poly1305.NewX(messageKey(chain, m.ID))
	if err != nil {
		return "", err
	}
	s := m.Sealed
	pt, err := aead.Open(nil, s.Nonce, s.Ciphertext, sealAD(m.Room, m.Author, m.ID, s.KeyId))
	if err != nil {
		return "", fmt.Errorf("%w: %s's message %s in %s", ErrOpen, m.Author, m.ID, m.Room)
	}
	if len(pt) == 0 || len(pt) > wire.MaxRoomText || !utf8.Valid(pt) {
		return "", fmt.Errorf("%w: the text is not 1..%d bytes of UTF-8", ErrOpen, wire.MaxRoomText)
	}
	return string(pt), nil
}

// entitled reports whether user is a member of the invite-only room st at
// now, one who gets sender keys: its owner, an operator, a voiced or an
// invited user, and not banned.
func entitled(st *room.State, user string, now time.Time) bool {
	if _, banned := st.BannedAt(user, now); banned || user == "" {
		return false
	}
	return user == st.Owner || st.Operators[user] || st.Voiced[user] || st.Invited[user]
}

// recipients are the members our sender key goes to: the entitled ones
// but us and those seen departing since they last joined.
func recipients(st *room.State, me string, departed map[string]bool, now time.Time) []string {
	var out []string
	add := func(u string) {
		if u != me && !departed[u] && entitled(st, u, now) && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	add(st.Owner)
	for _, m := range []map[string]bool{st.Operators, st.Voiced, st.Invited} {
		for u := range m {
			add(u)
		}
	}
	slices.Sort(out)
	return out
}

// roomKeys is what we hold for one room's end-to-end encryption.
type roomKeys struct {
	own      []senderKey            // ours, newest last; the last is current unless rotate dropped it
	current  bool                   // own's last key is the one to seal with
	peers    map[string][]senderKey // by author, newest last
	departed map[string]bool        // seen leaving, kicked or banned since they last joined
	pending  []*room.Message        // verified, sealed under keys not received yet, oldest first
	asked    map[string]time.Time   // author/keyID → when we asked for it
	answered map[string]time.Time   // requester → when we last sent it our key on request
	// sharedWith is who our current key was made for: only they get it on
	// request. A newcomer's request for it (the backlog is sealed under it)
	// can overtake the news of its join, which replaces the key.
	sharedWith map[string]bool
}

func newRoomKeys() *roomKeys {
	return &roomKeys{peers: map[string][]senderKey{}, departed: map[string]bool{},
		asked: map[string]time.Time{}, answered: map[string]time.Time{}}
}

// find is author's key keyID, ours when author is us.
func (k *roomKeys) find(me, author string, keyID []byte) (senderKey, bool) {
	lists := [][]senderKey{k.peers[author]}
	if author == me {
		lists = append(lists, k.own)
	}
	for _, l := range lists {
		for _, sk := range l {
			if string(sk.id[:]) == string(keyID) {
				return sk, true
			}
		}
	}
	return senderKey{}, false
}

// keep appends sk to l, keeping the newest wire.RoomKeysPerAuthor.
func keep(l []senderKey, sk senderKey) []senderKey {
	l = append(l, sk)
	if len(l) > wire.RoomKeysPerAuthor {
		l = slices.Delete(l, 0, len(l)-wire.RoomKeysPerAuthor)
	}
	return l
}

// keysOf is room name's key state, made when missing; r.kmu is held.
func (r *Rooms) keysOf(name string) *roomKeys {
	k := r.keys[name]
	if k == nil {
		k = newRoomKeys()
		r.keys[name] = k
	}
	return k
}

// dropKeys forgets everything of room name's encryption: we left it.
func (r *Rooms) dropKeys(name string) {
	r.kmu.Lock()
	delete(r.keys, name)
	r.kmu.Unlock()
}

// state is the verified state of a room we joined, nil otherwise.
func (r *Rooms) state(name string) *room.State {
	r.mu.Lock()
	j := r.joined[name]
	r.mu.Unlock()
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// sealFor seals text as m's in room st when st is invite-only, making and
// sending our sender key first when we hold no current one; m.Text is
// cleared then. A public room's message is left as it is.
func (r *Rooms) sealFor(st *room.State, m *wire.RoomMessage) error {
	if !st.Modes.InviteOnly {
		return nil
	}
	sk, err := r.currentKey(st)
	if err != nil {
		return err
	}
	s, err := seal(sk, m, m.Text)
	if err != nil {
		return err
	}
	m.Sealed, m.Text = s, ""
	return nil
}

// currentKey is our sender key for room st, made and sent to every
// recipient when we hold none (first use, or replaced after a departure).
func (r *Rooms) currentKey(st *room.State) (senderKey, error) {
	me := r.h.Ticket().Username
	r.kmu.Lock()
	k := r.keysOf(st.Room)
	if k.current {
		sk := k.own[len(k.own)-1]
		r.kmu.Unlock()
		return sk, nil
	}
	sk, err := newSenderKey()
	if err != nil {
		r.kmu.Unlock()
		return sk, err
	}
	k.own, k.current = keep(k.own, sk), true
	// Our own other devices get it too (the entry for our username goes
	// to each of them): they show what we post from here.
	to := append(recipients(st, me, k.departed, r.h.Now()), me)
	k.sharedWith = make(map[string]bool, len(to))
	for _, u := range to {
		k.sharedWith[u] = true
	}
	r.kmu.Unlock()
	// Queued before the message is posted: a member's node receives the
	// key at most a mail's delay after the message, and keeps the message
	// pending until then.
	r.queue(to, keyMessage(st.Room, sk))
	return sk, nil
}

// queue puts rk in the node's durable outbox for every user of to, in
// one transaction: a new key for a room of thousands is one write.
func (r *Rooms) queue(to []string, rk *wire.RoomKey) {
	if len(to) == 0 {
		return
	}
	now := r.h.Now()
	raw := wire.MustMarshal(&wire.Payload{SentUnixMilli: now.UnixMilli(), Kind: &wire.Payload_RoomKey{RoomKey: rk}})
	entries := make([]store.OutboxEntry, 0, len(to))
	for _, u := range to {
		entries = append(entries, store.OutboxEntry{ID: wire.NewID(), Peer: u, Payload: raw, Created: now})
	}
	if err := r.h.EnqueueFanout(nil, "", entries); err != nil {
		r.log.Warn("queueing a room key", "room", rk.Room, "to", len(to), "request", rk.Request, "err", err)
	}
}

// keyMessage is our key sk of room name as it travels.
func keyMessage(name string, sk senderKey) *wire.RoomKey {
	return &wire.RoomKey{Room: name, KeyId: sk.id[:], ChainKey: sk.chain[:]}
}

// rotate drops our current key of room name: nothing more is sealed under
// it, and the next message makes a new one for those who remain. departed
// (if not "") is left out of it until seen joining again.
func (r *Rooms) rotate(name, departed string) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	k := r.keysOf(name)
	k.current = false
	if departed != "" {
		k.departed[departed] = true
		delete(k.answered, departed)
	}
}

// keysOnOp replaces our key when a verified op removes someone, and
// forgets the room's keys when it is deleted.
func (r *Rooms) keysOnOp(op *room.Op) {
	switch op.Kind {
	case room.KindKick, room.KindBan:
		r.rotate(op.Room, op.Target)
	case room.KindDeop, room.KindDevoice:
		// They may stay invited; replacing our key costs one message.
		r.rotate(op.Room, "")
	case room.KindDeleteRoom:
		r.dropKeys(op.Room)
	}
}

// keysOnLine follows the members' comings and goings: one who leaves is
// departed and one who joins is departed no more; either way our key is
// replaced, so a member reads what is sealed while it is in the room —
// not what was said before it joined (the backlog under our old key), nor
// what is said after it left.
func (r *Rooms) keysOnLine(name, user string, joined bool) {
	if user == r.h.Ticket().Username {
		return // another device of ours
	}
	if !joined {
		r.rotate(name, user)
		return
	}
	r.kmu.Lock()
	k := r.keysOf(name)
	delete(k.departed, user)
	k.current = false
	r.kmu.Unlock()
}

// opened is m's text: m.Text, or its sealed text opened under its
// author's key. ErrNoKey when we do not hold that key: the message is
// then kept pending (at most wire.RoomPending per room) and its author
// asked for the key.
func (r *Rooms) opened(m *room.Message) (string, error) {
	if m.Sealed == nil {
		return m.Text, nil
	}
	me := r.h.Ticket().Username
	r.kmu.Lock()
	k := r.keysOf(m.Room)
	sk, ok := k.find(me, m.Author, m.Sealed.KeyId)
	if ok {
		r.kmu.Unlock()
		return open(sk.chain[:], m)
	}
	if !slices.ContainsFunc(k.pending, func(p *room.Message) bool { return p.Author == m.Author && p.ID == m.ID }) {
		k.pending = append(k.pending, m)
		if len(k.pending) > wire.RoomPending {
			k.pending = slices.Delete(k.pending, 0, len(k.pending)-wire.RoomPending)
		}
	}
	// Our own key made on another device of ours is asked of our other
	// devices (the request for our username goes to each of them).
	ask := true
	key := m.Author + "/" + string(m.Sealed.KeyId)
	now := r.h.Now()
	if at, done := k.asked[key]; done && now.Sub(at) < wire.RoomKeyAskInterval {
		ask = false
	}
	if ask {
		if len(k.asked) >= wire.RoomKeyStash {
			clear(k.asked)
		}
		k.asked[key] = now
	}
	r.kmu.Unlock()
	if ask {
		r.queue([]string{m.Author}, &wire.RoomKey{Room: m.Room, KeyId: m.Sealed.KeyId, Request: true})
	}
	return "", fmt.Errorf("%w: %s's key in %s", ErrNoKey, m.Author, m.Room)
}

// Kinds are the payload kinds of rooms: members' sender keys of
// invite-only rooms, and members' pictures (faces.go). Members need not be
// contacts, so anyone may send one; receiveKey checks that the sender is a
// member of the room, receivePicture that a picture was asked for. Our
// own other devices send us our keys made there, and ask for ours.
func (r *Rooms) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_RoomKey)(nil), From: payload.AnyoneOrOwn, Handle: r.receiveKey},
		{Of: (*wire.Payload_RoomPicture)(nil), From: payload.Anyone, Handle: r.receivePicture},
	}
}

// checkKey checks a RoomKey's shape.
func checkKey(k *wire.RoomKey) error {
	switch {
	case k == nil:
		return fmt.Errorf("%w: none", ErrBadKey)
	case wire.ValidRoomName(k.Room) != nil:
		return fmt.Errorf("%w: room name %q", ErrBadKey, k.Room)
	case len(k.KeyId) != wire.RoomKeyID:
		return fmt.Errorf("%w: key ID of %d bytes, want %d", ErrBadKey, len(k.KeyId), wire.RoomKeyID)
	case k.Request && len(k.ChainKey) != 0:
		return fmt.Errorf("%w: a request carrying a key", ErrBadKey)
	case !k.Request && len(k.ChainKey) != wire.RoomChainKey:
		return fmt.Errorf("%w: chain key of %d bytes, want %d", ErrBadKey, len(k.ChainKey), wire.RoomChainKey)
	case k.Author != "" && (k.Request || wire.ValidUsername(k.Author) != nil):
		return fmt.Errorf("%w: passed-on key of %q", ErrBadKey, k.Author)
	case len(k.ProtoReflect().GetUnknown()) > 0:
		return fmt.Errorf("%w: unknown fields", ErrBadKey)
	}
	return nil
}

// DecodeKey parses a RoomKey payload's bytes and checks its shape.
func DecodeKey(b []byte) (*wire.RoomKey, error) {
	if len(b) > 2*wire.MaxRoomName+wire.RoomKeyID+wire.RoomChainKey+wire.MaxUsername+16 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(b))
	}
	var k wire.RoomKey
	if err := proto.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if err := checkKey(&k); err != nil {
		return nil, err
	}
	return &k, nil
}

// receiveKey takes a member's sender key, or answers a member's request
// for ours. The key is the sender's — the user whose end-to-end session
// carried it — and is kept only for a room we joined whose member the
// sender is, or (wire.RoomKeyStash in all) for a room we are joining: its
// keys may arrive before our join completes. A key ID once taken is not
// replaced. It runs under the node's contact lock: it queues, never waits.
//
// Every device of ours reads the room, so each needs every member's key;
// a member who does not know our devices sends its key to one of them
// (our account's route). So a member's key that did not come to this
// device's own route is passed on to our other devices, naming its author
// (wire.RoomKey.Author) — which only a device of ours may do.
func (r *Rooms) receiveKey(in *payload.Inbound) error {
	rk := in.Payload.GetRoomKey()
	if err := checkKey(rk); err != nil {
		return fmt.Errorf("%w: %v", payload.ErrBadRequest, err)
	}
	from, now := in.From(), r.h.Now()
	if rk.Author != "" {
		if !in.Own {
			return fmt.Errorf("%w: %s passes on %s's room key", payload.ErrBadRequest, from, rk.Author)
		}
		from = rk.Author
	}
	st := r.state(rk.Room)
	if st != nil && !entitled(st, from, now) {
		// Not a member (any more): dropped, and said nothing about.
		r.log.Info("a room key from a non-member", "room", rk.Room, "from", from)
		return nil
	}
	if rk.Request {
		r.answer(rk.Room, from, rk.KeyId, st)
		return nil
	}
	var sk senderKey
	copy(sk.id[:], rk.KeyId)
	copy(sk.chain[:], rk.ChainKey)
	r.kmu.Lock()
	if st == nil && r.stashed() >= wire.RoomKeyStash {
		r.kmu.Unlock()
		return nil
	}
	k := r.keysOf(rk.Room)
	if _, dup := k.find("", from, rk.KeyId); dup {
		r.kmu.Unlock()
		return nil
	}
	k.peers[from] = keep(k.peers[from], sk)
	// Sent to each of our devices (an ID spread per device, store.FanoutID)
	// or by one of ours: our other devices have it, or get it so.
	if !in.Own && store.FanoutMessageID(in.ID) == in.ID {
		defer r.queue([]string{r.h.Ticket().Username}, &wire.RoomKey{Room: rk.Room, KeyId: rk.KeyId, ChainKey: rk.ChainKey, Author: from})
	}
	var ready, rest []*room.Message
	for _, m := range k.pending {
		if m.Author == from && string(m.Sealed.KeyId) == string(rk.KeyId) {
			ready = append(ready, m)
		} else {
			rest = append(rest, m)
		}
	}
	k.pending = rest
	r.kmu.Unlock()
	for _, m := range ready {
		r.reveal(m, 0)
	}
	return nil
}

// stashed counts the keys held for rooms we have not joined; r.kmu is
// held.
func (r *Rooms) stashed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for name, k := range r.keys {
		if _, ok := r.joined[name]; !ok {
			for _, l := range k.peers {
				n += len(l)
			}
		}
	}
	return n
}

// answer sends our key keyID of room name to a member who asked for it:
// only while it is our current key — one we replaced was replaced to keep
// someone out, and a newcomer reads from its join on — once per
// wire.RoomKeyAskInterval, and never to one departed since it last joined
// (a kicked member asks in vain).
func (r *Rooms) answer(name, from string, keyID []byte, st *room.State) {
	if st == nil || !st.Modes.InviteOnly {
		return
	}
	now := r.h.Now()
	r.kmu.Lock()
	k := r.keysOf(name)
	at, done := k.answered[from]
	ok := k.current && string(k.own[len(k.own)-1].id[:]) == string(keyID) && k.sharedWith[from] &&
		!k.departed[from] && (!done || now.Sub(at) >= wire.RoomKeyAskInterval)
	var sk senderKey
	if ok {
		k.answered[from] = now
		sk = k.own[len(k.own)-1]
	}
	r.kmu.Unlock()
	if ok {
		r.queue([]string{from}, keyMessage(name, sk))
	}
}

// reveal shows the verified message m of a room we joined unless it was
// shown before (on this device, in this room): a sealed one once it opens
// under its author's key, kept pending until that key arrives. pos is its
// place in the room's message order, 0 when not known (a backlog's, or
// one that waited for its key). It is stored first — seen, with the
// room's position moved past it, in one transaction — and shown from what
// was stored once that committed: a node stopped or killed at any point
// has either not taken it (and the catch-up brings it again) or kept it,
// for RoomMessages to read.
func (r *Rooms) reveal(m *room.Message, pos uint64) {
	st := r.h.Store()
	if seen, err := st.Seen(store.RoomScope(m.Room), store.RoomSeenKey(m.Author, m.ID)); err != nil || seen {
		return // and no key asked for
	}
	plain, err := r.opened(m)
	switch {
	case errors.Is(err, ErrNoKey):
		r.log.Debug("a room message waits for its author's key", "room", m.Room, "author", m.Author)
		return
	case err != nil:
		r.log.Warn("a sealed room message that does not open", "room", m.Room, "err", err)
		return
	}
	kept := store.RoomMessage{Room: m.Room, Author: m.Author, ID: m.ID, Position: pos, Time: m.Time, Text: plain}
	if m.Sealed == nil { // a sealed message carries neither
		kept.Nick, kept.Avatar = m.Nick, hex.EncodeToString(m.Avatar)
	}
	added, err := st.AddRoomMessage(kept, r.h.Now())
	switch {
	case err != nil:
		// Shown all the same, and marked seen on its own: not kept, but
		// shown rather than never (as before messages were kept).
		r.log.Warn("keeping a room message", "room", m.Room, "err", err)
		if err := st.MarkSeen(store.RoomScope(m.Room), []string{store.RoomSeenKey(m.Author, m.ID)}, r.h.Now()); err != nil {
			r.log.Warn("remembering a room message shown", "room", m.Room, "err", err)
		}
	case !added:
		return // shown before
	}
	r.note(m)
	msg := r.shown(kept)
	r.h.Emit(api.Event{RoomMessage: &msg})
}

// shown is a kept message as the front ends see it: its author's nick
// cleaned, its picture a local file once we hold it.
func (r *Rooms) shown(m store.RoomMessage) api.RoomMessage {
	return api.RoomMessage{Room: m.Room, ID: m.ID, From: m.Author, Text: m.Text, Time: m.Time,
		Nick: text.Clean(m.Nick), AvatarPath: r.picturePath(m.Avatar)}
}

// readable is m's text when we can read it now: in plain text, or sealed
// under a key we hold. Nothing is kept pending nor asked for.
func (r *Rooms) readable(m *room.Message) (string, bool) {
	if m.Sealed == nil {
		return m.Text, true
	}
	r.kmu.Lock()
	var sk senderKey
	k, ok := r.keys[m.Room] // not made here: a history of any room may be asked for
	if ok {
		sk, ok = k.find(r.h.Ticket().Username, m.Author, m.Sealed.KeyId)
	}
	r.kmu.Unlock()
	if !ok {
		return "", false
	}
	text, err := open(sk.chain[:], m)
	return text, err == nil
}
