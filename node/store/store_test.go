package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testKey is the storage key of the tests' stores.
var testKey = bytes.Repeat([]byte{3}, StorageKeySize)

// openTemp opens a fresh store, unlocked with testKey.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	s, path := openLocked(t)
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	return s, path
}

// openLocked opens a fresh store, not unlocked.
func openLocked(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "account.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpenSettings(t *testing.T) {
	s, _ := openTemp(t)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"secure_delete", "1"}, // old sealed secrets are zeroed (TestOldSecretsScrubbed)
		{"user_version", fmt.Sprint(mustMigrations(t))},
	} {
		var got string
		if err := s.db.QueryRow(`PRAGMA ` + tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}

func mustMigrations(t testing.TB) int {
	t.Helper()
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return len(migs)
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	// A database from a newer program is refused, not damaged.
	_, path := openTemp(t)
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 999`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Error("Open of a newer schema succeeded")
	}
}

func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #name%20.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetSetting("k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestSettings(t *testing.T) {
	s, _ := openTemp(t)
	for _, tc := range []struct{ key, value string }{
		{"server", "/ip4/127.0.0.1/tcp/1864"},
		{"server", "/ip4/10.0.0.1/tcp/1864"}, // overwrite
		{"empty", ""},
		{"unicode ☃", "värde"},
	} {
		if err := s.SetSetting(tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		got, err := s.Setting(tc.key)
		if err != nil || got != tc.value {
			t.Fatalf("Setting(%q) = %q, %v; want %q", tc.key, got, err, tc.value)
		}
	}
	if got, err := s.Setting("absent"); err != nil || got != "" {
		t.Fatalf("Setting(absent) = %q, %v", got, err)
	}
}

func TestIdentity(t *testing.T) {
	s, _ := openTemp(t)
	pw := []byte("correct horse")
	id := Identity{DeviceKey: bytes.Repeat([]byte{7}, 68), BoxKey: bytes.Repeat([]byte{9}, 32), StorageKey: bytes.Repeat([]byte{5}, 32)}

	if _, err := s.Identity(pw); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Identity before create: %v, want ErrNoIdentity", err)
	}
	if err := s.Reseal(pw, []byte("x")); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Reseal before create: %v, want ErrNoIdentity", err)
	}
	for _, bad := range []Identity{
		{DeviceKey: nil, BoxKey: id.BoxKey},
		{DeviceKey: id.DeviceKey, BoxKey: id.BoxKey[:31], StorageKey: id.StorageKey},
		{DeviceKey: id.DeviceKey, BoxKey: id.BoxKey, StorageKey: id.StorageKey[:31]},
		{DeviceKey: id.DeviceKey, BoxKey: id.BoxKey},
	} {
		if err := s.CreateIdentity(pw, bad); err == nil {
			t.Fatalf("CreateIdentity(%v) succeeded", bad)
		}
	}
	if err := s.CreateIdentity(pw, id); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIdentity(pw, id); !errors.Is(err, ErrIdentityExists) {
		t.Fatalf("second CreateIdentity: %v, want ErrIdentityExists", err)
	}

	// Nothing of the keys is stored in the clear.
	var sealed []byte
	if err := s.db.QueryRow(`SELECT sealed FROM identity`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, id.DeviceKey[:16]) || bytes.Contains(sealed, id.BoxKey[:16]) || bytes.Contains(sealed, id.StorageKey[:16]) {
		t.Fatal("identity stored in the clear")
	}

	for _, tc := range []struct {
		name string
		pw   []byte
		want error
	}{
		{"right", pw, nil},
		{"wrong", []byte("wrong horse"), ErrWrongPassword},
		{"empty", nil, ErrWrongPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Identity(tc.pw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Identity: %v, want %v", err, tc.want)
			}
			if err == nil && (!bytes.Equal(got.DeviceKey, id.DeviceKey) || !bytes.Equal(got.BoxKey, id.BoxKey) || !bytes.Equal(got.StorageKey, id.StorageKey)) {
				t.Fatalf("Identity = %x, want %x", got, id)
			}
		})
	}

	newPW := []byte("battery staple")
	if err := s.Reseal([]byte("wrong"), newPW); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Reseal with wrong password: %v", err)
	}
	if err := s.Reseal(pw, newPW); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(pw); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after Reseal: %v", err)
	}
	got, err := s.Identity(newPW)
	if err != nil || !bytes.Equal(got.DeviceKey, id.DeviceKey) || !bytes.Equal(got.BoxKey, id.BoxKey) || !bytes.Equal(got.StorageKey, id.StorageKey) {
		t.Fatalf("Identity after Reseal = %x, %v", got, err)
	}

	// Tampering with the stored KDF parameters makes it unopenable.
	if _, err := s.db.Exec(`UPDATE identity SET time = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(newPW); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Identity with tampered parameters: %v", err)
	}
	// Absurd parameters are refused before running the KDF.
	if _, err := s.db.Exec(`UPDATE identity SET memory = 1 << 40`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(newPW); err == nil || errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Identity with absurd parameters: %v", err)
	}
}

