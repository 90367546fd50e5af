package rooms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// Why a joined stream ended: its last frame's ended field.
const (
	EndLeft     = "left"     // the member left (a leave request, or it closed the stream)
	EndKicked   = "kicked"   // a kick op: the member may rejoin
	EndBanned   = "banned"   // a ban op, for every device of the account
	EndDeleted  = "deleted"  // the room was deleted
	EndReplaced = "replaced" // the device joined the room again on another stream
	EndLagging  = "lagging"  // more than wire.RoomQueue events waited: join again naming the last message seen (catchup.go)
	EndClosing  = "closing"  // the home is shutting down
)

// DefaultSubscriptions is the cap on joined streams of a service whose
// ServiceConfig.Subscriptions is 0.
const DefaultSubscriptions = 100_000

// ServiceConfig configures a room home's service.
type ServiceConfig struct {
	// DBPath is the room store's SQLite file; required.
	DBPath string
	// AuthServer is the auth server whose tickets are accepted; required.
	AuthServer peer.ID
	// Revoked, if set, refuses revoked devices' requests, ops and
	// messages; nil revokes none.
	Revoked pipeline.Revoker
	// Now is the clock of tickets, ops, messages and rate limits; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives per-stream diagnostics; nil discards them.
	Logger *slog.Logger
	// Limits are the store's global caps (zero fields: its defaults).
	Limits Limits
	// Subscriptions caps the joined streams of all members together;
	// 0 means DefaultSubscriptions.
	Subscriptions int
	// Queue is how many events wait for one joined member before it is
	// dropped (EndLagging); 0 means wire.RoomQueue. Tests make it small.
	Queue int
	// WriteGap is the least time between two writes to one joined member;
	// 0 means wire.RoomWriteGap, negative none (a test whose small queue
	// must fill from one member's slowness alone).
	WriteGap time.Duration
	// Supernodes, if set, lists the live supernodes with their addresses
	// (the registry's list), which a room's homes are chosen among; it is
	// read at Attach and every wire.RoomHomesRefresh, never on a request's
	// path. Nil (and SetSupernodes never called) makes this home every
	// room's only home.
	Supernodes func(context.Context) ([]peer.AddrInfo, error)
	// Ticket returns this supernode's role-supernode ticket, which it
	// presents to the other homes of a room; nil: it cannot reach them.
	Ticket func() *wire.SignedTicket
}

// Service serves wire.ProtoRoom for the rooms this supernode is a home of:
// as the primary it sequences their ops and messages, otherwise it forwards
// them to the primary and verifies what the primary replicates
// (replica.go); it admits joins, passes admitted messages to the members
// joined here, and answers backlog and chain requests.
// Every request runs through the pipeline: its ticket is authenticated
// (signature, expiry, peer binding, revocation), the Security stage
// verifies a region pass against that ticket, and Process decides with
// node/room's rules — moderation holds here, before any member sees a
// message, whatever the members' clients do.
type Service struct {
	cfg    ServiceConfig
	log    *slog.Logger
	store  *Store
	checks room.Checks // for new ops and messages: revocation and MaxAge

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.RoomRequest, *wire.RoomResponse]

	mu      sync.Mutex
	rooms   map[string]*members
	subs    int
	perPeer map[peer.ID]int
	joins   map[string]*rate.Limiter // per account; swept when idle
	lists   map[string]*rate.Limiter // directory searches per account; swept when idle
	closing bool

	repl     replication // the room's other homes (replica.go)
	seq      sequencer   // the messages this home sequences as a primary (sequence.go)
	shipping shipper     // and passes on to the room's other homes (ship.go)
}

// members are one room's members joined at this home. Its mutex orders
// the room's messages and events: each is queued to every member under
// it, so all members get them in one order (a primary's messages are
// stored before, by the room's one sequence runner, sequence.go).
type members struct {
	// online is len(users), kept by register and drop under mu and read
	// without it: the directory and a join's member limit never wait for
	// a busy room's send.
	online  atomic.Int64
	mu      sync.Mutex
	gone    bool // taken out of s.rooms (empty): lockRoom makes a new one
	byPeer  map[peer.ID]*sub
	users   map[string]int  // devices joined per username
	recent  map[string]sent // per username, so devices do not multiply the flood limit
	reports []report        // waiting for the owner or an operator to join here
}

func newMembers() *members {
	return &members{byPeer: map[peer.ID]*sub{}, users: map[string]int{}, recent: map[string]sent{}}
}

