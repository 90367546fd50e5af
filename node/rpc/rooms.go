package rpc

import (
	"context"
	"encoding/json"
	"time"

	"eserver/node/api"
)

// Chat rooms' methods (issue 15). Rooms are addressed by name.

// roomParam is createRoom's answer.
type roomParam struct {
	Room string `json:"room"`
}

func createRoom(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room       string `json:"room"`
		Topic      string `json:"topic"`
		Public     *bool  `json:"public"`
		InviteOnly bool   `json:"inviteOnly"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	// Public unless asked otherwise, or invite-only: an invite-only room
	// in the directory would list a room no one can join.
	public := (p.Public == nil && !p.InviteOnly) || (p.Public != nil && *p.Public)
	if err := backend.CreateRoom(ctx, api.RoomSpec{Room: p.Room, Topic: p.Topic, Public: public, InviteOnly: p.InviteOnly}); err != nil {
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

// roomUser is a moderation method of {room, username} and, when flag is
// set, a boolean of that name that defaults to true (roomOp's op,
// roomVoice's voice: false takes the role away).
func roomUser(call func(backend api.API, ctx context.Context, room, username string, on bool) error, flag string) handler {
	return func(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
		var p map[string]json.RawMessage
		if err := decodeParams(raw, &p); err != nil {
			return nil, err
		}
		var room, username string
		on := true
		for k, r := range p {
			var err error
			switch k {
			case "room":
				err = json.Unmarshal(r, &room)
			case "username":
				err = json.Unmarshal(r, &username)
			case flag:
				if flag != "" {
					if err = json.Unmarshal(r, &on); err != nil {
						return nil, badParams("%s must be true or false", k)
					}
					continue
				}
				fallthrough
			default:
				return nil, badParams("unknown field %q", k)
			}
			if err != nil {
				return nil, badParams("%s must be a string", k)
			}
		}
		if err := required("room", room, "username", username); err != nil {
			return nil, err
		}
		if err := call(backend, ctx, room, username, on); err != nil {
			return nil, err
		}
		return empty{}, nil
	}
}

var (
	roomKick = roomUser(func(b api.API, ctx context.Context, room, user string, _ bool) error {
		return b.RoomKick(ctx, room, user)
	}, "")
	roomUnban = roomUser(func(b api.API, ctx context.Context, room, user string, _ bool) error {
		return b.RoomUnban(ctx, room, user)
	}, "")
	roomInvite = roomUser(func(b api.API, ctx context.Context, room, user string, _ bool) error {
		return b.RoomInvite(ctx, room, user)
	}, "")
	roomOp    = roomUser(api.API.RoomOp, "op")
	roomVoice = roomUser(api.API.RoomVoice, "voice")
)

func roomBan(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room     string `json:"room"`
		Username string `json:"username"`
		Minutes  int    `json:"minutes"` // 0 or absent: until unbanned
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room, "username", p.Username); err != nil {
		return nil, err
	}
	if p.Minutes < 0 || p.Minutes > maxBanMinutes {
		return nil, badParams("minutes must be between 0 (until unbanned) and %d", maxBanMinutes)
	}
	if err := backend.RoomBan(ctx, p.Room, p.Username, time.Duration(p.Minutes)*time.Minute); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// maxBanMinutes is the longest ban with an end: ten years.
const maxBanMinutes = 10 * 366 * 24 * 60

func roomSetTopic(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room  string `json:"room"`
		Topic string `json:"topic"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	if err := backend.RoomSetTopic(ctx, p.Room, p.Topic); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func roomSetModes(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room string `json:"room"`
		api.RoomModesChange
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	if err := backend.RoomSetModes(ctx, p.Room, p.RoomModesChange); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func roomDeleteMessage(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room string `json:"room"`
		ID   string `json:"id"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room, "id", p.ID); err != nil {
		return nil, err
	}
	if err := backend.RoomDeleteMessage(ctx, p.Room, p.ID); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func roomReport(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room      string `json:"room"`
		Username  string `json:"username"`
		MessageID string `json:"messageId"`
		Reason    string `json:"reason"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room, "username", p.Username); err != nil {
		return nil, err
	}
	if err := backend.RoomReport(ctx, p.Room, p.Username, p.MessageID, p.Reason); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func roomInfo(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room string `json:"room"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	return backend.RoomInfo(ctx, p.Room)
}

func roomMembers(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room string `json:"room"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	ms, err := backend.RoomMembers(ctx, p.Room)
	if err != nil {
		return nil, err
	}
	return struct {
		Members []api.RoomMember `json:"members"`
	}{mapSlice(ms, func(m api.RoomMember) api.RoomMember { return m })}, nil
}