func TestDecodeIdentity(t *testing.T) {
	good := encodeIdentity(Identity{DeviceKey: []byte("dk"), BoxKey: bytes.Repeat([]byte{1}, 32), StorageKey: bytes.Repeat([]byte{2}, 32)})
	// Format 1, written before storage keys: device and box key only.
	v1 := append([]byte{1, 2}, "dk"...)
	v1 = append(append(v1, 32), bytes.Repeat([]byte{1}, 32)...)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"good", good, true},
		{"format 1", v1, true},
		{"format 1 with a storage key", append([]byte{1}, good[1:]...), false},
		{"short storage key", encodeIdentity(Identity{DeviceKey: []byte("dk"), BoxKey: bytes.Repeat([]byte{1}, 32), StorageKey: []byte{1}}), false},
		{"empty", nil, false},
		{"bad format", append([]byte{3}, good[1:]...), false},
		{"truncated", good[:len(good)-1], false},
		{"trailing", append(slices.Clone(good), 0), false},
		{"huge length", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeIdentity(tc.in); (err == nil) != tc.ok {
				t.Fatalf("decodeIdentity: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestContacts(t *testing.T) {
	s, _ := openTemp(t)
	now := time.Now()
	cs := []Contact{
		{Username: "carol", Relation: "pending-in", RequestMessage: "hi, it's carol", Updated: now},
		{Username: "alice", Relation: "accepted", Status: "busy", Nick: "Alice", Subnick: "working",
			Media: "Song", PeerID: "12D3KooW", Ticket: []byte{1, 2, 3}, Updated: now.Add(time.Second),
			VerifiedKey: []byte("fingerprint"), KeyChanged: now.Add(-time.Hour),
			Group: "Friends", Alias: "Al", Avatar: "ab12"},
		{Username: "bob", Relation: "pending-out"},
	}
	for _, c := range cs {
		if err := s.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []Contact{{Relation: "accepted"}, {Username: "x"}} {
		if err := s.PutContact(bad); err == nil {
			t.Fatalf("PutContact(%+v) succeeded", bad)
		}
	}
	got, err := s.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	want := []Contact{cs[1], cs[2], cs[0]}
	if len(got) != len(want) {
		t.Fatalf("Contacts = %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		assertContact(t, got[i], want[i])
	}

	// Upsert replaces every field.
	up := cs[0]
	up.Relation, up.RequestMessage, up.Status, up.Ticket = "accepted", "", "online", []byte("ticket")
	up.Group, up.Alias, up.Avatar = "Work", "Caz", "cd34"
	if err := s.PutContact(up); err != nil {
		t.Fatal(err)
	}
	c, err := s.Contact("carol")
	if err != nil {
		t.Fatal(err)
	}
	assertContact(t, c, up)

	if _, err := s.Contact("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Contact(nobody): %v", err)
	}
	if err := s.DeleteContact("carol"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteContact("carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteContact: %v", err)
	}
	if _, err := s.Contact("carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Contact after delete: %v", err)
	}
	if got, _ := s.Contacts(); len(got) != 2 {
		t.Fatalf("Contacts after delete = %d", len(got))
	}
}

func assertContact(t *testing.T, got, want Contact) {
	t.Helper()
	if !got.Updated.Equal(want.Updated) || !bytes.Equal(got.Ticket, want.Ticket) ||
		!got.KeyChanged.Equal(want.KeyChanged) || !bytes.Equal(got.VerifiedKey, want.VerifiedKey) {
		t.Fatalf("contact = %+v, want %+v", got, want)
	}
	got.Updated, want.Updated, got.Ticket, want.Ticket = time.Time{}, time.Time{}, nil, nil
	got.KeyChanged, want.KeyChanged, got.VerifiedKey, want.VerifiedKey = time.Time{}, time.Time{}, nil, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("contact = %+v, want %+v", got, want)
	}
}

func assertMessage(t *testing.T, got, want Message) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Fatalf("message time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("message = %+v, want %+v", got, want)
	}
}