// sent is a user's recent admitted messages in a room and the newest's
// time, to know when they no longer bind anything.
type sent struct {
	recent room.Recent
	last   time.Time
}

// sweepAbove is how many more senders than members joined here a room's
// recent sends may hold before the primary sweeps them.
const sweepAbove = 256

// recentBinds is how long a user's sends bind a limit: the longest slow
// mode or flood window a room may set.
const recentBinds = time.Duration(max(wire.MaxRoomSlowSeconds, wire.MaxRoomFloodSeconds)) * time.Second

// sub is one device's joined stream in one room.
type sub struct {
	room   string
	peer   peer.ID
	user   string
	events chan frame // encoded once for all members (push)
	done   chan struct{}
	once   sync.Once
	why    string // set before done closes
}

func (s *sub) end(why string) {
	s.once.Do(func() {
		s.why = why
		close(s.done)
	})
}

func (s *sub) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// OpenService opens the store at cfg.DBPath; Attach the service to a host
// to serve, Close it to stop.
func OpenService(cfg ServiceConfig) (*Service, error) {
	if cfg.AuthServer == "" || cfg.DBPath == "" {
		return nil, errors.New("rooms: ServiceConfig needs AuthServer and DBPath")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Subscriptions <= 0 {
		cfg.Subscriptions = DefaultSubscriptions
	}
	if cfg.WriteGap == 0 {
		cfg.WriteGap = wire.RoomWriteGap
	}
	if cfg.Queue <= 0 {
		cfg.Queue = wire.RoomQueue
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := Open(cfg.DBPath, Config{Server: cfg.AuthServer, Now: cfg.Now, Limits: cfg.Limits})
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     log.With("service", "rooms"),
		store:   store,
		checks:  room.Checks{Server: cfg.AuthServer, Revoked: cfg.Revoked, MaxAge: wire.MaxClockSkew},
		rooms:   map[string]*members{},
		perPeer: map[peer.ID]int{},
		joins:   map[string]*rate.Limiter{},
		lists:   map[string]*rate.Limiter{},
		repl: replication{down: map[peer.ID]time.Time{}, suspect: map[peer.ID]suspicion{}, primary: map[string]caughtUp{},
			kick: make(chan struct{}, 1)},
	}
	s.listen = pipeline.NewListener(s.log)
	s.rpc = &pipeline.Service[*wire.RoomRequest, *wire.RoomResponse]{
		Protocol:    wire.ProtoRoom,
		MaxRequest:  wire.MaxRoomRequest,
		Budget:      pipeline.NewServiceBudget(wire.RoomBudget, wire.MaxRoomRequest),
		Timeout:     wire.RoomTimeout,
		Auth:        &pipeline.Authenticator{Server: cfg.AuthServer, Now: cfg.Now, Revoked: cfg.Revoked},
		Credentials: credentials,
		Security:    s.security,
		Process:     s.process,
		Refuse: func(_ *wire.RoomRequest, r pipeline.Refusal) *wire.RoomResponse {
			return &wire.RoomResponse{Error: r.Code}
		},
		Log: s.log,
	}
	return s, nil
}

// Store is the service's store.
func (s *Service) Store() *Store { return s.store }

// Budget is the service's request budget (for tests and metrics).
func (s *Service) Budget() *pipeline.Budget { return s.rpc.Budget }

// streamKey carries a request's libp2p stream to Process: a join keeps
// its stream open and sets its deadlines event by event.
type streamKey struct{}

// Attach serves the room protocol on h until Close; the first host
// attached is the one this home reaches the room's other homes from.
func (s *Service) Attach(h host.Host) {
	s.repl.mu.Lock()
	if s.repl.host == nil {
		s.repl.host = h
		ctx, cancel := context.WithCancel(context.Background())
		s.repl.stop, s.repl.ctx = cancel, ctx
		if s.cfg.Supernodes != nil {
			s.repl.wg.Add(1)
			go func() {
				defer s.repl.wg.Done()
				s.refresh(ctx)
			}()
		}
		s.repl.wg.Add(1)
		go func() {
			defer s.repl.wg.Done()
			s.sync(ctx)
		}()
	}
	s.repl.mu.Unlock()
	s.listen.Handle(h, s.rpc.Protocol, s.rpc.Timeout, func(ctx context.Context, st network.Stream) error {
		return s.rpc.ServeStream(context.WithValue(ctx, streamKey{}, st), st)
	})
}

// Close ends every joined stream (ended "closing"), stops serving, waits
// for the handlers and closes the store.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	all := make([]*members, 0, len(s.rooms))
	for _, m := range s.rooms {
		all = append(all, m)
	}
	s.mu.Unlock()
	// A join registering meanwhile holds its room's lock and sees closing
	// under the service's: it is refused, or its stream is in byPeer when
	// the room's lock comes here.
	for _, m := range all {
		m.mu.Lock()
		for _, sb := range m.byPeer {
			sb.end(EndClosing)
		}
		m.mu.Unlock()
	}
	s.repl.mu.Lock()
	stop := s.repl.stop
	s.repl.stop = nil
	s.repl.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.repl.wg.Wait()
	if !s.listen.Close() {
		return nil
	}
	// The handlers are done: no message waits for a runner any more.
	s.seq.wg.Wait()
	s.shipping.wg.Wait()
	return s.store.Close()
}

