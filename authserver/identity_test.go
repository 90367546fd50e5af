package authserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

func boxKey(b byte) []byte { return bytes.Repeat([]byte{b}, BoxKeyLength) }

// loginBox signs user in from c with password "pw-"+user and box key box,
// and returns the login result.
func loginBox(t *testing.T, c host.Host, f *fixture, user string, box []byte) *wire.LoginResult {
	t.Helper()
	return loginBoxPw(t, c, f, user, "pw-"+user, box)
}

// loginBoxPw is loginBox with the password pw.
func loginBoxPw(t *testing.T, c host.Host, f *fixture, user, pw string, box []byte) *wire.LoginResult {
	t.Helper()
	pc, ke1 := loginStart(t, user, []byte(pw))
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: user, Ke1: ke1, Device: "dev", BoxKey: box}}})
	r := recv(t, st)
	k2, ok := r.Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		t.Fatalf("login %s: %q", user, errCode(r))
	}
	ke3, _, err := pc.LoginFinish(k2.Ke2)
	if err != nil {
		t.Fatal(err)
	}
	send(t, st, &wire.LoginFinish{Ke3: ke3})
	r = recv(t, st)
	lr := r.GetLoginResult()
	if lr == nil {
		t.Fatalf("login %s: %q", user, errCode(r))
	}
	return lr
}

func newAccountKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signList signs user's device list of version with key.
func signList(t *testing.T, key ed25519.PrivateKey, user string, version uint64, devs ...ticket.Device) *wire.SignedAccountDevices {
	t.Helper()
	sd, err := ticket.SignDevices(key, ticket.Devices{Username: user, Version: version, Devices: devs, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func publishReq(st *wire.SignedTicket, sd *wire.SignedAccountDevices, sealed []byte) *wire.AuthRequest {
	return &wire.AuthRequest{Kind: &wire.AuthRequest_PublishDevices{PublishDevices: &wire.PublishDevices{Ticket: st, Devices: sd, AccountKeySealed: sealed}}}
}

// storedIdentity is user's identity as the server's store holds it.
func storedIdentity(t *testing.T, f *fixture, user string) *wire.AccountIdentity {
	t.Helper()
	id, err := f.srv.store.accountIdentity(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return id.toWire(true)
}

// TestPublishDevices (issue 17): the first device of an account sets its
// identity with the sealed key; later lists must be signed by it, newer,
// name the publishing device with its ticket's box key and no revoked
// device. Every refusal leaves the stored identity as it was; a list that
// is not newer (or of another identity) is answered with what is stored. A
// login carries the sealed key and the list, a renewal the list only.
func TestPublishDevices(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := start(t, "", clk)
	laptop, phone, tablet, bobs := newClient(t), newClient(t), newClient(t), newClient(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		if got := register(t, laptop, f, u, "pw-"+u); got != "" {
			t.Fatal(got)
		}
	}
	first := loginBox(t, laptop, f, "alice", boxKey(1))
	if first.Account != nil {
		t.Fatalf("an account without an identity logs in with one: %v", first.Account)
	}
	lt := first.Ticket
	pt := loginBox(t, phone, f, "alice", boxKey(2)).Ticket
	tt := loginBox(t, tablet, f, "alice", boxKey(3)).Ticket
	bt := loginBox(t, bobs, f, "bob", boxKey(4)).Ticket
	ct := loginBox(t, tablet, f, "carol", boxKey(3)).Ticket // the tablet is carol's too, until it is revoked

	key, other := newAccountKey(t), newAccountKey(t)
	L := ticket.Device{Peer: laptop.ID(), BoxKey: boxKey(1)}
	P := ticket.Device{Peer: phone.ID(), BoxKey: boxKey(2)}
	T := ticket.Device{Peer: tablet.ID(), BoxKey: boxKey(3)}
	sealed := []byte("sealed under alice's export key")
	v1 := signList(t, key, "alice", 1, L)

	// Refused first identities set nothing.
	for _, tt := range []struct {
		name string
		from host.Host
		req  *wire.AuthRequest
		want string
	}{
		{"no sealed key", laptop, publishReq(lt, v1, nil), CodeBadRequest},
		{"sealed key over the limit", laptop, publishReq(lt, v1, make([]byte, wire.MaxAccountKeySealed+1)), CodeBadRequest},
		{"another device's ticket on the stream", bobs, publishReq(lt, v1, sealed), CodeUnauthorized},
		{"no ticket", laptop, publishReq(nil, v1, sealed), CodeBadRequest},
		{"no list", laptop, publishReq(lt, nil, sealed), CodeBadRequest},
	} {
		if got := errCode(ask(t, tt.from, f, tt.req)); got != tt.want {
			t.Errorf("first identity, %s: %q, want %q", tt.name, got, tt.want)
		}
		if id := storedIdentity(t, f, "alice"); id != nil {
			t.Fatalf("first identity, %s: stored %v", tt.name, id)
		}
	}

	// The sealed key at its limit sets the identity.
	sealedMax := bytes.Repeat([]byte{'s'}, wire.MaxAccountKeySealed)
	r := ask(t, laptop, f, publishReq(lt, v1, sealedMax))
	if a := r.GetAccountIdentity(); a == nil || !proto.Equal(a.Devices, v1) || !bytes.Equal(a.Sealed, sealedMax) {
		t.Fatalf("first publish: %v (error %q)", r, errCode(r))
	}
	if n := f.srv.Stats().DeviceListsPublished; n != 1 {
		t.Fatalf("%d lists counted, want 1", n)
	}
	// The phone's first list loses to the laptop's identity: it is answered
	// with what is stored, and its sealed key is not taken.
	r = ask(t, phone, f, publishReq(pt, signList(t, other, "alice", 5, P), sealed))
	if a := r.GetAccountIdentity(); a == nil || !proto.Equal(a.Devices, v1) || !bytes.Equal(a.Sealed, sealedMax) {
		t.Fatalf("a second first identity: %v (error %q)", r, errCode(r))
	}

	// The tablet is revoked (by the laptop, with the password).
	if got := revokeWith(t, laptop, f, lt, tablet.ID(), "alice", []byte("pw-alice")); got != "" {
		t.Fatalf("revoke: %q", got)
	}
	v2 := signList(t, key, "alice", 2, L, P)
	if r := ask(t, phone, f, publishReq(pt, v2, nil)); !proto.Equal(r.GetAccountIdentity().GetDevices(), v2) {
		t.Fatalf("second list: %v (error %q)", r, errCode(r))
	}

	badSig := signList(t, key, "alice", 3, L, P)
	badSig.Signature[0] ^= 1
	staleBefore := f.srv.Stats().Refused[RefusedDeviceListStale]
	refusals := []struct {
		name string
		from host.Host
		req  *wire.AuthRequest
		want string // "stale": answered with the stored identity
	}{
		{"wrong signature", laptop, publishReq(lt, badSig, nil), CodeBadRequest},
		{"another account's list", laptop, publishReq(lt, signList(t, key, "bob", 3, L, P), nil), CodeBadRequest},
		{"another account's ticket", bobs, publishReq(bt, signList(t, key, "alice", 3, L, P), nil), CodeBadRequest},
		{"list without the asker", laptop, publishReq(lt, signList(t, key, "alice", 3, P), nil), CodeNotListed},
		{"asker's box key mismatch", laptop, publishReq(lt, signList(t, key, "alice", 3, ticket.Device{Peer: laptop.ID(), BoxKey: boxKey(9)}, P), nil), CodeNotListed},
		{"revoked device in the list", laptop, publishReq(lt, signList(t, key, "alice", 3, L, P, T), nil), CodeListedRevoked},
		{"revoked device in another account's list", tablet, publishReq(ct, signList(t, newAccountKey(t), "carol", 1, T), sealed), CodeDeviceRevoked},
		{"revoked device publishing", tablet, publishReq(tt, signList(t, key, "alice", 3, L, P, T), nil), CodeDeviceRevoked},
		{"someone else's ticket on the stream", bobs, publishReq(lt, signList(t, key, "alice", 3, L, P), nil), CodeUnauthorized},
		{"oversize sealed key", laptop, publishReq(lt, signList(t, key, "alice", 3, L, P), make([]byte, wire.MaxAccountKeySealed+1)), CodeBadRequest},
		{"version beyond SQLite's integers", laptop, publishReq(lt, signList(t, key, "alice", 1<<63, L, P), nil), CodeBadRequest},
		{"same version", laptop, publishReq(lt, signList(t, key, "alice", 2, L), nil), "stale"},
		{"lower version", laptop, publishReq(lt, v1, nil), "stale"},
		{"other identity key", laptop, publishReq(lt, signList(t, other, "alice", 3, L, P), sealed), "stale"},
	}
	stales := 0
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(t, tt.from, f, tt.req)
			if tt.want == "stale" {
				stales++
				if a := r.GetAccountIdentity(); a == nil || !proto.Equal(a.Devices, v2) || !bytes.Equal(a.Sealed, sealedMax) {
					t.Fatalf("answered %v (error %q), want the stored identity", r, errCode(r))
				}
			} else if got := errCode(r); got != tt.want {
				t.Fatalf("code %q, want %q", got, tt.want)
			}
			if id := storedIdentity(t, f, "alice"); !proto.Equal(id.Devices, v2) || !bytes.Equal(id.Sealed, sealedMax) {
				t.Fatalf("stored after the refusal: %v", id)
			}
		})
	}
	if id := storedIdentity(t, f, "carol"); id != nil {
		t.Fatalf("a revoked device set carol's identity: %v", id)
	}
	st := f.srv.Stats()
	if st.DeviceListsPublished != 2 || st.Refused[RefusedDeviceListStale]-staleBefore != uint64(stales) || st.Refused[RefusedDeviceList] == 0 {
		t.Fatalf("counted %d lists published, refusals %v", st.DeviceListsPublished, st.Refused)
	}

	// A newer list is taken; sent again (an answer lost), it is answered
	// the same and is no refusal.
	v3 := signList(t, key, "alice", 3, L, P)
	for range 2 {
		if r := ask(t, laptop, f, publishReq(lt, v3, nil)); !proto.Equal(r.GetAccountIdentity().GetDevices(), v3) {
			t.Fatalf("third list: %v (error %q)", r, errCode(r))
		}
	}
	if st := f.srv.Stats(); st.DeviceListsPublished != 3 || st.Refused[RefusedDeviceListStale]-staleBefore != uint64(stales) {
		t.Fatalf("after a repeated publish: %d published, refusals %v", st.DeviceListsPublished, st.Refused)
	}

	// A login carries the sealed key and the list, a renewal the list only.
	if a := loginBox(t, phone, f, "alice", boxKey(2)).Account; a == nil || !proto.Equal(a.Devices, v3) || !bytes.Equal(a.Sealed, sealedMax) {
		t.Fatalf("login result's account: %v", a)
	}
	r = ask(t, phone, f, renewReq(pt))
	if lr := r.GetLoginResult(); lr == nil || lr.Account == nil || !proto.Equal(lr.Account.Devices, v3) || len(lr.Account.Sealed) != 0 {
		t.Fatalf("renewal's account: %v (error %q)", r, errCode(r))
	}
	// Bob's account has none.
	if r := ask(t, bobs, f, renewReq(bt)); r.GetLoginResult() == nil || r.GetLoginResult().Account != nil {
		t.Fatalf("bob's renewal: %v", r)
	}
}

// TestFirstIdentityRace: two first devices of an account publish their
// own identities at once; exactly one is stored, and both are answered
// with it, so the loser adopts it. At the store, eight at once: one wins.
func TestFirstIdentityRace(t *testing.T) {
	f := start(t, "", &clock{t: time.Now()})
	a, b := newClient(t), newClient(t)
	for _, u := range []string{"carol", "dave"} {
		if got := register(t, a, f, u, "pw-"+u); got != "" {
			t.Fatal(got)
		}
	}
	at := loginBox(t, a, f, "carol", boxKey(1)).Ticket
	bt := loginBox(t, b, f, "carol", boxKey(2)).Ticket
	la := signList(t, newAccountKey(t), "carol", 1, ticket.Device{Peer: a.ID(), BoxKey: boxKey(1)})
	lb := signList(t, newAccountKey(t), "carol", 1, ticket.Device{Peer: b.ID(), BoxKey: boxKey(2)})
	sa, sb := stream(t, a, f), stream(t, b, f)
	send(t, sa, publishReq(at, la, []byte("seal a")))
	send(t, sb, publishReq(bt, lb, []byte("seal b")))
	ra, rb := recv(t, sa).GetAccountIdentity(), recv(t, sb).GetAccountIdentity()
	if ra == nil || rb == nil || !proto.Equal(ra, rb) {
		t.Fatalf("answers differ: %v, %v", ra, rb)
	}
	if won := proto.Equal(ra.Devices, la); !won && !proto.Equal(ra.Devices, lb) {
		t.Fatalf("stored neither list: %v", ra)
	}
	if !proto.Equal(storedIdentity(t, f, "carol"), ra) {
		t.Fatal("answered another identity than the stored one")
	}

	const racers = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		wins     int
		answered []*identity
	)
	for i := range racers {
		sd := signList(t, newAccountKey(t), "dave", 1, ticket.Device{Peer: testPeer(t, i)})
		d, err := ticket.VerifyDevices(sd)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, outcome, err := f.srv.store.publishDevices(context.Background(), d, []byte{byte(i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
				return
			}
			if outcome == published {
				wins++
			}
			answered = append(answered, id)
		}()
	}
	wg.Wait()
	stored := storedIdentity(t, f, "dave")
	if wins != 1 || len(answered) != racers {
		t.Fatalf("%d of %d racers won, %d answered", wins, racers, len(answered))
	}
	for _, id := range answered {
		if !proto.Equal(id.toWire(true), stored) {
			t.Fatalf("a racer was answered %v, stored %v", id.toWire(true), stored)
		}
	}
}

// TestPublishRateLimit: an account publishes at most PublishRate lists per
// window, across its devices, accepted or not; then rate_limited, counted.
func TestPublishRateLimit(t *testing.T) { forEngines(t, testPublishRateLimit) }

func testPublishRateLimit(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := startOn(t, db, clk, func(c *Config) { c.PublishRate = 2 })
	a, b := newClient(t), newClient(t)
	if got := register(t, a, f, "alice", "pw-alice"); got != "" {
		t.Fatal(got)
	}
	at := loginBox(t, a, f, "alice", boxKey(1)).Ticket
	bt := loginBox(t, b, f, "alice", boxKey(2)).Ticket
	key := newAccountKey(t)
	v1 := signList(t, key, "alice", 1, ticket.Device{Peer: a.ID(), BoxKey: boxKey(1)}, ticket.Device{Peer: b.ID(), BoxKey: boxKey(2)})
	if r := ask(t, a, f, publishReq(at, v1, []byte("seal"))); r.GetAccountIdentity() == nil {
		t.Fatalf("first: %q", errCode(r))
	}
	if r := ask(t, b, f, publishReq(bt, v1, nil)); r.GetAccountIdentity() == nil {
		t.Fatalf("second: %q", errCode(r))
	}
	if got := errCode(ask(t, b, f, publishReq(bt, v1, nil))); got != CodeRateLimited {
		t.Fatalf("third: %q", got)
	}
	if n := f.srv.Stats().Refused[RefusedPublishLimited]; n != 1 {
		t.Fatalf("%d rate-limited publishes counted", n)
	}
	clk.Advance(PublishWindow)
	if r := ask(t, a, f, publishReq(at, v1, nil)); r.GetAccountIdentity() == nil {
		t.Fatalf("after the window: %q", errCode(r))
	}
}

// TestChangePasswordIdentity: an account with an identity changes its
// password only with the identity's key sealed afresh, stored with the new
// record in one transaction; without one, or with one over the limit,
// nothing changes. An account without an identity ignores the field. On
// every engine.
func TestChangePasswordIdentity(t *testing.T) { forEngines(t, testChangePasswordIdentity) }

func testChangePasswordIdentity(t *testing.T, db string) {
	f := start(t, db, &clock{t: time.Now()})
	c := newClient(t)
	for _, u := range []string{"alice", "bob"} {
		if got := register(t, c, f, u, "pw-"+u); got != "" {
			t.Fatal(got)
		}
	}
	ct := loginBox(t, c, f, "alice", boxKey(1)).Ticket
	v1 := signList(t, newAccountKey(t), "alice", 1, ticket.Device{Peer: c.ID(), BoxKey: boxKey(1)})
	if r := ask(t, c, f, publishReq(ct, v1, []byte("seal 1"))); r.GetAccountIdentity() == nil {
		t.Fatalf("publish: %q", errCode(r))
	}
	ctx := context.Background()
	record := func(user string) []byte {
		rec, err := f.srv.store.accountRecord(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	origRec, origID := record("alice"), storedIdentity(t, f, "alice")
	for _, tt := range []struct {
		name   string
		sealed []byte
	}{
		{"no sealed key", nil},
		{"sealed key over the limit", make([]byte, wire.MaxAccountKeySealed+1)},
	} {
		if got := changePasswordSealed(t, c, f, "alice", []byte("pw-alice"), "new", false, false, tt.sealed); got != CodeBadRequest {
			t.Fatalf("%s: %q, want %q", tt.name, got, CodeBadRequest)
		}
		if !bytes.Equal(record("alice"), origRec) || !proto.Equal(storedIdentity(t, f, "alice"), origID) {
			t.Fatalf("%s: a refused change changed the account", tt.name)
		}
	}
	if got := changePasswordSealed(t, c, f, "alice", []byte("pw-alice"), "new", false, false, []byte("seal 2")); got != "" {
		t.Fatalf("change with a new seal: %q", got)
	}
	id := storedIdentity(t, f, "alice")
	if bytes.Equal(record("alice"), origRec) || !bytes.Equal(id.Sealed, []byte("seal 2")) || !proto.Equal(id.Devices, v1) {
		t.Fatalf("after the change: record replaced %v, identity %v", !bytes.Equal(record("alice"), origRec), id)
	}
	if got := f.srv.Stats().PasswordsChanged; got != 1 {
		t.Fatalf("%d changes counted", got)
	}

	// Bob has no identity: a sealed key is ignored, none is stored.
	if got := changePasswordSealed(t, c, f, "bob", []byte("pw-bob"), "new", false, false, []byte("stray")); got != "" {
		t.Fatalf("bob's change: %q", got)
	}
	var sealed []byte
	if err := f.sqlDB().QueryRow("SELECT account_key_sealed FROM accounts WHERE username = 'bob'").Scan(&sealed); err != nil || sealed != nil {
		t.Fatalf("bob's sealed key after the change: %q, %v", sealed, err)
	}
}

// TestMigrationFromV2 opens a database from before account identities
// (0001 and 0002) with an account in it: the account signs in without an
// identity, and its first device sets one.
func TestMigrationFromV2(t *testing.T) {
	path := oldDatabase(t, 2)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var cols int
	db.QueryRow("SELECT count(*) FROM pragma_table_info('accounts') WHERE name LIKE 'account_%'").Scan(&cols)
	db.Close()
	if cols != 0 {
		t.Fatalf("version 2 schema has %d identity columns", cols)
	}

	f := start(t, path, &clock{t: time.Now()})
	c := newClient(t)
	lr := loginBoxPw(t, c, f, "alice", "pw", boxKey(1))
	if lr.Account != nil {
		t.Fatalf("migrated account has an identity: %v", lr.Account)
	}
	v1 := signList(t, newAccountKey(t), "alice", 1, ticket.Device{Peer: c.ID(), BoxKey: boxKey(1)})
	if r := ask(t, c, f, publishReq(lr.Ticket, v1, []byte("seal"))); !proto.Equal(r.GetAccountIdentity().GetDevices(), v1) {
		t.Fatalf("publish on the migrated database: %q", errCode(r))
	}
	var v int
	f.sqlDB().QueryRow("PRAGMA user_version").Scan(&v)
	if ms, _ := migrations(); v != len(ms) {
		t.Fatalf("user_version %d, want %d", v, len(ms))
	}
}

// TestPublishFullList: a list at wire.MaxAccountDevices, with every box
// key, the sealed key at its limit, is stored, and a login result carrying
// it (and the supernode list, cut to fit) still fits one auth frame.
func TestPublishFullList(t *testing.T) {
	f := startOn(t, "", &clock{t: time.Now()}, func(c *Config) { c.SelfSupernode = true })
	c := newClient(t)
	if got := register(t, c, f, "alice", "pw-alice"); got != "" {
		t.Fatal(got)
	}
	ct := loginBox(t, c, f, "alice", boxKey(1)).Ticket
	devs := []ticket.Device{{Peer: c.ID(), BoxKey: boxKey(1), Added: time.Now()}}
	for i := range wire.MaxAccountDevices - 1 {
		devs = append(devs, ticket.Device{Peer: testPeer(t, i), BoxKey: boxKey(byte(i)), Added: time.Now()})
	}
	key := newAccountKey(t)
	full := signList(t, key, "alice", 1<<62, devs...)
	sealed := bytes.Repeat([]byte{1}, wire.MaxAccountKeySealed)
	if r := ask(t, c, f, publishReq(ct, full, sealed)); !proto.Equal(r.GetAccountIdentity().GetDevices(), full) {
		t.Fatalf("full list: %q", errCode(r))
	}
	lr := loginBox(t, c, f, "alice", boxKey(1))
	if !proto.Equal(lr.Account.GetDevices(), full) || !bytes.Equal(lr.Account.GetSealed(), sealed) {
		t.Fatal("the login result lost the full list")
	}
	if n := proto.Size(&wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}}); n > wire.MaxAuthFrame {
		t.Fatalf("login result of %d bytes, frame limit %d", n, wire.MaxAuthFrame)
	}
	// One device more is refused, even signed by the stored identity's
	// key (signed here by hand: SignDevices refuses to).
	w := &wire.AccountDevices{Username: "alice", Version: 1<<62 + 1}
	var held wire.AccountDevices
	if err := proto.Unmarshal(full.Devices, &held); err != nil {
		t.Fatal(err)
	}
	w.AccountKey, w.Devices = held.AccountKey, append(held.Devices, &wire.AccountDevice{PeerId: []byte(testPeer(t, 99))})
	raw := marshal(w)
	over := &wire.SignedAccountDevices{Devices: raw, Signature: ed25519.Sign(key, append([]byte("eserver-account-devices-v1"), raw...))}
	if _, err := ticket.VerifyDevices(over); !errors.Is(err, ticket.ErrMalformed) {
		t.Fatalf("the list over the limit: %v, want malformed", err)
	}
	if got := errCode(ask(t, c, f, publishReq(ct, over, nil))); got != CodeBadRequest {
		t.Fatalf("a list over the limit: %q", got)
	}
	if !proto.Equal(storedIdentity(t, f, "alice").Devices, full) {
		t.Fatal("a refused list changed the stored one")
	}
}