func TestEnqueueAcknowledgeFail(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Now()

	m1 := &Message{ID: "m1", Peer: "bob", Text: "hello", Time: t0}
	e1, err := s.Enqueue(m1, OutboxEntry{ID: "m1", Peer: "bob", Payload: []byte("sealed-1"), Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	if !m1.Outgoing || m1.State != StateQueued {
		t.Fatalf("Enqueue did not update m: %+v", m1)
	}
	// A contact request has no chat message.
	e2, err := s.Enqueue(nil, OutboxEntry{ID: "r1", Peer: "bob", Payload: []byte("request")})
	if err != nil {
		t.Fatal(err)
	}
	e3, err := s.Enqueue(&Message{ID: "m2", Peer: "carol", Text: "hey"}, OutboxEntry{ID: "m2", Peer: "carol", Payload: []byte("sealed-2")})
	if err != nil {
		t.Fatal(err)
	}
	if !(e1.Seq < e2.Seq && e2.Seq < e3.Seq) || e2.Created.IsZero() {
		t.Fatalf("entries %+v %+v %+v", e1, e2, e3)
	}

	for _, tc := range []struct {
		name string
		m    *Message
		e    OutboxEntry
	}{
		{"duplicate id", nil, OutboxEntry{ID: "m1", Peer: "bob"}},
		{"duplicate message", &Message{ID: "m1", Peer: "bob"}, OutboxEntry{ID: "m1", Peer: "bob"}},
		{"mismatched id", &Message{ID: "x", Peer: "bob"}, OutboxEntry{ID: "y", Peer: "bob"}},
		{"mismatched peer", &Message{ID: "x", Peer: "bob"}, OutboxEntry{ID: "x", Peer: "carol"}},
		{"empty id", nil, OutboxEntry{Peer: "bob"}},
		{"empty peer", nil, OutboxEntry{ID: "z"}},
		{"bad state", &Message{ID: "z", Peer: "bob", State: "bogus"}, OutboxEntry{ID: "z", Peer: "bob"}},
		{"outbox id taken", &Message{ID: "r1", Peer: "bob"}, OutboxEntry{ID: "r1", Peer: "bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Enqueue(tc.m, tc.e); err == nil {
				t.Fatal("Enqueue succeeded")
			}
		})
	}
	// A failed Enqueue leaves no message behind: message and entry are one transaction.
	for _, id := range []string{"z", "r1", "x"} {
		if _, err := s.Message(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Message(%s) after failed enqueue: %v", id, err)
		}
	}

	ob, err := s.Outbox("bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(ob) != 2 || ob[0].ID != "m1" || ob[1].ID != "r1" || ob[0].Seq != e1.Seq ||
		!bytes.Equal(ob[0].Payload, []byte("sealed-1")) || !ob[0].Created.Equal(t0) {
		t.Fatalf("Outbox(bob) = %+v", ob)
	}
	peers, err := s.OutboxPeers()
	if err != nil || !slices.Equal(peers, []string{"bob", "carol"}) {
		t.Fatalf("OutboxPeers = %v, %v", peers, err)
	}

	assertState := func(id, want string) {
		t.Helper()
		m, err := s.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		if m.State != want {
			t.Fatalf("message %s state %s, want %s", id, m.State, want)
		}
	}
	assertState("m1", StateQueued)
	m, _ := s.Message("m1")
	assertMessage(t, m, Message{ID: "m1", Peer: "bob", Outgoing: true, Text: "hello", Time: t0, State: StateQueued})

	for _, tc := range []struct {
		id    string
		found bool
	}{{"m1", true}, {"m1", false}, {"r1", true}, {"nope", false}} {
		found, err := s.Acknowledge(tc.id)
		if err != nil || found != tc.found {
			t.Fatalf("Acknowledge(%s) = %v, %v; want %v", tc.id, found, err, tc.found)
		}
	}
	assertState("m1", StateDelivered)

	if err := s.Fail("m2"); err != nil {
		t.Fatal(err)
	}
	assertState("m2", StateFailed)
	if err := s.Fail("m2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Fail: %v", err)
	}
	if peers, _ := s.OutboxPeers(); len(peers) != 0 {
		t.Fatalf("OutboxPeers after all done = %v", peers)
	}
	if ob, _ := s.Outbox("bob"); len(ob) != 0 {
		t.Fatalf("Outbox(bob) after ack = %v", ob)
	}
	if _, err := s.Message("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Message(nope): %v", err)
	}
}

