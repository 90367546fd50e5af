package authserver

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// ask sends one auth request from c and returns the first answer.
func ask(t *testing.T, c host.Host, f *fixture, req *wire.AuthRequest) *wire.AuthResponse {
	t.Helper()
	st := stream(t, c, f)
	send(t, st, req)
	return recv(t, st)
}

func listReq(st *wire.SignedTicket) *wire.AuthRequest {
	return &wire.AuthRequest{Kind: &wire.AuthRequest_ListDevices{ListDevices: &wire.ListDevices{Ticket: st}}}
}

func revokeReq(st *wire.SignedTicket, p peer.ID) *wire.AuthRequest {
	return &wire.AuthRequest{Kind: &wire.AuthRequest_RevokeDevice{RevokeDevice: &wire.RevokeDevice{Ticket: st, PeerId: []byte(p)}}}
}

func renewReq(st *wire.SignedTicket) *wire.AuthRequest {
	return &wire.AuthRequest{Kind: &wire.AuthRequest_Renew{Renew: &wire.Renew{Ticket: st}}}
}

// devicesOf lists the devices c sees with its ticket st, failing on an error.
func devicesOf(t *testing.T, c host.Host, f *fixture, st *wire.SignedTicket) map[peer.ID]*wire.Device {
	t.Helper()
	r := ask(t, c, f, listReq(st))
	dl, ok := r.Kind.(*wire.AuthResponse_Devices)
	if !ok {
		t.Fatalf("list devices: %q", errCode(r))
	}
	out := map[peer.ID]*wire.Device{}
	for _, d := range dl.Devices.Devices {
		out[peer.ID(d.PeerId)] = d
	}
	if int(dl.Devices.Total) != len(out) {
		t.Fatalf("total %d, listed %d", dl.Devices.Total, len(out))
	}
	return out
}

// TestDevices: logins and renewals record devices; any device of an account
// lists them all and may revoke any of them; a revoked peer ID never gets a
// ticket again, whatever account or password it tries, and its unexpired
// ticket is refused by the auth server's own services. On every engine.
func TestDevices(t *testing.T) { forEngines(t, testDevices) }

