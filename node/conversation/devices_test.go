package conversation

import (
	"bytes"
	"slices"
	"testing"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// TestReceiveOnOurDevices: bob is signed in on his desktop (the node under
// test) and his laptop. What the laptop authors and passes on shows on the
// desktop as his own and is passed on to nobody (the laptop did); an event
// passed to bob's account's route is passed on to his other devices, one
// passed to this device's own route is not; a stranger's invitation is no
// conversation, whoever passes it.
func TestReceiveOnOurDevices(t *testing.T) {
	w := newWorld(t)
	alice, laptop, mallory := w.user("alice"), w.user("bob"), w.user("mallory")
	conv := convID(bytes.Repeat([]byte{1}, idLen))
	three := []string{"alice", "bob", "carol"}
	joined := func(who string) func(*wire.GroupEvent) {
		return func(e *wire.GroupEvent) { e.Id = "join-" + who; e.Kind = &wire.GroupEvent_Joined{Joined: who} }
	}
	text := func(id string) func(*wire.GroupEvent) { return func(e *wire.GroupEvent) { e.Id = id } }
	left := func(e *wire.GroupEvent) {
		e.Id, e.Kind = "left", &wire.GroupEvent_Left{Left: true}
		e.SentUnixMilli += 1000 // after the invitation
	}
	fromLaptop := arrival{from: "bob", own: true, envelope: "x"}
	accountRoute := func(id string) arrival { return arrival{from: "alice", envelope: store.FanoutID(id, "bob")} }
	deviceRoute := func(id string) arrival {
		return arrival{from: "alice", envelope: store.FanoutID(id, "bob/12D3KooWdesktop")}
	}
	type step struct {
		a  arrival
		ev *wire.GroupEvent
	}
	tests := []struct {
		name    string
		steps   []step
		members []string // of the conversation at the end; nil: none
		left    bool
		history []string // From:Kind:Text, oldest first
		passed  []string // Peer:event ID of what was passed on
	}{
		{name: "the laptop starts a conversation and invites carol",
			steps: []step{
				{fromLaptop, event(t, laptop, three, joined("alice"))},
				{fromLaptop, event(t, laptop, three, joined("carol"))},
			},
			members: three, history: []string{"bob:joined:carol"}},
		{name: "our message from the laptop shows as sent",
			steps: []step{
				{accountRoute("join-bob"), event(t, alice, three, joined("bob"))},
				{fromLaptop, event(t, laptop, three, text("b1"))},
			},
			members: three, history: []string{"alice:joined:bob", "bob::genuine"},
			passed: []string{"bob:join-bob"}},
		{name: "our departure on the laptop leaves here too",
			steps: []step{
				{deviceRoute("join-bob"), event(t, alice, three, joined("bob"))},
				{fromLaptop, event(t, laptop, three, left)},
			},
			members: three, left: true, history: []string{"alice:joined:bob", "bob:left:bob"}},
		{name: "a message on our account's route goes to our other devices and to carol",
			steps: []step{
				{deviceRoute("join-bob"), event(t, alice, three, joined("bob"))},
				{accountRoute("a1"), event(t, alice, three, text("a1"))},
			},
			members: three, history: []string{"alice:joined:bob", "alice::genuine"},
			passed: []string{"carol:a1", "bob:a1"}},
		{name: "a message on this device's route goes to carol only",
			steps: []step{
				{deviceRoute("join-bob"), event(t, alice, three, joined("bob"))},
				{deviceRoute("a1"), event(t, alice, three, text("a1"))},
			},
			members: three, history: []string{"alice:joined:bob", "alice::genuine"},
			passed: []string{"carol:a1"}},
		{name: "an invitation the laptop passes on starts the conversation, passed on to nobody",
			steps: []step{
				{fromLaptop, event(t, alice, three, joined("bob"))},
				{fromLaptop, event(t, alice, three, text("a1"))},
			},
			members: three, history: []string{"alice:joined:bob", "alice::genuine"}},
		{name: "the same message by two routes applies once",
			steps: []step{
				{deviceRoute("join-bob"), event(t, alice, three, joined("bob"))},
				{deviceRoute("a1"), event(t, alice, three, text("a1"))},
				{fromLaptop, event(t, alice, three, text("a1"))},
			},
			members: three, history: []string{"alice:joined:bob", "alice::genuine"},
			passed: []string{"carol:a1"}},
		{name: "a stranger's invitation is no conversation, even from the laptop",
			steps: []step{
				{fromLaptop, event(t, mallory, []string{"bob", "mallory"}, joined("bob"))},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t, w, w.user("bob"), "alice", "carol")
			c := New(h)
			for _, s := range tt.steps {
				if err := c.receive(s.a, s.ev); err != nil {
					t.Fatal(err)
				}
			}
			cs, err := c.List()
			if err != nil {
				t.Fatal(err)
			}
			if tt.members == nil {
				if len(cs) != 0 {
					t.Fatalf("conversations %+v, want none", cs)
				}
				return
			}
			if len(cs) != 1 || !slices.Equal(cs[0].Members, tt.members) || cs[0].Left != tt.left {
				t.Fatalf("conversations %+v, want members %v, left %v", cs, tt.members, tt.left)
			}
			ms, err := c.History(conv, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.From+":"+string(m.Kind)+":"+m.Text)
				if m.Kind == api.KindMessage && m.From == "bob" && m.State != api.StateDelivered {
					t.Errorf("our message from the laptop in state %q", m.State)
				}
			}
			if !slices.Equal(got, tt.history) {
				t.Fatalf("history %q, want %q", got, tt.history)
			}
			var passed []string
			for _, e := range h.fanouts {
				passed = append(passed, e.Peer+":"+store.FanoutMessageID(e.ID))
			}
			if !slices.Equal(passed, tt.passed) {
				t.Fatalf("passed on %q, want %q", passed, tt.passed)
			}
		})
	}
}
