package rooms_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/nodetest"
	"eserver/node/wire"
)

// roomMessages reads the next n roomMessage events of room from n's
// events, in the order shown, failing on a message shown twice.
func roomMessages(t *testing.T, n *nodetest.Node, room string, count int) []string {
	t.Helper()
	var got []string
	seen := map[string]bool{}
	for len(got) < count {
		e := n.WaitFor(fmt.Sprintf("room message %d of %d in %s", len(got)+1, count, room), func(e api.Event) bool {
			return e.RoomMessage != nil && e.RoomMessage.Room == room
		})
		m := e.RoomMessage
		if seen[m.ID] {
			t.Fatalf("%s: message %s (%q) shown twice", n.Name, m.ID, m.Text)
		}
		seen[m.ID] = true
		got = append(got, m.From+": "+m.Text)
	}
	return got
}

func send(t *testing.T, n *nodetest.Node, room, text string) string {
	t.Helper()
	id, err := n.RoomSend(nodetest.Context(t), room, text)
	if err != nil {
		t.Fatalf("%s posts %q in %s: %v", n.Name, text, room, err)
	}
	return id
}

func want(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%s saw %q, want %q", who, got, want)
	}
}

// TestPublicRoom: alice creates a public room; bob and carol, contacts of
// no one, join it and the three talk: each sees every message once, in the
// one order the home gave them. Bob's node restarts while alice and carol
// go on: at sign-in it rejoins the room by itself and shows what he missed
// from the backlog — and nothing he had seen — then follows the room live.
func TestPublicRoom(t *testing.T) {
	server := nodetest.Server(t)
	alice := nodetest.New(t, server, "alice")
	bob := nodetest.New(t, server, "bob")
	carol := nodetest.New(t, server, "carol")
	ctx := nodetest.Context(t)
	const name = "golang"

	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Topic: "all things Go", Public: true}); err != nil {
		t.Fatalf("alice creates %s: %v", name, err)
	}
	// Listed in the directory at once; found by a word of its topic.
	for _, tc := range []struct {
		query string
		want  int
	}{{"things", 1}, {"GOLANG", 1}, {"go things", 1}, {"python", 0}} {
		ls, err := carol.ListRooms(ctx, tc.query, "", 0)
		if err != nil || len(ls) != tc.want || (tc.want == 1 && (ls[0].Room != name || ls[0].Topic != "all things Go" || !ls[0].Public)) {
			t.Fatalf("carol searches %q: %+v, %v; want %d", tc.query, ls, err, tc.want)
		}
	}
	members := []*nodetest.Node{alice, bob, carol}
	for _, n := range members {
		r, err := n.JoinRoom(ctx, name, "")
		if err != nil {
			t.Fatalf("%s joins %s: %v", n.Name, name, err)
		}
		if r.Room != name || r.Topic != "all things Go" || r.Members < 1 {
			t.Fatalf("%s joined %+v", n.Name, r)
		}
	}
	// Joining again answers as the first join did and joins nothing more.
	if r, err := bob.JoinRoom(ctx, name, ""); err != nil || r.Topic != "all things Go" || r.Members != 2 {
		t.Fatalf("bob joins again: %+v, %v", r, err)
	}

	send(t, alice, name, "hello, room")
	send(t, bob, name, "hi alice")
	send(t, carol, name, "hi both")
	talk := []string{"alice: hello, room", "bob: hi alice", "carol: hi both"}
	for _, n := range members {
		want(t, n.Name, roomMessages(t, n, name, 3), talk...)
	}

	bob.Stop()
	send(t, alice, name, "where did bob go?")
	send(t, carol, name, "he'll be back")
	bob.Start()
	bob.SignIn()
	// Rejoined at sign-in: the backlog shows what he missed, once, and
	// none of what he saw before.
	want(t, "bob after restarting", roomMessages(t, bob, name, 2), "alice: where did bob go?", "carol: he'll be back")
	// The stream opened before the backlog was read: live again, the next
	// message follows them, and nothing in between.
	send(t, alice, name, "welcome back")
	want(t, "bob live", roomMessages(t, bob, name, 1), "alice: welcome back")
	for _, n := range []*nodetest.Node{alice, carol} {
		want(t, n.Name, roomMessages(t, n, name, 3), "alice: where did bob go?", "carol: he'll be back", "alice: welcome back")
	}

	// The home's backlog holds the whole talk, in order.
	hist, err := carol.RoomHistory(ctx, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range hist {
		got = append(got, m.From+": "+m.Text)
	}
	want(t, "carol's history", got, append(talk, "alice: where did bob go?", "carol: he'll be back", "alice: welcome back")...)
	if hist, err := carol.RoomHistory(ctx, name, 2); err != nil || len(hist) != 2 || hist[1].Text != "welcome back" {
		t.Fatalf("the last 2 of the history: %+v, %v", hist, err)
	}

	// Carol leaves: she is no longer in the room, and stays out after a
	// restart.
	if err := carol.LeaveRoom(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.RoomSend(ctx, name, "still here?"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("carol posts after leaving: %v, want %v", err, api.ErrNotAllowed)
	}
}

// TestLimits: the API's bound on a room's history is what a home keeps.
func TestLimits(t *testing.T) {
	if api.MaxRoomHistory != wire.RoomBacklog {
		t.Fatalf("api.MaxRoomHistory = %d, wire.RoomBacklog = %d", api.MaxRoomHistory, wire.RoomBacklog)
	}
}

// TestRoomRefusals: what the node refuses before asking the home, and what
// the home refuses, each with the API's sentinel.
func TestRoomRefusals(t *testing.T) {
	server := nodetest.Server(t)
	alice := nodetest.New(t, server, "alice")
	ctx := nodetest.Context(t)
	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: "taken", Public: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"a name too short", func() error { return alice.CreateRoom(ctx, api.RoomSpec{Room: "ab", Public: true}) }, api.ErrBadRequest},
		{"an upper-case name", func() error { _, err := alice.JoinRoom(ctx, "Golang", ""); return err }, api.ErrBadRequest},
		{"a regional room's name", func() error { return alice.CreateRoom(ctx, api.RoomSpec{Room: "region-es", Public: true}) }, api.ErrBadRequest},
		{"a topic too long", func() error {
			return alice.CreateRoom(ctx, api.RoomSpec{Room: "longtopic", Topic: strings.Repeat("x", 513), Public: true})
		}, api.ErrBadRequest},
		{"a room that exists", func() error { return alice.CreateRoom(ctx, api.RoomSpec{Room: "taken", Topic: "again", Public: true}) }, api.ErrRoomExists},
		{"a room that does not exist", func() error { _, err := alice.JoinRoom(ctx, "nowhere", ""); return err }, api.ErrBadRequest},
		{"posting without joining", func() error { _, err := alice.RoomSend(ctx, "taken", "hi"); return err }, api.ErrNotAllowed},
		{"an empty message", func() error { _, err := alice.RoomSend(ctx, "taken", ""); return err }, api.ErrBadRequest},
		{"a history too long", func() error { _, err := alice.RoomHistory(ctx, "taken", 101); return err }, api.ErrBadRequest},
		{"a directory page too long", func() error { _, err := alice.ListRooms(ctx, "", "", 101); return err }, api.ErrBadRequest},
		{"a region that is none", func() error { _, err := alice.ListRooms(ctx, "", "Spain", 0); return err }, api.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRejoinAfterDrop: the home's connection to bob drops under his joined
// stream; his node rejoins by itself (alice sees him leave and come back)
// and shows what was posted meanwhile from the backlog, each message once,
// in order, then follows the room live.
func TestRejoinAfterDrop(t *testing.T) {
	b := nodetest.Bundle(t)
	alice := nodetest.New(t, b.Addr(), "alice")
	bob := nodetest.New(t, b.Addr(), "bob")
	ctx := nodetest.Context(t)
	const name = "dropped"
	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Public: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, bob} {
		if _, err := n.JoinRoom(ctx, name, ""); err != nil {
			t.Fatalf("%s joins: %v", n.Name, err)
		}
	}
	send(t, alice, name, "before")
	want(t, "bob", roomMessages(t, bob, name, 1), "alice: before")
	acct, err := bob.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bobPeer, err := peer.Decode(acct.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		_ = b.Host.Network().ClosePeer(bobPeer)
		alice.WaitFor("bob leaving", func(e api.Event) bool {
			return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomLeave && e.RoomEvent.Username == bob.Name
		})
		a, c := fmt.Sprintf("while away %d", round), fmt.Sprintf("still away %d", round)
		send(t, alice, name, a)
		send(t, alice, name, c)
		alice.WaitFor("bob back", func(e api.Event) bool {
			return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomJoin && e.RoomEvent.Username == bob.Name
		})
		want(t, "bob after the drop", roomMessages(t, bob, name, 2), "alice: "+a, "alice: "+c)
	}
	// Alice is at the flood limit (5 in 10 s): bob speaks.
	send(t, bob, name, "back for good")
	want(t, "bob live", roomMessages(t, bob, name, 1), "bob: back for good")
	hist, err := alice.RoomHistory(ctx, name, 0)
	if err != nil || len(hist) != 6 {
		t.Fatalf("the room's history: %+v, %v; want the 6 messages once", hist, err)
	}
}