func testDevices(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	laptop, phone, bobs := newClient(t), newClient(t), newClient(t)
	for _, u := range []string{"alice", "bob"} {
		if got := register(t, laptop, f, u, "pw-"+u); got != "" {
			t.Fatal(got)
		}
	}
	login1 := func(c host.Host, user string) *wire.SignedTicket {
		t.Helper()
		code, st := login(t, c, f, user, []byte("pw-"+user))
		if code != "" {
			t.Fatalf("login %s: %q", user, code)
		}
		return st
	}
	lt := login1(laptop, "alice")
	clk.Advance(time.Minute)
	pt := login1(phone, "alice")
	bt := login1(bobs, "bob")

	devs := devicesOf(t, laptop, f, lt)
	if len(devs) != 2 || devs[laptop.ID()] == nil || devs[phone.ID()] == nil {
		t.Fatalf("alice's devices: %v", devs)
	}
	if d := devs[laptop.ID()]; !d.Current || d.Name != "dev" || d.RevokedUnix != 0 || d.FirstLoginUnix != clk.Now().Add(-time.Minute).Unix() {
		t.Fatalf("laptop listed as %v", d)
	}
	if devs[phone.ID()].Current {
		t.Fatal("phone listed as the current device of the laptop's request")
	}
	// A renewal refreshes last seen, not first login.
	clk.Advance(time.Hour)
	r := ask(t, phone, f, renewReq(pt))
	if lr, ok := r.Kind.(*wire.AuthResponse_LoginResult); !ok {
		t.Fatalf("renew: %q", errCode(r))
	} else {
		pt = lr.LoginResult.Ticket
	}
	if d := devicesOf(t, laptop, f, lt)[phone.ID()]; d.LastSeenUnix != clk.Now().Unix() || d.FirstLoginUnix == d.LastSeenUnix {
		t.Fatalf("phone after renewal: %v", d)
	}

	stranger := newClient(t)
	askCode := func(c host.Host, req *wire.AuthRequest) func() string {
		return func() string { return errCode(ask(t, c, f, req)) }
	}
	refusals := []struct {
		name string
		do   func() string
		want string
	}{
		{"list with another's ticket", askCode(bobs, listReq(lt)), CodeUnauthorized},
		{"revoke with another's ticket", askCode(bobs, revokeReq(lt, phone.ID())), CodeUnauthorized},
		{"revoke another account's device", func() string {
			return revokeWith(t, laptop, f, lt, bobs.ID(), "alice", []byte("pw-alice"))
		}, CodeUnknownDevice},
		{"revoke an unknown peer", func() string {
			return revokeWith(t, laptop, f, lt, stranger.ID(), "alice", []byte("pw-alice"))
		}, CodeUnknownDevice},
		{"revoke a malformed peer ID", askCode(laptop, revokeReq(lt, peer.ID("junk"))), CodeBadRequest},
		{"list without a ticket", askCode(laptop, listReq(nil)), CodeBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); got != tt.want {
				t.Fatalf("code %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(devicesOf(t, bobs, f, bt)); n != 1 {
		t.Fatalf("refused requests changed bob's devices: %d", n)
	}

	// The laptop revokes the phone, twice: the second changes nothing.
	clk.Advance(time.Minute)
	for range 2 {
		if got := revokeWith(t, laptop, f, lt, phone.ID(), "alice", []byte("pw-alice")); got != "" {
			t.Fatalf("revoke: %q", got)
		}
	}
	if d := devicesOf(t, laptop, f, lt)[phone.ID()]; d.RevokedUnix != clk.Now().Unix() {
		t.Fatalf("phone after revocation: %v", d)
	}
	if got := f.srv.Stats().DevicesRevoked; got != 1 {
		t.Fatalf("%d revocations counted, want 1", got)
	}

	// The phone is refused everywhere, and its logins say so whatever
	// account they name: real, other, unknown.
	revoked := []struct {
		name string
		do   func() string
	}{
		{"renew", func() string { return errCode(ask(t, phone, f, renewReq(pt))) }},
		{"list devices", func() string { return errCode(ask(t, phone, f, listReq(pt))) }},
		{"revoke the laptop", func() string { return errCode(ask(t, phone, f, revokeReq(pt, laptop.ID()))) }},
		{"login, right password", func() string { code, _ := login(t, phone, f, "alice", []byte("pw-alice")); return code }},
		{"login to another account", func() string { code, _ := login(t, phone, f, "bob", []byte("pw-bob")); return code }},
		{"login as an unknown user", func() string { code, _ := login(t, phone, f, "ghost", nil); return code }},
	}
	for _, tt := range revoked {
		t.Run("revoked "+tt.name, func(t *testing.T) {
			if got := tt.do(); got != CodeDeviceRevoked {
				t.Fatalf("code %q, want %q", got, CodeDeviceRevoked)
			}
		})
	}
	// The revoked phone's attempts cost no OPAQUE work and no one's rate limit.
	if got := login1(laptop, "alice"); got == nil {
		t.Fatal("laptop cannot log in")
	}

	// A device may revoke itself; then it too is done.
	if r := ask(t, laptop, f, revokeReq(lt, laptop.ID())); r.GetRevokeResult() == nil {
		t.Fatalf("self-revoke: %q", errCode(r))
	}
	if got := errCode(ask(t, laptop, f, renewReq(lt))); got != CodeDeviceRevoked {
		t.Fatalf("renewal after self-revoke: %q", got)
	}
	// Bob is untouched.
	if r := ask(t, bobs, f, renewReq(bt)); r.GetLoginResult() == nil {
		t.Fatalf("bob's renewal: %q", errCode(r))
	}
}

// TestRevocationLog: the log lists each revocation once with a horizon no
// earlier than the device's last ticket, pages at MaxRevocationEntries,
// survives a restart, and drops entries once their horizon has long passed
// (the serial stays).
func TestRevocationLog(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := start(t, "", clk)
	a, b := newClient(t), newClient(t)
	if got := register(t, a, f, "alice", "pw"); got != "" {
		t.Fatal(got)
	}
	_, at := login(t, a, f, "alice", []byte("pw"))
	clk.Advance(time.Hour)
	_, bt := login(t, b, f, "alice", []byte("pw"))
	bTicket, err := ticket.Verify(f.info.ID, bt, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	empty := verifiedRevocations(t, f, 0)
	if empty.Serial != 0 || len(empty.Entries) != 0 || empty.More {
		t.Fatalf("empty log: %+v", empty)
	}
	if got := revokeWith(t, a, f, at, b.ID(), "alice", []byte("pw")); got != "" {
		t.Fatalf("revoke: %q", got)
	}
	l := verifiedRevocations(t, f, 0)
	if l.Serial != 1 || len(l.Entries) != 1 || l.Entries[0].Peer != b.ID() || l.Entries[0].Serial != 1 {
		t.Fatalf("log after one revocation: %+v", l)
	}
	if h := l.Entries[0].Horizon; h.Before(bTicket.Expiry.Add(wire.MailTTL)) {
		t.Fatalf("horizon %v before the device's ticket expiry %v plus the mail TTL", h, bTicket.Expiry)
	}
	if l := verifiedRevocations(t, f, 1); l.Serial != 1 || len(l.Entries) != 0 {
		t.Fatalf("log after serial 1: %+v", l)
	}

	// Over the registry protocol, for any ticket holder but a revoked one.
	rf := &regFixture{fixture: f}
	resp := rf.call(t, a, &wire.RegistryRequest{Kind: &wire.RegistryRequest_Revocations{Revocations: &wire.FetchRevocations{Ticket: at}}})
	if got, err := ticket.VerifyRevocations(f.info.ID, resp.GetRevocations()); err != nil || len(got.Entries) != 1 {
		t.Fatalf("fetched %+v, %v (error %q)", got, err, resp.Error)
	}
	for name, req := range map[string]*wire.RegistryRequest{
		"revoked device": {Kind: &wire.RegistryRequest_Revocations{Revocations: &wire.FetchRevocations{Ticket: bt}}},
		"no ticket":      {Kind: &wire.RegistryRequest_Revocations{Revocations: &wire.FetchRevocations{}}},
	} {
		c := a
		if name == "revoked device" {
			c = b
		}
		if resp := rf.call(t, c, req); resp.Error != CodeUnauthorized || resp.Revocations != nil {
			t.Errorf("%s: %+v", name, resp)
		}
	}

	// Paging: a log longer than one page is read in pages that follow on.
	db, err := sql.Open("sqlite3", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	horizon := clk.Now().Add(wire.TicketLifetime).Unix()
	for i := range wire.MaxRevocationEntries {
		if _, err := db.Exec("INSERT INTO revocations (peer_id, horizon_unix, revoked_unix) VALUES (?, ?, ?)",
			[]byte(testPeer(t, i)), horizon, clk.Now().Unix()); err != nil {
			t.Fatal(err)
		}
	}
	p1 := verifiedRevocations(t, f, 0)
	if !p1.More || len(p1.Entries) != wire.MaxRevocationEntries || p1.Serial != uint64(wire.MaxRevocationEntries) {
		t.Fatalf("first page: more %v, %d entries, serial %d", p1.More, len(p1.Entries), p1.Serial)
	}
	p2 := verifiedRevocations(t, f, p1.Serial)
	if p2.More || len(p2.Entries) != 1 || p2.Serial != uint64(wire.MaxRevocationEntries)+1 {
		t.Fatalf("second page: more %v, %d entries, serial %d", p2.More, len(p2.Entries), p2.Serial)
	}
	if _, err := db.Exec("DELETE FROM revocations WHERE serial > 1"); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the revocation: b's unexpired ticket is still refused.
	f.stop()
	g := start(t, f.db, clk)
	if _, err := g.srv.tickets.Authenticate(b.ID(), bt); err == nil {
		t.Fatal("revoked ticket accepted after a restart")
	}
	// Long after the horizon the entry goes; the serial and the ban stay.
	clk.Advance(wire.TicketLifetime + wire.MailTTL + revocationPruneGrace + pruneEvery)
	if _, err := g.srv.SignedRevocations(ctx, 0); err != nil {
		t.Fatal(err)
	}
	l = verifiedRevocations(t, g, 0)
	if len(l.Entries) != 0 || l.Serial != uint64(wire.MaxRevocationEntries)+1 {
		t.Fatalf("log after the horizon: %d entries, serial %d", len(l.Entries), l.Serial)
	}
	if g.srv.revoked(b.ID()) {
		t.Fatal("pruned entry still in memory")
	}
	if code, _ := login(t, b, g, "alice", []byte("pw")); code != CodeDeviceRevoked {
		t.Fatalf("revoked device logs in after its log entry was pruned: %q", code)
	}
}

func verifiedRevocations(t *testing.T, f *fixture, since uint64) *ticket.RevocationList {
	t.Helper()
	sr, err := f.srv.SignedRevocations(context.Background(), since)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ticket.VerifyRevocations(f.info.ID, sr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testPeer is a deterministic peer ID, distinct for each i.
func testPeer(t testing.TB, i int) peer.ID {
	t.Helper()
	seed := make([]byte, 32)
	copy(seed, fmt.Sprintf("peer-%d", i))
	k, _, err := crypto.GenerateEd25519Key(bytesReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type bytesReader []byte

func (b bytesReader) Read(p []byte) (int, error) { return copy(p, b), nil }

// TestRevokedSupernode: the registry drops a revoked device's supernode at
// once and refuses its heartbeats and lists.
func TestRevokedSupernode(t *testing.T) { forEngines(t, testRevokedSupernode) }

func testRevokedSupernode(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, db, clk, false)
	op, sn := newClient(t), newClient(t)
	if got := register(t, op, f.fixture, "operator", "pw"); got != "" {
		t.Fatal(got)
	}
	_, opt := login(t, op, f.fixture, "operator", []byte("pw"))
	_, snt := login(t, sn, f.fixture, "operator", []byte("pw"))
	if resp := f.heartbeat(t, sn, snt, recordOf(t, sn)); resp.Error != "" {
		t.Fatalf("heartbeat: %q", resp.Error)
	}
	if got := f.list(t, op, opt); len(got) != 1 {
		t.Fatalf("listed %v", got)
	}
	if got := revokeWith(t, op, f.fixture, opt, sn.ID(), "operator", []byte("pw")); got != "" {
		t.Fatalf("revoke: %q", got)
	}
	if got := f.list(t, op, opt); len(got) != 0 {
		t.Fatalf("revoked supernode still listed: %v", got)
	}
	if resp := f.heartbeat(t, sn, snt, recordOf(t, sn)); resp.Error != CodeUnauthorized {
		t.Fatalf("revoked heartbeat: %q", resp.Error)
	}
	resp := f.call(t, sn, &wire.RegistryRequest{Kind: &wire.RegistryRequest_List{List: &wire.ListSupernodes{Ticket: snt}}})
	if resp.Error != CodeUnauthorized {
		t.Fatalf("revoked list: %q", resp.Error)
	}
}

// oldDatabase makes a database as a program that knew only the first
// version migrations left it: its secrets, and the account alice (password
// "pw").
func oldDatabase(t *testing.T, version int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrateTo(ctx, db, version); err != nil {
		t.Fatal(err)
	}
	// What the old program stored: its keys and an OPAQUE record.
	if _, err := rawSQLite(db).secret(ctx, secretHostKey, func() ([]byte, error) {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		return crypto.MarshalPrivateKey(k)
	}); err != nil {
		t.Fatal(err)
	}
	keys, err := rawSQLite(db).secret(ctx, secretOPAQUEKeys, pake.GenerateServerKeys)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pake.NewServer(keys)
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := pake.NewClient("alice")
	req, _ := pc.RegistrationStart([]byte("pw"))
	resp, err := ps.RegistrationResponse("alice", req)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := pc.RegistrationFinish(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := rawSQLite(db).createAccount(ctx, "alice", rec, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrationFromV1 opens a database an older program made (only
// 0001_init: no devices, no revocation log) with an account in it: the
// account signs in, and its device is recorded from then on.
func TestMigrationFromV1(t *testing.T) {
	path := oldDatabase(t, 1)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name IN ('devices', 'revocations')").Scan(&tables)
	db.Close()
	if tables != 0 {
		t.Fatalf("version 1 schema has %d of the new tables", tables)
	}

	f := start(t, path, &clock{t: time.Now()})
	c := newClient(t)
	code, st := login(t, c, f, "alice", []byte("pw"))
	if code != "" {
		t.Fatalf("login on the migrated database: %q", code)
	}
	if devs := devicesOf(t, c, f, st); len(devs) != 1 || devs[c.ID()] == nil {
		t.Fatalf("devices after migration: %v", devs)
	}
	var v int
	f.sqlDB().QueryRow("PRAGMA user_version").Scan(&v)
	if ms, _ := migrations(); v != len(ms) {
		t.Fatalf("user_version %d, want %d", v, len(ms))
	}
}

// TestLearnDevice: a device whose ticket predates device records (signed
// directly here) is recorded when it lists or revokes, with an expiry that
// covers any ticket it may hold, so it can revoke itself and be carried in
// the log long enough.
func TestLearnDevice(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, "", clk, false)
	c := newClient(t)
	if got := register(t, c, f.fixture, "alice", "pw"); got != "" {
		t.Fatal(got)
	}
	st := f.nodeTicket(t, "alice", c.ID())
	if devs := devicesOf(t, c, f.fixture, st); len(devs) != 1 || !devs[c.ID()].Current {
		t.Fatalf("devices: %v", devs)
	}
	clk.Advance(time.Hour)
	if r := ask(t, c, f.fixture, revokeReq(st, c.ID())); r.GetRevokeResult() == nil {
		t.Fatalf("self-revoke: %q", errCode(r))
	}
	l := verifiedRevocations(t, f.fixture, 0)
	// The ticket could have been issued just before the first request.
	if len(l.Entries) != 1 || l.Entries[0].Horizon.Unix() < clk.Now().Add(wire.TicketLifetime-time.Hour).Unix() {
		t.Fatalf("log %+v", l)
	}
}

// TestRevocationPageFits: a full page, at the largest serials, fits in a
// registry frame.
func TestRevocationPageFits(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	l := ticket.RevocationList{Serial: 1 << 62, Issued: time.Now(), More: true}
	for i := range wire.MaxRevocationEntries {
		l.Entries = append(l.Entries, ticket.Revocation{Serial: 1<<62 - uint64(wire.MaxRevocationEntries) + uint64(i) + 1, Peer: testPeer(t, i), Horizon: time.Now()})
	}
	sr, err := ticket.SignRevocations(key, l)
	if err != nil {
		t.Fatal(err)
	}
	resp := &wire.RegistryResponse{Revocations: sr}
	if n := proto.Size(resp); n > wire.MaxRegistryFrame {
		t.Fatalf("a full page takes %d bytes, frame limit %d", n, wire.MaxRegistryFrame)
	}
}
