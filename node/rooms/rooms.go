// Package rooms is the node's side of chat rooms (issue 15, docs/ROOMS.md):
// creating a room at its home, joining it (the home's joined stream, the
// backlog, the room's signed chain), posting signed messages, and leaving.
// Rooms joined are remembered in the node's store and rejoined at sign-in;
// a joined stream that drops is re-established with a bounded back-off and
// catches up from the last message position shown (the home pushes every
// message after it while it keeps them, else the backlog), showing every
// message once (deduplicated by its author and ID in the store's seen
// table). Each message shown is kept in the store first, with its seen
// record and the room's position, in one transaction, and can be read
// again (RoomMessages; docs/ROOMS.md "What a member's node keeps").
//
// A member attaches to one of the room's three homes (supernode/client.
// RoomHomes: rendezvous order of the room's name), the next when one does
// not answer. Moderation (moderate.go) signs ops on the state verified here;
// invite-only rooms' messages are sealed with sender keys (seal.go).
//
// Nothing a home passes on is taken on its word: every op is verified
// against the room's chain (room.Step) and every message against its
// author's ticket and signature (room.VerifyMessage) before it is shown.
package rooms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Host is what the rooms feature needs of the session.
type Host interface {
	Libp2p() host.Host
	// Ticket is our current ticket; RegionPass our region pass with the
	// ticket it was issued with (the pass is nil outside every region).
	Ticket() *ticket.Ticket
	RegionPass() (*ticket.Ticket, *ticket.Pass)
	// Sign signs with our device key.
	Sign([]byte) ([]byte, error)
	// RoomHomes are the room's home supernodes, best first; Supernodes
	// at most n of all the live supernodes, best first.
	RoomHomes(room string) []peer.AddrInfo
	Supernodes(n int) []peer.AddrInfo
	// ConnectHome connects to a home, marking it dead when it does not
	// answer.
	ConnectHome(ctx context.Context, home peer.AddrInfo) error
	Store() *store.Store
	// EnqueueFanout puts outbox entries (m is nil here) in the node's
	// durable outbox in one transaction, each to be sealed in the pair's
	// end-to-end session with its peer: invite-only rooms' sender keys
	// (seal.go) travel so.
	EnqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry) error
	Emit(api.Event)
	// Face is our nick and display picture (its hex SHA-256, "" for the
	// default); PicturePath a picture by that hash as a local file, ours
	// or a contact's, "" when not held.
	Face() (nick, avatar string)
	PicturePath(h string) string
	Now() time.Time
	Log() *slog.Logger
}

// Config tunes the rejoin of a dropped joined stream.
type Config struct {
	// RetryMin and RetryMax bound the back-off between attempts to
	// rejoin: it starts at RetryMin and doubles up to RetryMax (defaults
	// 250 ms and 30 s).
	RetryMin, RetryMax time.Duration
	// PictureDir is where pictures of members who are not contacts are
	// cached (faces.go); empty: none are fetched, nor asked for.
	PictureDir string
}

// Rooms is the rooms this device has joined.
type Rooms struct {
	h   Host
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // the session's, once Start ran
	joined map[string]*joined
	wg     sync.WaitGroup

	// kmu guards keys, invite-only rooms' sender keys by room (seal.go);
	// it is taken before mu, never while mu is held.
	kmu  sync.Mutex
	keys map[string]*roomKeys

	// faces are the authors' nicks and pictures (faces.go).
	faces *faces

	// onChange is told of every join and leave (guarded by mu): the rooms
	// joined belong to the account and are synced to its other devices
	// (node/contacts).
	onChange func()
}

// joined is one room we joined. Its loop goroutine is the only one that
// reads its subscription and changes its state once JoinRoom handed it
// over.
type joined struct {
	room, password string
	ctx            context.Context // ends when we leave or the session ends
	cancel         context.CancelFunc
	done           chan struct{}

	mu      sync.Mutex
	home    peer.ID         // the home we are attached to; "" while rejoining
	members int             // joined at that home when we joined there
	online  map[string]bool // users joined at that home, as it told us and its lines since
	state   *room.State     // verified from the genesis op
	last    mark            // the last message position shown: a rejoin catches up from it
	gone    bool            // forgotten (kicked, banned, left): its position is not kept
}

