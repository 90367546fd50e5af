package apitest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"eserver/node/api"
)

// FakeRooms is what a Fake's chat room methods answer, by room.
type FakeRooms struct {
	// Messages is what RoomHistory returns (the newest limit); RoomSend
	// appends to it.
	Messages map[string][]api.RoomMessage
	// Listings is what ListRooms returns (the first limit).
	Listings []api.RoomListing
	// Infos is what RoomInfo returns (an unknown room: a zero RoomInfo
	// with its name and our role member); Members what RoomMembers does.
	Infos   map[string]api.RoomInfo
	Members map[string][]api.RoomMember
}

func (f *Fake) CreateRoom(_ context.Context, spec api.RoomSpec) error {
	return f.record("CreateRoom", "%s %q public=%v inviteOnly=%v", spec.Room, spec.Topic, spec.Public, spec.InviteOnly)
}

// JoinRoom answers with the room, its topic in Infos and one member (us).
func (f *Fake) JoinRoom(_ context.Context, room, password string) (api.Room, error) {
	err := f.record("JoinRoom", "%s %q", room, password)
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Room{Room: room, Topic: f.Room.Infos[room].Topic, Members: 1}, err
}

func (f *Fake) LeaveRoom(_ context.Context, room string) error {
	return f.record("LeaveRoom", "%s", room)
}

// RoomSend appends the message to Room.Messages[room] as from Me and
// returns its ID: r1, r2, ...
func (f *Fake) RoomSend(_ context.Context, room, text string) (string, error) {
	if err := f.record("RoomSend", "%s %s", room, text); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("r%d", f.nextID)
	if f.Room.Messages == nil {
		f.Room.Messages = map[string][]api.RoomMessage{}
	}
	f.Room.Messages[room] = append(f.Room.Messages[room], api.RoomMessage{Room: room, ID: id, From: f.Me.Username, Text: text})
	return id, nil
}

func (f *Fake) RoomHistory(_ context.Context, room string, limit int) ([]api.RoomMessage, error) {
	err := f.record("RoomHistory", "%s %d", room, limit)
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.Room.Messages[room]
	if limit > 0 && len(ms) > limit {
		ms = ms[len(ms)-limit:]
	}
	return append([]api.RoomMessage(nil), ms...), err
}

// RoomMessages answers from Room.Messages too: the newest limit before
// the message with ID before (none when no message has that ID).
func (f *Fake) RoomMessages(_ context.Context, room string, limit int, before string) ([]api.RoomMessage, error) {
	err := f.record("RoomMessages", "%s %d %q", room, limit, before)
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.Room.Messages[room]
	if before != "" {
		ms = ms[:max(slices.IndexFunc(ms, func(m api.RoomMessage) bool { return m.ID == before }), 0)]
	}
	if limit > 0 && len(ms) > limit {
		ms = ms[len(ms)-limit:]
	}
	return append([]api.RoomMessage(nil), ms...), err
}

func (f *Fake) ListRooms(_ context.Context, query, region string, limit int) ([]api.RoomListing, error) {
	err := f.record("ListRooms", "%q %q %d", query, region, limit)
	f.mu.Lock()
	defer f.mu.Unlock()
	ls := f.Room.Listings
	if limit > 0 && len(ls) > limit {
		ls = ls[:limit]
	}
	return append([]api.RoomListing(nil), ls...), err
}

func (f *Fake) RoomInfo(_ context.Context, room string) (api.RoomInfo, error) {
	err := f.record("RoomInfo", "%s", room)
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.Room.Infos[room]
	if !ok {
		info = api.RoomInfo{Room: room, Role: api.RoomRoleMember}
	}
	return info, err
}

func (f *Fake) RoomMembers(_ context.Context, room string) ([]api.RoomMember, error) {
	err := f.record("RoomMembers", "%s", room)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.RoomMember(nil), f.Room.Members[room]...), err
}

func (f *Fake) RoomKick(_ context.Context, room, username string) error {
	return f.record("RoomKick", "%s %s", room, username)
}

func (f *Fake) RoomBan(_ context.Context, room, username string, d time.Duration) error {
	return f.record("RoomBan", "%s %s %v", room, username, d)
}

func (f *Fake) RoomUnban(_ context.Context, room, username string) error {
	return f.record("RoomUnban", "%s %s", room, username)
}

func (f *Fake) RoomOp(_ context.Context, room, username string, op bool) error {
	return f.record("RoomOp", "%s %s %v", room, username, op)
}

func (f *Fake) RoomVoice(_ context.Context, room, username string, voice bool) error {
	return f.record("RoomVoice", "%s %s %v", room, username, voice)
}

func (f *Fake) RoomInvite(_ context.Context, room, username string) error {
	return f.record("RoomInvite", "%s %s", room, username)
}

func (f *Fake) RoomSetTopic(_ context.Context, room, topic string) error {
	return f.record("RoomSetTopic", "%s %q", room, topic)
}

// RoomSetModes records the modes set, as "name=value" in the order of
// api.RoomModesChange's fields.
func (f *Fake) RoomSetModes(_ context.Context, room string, m api.RoomModesChange) error {
	set := ""
	add := func(name string, v any) { set += fmt.Sprintf(" %s=%v", name, v) }
	if m.Public != nil {
		add("public", *m.Public)
	}
	if m.InviteOnly != nil {
		add("inviteOnly", *m.InviteOnly)
	}
	if m.Moderated != nil {
		add("moderated", *m.Moderated)
	}
	if m.TopicLocked != nil {
		add("topicLocked", *m.TopicLocked)
	}
	if m.Password != nil {
		add("password", fmt.Sprintf("%q", *m.Password))
	}
	if m.Limit != nil {
		add("limit", *m.Limit)
	}
	if m.SlowSeconds != nil {
		add("slowSeconds", *m.SlowSeconds)
	}
	if m.MinAccountMinutes != nil {
		add("minAccountMinutes", *m.MinAccountMinutes)
	}
	return f.record("RoomSetModes", "%s%s", room, set)
}

func (f *Fake) DeleteRoom(_ context.Context, room string) error {
	return f.record("DeleteRoom", "%s", room)
}

func (f *Fake) RoomDeleteMessage(_ context.Context, room, id string) error {
	return f.record("RoomDeleteMessage", "%s %s", room, id)
}

func (f *Fake) RoomReport(_ context.Context, room, username, messageID, reason string) error {
	return f.record("RoomReport", "%s %s %s %q", room, username, messageID, reason)
}
