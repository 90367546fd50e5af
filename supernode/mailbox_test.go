package supernode

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// mailEnv is one supernode host serving a Mailbox, its auth server key and
// clock.
type mailEnv struct {
	t      testing.TB
	auth   crypto.PrivKey
	authID peer.ID
	clock  *sntest.Clock
	h      host.Host
	cfg    MailboxConfig
	mb     *Mailbox
}

func newMailEnv(t testing.TB, cfg MailboxConfig) *mailEnv {
	t.Helper()
	e := &mailEnv{t: t, auth: sntest.Key(t), clock: sntest.NewClock(), h: sntest.Host(t)}
	e.authID = sntest.ID(t, e.auth)
	cfg.AuthServer = e.authID
	if cfg.DBPath == "" {
		cfg.DBPath = filepath.Join(t.TempDir(), "mailbox.db")
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	e.cfg = cfg
	e.open()
	return e
}

// open starts a Mailbox on the env's database and host.
func (e *mailEnv) open() {
	e.t.Helper()
	mb, err := NewMailbox(e.cfg)
	if err != nil {
		e.t.Fatalf("new mailbox: %v", err)
	}
	mb.Attach(e.h)
	e.mb = mb
	e.t.Cleanup(func() { _ = mb.Close() })
}

// reopen closes the Mailbox and its database and opens them again.
func (e *mailEnv) reopen() {
	e.t.Helper()
	if err := e.mb.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.open()
}

// client returns a host connected to the supernode and a valid ticket for
// it under user.
func (e *mailEnv) client(user string) (host.Host, *wire.SignedTicket) {
	e.t.Helper()
	h := sntest.Host(e.t)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: e.h.ID(), Addrs: e.h.Addrs()}); err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	now := e.clock.Now()
	return h, sntest.SignTicket(e.t, e.auth, user, h.ID(), now, now.Add(wire.TicketLifetime))
}

func (e *mailEnv) box(user string) []byte { return client.MailboxID(e.authID, user) }

// deviceBox is the mailbox of user's device dev.
func (e *mailEnv) deviceBox(user string, dev peer.ID) []byte {
	return client.DeviceMailboxID(e.authID, user, dev)
}

func (e *mailEnv) depthOf(user string) int {
	e.t.Helper()
	n, err := e.mb.DepthOf(e.box(user))
	if err != nil {
		e.t.Fatalf("depth of %s: %v", user, err)
	}
	return n
}

func (e *mailEnv) depth() int {
	e.t.Helper()
	n, err := e.mb.Depth()
	if err != nil {
		e.t.Fatalf("depth: %v", err)
	}
	return n
}

func itemN(i int) []byte { return client.Pad([]byte(fmt.Sprintf("sealed item %d", i))) }

// fetchAll pages through a mailbox with the given limit and returns every
// item and the number of fetches it took.
func fetchAll(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, limit int) ([]*wire.StoredMail, int) {
	t.Helper()
	var all []*wire.StoredMail
	var after uint64
	for fetches := 1; ; fetches++ {
		items, more, err := client.FetchMail(sntest.Ctx(t), h, sn, st, after, limit)
		if err != nil {
			t.Fatalf("fetch after %d: %v", after, err)
		}
		all = append(all, items...)
		if !more {
			return all, fetches
		}
		if len(items) == 0 {
			t.Fatal("more set on an empty answer")
		}
		after = items[len(items)-1].Seq
	}
}

