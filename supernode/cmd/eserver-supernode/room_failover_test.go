package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"eserver/node"
	"eserver/node/api"
	"eserver/node/nodetest"
	"eserver/node/wire"
	"eserver/supernode/client"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRoomFailover: a room lives at three of four supernode processes.
// Three members talk; the room's primary — the home every member attached
// to — is killed with SIGKILL. The members re-attach at the next home,
// which takes over after catching up: every message is shown to each of
// them once, in one order, and a newcomer joining after the kill finds
// every acknowledged message in the room's backlog; a ban made before the
// kill still keeps its user out.
func TestRoomFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts supernode processes")
	}
	_, server := nodetest.AuthServer(t)
	procs := startSupernodes(t, server, 4)
	byID := map[peer.ID]supernodeProc{}
	var ids []peer.ID
	for _, p := range procs {
		byID[p.id] = p
		ids = append(ids, p.id)
	}
	const name = "failover"
	homes := client.RoomHomes(name, ids, wire.Homes)

	cfg := node.Config{RetryMax: 300 * time.Millisecond, LookupInterval: time.Second}
	var members []*nodetest.Node
	for _, user := range []string{"alice", "bob", "carol"} {
		n := nodetest.Open(t, server, user, cfg)
		n.SignUp()
		n.SignIn()
		members = append(members, n)
	}
	alice := members[0]
	ctx := nodetest.Context(t)
	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Topic: "kill -9", Public: true}); err != nil {
		t.Fatal(err)
	}
	// A ban made before the kill holds after it.
	mallory := nodetest.Open(t, server, "mallory", cfg)
	mallory.SignUp()
	mallory.SignIn()

	for _, n := range members {
		if _, err := n.JoinRoom(ctx, name, ""); err != nil {
			t.Fatalf("%s joins: %v", n.Name, err)
		}
	}
	if err := alice.RoomBan(ctx, name, "mallory", 0); err != nil {
		t.Fatalf("alice bans mallory: %v", err)
	}
	var want []string
	say := func(n *nodetest.Node, text string) {
		t.Helper()
		// While a member re-attaches its post is refused (not joined at a
		// home yet): it tries again, as a user would.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := n.RoomSend(ctx, name, text)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s posts %q: %v", n.Name, text, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		want = append(want, n.Name+": "+text)
	}
	for i := range 6 {
		say(members[i%3], fmt.Sprintf("before %d", i))
	}
	got := make([][]string, len(members))
	for i, n := range members {
		got[i] = roomTexts(t, n, name, len(want), nil)
	}

	byID[homes[0]].kill()
	for i := range 6 {
		say(members[i%3], fmt.Sprintf("after %d", i))
	}
	for i, n := range members {
		got[i] = roomTexts(t, n, name, len(want)-len(got[i]), got[i])
		same(t, n.Name, got[i], want)
	}

	if _, err := mallory.JoinRoom(ctx, name, ""); !errors.Is(err, api.ErrBanned) {
		t.Fatalf("mallory joins after the kill: %v", err)
	}

	// A newcomer at the surviving homes finds everything, in order.
	dave := nodetest.Open(t, server, "dave", cfg)
	dave.SignUp()
	dave.SignIn()
	if _, err := dave.JoinRoom(ctx, name, ""); err != nil {
		t.Fatalf("dave joins after the kill: %v", err)
	}
	same(t, "dave", roomTexts(t, dave, name, len(want), nil), want)
}

// roomTexts reads count more room messages of room from n's events onto
// got, failing on a message shown twice.
func roomTexts(t *testing.T, n *nodetest.Node, room string, count int, got []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for range count {
		e := n.WaitFor("a room message in "+room, func(e api.Event) bool {
			return e.RoomMessage != nil && e.RoomMessage.Room == room
		})
		text := e.RoomMessage.From + ": " + e.RoomMessage.Text
		if seen[text] {
			t.Fatalf("%s was shown %q twice", n.Name, text)
		}
		seen[text] = true
		got = append(got, text)
	}
	return got
}

func same(t *testing.T, who string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s saw %q, want %q", who, got, want)
	}
}