func TestAddIncomingDedup(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Unix(1700000000, 123456789)
	for _, tc := range []struct {
		name     string
		m        Message
		inserted bool
	}{
		{"new", Message{ID: "x1", Peer: "alice", Text: "first", Time: t0}, true},
		{"duplicate with other text", Message{ID: "x1", Peer: "alice", Text: "changed", Time: t0.Add(time.Hour)}, false},
		{"same id other peer", Message{ID: "x1", Peer: "bob", Text: "bob's", Time: t0}, true},
		{"second", Message{ID: "x2", Peer: "alice", Text: "second"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := s.AddIncoming(tc.m)
			if err != nil || ins != tc.inserted {
				t.Fatalf("AddIncoming = %v, %v; want %v", ins, err, tc.inserted)
			}
		})
	}
	for _, bad := range []Message{{Peer: "a"}, {ID: "a"}, {ID: "a", Peer: "b", State: "bogus"}} {
		if _, err := s.AddIncoming(bad); err == nil {
			t.Fatalf("AddIncoming(%+v) succeeded", bad)
		}
	}
	h, err := s.History("alice", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Fatalf("History = %+v", h)
	}
	assertMessage(t, h[0], Message{ID: "x1", Peer: "alice", Text: "first", Time: t0, State: StateReceived})
	if h[1].Time.IsZero() || h[1].State != StateReceived {
		t.Fatalf("defaults not applied: %+v", h[1])
	}
}

