package authserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	db   string
	clk  *clock
	h    host.Host
	srv  *Server
	info peer.AddrInfo
}

// start runs a server on db (a fresh file when empty) on 127.0.0.1.
func start(t testing.TB, db string, clk *clock) *fixture {
	t.Helper()
	return startOn(t, db, clk, nil)
}

// startOn runs a server on db (a fresh file when empty) on 127.0.0.1, its
// Config changed by mod (when not nil). The host has the resource limits
// eserver-auth runs with, so the attack tests meet the limits a stranger
// meets.
func startOn(t testing.TB, db string, clk *clock, mod func(*Config)) *fixture {
	t.Helper()
	if db == "" {
		db = filepath.Join(t.TempDir(), "auth.db")
	}
	key, err := LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	return startKeyed(t, db, key, clk, func(c *Config) {
		c.Now = clk.Now
		if mod != nil {
			mod(c)
		}
	})
}

// startKeyed runs a server on db signing with key, on a host of its own
// on 127.0.0.1 with the resource limits eserver-auth runs with, its
// Config changed by mod (when not nil).
func startKeyed(t testing.TB, db string, key crypto.PrivKey, clk *clock, mod func(*Config)) *fixture {
	t.Helper()
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"}, res)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DBPath: db, Key: key, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	srv.Attach(h)
	f := &fixture{db: db, clk: clk, h: h, srv: srv, info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}}
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) stop() {
	f.srv.Close()
	f.h.Close()
}

func newClient(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func stream(t *testing.T, c host.Host, f *fixture) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx, f.info); err != nil {
		t.Fatal(err)
	}
	st, err := c.NewStream(ctx, f.info.ID, wire.ProtoAuth)
	if err != nil {
		t.Fatal(err)
	}
	// Generous: a registration or login stretches the password with
	// Argon2id (64 MiB) at both ends, which under -race on a loaded
	// 2-core machine took over 10 s (TestRegistrationThrottle, once).
	st.SetDeadline(time.Now().Add(45 * time.Second))
	t.Cleanup(func() { st.Reset() })
	return st
}

func send(t *testing.T, st network.Stream, m proto.Message) {
	t.Helper()
	if err := wire.WriteMsg(st, m); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, st network.Stream) *wire.AuthResponse {
	t.Helper()
	var r wire.AuthResponse
	if err := wire.ReadMsg(st, wire.MaxAuthFrame, &r); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return &r
}

func errCode(r *wire.AuthResponse) string {
	if e, ok := r.Kind.(*wire.AuthResponse_Error); ok {
		return e.Error.Code
	}
	return ""
}

// register runs a whole registration with the pake client directly.
func register(t *testing.T, c host.Host, f *fixture, user, pw string) string {
	t.Helper()
	pc, _ := pake.NewClient(user)
	req, err := pc.RegistrationStart([]byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{RegisterStart: &wire.RegisterStart{Username: user, RegistrationRequest: req}}})
	r := recv(t, st)
	rr, ok := r.Kind.(*wire.AuthResponse_RegistrationResponse)
	if !ok {
		return errCode(r)
	}
	rec, err := pc.RegistrationFinish(rr.RegistrationResponse)
	if err != nil {
		t.Fatal(err)
	}
	send(t, st, &wire.RegisterFinish{RegistrationRecord: rec})
	return errCode(recv(t, st))
}

// loginStart begins an OPAQUE login for user with pw; a nil pw starts
// one with a password that is not the account's.
func loginStart(t *testing.T, user string, pw []byte) (*pake.Client, []byte) {
	t.Helper()
	pc, _ := pake.NewClient(user)
	ke1, err := pc.LoginStart(append([]byte("x"), pw...))
	if err != nil {
		t.Fatal(err)
	}
	if pw != nil {
		pc, _ = pake.NewClient(user)
		if ke1, err = pc.LoginStart(pw); err != nil {
			t.Fatal(err)
		}
	}
	return pc, ke1
}

