package client

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/proto"

	"eserver/authserver"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/internal/sntest"
)

// authEnv is a real auth server (with its registry) on 127.0.0.1; the test
// holds its key to sign operator tickets without OPAQUE logins.
type authEnv struct {
	key  crypto.PrivKey
	h    host.Host
	srv  *authserver.Server
	info peer.AddrInfo
}

func newAuthEnv(t *testing.T, self bool) *authEnv {
	t.Helper()
	db := filepath.Join(t.TempDir(), "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, SelfSupernode: self, Logger: slog.New(slog.DiscardHandler), RegisterRate: -1})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	srv.Attach(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return &authEnv{key: key, h: h, srv: srv, info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}}
}

// client is a host that knows the auth server, with a node ticket as user.
func (a *authEnv) client(t *testing.T, user string) (host.Host, *wire.SignedTicket) {
	t.Helper()
	h := sntest.Host(t)
	h.Peerstore().AddAddrs(a.info.ID, a.info.Addrs, peerstore.PermanentAddrTTL)
	now := time.Now()
	return h, sntest.SignTicket(t, a.key, user, h.ID(), now, now.Add(wire.TicketLifetime))
}

func TestHeartbeatAndList(t *testing.T) {
	a := newAuthEnv(t, false)
	sn, op := a.client(t, "operator")
	ctx := sntest.Ctx(t)

	st, err := Heartbeat(ctx, sn, a.info.ID, op)
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != ticket.RoleSupernode || st.Peer != sn.ID() || st.Username != "operator" {
		t.Fatalf("supernode ticket %+v", st)
	}

	bob, bt := a.client(t, "bob")
	list, err := ListSupernodes(ctx, bob, a.info.ID, bt)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Addrs.ID != sn.ID() || len(list[0].Addrs.Addrs) != len(sn.Addrs()) || list[0].Ticket.Role != ticket.RoleSupernode {
		t.Fatalf("listed %+v", list)
	}
	// The listed addresses are dialable.
	if err := bob.Connect(ctx, list[0].Addrs); err != nil {
		t.Fatalf("dialing the listed supernode: %v", err)
	}

	// A stranger without a valid ticket gets a clear error.
	eve := sntest.Host(t)
	eve.Peerstore().AddAddrs(a.info.ID, a.info.Addrs, peerstore.PermanentAddrTTL)
	if _, err := ListSupernodes(ctx, eve, a.info.ID, bt); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("stranger listing: %v", err)
	}
	if _, err := Heartbeat(ctx, eve, a.info.ID, op); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("heartbeat with a stolen ticket: %v", err)
	}
}

// TestParseSupernodes: entries that do not verify are dropped.
func TestParseSupernodes(t *testing.T) {
	a := newAuthEnv(t, true)
	sn, op := a.client(t, "operator")
	ctx := sntest.Ctx(t)
	if _, err := Heartbeat(ctx, sn, a.info.ID, op); err != nil {
		t.Fatal(err)
	}
	good := a.srv.Supernodes(wire.MaxRegistryFrame)
	if len(good) != 2 {
		t.Fatalf("%d entries, want the server and one supernode", len(good))
	}
	got := ParseSupernodes(a.info.ID, good)
	if len(got) != 2 {
		t.Fatalf("parsed %d of 2 good entries", len(got))
	}
	ids := map[peer.ID]string{}
	for _, s := range got {
		ids[s.Addrs.ID] = s.Ticket.Username
	}
	if ids[a.info.ID] != authserver.SelfUsername || ids[sn.ID()] != "operator" {
		t.Fatalf("parsed %v", ids)
	}

	now := time.Now()
	other := sntest.Key(t)
	bad := func(f func(in *wire.SupernodeInfo)) *wire.SupernodeInfo {
		in := proto.Clone(good[1]).(*wire.SupernodeInfo)
		f(in)
		return in
	}
	entries := []*wire.SupernodeInfo{
		bad(func(in *wire.SupernodeInfo) { in.Ticket.Signature[0] ^= 1 }),
		bad(func(in *wire.SupernodeInfo) { in.Ticket = op }), // a node ticket, not a supernode's
		bad(func(in *wire.SupernodeInfo) { in.PeerRecord = good[0].PeerRecord }),
		bad(func(in *wire.SupernodeInfo) { in.PeerRecord = nil }),
		bad(func(in *wire.SupernodeInfo) {
			in.Ticket, _ = ticket.Sign(other, ticket.Ticket{Username: "x", Peer: sn.ID(), Role: ticket.RoleSupernode, Issued: now, Expiry: now.Add(time.Hour)})
		}),
		bad(func(in *wire.SupernodeInfo) {
			in.Ticket, _ = ticket.Sign(a.key, ticket.Ticket{Username: "x", Peer: sn.ID(), Role: ticket.RoleSupernode, Issued: now.Add(-2 * time.Hour), Expiry: now.Add(-time.Hour)})
		}),
		nil,
		good[1],
		good[1], // a repeat counts once
	}
	if got := ParseSupernodes(a.info.ID, entries); len(got) != 1 || got[0].Addrs.ID != sn.ID() {
		t.Fatalf("parsed %+v, want only the one good entry", got)
	}
}

// TestHeartbeater: Serve registers at once, keeps the entry alive past the
// TTL, exposes the ticket and returns when its context ends.
func TestHeartbeater(t *testing.T) {
	a := newAuthEnv(t, false)
	sn, op := a.client(t, "operator")
	hb := &Heartbeater{Host: sn, Auth: a.info.ID, Ticket: func() *wire.SignedTicket { return op }, Interval: 200 * time.Millisecond}
	if hb.SupernodeTicket() != nil {
		t.Fatal("ticket before the first heartbeat")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hb.Serve(ctx) }()
	select {
	case <-hb.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no first heartbeat")
	}
	if st := hb.SupernodeTicket(); st == nil || st.Role != ticket.RoleSupernode {
		t.Fatalf("ticket %+v", st)
	}
	if n := len(a.srv.Supernodes(wire.MaxRegistryFrame)); n != 1 {
		t.Fatalf("%d listed", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}

	// Failures are survived: a heartbeater whose server refuses it keeps
	// going and is never ready.
	bad := &Heartbeater{Host: sn, Auth: a.info.ID, Ticket: func() *wire.SignedTicket { return nil }, Interval: 50 * time.Millisecond}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := bad.Serve(ctx); err != nil {
		t.Fatalf("Serve with failing heartbeats: %v", err)
	}
	select {
	case <-bad.Ready():
		t.Fatal("ready without a successful heartbeat")
	default:
	}
}
