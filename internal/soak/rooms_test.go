package soak

import (
	"math/rand/v2"
	"slices"
	"testing"

	"eserver/node/wire"
)

// TestRoomPlan: max(2, nodes/6) rooms of 4 to 6 members (all the nodes
// when fewer), distinct members, a different creator for each room, on
// two LANs at least when there are two and a node to spare, valid and
// distinct names; the same seed gives the same plan.
func TestRoomPlan(t *testing.T) {
	for _, tc := range []struct{ nodes, lans, rooms int }{
		{2, 1, 2}, {3, 3, 2}, {4, 3, 2}, {12, 3, 2}, {13, 3, 2}, {18, 3, 3}, {30, 1, 5}, {60, 5, 10},
	} {
		for seed := range uint64(20) {
			plan := RoomPlan(tc.nodes, tc.lans, seed, rand.New(rand.NewPCG(seed, 7)))
			if again := RoomPlan(tc.nodes, tc.lans, seed, rand.New(rand.NewPCG(seed, 7))); !slices.EqualFunc(plan, again, func(a, b RoomSpec) bool {
				return a.Name == b.Name && slices.Equal(a.Members, b.Members)
			}) {
				t.Fatalf("%d nodes, seed %d: two plans %v and %v", tc.nodes, seed, plan, again)
			}
			if len(plan) != tc.rooms {
				t.Fatalf("%d nodes: %d rooms, want %d", tc.nodes, len(plan), tc.rooms)
			}
			creators, names := map[int]bool{}, map[string]bool{}
			for _, r := range plan {
				if err := wire.ValidRoomName(r.Name); err != nil || names[r.Name] {
					t.Fatalf("room name %q: %v (or twice)", r.Name, err)
				}
				names[r.Name] = true
				if n := len(r.Members); n < min(tc.nodes, 4) || n > min(tc.nodes, 6) {
					t.Fatalf("%d nodes, seed %d: room of %d members", tc.nodes, seed, n)
				}
				seen, lans := map[int]bool{}, map[int]bool{}
				for _, m := range r.Members {
					if m < 0 || m >= tc.nodes || seen[m] {
						t.Fatalf("%d nodes, seed %d: members %v", tc.nodes, seed, r.Members)
					}
					seen[m] = true
					lans[m%tc.lans+1] = true
				}
				if tc.lans > 1 && tc.nodes > len(r.Members) && len(lans) < 2 {
					t.Fatalf("%d nodes on %d LANs, seed %d: room %v on one LAN", tc.nodes, tc.lans, seed, r.Members)
				}
				if creators[r.Members[0]] && len(plan) <= tc.nodes {
					t.Fatalf("%d nodes, seed %d: %d creates two rooms", tc.nodes, seed, r.Members[0])
				}
				creators[r.Members[0]] = true
			}
		}
	}
}

// TestRoomCounts: what a member was shown, as its daemons' roomMessage
// notifications accumulate in its roomLog across restarts, counted
// against what one author sent, other authors and rooms apart.
func TestRoomCounts(t *testing.T) {
	sent := []string{"a", "b", "c", "d"}
	for _, tc := range []struct {
		name  string
		shown []string // author u1's messages in room r, in the order shown
		want  Counts
	}{
		{"each once, in order", []string{"a", "b", "c", "d"}, Counts{Sent: 4, Delivered: 4}},
		{"a rejoin shows one again", []string{"a", "b", "b", "c", "d"}, Counts{Sent: 4, Delivered: 4, Duplicated: 1}},
		{"a gap a rejoin skipped", []string{"a", "d"}, Counts{Sent: 4, Delivered: 2, Lost: 2}},
		{"caught up after later ones", []string{"a", "d", "b", "c"}, Counts{Sent: 4, Delivered: 4, OutOfOrder: 2}},
		{"a refused send that went through", []string{"a", "b", "x", "c", "d"}, Counts{Sent: 4, Delivered: 4, Unexpected: 1}},
		{"nothing", nil, Counts{Sent: 4, Lost: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l roomLog
			for i, id := range tc.shown {
				l.add("r", roomLine{ID: id, From: "u1"})
				l.add("r", roomLine{ID: id + "-u2", From: "u2"}) // another author
				if i == 0 {
					l.add("other", roomLine{ID: "b", From: "u1"}) // another room
				}
			}
			if got := Check(sent, roomIDs(l.from("r", "u1"))); got != tc.want {
				t.Fatalf("shown %v: %+v, want %+v", tc.shown, got, tc.want)
			}
			if all := l.from("r", ""); len(all) != 2*len(tc.shown) {
				t.Fatalf("every author's: %d lines, want %d", len(all), 2*len(tc.shown))
			}
		})
	}
}

func TestRoomConv(t *testing.T) {
	c := Conv{From: "user1", To: roomPrefix + "soak-1-room0"}
	if !isRoom(c.To) || isGroup(c.To) || roomName(c.To) != "soak-1-room0" {
		t.Fatalf("room conv %+v: isRoom %v, isGroup %v, name %q", c, isRoom(c.To), isGroup(c.To), roomName(c.To))
	}
	if isRoom("user1") || isRoom("#0123") {
		t.Fatal("a contact or a group taken for a room")
	}
	s := &run{nodes: []*node{{user: "user0"}, {user: "user1"}, {user: "user2"}}, rooms: []RoomSpec{{Name: "soak-1-room0", Members: []int{2, 0, 1}}, {Name: "soak-1-room1", Members: []int{0, 1}}}}
	if got := s.othersInRoom("soak-1-room0", "user0"); !slices.Equal(got, []string{"user2", "user1"}) {
		t.Fatalf("others in room0 than user0: %v", got)
	}
	if got := s.othersInRoom("soak-1-room1", "user1"); !slices.Equal(got, []string{"user0"}) {
		t.Fatalf("others in room1 than user1: %v", got)
	}
}
