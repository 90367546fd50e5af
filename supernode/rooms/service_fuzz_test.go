package rooms

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/internal/sntest"
)

// pipe is a request's stream without libp2p: the frame to read, the
// answers written.
type pipe struct {
	*bytes.Reader
	out bytes.Buffer
}

func (p *pipe) Write(b []byte) (int, error) { return p.out.Write(b) }

// FuzzRoomRequest feeds arbitrary request frames through the service's
// stages, from a peer holding a valid ticket: nothing panics, and every
// answer is one RoomResponse frame.
func FuzzRoomRequest(f *testing.F) {
	w := newWorld(f)
	svc, err := OpenService(ServiceConfig{DBPath: filepath.Join(f.TempDir(), "rooms.db"), AuthServer: w.server, Now: w.clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close() })
	create := w.create("lounge", "alice")
	if _, err := svc.Store().Append(context.Background(), create, room.Checks{}); err != nil {
		f.Fatal(err)
	}
	k := sntest.Key(f)
	remote := sntest.ID(f, k)
	st := sntest.SignTicket(f, w.key, "alice", remote, t0.Add(-1e12), t0.Add(1e13))
	msg, err := room.SignMessage(k, st, &wire.RoomMessage{Room: "lounge", Id: "1", Author: "alice", TimeUnixMilli: t0.UnixMilli(), Text: "hi"})
	if err != nil {
		f.Fatal(err)
	}
	// The homes' requests, under a supernode's ticket.
	sn, err := ticket.Sign(w.key, ticket.Ticket{Username: "operator", Peer: remote, Device: "sn", Issued: t0.Add(-1e12),
		Expiry: t0.Add(1e13), Role: ticket.RoleSupernode})
	if err != nil {
		f.Fatal(err)
	}
	frame := func(req *wire.RoomRequest) []byte {
		var b bytes.Buffer
		if err := wire.WriteMsg(&b, req); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	for _, req := range []*wire.RoomRequest{
		{Ticket: st, Kind: &wire.RoomRequest_Op{Op: create}},
		{Ticket: st, Kind: &wire.RoomRequest_Join{Join: &wire.RoomJoin{Room: "lounge"}}},
		{Ticket: st, Kind: &wire.RoomRequest_Join{Join: &wire.RoomJoin{Room: "lounge", CatchUp: true, Since: 1 << 63}}},
		{Ticket: st, Kind: &wire.RoomRequest_Leave{Leave: "lounge"}},
		{Ticket: st, Kind: &wire.RoomRequest_Send{Send: &wire.RoomSend{Message: msg}}},
		{Ticket: st, Kind: &wire.RoomRequest_Backlog{Backlog: &wire.RoomBacklogRequest{Room: "lounge", Limit: 5}}},
		{Ticket: st, Kind: &wire.RoomRequest_Ops{Ops: &wire.RoomOpsRequest{Room: "lounge"}}},
		{Ticket: st, Kind: &wire.RoomRequest_List{List: &wire.RoomListRequest{Query: "lounge", Region: "es", Limit: 10}}},
		{Ticket: sn, Kind: &wire.RoomRequest_Forward{Forward: &wire.RoomForward{Op: create}}},
		{Ticket: sn, Kind: &wire.RoomRequest_Forward{Forward: &wire.RoomForward{Send: &wire.RoomSend{Message: msg}}}},
		{Ticket: sn, Kind: &wire.RoomRequest_Replicate{Replicate: &wire.RoomReplica{Room: "lounge", Op: create}}},
		{Ticket: sn, Kind: &wire.RoomRequest_Replicate{Replicate: &wire.RoomReplica{Room: "lounge",
			Message: &wire.RoomOrderedMessage{Position: 1, Message: msg}}}},
		{Ticket: sn, Kind: &wire.RoomRequest_MessagesSince{MessagesSince: &wire.RoomMessagesRequest{Room: "lounge", Since: 0}}},
	} {
		f.Add(frame(req))
	}
	f.Add([]byte{0x05, 0x0a, 0x03, 0x0a, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &pipe{Reader: bytes.NewReader(b)}
		if err := svc.rpc.Serve(context.Background(), p, remote, nil); err != nil {
			return // the stream would be reset: a frame that did not arrive whole
		}
		var resp wire.RoomResponse
		if err := wire.ReadMsg(&p.out, wire.MaxRoomFrame, &resp); err != nil {
			t.Fatalf("answer: %v", err)
		}
	})
}
