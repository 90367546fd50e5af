package soak

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"eserver/node/api"
)

// Chat rooms (issue 15): a few public rooms, each created by one node and
// joined by a few others on several LANs. One message in 10 goes to a
// random room, written by a random member; every other member must be
// shown it once, in its author's order.
//
// What a member was shown is what its node stored and its daemon said.
// The node stores each room message, and moves the room's position past
// it, before the roomMessage notification goes out (docs/ROOMS.md, "What
// a member's node keeps"); roomMessages reads the stored ones back, the
// newest api.MaxRoomKept of a room. So each node keeps the notifications
// its daemons wrote (roomLog), across their restarts, and the check reads
// the store at the end too (roomShown): a message stored but not yet
// written out when its daemon was killed is shown to a front end that
// reads roomMessages when it connects again.
//
// Membership outlives every fault the soak injects: a joined room is a row
// of the node's store, rejoined at every sign-in and after every dropped
// stream until leaveRoom (docs/ROOMS.md, "The node's side"); a sign-out or
// a kill ends the node's joined stream but not its membership, and a
// rejoin names the last position received and gets what followed
// ("Catching up"). Nothing in the soak kicks, bans or leaves.

// roomShare: one message in roomShare of those not sent to a group goes
// to a room — with groupShare 5, one in 10 of all.
const roomShare = 8

// roomTextMarker begins a room message's text instead of textMarker:
// public rooms are signed, not encrypted, and their homes keep what is
// said (docs/ROOMS.md), so the servers' plaintext check must not count it.
const roomTextMarker = "soak room line "

// roomPrefix marks a Conv's To as a room (room names have no ':').
const roomPrefix = "room:"

func isRoom(to string) bool { return strings.HasPrefix(to, roomPrefix) }

// roomName is the room a Conv's To names.
func roomName(to string) string { return strings.TrimPrefix(to, roomPrefix) }

// RoomSpec is one room of the plan: Members are node indexes, the
// creator first.
type RoomSpec struct {
	Name    string
	Members []int
}

