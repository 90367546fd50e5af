package authserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// regFixture is a server on 127.0.0.1 whose key the test holds, so it can
// sign tickets directly instead of paying for an OPAQUE login each time.
type regFixture struct {
	*fixture
	key crypto.PrivKey
}

// startRegistry runs a server on db (a fresh SQLite file when empty).
func startRegistry(t *testing.T, db string, clk *clock, self bool) *regFixture {
	t.Helper()
	if db == "" {
		db = filepath.Join(t.TempDir(), "auth.db")
	}
	key, err := LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{DBPath: db, Key: key, Now: clk.Now, SelfSupernode: self, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	srv.Attach(h)
	f := &fixture{db: db, clk: clk, h: h, srv: srv, info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}}
	t.Cleanup(f.stop)
	return &regFixture{fixture: f, key: key}
}

// nodeTicket signs a role-node ticket for p as user, valid from now.
func (f *regFixture) nodeTicket(t *testing.T, user string, p peer.ID) *wire.SignedTicket {
	t.Helper()
	return signed(t, f.key, ticket.Ticket{
		Username: user, Peer: p, Device: "dev", Role: ticket.RoleNode,
		Issued: f.clk.Now(), Expiry: f.clk.Now().Add(wire.TicketLifetime),
	})
}

func signed(t *testing.T, key crypto.PrivKey, tk ticket.Ticket) *wire.SignedTicket {
	t.Helper()
	st, err := ticket.Sign(key, tk)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recordOf is h's signed peer record.
func recordOf(t *testing.T, h host.Host) []byte {
	t.Helper()
	b, err := ticket.SealRecord(h.Peerstore().PrivKey(h.ID()), peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call sends one registry request from c and returns the answer.
func (f *regFixture) call(t *testing.T, c host.Host, req *wire.RegistryRequest) *wire.RegistryResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx, f.info); err != nil {
		t.Fatal(err)
	}
	st, err := c.NewStream(ctx, f.info.ID, wire.ProtoRegistry)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(st, req); err != nil {
		t.Fatal(err)
	}
	var resp wire.RegistryResponse
	if err := wire.ReadMsg(st, wire.MaxRegistryFrame, &resp); err != nil {
		t.Fatalf("reading registry response: %v", err)
	}
	return &resp
}

func (f *regFixture) heartbeat(t *testing.T, c host.Host, st *wire.SignedTicket, rec []byte) *wire.RegistryResponse {
	t.Helper()
	return f.call(t, c, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{Ticket: st, PeerRecord: rec}}})
}

// list returns the peer IDs listed to c holding st, failing on an error code.
func (f *regFixture) list(t *testing.T, c host.Host, st *wire.SignedTicket) []peer.ID {
	t.Helper()
	resp := f.call(t, c, &wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: st}}})
	if resp.Error != "" {
		t.Fatalf("list: %q", resp.Error)
	}
	return f.verifyInfos(t, resp.Supernodes)
}

// verifyInfos checks every entry as a client would and returns their peers.
func (f *regFixture) verifyInfos(t *testing.T, infos []*wire.SupernodeInfo) []peer.ID {
	t.Helper()
	var ids []peer.ID
	for _, in := range infos {
		tk, err := ticket.Verify(f.srv.ID(), in.Ticket, f.clk.Now())
		if err != nil || tk.Role != ticket.RoleSupernode {
			t.Fatalf("listed ticket: %v, role %v", err, tk)
		}
		rec, err := ticket.VerifyRecord(tk.Peer, in.PeerRecord)
		if err != nil || len(rec.Addrs) == 0 {
			t.Fatalf("listed record of %s: %v", tk.Peer, err)
		}
		ids = append(ids, tk.Peer)
	}
	return ids
}

// TestRegistryHeartbeatAndList: a heartbeat with a valid operator ticket
// returns a role-supernode ticket, and the supernode is then listed to any
// ticket holder, and in the result of every login and renewal.
func TestRegistryHeartbeatAndList(t *testing.T) { forEngines(t, testRegistryHeartbeatAndList) }

