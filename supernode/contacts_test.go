package supernode

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"google.golang.org/protobuf/proto"

	"eserver/node/backup"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// contactsEnv is one supernode host serving Contacts, its auth server key
// and clock.
type contactsEnv struct {
	t      *testing.T
	auth   crypto.PrivKey
	authID peer.ID
	clock  *sntest.Clock
	h      host.Host
	cfg    ContactsConfig
	c      *Contacts
}

func newContactsEnv(t *testing.T, cfg ContactsConfig) *contactsEnv {
	t.Helper()
	e := &contactsEnv{t: t, auth: sntest.Key(t), clock: sntest.NewClock(), h: sntest.Host(t)}
	e.authID = sntest.ID(t, e.auth)
	cfg.AuthServer = e.authID
	if cfg.DBPath == "" {
		cfg.DBPath = filepath.Join(t.TempDir(), "contacts.db")
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	e.cfg = cfg
	e.open()
	return e
}

func (e *contactsEnv) open() {
	e.t.Helper()
	c, err := NewContacts(e.cfg)
	if err != nil {
		e.t.Fatalf("new contacts: %v", err)
	}
	c.Attach(e.h)
	e.c = c
	e.t.Cleanup(func() { _ = c.Close() })
}

func (e *contactsEnv) reopen() {
	e.t.Helper()
	if err := e.c.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.open()
}

// client returns a host connected to the supernode and a valid ticket for
// it under user.
func (e *contactsEnv) client(user string) (host.Host, *wire.SignedTicket) {
	e.t.Helper()
	h := sntest.Host(e.t)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: e.h.ID(), Addrs: e.h.Addrs()}); err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	now := e.clock.Now()
	return h, sntest.SignTicket(e.t, e.auth, user, h.ID(), now, now.Add(wire.TicketLifetime))
}

// mustGet gets and checks the stored blob of st's owner.
func mustGet(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, wantVersion uint64, wantBlob []byte) {
	t.Helper()
	v, blob, found, err := client.GetContacts(sntest.Ctx(t), h, sn, st)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if wantBlob == nil {
		if found || v != 0 || blob != nil {
			t.Fatalf("get: found %v, version %d, %d bytes; want nothing", found, v, len(blob))
		}
		return
	}
	if !found || v != wantVersion || !bytes.Equal(blob, wantBlob) {
		t.Fatalf("get: found %v, version %d, %q; want version %d, %q", found, v, trim(blob), wantVersion, trim(wantBlob))
	}
}

func trim(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func TestContactsRoundTrip(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")

	mustGet(t, alice, sn, aliceT, 0, nil)
	var prev []byte // the blob each put replaces
	for v := uint64(1); v <= 3; v++ {
		blob := []byte{byte(v), 'x'}
		var replaces []byte
		if prev != nil {
			replaces = client.ContactsHash(prev)
		}
		if err := client.PutContacts(ctx, alice, sn, aliceT, v, replaces, blob); err != nil {
			t.Fatalf("put %d: %v", v, err)
		}
		mustGet(t, alice, sn, aliceT, v, blob)
		prev = blob
	}
	// Versions are the owner's: the supernode neither orders nor bounds
	// them (beyond fitting in SQLite).
	if err := client.PutContacts(ctx, alice, sn, aliceT, 1000, client.ContactsHash(prev), []byte("far")); err != nil {
		t.Fatal(err)
	}
	mustGet(t, alice, sn, aliceT, 1000, []byte("far"))
	if n, err := e.c.Count(); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
}

// TestContactsOwnerOnly: a blob is the ticket holder's; no one else can read
// or replace it, whatever ticket they present.
func TestContactsOwnerOnly(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	if err := client.PutContacts(ctx, alice, sn, aliceT, 5, nil, []byte("alice's")); err != nil {
		t.Fatal(err)
	}
	// Bob sees and writes only his own.
	mustGet(t, bob, sn, bobT, 0, nil)
	if err := client.PutContacts(ctx, bob, sn, bobT, 9, nil, []byte("bob's")); err != nil {
		t.Fatal(err)
	}
	mustGet(t, alice, sn, aliceT, 5, []byte("alice's"))
	mustGet(t, bob, sn, bobT, 9, []byte("bob's"))

	// Bob presenting alice's ticket, a ticket of another auth server, an
	// expired ticket, or none: unauthorized.
	now := e.clock.Now()
	other := sntest.SignTicket(t, sntest.Key(t), "alice", bob.ID(), now, now.Add(time.Hour))
	expired := sntest.SignTicket(t, e.auth, "alice", bob.ID(), now.Add(-2*time.Hour), now.Add(-time.Hour))
	for name, st := range map[string]*wire.SignedTicket{"alice's": aliceT, "other server's": other, "expired": expired, "none": nil} {
		if _, _, _, err := client.GetContacts(ctx, bob, sn, st); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("get with %s ticket: %v", name, err)
		}
		if err := client.PutContacts(ctx, bob, sn, st, 100, nil, []byte("mallory")); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("put with %s ticket: %v", name, err)
		}
	}
	mustGet(t, alice, sn, aliceT, 5, []byte("alice's"))

	// Alice's other device (same account, own ticket) shares her blob.
	phone, phoneT := e.client("alice")
	mustGet(t, phone, sn, phoneT, 5, []byte("alice's"))
}