func TestMailRoundTrip(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutBurst: 1000})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	sn := e.h.ID()

	const n = 300
	var last uint64
	for i := range n {
		seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if seq <= last {
			t.Fatalf("put %d: seq %d after %d", i, seq, last)
		}
		last = seq
	}
	if got := e.depthOf("bob"); got != n {
		t.Fatalf("bob's depth %d, want %d", got, n)
	}

	for _, limit := range []int{0, 100, 7} {
		items, fetches := fetchAll(t, bob, sn, bobT, limit)
		per := limit
		if per == 0 {
			per = wire.MailFetchLimit
		}
		if want := (n + per - 1) / per; fetches != want {
			t.Fatalf("limit %d: %d fetches, want %d", limit, fetches, want)
		}
		if len(items) != n {
			t.Fatalf("limit %d: fetched %d items, want %d", limit, len(items), n)
		}
		for i, it := range items {
			if !bytes.Equal(it.Item, itemN(i)) {
				t.Fatalf("limit %d: item %d is %q, out of order", limit, i, it.Item[:16])
			}
			if d := e.clock.Now().Unix() - it.StoredUnix; d < 0 || d > 1 {
				t.Fatalf("item %d stored at %d, clock at %d", i, it.StoredUnix, e.clock.Now().Unix())
			}
		}
	}

	// Fetching does not delete; acking does, in part and then the rest.
	items, _ := fetchAll(t, bob, sn, bobT, 0)
	var seqs []uint64
	for _, it := range items {
		seqs = append(seqs, it.Seq)
	}
	if err := client.AckMail(ctx, bob, sn, bobT, seqs[:150]); err != nil {
		t.Fatalf("ack: %v", err)
	}
	rest, _ := fetchAll(t, bob, sn, bobT, 0)
	if len(rest) != n-150 || rest[0].Seq != seqs[150] {
		t.Fatalf("after acking 150: %d items left, first seq %d", len(rest), rest[0].Seq)
	}
	if err := client.AckMail(ctx, bob, sn, bobT, seqs); err != nil { // re-acking is harmless
		t.Fatalf("ack: %v", err)
	}
	if got := e.depth(); got != 0 {
		t.Fatalf("depth %d after acking everything", got)
	}
	if items, more, err := client.FetchMail(ctx, bob, sn, bobT, 0, 0); err != nil || len(items) != 0 || more {
		t.Fatalf("fetch of an empty mailbox: %d items, more %v, %v", len(items), more, err)
	}
	if err := client.AckMail(ctx, bob, sn, bobT, nil); err != nil {
		t.Fatalf("empty ack: %v", err)
	}
	// Seqs are never reused, so "after" cursors stay valid.
	seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(0))
	if err != nil || seq <= last {
		t.Fatalf("put after acks: seq %d (last %d), %v", seq, last, err)
	}
}

// TestMailFetchFrameLimit checks that large items are split over answers
// that each fit in one frame.
func TestMailFetchFrameLimit(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	sn := e.h.ID()
	const n = 30
	for i := range n {
		item := bytes.Repeat([]byte{byte(i + 1)}, wire.MaxMailItem)
		if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	var after uint64
	got := 0
	for {
		resp, err := client.Call[*wire.MailboxResponse](ctx, bob, sn, wire.ProtoMailbox, &wire.MailboxRequest{
			Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: bobT, After: after}},
		})
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if size := proto.Size(resp); size > wire.MaxMailboxFrame {
			t.Fatalf("answer of %d bytes, limit %d", size, wire.MaxMailboxFrame)
		}
		if len(resp.Items) == 0 {
			t.Fatal("answer with no items")
		}
		for _, it := range resp.Items {
			got++
			if it.Item[0] != byte(got) || len(it.Item) != wire.MaxMailItem {
				t.Fatalf("item %d out of order or cut", got)
			}
			after = it.Seq
		}
		if !resp.More {
			break
		}
		if len(resp.Items) < 2 {
			t.Fatalf("only %d items in an answer that could hold more", len(resp.Items))
		}
	}
	if got != n {
		t.Fatalf("fetched %d items, want %d", got, n)
	}
}

