package room

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// t0 is the tests' clock: no test reads the wall clock.
var t0 = time.Unix(1_800_000_000, 0)

// device is a user's device: its key and the ticket a test auth server
// signed for it.
type device struct {
	user   string
	key    crypto.PrivKey
	id     peer.ID
	ticket *wire.SignedTicket
}

// world is a test auth server and the devices it signed tickets for.
type world struct {
	t         testing.TB
	serverKey crypto.PrivKey
	server    peer.ID
	devices   map[string]*device
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func newWorld(t testing.TB) *world {
	k, id := newKey(t)
	return &world{t: t, serverKey: k, server: id, devices: map[string]*device{}}
}

// signTicket signs a ticket with the auth server key server.
func signTicket(t testing.TB, server crypto.PrivKey, user string, p peer.ID, issued, expiry time.Time, role string) *wire.SignedTicket {
	t.Helper()
	st, err := ticket.Sign(server, ticket.Ticket{
		Username: user, Peer: p, Device: "laptop", Issued: issued, Expiry: expiry, Role: role,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dev is user's device, made with a ticket valid from an hour before t0
// for a day on first use.
func (w *world) dev(user string) *device {
	if d, ok := w.devices[user]; ok {
		return d
	}
	k, id := newKey(w.t)
	d := &device{user: user, key: k, id: id,
		ticket: signTicket(w.t, w.serverKey, user, id, t0.Add(-time.Hour), t0.Add(23*time.Hour), ticket.RoleNode)}
	w.devices[user] = d
	return d
}

// sign signs op with user's device.
func (w *world) sign(user string, op *wire.RoomOp) *wire.SignedRoomOp {
	w.t.Helper()
	d := w.dev(user)
	s, err := Sign(d.key, d.ticket, op)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) checks() Checks { return Checks{Server: w.server} }

// step signs op as user, applies it to st at time at and fails the test on
// an error.
func (w *world) step(st *State, user string, at time.Time, kind func(*wire.RoomOp)) (*State, *wire.SignedRoomOp) {
	w.t.Helper()
	op := Next(st, user, at)
	kind(op)
	s := w.sign(user, op)
	next, _, err := Step(st, s, at, w.checks())
	if err != nil {
		w.t.Fatalf("step: %v", err)
	}
	return next, s
}

// try signs op as user at time at and returns what Step says.
func (w *world) try(st *State, user string, at time.Time, kind func(*wire.RoomOp)) (*State, error) {
	w.t.Helper()
	op := Next(st, user, at)
	kind(op)
	next, _, err := Step(st, w.sign(user, op), at, w.checks())
	return next, err
}

// Op kinds as setters of a wire.RoomOp, for tables.
func topic(s string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Topic{Topic: s} }
}
func modes(m Modes) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Modes{Modes: m.Wire()} }
}
func opUser(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Op{Op: u} }
}
func deop(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Deop{Deop: u} }
}
func voice(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Voice{Voice: u} }
}
func devoice(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Devoice{Devoice: u} }
}
func kick(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Kick{Kick: u} }
}
func unban(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Unban{Unban: u} }
}
func invite(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Invite{Invite: u} }
}
func ban(u string, until time.Time) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) {
		b := &wire.RoomBan{Username: u}
		if !until.IsZero() {
			b.UntilUnixMilli = until.UnixMilli()
		}
		o.Kind = &wire.RoomOp_Ban{Ban: b}
	}
}
func deleteMessage(id, author string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) {
		o.Kind = &wire.RoomOp_DeleteMessage{DeleteMessage: &wire.RoomDeleteMessage{Id: id, Author: author}}
	}
}
func deleteRoom() func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_DeleteRoom{DeleteRoom: &wire.RoomDeleteRoom{}} }
}
func transfer(u string) func(*wire.RoomOp) {
	return func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_TransferOwner{TransferOwner: u} }
}

// lounge is the tests' room, built by real signed ops: owned by olivia
// (invite-only, topic locked), operators oscar and otto, victor voiced, mia
// and tina invited, bart banned; sam is a stranger. It returns the state
// and the chain.
func lounge(w *world) (*State, []*wire.SignedRoomOp) {
	w.t.Helper()
	at := t0
	genesis := w.sign("olivia", Create("lounge", "olivia", at, "welcome", Modes{InviteOnly: true, TopicLocked: true}))
	st, _, err := Step(New("lounge"), genesis, at, w.checks())
	if err != nil {
		w.t.Fatalf("genesis: %v", err)
	}
	chain := []*wire.SignedRoomOp{genesis}
	for _, s := range []func(*wire.RoomOp){opUser("oscar"), opUser("otto"), voice("victor"), invite("mia"), invite("tina"), ban("bart", time.Time{})} {
		at = at.Add(time.Second)
		var signed *wire.SignedRoomOp
		st, signed = w.step(st, "olivia", at, s)
		chain = append(chain, signed)
	}
	return st, chain
}

// is fails t unless err is want (nil: no error).
func is(t *testing.T, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}