// TestContactsReplaces: a put is kept only when it names the stored blob
// as the one it replaces (or none is stored); any other is refused as stale
// with the stored version; a retry of the stored blob succeeds; versions
// are not ordered, so none can freeze the list (issue 13, item 10: a put at
// the highest version used to refuse every later one).
func TestContactsReplaces(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")
	if err := client.PutContacts(ctx, alice, sn, aliceT, 5, nil, []byte("v5")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		replaces []byte
	}{
		{"none", nil},
		{"another blob", client.ContactsHash([]byte("v4"))},
	} {
		err := client.PutContacts(ctx, alice, sn, aliceT, 6, tc.replaces, []byte("v6"))
		var stale *client.StaleError
		if !errors.Is(err, client.ErrStale) || !errors.As(err, &stale) || stale.Stored != 5 {
			t.Fatalf("put replacing %s: %v, want stale at 5", tc.name, err)
		}
	}
	mustGet(t, alice, sn, aliceT, 5, []byte("v5"))
	if err := client.PutContacts(ctx, alice, sn, aliceT, 5, nil, []byte("v5")); err != nil {
		t.Fatalf("retry of the stored put: %v", err)
	}

	// A thief's put of garbage at the highest version...
	if err := client.PutContacts(ctx, alice, sn, aliceT, client.MaxContactsVersion, client.ContactsHash([]byte("v5")), []byte("garbage")); err != nil {
		t.Fatalf("put at the highest version: %v", err)
	}
	mustGet(t, alice, sn, aliceT, client.MaxContactsVersion, []byte("garbage"))
	// ...is replaced by the owner, who read it, at a lower version.
	if err := client.PutContacts(ctx, alice, sn, aliceT, 6, client.ContactsHash([]byte("garbage")), []byte("v6")); err != nil {
		t.Fatalf("replacing the garbage: %v", err)
	}
	mustGet(t, alice, sn, aliceT, 6, []byte("v6"))

	// The edges of the version range, and of the hash.
	for _, v := range []uint64{0, client.MaxContactsVersion + 1, 1<<64 - 1} {
		if err := client.PutContacts(ctx, alice, sn, aliceT, v, nil, []byte("x")); !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("put version %d: %v", v, err)
		}
	}
	if err := client.PutContacts(ctx, alice, sn, aliceT, 7, []byte("short"), []byte("x")); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("put replacing a short hash: %v", err)
	}
	// And refused by the server too, not only by the client.
	for _, put := range []*wire.ContactsPut{
		{Ticket: aliceT, Version: 0, Blob: []byte("x")},
		{Ticket: aliceT, Version: client.MaxContactsVersion + 1, Blob: []byte("x")},
		{Ticket: aliceT, Version: 7, Blob: []byte("x"), Replaces: make([]byte, 33)},
	} {
		if resp := e.raw(t, alice.ID(), aliceT, put); resp.Error != wire.CodeBadRequest {
			t.Fatalf("raw put version %d, replaces %d bytes: %q", put.Version, len(put.Replaces), resp.Error)
		}
	}
	mustGet(t, alice, sn, aliceT, 6, []byte("v6"))
}