// login runs a login. With a nil password it sends a forged KE3 instead of
// computing one, which fails at the server without the client's Argon2 work.
// It returns the error code, or "" and the ticket.
func login(t *testing.T, c host.Host, f *fixture, user string, pw []byte) (string, *wire.SignedTicket) {
	t.Helper()
	pc, ke1 := loginStart(t, user, pw)
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: user, Ke1: ke1, Device: "dev"}}})
	r := recv(t, st)
	k2, ok := r.Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		return errCode(r), nil
	}
	ke3 := make([]byte, 64)
	if pw != nil {
		var err error
		if ke3, _, err = pc.LoginFinish(k2.Ke2); err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	send(t, st, &wire.LoginFinish{Ke3: ke3})
	r = recv(t, st)
	if lr, ok := r.Kind.(*wire.AuthResponse_LoginResult); ok {
		return "", lr.LoginResult.Ticket
	}
	return errCode(r), nil
}

func frame(b []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(b))), b...) }

func marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMalformed(t *testing.T) {
	f := start(t, "", &clock{t: time.Now()})
	c := newClient(t)
	loginStart := func(m *wire.LoginStart) []byte {
		return frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: m}}))
	}
	kc, _ := pake.NewClient("bob")
	ke1, err := kc.LoginStart([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"oversized frame", binary.AppendUvarint(nil, wire.MaxAuthFrame+1)},
		{"huge length", binary.AppendUvarint(nil, 1<<62)},
		{"bad varint", bytes.Repeat([]byte{0xff}, 11)},
		{"not protobuf", frame([]byte{0xff, 0xff, 0xff})},
		{"no kind", frame(nil)},
		{"bad username", loginStart(&wire.LoginStart{Username: "Bob", Ke1: make([]byte, 96)})},
		{"long username", loginStart(&wire.LoginStart{Username: string(bytes.Repeat([]byte{'a'}, wire.MaxUsername+1))})},
		{"bad box key", loginStart(&wire.LoginStart{Username: "bob", BoxKey: make([]byte, 31)})},
		{"long device", loginStart(&wire.LoginStart{Username: "bob", Device: string(bytes.Repeat([]byte{'d'}, MaxDevice+1))})},
		// With a well-formed KE1: only the name is wrong.
		{"device with a NUL", loginStart(&wire.LoginStart{Username: "bob", Ke1: ke1, Device: "lap\x00top"})},
		{"bad KE1", loginStart(&wire.LoginStart{Username: "bob", Ke1: make([]byte, 96)})},
		{"bad registration request", frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{
			RegisterStart: &wire.RegisterStart{Username: "bob", RegistrationRequest: []byte{1}}}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream(t, c, f)
			if _, err := st.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			if got := errCode(recv(t, st)); got != CodeBadRequest {
				t.Fatalf("code %q, want %q", got, CodeBadRequest)
			}
		})
	}
	// Limits hold exactly at the limit.
	if err := ValidUsername(string(bytes.Repeat([]byte{'a'}, wire.MaxUsername))); err != nil {
		t.Errorf("username at the limit: %v", err)
	}
	// The server still works, and a malformed record changes nothing.
	st := stream(t, c, f)
	pc, _ := pake.NewClient("bob")
	req, _ := pc.RegistrationStart([]byte("pw"))
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{RegisterStart: &wire.RegisterStart{Username: "bob", RegistrationRequest: req}}})
	recv(t, st)
	send(t, st, &wire.RegisterFinish{RegistrationRecord: []byte("junk")})
	if got := errCode(recv(t, st)); got != CodeBadRequest {
		t.Fatalf("junk record: %q", got)
	}
	if got := register(t, c, f, "bob", "pw"); got != "" {
		t.Fatalf("register after bad input: %q", got)
	}
}

func TestLoginRateLimit(t *testing.T) { forEngines(t, testLoginRateLimit) }

