package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"eserver/node/nodetest"
)

// roomNotes takes the roomMessage notifications of room d has written so
// far, adding their IDs in order to ids.
func (d *daemon) roomNotes(room string, ids []string) []string {
	for {
		select {
		case m := <-d.notes:
			p, _ := m["params"].(map[string]any)
			if m["method"] == "roomMessage" && p["room"] == room {
				ids = append(ids, p["id"].(string))
			}
		default:
			return ids
		}
	}
}

// roomKept reads every message of room d's node kept (roomMessages), a
// page at a time from the newest, and returns their IDs oldest first.
func (d *daemon) roomKept(room string) []string {
	d.t.Helper()
	const page = 7 // small, so the test pages
	var ids []string
	before := ""
	for {
		params := map[string]any{"room": room, "limit": page}
		if before != "" {
			params["before"] = before
		}
		msgs, _ := d.call("roomMessages", params, "")["messages"].([]any)
		var got []string
		for _, m := range msgs {
			got = append(got, m.(map[string]any)["id"].(string))
		}
		ids = append(got, ids...)
		if len(msgs) < page {
			return ids
		}
		before = got[0] // pages are oldest first
	}
}

// post has a room message posted by one of posters in turn, trying again
// while the room's flood limit refuses it, and returns its ID once the
// home took it.
func post(posters []*daemon, room string, i int) string {
	d := posters[i%len(posters)]
	d.t.Helper()
	for range 200 {
		r, err := d.tryCall("roomSend", map[string]any{"room": room, "text": fmt.Sprintf("steady %d", i)})
		if err == nil {
			return r["id"].(string)
		}
		if !strings.Contains(err.Error(), "rate_limited") && !strings.Contains(err.Error(), "busy") {
			d.t.Fatalf("%s posting #%d: %v", d.user, i, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("%s could not post #%d", d.user, i)
	return ""
}

// once checks that got holds every ID of want exactly once, in want's
// order, and nothing else.
func once(t *testing.T, what string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	var wrong []string
	for i, id := range want {
		if count[id] != 1 {
			wrong = append(wrong, fmt.Sprintf("#%d %d times", i, count[id]))
		}
	}
	if len(wrong) > 0 || len(got) != len(want) {
		t.Fatalf("%s: %d IDs for %d messages sent; not once: %v", what, len(got), len(want), wrong)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: #%d is %s, want %s (out of order)", what, i, got[i], want[i])
		}
	}
}

// TestRoomMemberStops: while a room is busy (two members posting
// steadily), a third member's daemon is stopped gracefully (EOF on its
// stdin, as a front end ends it) right after a post was taken — the message is then on its way to it — and later
// killed with SIGKILL likewise, and restarted each time. Every message
// whose post returned reaches the member exactly once: through its
// roomMessage notifications across a graceful stop (its node forwards
// them until its loops have stopped, and rejoins after what it stored),
// and in what its node kept (roomMessages), in the room's order, across
// both. (Before, a graceful stop stopped the notifications first while the
// node went on taking messages and marking them shown, and nothing was
// kept to read again: the chaos soak's lost room messages.)
func TestRoomMemberStops(t *testing.T) {
	if testing.Short() {
		t.Skip("stops, kills and restarts daemons")
	}
	server := nodetest.Server(t)
	alice, carol, bob := startDaemon(t), startDaemon(t), startDaemon(t)
	alice.signIn(server, "alice", "a-pass")
	carol.signIn(server, "carol", "c-pass")
	bob.signIn(server, "bob", "b-pass")
	const name = "busy"
	alice.call("createRoom", map[string]any{"room": name}, "")
	for _, d := range []*daemon{alice, carol, bob} {
		d.call("joinRoom", map[string]any{"room": name}, "")
	}
	posters := []*daemon{alice, carol}
	var sent, shown []string
	n := 0
	steady := func(k int) {
		for range k {
			sent = append(sent, post(posters, name, n))
			n++
		}
	}
	// caughtUp waits until bob's daemon has shown the newest message sent.
	caughtUp := func() {
		t.Helper()
		last := sent[len(sent)-1]
		for range 300 {
			shown = bob.roomNotes(name, shown)
			if len(shown) > 0 && shown[len(shown)-1] == last {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("bob's daemon never showed the newest message; shown %d of %d", len(shown), len(sent))
	}

	steady(4)
	caughtUp()
	// A graceful stop, a message on its way: shown before the daemon
	// exits or after it is back, once.
	for range 2 {
		steady(2)
		bob.in.Close() // EOF: how a front end ends its daemon
		steady(2)
		bob.stop()
		shown = bob.roomNotes(name, shown)
		steady(1)
		bob = bob.restart(server, "b-pass")
		steady(2)
		caughtUp()
	}
	once(t, "bob's roomMessage notifications across graceful stops", shown, sent)

	// A SIGKILL, a message on its way: what was not shown before the kill
	// is kept, and its notification may be gone with the daemon.
	for range 2 {
		steady(2)
		bob.kill9()
		shown = bob.roomNotes(name, shown)
		steady(2)
		bob = bob.restart(server, "b-pass")
		steady(2)
		caughtUp()
	}
	kept := bob.roomKept(name)
	once(t, "what bob's node kept (roomMessages)", kept, sent)
	seen := map[string]int{}
	for _, id := range shown {
		if seen[id]++; seen[id] > 1 {
			t.Fatalf("message %s shown %d times", id, seen[id])
		}
	}
	t.Logf("%d messages posted; %d shown as notifications, %d kept", len(sent), len(shown), len(kept))
}
