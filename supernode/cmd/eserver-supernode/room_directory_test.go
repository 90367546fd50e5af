package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/poll"
	"eserver/node"
	"eserver/node/api"
	"eserver/node/nodetest"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestRoomDirectoryAcrossSupernodes: with four supernode processes every
// room lives at three of them, so no one supernode's directory holds every
// room. The rooms are chosen so that each supernode misses one; a search
// still finds them all, each once, with its members online summed over
// its homes, most online first.
func TestRoomDirectoryAcrossSupernodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts supernode processes")
	}
	_, server := nodetest.AuthServer(t)
	procs := startSupernodes(t, server, 4)
	var ids []peer.ID
	for _, p := range procs {
		ids = append(ids, p.id)
	}
	// One room missing from each supernode's homes.
	var rooms []string
	missing := map[peer.ID]bool{}
	for i := 0; len(rooms) < len(ids) && i < 1000; i++ {
		name := fmt.Sprintf("dir-%d", i)
		homes := client.RoomHomes(name, ids, wire.Homes)
		for _, id := range ids {
			if !slices.Contains(homes, id) && !missing[id] {
				missing[id] = true
				rooms = append(rooms, name)
			}
		}
	}
	if len(rooms) != len(ids) {
		t.Fatalf("no rooms found missing from every supernode: %v", rooms)
	}

	cfg := node.Config{RetryMax: 300 * time.Millisecond, LookupInterval: time.Second}
	users := map[string]*nodetest.Node{}
	for _, u := range []string{"alice", "bob", "carol"} {
		n := nodetest.Open(t, server, u, cfg)
		n.SignUp()
		n.SignIn()
		users[u] = n
	}
	ctx := nodetest.Context(t)
	for i, name := range rooms {
		owner := users[[]string{"alice", "bob"}[i%2]] // within each account's creation limit
		if err := owner.CreateRoom(ctx, api.RoomSpec{Room: name, Topic: "topic of " + name, Public: true}); err != nil {
			t.Fatalf("%s creates %s: %v", owner.Name, name, err)
		}
	}
	// Two members in the last room, one in the first.
	for _, j := range []struct{ user, room string }{{"alice", rooms[3]}, {"bob", rooms[3]}, {"carol", rooms[0]}} {
		if _, err := users[j.user].JoinRoom(ctx, j.room, ""); err != nil {
			t.Fatalf("%s joins %s: %v", j.user, j.room, err)
		}
	}
	var got []api.RoomListing
	poll.Until(t, "every room in carol's search with its members online", func() bool {
		ls, err := users["carol"].ListRooms(ctx, "topic", "", 0)
		got = ls
		return err == nil && len(ls) == len(rooms) && ls[0].Room == rooms[3] && ls[0].Online == 2 && ls[1].Room == rooms[0] && ls[1].Online == 1
	})
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l.Room] || l.Topic != "topic of "+l.Room {
			t.Fatalf("the directory: %+v", got)
		}
		seen[l.Room] = true
	}
}