func TestMailOwnerOnly(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	carol, carolT := e.client("carol")
	mallory, _ := e.client("mallory")

	var seqs []uint64
	for i := range 5 {
		seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		seqs = append(seqs, seq)
	}

	// Carol's ticket opens carol's mailbox only, whatever seqs she names.
	if items, more, err := client.FetchMail(ctx, carol, sn, carolT, 0, 0); err != nil || len(items) != 0 || more {
		t.Fatalf("carol fetched %d items (more %v, %v)", len(items), more, err)
	}
	if err := client.AckMail(ctx, carol, sn, carolT, seqs); err != nil {
		t.Fatalf("carol's ack: %v", err)
	}
	if got := e.depthOf("bob"); got != 5 {
		t.Fatalf("carol's ack deleted bob's mail: %d left", got)
	}

	// Bob's ticket presented by mallory's peer is refused outright.
	now := e.clock.Now()
	expired := sntest.SignTicket(t, e.auth, "bob", bob.ID(), now.Add(-2*time.Hour), now.Add(-time.Hour))
	otherServer := sntest.SignTicket(t, sntest.Key(t), "bob", bob.ID(), now, now.Add(time.Hour))
	refused := []struct {
		name string
		h    host.Host
		st   *wire.SignedTicket
	}{
		{"stolen ticket", mallory, bobT},
		{"expired ticket", bob, expired},
		{"other server's ticket", bob, otherServer},
		{"no ticket", bob, nil},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			if _, _, err := client.FetchMail(ctx, r.h, sn, r.st, 0, 0); !errors.Is(err, client.ErrUnauthorized) {
				t.Fatalf("fetch: %v, want ErrUnauthorized", err)
			}
			if err := client.AckMail(ctx, r.h, sn, r.st, seqs); !errors.Is(err, client.ErrUnauthorized) {
				t.Fatalf("ack: %v, want ErrUnauthorized", err)
			}
			if _, err := client.PutMail(ctx, r.h, sn, r.st, e.box("carol"), itemN(0)); !errors.Is(err, client.ErrUnauthorized) {
				t.Fatalf("put: %v, want ErrUnauthorized", err)
			}
		})
	}
	if got := e.depth(); got != 5 {
		t.Fatalf("refused requests changed the store: depth %d", got)
	}

	items, _ := fetchAll(t, bob, sn, bobT, 0)
	if len(items) != 5 {
		t.Fatalf("bob fetched %d items, want 5", len(items))
	}
	if err := client.AckMail(ctx, bob, sn, bobT, seqs); err != nil {
		t.Fatalf("bob's ack: %v", err)
	}
	if got := e.depth(); got != 0 {
		t.Fatalf("depth %d after bob's ack", got)
	}
}

func TestMailBadRequests(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	raw := func(req *wire.MailboxRequest) error {
		_, err := client.Call[*wire.MailboxResponse](ctx, alice, sn, wire.ProtoMailbox, req)
		return err
	}
	put := func(mailbox, item []byte) error {
		return raw(&wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: aliceT, Mailbox: mailbox, Item: item}}})
	}
	box := e.box("bob")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"item at the limit", func() error { return put(box, make([]byte, wire.MaxMailItem)) }, nil},
		{"item over the limit", func() error { return put(box, make([]byte, wire.MaxMailItem+1)) }, client.ErrBadRequest},
		{"empty item", func() error { return put(box, nil) }, client.ErrBadRequest},
		{"short mailbox", func() error { return put(box[:31], itemN(0)) }, client.ErrBadRequest},
		{"long mailbox", func() error { return put(append(box, 0), itemN(0)) }, client.ErrBadRequest},
		{"no mailbox", func() error { return put(nil, itemN(0)) }, client.ErrBadRequest},
		{"request of no kind", func() error { return raw(&wire.MailboxRequest{}) }, client.ErrBadRequest},
		{"ack at the limit", func() error {
			return raw(&wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: aliceT, Seqs: make([]uint64, client.MaxMailAck)}}})
		}, nil},
		{"ack over the limit", func() error {
			return raw(&wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: aliceT, Seqs: make([]uint64, client.MaxMailAck+1)}}})
		}, client.ErrBadRequest},
		{"ack of huge seqs", func() error {
			return raw(&wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: aliceT, Seqs: []uint64{1<<64 - 1, 1 << 63}}}})
		}, nil},
		{"fetch after a huge seq", func() error {
			return raw(&wire.MailboxRequest{Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: aliceT, After: 1<<64 - 1, Limit: 1 << 31}}})
		}, nil},
		{"client refuses a bad put locally", func() error {
			_, err := client.PutMail(ctx, alice, sn, aliceT, box[:5], itemN(0))
			return err
		}, client.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if got := e.depth(); got != 1 {
		t.Fatalf("depth %d, want only the item at the limit", got)
	}
}

