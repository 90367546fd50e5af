package authserver

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// startReplica runs a server on db with key on a host of its own on
// 127.0.0.1, on the real clock, its Config changed by mod (when not nil).
func startReplica(t *testing.T, db string, key crypto.PrivKey, mod func(*Config)) *fixture {
	t.Helper()
	return startKeyed(t, db, key, &clock{}, func(c *Config) {
		c.RegisterRate = -1
		if mod != nil {
			mod(c)
		}
	})
}

// crash stops f's server as a killed process stops: it serves and
// heartbeats no more, its connections to the database are gone, and it
// cleans nothing up.
func (f *fixture) crash() {
	f.srv.listen.Close()
	f.srv.store.close()
	f.h.Close()
}

// addrOf is the address f's replica registers: its host's one TCP address
// on 127.0.0.1, with /p2p/.
func addrOf(t *testing.T, f *fixture) string {
	t.Helper()
	if len(f.info.Addrs) != 1 {
		t.Fatalf("replica host listens on %v, want one address", f.info.Addrs)
	}
	return f.info.Addrs[0].String() + "/p2p/" + f.info.ID.String()
}

// keyFile makes a key file, as eserver-auth init does, and loads it as a
// replica the operator copied it to does.
func keyFile(t *testing.T) crypto.PrivKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.key")
	if _, err := CreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitUntil polls cond until it holds, failing after a generous bound: it
// waits for an event, it does not time one.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// use makes c reach f from now on: its connections to the replicas' shared
// peer ID and their addresses are forgotten, as a client failing over
// would.
func use(c host.Host, f *fixture) {
	c.Network().ClosePeer(f.info.ID)
	c.Peerstore().ClearAddrs(f.info.ID)
}

// TestReplicasShareAccounts: two replicas on one PostgreSQL database, each
// on its own host, signing with one identity — from a key file copied to
// both, or from the database's secrets: an account registered at one signs
// in at the other (OPAQUE's keys are the database's), the ticket verifies
// under the one peer ID, and the other replica renews it.
func TestReplicasShareAccounts(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  func(t *testing.T, db string) crypto.PrivKey
	}{
		{"key file", func(t *testing.T, _ string) crypto.PrivKey { return keyFile(t) }},
		{"database secret", func(t *testing.T, db string) crypto.PrivKey {
			k, err := LoadOrCreateKey(db)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := sharedPG(t).CreateDB(t)
			key := tt.key(t, db)
			r1 := startReplica(t, db, key, nil)
			r2 := startReplica(t, db, key, nil)
			if r1.srv.ID() != r2.srv.ID() {
				t.Fatalf("replicas sign as %s and %s", r1.srv.ID(), r2.srv.ID())
			}
			laptop, phone := newClient(t), newClient(t)
			if got := register(t, laptop, r1, "alice", "pw"); got != "" {
				t.Fatalf("register at replica 1: %q", got)
			}
			if got := register(t, phone, r2, "alice", "other"); got != CodeUsernameTaken {
				t.Fatalf("the same name at replica 2: %q, want %q", got, CodeUsernameTaken)
			}
			code, st := login(t, phone, r2, "alice", []byte("pw"))
			if code != "" {
				t.Fatalf("login at replica 2: %q", code)
			}
			tk, err := ticket.VerifyFor(r1.srv.ID(), phone.ID(), st, time.Now())
			if err != nil || tk.Username != "alice" {
				t.Fatalf("replica 2's ticket under replica 1's identity: %+v, %v", tk, err)
			}
			// A wrong password is refused there all the same (a forged KE3).
			if code, _ := login(t, laptop, r1, "alice", nil); code != CodeLoginFailed {
				t.Fatalf("a wrong password at replica 1: %q", code)
			}
			use(phone, r1)
			if r := ask(t, phone, r1, renewReq(st)); r.GetLoginResult() == nil {
				t.Fatalf("replica 1 renewing replica 2's ticket: %q", errCode(r))
			}
		})
	}
}

