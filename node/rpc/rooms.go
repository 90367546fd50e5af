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

// roomLine is a message of roomHistory's and roomMessages' answers: the
// room is the one asked.
type roomLine struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	Text       string    `json:"text"`
	Time       time.Time `json:"time"`
	Nick       string    `json:"nick,omitempty"`
	AvatarPath string    `json:"avatarPath,omitempty"`
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
	limit, err := limitParam(p.Limit, api.MaxRoomHistory, api.MaxRoomHistory)
	if err != nil {
		return nil, err
	}
	ms, err := backend.RoomHistory(ctx, p.Room, limit)
	if err != nil {
		return nil, err
	}
	return struct {
		Messages []roomLine `json:"messages"`
	}{mapSlice(ms, roomLineOf)}, nil
}

func roomLineOf(m api.RoomMessage) roomLine {
	return roomLine{ID: m.ID, From: m.From, Text: m.Text, Time: utc(m.Time), Nick: m.Nick, AvatarPath: m.AvatarPath}
}

// roomMessages: the messages of a room this node showed, as it kept them,
// a page at a time (as history pages a chat).
func roomMessages(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Room   string `json:"room"`
		Limit  *int   `json:"limit"`
		Before string `json:"before"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("room", p.Room); err != nil {
		return nil, err
	}
	limit, err := limitParam(p.Limit, api.MaxRoomHistory, api.MaxRoomKept)
	if err != nil {
		return nil, err
	}
	ms, err := backend.RoomMessages(ctx, p.Room, limit, p.Before)
	if err != nil {
		return nil, err
	}
	return struct {
		Messages []roomLine `json:"messages"`
	}{mapSlice(ms, roomLineOf)}, nil
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
	// Without a limit: 0, the most a directory answer holds.
	limit, err := limitParam(p.Limit, 0, api.MaxRoomHistory)
	if err != nil {
		return nil, err
	}
	ls, err := backend.ListRooms(ctx, p.Query, p.Region, limit)
	if err != nil {
		return nil, err
	}
	return struct {
		Rooms []api.RoomListing `json:"rooms"`
	}{mapSlice(ls, func(l api.RoomListing) api.RoomListing { return l })}, nil
}

// roomParams are the params every room method has; the others embed
// them and add their own required fields to check.
type roomParams struct {
	Room string `json:"room"`
}

func (p roomParams) check() error { return required("room", p.Room) }

// roomMethod decodes a method's params P, checks them and calls do: the
// room methods' one shape.
func roomMethod[P interface{ check() error }](do func(ctx context.Context, backend api.API, p P) (any, error)) handler {
	return func(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
		var p P
		if err := decodeParams(raw, &p); err != nil {
			return nil, err
		}
		if err := p.check(); err != nil {
			return nil, err
		}
		return do(ctx, backend, p)
	}
}

// done is a command's answer: {} or its error.
func done(err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return empty{}, nil
}

type userParams struct {
	roomParams
	Username string `json:"username"`
}

func (p userParams) check() error { return required("room", p.Room, "username", p.Username) }

// opParams and voiceParams: op and voice default to true; false takes
// the role away.
type opParams struct {
	userParams
	Op *bool `json:"op"`
}

type voiceParams struct {
	userParams
	Voice *bool `json:"voice"`
}

func orTrue(b *bool) bool { return b == nil || *b }

type banParams struct {
	roomParams
	Username string `json:"username"`
	Minutes  int    `json:"minutes"` // 0 or absent: until unbanned
}

func (p banParams) check() error {
	if err := required("room", p.Room, "username", p.Username); err != nil {
		return err
	}
	if p.Minutes < 0 || p.Minutes > maxBanMinutes {
		return badParams("minutes must be between 0 (until unbanned) and %d", maxBanMinutes)
	}
	return nil
}

// maxBanMinutes is the longest ban with an end: ten years.
const maxBanMinutes = 10 * 366 * 24 * 60

type topicParams struct {
	roomParams
	Topic string `json:"topic"`
}

type modesParams struct {
	roomParams
	api.RoomModesChange
}

type messageParams struct {
	roomParams
	ID string `json:"id"`
}

func (p messageParams) check() error { return required("room", p.Room, "id", p.ID) }

type reportParams struct {
	roomParams
	Username  string `json:"username"`
	MessageID string `json:"messageId"`
	Reason    string `json:"reason"`
}

func (p reportParams) check() error { return required("room", p.Room, "username", p.Username) }

var (
	roomKick = roomMethod(func(ctx context.Context, b api.API, p userParams) (any, error) {
		return done(b.RoomKick(ctx, p.Room, p.Username))
	})
	roomUnban = roomMethod(func(ctx context.Context, b api.API, p userParams) (any, error) {
		return done(b.RoomUnban(ctx, p.Room, p.Username))
	})
	roomInvite = roomMethod(func(ctx context.Context, b api.API, p userParams) (any, error) {
		return done(b.RoomInvite(ctx, p.Room, p.Username))
	})
	roomOp = roomMethod(func(ctx context.Context, b api.API, p opParams) (any, error) {
		return done(b.RoomOp(ctx, p.Room, p.Username, orTrue(p.Op)))
	})
	roomVoice = roomMethod(func(ctx context.Context, b api.API, p voiceParams) (any, error) {
		return done(b.RoomVoice(ctx, p.Room, p.Username, orTrue(p.Voice)))
	})
	roomBan = roomMethod(func(ctx context.Context, b api.API, p banParams) (any, error) {
		return done(b.RoomBan(ctx, p.Room, p.Username, time.Duration(p.Minutes)*time.Minute))
	})
	roomSetTopic = roomMethod(func(ctx context.Context, b api.API, p topicParams) (any, error) {
		return done(b.RoomSetTopic(ctx, p.Room, p.Topic))
	})
	roomSetModes = roomMethod(func(ctx context.Context, b api.API, p modesParams) (any, error) {
		return done(b.RoomSetModes(ctx, p.Room, p.RoomModesChange))
	})
	roomDeleteMessage = roomMethod(func(ctx context.Context, b api.API, p messageParams) (any, error) {
		return done(b.RoomDeleteMessage(ctx, p.Room, p.ID))
	})
	roomReport = roomMethod(func(ctx context.Context, b api.API, p reportParams) (any, error) {
		return done(b.RoomReport(ctx, p.Room, p.Username, p.MessageID, p.Reason))
	})
	roomInfo = roomMethod(func(ctx context.Context, b api.API, p roomParams) (any, error) {
		return b.RoomInfo(ctx, p.Room)
	})
	roomMembers = roomMethod(func(ctx context.Context, b api.API, p roomParams) (any, error) {
		ms, err := b.RoomMembers(ctx, p.Room)
		if err != nil {
			return nil, err
		}
		return struct {
			Members []api.RoomMember `json:"members"`
		}{mapSlice(ms, func(m api.RoomMember) api.RoomMember { return m })}, nil
	})
)
