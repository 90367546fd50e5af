package pipeline

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

const testPipelined = protocol.ID("/eserver-test/pipelined/1")

// pipelinedFixture edits the fixture for many refusals on one stream: a
// plain Refuse, and revocation by the flag revoked (nil: none).
func pipelinedFixture(revoked *atomic.Bool) func(*fixture) {
	return func(f *fixture) {
		f.svc.Refuse = func(_ *req, r Refusal) *resp { return &resp{Error: r.Code} }
		f.svc.Auth.Revoked = RevokedPeers(func(peer.ID) bool { return revoked != nil && revoked.Load() })
	}
}

// TestServePipelined: requests written on one stream without waiting are
// each run through every stage and answered in order — refusals (a frame
// that does not decode, a wrong role, a revoked device, an expired ticket)
// in their turn without ending the stream — and a stream on which no
// request begins for Pipelining.Idle ends cleanly.
func TestServePipelined(t *testing.T) {
	var revoked atomic.Bool
	f := newFixture(t, pipelinedFixture(&revoked))
	const idle = 300 * time.Millisecond
	f.l.Handle(f.server, testPipelined, time.Minute, func(ctx context.Context, s network.Stream) error {
		return f.svc.ServePipelined(ctx, s, s.Conn().RemotePeer(), nil, Pipelining{InFlight: 4, Idle: idle})
	})
	good := getReq(sign(t, f.auth, f.client.ID(), "", f.now, f.now.Add(time.Hour)))
	expired := getReq(sign(t, f.auth, f.client.ID(), "", f.now.Add(-2*time.Hour), f.now.Add(-time.Hour)))
	wrongRole := &req{Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{
		Ticket: sign(t, f.auth, f.client.ID(), ticket.RoleNode, f.now, f.now.Add(time.Hour))}}}
	s, err := f.client.NewStream(context.Background(), f.server.ID(), testPipelined)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	steps := []struct {
		raw  []byte
		want string
	}{
		{frame(t, good), ""},
		{[]byte{2, 0, 0}, CodeBadRequest},
		{frame(t, wrongRole), CodeUnauthorized},
		{frame(t, expired), CodeUnauthorized},
		{frame(t, &req{}), CodeBadRequest},
		{frame(t, good), ""},
	}
	for _, st := range steps {
		if _, err := s.Write(st.raw); err != nil {
			t.Fatal(err)
		}
	}
	for i, st := range steps {
		var r resp
		if err := wire.ReadMsg(s, 4<<10, &r); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if r.Error != st.want || (st.want == "" && r.Version != 7) {
			t.Fatalf("answer %d: %v, want code %q", i, &r, st.want)
		}
	}
	if got := f.processed.Load(); got != 2 {
		t.Fatalf("%d requests processed, want the 2 good ones", got)
	}
	// A revoked device's next request on the same stream is refused.
	revoked.Store(true)
	if _, err := s.Write(frame(t, good)); err != nil {
		t.Fatal(err)
	}
	var r resp
	if err := wire.ReadMsg(s, 4<<10, &r); err != nil || r.Error != CodeUnauthorized {
		t.Fatalf("request of a device revoked mid-stream: %v %v", &r, err)
	}
	// Idle: the server ends the stream (closes it, not a reset).
	if err := wire.ReadMsg(s, 4<<10, &r); !errors.Is(err, io.EOF) {
		t.Fatalf("after %v idle: %v, want EOF", idle, err)
	}
}

// TestServePipelinedBudget: each request read and not yet answered holds
// its frame in the budget; once answered, everything is given back.
func TestServePipelinedBudget(t *testing.T) {
	f := newFixture(t, pipelinedFixture(nil))
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // before the listener's Close waits for the handler
	f.svc.Begin = func(ctx context.Context, r *Request[*req]) Finish[*resp] {
		return func() (*resp, error) {
			<-release
			return &resp{Version: 7}, nil
		}
	}
	f.l.Handle(f.server, testPipelined, time.Minute, func(ctx context.Context, s network.Stream) error {
		return f.svc.ServePipelined(ctx, s, s.Conn().RemotePeer(), nil, Pipelining{InFlight: 3, Idle: time.Minute})
	})
	s, err := f.client.NewStream(context.Background(), f.server.ID(), testPipelined)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	r := getReq(sign(t, f.auth, f.client.ID(), "", f.now, f.now.Add(time.Hour)))
	good, body := frame(t, r), int64(proto.Size(r))
	for range 5 {
		if _, err := s.Write(good); err != nil {
			t.Fatal(err)
		}
	}
	// Three are read (the bound), none answered: three frames held.
	eventually(t, "three requests held", func() bool { return f.svc.budget().Stats().InUse == 3*body })
	open()
	for i := range 5 {
		var r resp
		if err := wire.ReadMsg(s, 4<<10, &r); err != nil || r.Version != 7 {
			t.Fatalf("answer %d: %v %v", i, &r, err)
		}
	}
	_ = s.CloseWrite()
	eventually(t, "budget given back", func() bool { return f.svc.budget().Stats().InUse == 0 })
}
