package node

import (
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/e2e"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/sqlite"
	"eserver/supernode/client"
)

// mailboxItems returns the items waiting in username's mailbox at the
// bundle whose databases are in dir, as the supernode stores them: what a
// malicious home keeps to hand out again.
func mailboxItems(t *testing.T, dir string, server *testNode, username string) [][]byte {
	t.Helper()
	s, _ := server.current()
	db, err := sql.Open("sqlite3", sqlite.DSN(filepath.Join(dir, "mailbox.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT item FROM mail WHERE mailbox = ? ORDER BY seq`, client.MailboxID(s.tk().Server, username))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var items [][]byte
	for rows.Next() {
		var item []byte
		if err := rows.Scan(&item); err != nil {
			t.Fatal(err)
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return items
}

// sessionIDs are the IDs of the ratchet sessions s holds with device p.
func sessionIDs(t *testing.T, st *store.Store, p string) []string {
	t.Helper()
	ss, err := st.Sessions(p)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, string(s.ID))
	}
	slices.Sort(ids)
	return ids
}

// TestJunkMailResetsNoSession (issue 13, item 3): mallory, who holds no
// session with anyone, puts envelopes "from alice" (alice's ticket is
// public) that no session opens into bob's mailbox. bob must not take them
// for mail from a session he lost: his sessions with alice stay as they
// were, none of alice's one-time prekeys is spent, and the pair still
// talks.
func TestJunkMailResetsNoSession(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	mallory := newTestNode(t, svc.Addr(), "mallory")
	mallory.register()
	mallory.login()
	if _, err := alice.Send(ctx(t), "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	if _, err := bob.Send(ctx(t), "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)
	as, _ := alice.current()
	bs, _ := bob.current()
	ms, _ := mallory.current()
	alicePeer := as.host.ID()
	before := sessionIDs(t, bs.store, alicePeer.String())
	leftBefore, _, err := svc.Prekeys.OneTimeLeft("alice", alicePeer)
	if err != nil || len(before) == 0 {
		t.Fatalf("bob's sessions with alice %v, alice's one-time prekeys %d (%v)", before, leftBefore, err)
	}
	box := client.MailboxID(svc.Host.ID(), "bob")
	for i := range 3 {
		junk := make([]byte, 300)
		rand.Read(junk)
		if ratchet.IsInit(junk) {
			t.Fatal("junk parses as a session start")
		}
		raw := wire.MustMarshal(&wire.MailItem{Sender: as.tk().Signed, Order: uint64(i + 1), SealedUnixMilli: time.Now().UnixMilli(),
			Envelope: &wire.Envelope{Id: wire.NewID(), Scheme: 2, Sealed: junk}})
		item, err := e2e.SealAnonymous(bs.tk().BoxKey, client.Pad(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutMail(ctx(t), ms.host, svc.Host.ID(), ms.tk().Signed, box, item); err != nil {
			t.Fatal(err)
		}
		if err := bs.delivery.DrainMail(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "bob's outbox to alice empty", func() bool {
		out, _ := bs.store.Outbox("alice")
		return len(out) == 0
	})
	if after := sessionIDs(t, bs.store, alicePeer.String()); !slices.Equal(after, before) {
		t.Fatalf("junk mail changed bob's sessions with alice: %d before, %d after", len(before), len(after))
	}
	if left, _, _ := svc.Prekeys.OneTimeLeft("alice", alicePeer); left != leftBefore {
		t.Fatalf("junk mail spent alice's one-time prekeys: %d before, %d after", leftBefore, left)
	}
	if _, err := alice.Send(ctx(t), "bob", "still here"); err != nil {
		t.Fatal(err)
	}
	if m := bob.collect("alice", 1); m[0].Text != "still here" {
		t.Fatalf("bob read %q", m[0].Text)
	}
}

// TestReplayedMailAppliesOnce (issue 13, item 14): a malicious home keeps
// the mail it delivered and hands it out again later. alice's removal of
// bob, sealed with v1 (as to a device of an older release: the ratchet's
// own duplicate check does not apply), removes alice from bob's list once;
// when they are contacts again, the same item put back into bob's mailbox
// changes nothing.
func TestReplayedMailAppliesOnce(t *testing.T) {
	dir := t.TempDir()
	svc := testBundleIn(t, dir)
	alice, bob := friends(t, svc.Addr())
	as, _ := alice.current()
	bs, _ := bob.current()
	bobPeer, alicePeer := bs.host.ID(), as.host.ID()
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	// Neither holds a session with the other any more, and alice seals
	// to bob with v1.
	st, err := store.Open(filepath.Join(bob.dir, "accounts", "bob", "eserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSessions(alicePeer.String()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := as.keys.Reset(bobPeer); err != nil {
		t.Fatal(err)
	}
	as.keys.MarkNoBundle(bobPeer, time.Now().Add(time.Hour))
	if err := alice.RemoveContact(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the removal in bob's mailbox", func() bool {
		out, _ := as.store.Outbox("bob")
		d, _ := svc.Mailbox.DepthOf(client.MailboxID(svc.Host.ID(), "bob"))
		return len(out) == 0 && d > 0
	})
	kept := mailboxItems(t, dir, alice, "bob")

	bob.open()
	bob.login()
	bob.waitFor("alice's removal", func(e api.Event) bool { return e.ContactRemoved == "alice" })
	befriend(t, alice, bob)

	// The home hands the same items out again (any ticket holder may put
	// mail; a home need not even do that).
	as, _ = alice.current()
	bs, _ = bob.current()
	for _, item := range kept {
		if _, err := client.PutMail(ctx(t), as.host, svc.Host.ID(), as.tk().Signed, client.MailboxID(svc.Host.ID(), "bob"), item); err != nil {
			t.Fatal(err)
		}
	}
	if err := bs.delivery.DrainMail(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c, err := bs.store.Contact("alice"); err != nil || api.Relation(c.Relation) != api.RelationAccepted {
		t.Fatalf("after the replay bob has alice as %+v (%v)", c, err)
	}
}