func testLoginRateLimit(t *testing.T, db string) {
	f := start(t, db, &clock{t: time.Now()})
	// c is the owner's new device; a the attacker's.
	c, a := newClient(t), newClient(t)
	if got := register(t, c, f, "alice", "right"); got != "" {
		t.Fatal(got)
	}
	// A success forgets only itself: the failures before it still count,
	// so an attacker gains nothing from the owner's logins in between.
	for range DefaultMaxFailures - 1 {
		if got, _ := login(t, a, f, "alice", nil); got != CodeLoginFailed {
			t.Fatalf("forged KE3: %q", got)
		}
	}
	if got, _ := login(t, c, f, "alice", []byte("right")); got != "" {
		t.Fatalf("right password: %q", got)
	}
	if got, _ := login(t, a, f, "alice", nil); got != CodeLoginFailed {
		t.Fatalf("fifth failure: %q", got)
	}
	if got, _ := login(t, a, f, "alice", nil); got != CodeRateLimited {
		t.Fatalf("sixth failure, after a success in between: %q", got)
	}
	f.clk.Advance(DefaultFailureWindow)
	for _, user := range []string{"alice", "ghost"} {
		for i := range DefaultMaxFailures {
			if got, _ := login(t, a, f, user, nil); got != CodeLoginFailed {
				t.Fatalf("%s attempt %d: %q", user, i+1, got)
			}
		}
		if got, _ := login(t, a, f, user, nil); got != CodeRateLimited {
			t.Fatalf("%s sixth attempt: %q", user, got)
		}
	}
	// Per address: other names from the same address until its limit.
	f.clk.Advance(DefaultFailureWindow)
	for i := range DefaultMaxAddrFailures {
		user := "user" + string(rune('a'+i))
		if got, _ := login(t, a, f, user, nil); got != CodeLoginFailed {
			t.Fatalf("address attempt %d: %q", i+1, got)
		}
	}
	if got, _ := login(t, a, f, "fresh", nil); got != CodeRateLimited {
		t.Fatalf("address over its limit: %q", got)
	}
	f.clk.Advance(DefaultFailureWindow)
	if got, _ := login(t, c, f, "alice", []byte("right")); got != "" {
		t.Fatalf("after the window: %q", got)
	}
}

// A client that learns from KE2 that its guess was wrong and hangs up still
// spends one of its attempts.
func TestAbandonedLoginCounts(t *testing.T) { forEngines(t, testAbandonedLoginCounts) }

func testAbandonedLoginCounts(t *testing.T, db string) {
	f := start(t, db, &clock{t: time.Now()})
	c := newClient(t)
	for range DefaultMaxFailures {
		pc, _ := pake.NewClient("ghost")
		ke1, _ := pc.LoginStart([]byte("guess"))
		st := stream(t, c, f)
		send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: "ghost", Ke1: ke1}}})
		if _, ok := recv(t, st).Kind.(*wire.AuthResponse_Ke2); !ok {
			t.Fatal("no KE2")
		}
		st.Reset()
	}
	if got, _ := login(t, c, f, "ghost", nil); got != CodeRateLimited {
		t.Fatalf("got %q, want rate limited", got)
	}
}

// TestRestart: an account registered before a restart signs in after it,
// its name still taken, with the same server identity — on every engine.
func TestRestart(t *testing.T) { forEngines(t, testRestart) }

func testRestart(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	c := newClient(t)
	if got := register(t, c, f, "alice", "pw"); got != "" {
		t.Fatal(got)
	}
	id := f.info.ID
	f.stop()

	g := start(t, f.db, clk)
	if g.info.ID != id {
		t.Fatalf("peer ID changed across restart: %s → %s", id, g.info.ID)
	}
	if got := register(t, c, g, "alice", "other"); got != CodeUsernameTaken {
		t.Fatalf("duplicate after restart: %q", got)
	}
	got, st := login(t, c, g, "alice", []byte("pw"))
	if got != "" {
		t.Fatalf("login after restart: %q", got)
	}
	tk, err := ticket.VerifyFor(id, c.ID(), st, time.Now())
	if err != nil || tk.Username != "alice" || tk.Device != "dev" {
		t.Fatalf("ticket %+v, %v", tk, err)
	}
}

func TestSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	st, err := openSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	db := st.db
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode: %v %v", fi.Mode(), err)
	}
	ms, _ := migrations()
	var v int
	db.QueryRow("PRAGMA user_version").Scan(&v)
	if v != len(ms) {
		t.Fatalf("user_version %d, want %d", v, len(ms))
	}
	db.Exec("PRAGMA user_version = 999")
	db.Close()
	if _, err := openSQLite(path); err == nil {
		t.Fatal("opened a database from a newer program")
	}
	if _, err := New(Config{DBPath: path}); err == nil {
		t.Fatal("New without a key")
	}
}

// FuzzDecodeRequest feeds arbitrary bytes to the server as the content of an
// auth stream: it must answer or fail cleanly, never panic or hang.
func FuzzDecodeRequest(f *testing.F) {
	pc, _ := pake.NewClient("alice")
	ke1, _ := pc.LoginStart([]byte("pw"))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: "alice", Ke1: ke1}}})))
	pc, _ = pake.NewClient("bob")
	req, _ := pc.RegistrationStart([]byte("pw"))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{RegisterStart: &wire.RegisterStart{Username: "bob", RegistrationRequest: req}}})))
	f.Add([]byte{})
	f.Add(binary.AppendUvarint(nil, wire.MaxAuthFrame+1))
	// The device and password requests: without a valid ticket, and a
	// password change whose KE3 never comes.
	pc, _ = pake.NewClient("carol")
	ke1, _ = pc.LoginStart([]byte("old"))
	rc, _ := pake.NewClient("carol")
	rreq, _ := rc.RegistrationStart([]byte("new"))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_ChangePassword{ChangePassword: &wire.ChangePassword{Username: "carol", Ke1: ke1, RegistrationRequest: rreq}}})))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_ListDevices{ListDevices: &wire.ListDevices{Ticket: &wire.SignedTicket{Ticket: []byte{1}, Signature: []byte{2}}}}})))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_RevokeDevice{RevokeDevice: &wire.RevokeDevice{Ticket: &wire.SignedTicket{Ticket: []byte{1}, Signature: []byte{2}}, PeerId: []byte("junk")}}})))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_RevokeDevice{RevokeDevice: &wire.RevokeDevice{Ticket: &wire.SignedTicket{Ticket: []byte{1}, Signature: []byte{2}}, PeerId: []byte(testPeer(f, 1)), Ke1: ke1}}})))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_LookupUser{LookupUser: &wire.LookupUser{Ticket: &wire.SignedTicket{Ticket: []byte{1}, Signature: []byte{2}}, Username: "bob"}}})))
	// A device list: well formed and signed, with a forged ticket; and
	// with its sealed key one byte over the limit.
	_, acctKey, _ := ed25519.GenerateKey(nil)
	sd, err := ticket.SignDevices(acctKey, ticket.Devices{Username: "alice", Version: 1, Devices: []ticket.Device{{Peer: testPeer(f, 2), BoxKey: make([]byte, 32)}}})
	if err != nil {
		f.Fatal(err)
	}
	forged := &wire.SignedTicket{Ticket: []byte{1}, Signature: []byte{2}}
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_PublishDevices{PublishDevices: &wire.PublishDevices{Ticket: forged, Devices: sd, AccountKeySealed: []byte("sealed")}}})))
	f.Add(frame(marshal(&wire.AuthRequest{Kind: &wire.AuthRequest_PublishDevices{PublishDevices: &wire.PublishDevices{Ticket: forged, Devices: sd, AccountKeySealed: make([]byte, wire.MaxAccountKeySealed+1)}}})))

	dir := f.TempDir()
	key, err := LoadOrCreateKey(filepath.Join(dir, "auth.db"))
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{DBPath: filepath.Join(dir, "auth.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := decodeRequest(bytes.NewReader(b)); err == nil && req.Kind == nil {
			t.Fatal("accepted a request without a kind")
		}
		var out bytes.Buffer
		err := s.serve(context.Background(), struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), &out}, peer.ID("fuzz"), ma.StringCast("/ip4/192.0.2.1/tcp/1864"))
		if err != nil && out.Len() == 0 && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("failed without an answer: %v", err)
		}
	})
}
