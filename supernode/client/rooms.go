package client

import (
	"bufio"
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
}

// JoinRoom joins room at sn with password ("" for none) and pass (the
// device's region pass, needed to post in a regional room; nil otherwise),
// and returns the subscription the home pushes the room's events on.
// Close it to leave.
func JoinRoom(ctx context.Context, h host.Host, sn peer.ID, st *wire.SignedTicket, room, password string, pass *wire.SignedRegionPass) (*Subscription, error) {
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
	req := &wire.RoomRequest{Ticket: st, Kind: &wire.RoomRequest_Join{Join: &wire.RoomJoin{Room: room, Password: password, Pass: pass}}}
	if err := wire.WriteMsg(s, req); err != nil {
		return fail(err)
	}
	var resp wire.RoomResponse
	if err := wire.ReadMsg(s, wire.MaxRoomFrame, &resp); err != nil {
		return fail(fmt.Errorf("reading the join answer: %w", err))
	}
	if err := codeErr(resp.Error); err != nil {
		return fail(err)
	}
	if len(resp.Usernames) > wire.RoomMembersListed {
		return fail(fmt.Errorf("%w: %d usernames in a join's answer", ErrProtocol, len(resp.Usernames)))
	}
	if err := s.SetDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("clearing deadline: %w", err))
	}
	// Only now may reads run ahead of a frame: nothing but events
	// follows the answer.
	r := wire.NewReader(bufio.NewReaderSize(s, subscriptionBuffer), wire.MaxRoomFrame)
	// No minimum rate: a home may leave a joined stream quiet as long as
	// the room is, so a rate would not bound how long a home can hold a
	// reader anyway (leaving does: Close), and most frames are read from
	// the buffer, where a watchdog's timer per frame would cost the most.
	r.MinRate = 0
	return &Subscription{s: s, r: r, Position: resp.Position, Members: int(resp.Members), Usernames: resp.Usernames}, nil
}

// Next waits for the room's next event. When the home ended the stream it
// returns an error wrapping ErrRoomEnded with the reason; Close the
// subscription after any error.
func (sub *Subscription) Next(ctx context.Context) (*wire.RoomEvent, error) {
	stop := context.AfterFunc(ctx, func() { _ = sub.s.SetReadDeadline(time.Now()) })
	defer stop()
	var resp wire.RoomResponse
	if err := sub.r.ReadMsg(&resp); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("reading a room event: %w", err)
	}
	switch {
	case resp.Ended != "":
		return nil, fmt.Errorf("%w: %s", ErrRoomEnded, resp.Ended)
	case resp.Event == nil:
		return nil, fmt.Errorf("%w: a joined stream's frame without an event", ErrProtocol)
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
