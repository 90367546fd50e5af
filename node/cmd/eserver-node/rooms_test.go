package main

import (
	"testing"

	"eserver/node/nodetest"
)

// TestDaemonsRoom: two daemons whose users are not contacts meet in a
// public room through the JSON-RPC methods: createRoom, listRooms, joinRoom (topic and
// the backlog as roomMessage notifications), roomSend, roomHistory,
// leaveRoom, and the room error codes.
func TestDaemonsRoom(t *testing.T) {
	server := nodetest.Server(t)
	alice, bob := startDaemon(t), startDaemon(t)
	alice.signIn(server, "alice", "a-pass")
	bob.signIn(server, "bob", "b-pass")

	if r := alice.call("createRoom", map[string]any{"room": "golang", "topic": "all things Go"}, ""); r["room"] != "golang" {
		t.Fatalf("createRoom: %v", r)
	}
	alice.call("createRoom", map[string]any{"room": "golang"}, "room_exists") // taken
	for _, tc := range []struct {
		method string
		params map[string]any
		code   string
	}{
		{"createRoom", map[string]any{"room": "No Spaces"}, "bad_request"},
		{"createRoom", map[string]any{"topic": "no name"}, "bad_request"},
		{"joinRoom", map[string]any{"room": "nowhere"}, "bad_request"},
		{"roomSend", map[string]any{"room": "golang", "text": "not joined yet"}, "not_allowed"},
		{"roomHistory", map[string]any{"room": "golang", "limit": 101}, "bad_request"},
		{"roomSend", map[string]any{"room": "golang", "text": "x", "extra": 1}, "bad_request"},
	} {
		bob.call(tc.method, tc.params, tc.code)
	}

	ls, _ := bob.call("listRooms", map[string]any{"query": "go"}, "")["rooms"].([]any)
	if len(ls) != 1 || ls[0].(map[string]any)["room"] != "golang" || ls[0].(map[string]any)["public"] != true {
		t.Fatalf("listRooms: %v", ls)
	}
	if ls, _ := bob.call("listRooms", map[string]any{"query": "python"}, "")["rooms"].([]any); ls == nil || len(ls) != 0 {
		t.Fatalf("listRooms finding nothing: %v, want []", ls)
	}
	r := alice.call("joinRoom", map[string]any{"room": "golang"}, "")
	if r["room"] != "golang" || r["topic"] != "all things Go" || r["members"] != float64(1) {
		t.Fatalf("alice joins: %v", r)
	}
	sent := alice.call("roomSend", map[string]any{"room": "golang", "text": "anyone here?"}, "")
	alice.note("roomMessage", func(p map[string]any) bool { return p["id"] == sent["id"] })

	// Bob joins: the backlog shows alice's message, then the room is live.
	if r := bob.call("joinRoom", map[string]any{"room": "golang"}, ""); r["members"] != float64(2) {
		t.Fatalf("bob joins: %v", r)
	}
	m := bob.note("roomMessage", nil)
	if m["room"] != "golang" || m["from"] != "alice" || m["text"] != "anyone here?" || m["id"] != sent["id"] || m["time"] == "" {
		t.Fatalf("bob's first roomMessage: %v", m)
	}
	alice.note("roomEvent", func(p map[string]any) bool { return p["kind"] == "join" && p["username"] == "bob" })
	answer := bob.call("roomSend", map[string]any{"room": "golang", "text": "me!"}, "")
	alice.note("roomMessage", func(p map[string]any) bool {
		return p["id"] == answer["id"] && p["from"] == "bob" && p["text"] == "me!"
	})

	h := alice.call("roomHistory", map[string]any{"room": "golang", "limit": 1}, "")
	msgs, _ := h["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "me!" || msgs[0].(map[string]any)["from"] != "bob" {
		t.Fatalf("roomHistory: %v", h)
	}

	// Moderation over the wire: who is there, a non-operator refused, a
	// mute and a timed ban as lines, the room's state as alice verified it.
	ms, _ := alice.call("roomMembers", map[string]any{"room": "golang"}, "")["members"].([]any)
	if len(ms) != 2 || ms[0].(map[string]any)["username"] != "alice" || ms[0].(map[string]any)["role"] != "owner" ||
		ms[1].(map[string]any)["username"] != "bob" || ms[1].(map[string]any)["status"] != "online" {
		t.Fatalf("roomMembers: %v", ms)
	}
	bob.call("roomKick", map[string]any{"room": "golang", "username": "alice"}, "not_allowed")
	bob.call("roomBan", map[string]any{"room": "golang", "username": "alice", "minutes": -1}, "bad_request")
	alice.call("roomSetModes", map[string]any{"room": "golang", "moderated": true, "slowSeconds": 5}, "")
	bob.note("roomEvent", func(p map[string]any) bool { return p["kind"] == "modes" && p["by"] == "alice" })
	bob.call("roomSend", map[string]any{"room": "golang", "text": "muted"}, "not_allowed")
	alice.call("roomBan", map[string]any{"room": "golang", "username": "bob", "minutes": 60}, "")
	ban := alice.note("roomEvent", func(p map[string]any) bool { return p["kind"] == "ban" && p["username"] == "bob" })
	if ban["by"] != "alice" || ban["until"] == nil {
		t.Fatalf("the ban line: %v", ban)
	}
	info := alice.call("roomInfo", map[string]any{"room": "golang"}, "")
	modes, _ := info["modes"].(map[string]any)
	bans, _ := info["bans"].([]any)
	if info["role"] != "owner" || modes["moderated"] != true || modes["slowSeconds"] != float64(5) || len(bans) != 1 {
		t.Fatalf("roomInfo: %v", info)
	}
	// Bob's node forgets the room on the ban line; until that line reaches
	// it, a join would answer "joined already".
	bob.note("roomEvent", func(p map[string]any) bool { return p["kind"] == "ban" && p["username"] == "bob" })
	bob.call("joinRoom", map[string]any{"room": "golang"}, "banned")
	bob.call("roomSend", map[string]any{"room": "golang", "text": "gone"}, "not_allowed")
}