// mark is a message position in a room's one message order, which its
// homes share; known is false until the first join read the backlog.
type mark struct {
	at    uint64
	known bool
}

// New returns the rooms feature of a session; Start rejoins the remembered
// rooms.
func New(h Host, cfg Config) *Rooms {
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 250 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	cfg.RetryMin = min(cfg.RetryMin, cfg.RetryMax)
	log := h.Log()
	if log == nil { // a session assembled without a node, as the registry's test does
		log = slog.New(slog.DiscardHandler)
	}
	return &Rooms{h: h, cfg: cfg, log: log.With("component", "rooms"), joined: map[string]*joined{}, keys: map[string]*roomKeys{},
		faces: newFaces(cfg.PictureDir)}
}

// Start rejoins, in the background, every room remembered in the store;
// ctx is the session's: its end leaves them all (Close waits for that).
func (r *Rooms) Start(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	rooms, err := r.h.Store().Rooms()
	if err != nil {
		r.log.Warn("listing the rooms to rejoin", "err", err)
		return
	}
	for _, jr := range rooms {
		r.mu.Lock()
		if _, ok := r.joined[jr.Room]; !ok {
			j := r.track(jr.Room, jr.Password)
			j.last = mark{jr.Position, jr.HasPosition}
			r.start(j, nil)
		}
		r.mu.Unlock()
	}
}

// Close leaves every room (the session's context has ended or is about
// to) and waits for their loops.
func (r *Rooms) Close() {
	r.mu.Lock()
	for name, j := range r.joined {
		j.cancel()
		delete(r.joined, name)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// track makes the entry of a room being joined; r.mu is held.
func (r *Rooms) track(name, password string) *joined {
	ctx, cancel := context.WithCancel(r.ctx)
	j := &joined{room: name, password: password, ctx: ctx, cancel: cancel, done: make(chan struct{}), state: room.New(name)}
	r.joined[name] = j
	return j
}

// start runs j's loop, attached already when sub is not nil; r.mu is held.
func (r *Rooms) start(j *joined, sub *client.Subscription) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(j.done)
		r.loop(j, sub)
	}()
}

// OnChange registers f, called after each room joined or left here (not
// after the rejoins at sign-in): the account's other devices follow. f
// must not block nor call back into Rooms; it may run under its lock.
func (r *Rooms) OnChange(f func()) {
	r.mu.Lock()
	r.onChange = f
	r.mu.Unlock()
}

// changed calls the OnChange function, if any.
func (r *Rooms) changed() {
	r.mu.Lock()
	f := r.onChange
	r.mu.Unlock()
	if f != nil {
		f()
	}
}

// checkName refuses a name no room can have.
func checkName(name string) error {
	if err := wire.ValidRoomName(name); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return nil
}

// CreateRoom creates a room at its home with us as its owner. A regional
// room belongs to no one: no one creates one. The room is not joined.
func (r *Rooms) CreateRoom(ctx context.Context, spec api.RoomSpec) error {
	name, topic := spec.Room, spec.Topic
	if err := checkName(name); err != nil {
		return err
	}
	if wire.RoomRegion(name) != "" {
		return fmt.Errorf("%w: %q is a regional room's name: regional rooms are not created", api.ErrBadRequest, name)
	}
	if len(topic) > wire.MaxRoomTopic || !utf8.ValidString(topic) {
		return fmt.Errorf("%w: a topic is valid UTF-8 of at most %d bytes", api.ErrBadRequest, wire.MaxRoomTopic)
	}
	tk := r.h.Ticket()
	op := room.Create(name, tk.Username, r.h.Now(), topic, room.Modes{Public: spec.Public, InviteOnly: spec.InviteOnly})
	signed, err := room.Sign(signer{r.h}, tk.Signed, op)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	home, err := r.home(ctx, name)
	if err != nil {
		return err
	}
	if _, err := client.SubmitRoomOp(ctx, r.h.Libp2p(), home, tk.Signed, signed); err != nil {
		if errors.Is(err, client.ErrStale) {
			// The genesis op follows nothing: only an existing room is
			// ahead of it.
			return fmt.Errorf("%w: %q", api.ErrRoomExists, name)
		}
		return fmt.Errorf("creating room %q: %w", name, mapErr(err))
	}
	return nil
}