func testRegistryHeartbeatAndList(t *testing.T, db string) {
	f := startRegistry(t, db, &clock{t: time.Now()}, false)
	sn := newClient(t)
	box := bytes.Repeat([]byte{7}, 32)
	op := signed(t, f.key, ticket.Ticket{Username: "operator", Peer: sn.ID(), Device: "rack-1", Role: ticket.RoleNode,
		BoxKey: box, Issued: f.clk.Now(), Expiry: f.clk.Now().Add(wire.TicketLifetime)})

	resp := f.heartbeat(t, sn, op, recordOf(t, sn))
	if resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	st, err := ticket.VerifyFor(f.srv.ID(), sn.ID(), resp.SupernodeTicket, f.clk.Now())
	if err != nil {
		t.Fatalf("supernode ticket: %v", err)
	}
	if st.Role != ticket.RoleSupernode || st.Username != "operator" || st.Device != "rack-1" || !bytes.Equal(st.BoxKey, box) ||
		st.Expiry.Unix() != f.clk.Now().Add(wire.SupernodeTicketLifetime).Unix() {
		t.Fatalf("supernode ticket %+v", st)
	}

	// Any ticket holder lists it, with its addresses.
	bob := newClient(t)
	if got := f.list(t, bob, f.nodeTicket(t, "bob", bob.ID())); !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("listed %v, want %v", got, sn.ID())
	}

	// A real login carries it, and so does a renewal.
	if code := register(t, bob, f.fixture, "bob", "pw"); code != "" {
		t.Fatalf("register: %q", code)
	}
	lr := loginResult(t, bob, f.fixture, "bob", "pw")
	if got := f.verifyInfos(t, lr.Supernodes); !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("login result lists %v, want %v", got, sn.ID())
	}
	ast := stream(t, bob, f.fixture)
	send(t, ast, &wire.AuthRequest{Kind: &wire.AuthRequest_Renew{Renew: &wire.Renew{Ticket: lr.Ticket}}})
	r, ok := recv(t, ast).Kind.(*wire.AuthResponse_LoginResult)
	if !ok {
		t.Fatal("renewal refused")
	}
	if got := f.verifyInfos(t, r.LoginResult.Supernodes); !slices.Equal(got, []peer.ID{sn.ID()}) {
		t.Fatalf("renewal lists %v, want %v", got, sn.ID())
	}

	// A repeated heartbeat keeps one entry and updates the addresses.
	if resp := f.heartbeat(t, sn, op, recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("second heartbeat: %q", resp.Error)
	}
	if got := f.list(t, bob, f.nodeTicket(t, "bob", bob.ID())); len(got) != 1 {
		t.Fatalf("listed %v after a second heartbeat", got)
	}
}

// loginResult runs a whole login and returns the login result.
func loginResult(t *testing.T, c host.Host, f *fixture, user, pw string) *wire.LoginResult {
	t.Helper()
	pc, _ := pake.NewClient(user)
	ke1, err := pc.LoginStart([]byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: user, Ke1: ke1}}})
	k2, ok := recv(t, st).Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		t.Fatal("no KE2")
	}
	ke3, _, err := pc.LoginFinish(k2.Ke2)
	if err != nil {
		t.Fatal(err)
	}
	send(t, st, &wire.LoginFinish{Ke3: ke3})
	lr, ok := recv(t, st).Kind.(*wire.AuthResponse_LoginResult)
	if !ok {
		t.Fatal("login refused")
	}
	return lr.LoginResult
}

// TestRegistryTTL: a supernode is listed while its last heartbeat is
// younger than wire.SupernodeTTL, and not from then on.
func TestRegistryTTL(t *testing.T) { forEngines(t, testRegistryTTL) }

