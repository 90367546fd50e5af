package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"eserver/internal/watch"
	"eserver/internal/xvfb"
	"eserver/node/api"
)

// roomName is the chat room the screenshots show.
const roomName = "beach-volleyball"

// stageRooms makes the chat rooms before the app starts: Bob creates two
// public rooms and owns the first, where Carol is an operator and Marta —
// no contact of Alice's, with a nick and a picture — has a voice; they talk before Alice comes, so the
// room shows its backlog when she joins.
func stageRooms(ctx context.Context, nodes map[string]*watch.Node, server, tmp string) error {
	marta, err := watch.Open(filepath.Join(tmp, "marta"))
	if err != nil {
		return err
	}
	nodes["marta"] = marta
	if err := marta.Register(ctx, server, "marta", "pw-marta"); err != nil {
		return fmt.Errorf("signing up marta: %w", err)
	}
	if _, err := marta.Login(ctx, api.LoginRequest{Server: server, Username: "marta", Password: "pw-marta", Status: api.StatusOnline}); err != nil {
		return fmt.Errorf("signing in marta: %w", err)
	}
	// Her nick and picture reach Alice with her messages: Alice's node asks
	// hers for the picture (docs/ROOMS.md, "Strangers' nicks and pictures").
	nick := "Marta García"
	if err := marta.SetPresence(ctx, api.PresenceUpdate{Nick: &nick}); err != nil {
		return err
	}
	if err := setPicture(ctx, marta, tmp, "football"); err != nil {
		return err
	}
	bob, carol := nodes["bob"], nodes["carol"]
	for _, spec := range []api.RoomSpec{
		{Room: roomName, Topic: "Saturdays at 10 by the pier. Bring water!", Public: true},
		{Room: "chess", Topic: "Blitz every evening, all levels welcome", Public: true},
	} {
		if err := bob.CreateRoom(ctx, spec); err != nil {
			return fmt.Errorf("bob creating %s: %w", spec.Room, err)
		}
	}
	for _, n := range []*watch.Node{bob, carol, marta} {
		if _, err := n.JoinRoom(ctx, roomName, ""); err != nil {
			return fmt.Errorf("joining %s: %w", roomName, err)
		}
	}
	if _, err := bob.JoinRoom(ctx, "chess", ""); err != nil {
		return err
	}
	if err := bob.RoomOp(ctx, roomName, "carol", true); err != nil {
		return fmt.Errorf("bob making carol an operator: %w", err)
	}
	if err := bob.RoomVoice(ctx, roomName, "marta", true); err != nil {
		return fmt.Errorf("bob giving marta a voice: %w", err)
	}
	for _, m := range []struct {
		n    *watch.Node
		text string
	}{
		{bob, "Who is in for Saturday? :)"},
		{marta, "Me! I'll bring the net"},
		{carol, "Count me in, but I'll be a bit late"},
	} {
		if _, err := m.n.RoomSend(ctx, roomName, m.text); err != nil {
			return fmt.Errorf("sending to %s: %w", roomName, err)
		}
	}
	return nil
}

// shootRooms photographs the room directory (Contacts → Chat rooms... in
// the contact list's menu bar) and, after Alice joins the first room
// listed, the room: its backlog, Bob's welcome, Bob making her an
// operator, her answer, and the members at the side.
func shootRooms(ctx context.Context, x *xvfb.Display, list string, bob *watch.Node, dirPath, roomPath string) error {
	x.Run("windowraise", list)
	x.Run("windowfocus", "--sync", list)
	x.Run("mousemove", "--sync", "--window", list, "86", "14")
	x.Run("click", "1")
	time.Sleep(500 * time.Millisecond)
	x.Run("mousemove", "--sync", "--window", list, "120", "92")
	x.Run("click", "1")
	dir, err := x.Window(ctx, "^Chat rooms")
	if err != nil {
		return fmt.Errorf("the room directory did not open: %w", err)
	}
	x.Run("windowfocus", "--sync", dir)
	time.Sleep(2 * time.Second) // the search
	// The first room listed (the most members) is chosen, then joined.
	x.Run("mousemove", "--sync", "--window", dir, "100", "66")
	x.Run("click", "1")
	time.Sleep(500 * time.Millisecond)
	if err := capture(x, dir, dirPath); err != nil {
		return err
	}
	w, h := windowSize(x, dir)
	x.Run("mousemove", "--sync", "--window", dir, fmt.Sprint(w-40), fmt.Sprint(h-26))
	x.Run("click", "1")
	room, err := x.Window(ctx, " - Chat room")
	if err != nil {
		return fmt.Errorf("the room did not open: %w", err)
	}
	if _, err := bob.Wait(ctx, func(e api.Event) bool {
		return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomJoin && e.RoomEvent.Username == "alice"
	}); err != nil {
		return fmt.Errorf("bob waiting for alice to join: %w", err)
	}
	if _, err := bob.RoomSend(ctx, roomName, "Welcome Alice! (y)"); err != nil {
		return err
	}
	// Bob makes Alice an operator: the line everyone sees, her role in the
	// member list, and Room settings in her window.
	if err := bob.RoomOp(ctx, roomName, "alice", true); err != nil {
		return fmt.Errorf("bob making alice an operator: %w", err)
	}
	x.Run("windowraise", room)
	x.Run("windowfocus", "--sync", room)
	time.Sleep(time.Second)
	x.Run("type", "--delay", "40", "Hi all! See you at 10 :D")
	x.Run("key", "Return")
	if _, err := bob.Wait(ctx, func(e api.Event) bool {
		return e.RoomMessage != nil && e.RoomMessage.From == "alice"
	}); err != nil {
		return fmt.Errorf("bob waiting for alice's message: %w", err)
	}
	time.Sleep(2 * time.Second)
	return capture(x, room, roomPath)
}