// Online is how many users have a device joined to name at this home.
func (s *Service) Online(name string) int {
	s.mu.Lock()
	m := s.rooms[name]
	s.mu.Unlock()
	if m == nil {
		return 0
	}
	return int(m.online.Load())
}

// credentials: a member's request presents a node's ticket, a home's
// (forward, replicate) a supernode's; reading the chain or the ordered
// messages is open to both.
func credentials(req *wire.RoomRequest) (pipeline.Credential, error) {
	switch req.Kind.(type) {
	case nil:
		return pipeline.Credential{}, errors.New("room request of no known kind")
	case *wire.RoomRequest_Forward, *wire.RoomRequest_Replicate:
		return pipeline.TicketOfRole(req.Ticket, ticket.RoleSupernode), nil
	case *wire.RoomRequest_Ops, *wire.RoomRequest_MessagesSince:
		return pipeline.Ticket(req.Ticket), nil
	}
	return pipeline.TicketOfRole(req.Ticket, ticket.RoleNode), nil
}

// security is the Security stage: a region pass, if the request carries
// one, must be the one issued with the request's own verified ticket; the
// sender Process decides with is the ticket's user, its account's creation
// time as the auth server signed it, and that pass's region — never a name,
// an age or a region written in the request. A ticket without a creation
// time (issued before the auth server signed one) is refused by a
// new-account gate until its next renewal: node/room fails it closed.
func (s *Service) security(r *pipeline.Request[*wire.RoomRequest]) error {
	var pass *wire.SignedRegionPass
	switch k := r.Msg.Kind.(type) {
	case *wire.RoomRequest_Join:
		pass = k.Join.GetPass()
	case *wire.RoomRequest_Send:
		pass = k.Send.GetPass()
	}
	from := room.Sender{Username: r.Ticket.Username, AccountCreated: r.Ticket.AccountCreated}
	if pass != nil {
		p, err := ticket.VerifyPass(s.cfg.AuthServer, pass, r.Ticket, s.cfg.Now())
		if err != nil {
			return fmt.Errorf("region pass: %w", err)
		}
		from.Region = p.Region
	}
	r.Verified = from
	return nil
}

// process is the Process stage: one request kind each.
func (s *Service) process(ctx context.Context, r *pipeline.Request[*wire.RoomRequest]) (*wire.RoomResponse, error) {
	from, _ := r.Verified.(room.Sender)
	switch k := r.Msg.Kind.(type) {
	case *wire.RoomRequest_Op:
		return s.submit(ctx, k.Op), nil
	case *wire.RoomRequest_Join:
		return s.join(ctx, r, from, k.Join)
	case *wire.RoomRequest_Leave:
		return s.leave(r.Remote, k.Leave), nil
	case *wire.RoomRequest_Send:
		return s.send(ctx, r.Remote, from, k.Send.GetMessage(), k.Send.GetPass()), nil
	case *wire.RoomRequest_Backlog:
		return s.backlog(ctx, k.Backlog), nil
	case *wire.RoomRequest_Ops:
		return s.opsSince(ctx, k.Ops), nil
	case *wire.RoomRequest_List:
		return s.list(ctx, from, k.List), nil
	case *wire.RoomRequest_Report:
		return s.report(ctx, r.Remote, from, k.Report), nil
	case *wire.RoomRequest_Forward:
		return s.forwarded(ctx, r.Remote, k.Forward), nil
	case *wire.RoomRequest_Replicate:
		return s.replicated(ctx, r.Remote, k.Replicate), nil
	case *wire.RoomRequest_MessagesSince:
		return s.messagesSince(ctx, k.MessagesSince), nil
	}
	return failed(wire.CodeBadRequest), nil
}