func testRegistryTTL(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, db, clk, false)
	sn, bob := newClient(t), newClient(t)
	op := f.nodeTicket(t, "operator", sn.ID())
	if resp := f.heartbeat(t, sn, op, recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	bt := f.nodeTicket(t, "bob", bob.ID())

	clk.Advance(wire.SupernodeTTL - time.Second)
	if got := f.list(t, bob, bt); len(got) != 1 {
		t.Fatalf("listed %v just before the TTL", got)
	}
	clk.Advance(time.Second)
	if got := f.list(t, bob, bt); len(got) != 0 {
		t.Fatalf("listed %v at the TTL after the last heartbeat", got)
	}
	if got := f.srv.Supernodes(wire.MaxRegistryFrame); len(got) != 0 {
		t.Fatalf("Supernodes lists %d at the TTL", len(got))
	}
	// A heartbeat brings it back, and the TTL counts from the latest one.
	if resp := f.heartbeat(t, sn, op, recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	clk.Advance(wire.HeartbeatInterval)
	if resp := f.heartbeat(t, sn, op, recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	clk.Advance(wire.SupernodeTTL - time.Second)
	if got := f.list(t, bob, bt); len(got) != 1 {
		t.Fatalf("listed %v within the TTL of the latest heartbeat", got)
	}
}

// TestRegistryRefusals: heartbeats that must not register anything.
func TestRegistryRefusals(t *testing.T) { forEngines(t, testRegistryRefusals) }

func testRegistryRefusals(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, db, clk, false)
	sn, thief := newClient(t), newClient(t)
	op := f.nodeTicket(t, "operator", sn.ID())
	otherKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)

	// A record naming sn but signed by another key.
	forged, err := record.Seal(&peer.PeerRecord{PeerID: sn.ID(), Addrs: sn.Addrs(), Seq: 1}, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	forgedBytes, err := forged.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	noAddrs, err := ticket.SealRecord(sn.Peerstore().PrivKey(sn.ID()), peer.AddrInfo{ID: sn.ID()})
	if err != nil {
		t.Fatal(err)
	}
	snTicket := signed(t, f.key, ticket.Ticket{Username: "operator", Peer: sn.ID(), Role: ticket.RoleSupernode,
		Issued: clk.Now(), Expiry: clk.Now().Add(time.Hour)})
	expired := signed(t, f.key, ticket.Ticket{Username: "operator", Peer: sn.ID(), Role: ticket.RoleNode,
		Issued: clk.Now().Add(-2 * time.Hour), Expiry: clk.Now().Add(-time.Hour)})
	foreign := signed(t, otherKey, ticket.Ticket{Username: "operator", Peer: sn.ID(), Role: ticket.RoleNode,
		Issued: clk.Now(), Expiry: clk.Now().Add(time.Hour)})

	tests := []struct {
		name   string
		from   host.Host
		ticket *wire.SignedTicket
		rec    []byte
		code   string
	}{
		{"stolen ticket", thief, op, recordOf(t, thief), CodeUnauthorized},
		{"stolen ticket with the victim's record", thief, op, recordOf(t, sn), CodeUnauthorized},
		{"record signed by another key", sn, op, forgedBytes, CodeBadRequest},
		{"record of another peer", sn, op, recordOf(t, thief), CodeBadRequest},
		{"record without addresses", sn, op, noAddrs, CodeBadRequest},
		{"record not an envelope", sn, op, []byte("junk"), CodeBadRequest},
		{"record too large", sn, op, make([]byte, ticket.MaxPeerRecord+1), CodeBadRequest},
		{"no ticket", sn, nil, recordOf(t, sn), CodeUnauthorized},
		{"expired ticket", sn, expired, recordOf(t, sn), CodeUnauthorized},
		{"ticket of another server", sn, foreign, recordOf(t, sn), CodeUnauthorized},
		{"supernode ticket as credential", sn, snTicket, recordOf(t, sn), CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.heartbeat(t, tt.from, tt.ticket, tt.rec)
			if resp.Error != tt.code || resp.SupernodeTicket != nil {
				t.Fatalf("code %q, ticket %v; want %q and none", resp.Error, resp.SupernodeTicket != nil, tt.code)
			}
		})
	}
	if got := f.srv.Supernodes(wire.MaxRegistryFrame); len(got) != 0 {
		t.Fatalf("refused heartbeats registered %d supernodes", len(got))
	}
}

// TestRegistryStranger: listing needs a valid ticket held by the asker.
func TestRegistryStranger(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, "", clk, false)
	sn, bob, stranger := newClient(t), newClient(t), newClient(t)
	if resp := f.heartbeat(t, sn, f.nodeTicket(t, "operator", sn.ID()), recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	otherKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	for name, st := range map[string]*wire.SignedTicket{
		"no ticket":              nil,
		"someone else's ticket":  f.nodeTicket(t, "bob", bob.ID()),
		"another server's":       signed(t, otherKey, ticket.Ticket{Username: "eve", Peer: stranger.ID(), Issued: clk.Now(), Expiry: clk.Now().Add(time.Hour)}),
		"garbage":                {Ticket: []byte("x"), Signature: []byte("y")},
		"expired ticket of mine": signed(t, f.key, ticket.Ticket{Username: "eve", Peer: stranger.ID(), Issued: clk.Now().Add(-time.Hour), Expiry: clk.Now()}),
	} {
		resp := f.call(t, stranger, &wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: st}}})
		if resp.Error != CodeUnauthorized || len(resp.Supernodes) != 0 {
			t.Errorf("%s: code %q, %d supernodes; want %q and none", name, resp.Error, len(resp.Supernodes), CodeUnauthorized)
		}
	}
	// A request of no known kind.
	if resp := f.call(t, stranger, &wire.RegistryRequest{}); resp.Error != CodeBadRequest {
		t.Errorf("empty request: %q", resp.Error)
	}
}

