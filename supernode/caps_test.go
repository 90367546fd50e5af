package supernode

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
	"eserver/sqlite"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// randomIDs returns n peer IDs of supernodes that do not run: the others
// of a registry list.
func randomIDs(t *testing.T, n int) []peer.ID {
	t.Helper()
	ids := make([]peer.ID, n)
	for i := range ids {
		ids[i] = sntest.ID(t, sntest.Key(t))
	}
	return ids
}

func randomMailbox(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, client.MailboxIDSize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// homedHere returns n random mailbox IDs whose first wire.Homes homes among
// sns include self, and n whose first MailHomeWindow homes do not.
func homedHere(t *testing.T, self peer.ID, sns []peer.ID, n int) (home, away [][]byte) {
	t.Helper()
	for len(home) < n || len(away) < n {
		box := randomMailbox(t)
		switch {
		case slices.Contains(client.HomesFor(string(box), sns, wire.Homes), self):
			if len(home) < n {
				home = append(home, box)
			}
		case !slices.Contains(client.HomesFor(string(box), sns, MailHomeWindow), self):
			if len(away) < n {
				away = append(away, box)
			}
		}
	}
	return home, away
}

// TestMailRandomMailboxesAttack is issue 13's item 2: one account writing
// to random mailbox IDs nobody owns filled the supernode's disk, since only
// the ID's length was checked and quotas were per mailbox. Now a supernode
// takes mail only for mailboxes it is a home of, each sender has a byte
// budget, and all mailboxes together have a byte cap.
func TestMailRandomMailboxesAttack(t *testing.T) {
	const item = 16 << 10 // a padded size bucket
	ctx := sntest.Ctx(t)
	others := randomIDs(t, 30)
	e := newMailEnv(t, MailboxConfig{
		PutBurst:    1 << 20,
		PutRate:     1 << 20,
		SenderBytes: 8 * (item + mailItemOverhead),
		MaxBytes:    20 * (item + mailItemOverhead),
		// The registry's list, without this supernode: it counts itself.
		Supernodes: func(context.Context) ([]peer.ID, error) { return others, nil },
	})
	if err := e.mb.RefreshSupernodes(ctx); err != nil {
		t.Fatal(err)
	}
	sns := append(slices.Clone(others), e.h.ID())
	home, away := homedHere(t, e.h.ID(), sns, 40)
	payload := make([]byte, item)

	t.Run("not a home", func(t *testing.T) {
		h, st := e.client("mallory")
		for _, box := range away {
			_, err := client.PutMail(ctx, h, e.h.ID(), st, box, payload)
			if !errors.Is(err, client.ErrNotHome) {
				t.Fatalf("put into a mailbox homed elsewhere: %v, want ErrNotHome", err)
			}
		}
		if n := e.depth(); n != 0 {
			t.Fatalf("%d items stored for mailboxes homed elsewhere", n)
		}
		if got := e.mb.Stats().PutsNotHome; got != uint64(len(away)) {
			t.Fatalf("not-home refusals counted %d, want %d", got, len(away))
		}
	})

	t.Run("per sender", func(t *testing.T) {
		h, st := e.client("trudy")
		stored := 0
		var err error
		for _, box := range home {
			if _, err = client.PutMail(ctx, h, e.h.ID(), st, box, payload); err != nil {
				break
			}
			stored++
		}
		if !errors.Is(err, client.ErrRateLimited) || stored != 8 {
			t.Fatalf("one sender stored %d items of its 8-item budget, then %v; want ErrRateLimited", stored, err)
		}
	})

	t.Run("all together", func(t *testing.T) {
		// Sybils, each within its own budget, fill the cap; then everyone,
		// honest senders included, is told the supernode is full.
		var err error
		for i := 0; err == nil; i++ {
			h, st := e.client("sybil" + string(rune('a'+i)))
			for j := 0; j < 8 && err == nil; j++ {
				_, err = client.PutMail(ctx, h, e.h.ID(), st, home[(i*8+j)%len(home)], payload)
			}
			if i > 10 {
				t.Fatal("the global cap never filled")
			}
		}
		if !errors.Is(err, client.ErrFull) {
			t.Fatalf("filling: %v, want ErrFull", err)
		}
		if used, limit := e.mb.Usage(); used > limit || limit != e.cfg.MaxBytes {
			t.Fatalf("usage %d of cap %d (configured %d)", used, limit, e.cfg.MaxBytes)
		}
		if e.mb.Stats().PutsFull == 0 {
			t.Fatal("refusals for a full store not counted")
		}

		// A mail TTL later the items are swept, the cap has room and the
		// senders' budgets are full again.
		e.clock.Advance(wire.MailTTL + time.Minute)
		if _, err := e.mb.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if used, _ := e.mb.Usage(); used != 0 {
			t.Fatalf("usage %d after every item was swept", used)
		}
		h, st := e.client("trudy")
		for _, box := range home[:8] {
			if _, err := client.PutMail(ctx, h, e.h.ID(), st, box, payload); err != nil {
				t.Fatalf("a TTL later: %v", err)
			}
		}
	})
}

// TestMailUsageMigration: a mailbox database left by a release before the
// global cap counts the items it already holds.
func TestMailUsageMigration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mailbox.db")
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.LoadMigrations(mailMigrationFS, "migrations/mailbox")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(context.Background(), db, ms, 1); err != nil {
		t.Fatal(err)
	}
	box := randomMailbox(t)
	for _, n := range []int{256, 1024, 4096} {
		if _, err := db.Exec(`INSERT INTO mail (mailbox, item, stored) VALUES (?, ?, 1)`, box, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	md, err := openMailDB(p)
	if err != nil {
		t.Fatal(err)
	}
	defer md.close()
	used, err := md.usage()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(256+1024+4096) + 3*mailItemOverhead; used != want {
		t.Fatalf("usage after migration %d, want %d", used, want)
	}
}

// tokens returns n distinct visibility tokens.
func tokens(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s token %d", tag, i))
	}
	return out
}

// TestRendezvousGlobalCap is issue 13's item 5 at the rendezvous: an entry
// with MaxAllowed token hashes costs about 324 KiB of memory for a day, and
// throwaway accounts could publish such entries without bound. Now all
// entries together are capped: past it a publish is refused as full, while
// entries already there are still found, and an owner may always replace
// its own entry with one no larger.
func TestRendezvousGlobalCap(t *testing.T) {
	e := newEnv(t, RendezvousConfig{MaxBytes: 1 << 20, Burst: 1000})
	ctx := sntest.Ctx(t)
	var err error
	published := 0
	for i := 0; err == nil; i++ {
		if i > 10 {
			t.Fatal("4 MiB of entries published under a 1 MiB cap")
		}
		h, st := e.client(fmt.Sprintf("sybil%d", i))
		err = client.Rendezvous{Allowed: tokens("sybil", MaxAllowed)}.Publish(ctx, h, e.rvh.ID(), st)
		if err == nil {
			published++
		}
	}
	if !errors.Is(err, client.ErrFull) {
		t.Fatalf("filling the rendezvous: %v, want ErrFull", err)
	}
	if published < 2 {
		t.Fatalf("only %d entries of 5,000 tokens fit in 1 MiB", published)
	}
	if used, limit := e.rv.Usage(); used > limit || limit != 1<<20 {
		t.Fatalf("usage %d of cap %d", used, limit)
	}
	if e.rv.Stats().PublishesFull == 0 {
		t.Fatal("refusals for a full table not counted")
	}

	// Who published stays findable, and may re-publish a smaller entry.
	h, st := e.client("sybil0")
	if err := (client.Rendezvous{Allowed: tokens("sybil", 10)}).Publish(ctx, h, e.rvh.ID(), st); err != nil {
		t.Fatalf("replacing one's own entry with a smaller one: %v", err)
	}
	found, err := client.Rendezvous{Tokens: map[string][]byte{"sybil1": tokens("sybil", 1)[0]}}.Lookup(ctx, h, e.rvh.ID(), st, []string{"sybil1"})
	if err != nil || len(found) != 1 || found[0].Ticket == nil {
		t.Fatalf("lookup of an entry published before the cap: %v, %v", found, err)
	}

	// Entries whose tickets expired make room again.
	e.clock.Advance(wire.TicketLifetime + time.Minute)
	h, st = e.client("alice")
	if err := (client.Rendezvous{Allowed: tokens("alice", MaxAllowed)}).Publish(ctx, h, e.rvh.ID(), st); err != nil {
		t.Fatalf("a day later: %v", err)
	}
}

// TestContactsGlobalCap is issue 13's item 5 for contact-list backups: each
// account may store 1 MiB, and nothing bounded all accounts together. Now a
// put that would take the lists past the global cap is refused as full;
// an owner may still replace its list with one no larger.
func TestContactsGlobalCap(t *testing.T) {
	const maxBytes = 4 << 20
	e := newContactsEnv(t, ContactsConfig{MaxBytes: maxBytes})
	ctx := sntest.Ctx(t)
	blob := make([]byte, wire.MaxContactsBlob)
	var err error
	for i := 0; err == nil; i++ {
		if i > 8 {
			t.Fatal("8 MiB of lists stored under a 4 MiB cap")
		}
		h, st := e.client(fmt.Sprintf("sybil%d", i))
		err = client.PutContacts(ctx, h, e.h.ID(), st, 1, nil, blob)
	}
	if !errors.Is(err, client.ErrFull) {
		t.Fatalf("filling: %v, want ErrFull", err)
	}
	if used, limit := e.c.Usage(); used > limit || limit != maxBytes {
		t.Fatalf("usage %d of cap %d", used, limit)
	}
	if e.c.Stats().PutsFull == 0 {
		t.Fatal("refusals for a full store not counted")
	}
	// An owner shrinks its list: always taken, and it makes room.
	h, st := e.client("sybil0")
	if err := client.PutContacts(ctx, h, e.h.ID(), st, 2, client.ContactsHash(blob), []byte("small")); err != nil {
		t.Fatalf("replacing one's list with a smaller one: %v", err)
	}
	h, st = e.client("alice")
	if err := client.PutContacts(ctx, h, e.h.ID(), st, 1, nil, make([]byte, 512<<10)); err != nil {
		t.Fatalf("after room was made: %v", err)
	}
}

// TestContactsMigration: lists stored before puts compared hashes can be
// replaced by an owner naming the stored blob's hash, and count against the
// global cap.
func TestContactsMigration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "contacts.db")
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.LoadMigrations(contactsMigrationFS, "migrations/contacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(context.Background(), db, ms, 1); err != nil {
		t.Fatal(err)
	}
	owner := randomMailbox(t)
	old := []byte("a list sealed by release 1")
	if _, err := db.Exec(`INSERT INTO contacts (owner, version, blob, stored) VALUES (?, 9, ?, 1)`, owner, old); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cd, err := openContactsDB(p)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.close()
	if used, err := cd.usage(); err != nil || used != contactsCost(len(old)) {
		t.Fatalf("usage after migration %d, %v; want %d", used, err, contactsCost(len(old)))
	}
	now := time.Now()
	if res, stored, err := cd.put(owner, client.ContactsHash([]byte("other")), 10, []byte("new"), now, 1<<20); err != nil || res != putStale || stored != 9 {
		t.Fatalf("put replacing another blob: %v, %d, %v", res, stored, err)
	}
	if res, _, err := cd.put(owner, client.ContactsHash(old), 10, []byte("new"), now, 1<<20); err != nil || res != putStored {
		t.Fatalf("put replacing the migrated blob: %v, %v", res, err)
	}
	if used, err := cd.usage(); err != nil || used != contactsCost(len("new")) {
		t.Fatalf("usage after the update %d, %v; want %d", used, err, contactsCost(len("new")))
	}
}