func failed(code string) *wire.RoomResponse { return &wire.RoomResponse{Error: code} }

// code is the answer's code for err, from node/room's and the store's
// sentinels; "" for nil.
func code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, room.ErrBanned):
		return wire.CodeBanned
	case errors.Is(err, room.ErrRoomFull):
		return wire.CodeRoomFull
	case errors.Is(err, room.ErrWrongPassword):
		return wire.CodeWrongPassword
	case errors.Is(err, room.ErrRateLimited), errors.Is(err, ErrCreateRate):
		return wire.CodeRateLimited
	case errors.Is(err, room.ErrStale), errors.Is(err, room.ErrFork), errors.Is(err, room.ErrGap):
		return wire.CodeStale
	case errors.Is(err, room.ErrNotAllowed), errors.Is(err, room.ErrForged), errors.Is(err, room.ErrUnauthorized),
		errors.Is(err, ErrWrongAuthor), errors.Is(err, ErrTooManyRooms):
		return wire.CodeNotAllowed
	case errors.Is(err, ErrFull):
		return wire.CodeFull
	case errors.Is(err, room.ErrMalformed), errors.Is(err, room.ErrWrongRoom), errors.Is(err, room.ErrBadTime),
		errors.Is(err, room.ErrNoChange), errors.Is(err, room.ErrTooMany), errors.Is(err, room.ErrDeleted),
		errors.Is(err, room.ErrNoRoom), errors.Is(err, ErrDuplicate), errors.Is(err, ErrBadMessage),
		errors.Is(err, wire.ErrBadRoomName):
		return wire.CodeBadRequest
	}
	return wire.CodeInternal
}

// submit takes a member's op: the room's primary sequences it (this home,
// or the one it is forwarded to), checking revocation and MaxAge
// (docs/ROOMS.md). An op carries its own author's signature and ticket,
// so whoever hands it over needs no rights of their own.
func (s *Service) submit(ctx context.Context, signed *wire.SignedRoomOp) *wire.RoomResponse {
	name, _, err := peek(signed)
	if err != nil {
		return failed(code(err))
	}
	var pos uint64
	var primary peer.ID
	forwarded, c := s.toPrimary(ctx, name, func(ctx context.Context, h host.Host, p peer.ID, st *wire.SignedTicket) error {
		var err error
		primary = p
		pos, err = client.ForwardRoom(ctx, h, p, st, s.forward(ctx, name, &wire.RoomForward{Op: signed}))
		return err
	})
	switch {
	case !forwarded:
		return s.sequenceOp(ctx, signed)
	case c != "":
		return failed(c)
	}
	// The primary's replica normally arrived before its answer; if it did
	// not, this home reads the chain now, so its members have the op.
	if st, err := s.store.State(ctx, name); err == nil && st.Seq < pos {
		if err := s.pullOps(ctx, primary, name); err != nil {
			s.log.Debug("catching up after a forwarded op", "room", name, "err", err)
		}
	}
	return &wire.RoomResponse{Position: pos}
}

// sequenceOp appends an op as the room's primary, after catching up with
// the other homes if it only now became it, passes it to the members
// joined here and to the other homes, and answers once another home holds
// it (or none answers).
func (s *Service) sequenceOp(ctx context.Context, signed *wire.SignedRoomOp) *wire.RoomResponse {
	if name, _, err := peek(signed); err == nil && !s.catchUp(ctx, name) {
		return failed(wire.CodeBusy)
	}
	st, err := s.store.Append(ctx, signed, s.checks)
	if err != nil {
		s.log.Debug("op refused", "err", err)
		if c := code(err); c != wire.CodeInternal {
			return failed(c)
		}
		s.log.Warn("storing an op", "err", err)
		return failed(wire.CodeInternal)
	}
	s.deliverOp(signed, st)
	s.replicate(ctx, st.Room, &wire.RoomReplica{Room: st.Room, Op: signed})
	return &wire.RoomResponse{Position: st.Seq}
}

// deliverOp passes a stored op to every member joined here; a kick or a
// ban ends its target's joined streams (every device of the account), a
// delete-room everyone's.
func (s *Service) deliverOp(signed *wire.SignedRoomOp, st *room.State) {
	kind, target := peekKind(signed)
	s.mu.Lock()
	m := s.rooms[st.Room]
	s.mu.Unlock()
	if m != nil {
		m.mu.Lock()
		m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Op{Op: signed}})
		for _, sb := range m.byPeer {
			switch {
			case kind == room.KindDeleteRoom:
				sb.end(EndDeleted)
			case kind == room.KindKick && sb.user == target:
				sb.end(EndKicked)
			case kind == room.KindBan && sb.user == target:
				sb.end(EndBanned)
			}
		}
		m.mu.Unlock()
	}
}