func TestMailQuota(t *testing.T) {
	const quota, ttl = 5, time.Hour
	e := newMailEnv(t, MailboxConfig{Quota: quota, TTL: ttl})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")

	var first uint64
	for i := range quota {
		seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i))
		if err != nil {
			t.Fatalf("put %d of %d: %v", i+1, quota, err)
		}
		if i == 0 {
			first = seq
		}
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(quota)); !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put over quota: %v, want ErrQuota", err)
	}
	if got := e.depthOf("bob"); got != quota {
		t.Fatalf("depth %d after the refused put, want %d", got, quota)
	}
	// Other mailboxes have their own quota.
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("carol"), itemN(0)); err != nil {
		t.Fatalf("put to carol: %v", err)
	}
	// An ack frees a place.
	if err := client.AckMail(ctx, bob, sn, bobT, []uint64{first}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(quota)); err != nil {
		t.Fatalf("put after an ack: %v", err)
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(quota)); !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put over quota again: %v, want ErrQuota", err)
	}
	// Expired items do not count, even before the sweeper deletes them.
	e.clock.Advance(ttl)
	for i := range quota {
		if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i)); err != nil {
			t.Fatalf("put %d after expiry: %v", i, err)
		}
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(0)); !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put over quota after expiry: %v, want ErrQuota", err)
	}
}

// TestMailByteQuota: a mailbox holds no more bytes than its byte quota
// (an item that would pass it is refused, one that fits exactly is not),
// whatever its item count; an ack makes room.
func TestMailByteQuota(t *testing.T) {
	item := itemN(0)
	size := int64(len(item))
	e := newMailEnv(t, MailboxConfig{QuotaBytes: 3 * size})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")

	var seqs []uint64
	for i := range 3 { // exactly at the quota
		seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item)
		if err != nil {
			t.Fatalf("put %d (%d of %d bytes): %v", i, int64(i+1)*size, 3*size, err)
		}
		seqs = append(seqs, seq)
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put past the byte quota: %v, want ErrQuota", err)
	}
	if got := e.depthOf("bob"); got != 3 {
		t.Fatalf("depth %d after the refused put, want 3", got)
	}
	if err := client.AckMail(ctx, bob, sn, bobT, seqs[:1]); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); err != nil {
		t.Fatalf("put after an ack: %v", err)
	}
}

func TestMailRateLimit(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: 1, PutBurst: 3})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	alice2, alice2T := e.client("alice") // a second device of the same account
	carol, carolT := e.client("carol")

	for i := range 3 {
		if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i)); err != nil {
			t.Fatalf("put %d within the burst: %v", i, err)
		}
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(3)); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("put over the burst: %v, want ErrRateLimited", err)
	}
	if _, err := client.PutMail(ctx, alice2, sn, alice2T, e.box("dave"), itemN(3)); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("put from the same account's other device: %v, want ErrRateLimited", err)
	}
	if _, err := client.PutMail(ctx, carol, sn, carolT, e.box("bob"), itemN(3)); err != nil {
		t.Fatalf("another sender limited too: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(4)); err != nil {
		t.Fatalf("put after a token came back: %v", err)
	}
	if got := e.depthOf("bob"); got != 5 {
		t.Fatalf("depth %d, want 5", got)
	}
	// Full buckets are forgotten by the sweep; busy ones are kept.
	e.clock.Advance(10 * time.Second)
	if _, err := e.mb.Sweep(ctx); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	left := e.mb.senders.lim.len()
	if left != 0 {
		t.Fatalf("%d idle limiters kept after a sweep", left)
	}
}

