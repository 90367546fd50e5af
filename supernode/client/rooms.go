package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// Errors of a room's home (wire.ProtoRoom), besides the shared ones:
// ErrRateLimited is slow mode, the flood limit or too many join attempts;
// ErrBadRequest an unknown room or a bad name; ErrStale an op signed on an
// old head (re-read the chain and sign again). A create op is refused with
// ErrRateLimited when its author created too many rooms recently and with
// ErrNotAllowed when it owns too many (wire.RoomCreatesPerWindow,
// wire.MaxRoomsOwned).
var (
	ErrBanned        = errors.New("room: banned")
	ErrRoomFull      = errors.New("room: full")
	ErrNotAllowed    = errors.New("room: not allowed")
	ErrWrongPassword = errors.New("room: wrong password")
	// ErrRoomEnded is what Subscription.Next returns, wrapped with the
	// home's reason (a supernode/rooms End* string), when the home ended
	// the member's joined stream.
	ErrRoomEnded = errors.New("room: joined stream ended")
)

// Nothing these functions return is vouched for by the home: ops and
// messages carry their authors' signatures, and the caller verifies them
// (node/room.Verify, VerifyMessage) before it shows or applies them.

// SubmitRoomOp hands the signed op to the room's home sn to sequence, and
// returns the room's position after it.
func SubmitRoomOp(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, op *wire.SignedRoomOp) (uint64, error) {
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st, Kind: &wire.RoomRequest_Op{Op: op}})
	if err != nil {
		return 0, err
	}
	return resp.Position, nil
}

// SendRoomMessage posts msg, signed by this device, in a room it joined at
// sn; pass is the device's region pass (nil outside regional rooms).
func SendRoomMessage(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, msg *wire.SignedRoomMessage, pass *wire.SignedRegionPass) error {
	_, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_Send{Send: &wire.RoomSend{Message: msg, Pass: pass}}})
	return err
}

// ReportRoomMember reports a member of a room this device joined at sn to
// the room's owner and operators.
func ReportRoomMember(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, r *wire.RoomReport) error {
	_, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st, Kind: &wire.RoomRequest_Report{Report: r}})
	return err
}

// LeaveRoom ends this device's joined stream in room at sn.
func LeaveRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room string) error {
	_, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st, Kind: &wire.RoomRequest_Leave{Leave: room}})
	return err
}

// RoomBacklog returns the room's newest messages at sn, at most limit
// (1..wire.RoomBacklog; 0 means all it keeps), oldest first.
func RoomBacklog(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room string, limit int) ([]*wire.SignedRoomMessage, error) {
	if limit < 0 || limit > wire.RoomBacklog {
		return nil, fmt.Errorf("%w: backlog of %d messages, at most %d", ErrBadRequest, limit, wire.RoomBacklog)
	}
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_Backlog{Backlog: &wire.RoomBacklogRequest{Room: room, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return resp.Messages, nil
}

// RoomOpsSince returns a page of the room's chain after position since;
// more says the chain goes on after it.
func RoomOpsSince(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room string, since uint64) (ops []*wire.SignedRoomOp, more bool, err error) {
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_Ops{Ops: &wire.RoomOpsRequest{Room: room, Since: since}}})
	if err != nil {
		return nil, false, err
	}
	return resp.Ops, resp.More, nil
}

