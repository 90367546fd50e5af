package rpc

import (
	"context"
	"encoding/json"
	"time"

	"eserver/node/api"
)

// Chat rooms' methods (issue 15). Rooms are addressed by name; the
// moderation methods are the next increment.

// roomParam is createRoom's answer.
type roomParam struct {
	Room string `json:"room"`
}

func createRoom(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room   string `json:"room"`
		Topic  string `json:"topic"`
		Public *bool  `json:"public"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	public := p.Public == nil || *p.Public // public unless asked otherwise
	if err := backend.CreateRoom(ctx, p.Room, p.Topic, public); err != nil {
		return nil, err
	}
	return roomParam{Room: p.Room}, nil
}

func joinRoom(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room     string `json:"room"`
		Password string `json:"password"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	return backend.JoinRoom(ctx, p.Room, p.Password)
}

func roomSend(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room, "text", p.Text); err != nil {
		return nil, err
	}
	id, err := backend.RoomSend(ctx, p.Room, p.Text)
	if err != nil {
		return nil, err
	}
	return struct {
		ID string `json:"id"`
	}{id}, nil
}

// roomLine is a message of roomHistory's answer: the room is the one asked.
type roomLine struct {
	ID   string    `json:"id"`
	From string    `json:"from"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

func roomHistory(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room  string `json:"room"`
		Limit *int   `json:"limit"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	limit := api.MaxRoomHistory
	if p.Limit != nil {
		limit = *p.Limit
		if limit < 1 || limit > api.MaxRoomHistory {
			return nil, badParams("limit must be between 1 and %d", api.MaxRoomHistory)
		}
	}
	ms, err := backend.RoomHistory(ctx, p.Room, limit)
	if err != nil {
		return nil, err
	}
	return struct {
		Messages []roomLine `json:"messages"`
	}{mapSlice(ms, func(m api.RoomMessage) roomLine {
		return roomLine{ID: m.ID, From: m.From, Text: m.Text, Time: utc(m.Time)}
	})}, nil
}

func listRooms(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Query  string `json:"query"`
		Region string `json:"region"`
		Limit  *int   `json:"limit"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	limit := 0 // the most a directory answer holds
	if p.Limit != nil {
		if limit = *p.Limit; limit < 1 || limit > api.MaxRoomHistory {
			return nil, badParams("limit must be between 1 and %d", api.MaxRoomHistory)
		}
	}
	ls, err := backend.ListRooms(ctx, p.Query, p.Region, limit)
	if err != nil {
		return nil, err
	}
	return struct {
		Rooms []api.RoomListing `json:"rooms"`
	}{mapSlice(ls, func(l api.RoomListing) api.RoomListing { return l })}, nil
}
