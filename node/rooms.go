package node

import (
	"context"
	"time"

	"eserver/node/api"
	"eserver/node/rooms"
)

// Chat rooms (node/rooms); a session's rooms are rejoined at sign-in.

// CreateRoom implements API.
func (n *Node) CreateRoom(ctx context.Context, spec api.RoomSpec) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.rooms.CreateRoom(ctx, spec)
}

// JoinRoom implements API.
func (n *Node) JoinRoom(ctx context.Context, room, password string) (api.Room, error) {
	s, err := n.current()
	if err != nil {
		return api.Room{}, err
	}
	return s.rooms.JoinRoom(ctx, room, password)
}

// LeaveRoom implements API.
func (n *Node) LeaveRoom(ctx context.Context, room string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.rooms.LeaveRoom(ctx, room)
}

// RoomSend implements API.
func (n *Node) RoomSend(ctx context.Context, room, text string) (string, error) {
	s, err := n.current()
	if err != nil {
		return "", err
	}
	return s.rooms.RoomSend(ctx, room, text)
}

// RoomHistory implements API.
func (n *Node) RoomHistory(ctx context.Context, room string, limit int) ([]api.RoomMessage, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.rooms.RoomHistory(ctx, room, limit)
}

// RoomMessages implements API.
func (n *Node) RoomMessages(ctx context.Context, room string, limit int, before string) ([]api.RoomMessage, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.rooms.RoomMessages(ctx, room, limit, before)
}

// ListRooms implements API.
func (n *Node) ListRooms(ctx context.Context, query, region string, limit int) ([]api.RoomListing, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.rooms.ListRooms(ctx, query, region, limit)
}

// roomsOf is the signed-in session's rooms feature.
func (n *Node) roomsOf() (*rooms.Rooms, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.rooms, nil
}

// roomDo runs a room method that answers only an error.
func (n *Node) roomDo(f func(*rooms.Rooms) error) error {
	r, err := n.roomsOf()
	if err != nil {
		return err
	}
	return f(r)
}

// RoomInfo implements API.
func (n *Node) RoomInfo(ctx context.Context, room string) (api.RoomInfo, error) {
	r, err := n.roomsOf()
	if err != nil {
		return api.RoomInfo{}, err
	}
	return r.RoomInfo(ctx, room)
}

// RoomMembers implements API.
func (n *Node) RoomMembers(ctx context.Context, room string) ([]api.RoomMember, error) {
	r, err := n.roomsOf()
	if err != nil {
		return nil, err
	}
	return r.RoomMembers(ctx, room)
}

// RoomKick implements API.
func (n *Node) RoomKick(ctx context.Context, room, username string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomKick(ctx, room, username) })
}

// RoomBan implements API.
func (n *Node) RoomBan(ctx context.Context, room, username string, d time.Duration) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomBan(ctx, room, username, d) })
}

// RoomUnban implements API.
func (n *Node) RoomUnban(ctx context.Context, room, username string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomUnban(ctx, room, username) })
}

// RoomOp implements API.
func (n *Node) RoomOp(ctx context.Context, room, username string, op bool) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomOp(ctx, room, username, op) })
}

// RoomVoice implements API.
func (n *Node) RoomVoice(ctx context.Context, room, username string, voice bool) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomVoice(ctx, room, username, voice) })
}

// RoomInvite implements API.
func (n *Node) RoomInvite(ctx context.Context, room, username string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomInvite(ctx, room, username) })
}

// RoomSetTopic implements API.
func (n *Node) RoomSetTopic(ctx context.Context, room, topic string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomSetTopic(ctx, room, topic) })
}

// RoomSetModes implements API.
func (n *Node) RoomSetModes(ctx context.Context, room string, m api.RoomModesChange) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomSetModes(ctx, room, m) })
}

// DeleteRoom implements API.
func (n *Node) DeleteRoom(ctx context.Context, room string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.DeleteRoom(ctx, room) })
}

// RoomDeleteMessage implements API.
func (n *Node) RoomDeleteMessage(ctx context.Context, room, id string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomDeleteMessage(ctx, room, id) })
}

// RoomReport implements API.
func (n *Node) RoomReport(ctx context.Context, room, username, messageID, reason string) error {
	return n.roomDo(func(r *rooms.Rooms) error { return r.RoomReport(ctx, room, username, messageID, reason) })
}