// ListRooms searches the room directory at sn: the listed rooms whose name
// or topic holds every word of query (case-insensitive), only region's
// regional room when region (a country code) is set, most members online
// first, at most limit (1..wire.RoomDirectoryPage; 0 means the most). With
// one home per network sn's answer is the whole directory. ErrRateLimited
// means too many searches; ErrBadRequest a query out of its limits.
func ListRooms(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, query, region string, limit int) ([]*wire.RoomDirectoryEntry, error) {
	if limit < 0 || limit > wire.RoomDirectoryPage || len(query) > wire.MaxRoomQuery || !utf8.ValidString(query) {
		return nil, fmt.Errorf("%w: directory query of %d bytes for %d rooms, at most %d of UTF-8 and %d",
			ErrBadRequest, len(query), limit, wire.MaxRoomQuery, wire.RoomDirectoryPage)
	}
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_List{List: &wire.RoomListRequest{Query: query, Region: region, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	if len(resp.Rooms) > wire.RoomDirectoryPage {
		return nil, fmt.Errorf("%w: %d rooms in one directory answer", ErrProtocol, len(resp.Rooms))
	}
	return resp.Rooms, nil
}

// Subscription is a device's joined stream in one room at one home.
type Subscription struct {
	s network.Stream
	r *wire.Reader // over a buffer: a batch of events is one read
	// Position is the room's position when the home admitted the join;
	// Members the users joined there, this one included.
	Position uint64
	Members  int
	// Usernames are the users joined there (the first
	// wire.RoomMembersListed), this one included.
	Usernames []string
	// Newest is the room's newest message position at the home when it
	// admitted the join. CaughtUp says the home holds every message after
	// the position JoinRoomAfter named and pushes them first, in order, as
	// events carrying their positions; without it the member reads the
	// backlog (RoomBacklog) for what it missed.
	Newest   uint64
	CaughtUp bool
	// caught is the signature of each message of a catch-up by position,
	// until the first message past Newest: the primary stores a message
	// before it queues it, so one stored while the join registered comes
	// both in the catch-up and live, and Next drops the second.
	caught map[uint64][]byte
}

// JoinRoom joins room at sn with password ("" for none) and pass (the
// device's region pass, needed to post in a regional room; nil otherwise),
// and returns the subscription the home pushes the room's events on.
// Close it to leave.
func JoinRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room, password string, pass *wire.SignedRegionPass) (*Subscription, error) {
	return joinRoom(ctx, h, sn, st, &wire.RoomJoin{Room: room, Password: password, Pass: pass})
}

// JoinRoomAfter is JoinRoom for a member that saw the room's messages up
// to position after (0: the room had none) — back after its joined stream
// dropped. When the subscription is CaughtUp, Next returns every message
// after that position first, in order, each once; otherwise the home no
// longer holds them all (or after is past what it holds) and the member
// reads the backlog. A position past wire.MaxRoomPosition is
// ErrBadRequest. CaughtUp turns false once the catch-up is over (the
// first message past Newest).
func JoinRoomAfter(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room, password string, pass *wire.SignedRegionPass, after uint64) (*Subscription, error) {
	if after > wire.MaxRoomPosition {
		return nil, fmt.Errorf("%w: message position %d, at most %d", ErrBadRequest, after, uint64(wire.MaxRoomPosition))
	}
	return joinRoom(ctx, h, sn, st, &wire.RoomJoin{Room: room, Password: password, Pass: pass, CatchUp: true, Since: after})
}

func joinRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, q *wire.RoomJoin) (*Subscription, error) {
	s, err := h.NewStream(ctx, sn, wire.ProtoRoom)
	if err != nil {
		return nil, fmt.Errorf("opening stream to %s: %w", sn, err)
	}
	fail := func(err error) (*Subscription, error) {
		_ = s.Reset()
		return nil, err
	}
	deadline := time.Now().Add(wire.RoomTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.SetDeadline(deadline); err != nil {
		return fail(fmt.Errorf("setting deadline: %w", err))
	}
	req := &wire.RoomRequest{Ticket: st, Kind: &wire.RoomRequest_Join{Join: q}}
	if err := wire.WriteMsg(s, req); err != nil {
		return fail(err)
	}
	var resp wire.RoomResponse
	if err := wire.ReadMsg(s, wire.MaxRoomFrame, &resp); err != nil {
		return fail(fmt.Errorf("reading the join answer: %w", err))
	}
	sub, err := parseJoinAnswer(&resp, q)
	if err != nil {
		return fail(err)
	}
	if err := s.SetDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("clearing deadline: %w", err))
	}
	// Only now may reads run ahead of a frame: nothing but events
	// follows the answer.
	sub.r = wire.NewReader(bufio.NewReaderSize(s, subscriptionBuffer), wire.MaxRoomFrame)
	// No minimum rate: a home may leave a joined stream quiet as long as
	// the room is, so a rate would not bound how long a home can hold a
	// reader anyway (leaving does: Close), and most frames are read from
	// the buffer, where a watchdog's timer per frame would cost the most.
	sub.r.MinRate = 0
	sub.s = s
	return sub, nil
}

