package rooms_test

import (
	"errors"
	"slices"
	"testing"

	"eserver/internal/poll"
	"eserver/node"
	"eserver/node/api"
	"eserver/node/nodetest"
)

// roomEvent waits for n's next room line of kind about username in room.
func roomEvent(t *testing.T, n *nodetest.Node, room string, kind api.RoomEventKind, username string) *api.RoomEvent {
	t.Helper()
	return n.WaitFor(string(kind)+" "+username+" in "+room, func(e api.Event) bool {
		return e.RoomEvent != nil && e.RoomEvent.Room == room && e.RoomEvent.Kind == kind &&
			(username == "" || e.RoomEvent.Username == username)
	}).RoomEvent
}

func joinAll(t *testing.T, room string, ns ...*nodetest.Node) {
	t.Helper()
	for _, n := range ns {
		if _, err := n.JoinRoom(nodetest.Context(t), room, ""); err != nil {
			t.Fatalf("%s joins %s: %v", n.Name, room, err)
		}
	}
}

// TestModeration: the owner and an operator moderate a room of members who
// are contacts of no one, each change a line everyone sees and each held by
// the home, not by the members' clients: a non-operator's change is refused
// by its own node (and by the home: supernode/rooms' TestRoomBan);
// a muted member's message reaches no one; slow mode binds; a kicked member
// may rejoin and a banned one may not — from his other device either, nor
// while the owner is offline — until unbanned; reports reach the owner
// alone; a message deleted for everyone leaves the backlog; a deleted room
// leaves the directory and every member.
func TestModeration(t *testing.T) {
	server := nodetest.Server(t)
	alice := nodetest.New(t, server, "alice") // the owner
	bob := nodetest.New(t, server, "bob")
	carol := nodetest.New(t, server, "carol")
	ctx := nodetest.Context(t)
	const name = "moderated"
	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Topic: "be nice", Public: true}); err != nil {
		t.Fatal(err)
	}
	joinAll(t, name, alice, bob, carol)

	// The owner makes carol an operator; everyone sees the line.
	if err := alice.RoomOp(ctx, name, "carol", true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, bob, carol} {
		if e := roomEvent(t, n, name, api.RoomOp, "carol"); e.By != "alice" {
			t.Fatalf("%s saw carol opped by %q", n.Name, e.By)
		}
	}
	// Opping her again changes nothing and succeeds without an op.
	if err := alice.RoomOp(ctx, name, "carol", true); err != nil {
		t.Fatalf("opping an operator again: %v", err)
	}

	// Bob has no rights: his node refuses (the home refuses such an op
	// signed and handed over directly: supernode/rooms' TestRoomBan).
	if err := bob.RoomBan(ctx, name, "carol", 0); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("bob bans carol: %v, want %v", err, api.ErrNotAllowed)
	}
	if err := bob.RoomSetModes(ctx, name, api.RoomModesChange{Moderated: ptr(true)}); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("bob moderates the room: %v, want %v", err, api.ErrNotAllowed)
	}

	// Moderated: only the owner, operators and voiced members post. A
	// muted member's message is refused at the home and no one sees it.
	if err := carol.RoomSetModes(ctx, name, api.RoomModesChange{Moderated: ptr(true), TopicLocked: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	roomEvent(t, bob, name, api.RoomModes, "")
	if _, err := bob.RoomSend(ctx, name, "can I speak?"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("bob posts in a moderated room: %v, want %v", err, api.ErrNotAllowed)
	}
	if err := bob.RoomSetTopic(ctx, name, "bob's topic"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("bob sets a locked topic: %v", err)
	}
	if err := carol.RoomVoice(ctx, name, "bob", true); err != nil {
		t.Fatal(err)
	}
	roomEvent(t, bob, name, api.RoomVoice, "bob")
	send(t, bob, name, "thanks for the voice")
	if err := carol.RoomVoice(ctx, name, "bob", false); err != nil { // muted again
		t.Fatal(err)
	}
	roomEvent(t, bob, name, api.RoomDevoice, "bob")
	if _, err := bob.RoomSend(ctx, name, "muted words"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("a muted bob posts: %v, want %v", err, api.ErrNotAllowed)
	}
	send(t, alice, name, "after the mute")
	for _, n := range []*nodetest.Node{alice, carol} {
		want(t, n.Name, roomMessages(t, n, name, 2), "bob: thanks for the voice", "alice: after the mute")
	}

	info, err := bob.RoomInfo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Owner != "alice" || info.Role != api.RoomRoleMember || !info.Modes.Moderated || !info.Modes.TopicLocked ||
		!slices.Equal(info.Operators, []string{"carol"}) || len(info.Voiced) != 0 || info.Topic != "be nice" {
		t.Fatalf("bob's view of the room: %+v", info)
	}
	members, err := alice.RoomMembers(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := []api.RoomMember{{Username: "alice", Role: api.RoomRoleOwner, Status: api.StatusOnline},
		{Username: "carol", Role: api.RoomRoleOp, Status: api.StatusOnline},
		{Username: "bob", Role: api.RoomRoleMember, Status: api.StatusOnline, Nick: "bob"}} // the nick his message signed
	if !slices.Equal(members, wantMembers) {
		t.Fatalf("the members: %+v, want %+v", members, wantMembers)
	}

	// Slow mode: one message per member per minute, counted from bob's
	// last message, a moment ago; the owner and operators are not held to
	// it.
	if err := alice.RoomSetModes(ctx, name, api.RoomModesChange{Moderated: ptr(false), SlowSeconds: ptr(60)}); err != nil {
		t.Fatal(err)
	}
	roomEvent(t, bob, name, api.RoomModes, "")
	if _, err := bob.RoomSend(ctx, name, "too soon"); !errors.Is(err, api.ErrRateLimited) {
		t.Fatalf("bob posts again within slow mode's minute: %v, want %v", err, api.ErrRateLimited)
	}
	send(t, carol, name, "operators are not slowed")
	want(t, "alice", roomMessages(t, alice, name, 1), "carol: operators are not slowed")

	// A report reaches the owner and the operator, and no one else.
	if err := bob.RoomReport(ctx, name, "carol", "", "too strict"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, carol} {
		if e := roomEvent(t, n, name, api.RoomReported, "carol"); e.By != "bob" || e.Reason != "too strict" {
			t.Fatalf("%s's report: %+v", n.Name, e)
		}
	}

	// The operator deletes bob's message for everyone: a line, and the
	// backlog no longer holds it.
	hist, err := carol.RoomHistory(ctx, name, 0)
	if err != nil || len(hist) == 0 {
		t.Fatalf("the history: %v, %v", hist, err)
	}
	i := slices.IndexFunc(hist, func(m api.RoomMessage) bool { return m.From == "bob" })
	if i < 0 {
		t.Fatalf("no message of bob's in %+v", hist)
	}
	victim := hist[i]
	if err := carol.RoomDeleteMessage(ctx, name, victim.ID); err != nil {
		t.Fatal(err)
	}
	if e := roomEvent(t, alice, name, api.RoomMessageDeleted, "bob"); e.ID != victim.ID || e.By != "carol" {
		t.Fatalf("the deletion line: %+v", e)
	}
	hist, _ = alice.RoomHistory(ctx, name, 0)
	if slices.ContainsFunc(hist, func(m api.RoomMessage) bool { return m.ID == victim.ID }) {
		t.Fatalf("the deleted message %s is still in the history", victim.ID)
	}

	// Kicked: out now (his node forgets the room), may rejoin.
	if err := carol.RoomKick(ctx, name, "bob"); err != nil {
		t.Fatal(err)
	}
	roomEvent(t, alice, name, api.RoomKick, "bob")
	waitForgotten(t, bob, name)
	joinAll(t, name, bob)

	// Banned: out, and kept out from his other device and while the owner
	// is offline.
	if err := alice.RoomBan(ctx, name, "bob", 0); err != nil {
		t.Fatal(err)
	}
	if e := roomEvent(t, carol, name, api.RoomBan, "bob"); e.By != "alice" || !e.Until.IsZero() {
		t.Fatalf("the ban line: %+v", e)
	}
	waitForgotten(t, bob, name)
	if _, err := bob.JoinRoom(ctx, name, ""); !errors.Is(err, api.ErrBanned) {
		t.Fatalf("banned bob rejoins: %v, want %v", err, api.ErrBanned)
	}
	alice.Stop()
	phone := nodetest.Open(t, server, "bob", node.Config{})
	phone.SignIn()
	if _, err := phone.JoinRoom(ctx, name, ""); !errors.Is(err, api.ErrBanned) {
		t.Fatalf("banned bob joins from his phone with the owner offline: %v, want %v", err, api.ErrBanned)
	}
	alice.Start()
	alice.SignIn()
	// Rejoined at sign-in; bans listed; the operator lifts the ban.
	waitJoined(t, alice, name)
	info, err = alice.RoomInfo(ctx, name)
	if err != nil || len(info.Bans) != 1 || info.Bans[0].Username != "bob" || info.Role != api.RoomRoleOwner {
		t.Fatalf("alice's view after restarting: %+v, %v", info, err)
	}
	if err := carol.RoomUnban(ctx, name, "bob"); err != nil {
		t.Fatal(err)
	}
	joinAll(t, name, phone)

	// An operator cannot touch the owner; the owner deletes the room.
	if err := carol.RoomKick(ctx, name, "alice"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("an operator kicks the owner: %v, want %v", err, api.ErrNotAllowed)
	}
	if err := carol.DeleteRoom(ctx, name); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("an operator deletes the room: %v, want %v", err, api.ErrNotAllowed)
	}
	if err := alice.DeleteRoom(ctx, name); err != nil {
		t.Fatal(err)
	}
	roomEvent(t, carol, name, api.RoomDeleted, "")
	waitForgotten(t, carol, name)
	if ls, err := carol.ListRooms(ctx, name, "", 0); err != nil || len(ls) != 0 {
		t.Fatalf("the deleted room in the directory: %+v, %v", ls, err)
	}
}

// waitForgotten waits until n no longer has the room: RoomInfo refuses.
func waitForgotten(t *testing.T, n *nodetest.Node, name string) {
	t.Helper()
	poll.Until(t, n.Name+" forgets "+name, func() bool {
		_, err := n.RoomInfo(nodetest.Context(t), name)
		return errors.Is(err, api.ErrNotAllowed)
	})
}

// waitJoined waits until n has joined the room (a rejoin at sign-in).
func waitJoined(t *testing.T, n *nodetest.Node, name string) {
	t.Helper()
	poll.Until(t, n.Name+" rejoins "+name, func() bool {
		info, err := n.RoomInfo(nodetest.Context(t), name)
		return err == nil && info.Owner != ""
	})
}

func ptr[T any](v T) *T { return &v }