func TestMailTTL(t *testing.T) {
	const ttl = time.Hour
	e := newMailEnv(t, MailboxConfig{TTL: ttl})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")

	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(1)); err != nil {
		t.Fatalf("put: %v", err)
	}
	e.clock.Advance(30 * time.Minute)
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(2)); err != nil {
		t.Fatalf("put: %v", err)
	}
	e.clock.Advance(30*time.Minute - time.Second)
	if items, _ := fetchAll(t, bob, sn, bobT, 0); len(items) != 2 {
		t.Fatalf("fetched %d items just before the TTL, want 2", len(items))
	}
	e.clock.Advance(time.Second) // item 1 is exactly TTL old
	items, _ := fetchAll(t, bob, sn, bobT, 0)
	if len(items) != 1 || !bytes.Equal(items[0].Item, itemN(2)) {
		t.Fatalf("fetched %d items after item 1 expired, want item 2 only", len(items))
	}
	if got := e.depth(); got != 2 {
		t.Fatalf("depth %d before the sweep, want 2", got)
	}
	if n, err := e.mb.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, %v; want 1", n, err)
	}
	if got := e.depth(); got != 1 {
		t.Fatalf("depth %d after the sweep, want 1", got)
	}
	e.clock.Advance(30 * time.Minute)
	if items, _ := fetchAll(t, bob, sn, bobT, 0); len(items) != 0 {
		t.Fatalf("fetched %d expired items", len(items))
	}
	// The sweeper also runs at start.
	e.reopen()
	deadline := time.Now().Add(10 * time.Second)
	for e.depth() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweep at start did not delete the expired item")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMailRestart(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	var seqs []uint64
	for i := range 10 {
		seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(i))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		seqs = append(seqs, seq)
	}
	e.reopen()
	items, _ := fetchAll(t, bob, sn, bobT, 0)
	if len(items) != 10 {
		t.Fatalf("%d items after restart, want 10", len(items))
	}
	for i, it := range items {
		if it.Seq != seqs[i] || !bytes.Equal(it.Item, itemN(i)) {
			t.Fatalf("item %d changed across restart", i)
		}
	}
	if err := client.AckMail(ctx, bob, sn, bobT, seqs); err != nil {
		t.Fatalf("ack: %v", err)
	}
	e.reopen()
	seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(0))
	if err != nil || seq <= seqs[len(seqs)-1] {
		t.Fatalf("put after restart: seq %d (last %d), %v", seq, seqs[len(seqs)-1], err)
	}
	if err := e.mb.Close(); err != nil {
		t.Fatal(err)
	}

	// The schema version is recorded, and a newer one is refused.
	db, err := sql.Open("sqlite3", e.cfg.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("user_version %d, %v; want 3", v, err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if mb, err := NewMailbox(e.cfg); err == nil {
		mb.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if _, err := NewMailbox(MailboxConfig{AuthServer: e.authID}); err == nil {
		t.Fatal("opened a mailbox with no database path")
	}
	if _, err := NewMailbox(MailboxConfig{DBPath: filepath.Join(t.TempDir(), "x.db")}); err == nil {
		t.Fatal("opened a mailbox with no auth server")
	}
}

// TestMailStoresNoSender looks at the SQLite files: what a put leaves there
// is the item and a mailbox hash, never who sent it or whom it is for.
func TestMailStoresNoSender(t *testing.T) {
	dir := t.TempDir()
	e := newMailEnv(t, MailboxConfig{DBPath: filepath.Join(dir, "mailbox.db")})
	ctx := sntest.Ctx(t)
	const sender, recipient = "zebediah-sender", "quentin-recipient"
	alice, aliceT := e.client(sender)
	item := client.Pad([]byte("ciphertext-marker-0123456789"))
	if _, err := client.PutMail(ctx, alice, e.h.ID(), aliceT, e.box(recipient), item); err != nil {
		t.Fatalf("put: %v", err)
	}
	secrets := map[string][]byte{
		"sender username":     []byte(sender),
		"recipient username":  []byte(recipient),
		"sender peer ID":      []byte(alice.ID()),
		"sender peer ID text": []byte(alice.ID().String()),
		"sender ticket":       aliceT.Ticket,
		"ticket signature":    aliceT.Signature,
	}
	check := func(when string) {
		files, err := filepath.Glob(filepath.Join(dir, "mailbox.db*"))
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
		if !bytes.Contains(all, []byte("ciphertext-marker-0123456789")) {
			t.Fatalf("%s: the item itself is not in %v: wrong files?", when, files)
		}
		for what, s := range secrets {
			if bytes.Contains(all, s) {
				t.Fatalf("%s: the %s is in the database files", when, what)
			}
		}
	}
	check("while open")
	if err := e.mb.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close")
}

// TestMailBadFrames checks that a malformed or oversized frame costs the
// sender that stream only: a whole frame that does not decode is answered
// bad_request (the framing holds, so a pipelined stream could go on); a
// frame that breaks the framing ends the stream without an answer.
func TestMailBadFrames(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	bob, bobT := e.client("bob")
	for _, tc := range []struct {
		frame  []byte
		answer string // "": no answer, the stream ends
	}{
		{[]byte{2, 0, 0}, wire.CodeBadRequest},
		{[]byte{10, 1, 2, 3}, ""},
		{binary.AppendUvarint(nil, wire.MaxMailboxFrame+1), ""},
		{bytes.Repeat([]byte{0xff}, 11), ""},
		{nil, ""},
	} {
		s, err := bob.NewStream(ctx, e.h.ID(), wire.ProtoMailbox)
		if err != nil {
			t.Fatalf("new stream: %v", err)
		}
		_ = s.SetDeadline(time.Now().Add(wire.MailboxTimeout))
		if _, err := s.Write(tc.frame); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = s.CloseWrite()
		var resp wire.MailboxResponse
		err = wire.ReadMsg(s, wire.MaxMailboxFrame, &resp)
		switch {
		case tc.answer == "" && err == nil:
			t.Fatalf("got a response %v to frame %x", &resp, tc.frame)
		case tc.answer != "" && err != nil:
			t.Fatalf("frame %x: no answer: %v", tc.frame, err)
		case tc.answer != "" && resp.Error != tc.answer:
			t.Fatalf("frame %x answered %v, want %q", tc.frame, &resp, tc.answer)
		}
		s.Close()
		if _, _, err := client.FetchMail(ctx, bob, e.h.ID(), bobT, 0, 0); err != nil {
			t.Fatalf("fetch after a bad frame: %v", err)
		}
		if bob.Network().Connectedness(e.h.ID()) != network.Connected {
			t.Fatal("connection to the supernode dropped")
		}
	}
}

// goroutinesIn counts goroutines whose stack holds fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

func (m *Mailbox) inFlight() int { return m.listen.InFlight() }

func TestMailCloseWaitsForHandlers(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	bob, bobT := e.client("bob")

	const n = 3
	for range n {
		s, err := bob.NewStream(ctx, e.h.ID(), wire.ProtoMailbox)
		if err != nil {
			t.Fatalf("new stream: %v", err)
		}
		t.Cleanup(func() { _ = s.Reset() })
		if _, err := s.Write([]byte{5}); err != nil { // a length, then nothing
			t.Fatalf("write: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.mb.inFlight() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers in flight, want %d", e.mb.inFlight(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := goroutinesIn("supernode.(*Mailbox).serveIdle("); got < n {
		t.Fatalf("%d handler goroutines, want at least %d", got, n)
	}
	if got := goroutinesIn("supernode.(*Mailbox).sweeper("); got == 0 {
		t.Fatal("no sweeper running")
	}
	if got := goroutinesIn("supernode.(*groupCommit).serve("); got == 0 {
		t.Fatal("no group commit running")
	}

	if err := e.mb.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Close returned, so nothing of the mailbox may still run: no wait here.
	if got := goroutinesIn("supernode.(*Mailbox).serveIdle("); got != 0 {
		t.Fatalf("%d handler goroutines outlived Close", got)
	}
	if got := goroutinesIn("supernode.(*Mailbox).sweeper("); got != 0 {
		t.Fatal("the sweeper outlived Close")
	}
	if got := goroutinesIn("supernode.(*groupCommit).serve("); got != 0 {
		t.Fatal("the group commit outlived Close")
	}
	if got := e.mb.inFlight(); got != 0 {
		t.Fatalf("%d streams tracked after Close", got)
	}
	if _, err := e.mb.Depth(); err == nil {
		t.Fatal("the database is still open after Close")
	}
	if _, _, err := client.FetchMail(ctx, bob, e.h.ID(), bobT, 0, 0); err == nil {
		t.Fatal("fetch succeeded after Close")
	}
	if err := e.mb.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	e.mb.Attach(e.h) // after Close: a no-op
	if _, _, err := client.FetchMail(ctx, bob, e.h.ID(), bobT, 0, 0); err == nil {
		t.Fatal("fetch succeeded after Attach on a closed mailbox")
	}
}

// FuzzMailboxRequest feeds arbitrary stream bytes, from the fixed remote
// peer, to the server's read-decode-process-answer path — several requests
// on one stream, as a pipelining client sends them — on one database
// shared by all inputs.
func FuzzMailboxRequest(f *testing.F) {
	authKey, peerKey := fixedKey(f, 1), fixedKey(f, 2)
	auth, remote := sntest.ID(f, authKey), sntest.ID(f, peerKey)
	now := time.Unix(1_700_000_000, 0)
	st := sntest.SignTicket(f, authKey, "alice", remote, now, now.Add(wire.TicketLifetime))
	const quota = 4
	m, err := NewMailbox(MailboxConfig{
		DBPath: filepath.Join(f.TempDir(), "mailbox.db"), AuthServer: auth, Quota: quota,
		Now: func() time.Time { return now }, PutRate: rate.Inf,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close() })
	own := client.MailboxID(auth, "alice")

	f.Add(frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: st, Mailbox: own, Item: client.Pad([]byte("x"))}}}))
	f.Add(frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: st, After: 0, Limit: 10}}}))
	f.Add(frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: st, Seqs: []uint64{1, 2, 3}}}}))
	f.Add(frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: st, Mailbox: own[:31], Item: []byte{1}}}}))
	// Puts into alice's device mailbox, naming her account's as its home,
	// and with homes of a bad length.
	dev := client.DeviceMailboxID(auth, "alice", remote)
	for _, home := range [][]byte{own, own[:31], append(slices.Clone(own), 0)} {
		f.Add(frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: st, Mailbox: dev, Home: home, Item: client.Pad([]byte("d"))}}}))
	}
	f.Add(frame(f, &wire.MailboxRequest{}))
	f.Add([]byte{2, 0, 0})
	f.Add(binary.AppendUvarint(nil, wire.MaxMailboxFrame+1))
	f.Add(slices.Concat(
		frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: st, Mailbox: own, Item: client.Pad([]byte("y"))}}}),
		[]byte{2, 0, 0},
		frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: st, Limit: 1, Ack: []uint64{1}}}}),
		frame(f, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: st, Seqs: []uint64{2}}}}),
	))

	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := m.serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), &out}, remote)
		// Every request is answered in turn until one breaks the framing;
		// a stream that failed got no answer after the failure.
		answers := 0
		for out.Len() > 0 {
			var resp wire.MailboxResponse
			if err := wire.ReadMsg(&out, wire.MaxMailboxFrame, &resp); err != nil {
				t.Fatalf("answer %d does not decode: %v", answers, err)
			}
			answers++
			if resp.Error != "" && (len(resp.Items) != 0 || resp.Seq != 0) {
				t.Fatalf("refusal %q carries data", resp.Error)
			}
			switch resp.Error {
			case "", wire.CodeUnauthorized, wire.CodeBadRequest, wire.CodeRateLimited, wire.CodeQuota:
			default:
				t.Fatalf("answer carries an unknown code %q", resp.Error)
			}
		}
		if err == nil && len(data) > 0 && answers == 0 {
			t.Fatal("a stream of requests ended cleanly without an answer")
		}
		// Whatever came in, the store holds only well-formed items within quota.
		var bad, fullest int
		if err := m.db.db.QueryRow(`SELECT count(*) FROM mail WHERE length(mailbox) != 32 OR length(item) NOT BETWEEN 1 AND ?`, wire.MaxMailItem).Scan(&bad); err != nil {
			t.Fatal(err)
		}
		if err := m.db.db.QueryRow(`SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM mail GROUP BY mailbox)`).Scan(&fullest); err != nil {
			t.Fatal(err)
		}
		if bad != 0 || fullest > quota {
			t.Fatalf("store holds %d malformed items, fullest mailbox %d (quota %d)", bad, fullest, quota)
		}
	})
}

// TestMailNotify: once an owner has fetched, a put for it while it is
// connected makes the supernode open a notify stream to it.
func TestMailNotify(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	sn := e.h.ID()
	notified := make(chan struct{}, 10)
	bob.SetStreamHandler(wire.ProtoMailNotify, func(s network.Stream) {
		s.Close()
		notified <- struct{}{}
	})
	// Before bob ever fetched, the supernode does not know where he is.
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
		t.Fatal("notified an owner the supernode could not know")
	case <-time.After(200 * time.Millisecond):
	}
	if _, _, err := client.FetchMail(ctx, bob, sn, bobT, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), itemN(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after a put for a connected owner")
	}
	// Mail for someone else does not wake bob.
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("carol"), itemN(2)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
		t.Fatal("bob notified of carol's mail")
	case <-time.After(200 * time.Millisecond):
	}
}