// parseJoinAnswer checks a join's answer to q and makes the subscription
// (without its stream).
func parseJoinAnswer(resp *wire.RoomResponse, q *wire.RoomJoin) (*Subscription, error) {
	if err := codeErr(resp.Error); err != nil {
		return nil, err
	}
	switch {
	case len(resp.Usernames) > wire.RoomMembersListed:
		return nil, fmt.Errorf("%w: %d usernames in a join's answer", ErrProtocol, len(resp.Usernames))
	case resp.Newest > wire.MaxRoomPosition:
		return nil, fmt.Errorf("%w: newest message position %d in a join's answer", ErrProtocol, resp.Newest)
	case resp.CaughtUp && (!q.GetCatchUp() || q.GetSince() > resp.Newest):
		// Messages the member did not ask for, or past what the home says
		// it holds.
		return nil, fmt.Errorf("%w: a catch-up after %d not asked for (newest %d)", ErrProtocol, q.GetSince(), resp.Newest)
	}
	return &Subscription{Position: resp.Position, Members: int(resp.Members), Usernames: resp.Usernames,
		Newest: resp.Newest, CaughtUp: resp.CaughtUp}, nil
}

// Next waits for the room's next event. When the home ended the stream it
// returns an error wrapping ErrRoomEnded with the reason; Close the
// subscription after any error. A message event carries its position in
// the room's message order (0 from a home that does not say).
func (sub *Subscription) Next(ctx context.Context) (*wire.RoomEvent, error) {
	stop := context.AfterFunc(ctx, func() { _ = sub.s.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		var resp wire.RoomResponse
		if err := sub.r.ReadMsg(&resp); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			return nil, fmt.Errorf("reading a room event: %w", err)
		}
		ev, err := parseEvent(&resp)
		if err != nil || !sub.repeated(ev) {
			return ev, err
		}
	}
}

// repeated reports whether ev is a message the catch-up brought already
// (the same signed message at the same position), recording the catch-up's
// messages as they come: at most wire.RoomMessagesKept, forgotten at the
// first message past Newest, after which nothing repeats.
func (sub *Subscription) repeated(ev *wire.RoomEvent) bool {
	sm := ev.GetMessage()
	if !sub.CaughtUp || sm == nil || ev.Position == 0 {
		return false
	}
	if ev.Position > sub.Newest {
		sub.CaughtUp, sub.caught = false, nil
		return false
	}
	if prev, ok := sub.caught[ev.Position]; ok {
		return bytes.Equal(prev, sm.Signature)
	}
	if sub.caught == nil {
		sub.caught = map[uint64][]byte{}
	}
	if len(sub.caught) < wire.RoomMessagesKept {
		sub.caught[ev.Position] = sm.Signature
	}
	return false
}

// parseEvent is a joined stream's frame as Next returns it.
func parseEvent(resp *wire.RoomResponse) (*wire.RoomEvent, error) {
	switch {
	case resp.Ended != "":
		return nil, fmt.Errorf("%w: %s", ErrRoomEnded, resp.Ended)
	case resp.Event == nil:
		return nil, fmt.Errorf("%w: a joined stream's frame without an event", ErrProtocol)
	case resp.Event.Position > wire.MaxRoomPosition || (resp.Event.Position != 0 && resp.Event.GetMessage() == nil):
		return nil, fmt.Errorf("%w: an event at message position %d", ErrProtocol, resp.Event.Position)
	}
	return resp.Event, nil
}

// subscriptionBuffer is what a subscription reads at once: a home writes
// a member's queued events together (wire.RoomWriteBatch), and reading
// them in one call, not three per event, spares the stream muxer's locks.
const subscriptionBuffer = 32 << 10

// Close leaves the room at this home.
func (sub *Subscription) Close() error { return sub.s.Reset() }

// Home to home (docs/ROOMS.md, "Replication and failover"): st is the
// calling supernode's role-supernode ticket.