// raw runs one put through the server's serve path as if from remote.
func (e *contactsEnv) raw(t *testing.T, remote peer.ID, st *wire.SignedTicket, put *wire.ContactsPut) *wire.ContactsResponse {
	t.Helper()
	var out bytes.Buffer
	in := frame(t, &wire.ContactsRequest{Kind: &wire.ContactsRequest_Put{Put: put}})
	if err := e.c.serve(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), &out}, remote); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var resp wire.ContactsResponse
	if err := wire.ReadMsg(&out, wire.MaxContactsFrame, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// TestContactsSizeLimit: a blob of exactly wire.MaxContactsBlob is stored
// and returned whole; one byte more is refused by client and server alike,
// and an empty blob too.
func TestContactsSizeLimit(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")
	full := bytes.Repeat([]byte{0xa5}, wire.MaxContactsBlob)
	full[0], full[len(full)-1] = 1, 2
	if err := client.PutContacts(ctx, alice, sn, aliceT, 1, nil, full); err != nil {
		t.Fatalf("put at the limit: %v", err)
	}
	mustGet(t, alice, sn, aliceT, 1, full)

	over := append(bytes.Clone(full), 3)
	if err := client.PutContacts(ctx, alice, sn, aliceT, 2, nil, over); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("client put over the limit: %v", err)
	}
	if err := client.PutContacts(ctx, alice, sn, aliceT, 2, nil, nil); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("client put of nothing: %v", err)
	}
	for _, b := range [][]byte{over, nil} {
		if resp := e.raw(t, alice.ID(), aliceT, &wire.ContactsPut{Ticket: aliceT, Version: 2, Blob: b}); resp.Error != wire.CodeBadRequest {
			t.Fatalf("server put of %d bytes: %q", len(b), resp.Error)
		}
	}
	mustGet(t, alice, sn, aliceT, 1, full)

	// A frame longer than wire.MaxContactsFrame is refused before its body
	// is read.
	var out bytes.Buffer
	err := e.c.serve(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(binary.AppendUvarint(nil, wire.MaxContactsFrame+1)), &out}, alice.ID())
	if !errors.Is(err, wire.ErrFrameTooLarge) || out.Len() != 0 {
		t.Fatalf("oversized frame: %v, answered %d bytes", err, out.Len())
	}
	// The largest legal put fits in a frame.
	st := aliceT
	req := &wire.ContactsRequest{Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{Ticket: st, Version: client.MaxContactsVersion, Blob: full}}}
	if n := len(frame(t, req)); n > wire.MaxContactsFrame {
		t.Fatalf("the largest put takes %d bytes, frame limit %d", n, wire.MaxContactsFrame)
	}
}

func TestContactsRateLimit(t *testing.T) {
	const burst = 3
	e := newContactsEnv(t, ContactsConfig{Rate: rate.Every(time.Minute), Burst: burst})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")
	phone, phoneT := e.client("alice")
	bob, bobT := e.client("bob")
	for i := range burst {
		if err := client.PutContacts(ctx, alice, sn, aliceT, uint64(i+1), nil, []byte("x")); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// The bucket is the account's, across devices and request kinds.
	if err := client.PutContacts(ctx, alice, sn, aliceT, 10, nil, []byte("x")); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("put past the burst: %v", err)
	}
	if _, _, _, err := client.GetContacts(ctx, phone, sn, phoneT); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("get from another device past the burst: %v", err)
	}
	// Others are not affected; the bucket refills with time.
	if err := client.PutContacts(ctx, bob, sn, bobT, 1, nil, []byte("y")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	e.clock.Advance(time.Minute)
	// The same blob again is a retry of the first put: its version stays.
	mustGet(t, alice, sn, aliceT, 1, []byte("x"))
}

