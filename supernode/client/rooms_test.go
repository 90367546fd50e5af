package client

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// TestParseJoinAnswer: a join's answer is taken only within its bounds,
// and a catch-up only when one was asked for and the home holds the
// position asked after.
func TestParseJoinAnswer(t *testing.T) {
	plain := &wire.RoomJoin{Room: "lounge"}
	after := func(p uint64) *wire.RoomJoin { return &wire.RoomJoin{Room: "lounge", CatchUp: true, Since: p} }
	for _, tc := range []struct {
		name string
		q    *wire.RoomJoin
		resp *wire.RoomResponse
		want error
	}{
		{"a first join", plain, &wire.RoomResponse{Position: 3, Members: 1, Newest: 40}, nil},
		{"caught up", after(30), &wire.RoomResponse{Newest: 40, CaughtUp: true}, nil},
		{"nothing missed", after(40), &wire.RoomResponse{Newest: 40, CaughtUp: true}, nil},
		{"too old: the backlog", after(3), &wire.RoomResponse{Newest: 4000}, nil},
		{"a refusal", after(3), &wire.RoomResponse{Error: wire.CodeBanned}, ErrBanned},
		{"a catch-up not asked for", plain, &wire.RoomResponse{Newest: 40, CaughtUp: true}, ErrProtocol},
		{"a catch-up past the newest", after(41), &wire.RoomResponse{Newest: 40, CaughtUp: true}, ErrProtocol},
		{"a position out of range", plain, &wire.RoomResponse{Newest: wire.MaxRoomPosition + 1}, ErrProtocol},
		{"too many usernames", plain, &wire.RoomResponse{Usernames: make([]string, wire.RoomMembersListed+1)}, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := parseJoinAnswer(tc.resp, tc.q)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (sub.Newest != tc.resp.Newest || sub.CaughtUp != tc.resp.CaughtUp || sub.Position != tc.resp.Position) {
				t.Fatalf("subscription %+v from %+v", sub, tc.resp)
			}
		})
	}
}

// TestParseEvent: a pushed frame is an event, the end of the stream, or a
// protocol error; a position goes only with a message, within range.
func TestParseEvent(t *testing.T) {
	msg := &wire.RoomEvent_Message{Message: &wire.SignedRoomMessage{Message: []byte("m")}}
	for _, tc := range []struct {
		name string
		resp *wire.RoomResponse
		want error
	}{
		{"a message at its position", &wire.RoomResponse{Event: &wire.RoomEvent{Kind: msg, Position: 7}}, nil},
		{"a message without one", &wire.RoomResponse{Event: &wire.RoomEvent{Kind: msg}}, nil},
		{"a line", &wire.RoomResponse{Event: &wire.RoomEvent{Kind: &wire.RoomEvent_Joined{Joined: "bob"}}}, nil},
		{"the end", &wire.RoomResponse{Ended: "lagging"}, ErrRoomEnded},
		{"nothing", &wire.RoomResponse{}, ErrProtocol},
		{"a line at a position", &wire.RoomResponse{Event: &wire.RoomEvent{Kind: &wire.RoomEvent_Left{Left: "bob"}, Position: 3}}, ErrProtocol},
		{"a position out of range", &wire.RoomResponse{Event: &wire.RoomEvent{Kind: msg, Position: wire.MaxRoomPosition + 1}}, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parseEvent(tc.resp)
			if !errors.Is(err, tc.want) || (err == nil) != (ev != nil) {
				t.Fatalf("got %v, %v; want %v", ev, err, tc.want)
			}
		})
	}
}

// FuzzJoinFrames feeds arbitrary frames as a join's answer (to a join
// asking after a position, or not) and as a pushed event: nothing panics,
// and what is taken is within its bounds.
func FuzzJoinFrames(f *testing.F) {
	for _, r := range []*wire.RoomResponse{
		{Position: 3, Members: 2, Usernames: []string{"alice", "bob"}, Newest: 40, CaughtUp: true},
		{Event: &wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: &wire.SignedRoomMessage{Message: []byte("m")}}, Position: 41}},
		{Ended: "lagging"},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint64(30), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, since uint64, catchUp bool) {
		var resp wire.RoomResponse
		if proto.Unmarshal(b, &resp) != nil {
			return
		}
		q := &wire.RoomJoin{Room: "lounge", CatchUp: catchUp, Since: since}
		if sub, err := parseJoinAnswer(&resp, q); err == nil {
			if sub.Newest > wire.MaxRoomPosition || len(sub.Usernames) > wire.RoomMembersListed ||
				(sub.CaughtUp && (!catchUp || since > sub.Newest)) {
				t.Fatalf("took %+v for a join after %d (%v)", sub, since, catchUp)
			}
		}
		if ev, err := parseEvent(&resp); err == nil && (ev == nil || ev.Position > wire.MaxRoomPosition) {
			t.Fatalf("took the event %v", ev)
		}
	})
}

// TestRepeated: a message the catch-up brought is dropped when it comes
// again live (the same signature at the same position), and nothing else
// is: another message at a caught-up position, a line, or anything once
// the catch-up is over.
func TestRepeated(t *testing.T) {
	at := func(pos uint64, sig string) *wire.RoomEvent {
		return &wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: &wire.SignedRoomMessage{Signature: []byte(sig)}}, Position: pos}
	}
	sub := &Subscription{CaughtUp: true, Newest: 5}
	for i, tc := range []struct {
		ev   *wire.RoomEvent
		want bool
	}{
		{at(3, "c"), false},
		{at(4, "d"), false},
		{at(5, "e"), false},
		{at(4, "d"), true}, // stored while the join registered: caught up and live
		{at(4, "x"), false},
		{&wire.RoomEvent{Kind: &wire.RoomEvent_Joined{Joined: "bob"}}, false},
		{at(0, "e"), false},
		{at(6, "f"), false}, // past the catch-up
		{at(5, "e"), false},
	} {
		if got := sub.repeated(tc.ev); got != tc.want {
			t.Fatalf("event %d: repeated %v, want %v", i, got, tc.want)
		}
	}
	if sub.CaughtUp || sub.caught != nil {
		t.Fatal("the catch-up's record outlived it")
	}
	if (&Subscription{Newest: 5}).repeated(at(4, "d")) {
		t.Fatal("a subscription without a catch-up dropped a message")
	}
}
