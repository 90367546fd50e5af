package node

import (
	"context"

	"eserver/node/api"
)

// Chat rooms (node/rooms); a session's rooms are rejoined at sign-in.

// CreateRoom implements API.
func (n *Node) CreateRoom(ctx context.Context, room, topic string, public bool) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.rooms.CreateRoom(ctx, room, topic, public)
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

// ListRooms implements API.
func (n *Node) ListRooms(ctx context.Context, query, region string, limit int) ([]api.RoomListing, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.rooms.ListRooms(ctx, query, region, limit)
}
