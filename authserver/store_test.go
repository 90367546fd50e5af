package authserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/pgtest"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/sqlite"
)

// One PostgreSQL server for the package's tests, started by the first test
// that needs it; each test takes a database of its own on it.
var pg struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.srv != nil {
		if err := pg.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// sharedPG is the package's PostgreSQL server. It fails t, never skips,
// when PostgreSQL cannot be started.
func sharedPG(t testing.TB) *pgtest.Server {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = pgtest.New() })
	if pg.err != nil {
		t.Fatalf("pgtest: %v", pg.err)
	}
	return pg.srv
}

// engines are the store's engines, each with a fresh database for a test:
// a SQLite file in t.TempDir(), or a database of its own on the shared
// PostgreSQL server. Its value is what Config.DBPath takes.
var engines = []struct {
	name  string
	fresh func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "auth.db") }},
	{"postgres", func(t testing.TB) string { return sharedPG(t).CreateDB(t) }},
}

// forEngines runs fn once per engine, each on a fresh database.
func forEngines(t *testing.T, fn func(t *testing.T, db string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e.fresh(t)) })
	}
}

// openTest opens the store at db (as ParseDB takes it) for the test.
func openTest(t testing.TB, db string) store {
	t.Helper()
	src, err := ParseDB(db)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return st
}

// issued is a node ticket of user's device p, issued at at.
func issued(user string, p peer.ID, name string, at time.Time) ticket.Ticket {
	return ticket.Ticket{Username: user, Peer: p, Device: name, Issued: at, Expiry: at.Add(wire.TicketLifetime), Role: ticket.RoleNode}
}