// JoinRoom joins room with password, shows its backlog (what was not
// shown before) and remembers it, so it is rejoined at every sign-in.
// Joining a room already joined answers as the first join did.
func (r *Rooms) JoinRoom(ctx context.Context, name, password string) (api.Room, error) {
	if err := checkName(name); err != nil {
		return api.Room{}, err
	}
	if len(password) > wire.MaxRoomPassword {
		return api.Room{}, fmt.Errorf("%w: a room password is at most %d bytes", api.ErrBadRequest, wire.MaxRoomPassword)
	}
	r.mu.Lock()
	if r.ctx == nil {
		r.mu.Unlock()
		return api.Room{}, api.ErrNotLoggedIn
	}
	if j, ok := r.joined[name]; ok {
		r.mu.Unlock()
		j.mu.Lock()
		defer j.mu.Unlock()
		return api.Room{Room: name, Topic: j.state.Topic, Members: j.members}, nil
	}
	j := &joined{room: name, password: password, state: room.New(name)}
	r.mu.Unlock()

	sub, err := r.attach(ctx, j)
	if err != nil {
		return api.Room{}, err
	}
	if err := r.h.Store().PutRoom(store.JoinedRoom{Room: name, Password: password, Joined: r.h.Now()}); err != nil {
		_ = sub.Close()
		return api.Room{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.joined[name]; ok || r.ctx.Err() != nil {
		// Joined meanwhile by another call, or the session ended.
		_ = sub.Close()
		return api.Room{Room: name, Topic: j.state.Topic, Members: sub.Members}, nil
	}
	fresh := r.track(name, password)
	fresh.home, fresh.members, fresh.online, fresh.state, fresh.last = j.home, j.members, j.online, j.state, j.last
	r.start(fresh, sub)
	if f := r.onChange; f != nil {
		f() // with r.mu held: f only schedules (OnChange)
	}
	return api.Room{Room: name, Topic: j.state.Topic, Members: sub.Members}, nil
}

// LeaveRoom leaves room and forgets it; leaving a room not joined only
// makes sure it is forgotten.
func (r *Rooms) LeaveRoom(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	j := r.joined[name]
	delete(r.joined, name)
	r.mu.Unlock()
	if j != nil {
		j.cancel() // the loop closes the stream, which leaves
		select {
		case <-j.done:
		case <-ctx.Done():
		}
	}
	r.dropKeys(name)
	r.faces.drop(name)
	if err := r.h.Store().DropRoom(name); err != nil {
		return err
	}
	r.changed()
	return nil
}

// RoomSend posts text in a room we joined and returns its ID once the
// home took it. The message is signed by our device with our ticket; a
// regional room's home is shown our region pass too, and no other room's.
func (r *Rooms) RoomSend(ctx context.Context, name, text string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	switch {
	case text == "" || len(text) > wire.MaxRoomText:
		return "", fmt.Errorf("%w: a room message is 1 to %d bytes", api.ErrBadRequest, wire.MaxRoomText)
	case !utf8.ValidString(text):
		return "", fmt.Errorf("%w: a room message is UTF-8", api.ErrBadRequest)
	}
	r.mu.Lock()
	j := r.joined[name]
	r.mu.Unlock()
	if j == nil {
		return "", fmt.Errorf("%w: not joined to %q", api.ErrNotAllowed, name)
	}
	j.mu.Lock()
	home, state := j.home, j.state
	j.mu.Unlock()
	if home == "" {
		return "", fmt.Errorf("%w: rejoining %q", api.ErrUnreachable, name)
	}
	tk, pass := r.credentials(name)
	m := &wire.RoomMessage{Room: name, Id: wire.NewID(), Author: tk.Username, TimeUnixMilli: r.h.Now().UnixMilli(), Text: text}
	if err := r.sealFor(state, m); err != nil { // an invite-only room's home sees no text
		return "", err
	}
	r.stamp(m)
	signed, err := room.SignMessage(signer{r.h}, tk.Signed, m)
	if err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if err := r.whileBusy(ctx, func() error {
		return client.SendRoomMessage(ctx, r.h.Libp2p(), home, tk.Signed, signed, pass)
	}); err != nil {
		return "", fmt.Errorf("posting in %q: %w", name, mapErr(err))
	}
	return m.Id, nil
}

// busyTries is how many times a message is posted while its home answers
// busy — the room's primary slow (taken for neither live nor dead), or the
// home's request budget spent, or no other live home yet holding the
// message (docs/ROOMS.md, "Acknowledged means at two homes"). A busy
// message may already be stored at the primary, but the homes know it by
// its ID: trying the same signed message again is answered with the place
// it was given, never posts it twice. After the last busy the post is
// reported failed, though the message may still reach the room.
const busyTries = 4

// whileBusy runs send until it is not answered busy, at most busyTries
// times, waiting the rejoin back-off between tries.
func (r *Rooms) whileBusy(ctx context.Context, send func() error) error {
	delay := r.cfg.RetryMin
	for try := 1; ; try++ {
		err := send()
		if err == nil || !errors.Is(err, client.ErrBusy) || try == busyTries {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, r.cfg.RetryMax)
	}
}

// RoomHistory returns the room's newest messages at its home (at most
// limit, 1..wire.RoomBacklog; 0 means all it keeps), oldest first, each
// verified; one that does not verify is left out.
func (r *Rooms) RoomHistory(ctx context.Context, name string, limit int) ([]api.RoomMessage, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if limit < 0 || limit > wire.RoomBacklog {
		return nil, fmt.Errorf("%w: a history of 0..%d messages", api.ErrBadRequest, wire.RoomBacklog)
	}
	home, err := r.home(ctx, name)
	if err != nil {
		return nil, err
	}
	msgs, err := client.RoomBacklog(ctx, r.h.Libp2p(), home, r.h.Ticket().Signed, name, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %q's history: %w", name, mapErr(err))
	}
	out := make([]api.RoomMessage, 0, len(msgs))
	for _, s := range msgs {
		if m, err := r.verify(name, s); err == nil {
			if text, ok := r.readable(m); ok { // sealed under a key we hold, or plain
				r.note(m)
				v := view(m)
				v.Text = text
				r.dress(&v, m)
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// RoomMessages returns the messages of room this node showed, as it kept
// them (reveal): at most limit (0..api.MaxRoomKept, 0 for all), oldest
// first, older than the message with ID before when it is not "". A room
// never joined, or left, has none.
func (r *Rooms) RoomMessages(_ context.Context, name string, limit int, before string) ([]api.RoomMessage, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if limit < 0 || limit > api.MaxRoomKept {
		return nil, fmt.Errorf("%w: a page of 0..%d messages", api.ErrBadRequest, api.MaxRoomKept)
	}
	ms, err := r.h.Store().RoomMessages(name, limit, before)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no message %q kept in %q", api.ErrBadRequest, before, name)
	}
	if err != nil {
		return nil, err
	}
	out := make([]api.RoomMessage, 0, len(ms))
	for _, m := range ms {
		out = append(out, r.shown(m))
	}
	return out, nil
}

// ListRooms searches the room directory: it asks the live supernodes (at
// most wire.RoomDirectorySupernodes, in parallel) for the rooms they home,
// and merges their answers (docs/ROOMS.md, "The directory", design 2). A
// room lives at up to three homes and each counts the members joined
// there, so a room's members online are the sum of its homes' counts. A
// supernode that does not answer is left out; only when none answers is
// the search an error.
func (r *Rooms) ListRooms(ctx context.Context, query, region string, limit int) ([]api.RoomListing, error) {
	if limit < 0 || limit > wire.RoomDirectoryPage {
		return nil, fmt.Errorf("%w: a directory page of 0..%d rooms", api.ErrBadRequest, wire.RoomDirectoryPage)
	}
	if region != "" {
		if err := wire.ValidRegion(region); err != nil {
			return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
	}
	sns := r.h.Supernodes(wire.RoomDirectorySupernodes)
	if len(sns) == 0 {
		return nil, fmt.Errorf("%w: no supernode known to search", api.ErrUnreachable)
	}
	type answer struct {
		entries []*wire.RoomDirectoryEntry
		err     error
	}
	answers := make([]answer, len(sns))
	var wg sync.WaitGroup
	for i, sn := range sns {
		wg.Go(func() {
			if err := r.h.ConnectHome(ctx, sn); err != nil {
				answers[i].err = fmt.Errorf("%w: %v", api.ErrUnreachable, err)
				return
			}
			// Every supernode's full page: the merge sorts and cuts.
			answers[i].entries, answers[i].err = client.ListRooms(ctx, r.h.Libp2p(), sn.ID, r.h.Ticket().Signed, query, region, 0)
		})
	}
	wg.Wait()
	merged := map[string]*api.RoomListing{}
	var firstErr error
	answered := false
	for _, a := range answers {
		if a.err != nil {
			firstErr = cmp.Or(firstErr, a.err)
			continue
		}
		answered = true
		for _, e := range a.entries {
			if wire.ValidRoomName(e.Room) != nil || len(e.Topic) > wire.MaxRoomTopic || !utf8.ValidString(e.Topic) {
				continue // not a room a member could join: not shown
			}
			l := merged[e.Room]
			if l == nil {
				l = &api.RoomListing{Room: e.Room, Topic: e.Topic, Region: e.Region, Public: true}
				merged[e.Room] = l
			}
			l.Online += int(e.Online)
			l.Members = l.Online
		}
	}
	if !answered {
		return nil, fmt.Errorf("searching the room directory: %w", mapErr(firstErr))
	}
	out := make([]api.RoomListing, 0, len(merged))
	for _, l := range merged {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b api.RoomListing) int {
		return cmp.Or(cmp.Compare(b.Online, a.Online), cmp.Compare(a.Room, b.Room))
	})
	if limit == 0 {
		limit = wire.RoomDirectoryPage
	}
	return out[:min(limit, len(out))], nil
}

// credentials are the ticket to sign and present with, and the region pass
// to present beside it: only to a regional room's home (our country goes
// nowhere else), and then the ticket it was issued with.
func (r *Rooms) credentials(name string) (*ticket.Ticket, *wire.SignedRegionPass) {
	if wire.RoomRegion(name) == "" {
		return r.h.Ticket(), nil
	}
	tk, pass := r.h.RegionPass()
	if tk == nil {
		return r.h.Ticket(), nil
	}
	if pass == nil {
		return tk, nil
	}
	return tk, pass.Signed
}

// home picks the room's first home that answers and connects to it: its
// primary while that lives, the next home in rendezvous order when it does
// not (ConnectHome takes a home that does not answer for dead a while, so
// the next call starts past it). Every home holds the room.
func (r *Rooms) home(ctx context.Context, name string) (peer.ID, error) {
	homes := r.h.RoomHomes(name)
	if len(homes) == 0 {
		return "", fmt.Errorf("%w: no supernode known to host %q", api.ErrUnreachable, name)
	}
	var errs []error
	for _, h := range homes {
		err := r.h.ConnectHome(ctx, h)
		if err == nil {
			return h.ID, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("%w: room %q's homes: %v", api.ErrUnreachable, name, errors.Join(errs...))
}

// signer signs with the session's device key.
type signer struct{ h Host }

func (s signer) Sign(b []byte) ([]byte, error) { return s.h.Sign(b) }

// mapErr turns a home's answer into the API's sentinels, keeping the
// home's words.
func mapErr(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, client.ErrBanned):
		sentinel = api.ErrBanned
	case errors.Is(err, client.ErrRoomFull):
		sentinel = api.ErrRoomFull
	case errors.Is(err, client.ErrNotAllowed):
		sentinel = api.ErrNotAllowed
	case errors.Is(err, client.ErrWrongPassword):
		sentinel = api.ErrWrongPassword
	case errors.Is(err, client.ErrRateLimited):
		sentinel = api.ErrRateLimited
	case errors.Is(err, client.ErrBadRequest):
		sentinel = api.ErrBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, client.ErrFull), errors.Is(err, client.ErrBusy), errors.Is(err, client.ErrTooMany),
		errors.Is(err, client.ErrInternal), errors.Is(err, client.ErrProtocol), errors.Is(err, client.ErrUnauthorized):
		return err // the home's trouble or ours, not the room's: internal
	default: // the home did not answer
		sentinel = api.ErrUnreachable
	}
	return api.Mark(sentinel, err)
}