func TestContactsRestart(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	if err := client.PutContacts(ctx, alice, sn, aliceT, 7, nil, []byte("alice v7")); err != nil {
		t.Fatal(err)
	}
	if err := client.PutContacts(ctx, bob, sn, bobT, 2, nil, []byte("bob v2")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	mustGet(t, alice, sn, aliceT, 7, []byte("alice v7"))
	mustGet(t, bob, sn, bobT, 2, []byte("bob v2"))
	// The stored blob's hash survives too: a put not replacing it is
	// still stale, one replacing it is taken.
	if err := client.PutContacts(ctx, alice, sn, aliceT, 6, client.ContactsHash([]byte("bob v2")), []byte("old")); !errors.Is(err, client.ErrStale) {
		t.Fatalf("stale put after restart: %v", err)
	}
	if err := client.PutContacts(ctx, alice, sn, aliceT, 8, client.ContactsHash([]byte("alice v7")), []byte("alice v8")); err != nil {
		t.Fatalf("put replacing the stored list after restart: %v", err)
	}
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}

	// The schema version is recorded, and a newer one is refused.
	db, err := sql.Open("sqlite3", e.cfg.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("user_version %d, %v; want 2", v, err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if c, err := NewContacts(e.cfg); err == nil {
		c.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if _, err := NewContacts(ContactsConfig{AuthServer: e.authID}); err == nil {
		t.Fatal("opened contacts with no database path")
	}
	if _, err := NewContacts(ContactsConfig{DBPath: filepath.Join(t.TempDir(), "x.db")}); err == nil {
		t.Fatal("opened contacts with no auth server")
	}
}

// TestContactsDBHoldsNoPlaintext seals a real contact list with node/backup,
// stores it, and looks at the SQLite files: no contact's name, token or peer
// ID, and not even the owner's name, is there; the owner gets the list back.
func TestContactsDBHoldsNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	e := newContactsEnv(t, ContactsConfig{DBPath: filepath.Join(dir, "contacts.db")})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	const owner = "quentin-owner"
	alice, aliceT := e.client(owner)
	key, err := backup.DeriveKey(bytes.Repeat([]byte{42}, 64))
	if err != nil {
		t.Fatal(err)
	}
	myTok, theirTok := []byte("my-token-0123456"), []byte("their-token-6543")
	const contactPeer = "12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b"
	list := []backup.Entry{
		{Username: "zelda", Relation: "accepted", MyToken: myTok, TheirToken: theirTok, PeerID: contactPeer},
		{Username: "yannick-blocked", Relation: "blocked"},
	}
	blob, err := backup.Seal(key, owner, 1, backup.State{Entries: list})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.PutContacts(ctx, alice, sn, aliceT, 1, nil, blob); err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"contact username":         []byte("zelda"),
		"blocked contact username": []byte("yannick-blocked"),
		"relation":                 []byte("accepted"),
		"my token":                 myTok,
		"their token":              theirTok,
		"contact peer ID":          []byte(contactPeer),
		"owner username":           []byte(owner),
		"owner peer ID":            []byte(alice.ID()),
		"owner ticket":             aliceT.Ticket,
	}
	check := func(when string) {
		files, err := filepath.Glob(filepath.Join(dir, "contacts.db*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no database files (%v)", when, err)
		}
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if !bytes.Contains(all, blob[len(blob)-64:]) {
			t.Fatalf("%s: the blob itself is not in %v: wrong files?", when, files)
		}
		for what, s := range secrets {
			if bytes.Contains(all, s) {
				t.Fatalf("%s: the %s is in the database files", when, what)
			}
		}
	}
	check("while open")

	// A new device of the owner, knowing only the password (so the export
	// key), restores the list.
	phone, phoneT := e.client(owner)
	v, got, found, err := client.GetContacts(ctx, phone, sn, phoneT)
	if err != nil || !found || v != 1 {
		t.Fatalf("get: version %d, found %v, %v", v, found, err)
	}
	bv, restored, err := backup.Open(key, owner, got)
	if err != nil || bv != v || len(restored.Entries) != 2 || restored.Entries[0].Username != "zelda" || !bytes.Equal(restored.Entries[0].TheirToken, theirTok) {
		t.Fatalf("restored version %d, %+v, %v", bv, restored, err)
	}
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close")
}

// TestServicesContactsDB: StartServices runs the contacts service, by
// default in contacts.db beside the mailbox database.
func TestServicesContactsDB(t *testing.T) {
	authKey := sntest.Key(t)
	authID := sntest.ID(t, authKey)
	dir := t.TempDir()
	snh := sntest.Host(t)
	svc, err := StartServices(snh, ServicesConfig{AuthServer: authID, MailboxDB: filepath.Join(dir, "mailbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	h := sntest.Host(t)
	if err := h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: snh.ID(), Addrs: snh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := sntest.SignTicket(t, authKey, "alice", h.ID(), now, now.Add(time.Hour))
	if err := client.PutContacts(sntest.Ctx(t), h, snh.ID(), st, 1, nil, []byte("blob")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "contacts.db")); err != nil {
		t.Fatalf("contacts.db beside mailbox.db: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.PutContacts(sntest.Ctx(t), h, snh.ID(), st, 2, nil, []byte("blob")); err == nil {
		t.Fatal("put succeeded after Close")
	}
}

// FuzzContactsRequest feeds arbitrary stream bytes, from the fixed remote
// peer, to the server's read-decode-process-answer path, on one database
// shared by all inputs.
func FuzzContactsRequest(f *testing.F) {
	authKey, peerKey := fixedKey(f, 1), fixedKey(f, 2)
	auth, remote := sntest.ID(f, authKey), sntest.ID(f, peerKey)
	now := time.Unix(1_700_000_000, 0)
	st := sntest.SignTicket(f, authKey, "alice", remote, now, now.Add(wire.TicketLifetime))
	c, err := NewContacts(ContactsConfig{
		DBPath: filepath.Join(f.TempDir(), "contacts.db"), AuthServer: auth,
		Now: func() time.Time { return now }, Rate: rate.Inf,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })

	put := func(v uint64, blob []byte) []byte {
		return frame(f, &wire.ContactsRequest{Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{Ticket: st, Version: v, Blob: blob}}})
	}
	f.Add(put(1, []byte("blob")))
	f.Add(put(0, []byte("blob")))
	f.Add(put(1<<63, []byte("blob")))
	f.Add(put(2, nil))
	f.Add(frame(f, &wire.ContactsRequest{Kind: &wire.ContactsRequest_Get{Get: &wire.ContactsGet{Ticket: st}}}))
	f.Add(frame(f, &wire.ContactsRequest{Kind: &wire.ContactsRequest_Get{Get: &wire.ContactsGet{}}}))
	f.Add(frame(f, &wire.ContactsRequest{}))
	f.Add([]byte{2, 0, 0})
	f.Add(binary.AppendUvarint(nil, wire.MaxContactsFrame+1))

	f.Fuzz(func(t *testing.T, data []byte) {
		before, _, _, err := c.db.get(ContactsOwnerID(auth, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = c.serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), &out}, remote)
		if err == nil {
			var resp wire.ContactsResponse
			if err := wire.ReadMsg(&out, wire.MaxContactsFrame, &resp); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
			switch resp.Error {
			case "", wire.CodeStale:
			case wire.CodeUnauthorized, wire.CodeBadRequest, wire.CodeRateLimited:
				if resp.Version != 0 || resp.Blob != nil || resp.Found {
					t.Fatalf("refusal %q carries data", resp.Error)
				}
			default:
				t.Fatalf("answer carries an unknown code %q", resp.Error)
			}
			if resp.Error == wire.CodeStale && resp.Version < before {
				t.Fatalf("stale answer names version %d, stored %d", resp.Version, before)
			}
		} else if out.Len() != 0 {
			t.Fatalf("wrote %d bytes and failed: %v", out.Len(), err)
		}
		// Whatever came in, the store holds well-formed rows, and the
		// version never went down.
		after, _, _, err := c.db.get(ContactsOwnerID(auth, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		if after < before {
			t.Fatalf("version went from %d down to %d", before, after)
		}
		var bad int
		if err := c.db.db.QueryRow(`SELECT count(*) FROM contacts WHERE length(owner) != 32 OR version < 1 OR length(blob) NOT BETWEEN 1 AND ?`, wire.MaxContactsBlob).Scan(&bad); err != nil {
			t.Fatal(err)
		}
		if bad != 0 {
			t.Fatalf("store holds %d malformed rows", bad)
		}
	})
}

// TestContactsGetUnchanged: a device that names the blob it holds is told
// "unchanged" without the blob while that blob is stored, and gets the new
// blob once another device replaced it; a hash of the wrong size is
// refused before anything is sent. It also records what a poll costs.
func TestContactsGetUnchanged(t *testing.T) {
	e := newContactsEnv(t, ContactsConfig{})
	ctx, sn := sntest.Ctx(t), e.h.ID()
	laptop, laptopT := e.client("alice")
	desktop, desktopT := e.client("alice")

	first := bytes.Repeat([]byte{1}, 4<<10)
	if err := client.PutContacts(ctx, laptop, sn, laptopT, 1, nil, first); err != nil {
		t.Fatal(err)
	}
	second := bytes.Repeat([]byte{2}, 4<<10)
	tests := []struct {
		name          string
		known         []byte
		put           []byte // put by the laptop (replacing first) before the get
		wantBlob      []byte
		wantUnchanged bool
		wantVersion   uint64
	}{
		{name: "nothing held", known: nil, wantBlob: first, wantVersion: 1},
		{name: "holds the stored blob", known: client.ContactsHash(first), wantUnchanged: true, wantVersion: 1},
		{name: "holds another blob", known: client.ContactsHash([]byte("other")), wantBlob: first, wantVersion: 1},
		{name: "replaced since", known: client.ContactsHash(first), put: second, wantBlob: second, wantVersion: 2},
		{name: "holds the new blob", known: client.ContactsHash(second), wantUnchanged: true, wantVersion: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.put != nil {
				if err := client.PutContacts(ctx, laptop, sn, laptopT, 2, client.ContactsHash(first), tc.put); err != nil {
					t.Fatal(err)
				}
			}
			v, blob, found, unchanged, err := client.GetContactsIfChanged(ctx, desktop, sn, desktopT, tc.known)
			if err != nil || !found || v != tc.wantVersion || unchanged != tc.wantUnchanged || !bytes.Equal(blob, tc.wantBlob) {
				t.Fatalf("got version %d, %d bytes, found %v, unchanged %v, %v; want version %d, %d bytes, unchanged %v",
					v, len(blob), found, unchanged, err, tc.wantVersion, len(tc.wantBlob), tc.wantUnchanged)
			}
		})
	}
	if _, _, _, _, err := client.GetContactsIfChanged(ctx, desktop, sn, desktopT, []byte("short")); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("a known hash of 5 bytes: %v, want ErrBadRequest", err)
	}

	// The cost of one poll that finds nothing new: the request (ticket and
	// hash) and the answer, each with its length prefix, over one stream.
	req := &wire.ContactsRequest{Kind: &wire.ContactsRequest_Get{Get: &wire.ContactsGet{Ticket: desktopT, Known: client.ContactsHash(second)}}}
	resp := &wire.ContactsResponse{Version: 2, Found: true, Unchanged: true}
	full := &wire.ContactsResponse{Version: 2, Found: true, Blob: second}
	t.Logf("an unchanged poll: request %d bytes, answer %d bytes (a 4 KiB list's answer: %d bytes), one stream",
		proto.Size(req), proto.Size(resp), proto.Size(full))
	if proto.Size(resp) > 16 {
		t.Fatalf("an unchanged answer takes %d bytes", proto.Size(resp))
	}
}