// RoomPlan is the plan's rooms: max(2, nodes/6), each of 4 to 6 members
// (all the nodes, when fewer), created by a different node where there
// are enough, each on at least two LANs when there are two; node i is on
// LAN i%lans+1. Drawn from rng.
func RoomPlan(nodes, lans int, seed uint64, rng interface{ IntN(int) int }) []RoomSpec {
	count := max(2, nodes/6)
	creators := map[int]bool{}
	var plan []RoomSpec
	for r := range count {
		size := min(nodes, 4+rng.IntN(3))
		perm := make([]int, nodes)
		for i := range perm {
			perm[i] = i
		}
		for i := nodes - 1; i > 0; i-- { // Fisher–Yates, from rng
			j := rng.IntN(i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
		// The creator: the first in the shuffle who created none yet.
		for k, i := range perm {
			if !creators[i] {
				perm[0], perm[k] = perm[k], perm[0]
				break
			}
		}
		creators[perm[0]] = true
		members := perm[:size]
		if lans > 1 && nodes > size {
			lan := func(i int) int { return i%lans + 1 }
			one := true
			for _, m := range members[1:] {
				one = one && lan(m) == lan(members[0])
			}
			if one { // bring in the first node of another LAN
				for _, i := range perm[size:] {
					if lan(i) != lan(members[0]) {
						members[size-1] = i
						break
					}
				}
			}
		}
		plan = append(plan, RoomSpec{Name: fmt.Sprintf("soak-%d-room%d", seed, r), Members: append([]int(nil), members...)})
	}
	return plan
}

// roomLine is a roomMessage notification as the harness keeps it.
type roomLine struct{ ID, From, Time string }

// roomLog is what one node was shown in its rooms, per room in the order
// its daemons wrote it; it outlives each daemon.
type roomLog struct {
	mu    sync.Mutex
	rooms map[string][]roomLine
}

func (l *roomLog) add(room string, m roomLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rooms == nil {
		l.rooms = map[string][]roomLine{}
	}
	l.rooms[room] = append(l.rooms[room], m)
}

// from is the messages from author shown in room, in the order shown
// (every author's when author is empty).
func (l *roomLog) from(room, author string) []roomLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []roomLine
	for _, m := range l.rooms[room] {
		if author == "" || m.From == author {
			out = append(out, m)
		}
	}
	return out
}

// roomShown is what n's front end shows of author's messages in room: the
// notifications its daemons wrote, each as many times as written, and the
// stored messages no notification told of, in the store's order. Those
// trimmed from the store since (the oldest) come first, in the order
// notified.
func (n *node) roomShown(ctx context.Context, room, author string) ([]roomLine, error) {
	notified := n.rooms.from(room, author)
	var r struct {
		Messages []roomLine `json:"messages"`
	}
	n.mu.Lock()
	err := errNodeDown
	if n.d != nil {
		err = n.d.call(ctx, "roomMessages", map[string]any{"room": room, "limit": api.MaxRoomKept}, &r)
	}
	n.mu.Unlock()
	if err != nil {
		return notified, err
	}
	times := map[string]int{}
	for _, m := range notified {
		times[m.ID]++
	}
	stored := map[string]bool{}
	for _, m := range r.Messages {
		stored[m.ID] = true
	}
	var out []roomLine
	for _, m := range notified {
		if !stored[m.ID] {
			out = append(out, m)
		}
	}
	for _, m := range r.Messages {
		if m.From != author {
			continue
		}
		for range max(times[m.ID], 1) {
			out = append(out, m)
		}
	}
	return out, nil
}

func roomIDs(ms []roomLine) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// othersInRoom is the usernames of room's members other than author.
func (s *run) othersInRoom(room, author string) []string {
	for _, r := range s.rooms {
		if r.Name == room {
			return s.others(r.Members, author)
		}
	}
	return nil
}

// makeRooms creates the plan's rooms, has their members join and waits
// until each is in: its node answers roomInfo for the room, and the
// creator's roomMembers lists it (that list is per home — members attached
// at another home are not in it — so a member missing there after the
// bound is reported, not fatal; at set-up, with every home up, they all
// attach to the room's primary).
func (s *run) makeRooms(ctx context.Context) error {
	if !s.cfg.Rooms {
		return nil
	}
	for _, r := range RoomPlan(len(s.nodes), s.cfg.LANs, s.cfg.Seed, s.rngFor(7)) {
		owner := s.nodes[r.Members[0]]
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			err := owner.d.call(ctx, "createRoom", map[string]any{"room": r.Name, "topic": "the chaos soak"}, nil)
			if re := (*RPCError)(nil); errors.As(err, &re) && re.Code == "room_exists" {
				return nil // an earlier try got through
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s creating room %s: %w", owner.user, r.Name, err)
		}
		var users []string
		for _, i := range r.Members {
			m := s.nodes[i]
			users = append(users, m.user)
			err := retry(ctx, 2*time.Minute, func(ctx context.Context) error {
				if err := m.d.call(ctx, "joinRoom", map[string]any{"room": r.Name}, nil); err != nil {
					return err
				}
				return m.d.call(ctx, "roomInfo", map[string]any{"room": r.Name}, nil)
			})
			if err != nil {
				return fmt.Errorf("%s joining room %s: %w", m.user, r.Name, err)
			}
		}
		var missing []string
		err = retry(ctx, time.Minute, func(ctx context.Context) error {
			var l struct {
				Members []struct{ Username, Status string }
			}
			if err := owner.d.call(ctx, "roomMembers", map[string]any{"room": r.Name}, &l); err != nil {
				return err
			}
			online := map[string]bool{}
			for _, m := range l.Members {
				online[m.Username] = m.Status == "online"
			}
			missing = missing[:0]
			for _, u := range users {
				if !online[u] {
					missing = append(missing, u)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("room %s: %s not online at %s's home", r.Name, strings.Join(missing, ", "), owner.user)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			s.logf("room %s: %v (each joined; online is per home)", r.Name, err)
		}
		s.rooms = append(s.rooms, r)
	}
	s.logf("%d rooms: %s", len(s.rooms), s.describeRooms())
	return ctx.Err()
}

func (s *run) describeRooms() string {
	var parts []string
	for _, r := range s.rooms {
		var us []string
		for _, i := range r.Members {
			us = append(us, fmt.Sprintf("%s(LAN %d)", s.nodes[i].user, s.nodes[i].lan))
		}
		parts = append(parts, r.Name+" "+strings.Join(us, " "))
	}
	return strings.Join(parts, "; ")
}

// roomSendPause and roomSendTries: a room's flood limit (5 messages in
// 10 s per member, on by default and not a mode a room can change) may
// refuse a burst the plan draws, and a node rejoining after its home died
// answers unreachable, a slow primary busy; the author waits and tries
// again, as a person would, rather than the soak counting it refused. (A
// try that timed out but went through shows as unexpected, not as sent.)
const (
	roomSendPause = 2500 * time.Millisecond
	roomSendTries = 6
)

// again is the roomSend error codes sendRoom tries again after.
var again = map[string]bool{"rate_limited": true, "unreachable": true, "busy": true}

// sendRoom posts text in room as n, trying again after a pause while the
// answer is one of again's. n.mu is taken for each try (so a node goes
// offline between two tries, not during one) and released in the pause.
func (n *node) sendRoom(ctx context.Context, room, text string) (string, error) {
	var err error
	for try := range roomSendTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(roomSendPause):
			}
		}
		var r struct {
			ID string `json:"id"`
		}
		n.mu.Lock()
		err = errNodeDown
		if n.d != nil {
			cctx, cancel := context.WithTimeout(ctx, 45*time.Second)
			err = n.d.call(cctx, "roomSend", map[string]any{"room": room, "text": text}, &r)
			cancel()
		}
		n.mu.Unlock()
		if err == nil && r.ID == "" {
			err = errors.New("roomSend answered no id")
		}
		if err == nil {
			return r.ID, nil
		}
		if re := (*RPCError)(nil); !errors.As(err, &re) || !again[re.Code] {
			return "", err
		}
	}
	return "", err
}

// describeRoom logs one member of a room that is not clean: what the
// author sent (with when the author was shown it), and what the member
// was shown.
func (s *run) describeRoom(c Conv, at string, sent []string, got []roomLine, author *node) {
	short := func(id string) string { return id[:min(8, len(id))] }
	mine := map[string]roomLine{}
	for _, m := range author.rooms.from(roomName(c.To), c.From) {
		mine[m.ID] = m
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s→%s at %s: %v\n  sent (time shown at the author):", c.From, c.To, at, Check(sent, roomIDs(got)))
	for _, id := range sent {
		fmt.Fprintf(&b, " %s(%s)", short(id), mine[id].Time)
	}
	b.WriteString("\n  member was shown:")
	for _, m := range got {
		fmt.Fprintf(&b, " %s(%s)", short(m.ID), m.Time)
	}
	s.logf("%s", b.String())
}