func TestHistoryOrder(t *testing.T) {
	s, _ := openTemp(t)
	const n = 1000
	// Times run backwards and collide, so only insertion order can be right.
	base := time.Now()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("id-%04d", i)
		ids = append(ids, id)
		tm := base.Add(-time.Duration(i/3) * time.Second)
		var err error
		if i%2 == 0 {
			_, err = s.Enqueue(&Message{ID: id, Peer: "alice", Text: id, Time: tm}, OutboxEntry{ID: id, Peer: "alice"})
		} else {
			_, err = s.AddIncoming(Message{ID: id, Peer: "alice", Text: id, Time: tm})
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // another conversation interleaved
			if _, err := s.AddIncoming(Message{ID: id, Peer: "bob", Text: "other"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := s.History("alice", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := msgIDs(all); !slices.Equal(got, ids) {
		t.Fatalf("History order wrong: first %v", got[:5])
	}

	for _, tc := range []struct {
		name   string
		limit  int
		before string
		want   []string
	}{
		{"newest 10", 10, "", ids[n-10:]},
		{"10 before 500", 10, "id-0500", ids[490:500]},
		{"before the first", 10, "id-0000", nil},
		{"limit larger than rest", 100, "id-0005", ids[:5]},
		{"all before", 0, "id-0003", ids[:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.History("alice", tc.limit, tc.before)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(msgIDs(got), tc.want) {
				t.Fatalf("History = %v, want %v", msgIDs(got), tc.want)
			}
		})
	}

	// Paging back from the newest yields everything exactly once, in order.
	var paged []string
	before := ""
	for pages := 0; ; pages++ {
		if pages > len(ids) {
			t.Fatalf("paging back did not reach the first message within %d pages", pages)
		}
		page, err := s.History("alice", 64, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(msgIDs(page), paged...)
		before = page[0].ID
	}
	if !slices.Equal(paged, ids) {
		t.Fatal("paging lost or reordered messages")
	}

	if _, err := s.History("alice", 10, "no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History before unknown id: %v", err)
	}
	if _, err := s.History("bob", 10, "id-0001"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History before another conversation's id: %v", err)
	}
	if h, err := s.History("nobody", 10, ""); err != nil || len(h) != 0 {
		t.Fatalf("History(nobody) = %v, %v", h, err)
	}
}

func msgIDs(ms []Message) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestReopen(t *testing.T) {
	s, path := openTemp(t)
	pw := []byte("pw")
	id := Identity{DeviceKey: []byte("device"), BoxKey: make([]byte, 32), StorageKey: make([]byte, 32)}
	if err := s.CreateIdentity(pw, id); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContact(Contact{Username: "bob", Relation: "accepted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(&Message{ID: "o1", Peer: "bob", Text: "out"}, OutboxEntry{ID: "o1", Peer: "bob", Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddIncoming(Message{ID: "i1", Peer: "bob", Text: "in"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Identity(pw); err != nil || !bytes.Equal(got.DeviceKey, id.DeviceKey) {
		t.Fatalf("Identity after reopen = %v, %v", got, err)
	}
	if v, _ := s.Setting("k"); v != "v" {
		t.Fatalf("Setting after reopen = %q", v)
	}
	if _, err := s.Contact("bob"); err != nil {
		t.Fatal(err)
	}
	if ob, _ := s.Outbox("bob"); len(ob) != 1 || ob[0].ID != "o1" {
		t.Fatalf("Outbox after reopen = %v", ob)
	}
	if h, _ := s.History("bob", 0, ""); !slices.Equal(msgIDs(h), []string{"o1", "i1"}) {
		t.Fatalf("History after reopen = %v", msgIDs(h))
	}
	// A later seq never reuses an old one.
	e, err := s.Enqueue(nil, OutboxEntry{ID: "o2", Peer: "bob"})
	if err != nil || e.Seq <= 1 {
		t.Fatalf("Enqueue after reopen = %+v, %v", e, err)
	}
}

func TestMigrateFromOldVersions(t *testing.T) {
	migs := mustMigrations(t)
	for from := 0; from < migs; from++ {
		t.Run(fmt.Sprintf("from v%d", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			all, err := loadMigrations()
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite3", dsn(path))
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			if err := setup(db, all, from); err != nil {
				t.Fatal(err)
			}
			var v int
			if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != from {
				t.Fatalf("user_version = %d, %v; want %d", v, err, from)
			}
			if from >= 1 { // data written by the old schema
				if _, err := db.Exec(`INSERT INTO messages (id, peer, outgoing, text, time, state)
					VALUES ('old1', 'alice', 0, 'remember the zeppelin', 1, 'received')`); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()

			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != migs {
				t.Fatalf("user_version after Open = %d, %v; want %d", v, err, migs)
			}
			if err := s.Unlock(testKey); err != nil {
				t.Fatal(err)
			}
			search := func(word string) []string {
				hs, err := s.Search(context.Background(), SearchQuery{Text: word})
				if err != nil {
					t.Fatal(err)
				}
				return hitIDs(hs)
			}
			if from >= 1 {
				// Old rows are sealed at Unlock and in the index.
				if m, err := s.Message("old1"); err != nil || m.Text != "remember the zeppelin" {
					t.Fatalf("old row after Unlock: %+v, %v", m, err)
				}
				if got := search("zeppelin"); !slices.Equal(got, []string{"old1"}) {
					t.Fatalf("search of an old row: %v", got)
				}
			}
			// New rows are indexed, and leave the index when deleted.
			if _, err := s.AddIncoming(Message{ID: "new1", Peer: "alice", Text: "a blimp"}); err != nil {
				t.Fatal(err)
			}
			if got := search("blimp"); !slices.Equal(got, []string{"new1"}) {
				t.Fatalf("new message not indexed: %v", got)
			}
			if _, err := s.db.Exec(`DELETE FROM messages WHERE id = 'new1'`); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.db.QueryRow(`SELECT count(*) FROM messages_index`).Scan(&n); err != nil || n != min(from, 1) {
				t.Fatalf("%d rows in the index after the delete (%v), want %d", n, err, min(from, 1))
			}
			if got := search("blimp"); len(got) != 0 {
				t.Fatalf("deleted message still found: %v", got)
			}
		})
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	bad := []migration{
		{1, "001_ok.sql", `CREATE TABLE a (x);`},
		{2, "002_bad.sql", `CREATE TABLE b (x); THIS IS NOT SQL;`},
	}
	if err := setup(db, bad, 2); err == nil {
		t.Fatal("bad migration succeeded")
	}
	var v, n int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("user_version = %d, %v; want 1", v, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("half-applied migration left table b: %d, %v", n, err)
	}
}

// TestCrashKeepsEnqueued re-runs this test binary as a child that enqueues
// messages and prints each ID once Enqueue has returned; the parent kills it
// with SIGKILL mid-run and checks that every printed ID survived.
func TestCrashKeepsEnqueued(t *testing.T) {
	if path := os.Getenv("ESERVER_STORE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsEnqueued$")
	cmd.Env = append(os.Environ(), "ESERVER_STORE_CRASH_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 150
	var acked []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ENQUEUED ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before being killed (%d IDs): %v", len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	ob, err := s.Outbox("bob")
	if err != nil {
		t.Fatal(err)
	}
	inOutbox := map[string]bool{}
	for _, e := range ob {
		inOutbox[e.ID] = true
	}
	for _, id := range acked {
		if _, err := s.Message(id); err != nil {
			t.Fatalf("message %s printed as enqueued is lost: %v", id, err)
		}
		if !inOutbox[id] {
			t.Fatalf("outbox entry %s printed as enqueued is lost", id)
		}
	}
	t.Logf("%d enqueued IDs printed before SIGKILL, all present; %d in the outbox", len(acked), len(ob))
}

func crashChild(path string) {
	s, err := Open(path)
	if err == nil {
		err = s.Unlock(testKey)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(2 * time.Minute) // never outlive a lost parent for long
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("crash-%06d", i)
		if _, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: "message " + id},
			OutboxEntry{ID: id, Peer: "bob", Payload: bytes.Repeat([]byte{byte(i)}, 200)}); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		// Unbuffered write: the parent sees exactly the IDs whose Enqueue returned.
		fmt.Fprintf(os.Stdout, "ENQUEUED %s\n", id)
	}
	os.Exit(3)
}

func BenchmarkEnqueue(b *testing.B) {
	s, _ := openTemp(b)
	payload := bytes.Repeat([]byte{1}, 300)
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("b-%d", i)
		i++
		if _, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: "benchmark message text"},
			OutboxEntry{ID: id, Peer: "bob", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddIncoming(b *testing.B) {
	s, _ := openTemp(b)
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("b-%d", i)
		i++
		if _, err := s.AddIncoming(Message{ID: id, Peer: "alice", Text: "benchmark message text"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := openTemp(t)
	const workers, each = 4, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Enqueue(&Message{ID: id, Peer: "bob", Text: id}, OutboxEntry{ID: id, Peer: "bob"}); err != nil {
					errs <- err
					return
				}
				if _, err := s.AddIncoming(Message{ID: id, Peer: "alice", Text: id}); err != nil {
					errs <- err
					return
				}
				if _, err := s.History("bob", 10, ""); err != nil {
					errs <- err
					return
				}
				if _, err := s.Acknowledge(id); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, peer := range []string{"alice", "bob"} {
		if h, err := s.History(peer, 0, ""); err != nil || len(h) != workers*each {
			t.Fatalf("History(%s) = %d messages, %v", peer, len(h), err)
		}
	}
}

func TestHandedOverAndReceipts(t *testing.T) {
	s, _ := openTemp(t)
	m := &Message{ID: "m1", Peer: "bob", Outgoing: true, Text: "hi"}
	if _, err := s.Enqueue(m, OutboxEntry{ID: "m1", Peer: "bob", Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if err := s.HandedOver("m1"); err != nil {
		t.Fatal(err)
	}
	if err := s.HandedOver("m1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second hand-over: %v", err)
	}
	if out, _ := s.Outbox("bob"); len(out) != 0 {
		t.Fatalf("outbox after hand-over: %v", out)
	}
	if got, _ := s.Message("m1"); got.State != StateQueued {
		t.Fatalf("state after hand-over: %s", got.State)
	}
	// Only bob's receipt counts, and only once.
	if changed, err := s.MarkDelivered("carol", "m1"); err != nil || changed {
		t.Fatalf("carol's receipt: %v, %v", changed, err)
	}
	if changed, err := s.MarkDelivered("bob", "m1"); err != nil || !changed {
		t.Fatalf("bob's receipt: %v, %v", changed, err)
	}
	if changed, err := s.MarkDelivered("bob", "m1"); err != nil || changed {
		t.Fatalf("repeated receipt: %v, %v", changed, err)
	}
	if got, _ := s.Message("m1"); got.State != StateDelivered {
		t.Fatalf("state after receipt: %s", got.State)
	}
}

// TestStrengthen: a profile sealed with the weaker stretching of older
// releases is re-sealed with the current parameters at the next sign-in,
// still opens with the same password and keeps the same keys; a current one
// is left alone.
func TestStrengthen(t *testing.T) {
	s, _ := openTemp(t)
	pw := []byte("correct horse")
	id := Identity{DeviceKey: bytes.Repeat([]byte{7}, 68), BoxKey: bytes.Repeat([]byte{9}, 32), StorageKey: bytes.Repeat([]byte{5}, 32)}
	old, err := sealIdentityWith(pw, id, 2, 19*1024) // what releases before 2026-12 wrote
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO identity (id, kdf, salt, time, memory, threads, nonce, sealed) VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
		old.kdf, old.salt, old.time, old.memory, old.threads, old.nonce, old.sealed); err != nil {
		t.Fatal(err)
	}
	params := func() (tm, mem int) {
		t.Helper()
		if err := s.db.QueryRow(`SELECT time, memory FROM identity`).Scan(&tm, &mem); err != nil {
			t.Fatal(err)
		}
		return tm, mem
	}
	if _, err := s.Strengthen([]byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Strengthen with a wrong password: %v", err)
	}
	if tm, mem := params(); tm != 2 || mem != 19*1024 {
		t.Fatalf("a failed Strengthen changed the seal to t=%d m=%d", tm, mem)
	}
	did, err := s.Strengthen(pw)
	if err != nil || !did {
		t.Fatalf("Strengthen of an old seal: %v, %v", did, err)
	}
	if tm, mem := params(); tm < 3 || mem < 64*1024 {
		t.Fatalf("after Strengthen t=%d m=%d KiB, want at least t=3, 64 MiB", tm, mem)
	}
	got, err := s.Identity(pw)
	if err != nil || !bytes.Equal(got.DeviceKey, id.DeviceKey) || !bytes.Equal(got.StorageKey, id.StorageKey) {
		t.Fatalf("identity after Strengthen: %x, %v", got, err)
	}
	if did, err := s.Strengthen(pw); err != nil || did {
		t.Fatalf("second Strengthen: %v, %v (want nothing to do)", did, err)
	}
}

// BenchmarkSealIdentity is the password stretching a sign-in costs (one
// Argon2id run opens the identity), with the parameters of releases before
// 2026-12 beside the current ones.
func BenchmarkSealIdentity(b *testing.B) {
	id := Identity{DeviceKey: bytes.Repeat([]byte{7}, 68), BoxKey: bytes.Repeat([]byte{9}, 32), StorageKey: bytes.Repeat([]byte{5}, 32)}
	for _, p := range []struct {
		name         string
		time, memory uint32
	}{
		{"old_t2_m19MiB", 2, 19 * 1024},
		{"now_t3_m64MiB", argonTime, argonMemory},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := sealIdentityWith([]byte("correct horse"), id, p.time, p.memory); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
