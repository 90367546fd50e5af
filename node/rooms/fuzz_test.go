package rooms

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	srooms "eserver/supernode/rooms"
)

// fakeHost is a Host with a real store and a fixed clock, and no network:
// what the handling of a joined stream's events needs.
type fakeHost struct {
	st     *store.Store
	tk     *ticket.Ticket
	now    time.Time
	mu     sync.Mutex
	events []api.Event
	// avatar and avatarPath are our picture (faces_internal_test.go).
	avatar, avatarPath string
	// onEmit, when set, sees each event as it is emitted
	// (kept_internal_test.go).
	onEmit func(api.Event)
}

func (f *fakeHost) Libp2p() host.Host                                { return nil }
func (f *fakeHost) Ticket() *ticket.Ticket                           { return f.tk }
func (f *fakeHost) RegionPass() (*ticket.Ticket, *ticket.Pass)       { return f.tk, nil }
func (f *fakeHost) Sign([]byte) ([]byte, error)                      { return nil, io.ErrUnexpectedEOF }
func (f *fakeHost) RoomHomes(string) []peer.AddrInfo                 { return nil }
func (f *fakeHost) Supernodes(int) []peer.AddrInfo                   { return nil }
func (f *fakeHost) ConnectHome(context.Context, peer.AddrInfo) error { return io.ErrUnexpectedEOF }
func (f *fakeHost) Store() *store.Store                              { return f.st }
func (f *fakeHost) Now() time.Time                                   { return f.now }
func (f *fakeHost) Log() *slog.Logger                                { return slog.New(slog.DiscardHandler) }

func (f *fakeHost) Face() (string, string) { return f.tk.Username, f.avatar }
func (f *fakeHost) Emit(e api.Event) {
	if f.onEmit != nil {
		f.onEmit(e)
	}
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

func (f *fakeHost) PicturePath(h string) string {
	if h != "" && h == f.avatar {
		return f.avatarPath
	}
	return ""
}

// signedWorld is an auth server's key, a device of bob with its ticket, and
// a room's genesis op and first message signed by that device.
type signedWorld struct {
	host    *fakeHost
	create  *wire.SignedRoomOp
	message *wire.SignedRoomMessage
}

const fuzzRoom = "fuzzroom"

func newSignedWorld(t testing.TB) *signedWorld {
	t.Helper()
	serverKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := peer.IDFromPrivateKey(serverKey)
	devKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := peer.IDFromPrivateKey(devKey)
	now := time.Unix(1_800_000_000, 0)
	st, err := ticket.Sign(serverKey, ticket.Ticket{Username: "bob", Peer: dev, Device: "laptop",
		Issued: now.Add(-time.Hour), Expiry: now.Add(time.Hour), Role: ticket.RoleNode})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ticket.Verify(server, st, now)
	if err != nil {
		t.Fatal(err)
	}
	s := storetest.Open(t) // unlocked: room messages are kept sealed
	create, err := room.Sign(devKey, st, room.Create(fuzzRoom, "bob", now, "topic", room.Modes{Public: true}))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := room.SignMessage(devKey, st, &wire.RoomMessage{Room: fuzzRoom, Id: "m1", Author: "bob", TimeUnixMilli: now.UnixMilli(), Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	return &signedWorld{host: &fakeHost{st: s, tk: tk, now: now}, create: create, message: msg}
}

func (w *signedWorld) rooms() (*Rooms, *joined) {
	r := New(w.host, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	return r, &joined{room: fuzzRoom, ctx: ctx, cancel: cancel, done: make(chan struct{}), state: room.New(fuzzRoom)}
}

// TestEndReasons: the reasons the node stops rejoining for are the home's.
func TestEndReasons(t *testing.T) {
	for _, c := range [][2]string{{endKicked, srooms.EndKicked}, {endBanned, srooms.EndBanned}, {endDeleted, srooms.EndDeleted}} {
		if c[0] != c[1] {
			t.Errorf("the node reads %q, the home says %q", c[0], c[1])
		}
	}
	err := fmt.Errorf("%w: %s", client.ErrRoomEnded, srooms.EndKicked)
	if got := endReason(fmt.Errorf("reading: %w", err)); got != endKicked {
		t.Errorf("endReason(%v) = %q", err, got)
	}
	if got := endReason(io.EOF); got != "" {
		t.Errorf("endReason(EOF) = %q", got)
	}
}

// TestHandle: what a home pushes is shown only when it verifies, and a
// message once however often it comes; an op moves the room's state.
func TestHandle(t *testing.T) {
	w := newSignedWorld(t)
	r, j := w.rooms()
	tampered := proto.Clone(w.message).(*wire.SignedRoomMessage)
	tampered.Message = append([]byte(nil), tampered.Message...)
	tampered.Message[len(tampered.Message)-1] ^= 1
	for _, ev := range []*wire.RoomEvent{
		{Kind: &wire.RoomEvent_Message{Message: tampered}},
		{Kind: &wire.RoomEvent_Message{Message: w.message}},
		{Kind: &wire.RoomEvent_Message{Message: w.message}},
		{Kind: &wire.RoomEvent_Op{Op: w.create}},
		{Kind: &wire.RoomEvent_Op{Op: w.create}}, // stale now: nothing
		{Kind: &wire.RoomEvent_Joined{Joined: "carol"}},
		{Kind: &wire.RoomEvent_Left{Left: "carol"}},
	} {
		r.handle(j, ev)
	}
	// A second Rooms on the same store (a restart) shows it no more.
	r2, j2 := w.rooms()
	r2.handle(j2, &wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: w.message}})

	var got []string
	for _, e := range w.host.events {
		switch {
		case e.RoomMessage != nil:
			got = append(got, "message "+e.RoomMessage.From+" "+e.RoomMessage.Text)
		case e.RoomEvent != nil:
			got = append(got, string(e.RoomEvent.Kind)+" "+e.RoomEvent.Username)
		}
	}
	want := []string{"message bob hello", "join carol", "leave carol"}
	if len(got) != len(want) {
		t.Fatalf("shown %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("shown %q, want %q", got, want)
		}
	}
	if j.state.Seq != 1 || j.state.Owner != "bob" || j.state.Topic != "topic" {
		t.Fatalf("state after the genesis op: seq %d, owner %q, topic %q", j.state.Seq, j.state.Owner, j.state.Topic)
	}
}

// FuzzRoomEvent: whatever frame a home pushes, handling it never panics,
// shows no message that does not verify as fuzzroom's, and shows none twice.
func FuzzRoomEvent(f *testing.F) {
	w := newSignedWorld(f)
	for _, ev := range []*wire.RoomEvent{
		{Kind: &wire.RoomEvent_Message{Message: w.message}},
		{Kind: &wire.RoomEvent_Op{Op: w.create}},
		{Kind: &wire.RoomEvent_Joined{Joined: "carol"}},
		{Kind: &wire.RoomEvent_Left{Left: "carol"}},
	} {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > wire.MaxRoomFrame {
			return
		}
		var ev wire.RoomEvent
		if proto.Unmarshal(b, &ev) != nil {
			return
		}
		w.host.mu.Lock()
		w.host.events = nil
		w.host.mu.Unlock()
		r, j := w.rooms()
		r.handle(j, &ev)
		r.handle(j, &ev)
		shown := 0
		for _, e := range w.host.events {
			if m := e.RoomMessage; m != nil {
				shown++
				if m.Room != fuzzRoom || m.From != "bob" {
					t.Fatalf("shown %+v", m)
				}
			}
		}
		if shown > 1 {
			t.Fatalf("a message shown %d times", shown)
		}
	})
}