// TestStore runs the same suite against every engine: every method of the
// store, with the errors the server branches on, which must be the same
// sentinels whatever the engine.
func TestStore(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		run  func(t *testing.T, st store)
	}{
		{"accounts", func(t *testing.T, st store) {
			if rec, err := st.accountRecord(ctx, "alice"); err != nil || rec != nil {
				t.Fatalf("record of no account: %q, %v", rec, err)
			}
			if err := st.createAccount(ctx, "alice", []byte("rec-a"), t0.Unix()); err != nil {
				t.Fatal(err)
			}
			if err := st.createAccount(ctx, "alice", []byte("other"), t0.Unix()); !errors.Is(err, errExists) {
				t.Fatalf("duplicate username: %v, want errExists", err)
			}
			if err := st.createAccount(ctx, "bob", []byte{0, 1, 2, 255}, t0.Unix()); err != nil {
				t.Fatal(err)
			}
			if rec, err := st.accountRecord(ctx, "alice"); err != nil || string(rec) != "rec-a" {
				t.Fatalf("record: %q, %v (the duplicate must change nothing)", rec, err)
			}
			if rec, err := st.accountRecord(ctx, "bob"); err != nil || string(rec) != "\x00\x01\x02\xff" {
				t.Fatalf("binary record: %q, %v", rec, err)
			}
			for name, want := range map[string]bool{"alice": true, "bob": true, "carol": false} {
				if got, err := st.accountExists(ctx, name); err != nil || got != want {
					t.Fatalf("exists %s: %v, %v", name, got, err)
				}
			}
			if n, err := st.countAccounts(ctx); err != nil || n != 2 {
				t.Fatalf("count: %d, %v", n, err)
			}
		}},
		{"secrets", func(t *testing.T, st store) {
			calls := 0
			mk := func(v string) func() ([]byte, error) {
				return func() ([]byte, error) { calls++; return []byte(v), nil }
			}
			a, err := st.secret(ctx, secretHostKey, mk("first"))
			if err != nil || string(a) != "first" {
				t.Fatalf("new secret: %q, %v", a, err)
			}
			b, err := st.secret(ctx, secretHostKey, mk("second"))
			if err != nil || string(b) != "first" || calls != 1 {
				t.Fatalf("secret again: %q, %v, made %d times", b, err, calls)
			}
			if _, err := st.secret(ctx, secretOPAQUEKeys, func() ([]byte, error) { return nil, errors.New("no entropy") }); err == nil {
				t.Fatal("a secret that could not be made was stored")
			}
			// Racing first callers agree on one value.
			var wg sync.WaitGroup
			got := make([]string, 8)
			for i := range got {
				wg.Go(func() {
					v, err := st.secret(ctx, "race", func() ([]byte, error) { return []byte(fmt.Sprint(i)), nil })
					if err != nil {
						t.Error(err)
					}
					got[i] = string(v)
				})
			}
			wg.Wait()
			for _, v := range got {
				if v != got[0] {
					t.Fatalf("racers disagree: %q", got)
				}
			}
		}},
		{"devices", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			a, b := testPeer(t, 1), testPeer(t, 2)
			if _, _, err := st.recordIssue(ctx, issued("nobody", a, "x", t0), 0); !errors.Is(err, errNoAccount) {
				t.Fatalf("issue for no account: %v", err)
			}
			created, id, err := st.recordIssue(ctx, issued("alice", a, "laptop", t0), 0)
			if err != nil || !created.Equal(t0) || id != nil {
				t.Fatalf("issue: created %v, identity %v, %v", created, id, err)
			}
			// A later issue to the same device renames it and moves last
			// seen; the expiry never goes back.
			long := issued("alice", a, "laptop 2", t0.Add(time.Hour))
			long.Expiry = t0.Add(30 * 24 * time.Hour)
			if _, _, err := st.recordIssue(ctx, long, 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.recordIssue(ctx, issued("alice", a, "laptop 3", t0.Add(2*time.Hour)), 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.recordIssue(ctx, issued("alice", b, "phone", t0.Add(time.Minute)), 0); err != nil {
				t.Fatal(err)
			}
			rows, total, err := st.listDevices(ctx, "alice", 10)
			if err != nil || total != 2 || len(rows) != 2 {
				t.Fatalf("list: %v, %d, %v", rows, total, err)
			}
			want := []deviceRow{
				{peer: a, name: "laptop 3", first: t0.Unix(), last: t0.Add(2 * time.Hour).Unix()},
				{peer: b, name: "phone", first: t0.Add(time.Minute).Unix(), last: t0.Add(time.Minute).Unix()},
			}
			if !slices.Equal(rows, want) {
				t.Fatalf("list:\n got %+v\nwant %+v", rows, want)
			}
			if rows, total, err := st.listDevices(ctx, "alice", 1); err != nil || total != 2 || len(rows) != 1 || rows[0].peer != a {
				t.Fatalf("list of 1: %v, %d, %v", rows, total, err)
			}
			for _, tt := range []struct {
				user string
				p    peer.ID
				want bool
			}{{"alice", a, true}, {"alice", testPeer(t, 3), false}, {"bob", a, false}} {
				if got, err := st.isDevice(ctx, tt.user, tt.p); err != nil || got != tt.want {
					t.Fatalf("isDevice(%s, %s): %v, %v", tt.user, tt.p, got, err)
				}
			}
			// The long expiry stayed: revoking a now carries it to the horizon.
			r, _, err := st.revokeDevice(ctx, "alice", a, t0.Add(3*time.Hour))
			if err != nil || r.horizon < long.Expiry.Unix()+int64(wire.MailTTL/time.Second) {
				t.Fatalf("horizon %d, want at least the longest expiry %d plus the mail TTL: %v", r.horizon, long.Expiry.Unix(), err)
			}
		}},
		{"device limit", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			const limit = 2
			for i := range limit {
				if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, i), "d", t0), limit); err != nil {
					t.Fatalf("device %d: %v", i, err)
				}
			}
			if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, 9), "d", t0), limit); !errors.Is(err, errTooManyDevices) {
				t.Fatalf("one device too many: %v", err)
			}
			// A device holding a live ticket renews at the cap.
			if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, 0), "d", t0.Add(time.Hour)), limit); err != nil {
				t.Fatalf("renewal at the cap: %v", err)
			}
			// Once device 1's ticket expired it no longer counts.
			later := t0.Add(wire.TicketLifetime + time.Minute)
			if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, 9), "d", later), limit); err != nil {
				t.Fatalf("after a device's ticket expired: %v", err)
			}
			if _, total, _ := st.listDevices(ctx, "alice", 10); total != 3 {
				t.Fatalf("%d devices recorded, want 3", total)
			}
		}},
		{"device limit under concurrency", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			const limit, racers = 3, 8
			var wg sync.WaitGroup
			errs := make([]error, racers)
			for i := range racers {
				wg.Go(func() {
					_, _, errs[i] = st.recordIssue(ctx, issued("alice", testPeer(t, i), "d", t0), limit)
				})
			}
			wg.Wait()
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, errTooManyDevices):
					t.Fatalf("racer %d: %v", i, err)
				}
			}
			if _, total, _ := st.listDevices(ctx, "alice", 10); ok != limit || total != limit {
				t.Fatalf("%d racers got a ticket, %d devices recorded; the cap is %d", ok, total, limit)
			}
		}},
		{"learn device", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			old := issued("alice", testPeer(t, 1), "old", t0)
			now := t0.Add(time.Hour)
			if err := st.learnDevice(ctx, &old, now); err != nil {
				t.Fatal(err)
			}
			if err := st.learnDevice(ctx, &ticket.Ticket{Username: "alice", Peer: testPeer(t, 1), Device: "renamed", Issued: now, Expiry: now}, now); err != nil {
				t.Fatal(err)
			}
			if err := st.learnDevice(ctx, &ticket.Ticket{Username: "nobody", Peer: testPeer(t, 2), Issued: now, Expiry: now}, now); err != nil {
				t.Fatalf("a ticket of no account: %v", err)
			}
			rows, total, err := st.listDevices(ctx, "alice", 10)
			if err != nil || total != 1 || rows[0].name != "old" {
				t.Fatalf("learned: %+v, %v (a known device is left as it is)", rows, err)
			}
			// Its expiry covers any ticket issued up to now.
			r, _, err := st.revokeDevice(ctx, "alice", testPeer(t, 1), now)
			if err != nil || r.horizon < now.Add(wire.TicketLifetime).Unix() {
				t.Fatalf("horizon %d: %v", r.horizon, err)
			}
		}},
		{"revocation", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			mustCreate(t, st, "bob", t0)
			a, b, c := testPeer(t, 1), testPeer(t, 2), testPeer(t, 3)
			for _, p := range []peer.ID{a, b, c} {
				if _, _, err := st.recordIssue(ctx, issued("alice", p, "d", t0), 0); err != nil {
					t.Fatal(err)
				}
			}
			// The same peer signed in to bob too: the ban is of the peer.
			if _, _, err := st.recordIssue(ctx, issued("bob", a, "d", t0), 0); err != nil {
				t.Fatal(err)
			}
			if s, err := st.revocationSerial(ctx); err != nil || s != 0 {
				t.Fatalf("serial of an empty log: %d, %v", s, err)
			}
			if _, _, err := st.revokeDevice(ctx, "alice", testPeer(t, 9), t0); !errors.Is(err, errUnknownDevice) {
				t.Fatalf("revoking a stranger: %v", err)
			}
			if _, _, err := st.revokeDevice(ctx, "carol", a, t0); !errors.Is(err, errUnknownDevice) {
				t.Fatalf("revoking for no account: %v", err)
			}
			var got []revocation
			for i, p := range []peer.ID{a, b, c} {
				// Two days apart, so each horizon is later than the one before.
				r, already, err := st.revokeDevice(ctx, "alice", p, t0.Add(time.Duration(i)*2*wire.TicketLifetime))
				if err != nil || already || r.serial != uint64(i+1) || r.peer != p {
					t.Fatalf("revoke %d: %+v, already %v, %v", i, r, already, err)
				}
				got = append(got, r)
			}
			if _, already, err := st.revokeDevice(ctx, "alice", b, t0); err != nil || !already {
				t.Fatalf("revoking again: already %v, %v", already, err)
			}
			if _, already, err := st.revokeDevice(ctx, "bob", a, t0); err != nil || !already {
				t.Fatalf("bob revoking the peer alice revoked: already %v, %v", already, err)
			}
			if s, err := st.revocationSerial(ctx); err != nil || s != 3 {
				t.Fatalf("serial: %d, %v", s, err)
			}
			for _, p := range []peer.ID{a, b, c} {
				if yes, err := st.peerRevoked(ctx, p); err != nil || !yes {
					t.Fatalf("peerRevoked: %v, %v", yes, err)
				}
			}
			if ok, _ := st.isDevice(ctx, "bob", a); ok {
				t.Fatal("a revoked peer is still bob's device")
			}
			if _, _, err := st.recordIssue(ctx, issued("bob", a, "d", t0), 0); !errors.Is(err, errRevoked) {
				t.Fatalf("a ticket for a revoked peer: %v", err)
			}
			// Read in order, in pages.
			all, more, err := st.revocationsAfter(ctx, 0, 3, 10)
			if err != nil || more || !slices.Equal(all, got) {
				t.Fatalf("log: %+v, more %v, %v; want %+v", all, more, err, got)
			}
			page, more, err := st.revocationsAfter(ctx, 0, 3, 2)
			if err != nil || !more || !slices.Equal(page, got[:2]) {
				t.Fatalf("first page: %+v, more %v, %v", page, more, err)
			}
			page, more, err = st.revocationsAfter(ctx, 2, 3, 2)
			if err != nil || more || !slices.Equal(page, got[2:]) {
				t.Fatalf("second page: %+v, more %v, %v", page, more, err)
			}
			if page, _, _ := st.revocationsAfter(ctx, 0, 1, 10); len(page) != 1 {
				t.Fatalf("up to serial 1: %+v", page)
			}
			// Pruning drops the entries past their horizon; the serial and
			// the ban stay.
			if err := st.pruneRevocations(ctx, time.Unix(got[1].horizon+1, 0)); err != nil {
				t.Fatal(err)
			}
			left, _, err := st.revocationsAfter(ctx, 0, 1<<62, 10)
			if err != nil || !slices.Equal(left, got[2:]) {
				t.Fatalf("after pruning: %+v, %v", left, err)
			}
			if s, _ := st.revocationSerial(ctx); s != 3 {
				t.Fatalf("serial after pruning: %d", s)
			}
			if yes, _ := st.peerRevoked(ctx, a); !yes {
				t.Fatal("pruning lifted the ban")
			}
			// Serials are never reused.
			if _, _, err := st.recordIssue(ctx, issued("bob", testPeer(t, 4), "d", t0), 0); err != nil {
				t.Fatal(err)
			}
			if r, _, err := st.revokeDevice(ctx, "bob", testPeer(t, 4), t0); err != nil || r.serial != 4 {
				t.Fatalf("next serial: %d, %v", r.serial, err)
			}
		}},
		{"revocations under concurrency", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			const n = 8
			for i := range n {
				if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, i), "d", t0), 0); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if _, _, err := st.revokeDevice(ctx, "alice", testPeer(t, i), t0); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			log, _, err := st.revocationsAfter(ctx, 0, 1<<62, 100)
			if err != nil || len(log) != n {
				t.Fatalf("log of %d, %v", len(log), err)
			}
			for i, r := range log {
				if r.serial != uint64(i+1) {
					t.Fatalf("serials %+v: not 1..%d", log, n)
				}
			}
		}},
		{"identity", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			key := newAccountKey(t)
			dev := ticket.Device{Peer: testPeer(t, 1), BoxKey: boxKey(1)}
			list := func(key []byte, version uint64, devs ...ticket.Device) *ticket.Devices {
				d, err := ticket.VerifyDevices(signList(t, key, "alice", version, devs...))
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			if id, err := st.accountIdentity(ctx, "alice"); err != nil || id != nil {
				t.Fatalf("identity before any: %v, %v", id, err)
			}
			if id, err := st.accountIdentity(ctx, "nobody"); err != nil || id != nil {
				t.Fatalf("identity of no account: %v, %v", id, err)
			}
			v1 := list(key, 1, dev)
			if _, _, err := st.publishDevices(ctx, v1, nil); !errors.Is(err, errNeedSealed) {
				t.Fatalf("first identity without its sealed key: %v", err)
			}
			id, outcome, err := st.publishDevices(ctx, v1, []byte("seal"))
			if err != nil || outcome != published || string(id.sealed) != "seal" || id.version != 1 || string(id.key) != string(v1.AccountKey) {
				t.Fatalf("first publish: %+v, %v, %v", id, outcome, err)
			}
			if _, outcome, err := st.publishDevices(ctx, v1, nil); err != nil || outcome != unchanged {
				t.Fatalf("the same list again: %v, %v", outcome, err)
			}
			v2 := list(key, 2, dev, ticket.Device{Peer: testPeer(t, 2), BoxKey: boxKey(2)})
			if id, outcome, err := st.publishDevices(ctx, v2, nil); err != nil || outcome != published || id.version != 2 || string(id.sealed) != "seal" {
				t.Fatalf("newer list: %+v, %v, %v", id, outcome, err)
			}
			for name, d := range map[string]*ticket.Devices{
				"older":          list(key, 1, dev),
				"another key":    list(newAccountKey(t), 5, dev),
				"version stored": list(key, 2, dev),
			} {
				if id, outcome, err := st.publishDevices(ctx, d, []byte("other")); err != nil || outcome != stale || id.version != 2 {
					t.Fatalf("%s: %+v, %v, %v", name, id, outcome, err)
				}
			}
			// A list naming a revoked device is refused.
			if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, 2), "d", t0), 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.revokeDevice(ctx, "alice", testPeer(t, 2), t0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.publishDevices(ctx, list(key, 3, dev, ticket.Device{Peer: testPeer(t, 2), BoxKey: boxKey(2)}), nil); !errors.Is(err, errListedRevoked) {
				t.Fatalf("a list naming a revoked device: %v", err)
			}
			if id, _ := st.accountIdentity(ctx, "alice"); id.version != 2 {
				t.Fatalf("a refused list changed the identity: version %d", id.version)
			}
			// A publish for an account that is gone.
			other := ticket.Devices{Username: "nobody", AccountKey: v1.AccountKey, Version: 1, Devices: v1.Devices, Signed: v1.Signed}
			if _, _, err := st.publishDevices(ctx, &other, []byte("seal")); !errors.Is(err, errNoAccount) {
				t.Fatalf("publish for no account: %v", err)
			}
		}},
		{"identities racing", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			const racers = 6
			var wg sync.WaitGroup
			outcomes := make([]publishOutcome, racers)
			for i := range racers {
				outcomes[i] = -1 // none: the racer failed
				d, err := ticket.VerifyDevices(signList(t, newAccountKey(t), "alice", 1, ticket.Device{Peer: testPeer(t, i)}))
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					var err error
					if _, outcomes[i], err = st.publishDevices(ctx, d, []byte{byte(i)}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := countOf(outcomes, published); n != 1 {
				t.Fatalf("%d first identities stored: %v", n, outcomes)
			}
		}},
		{"replicas", func(t *testing.T, st store) {
			ms := func(d time.Duration) time.Time { return t0.Add(d) }
			addr := func(i int) string { return fmt.Sprintf("/ip4/10.0.0.%d/tcp/1864/p2p/%s", i, testPeer(t, 0)) }
			r1 := replicaRow{id: "r1", addrs: []string{addr(1), addr(2)}, started: t0, heartbeat: t0, expires: ms(30 * time.Second)}
			r2 := replicaRow{id: "r2", addrs: []string{addr(3)}, started: t0, heartbeat: t0, expires: ms(1500 * time.Millisecond)}
			// Bad rows are refused with errBadReplica and store nothing.
			long := strings.Repeat("a", wire.MaxReplicaAddrLen+1)
			for _, tt := range []struct {
				name string
				mod  func(r *replicaRow)
			}{
				{"no ID", func(r *replicaRow) { r.id = "" }},
				{"long ID", func(r *replicaRow) { r.id = strings.Repeat("x", maxReplicaID+1) }},
				{"no address", func(r *replicaRow) { r.addrs = nil }},
				{"an empty address", func(r *replicaRow) { r.addrs = []string{addr(1), ""} }},
				{"too many addresses", func(r *replicaRow) {
					r.addrs = nil
					for i := range MaxAddrsPerReplica + 1 {
						r.addrs = append(r.addrs, addr(i))
					}
				}},
				{"a long address", func(r *replicaRow) { r.addrs = []string{long} }},
				{"a line break", func(r *replicaRow) { r.addrs = []string{addr(1) + "\n" + addr(2)} }},
				{"expired at its heartbeat", func(r *replicaRow) { r.expires = r.heartbeat }},
			} {
				bad := r1
				bad.addrs = slices.Clone(r1.addrs)
				tt.mod(&bad)
				if err := st.heartbeatReplica(ctx, bad); !errors.Is(err, errBadReplica) {
					t.Fatalf("%s: %v, want errBadReplica", tt.name, err)
				}
			}
			if live, err := st.liveReplicas(ctx, t0, 10); err != nil || len(live) != 0 {
				t.Fatalf("refused rows were stored: %+v, %v", live, err)
			}
			for _, r := range []replicaRow{r2, r1} {
				if err := st.heartbeatReplica(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if live, err := st.liveReplicas(ctx, ms(time.Second), 10); err != nil || !slices.EqualFunc(live, []replicaRow{r1, r2}, replicaRow.equal) {
				t.Fatalf("live: %+v, %v", live, err)
			}
			if live, err := st.liveReplicas(ctx, ms(time.Second), 1); err != nil || len(live) != 1 || live[0].id != "r1" {
				t.Fatalf("live, limit 1: %+v, %v", live, err)
			}
			// r2 missed its heartbeats (millisecond precision): it is no
			// longer live, though its row stays until pruned.
			if live, err := st.liveReplicas(ctx, ms(1500*time.Millisecond), 10); err != nil || !slices.EqualFunc(live, []replicaRow{r1}, replicaRow.equal) {
				t.Fatalf("after r2's expiry: %+v, %v", live, err)
			}
			// A heartbeat refreshes the addresses and the expiry, not when
			// the replica started.
			again := replicaRow{id: "r2", addrs: []string{addr(4)}, started: ms(time.Minute), heartbeat: ms(2 * time.Second), expires: ms(time.Minute)}
			if err := st.heartbeatReplica(ctx, again); err != nil {
				t.Fatal(err)
			}
			again.started = t0
			if live, err := st.liveReplicas(ctx, ms(3*time.Second), 10); err != nil || !slices.EqualFunc(live, []replicaRow{r1, again}, replicaRow.equal) {
				t.Fatalf("after r2's heartbeat: %+v, %v", live, err)
			}
			// Pruning drops the rows that expired before the cutoff only.
			if err := st.pruneReplicas(ctx, ms(45*time.Second)); err != nil {
				t.Fatal(err)
			}
			if live, err := st.liveReplicas(ctx, t0, 10); err != nil || !slices.EqualFunc(live, []replicaRow{again}, replicaRow.equal) {
				t.Fatalf("after pruning: %+v, %v", live, err)
			}
			// A replica that shuts down removes itself; removing it twice,
			// or one never seen, changes nothing.
			for range 2 {
				if err := st.removeReplica(ctx, "r2"); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.removeReplica(ctx, "never"); err != nil {
				t.Fatal(err)
			}
			if live, err := st.liveReplicas(ctx, t0, 10); err != nil || len(live) != 0 {
				t.Fatalf("after removal: %+v, %v", live, err)
			}
		}},
		{"password change", func(t *testing.T, st store) {
			mustCreate(t, st, "alice", t0)
			mustCreate(t, st, "bob", t0)
			if err := st.updateRecord(ctx, "nobody", []byte("r"), nil); !errors.Is(err, errNoAccount) {
				t.Fatalf("no account: %v", err)
			}
			// Without an identity a sealed key is ignored.
			if err := st.updateRecord(ctx, "bob", []byte("bob-2"), []byte("stray")); err != nil {
				t.Fatal(err)
			}
			if rec, _ := st.accountRecord(ctx, "bob"); string(rec) != "bob-2" {
				t.Fatalf("bob's record: %q", rec)
			}
			if id, _ := st.accountIdentity(ctx, "bob"); id != nil {
				t.Fatalf("a stray sealed key made an identity: %+v", id)
			}
			d, err := ticket.VerifyDevices(signList(t, newAccountKey(t), "alice", 1, ticket.Device{Peer: testPeer(t, 1)}))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.publishDevices(ctx, d, []byte("seal 1")); err != nil {
				t.Fatal(err)
			}
			if err := st.updateRecord(ctx, "alice", []byte("alice-2"), nil); !errors.Is(err, errNeedSealed) {
				t.Fatalf("identity without a new seal: %v", err)
			}
			if rec, _ := st.accountRecord(ctx, "alice"); string(rec) != "rec-alice" {
				t.Fatalf("a refused change replaced the record: %q", rec)
			}
			if err := st.updateRecord(ctx, "alice", []byte("alice-2"), []byte("seal 2")); err != nil {
				t.Fatal(err)
			}
			id, _ := st.accountIdentity(ctx, "alice")
			if rec, _ := st.accountRecord(ctx, "alice"); string(rec) != "alice-2" || string(id.sealed) != "seal 2" || id.version != 1 {
				t.Fatalf("after the change: record %q, identity %+v", rec, id)
			}
		}},
		{"limits", func(t *testing.T, st store) {
			w := 15 * time.Minute
			acct := limitKey{bucket: "acct", key: "alice", max: 3, window: w}
			addr := limitKey{bucket: "addr", key: "192.0.2.1", max: 4, window: w}
			// A key with a NUL and non-UTF-8 bytes, as an account and a
			// peer ID make one.
			dev := limitKey{bucket: "dev", key: "alice\x00\xff\xfe", max: 1, window: w}
			steps := []struct {
				name string
				at   time.Duration
				keys []limitKey
				full *limitKey // nil: admitted
			}{
				{"first", 0, []limitKey{acct, addr}, nil},
				{"second", time.Second, []limitKey{acct, addr}, nil},
				{"third", 2 * time.Second, []limitKey{acct, addr}, nil},
				{"the account is full: nothing counted", 3 * time.Second, []limitKey{acct, addr}, &acct},
				{"the address alone has room for one", 4 * time.Second, []limitKey{addr}, nil},
				{"now the address is full too", 5 * time.Second, []limitKey{addr, acct}, &addr},
				{"another bucket, the same key", 5 * time.Second, []limitKey{{bucket: "other", key: "alice", max: 1, window: w}}, nil},
				{"a binary key", 5 * time.Second, []limitKey{dev}, nil},
				{"a binary key, full", 5 * time.Second, []limitKey{dev}, &dev},
				{"a key differing in its last byte", 5 * time.Second, []limitKey{{bucket: "dev", key: "alice\x00\xff\xff", max: 1, window: w}}, nil},
				{"just before the first ages out", w - time.Nanosecond, []limitKey{acct}, &acct},
				{"when the first ages out", w, []limitKey{acct}, nil},
				{"the slot it freed is taken", w, []limitKey{acct}, &acct},
			}
			for _, s := range steps {
				full, err := st.attempt(ctx, t0.Add(s.at), s.keys...)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if (full == nil) != (s.full == nil) || (full != nil && *full != *s.full) {
					t.Fatalf("%s: full %+v, want %+v", s.name, full, s.full)
				}
			}
			// forget gives back one attempt, the newest, of each key named.
			if err := st.forget(ctx, acct); err != nil {
				t.Fatal(err)
			}
			if full, err := st.attempt(ctx, t0.Add(w), acct); err != nil || full != nil {
				t.Fatalf("after forget: %+v, %v", full, err)
			}
			if full, _ := st.attempt(ctx, t0.Add(w), acct); full == nil {
				t.Fatal("forget gave back more than one attempt")
			}
			// The newest goes: with attempts at 0 and 10s forgotten once,
			// two fit once the one at 0 aged out.
			k := limitKey{bucket: "newest", key: "k", max: 2, window: w}
			for _, at := range []time.Duration{0, 10 * time.Second} {
				if full, err := st.attempt(ctx, t0.Add(at), k); err != nil || full != nil {
					t.Fatalf("attempt at %v: %+v, %v", at, full, err)
				}
			}
			if err := st.forget(ctx, k); err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{true, true, false} {
				full, err := st.attempt(ctx, t0.Add(w+time.Second), k)
				if err != nil || (full == nil) != want {
					t.Fatalf("attempt %d after the oldest aged out: full %+v, %v; forget took other than the newest", i+1, full, err)
				}
			}
			if err := st.forget(ctx, limitKey{bucket: "acct", key: "nobody", max: 1, window: w}); err != nil {
				t.Fatalf("forgetting a key with no attempts: %v", err)
			}
			// Pruning drops what no longer counts, and only that.
			db := st.(*sqlStore).db
			cut := t0.Add(w + 3*time.Second)
			var keep, total int
			if err := db.QueryRow(st.(*sqlStore).d.rebind("SELECT count(*) FROM limit_attempts WHERE until_ns > ?"), cut.UnixNano()).Scan(&keep); err != nil {
				t.Fatal(err)
			}
			if err := st.pruneAttempts(ctx, cut); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("SELECT count(*) FROM limit_attempts").Scan(&total); err != nil {
				t.Fatal(err)
			}
			if keep == 0 || total != keep {
				t.Fatalf("%d attempts left after pruning, want the %d still counting", total, keep)
			}
			if full, _ := st.attempt(ctx, cut, k); full == nil {
				t.Fatal("pruning dropped attempts that still count")
			}
		}},
		{"limits under concurrency", func(t *testing.T, st store) {
			const max, racers = 5, 24
			acct := limitKey{bucket: "acct", key: "ghost", max: max, window: time.Minute}
			var wg sync.WaitGroup
			admitted := make([]bool, racers)
			for i := range racers {
				// Half name a second key, shared by all, so attempts of
				// one and two keys race too.
				keys := []limitKey{acct}
				if i%2 == 1 {
					keys = append(keys, limitKey{bucket: "addr", key: "198.51.100.7", max: racers, window: time.Minute})
				}
				wg.Go(func() {
					full, err := st.attempt(ctx, t0, keys...)
					if err != nil {
						t.Error(err)
					}
					admitted[i] = err == nil && full == nil
				})
			}
			wg.Wait()
			if n := countOf(admitted, true); n != max {
				t.Fatalf("%d of %d racing attempts admitted, limit %d", n, racers, max)
			}
		}},
		{"registry", func(t *testing.T, st store) {
			since := func(now time.Time) time.Time { return now.Add(-wire.SupernodeTTL) }
			row := func(i int, user string, at time.Time) snRow {
				return snRow{peer: testPeer(t, i), username: user, record: []byte(fmt.Sprint("record ", i)), last: at}
			}
			var olds []*snRow
			issue := func(tk string) func(old *snRow) ([]byte, error) {
				return func(old *snRow) ([]byte, error) { olds = append(olds, old); return []byte(tk), nil }
			}
			beat := func(r snRow, maxTotal, maxPerUser int, tk string) ([]byte, bool, error) {
				return st.beat(ctx, r, since(r.last), maxTotal, maxPerUser, issue(tk))
			}
			list := func(now time.Time) (out []snRow) {
				t.Helper()
				if err := st.liveSupernodes(ctx, since(now), func(r snRow) bool { out = append(out, r); return true }); err != nil {
					t.Fatal(err)
				}
				return out
			}
			tk, added, err := beat(row(1, "op", t0), 10, 2, "t1")
			if err != nil || !added || string(tk) != "t1" || len(olds) != 1 || olds[0] != nil {
				t.Fatalf("first beat: %q, added %v, %v, olds %v", tk, added, err, olds)
			}
			// A refresh sees the row it replaces and keeps what ticketFor
			// returns.
			r1 := row(1, "op", t0.Add(time.Second))
			r1.record = []byte("moved")
			tk, added, err = st.beat(ctx, r1, since(r1.last), 10, 2, func(old *snRow) ([]byte, error) {
				if old == nil || string(old.ticket) != "t1" || old.username != "op" || !old.last.Equal(t0) {
					return nil, fmt.Errorf("old row %+v", old)
				}
				return old.ticket, nil
			})
			if err != nil || added || string(tk) != "t1" {
				t.Fatalf("refresh: %q, added %v, %v", tk, added, err)
			}
			if _, _, err := beat(row(2, "op", t0.Add(time.Second)), 10, 2, "t2"); err != nil {
				t.Fatal(err)
			}
			// Caps refuse new supernodes only, and change nothing.
			if _, _, err := beat(row(3, "op", t0.Add(time.Second)), 10, 2, "t3"); !errors.Is(err, errOperatorFull) {
				t.Fatalf("third of one operator: %v", err)
			}
			if _, _, err := beat(row(3, "other", t0.Add(time.Second)), 2, 2, "t3"); !errors.Is(err, errRegistryFull) {
				t.Fatalf("registry full: %v", err)
			}
			if _, added, err := beat(row(2, "op", t0.Add(2*time.Second)), 2, 2, "t2"); err != nil || added {
				t.Fatalf("a live supernode at the caps refreshes: added %v, %v", added, err)
			}
			got := list(t0.Add(2 * time.Second))
			if len(got) != 2 || got[0].peer > got[1].peer || string(got[0].ticket)+string(got[1].ticket) == "" {
				t.Fatalf("listed %+v", got)
			}
			for _, r := range got {
				if r.peer == testPeer(t, 1) && (string(r.record) != "moved" || !r.last.Equal(t0.Add(time.Second))) {
					t.Fatalf("refreshed row %+v", r)
				}
			}
			// take stops the listing.
			n := 0
			if err := st.liveSupernodes(ctx, since(t0), func(snRow) bool { n++; return false }); err != nil || n != 1 {
				t.Fatalf("stopped listing: %d rows, %v", n, err)
			}
			// Live while the last heartbeat is younger than the TTL.
			at := t0.Add(time.Second + wire.SupernodeTTL) // 1's last beat is TTL old, 2's is not
			if got := list(at.Add(-time.Nanosecond)); len(got) != 2 {
				t.Fatalf("just before the TTL: %d listed", len(got))
			}
			if got := list(at); len(got) != 1 || got[0].peer != testPeer(t, 2) {
				t.Fatalf("at the TTL: %+v", got)
			}
			if n, err := st.countSupernodes(ctx, since(at)); err != nil || n != 1 {
				t.Fatalf("count at the TTL: %d, %v", n, err)
			}
			// A stale row is a new supernode again: counted, and ticketFor
			// sees no row to replace.
			olds = nil
			if _, added, err := beat(row(1, "op", at), 10, 2, "t1b"); err != nil || !added || olds[0] != nil {
				t.Fatalf("beat after the TTL: added %v, %v, old %v", added, err, olds)
			}
			// ticketFor's error is returned and nothing is stored.
			boom := errors.New("cannot sign")
			if _, _, err := st.beat(ctx, row(4, "x", at), since(at), 10, 2, func(*snRow) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
				t.Fatalf("ticketFor failing: %v", err)
			}
			if got := list(at); len(got) != 2 {
				t.Fatalf("after a failed beat: %+v", got)
			}
			// A revoked peer is not listed, whoever revoked it.
			mustCreate(t, st, "op", t0)
			if _, _, err := st.recordIssue(ctx, issued("op", testPeer(t, 2), "rack", t0), 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.revokeDevice(ctx, "op", testPeer(t, 2), at); err != nil {
				t.Fatal(err)
			}
			if got := list(at); len(got) != 1 || got[0].peer != testPeer(t, 1) {
				t.Fatalf("listed with a revoked supernode: %+v", got)
			}
			if err := st.dropSupernode(ctx, testPeer(t, 1)); err != nil {
				t.Fatal(err)
			}
			if got := list(at); len(got) != 0 {
				t.Fatalf("after dropping: %+v", got)
			}
			// The sweep drops rows no longer live, and only those.
			if _, _, err := beat(row(5, "y", at.Add(time.Second)), 10, 2, "t5"); err != nil {
				t.Fatal(err)
			}
			if err := st.sweepSupernodes(ctx, since(at.Add(wire.SupernodeTTL))); err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := st.(*sqlStore).db.QueryRow("SELECT count(*) FROM supernodes").Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%d rows after the sweep, %v", rows, err)
			}
		}},
		{"registry under concurrency", func(t *testing.T, st store) {
			const maxTotal, maxPerUser, racers = 5, 3, 16
			var wg sync.WaitGroup
			var mu sync.Mutex
			byUser := map[string]int{}
			for i := range racers {
				user := []string{"a", "b"}[i%2]
				wg.Go(func() {
					r := snRow{peer: testPeer(t, i), username: user, record: []byte("r"), last: t0}
					_, _, err := st.beat(ctx, r, t0.Add(-wire.SupernodeTTL), maxTotal, maxPerUser, func(*snRow) ([]byte, error) { return []byte("t"), nil })
					switch {
					case err == nil:
						mu.Lock()
						byUser[user]++
						mu.Unlock()
					case !errors.Is(err, errRegistryFull) && !errors.Is(err, errOperatorFull):
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if byUser["a"]+byUser["b"] != maxTotal || byUser["a"] > maxPerUser || byUser["b"] > maxPerUser {
				t.Fatalf("registered %v: caps %d in all, %d each", byUser, maxTotal, maxPerUser)
			}
			if n, _ := st.countSupernodes(ctx, t0.Add(-wire.SupernodeTTL)); n != maxTotal {
				t.Fatalf("%d rows live, want %d", n, maxTotal)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEngines(t, func(t *testing.T, db string) { tt.run(t, openTest(t, db)) })
		})
	}
}

func mustCreate(t *testing.T, st store, user string, at time.Time) {
	t.Helper()
	if err := st.createAccount(context.Background(), user, []byte("rec-"+user), at.Unix()); err != nil {
		t.Fatal(err)
	}
}

func countOf[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestMigrationsMatch: both engines have the same migrations, number for
// number and name for name, so a schema version means the same on both.
func TestMigrationsMatch(t *testing.T) {
	lite, err := sqlite.LoadMigrations(migrationFS, sqliteMigrations)
	if err != nil {
		t.Fatal(err)
	}
	pgm, err := sqlite.LoadMigrations(migrationFS, postgresMigrations)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []sqlite.Migration) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	if !slices.Equal(names(lite), names(pgm)) || len(lite) == 0 {
		t.Fatalf("sqlite %v, postgres %v", names(lite), names(pgm))
	}
}

// TestPostgresMigrationLock: replicas starting together on one empty
// database apply each migration once, under the advisory lock; none fails.
func TestPostgresMigrationLock(t *testing.T) {
	url := sharedPG(t).CreateDB(t)
	const replicas = 4
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			st, err := openStore(context.Background(), DBSource{Engine: Postgres, URL: url})
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			st.close()
		})
	}
	wg.Wait()
	st := openTest(t, url).(*sqlStore)
	var rows, newest int
	if err := st.db.QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &newest); err != nil {
		t.Fatal(err)
	}
	if ms, _ := sqlite.LoadMigrations(migrationFS, postgresMigrations); rows != len(ms) || newest != len(ms) {
		t.Fatalf("schema_migrations: %d rows up to %d, want %d", rows, newest, len(ms))
	}
}

// TestPostgresSchemaVersions: a database an older server left (here at
// version 1, with an account) is brought up to date with its data; one
// from a newer server is refused and left as it is.
func TestPostgresSchemaVersions(t *testing.T) {
	ctx := context.Background()
	url := sharedPG(t).CreateDB(t)
	old, err := openPostgresAt(ctx, url, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.createAccount(ctx, "alice", []byte("rec"), 1); err != nil {
		t.Fatal(err)
	}
	old.close()
	st := openTest(t, url)
	if _, _, err := st.recordIssue(ctx, issued("alice", testPeer(t, 1), "d", time.Now()), 0); err != nil {
		t.Fatalf("a device on the migrated database: %v", err)
	}
	db := st.(*sqlStore).db
	if _, err := db.Exec("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := openPostgres(ctx, url); err == nil {
		t.Fatal("opened a database from a newer program")
	}
	if n, err := st.countAccounts(ctx); err != nil || n != 1 {
		t.Fatalf("accounts after the refusal: %d, %v", n, err)
	}
}

// TestParseDB: a URL picks PostgreSQL, a path or sqlite:PATH SQLite; what
// names no database is refused with ErrBadDB, and a password never shows in
// what the source prints.
func TestParseDB(t *testing.T) {
	for _, tt := range []struct {
		in         string
		engine     Engine
		path, show string // show: String()
	}{
		{"auth.db", SQLite, "auth.db", "auth.db"},
		{"/var/lib/eserver/auth.db", SQLite, "/var/lib/eserver/auth.db", "/var/lib/eserver/auth.db"},
		{"sqlite:auth.db", SQLite, "auth.db", "auth.db"},
		{"sqlite:/abs/auth.db", SQLite, "/abs/auth.db", "/abs/auth.db"},
		{"c:auth.db", SQLite, "c:auth.db", "c:auth.db"}, // no //: a file name with a colon
		{"postgres://eserver@db1:5432/auth?sslmode=disable", Postgres, "", "postgres://eserver@db1:5432/auth?sslmode=disable"},
		{"postgresql://eserver:s3cret@db1/auth", Postgres, "", "postgresql://eserver:xxxxx@db1/auth"},
		{"", 0, "", ""},
		{"sqlite:", 0, "", ""},
		{"mysql://db1/auth", 0, "", ""},
		{"postgres://eserver@db1:notaport/auth", 0, "", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			src, err := ParseDB(tt.in)
			if tt.show == "" {
				if !errors.Is(err, ErrBadDB) {
					t.Fatalf("got %+v, %v; want ErrBadDB", src, err)
				}
				if strings.Contains(fmt.Sprint(err), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil || src.Engine != tt.engine || src.Path != tt.path || src.String() != tt.show {
				t.Fatalf("got %+v (%s), %v", src, src, err)
			}
			if tt.engine == Postgres && src.URL != tt.in {
				t.Fatalf("URL %q", src.URL)
			}
		})
	}
}

// TestTransientSync: on SQLite the transient tables' writes commit with
// synchronous = NORMAL on the pinned connection, and every other write
// goes on with FULL — after an attempt, a forget, a sweep, and after a
// transient write that failed.
func TestTransientSync(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, filepath.Join(t.TempDir(), "auth.db")).(*sqlStore)
	sync := func(s *sqlStore) int {
		var n int
		if err := s.c().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	k := limitKey{bucket: "acct", key: "alice", max: 3, window: time.Minute}
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"attempt", func() error { _, err := st.attempt(ctx, time.Now(), k); return err }},
		{"forget", func() error { return st.forget(ctx, k) }},
		{"sweep", func() error { return st.sweepSupernodes(ctx, time.Now()) }},
		{"a failed write", func() error {
			if err := st.transientExec(ctx, "INSERT INTO no_such_table VALUES (1)"); err == nil {
				t.Error("an insert into no table succeeded")
			}
			return nil
		}},
	} {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := sync(st); got != 2 {
			t.Errorf("after %s: synchronous %d, want 2 (FULL)", tc.name, got)
		}
	}
	if err := st.transient(ctx, func(s *sqlStore) error {
		if got := sync(s); got != 1 {
			t.Errorf("inside transient: synchronous %d, want 1 (NORMAL)", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// equal compares replica rows as the store keeps them.
func (r replicaRow) equal(o replicaRow) bool {
	return r.id == o.id && slices.Equal(r.addrs, o.addrs) &&
		r.started.Equal(o.started) && r.heartbeat.Equal(o.heartbeat) && r.expires.Equal(o.expires)
}