// TestPrekeysGlobalCap is issue 13's item 5 for the prekey directory: each
// device may keep a bundle and wire.MaxOneTimeStored one-time prekeys, each
// account wire.MaxPrekeyDevices devices, and nothing bounded all accounts
// together. Now a publish that would take the directory past the global cap
// is refused as full; fetches, and publishes that do not grow it, go on.
func TestPrekeysGlobalCap(t *testing.T) {
	const maxBytes = 256 << 10
	e := newPrekeysEnv(t, PrekeysConfig{MaxBytes: maxBytes})
	ctx := sntest.Ctx(t)
	bundle := make([]byte, wire.MaxPrekeyBundle)
	var err error
	for i := 0; err == nil; i++ {
		if i > 64 {
			t.Fatal("a MiB of prekeys stored under a 256 KiB cap")
		}
		h, st := e.client(fmt.Sprintf("sybil%d", i))
		_, err = client.PublishPrekeys(ctx, h, e.h.ID(), st, bundle, otks(fmt.Sprint(i), wire.MaxOneTimePerPublish), false)
	}
	if !errors.Is(err, client.ErrFull) {
		t.Fatalf("filling: %v, want ErrFull", err)
	}
	if used, limit := e.p.Usage(); used > limit || limit != maxBytes {
		t.Fatalf("usage %d of cap %d", used, limit)
	}
	if e.p.Stats().PublishesFull == 0 {
		t.Fatal("refusals for a full directory not counted")
	}
	// Fetches still hand out keys (and so make room).
	h, st := e.client("alice")
	if got := mustFetch(t, h, e.h.ID(), st, "sybil0"); len(got) != 1 || got[0].OneTime == nil {
		t.Fatalf("fetch from a full directory: %+v", got)
	}
	// Expired entries (a bundle outlives its ticket by wire.PrekeyBundleTTL)
	// make room again.
	e.clock.Advance(wire.TicketLifetime + wire.PrekeyBundleTTL + time.Minute)
	if _, err := e.p.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if used, _ := e.p.Usage(); used != 0 {
		t.Fatalf("usage %d after every entry expired", used)
	}
	h, st = e.client("bob")
	if _, err := client.PublishPrekeys(ctx, h, e.h.ID(), st, bundle, otks("bob", wire.MaxOneTimePerPublish), false); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
}