// ForwardRoom hands a member's signed op, or a message a member posted
// (with its region pass, if any), to the room's primary sn to sequence,
// with the forwarding home's chain and message positions; it returns the
// op's or the message's position.
func ForwardRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, fw *wire.RoomForward) (uint64, error) {
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_Forward{Forward: fw}})
	if err != nil {
		return 0, err
	}
	return resp.Position, nil
}

// ReplicateRoom passes one sequenced op or ordered message of the room on
// to its home sn.
func ReplicateRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, rep *wire.RoomReplica) error {
	_, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_Replicate{Replicate: rep}})
	return err
}

// RoomMessagesSince returns the room's messages at sn after position
// since, in order (at most wire.RoomMessagesPage; holes are messages
// deleted or no longer kept there).
func RoomMessagesSince(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room string, since uint64) ([]*wire.RoomOrderedMessage, error) {
	resp, err := Call[*wire.RoomResponse](ctx, h, sn, wire.ProtoRoom, &wire.RoomRequest{Ticket: st,
		Kind: &wire.RoomRequest_MessagesSince{MessagesSince: &wire.RoomMessagesRequest{Room: room, Since: since}}})
	if err != nil {
		return nil, err
	}
	if len(resp.Ordered) > wire.RoomMessagesPage {
		return nil, fmt.Errorf("%w: %d messages in one answer", ErrProtocol, len(resp.Ordered))
	}
	prev := since
	for _, m := range resp.Ordered {
		if m.GetPosition() <= prev || m.GetMessage() == nil {
			return nil, fmt.Errorf("%w: messages out of order", ErrProtocol)
		}
		prev = m.Position
	}
	return resp.Ordered, nil
}

// RoomPeerLister returns a function that lists the live supernodes with
// their verified addresses at the registry of auth, asking from h with the
// ticket t returns at the time: a room home's view of the others
// (supernode.ServicesConfig.RoomPeers). auth's addresses must be in h's
// peerstore (or a connection open).
func RoomPeerLister(h host.Host, auth peer.ID, t func() *wire.SignedTicket) func(context.Context) ([]peer.AddrInfo, error) {
	return func(ctx context.Context) ([]peer.AddrInfo, error) {
		st := t()
		if st == nil {
			return nil, errors.New("listing supernodes: no ticket yet")
		}
		list, err := ListSupernodes(ctx, h, auth, st)
		if err != nil {
			return nil, err
		}
		out := make([]peer.AddrInfo, 0, len(list))
		for _, sn := range list {
			out = append(out, sn.Addrs)
		}
		return out, nil
	}
}

// SignedSupernodeTicket returns a function that gives hb's latest
// role-supernode ticket as the auth server signed it, nil before the first
// heartbeat: what a room home presents to the room's other homes.
func SignedSupernodeTicket(hb *Heartbeater) func() *wire.SignedTicket {
	return func() *wire.SignedTicket {
		if t := hb.SupernodeTicket(); t != nil {
			return t.Signed
		}
		return nil
	}
}

// InProcessRoomPeers adapts the registry of an auth server that runs the
// supernode services on its own host (it cannot dial itself): list is its
// answer to a list request, which names it first. It returns the
// ServicesConfig.RoomPeers and SupernodeTicket of those services: the
// live supernodes with their addresses, and the server's own
// role-supernode ticket from the list.
func InProcessRoomPeers(auth peer.ID, list func() []*wire.SupernodeInfo) (func(context.Context) ([]peer.AddrInfo, error), func() *wire.SignedTicket) {
	peers := func(context.Context) ([]peer.AddrInfo, error) {
		sns := ParseSupernodes(auth, list())
		out := make([]peer.AddrInfo, 0, len(sns))
		for _, sn := range sns {
			out = append(out, sn.Addrs)
		}
		return out, nil
	}
	self := func() *wire.SignedTicket {
		for _, sn := range ParseSupernodes(auth, list()) {
			if sn.Ticket.Peer == auth {
				return sn.Ticket.Signed
			}
		}
		return nil
	}
	return peers, self
}