// push queues ev to every member still joined; a member whose queue is
// full is dropped (EndLagging) rather than waited for. The event is
// encoded once, here, for all of them: each member's write loop only
// copies bytes. m.mu is held.
func (m *members) push(ev *wire.RoomEvent) {
	if len(m.byPeer) == 0 {
		return
	}
	f := encodeEvent(ev)
	for _, sb := range m.byPeer {
		sb.queue(f)
	}
}

// queue puts f on sb's queue, or drops sb (EndLagging) if it is full.
func (sb *sub) queue(f frame) bool {
	if sb.ended() {
		return false
	}
	select {
	case sb.events <- f:
		return true
	default:
		sb.end(EndLagging)
		return false
	}
}

// leave ends remote's joined stream in name, if any; leaving a room one is
// not in is done already.
func (s *Service) leave(remote peer.ID, name string) *wire.RoomResponse {
	if wire.ValidRoomName(name) != nil {
		return failed(wire.CodeBadRequest)
	}
	s.mu.Lock()
	m := s.rooms[name]
	s.mu.Unlock()
	if m != nil {
		m.mu.Lock()
		if sb := m.byPeer[remote]; sb != nil {
			sb.end(EndLeft)
		}
		m.mu.Unlock()
	}
	return &wire.RoomResponse{}
}

// send admits and passes on one message. Only a device joined here may
// post (IRC's "no external messages": a kick means something), the
// message must be signed by that very device under its author's ticket,
// and room.Admit decides — bans, region, invitation, voice, new-account
// gate, slow mode, flood — before the message is stored or anyone sees it.
// The room's primary then gives it its position in the room's one order
// (and admits it again, counting the sender's messages at every home);
// it reaches the members here through the primary's replica.
func (s *Service) send(ctx context.Context, remote peer.ID, from room.Sender, signed *wire.SignedRoomMessage, pass *wire.SignedRegionPass) *wire.RoomResponse {
	now := s.cfg.Now()
	msg, err := room.VerifyMessage(signed, now, s.checks)
	if err != nil {
		s.log.Debug("message refused", "err", err)
		return failed(code(err))
	}
	if msg.Author != from.Username || msg.Ticket.Peer != remote {
		// Someone else's signed message handed over again: not this
		// device's to post.
		return failed(wire.CodeNotAllowed)
	}
	m := s.membersOf(msg.Room, false)
	if m == nil {
		m = &members{} // no one joined here: Admit still says why first
	}
	recent, c := s.admitHere(ctx, m, remote, from, msg, now)
	if c != "" {
		return failed(c)
	}
	var pos uint64
	var primary peer.ID
	forwarded, c := s.toPrimary(ctx, msg.Room, func(ctx context.Context, h host.Host, p peer.ID, st *wire.SignedTicket) error {
		var err error
		primary = p
		pos, err = client.ForwardRoom(ctx, h, p, st, s.forward(ctx, msg.Room, &wire.RoomForward{Send: &wire.RoomSend{Message: signed, Pass: pass}}))
		return err
	})
	switch {
	case !forwarded:
		return s.sequenceMessage(ctx, from, msg)
	case c != "":
		return failed(c)
	}
	// As for an op: the members here get the message before the answer.
	if last, err := s.store.LastPosition(ctx, msg.Room); err == nil && last < pos {
		if err := s.pullMessages(ctx, primary, msg.Room); err != nil {
			s.log.Debug("catching up after a forwarded message", "room", msg.Room, "err", err)
		}
	}
	m.mu.Lock()
	if m.recent != nil {
		m.recent[from.Username] = sent{recent, now}
	}
	m.mu.Unlock()
	return &wire.RoomResponse{}
}