// TestReplicaList: every login result lists the live replicas, the
// answering one first; a replica that stops heartbeating (it crashed)
// drops out within a few of its intervals, and one that closes removes
// itself at once and writes nothing after. On SQLite the one server lists
// itself.
func TestReplicaList(t *testing.T) {
	// Short, for a test that waits for a crashed replica to drop out, and
	// not too short: a replica whose heartbeat is late by ReplicaLiveBeats
	// of them on a loaded machine would drop out of the lists asserted.
	const beat = 500 * time.Millisecond
	fast := func(c *Config) { c.ReplicaHeartbeat = beat }
	ctx := context.Background()

	t.Run("sqlite", func(t *testing.T) {
		f := startReplica(t, filepath.Join(t.TempDir(), "auth.db"), keyFile(t), fast)
		c := newClient(t)
		if got := register(t, c, f, "alice", "pw-alice"); got != "" {
			t.Fatal(got)
		}
		if lr := loginBox(t, c, f, "alice", nil); !slices.Equal(lr.Replicas, []string{addrOf(t, f)}) {
			t.Fatalf("replicas %q, want the server alone", lr.Replicas)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		db := sharedPG(t).CreateDB(t)
		key := keyFile(t)
		r1, r2 := startReplica(t, db, key, fast), startReplica(t, db, key, fast)
		a1, a2 := addrOf(t, r1), addrOf(t, r2)
		waitUntil(t, "both replicas listed", func() bool {
			return slices.Equal(r1.srv.loginReplicas(time.Now()), []string{a1, a2}) &&
				slices.Equal(r2.srv.loginReplicas(time.Now()), []string{a2, a1})
		})
		// What a client gets: a login at either lists both, that one first.
		c1, c2 := newClient(t), newClient(t)
		if got := register(t, c1, r1, "alice", "pw-alice"); got != "" {
			t.Fatal(got)
		}
		if lr := loginBox(t, c1, r1, "alice", nil); !slices.Equal(lr.Replicas, []string{a1, a2}) {
			t.Fatalf("login at replica 1 lists %q, want %q", lr.Replicas, []string{a1, a2})
		}
		lr := loginBox(t, c2, r2, "alice", nil)
		if !slices.Equal(lr.Replicas, []string{a2, a1}) {
			t.Fatalf("login at replica 2 lists %q, want %q", lr.Replicas, []string{a2, a1})
		}
		// A renewal lists them too.
		if r := ask(t, c2, r2, renewReq(lr.Ticket)); !slices.Equal(r.GetLoginResult().GetReplicas(), []string{a2, a1}) {
			t.Fatalf("renewal at replica 2 lists %q (%q)", r.GetLoginResult().GetReplicas(), errCode(r))
		}

		// Replica 2 crashes: its row stays, but it is listed no more once
		// its heartbeats are missed.
		id2 := r2.srv.replicaID
		r2.crash()
		waitUntil(t, "the crashed replica dropped", func() bool {
			return slices.Equal(r1.srv.loginReplicas(time.Now()), []string{a1})
		})
		rows, err := r1.srv.store.liveReplicas(ctx, time.Time{}, 10)
		if err != nil || !slices.ContainsFunc(rows, func(r replicaRow) bool { return r.id == id2 }) {
			t.Fatalf("the crashed replica's row: %+v, %v; want it kept until pruned", rows, err)
		}

		// Replica 3 comes and goes cleanly: Close removes its row at once.
		r3 := startReplica(t, db, key, fast)
		a3, id3 := addrOf(t, r3), r3.srv.replicaID
		waitUntil(t, "replica 3 listed", func() bool {
			return slices.Equal(r1.srv.loginReplicas(time.Now()), []string{a1, a3})
		})
		if err := r3.srv.Close(); err != nil {
			t.Fatal(err)
		}
		has3 := func() bool {
			rows, err := r1.srv.store.liveReplicas(ctx, time.Time{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(rows, func(r replicaRow) bool { return r.id == id3 })
		}
		if has3() {
			t.Fatal("a closed replica left its row")
		}
		// No heartbeat of its outlives Close.
		time.Sleep(3 * beat)
		if has3() {
			t.Fatal("a closed replica heartbeat after Close")
		}
		waitUntil(t, "replica 3 dropped", func() bool {
			return slices.Equal(r1.srv.loginReplicas(time.Now()), []string{a1})
		})
	})
}

// TestReplicaRowsChecked: a row another replica wrote is checked before it
// reaches a client: an address of another identity, one too long, or one
// that is no multiaddr leaves its replica out; a sound one is listed.
func TestReplicaRowsChecked(t *testing.T) {
	db := sharedPG(t).CreateDB(t)
	key := keyFile(t)
	f := startReplica(t, db, key, func(c *Config) { c.ReplicaHeartbeat = 100 * time.Millisecond })
	other, _, _ := crypto.GenerateEd25519Key(nil)
	otherID, _ := peer.IDFromPrivateKey(other)
	id := f.srv.ID().String()
	now := time.Now()
	rows := []struct {
		id, addr string
		listed   bool
	}{
		{"a-sound", "/ip4/10.0.0.1/tcp/1864/p2p/" + id, true},
		{"b-other-identity", "/ip4/10.0.0.2/tcp/1864/p2p/" + otherID.String(), false},
		{"c-no-p2p", "/ip4/10.0.0.3/tcp/1864", false},
		{"d-not-a-multiaddr", "/ip4/10.0.0.4/tcp/notaport/p2p/" + id, false},
		{"e-too-long", "/dns4/" + strings.Repeat("a", wire.MaxReplicaAddrLen) + "/tcp/1/p2p/" + id, false},
	}
	for _, r := range rows {
		// Written past the store's own checks, as a damaged or foreign
		// row would be.
		if _, err := f.sqlDB().Exec("INSERT INTO replicas (id, addrs, started_ms, heartbeat_ms, expires_ms) VALUES ($1, $2, $3, $3, $4)",
			r.id, r.addr, now.UnixMilli(), now.Add(time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{addrOf(t, f), rows[0].addr}
	waitUntil(t, "the sound row listed", func() bool { return slices.Equal(f.srv.loginReplicas(time.Now()), want) })
}

// TestLoginResultFits: the most replica addresses of the longest length
// fit in one auth frame beside a full account identity, a region pass and
// the longest names, with room left for supernodes.
func TestLoginResultFits(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	now := time.Now()
	long := ticket.Ticket{Username: strings.Repeat("u", wire.MaxUsername), Peer: testPeer(t, 1),
		Device: strings.Repeat("d", wire.MaxDeviceName), Issued: now, Expiry: now.Add(wire.TicketLifetime),
		Role: ticket.RoleNode, BoxKey: boxKey(1)}
	st, err := ticket.Sign(key, long)
	if err != nil {
		t.Fatal(err)
	}
	card, err := ticket.SignCard(key, long)
	if err != nil {
		t.Fatal(err)
	}
	pass, err := ticket.SignPass(key, long, "ES")
	if err != nil {
		t.Fatal(err)
	}
	var devs []ticket.Device
	for i := range wire.MaxAccountDevices {
		devs = append(devs, ticket.Device{Peer: testPeer(t, i), BoxKey: boxKey(byte(i)), Added: now})
	}
	lr := &wire.LoginResult{Ticket: st, Card: card, RegionPass: pass,
		Account: &wire.AccountIdentity{Sealed: make([]byte, wire.MaxAccountKeySealed),
			Devices: signList(t, newAccountKey(t), long.Username, 1<<62, devs...)}}
	for range wire.MaxReplicaAddrs {
		lr.Replicas = append(lr.Replicas, strings.Repeat("a", wire.MaxReplicaAddrLen))
	}
	n := proto.Size(&wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}})
	// A supernode entry (a role-supernode ticket and a peer record of a few
	// addresses) takes about a kilobyte; leave room for a few.
	if room := wire.MaxAuthFrame - n; room < 4<<10 {
		t.Fatalf("login result of %d bytes leaves %d of the %d-byte frame for supernodes", n, room, wire.MaxAuthFrame)
	}
}

// TestRevocationAcrossReplicas: a device revoked at replica 1 is refused at
// replica 2 at once — login, renewal, device requests — though replica 2's
// copy of the log has not caught up (its sync is an hour away): those
// paths ask the database. Replica 2's copy follows the log (its registry
// then refuses the device too, and the in-process supernode services are
// told once), and a supernode that pulls the log from replica 2 learns it.
func TestRevocationAcrossReplicas(t *testing.T) {
	db := sharedPG(t).CreateDB(t)
	key := keyFile(t)
	var mu sync.Mutex
	var told []peer.ID
	r1 := startReplica(t, db, key, func(c *Config) { c.RevocationSync = time.Hour })
	r2 := startReplica(t, db, key, func(c *Config) {
		c.RevocationSync = time.Hour
		c.OnRevoke = func(p peer.ID) { mu.Lock(); told = append(told, p); mu.Unlock() }
	})
	laptop, phone, sn := newClient(t), newClient(t), newClient(t)
	if got := register(t, laptop, r1, "alice", "pw"); got != "" {
		t.Fatal(got)
	}
	if got := register(t, sn, r2, "operator", "pw"); got != "" {
		t.Fatal(got)
	}
	_, lt := login(t, laptop, r1, "alice", []byte("pw"))
	_, pt := login(t, phone, r2, "alice", []byte("pw"))
	_, snt := login(t, sn, r2, "operator", []byte("pw"))
	if lt == nil || pt == nil || snt == nil {
		t.Fatal("a login failed")
	}
	if got := revokeWith(t, laptop, r1, lt, phone.ID(), "alice", []byte("pw")); got != "" {
		t.Fatalf("revoke at replica 1: %q", got)
	}

	for _, tt := range []struct {
		name string
		do   func() string
	}{
		{"renew", func() string { return errCode(ask(t, phone, r2, renewReq(pt))) }},
		{"list devices", func() string { return errCode(ask(t, phone, r2, listReq(pt))) }},
		{"lookup", func() string { return errCode(ask(t, phone, r2, lookupReq(pt, "operator"))) }},
		{"login", func() string { code, _ := login(t, phone, r2, "alice", []byte("pw")); return code }},
	} {
		t.Run("refused at replica 2: "+tt.name, func(t *testing.T) {
			if got := tt.do(); got != CodeDeviceRevoked {
				t.Fatalf("code %q, want %q", got, CodeDeviceRevoked)
			}
		})
	}
	if r2.srv.revoked(phone.ID()) {
		t.Fatal("replica 2's copy of the log caught up early: the refusals above proved nothing")
	}

	// Replica 2's copy follows the log: the registry, which consults only
	// the copy, refuses the phone's heartbeat then; OnRevoke hears of it
	// once.
	ctx := context.Background()
	for range 2 {
		if err := r2.srv.syncRevocations(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !r2.srv.revoked(phone.ID()) || r2.srv.revoked(laptop.ID()) {
		t.Fatal("replica 2's copy after a sync")
	}
	mu.Lock()
	if !slices.Equal(told, []peer.ID{phone.ID()}) {
		t.Fatalf("OnRevoke at replica 2: %v, want the phone once", told)
	}
	mu.Unlock()
	rf := &regFixture{fixture: r2}
	if resp := rf.heartbeat(t, phone, pt, recordOf(t, phone)); resp.Error != CodeUnauthorized {
		t.Fatalf("the revoked phone's supernode heartbeat at replica 2: %q", resp.Error)
	}

	// A replica following on its own interval catches up by itself.
	r3 := startReplica(t, db, key, func(c *Config) { c.RevocationSync = 50 * time.Millisecond })
	if r3.srv.revoked(laptop.ID()) {
		t.Fatal("replica 3 holds the laptop revoked")
	}
	if !r3.srv.revoked(phone.ID()) {
		t.Fatal("replica 3 did not load the log at start")
	}
	if got := revokeWith(t, laptop, r1, lt, laptop.ID(), "alice", []byte("pw")); got != "" {
		t.Fatalf("the laptop revoking itself at replica 1: %q", got)
	}
	waitUntil(t, "replica 3 following the log", func() bool { return r3.srv.revoked(laptop.ID()) })

	// A supernode pulling the log from replica 2 (the only replica its
	// host knows an address of) learns both revocations.
	sn.Peerstore().AddAddrs(r2.info.ID, r2.info.Addrs, time.Hour)
	rev := &client.Revocations{Auth: r2.info.ID, Host: sn, Ticket: func() *wire.SignedTicket { return snt }, Interval: time.Hour}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rev.Serve(sctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	waitUntil(t, "the supernode's first poll", func() bool { return !rev.Updated().IsZero() })
	if !rev.Revoked(phone.ID()) || !rev.Revoked(laptop.ID()) || rev.Serial() != 2 {
		t.Fatalf("the supernode's copy: phone %v, laptop %v, serial %d", rev.Revoked(phone.ID()), rev.Revoked(laptop.ID()), rev.Serial())
	}
	conns := sn.Network().ConnsToPeer(r2.info.ID)
	if len(conns) == 0 {
		t.Fatal("the supernode holds no connection to the auth server")
	}
	for _, c := range conns {
		if !c.RemoteMultiaddr().Equal(r2.info.Addrs[0]) {
			t.Fatalf("the supernode reached the log at %s, not replica 2's %s", c.RemoteMultiaddr(), r2.info.Addrs[0])
		}
	}
}

// TestSyncRevocations: a replica's copy of the log takes the entries
// another replica wrote, in pages, and reads the log again from the start
// when its serial went back (a database restored from a backup, whose
// serials will be given again). On every engine.
func TestSyncRevocations(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		held uint64 // the serial the copy holds before the sync
	}{
		{"following", 0},
		{"restored backup", 1 << 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forEngines(t, func(t *testing.T, db string) {
				f := startReplica(t, db, keyFile(t), func(c *Config) { c.RevocationSync = time.Hour })
				// Another replica's entries, logged in one transaction (the
				// log is all the copy reads; revokeDevice is the store
				// suite's to test).
				other := openTest(t, db).(*sqlStore)
				const n = wire.MaxRevocationEntries + 3 // more than a page
				horizon := time.Now().Add(wire.TicketLifetime).Unix()
				err := other.tx(ctx, func(tx conn) error {
					for i := range n {
						if _, err := other.d.logRevocation(ctx, tx, testPeer(t, i), horizon, time.Now().Unix()); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				f.srv.revMu.Lock()
				f.srv.revSerial = tt.held
				f.srv.revMu.Unlock()
				if err := f.srv.syncRevocations(ctx); err != nil {
					t.Fatal(err)
				}
				for _, i := range []int{0, wire.MaxRevocationEntries, n - 1} {
					if !f.srv.revoked(testPeer(t, i)) {
						t.Fatalf("device %d not in the copy after a sync", i)
					}
				}
				if f.srv.revSerial != n {
					t.Fatalf("the copy holds serial %d, want %d", f.srv.revSerial, n)
				}
			})
		})
	}
}

// TestOwnAddrs: a replica serving only its own machine registers all its
// loopback addresses, TCP and QUIC (the walk-through's replicas listed
// TCP alone, so a client that dials QUIC first had nothing to dial).
func TestOwnAddrs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	key, err := LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv, err := New(Config{DBPath: db, Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Attach(h)
	got := srv.ownAddrs()
	var tcp, quic bool
	for _, a := range got {
		tcp = tcp || strings.Contains(a, "/tcp/")
		quic = quic || strings.Contains(a, "/quic-v1/")
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") || !strings.HasSuffix(a, "/p2p/"+h.ID().String()) {
			t.Errorf("address %q", a)
		}
	}
	if !tcp || !quic {
		t.Fatalf("registered %q: want its TCP and QUIC addresses", got)
	}
}