// TestServicesCaps: StartServices sizes every global cap from MaxNodes and
// hands the mailboxes the supernode list, so mail for mailboxes homed
// elsewhere is refused.
func TestServicesCaps(t *testing.T) {
	authKey := sntest.Key(t)
	others := randomIDs(t, 30)
	snh := sntest.Host(t)
	svc, err := StartServices(snh, ServicesConfig{
		AuthServer: sntest.ID(t, authKey), MailboxDB: filepath.Join(t.TempDir(), "mailbox.db"), MaxNodes: 300,
		Supernodes: func(context.Context) ([]peer.ID, error) { return others, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	caps := CapsFor(300)
	for name, got := range map[string][2]int64{
		"mailbox":    {limitOf(svc.Mailbox.Usage), caps.MailBytes},
		"contacts":   {limitOf(svc.Contacts.Usage), caps.ContactsBytes},
		"prekeys":    {limitOf(svc.Prekeys.Usage), caps.PrekeyBytes},
		"rendezvous": {limitOf(svc.Rendezvous.Usage), caps.RendezvousBytes},
		"admissions": {int64(svc.Admissions.Cap()), int64(caps.Admissions)},
	} {
		if got[0] != got[1] {
			t.Errorf("%s cap %d, want %d", name, got[0], got[1])
		}
	}

	ctx := sntest.Ctx(t)
	if err := svc.Mailbox.RefreshSupernodes(ctx); err != nil {
		t.Fatal(err)
	}
	_, away := homedHere(t, snh.ID(), append(slices.Clone(others), snh.ID()), 1)
	h := sntest.Host(t)
	if err := h.Connect(ctx, peer.AddrInfo{ID: snh.ID(), Addrs: snh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := sntest.SignTicket(t, authKey, "mallory", h.ID(), now, now.Add(time.Hour))
	if _, err := client.PutMail(ctx, h, snh.ID(), st, away[0], []byte("x")); !errors.Is(err, client.ErrNotHome) {
		t.Fatalf("put for a mailbox homed elsewhere: %v, want ErrNotHome", err)
	}
}

func limitOf(usage func() (int64, int64)) int64 {
	_, limit := usage()
	return limit
}

// TestCapsFor holds the caps to what CapsFor's comment and OPERATORS.md say.
func TestCapsFor(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		want  Caps
	}{
		{0, Caps{MailBytes: 10000 << 20, MailSenderBytes: 10000 << 20 / 64, ContactsBytes: 10000 << 18,
			PrekeyBytes: 10000 << 16, RendezvousBytes: 10000 << 15, Admissions: DefaultMaxAdmissions,
			RoomBytes: 10000 << 16, Rooms: 10000, RoomJoins: 160000}},
		{PromotedMaxNodes, Caps{MailBytes: 256 << 20, MailSenderBytes: 16 << 20, ContactsBytes: 64 << 20,
			PrekeyBytes: 16 << 20, RendezvousBytes: 8 << 20, Admissions: 1024,
			RoomBytes: 16 << 20, Rooms: 256, RoomJoins: 4096}},
		{1, CapsFor(256)}, // raised to the floor
		{1 << 20, Caps{MailBytes: 1 << 40, MailSenderBytes: 256 << 20, ContactsBytes: 1 << 38, PrekeyBytes: 1 << 36, RendezvousBytes: 1 << 35, Admissions: 4 << 20,
			RoomBytes: 1 << 36, Rooms: 1 << 20, RoomJoins: 16 << 20}},
	} {
		if got := CapsFor(tc.nodes); got != tc.want {
			t.Errorf("CapsFor(%d) = %+v, want %+v", tc.nodes, got, tc.want)
		}
	}
	if DefaultMaxAdmissions != 40000 {
		t.Errorf("DefaultMaxAdmissions %d", DefaultMaxAdmissions)
	}
}

// TestRendezvousSweepKeepsTokens: the sweep drops a stale entry's peer
// record to save memory, but token holders still get the ticket until it
// expires.
func TestRendezvousSweepKeepsTokens(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	if err := (client.Rendezvous{Allowed: tokens("alice", 3)}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultRendezvousTTL + time.Minute)
	bob, bobT := e.client("bob")
	if err := (client.Rendezvous{}).Publish(ctx, bob, e.rvh.ID(), bobT); err != nil { // sweeps
		t.Fatal(err)
	}
	e.rv.mu.Lock()
	rec, sum := e.rv.users["alice"].entries[0].record, int64(0)
	for name, u := range e.rv.users {
		for _, en := range u.entries {
			sum += rvEntryCost(name, en)
		}
		sum += rvListCost(u.list)
	}
	used := e.rv.used
	e.rv.mu.Unlock()
	if rec != nil || used != sum {
		t.Fatalf("after the sweep: alice's record %d bytes (want dropped), usage %d, entries' cost %d", len(rec), used, sum)
	}
	found, err := client.Rendezvous{Tokens: map[string][]byte{"alice": tokens("alice", 1)[0]}}.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"})
	if err != nil || len(found) != 1 || found[0].Ticket == nil || found[0].Ticket.Card || len(found[0].Addrs.Addrs) != 0 {
		t.Fatalf("token holder's lookup of a stale entry: %+v, %v", found, err)
	}
}