// admitHere is what the member's home decides about its message, under
// m's lock: room.Admit, sealed exactly in an invite-only room, and sent
// by a device joined here. It returns the sender's recent sends with this
// one, or the code to refuse with.
func (s *Service) admitHere(ctx context.Context, m *members, remote peer.ID, from room.Sender, msg *room.Message, now time.Time) (room.Recent, string) {
	// The state is read before the room's lock: an op landing meanwhile
	// is seen by the primary, which admits the message again under its
	// lock with the state of that moment.
	st, err := s.store.State(ctx, msg.Room)
	if err != nil {
		return room.Recent{}, code(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	recent, err := room.Admit(st, from, now, m.recent[from.Username].recent)
	if err != nil {
		s.log.Debug("message not admitted", "room", msg.Room, "from", from.Username, "err", err)
		return room.Recent{}, code(err)
	}
	if (msg.Sealed != nil) != st.Modes.InviteOnly {
		// An invite-only room's members seal what they say, and a public
		// room's members could not open it: a client that does otherwise
		// would leak the room's words to its homes, or post noise.
		return room.Recent{}, wire.CodeNotAllowed
	}
	if sb := m.byPeer[remote]; sb == nil || sb.ended() {
		return room.Recent{}, wire.CodeNotAllowed
	}
	return recent, ""
}

// sequenceMessage is the primary's part of a message: room.Admit with the
// sender's messages at every home, the next position of the room's order,
// the members joined here, and the other homes; it answers once another
// home holds the message too, or busy when none of the live ones took it
// (this home alone acknowledges only while it takes every other for dead).
func (s *Service) sequenceMessage(ctx context.Context, from room.Sender, msg *room.Message) *wire.RoomResponse {
	if !s.catchUp(ctx, msg.Room) {
		return failed(wire.CodeBusy)
	}
	r := s.sequenceHere(ctx, from, msg)
	if r.code != "" {
		return failed(r.code)
	}
	if !awaitShipped(ctx, r.shipped) {
		// Stored and pushed here, but no other live home took it (they
		// refused the replica or did not answer): a kill of this home
		// would lose it. The author tries again; the same message is
		// then acknowledged at its position once a home takes it
		// (sequenceBatch).
		s.log.Debug("a message no other home took: busy", "room", msg.Room, "position", r.pos)
		return failed(wire.CodeBusy)
	}
	return &wire.RoomResponse{Position: r.pos}
}

// backlog answers the room's newest messages, oldest first.
func (s *Service) backlog(ctx context.Context, q *wire.RoomBacklogRequest) *wire.RoomResponse {
	if wire.ValidRoomName(q.GetRoom()) != nil || q.GetLimit() > wire.RoomBacklog {
		return failed(wire.CodeBadRequest)
	}
	msgs, err := s.store.Backlog(ctx, q.Room, int(q.Limit))
	if err != nil {
		s.log.Warn("reading a backlog", "err", err)
		return failed(wire.CodeInternal)
	}
	out := &wire.RoomResponse{}
	s.decodeStored(q.Room, msgs, func(_ Message, sm *wire.SignedRoomMessage) { out.Messages = append(out.Messages, sm) })
	return out
}

// decodeStored passes each of the room name's stored messages on to add as
// its author signed it, leaving out (and logging) one that does not decode.
func (s *Service) decodeStored(name string, msgs []Message, add func(Message, *wire.SignedRoomMessage)) {
	for _, m := range msgs {
		sm, err := room.DecodeMessage(m.Body)
		if err != nil {
			s.log.Warn("a stored message does not decode", "room", name, "id", m.ID, "err", err)
			continue
		}
		add(m, sm)
	}
}

// opsSince answers a page of the room's chain.
func (s *Service) opsSince(ctx context.Context, q *wire.RoomOpsRequest) *wire.RoomResponse {
	if wire.ValidRoomName(q.GetRoom()) != nil {
		return failed(wire.CodeBadRequest)
	}
	ops, err := s.store.OpsSince(ctx, q.Room, q.Since)
	if err != nil {
		s.log.Warn("reading ops", "err", err)
		return failed(wire.CodeInternal)
	}
	out := &wire.RoomResponse{Ops: ops, Position: q.Since + uint64(len(ops)), More: len(ops) == OpsPage}
	return out
}

// peekKind is the kind and target of an op Append accepted (and so
// decodes), as far as the joined streams care: kick, ban, delete-room.
func peekKind(signed *wire.SignedRoomOp) (room.Kind, string) {
	var op wire.RoomOp
	if err := proto.Unmarshal(signed.Op, &op); err != nil {
		return "", ""
	}
	switch k := op.Kind.(type) {
	case *wire.RoomOp_Kick:
		return room.KindKick, k.Kick
	case *wire.RoomOp_Ban:
		return room.KindBan, k.Ban.GetUsername()
	case *wire.RoomOp_DeleteRoom:
		return room.KindDeleteRoom, ""
	}
	return "", ""
}