// TestRegistrySelfSupernode: with SelfSupernode the server lists itself,
// under the reserved operator name, with a ticket and record that verify
// and its real addresses.
func TestRegistrySelfSupernode(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, "", clk, true)
	bob := newClient(t)
	resp := f.call(t, bob, &wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: f.nodeTicket(t, "bob", bob.ID())}}})
	if resp.Error != "" || len(resp.Supernodes) != 1 {
		t.Fatalf("list: %q, %d entries", resp.Error, len(resp.Supernodes))
	}
	in := resp.Supernodes[0]
	st, err := ticket.Verify(f.srv.ID(), in.Ticket, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Peer != f.srv.ID() || st.Username != SelfUsername || st.Role != ticket.RoleSupernode {
		t.Fatalf("self ticket %+v", st)
	}
	rec, err := ticket.VerifyRecord(f.srv.ID(), in.PeerRecord)
	if err != nil {
		t.Fatal(err)
	}
	if !sameAddrs(rec.Addrs, f.h.Addrs()) {
		t.Fatalf("self record %v, host %v", rec.Addrs, f.h.Addrs())
	}
	// The ticket is reused, not signed per request, until half its life is gone.
	again := f.srv.Supernodes(wire.MaxRegistryFrame)
	if len(again) != 1 || !proto.Equal(again[0].Ticket, in.Ticket) {
		t.Fatal("self ticket re-signed at once")
	}
	clk.Advance(wire.SupernodeTicketLifetime/2 + time.Second)
	later := f.srv.Supernodes(wire.MaxRegistryFrame)
	if st2, err := ticket.Verify(f.srv.ID(), later[0].Ticket, clk.Now()); err != nil || !st2.Expiry.After(st.Expiry) {
		t.Fatalf("self ticket not renewed: %v", err)
	}
	// And a login carries it.
	if code := register(t, bob, f.fixture, "bob", "pw"); code != "" {
		t.Fatal(code)
	}
	if got := f.verifyInfos(t, loginResult(t, bob, f.fixture, "bob", "pw").Supernodes); !slices.Equal(got, []peer.ID{f.srv.ID()}) {
		t.Fatalf("login lists %v", got)
	}
}

func sameAddrs(a, b []ma.Multiaddr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// registryExchange runs req through the registry's pipeline as if sent by
// remote, without a host.
func (s *Server) registryExchange(t *testing.T, req *wire.RegistryRequest, remote peer.ID) *wire.RegistryResponse {
	t.Helper()
	var in, out bytes.Buffer
	if err := wire.WriteMsg(&in, req); err != nil {
		t.Fatal(err)
	}
	if err := s.registryRPC.Serve(context.Background(), struct {
		io.Reader
		io.Writer
	}{&in, &out}, remote, nil); err != nil {
		t.Fatalf("registry exchange: %v", err)
	}
	var resp wire.RegistryResponse
	if err := wire.ReadMsg(&out, wire.MaxRegistryFrame, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// fakeSupernode registers a supernode with a fresh key straight through
// processRegistry, without a host.
func fakeSupernode(t *testing.T, f *regFixture, user string) peer.ID {
	t.Helper()
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(k)
	rec, err := ticket.SealRecord(k, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/1865"), ma.StringCast("/ip4/192.0.2.1/udp/1865/quic-v1")}})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.srv.registryExchange(t, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{
		Ticket: f.nodeTicket(t, user, id), PeerRecord: rec}}}, id)
	if resp.Error != "" {
		t.Fatalf("heartbeat of %s: %q", user, resp.Error)
	}
	return id
}

// TestRegistryLimits: one account runs at most MaxSupernodesPerUser, and a
// login result holding many supernodes still fits in one auth frame, listing
// the same (lowest-ID) subset to everyone.
func TestRegistryLimits(t *testing.T) { forEngines(t, testRegistryLimits) }

