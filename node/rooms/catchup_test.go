package rooms_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"

	"eserver/node/api"
	"eserver/node/login"
	"eserver/node/nodetest"
	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	home "eserver/supernode/rooms"
)

// robot is a device of its own account at the bundled server, which
// posts straight into the room home's store as the room's primary would:
// the flood limit (5 messages in 10 s per account) would otherwise take
// minutes of the clock to fill more than a backlog.
type robot struct {
	key    crypto.PrivKey
	ticket *ticket.Ticket
}

func newRobot(t *testing.T, server, name string) *robot {
	t.Helper()
	ai, err := login.ParseServer(server)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(nodetest.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx := nodetest.Context(t)
	if err := login.Register(ctx, h, ai, name, "pw-"+name); err != nil {
		t.Fatal(err)
	}
	res, err := login.Login(ctx, h, ai, login.Request{Username: name, Password: "pw-" + name})
	if err != nil {
		t.Fatal(err)
	}
	return &robot{key: key, ticket: res.Ticket}
}

// post signs text in name and stores it at svc as the next message of the
// room's order.
func (r *robot) post(t *testing.T, svc *home.Service, name, text string) {
	t.Helper()
	id, now := wire.NewID(), time.Now()
	s, err := room.SignMessage(r.key, r.ticket.Signed, &wire.RoomMessage{Room: name, Id: id, Author: r.ticket.Username,
		TimeUnixMilli: now.UnixMilli(), Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Store().Sequence(nodetest.Context(t), name, home.Message{ID: id, Author: r.ticket.Username, Time: now,
		Body: wire.MustMarshal(s)}); err != nil {
		t.Fatal(err)
	}
}

// TestCatchUpAfterRestart: bob's node stops while 150 messages — more
// than a backlog — are posted; at sign-in it rejoins the room naming the
// last message position it showed (kept in its store) and shows every
// message it missed, in order, once, then the room live. (Before the
// catch-up it showed only the backlog's newest 100.)
func TestCatchUpAfterRestart(t *testing.T) {
	b := nodetest.Bundle(t)
	alice := nodetest.New(t, b.Addr(), "alice")
	bob := nodetest.New(t, b.Addr(), "bob")
	ctx := nodetest.Context(t)
	const name = "marathon"
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

	bob.Stop()
	rb := newRobot(t, b.Addr(), "robot")
	var talk []string
	for i := range wire.RoomBacklog + 50 {
		text := fmt.Sprintf("while away %d", i)
		rb.post(t, b.Rooms, name, text)
		talk = append(talk, "robot: "+text)
	}
	bob.Start()
	bob.SignIn()
	want(t, "bob after restarting", roomMessages(t, bob, name, len(talk)), talk...)
	send(t, alice, name, "welcome back")
	want(t, "bob live", roomMessages(t, bob, name, 1), "alice: welcome back")
}