func testRegistryLimits(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, db, clk, false)
	for range MaxSupernodesPerUser {
		fakeSupernode(t, f, "fleet")
	}
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(k)
	rec, _ := ticket.SealRecord(k, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/1865")}})
	resp := f.srv.registryExchange(t, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{
		Ticket: f.nodeTicket(t, "fleet", id), PeerRecord: rec}}}, id)
	if resp.Error != CodeTooMany {
		t.Fatalf("supernode %d of one account: %q, want %q", MaxSupernodesPerUser+1, resp.Error, CodeTooMany)
	}

	var all []peer.ID
	for i := range 100 {
		all = append(all, fakeSupernode(t, f, "op"+string(rune('a'+i/26))+string(rune('a'+i%26))))
	}
	if n := len(f.srv.Supernodes(wire.MaxRegistryFrame)); n != 100+MaxSupernodesPerUser {
		t.Fatalf("listed %d of %d", n, 100+MaxSupernodesPerUser)
	}

	lr := &wire.LoginResult{Ticket: f.nodeTicket(t, "bob", id), Rendezvous: []string{"/ip4/192.0.2.1/tcp/1864/p2p/" + f.srv.ID().String()}}
	var err error
	if lr.Supernodes, err = f.srv.loginSupernodes(context.Background(), lr); err != nil {
		t.Fatal(err)
	}
	size := proto.Size(&wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}})
	if size > wire.MaxAuthFrame {
		t.Fatalf("login result %d bytes, limit %d", size, wire.MaxAuthFrame)
	}
	if len(lr.Supernodes) == 0 || len(lr.Supernodes) == 100+MaxSupernodesPerUser {
		t.Fatalf("login result lists %d: expected a strict, non-empty subset for this test to mean anything", len(lr.Supernodes))
	}
	got := f.verifyInfos(t, lr.Supernodes)
	if !slices.IsSorted(got) {
		t.Fatal("the subset is not the lowest peer IDs")
	}
	// Decoding through a real frame reader at the limit works.
	var buf bytes.Buffer
	if err := wire.WriteMsg(&buf, &wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}}); err != nil {
		t.Fatal(err)
	}
	var back wire.AuthResponse
	if err := wire.ReadMsg(&buf, wire.MaxAuthFrame, &back); err != nil {
		t.Fatalf("login result does not pass the client's frame limit: %v", err)
	}
}

// TestRegistryMalformed: bad frames get bad_request and change nothing.
func TestRegistryMalformed(t *testing.T) {
	f := startRegistry(t, "", &clock{t: time.Now()}, false)
	c := newClient(t)
	for name, raw := range map[string][]byte{
		"oversized frame": binary.AppendUvarint(nil, wire.MaxRegistryFrame+1),
		"not protobuf":    frame([]byte{0xff, 0xff, 0xff}),
		"no kind":         frame(nil),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Connect(ctx, f.info); err != nil {
			t.Fatal(err)
		}
		st, err := c.NewStream(ctx, f.info.ID, wire.ProtoRegistry)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(10 * time.Second))
		st.Write(raw)
		st.CloseWrite()
		var resp wire.RegistryResponse
		err = wire.ReadMsg(st, wire.MaxRegistryFrame, &resp)
		st.Reset()
		if err != nil || resp.Error != CodeBadRequest {
			t.Errorf("%s: %v, %q", name, err, resp.Error)
		}
	}
	if got := f.srv.Supernodes(wire.MaxRegistryFrame); len(got) != 0 {
		t.Fatal("malformed requests registered something")
	}
}

// FuzzRegistryRequest feeds arbitrary bytes to the registry as the content
// of a stream: it answers or fails cleanly, and registers nothing unless it
// answered with a supernode ticket.
func FuzzRegistryRequest(f *testing.F) {
	dir := f.TempDir()
	db := filepath.Join(dir, "auth.db")
	key, err := LoadOrCreateKey(db)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	s, err := New(Config{DBPath: db, Key: key, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()

	snKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	snID, _ := peer.IDFromPrivateKey(snKey)
	rec, _ := ticket.SealRecord(snKey, peer.AddrInfo{ID: snID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/1865")}})
	st, _ := ticket.Sign(key, ticket.Ticket{Username: "op", Peer: snID, Role: ticket.RoleNode, Issued: now, Expiry: now.Add(time.Hour)})
	f.Add(frame(marshal(&wire.RegistryRequest{Kind: &wire.RegistryRequest_Heartbeat{Heartbeat: &wire.Heartbeat{Ticket: st, PeerRecord: rec}}})))
	f.Add(frame(marshal(&wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: st}}})))
	f.Add(frame(marshal(&wire.RegistryRequest{Kind: &wire.RegistryRequest_Revocations{Revocations: &wire.FetchRevocations{Ticket: st, Since: 7}}})))
	f.Add([]byte{})
	f.Add(binary.AppendUvarint(nil, wire.MaxRegistryFrame+1))

	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := s.store.(*sqlStore).db.Exec("DELETE FROM supernodes"); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := s.registryRPC.Serve(context.Background(), struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), &out}, snID, nil)
		if err != nil && out.Len() == 0 && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("failed without an answer: %v", err)
		}
		var resp wire.RegistryResponse
		if out.Len() > 0 {
			if err := wire.ReadMsg(&out, wire.MaxRegistryFrame, &resp); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
		}
		n, err := s.LiveSupernodes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 && resp.SupernodeTicket == nil {
			t.Fatalf("registered %d supernodes without issuing a ticket", n)
		}
	})
}
