package supernode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// deviceMail is a supernode with mail for two devices of bob, A and B,
// left by alice: items in bob's account mailbox and in each device's.
type deviceMail struct {
	e          *mailEnv
	sn         peer.ID
	alice      host.Host
	aliceT     *wire.SignedTicket
	a, b       host.Host
	aT, bT     *wire.SignedTicket
	label      map[uint64]string // seq → which mailbox and which item
	putsByName map[string]uint64
}

func newDeviceMail(t *testing.T, cfg MailboxConfig) *deviceMail {
	t.Helper()
	e := newMailEnv(t, cfg)
	d := &deviceMail{e: e, sn: e.h.ID(), label: map[uint64]string{}, putsByName: map[string]uint64{}}
	d.alice, d.aliceT = e.client("alice")
	d.a, d.aT = e.client("bob")
	d.b, d.bT = e.client("bob")
	return d
}

// put leaves item name in the mailbox box names ("account", "A", "B"),
// from alice, as a sender that knows device mailboxes does.
func (d *deviceMail) put(t *testing.T, box, name string) {
	t.Helper()
	ctx := sntest.Ctx(t)
	conn := client.NewMailConn(d.alice, d.sn)
	defer conn.Close()
	var seq uint64
	var err error
	item := client.Pad([]byte(name))
	switch box {
	case "account":
		seq, err = conn.Put(ctx, d.aliceT, d.e.box("bob"), item)
	case "A":
		seq, err = conn.PutDevice(ctx, d.aliceT, d.e.box("bob"), d.e.deviceBox("bob", d.a.ID()), item)
	case "B":
		seq, err = conn.PutDevice(ctx, d.aliceT, d.e.box("bob"), d.e.deviceBox("bob", d.b.ID()), item)
	default:
		t.Fatalf("no mailbox %q", box)
	}
	if err != nil {
		t.Fatalf("put %s into %s: %v", name, box, err)
	}
	d.label[seq] = name
	d.putsByName[name] = seq
}

// names returns the labels of items, in the order given.
func (d *deviceMail) names(t *testing.T, items []*wire.StoredMail) []string {
	t.Helper()
	out := make([]string, 0, len(items))
	for _, it := range items {
		raw, err := client.Unpad(it.Item)
		if err != nil {
			t.Fatalf("item %d: %v", it.Seq, err)
		}
		if d.label[it.Seq] != string(raw) {
			t.Fatalf("item %d holds %q, put as %q", it.Seq, raw, d.label[it.Seq])
		}
		out = append(out, string(raw))
	}
	return out
}

func (d *deviceMail) seqs(names ...string) []uint64 {
	out := make([]uint64, 0, len(names))
	for _, n := range names {
		out = append(out, d.putsByName[n])
	}
	return out
}

// fetcher is one way of fetching and acknowledging: a protocol version.
type fetcher struct {
	name  string
	fetch func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, after uint64, limit int) ([]*wire.StoredMail, bool, error)
	ack   func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, seqs []uint64) error
}

// fetchers are an old client (wire.ProtoMailbox, one request per stream),
// a client of wire.ProtoMailboxStream only, and today's MailConn
// (wire.ProtoMailboxDevices), whose ack rides on a fetch.
var fetchers = []fetcher{
	{
		name: "1.0.0 per stream",
		fetch: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, after uint64, limit int) ([]*wire.StoredMail, bool, error) {
			return client.FetchMail(sntest.Ctx(t), h, sn, st, after, limit)
		},
		ack: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, seqs []uint64) error {
			return client.AckMail(sntest.Ctx(t), h, sn, st, seqs)
		},
	},
	{
		name: "1.1.0 kept stream",
		fetch: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, after uint64, limit int) ([]*wire.StoredMail, bool, error) {
			resp, err := rawCall(t, h, sn, wire.ProtoMailboxStream, fetchReq(st, after, uint32(limit)))
			return resp.GetItems(), resp.GetMore(), err
		},
		ack: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, seqs []uint64) error {
			_, err := rawCall(t, h, sn, wire.ProtoMailboxStream, ackReq(st, seqs...))
			return err
		},
	},
	{
		name: "1.2.0 MailConn, ack on the fetch",
		fetch: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, after uint64, limit int) ([]*wire.StoredMail, bool, error) {
			c := client.NewMailConn(h, sn)
			defer c.Close()
			if ok, err := c.DeviceMailboxes(sntest.Ctx(t)); err != nil || !ok {
				t.Fatalf("MailConn did not negotiate device mailboxes: %v, %v", ok, err)
			}
			return c.Fetch(sntest.Ctx(t), st, after, limit, nil)
		},
		ack: func(t *testing.T, h host.Host, sn peer.ID, st *wire.SignedTicket, seqs []uint64) error {
			c := client.NewMailConn(h, sn)
			defer c.Close()
			_, _, err := c.Fetch(sntest.Ctx(t), st, 1<<62, 1, seqs)
			return err
		},
	},
}

// rawCall sends req alone on a stream of protocol pid and reads its answer.
func rawCall(t *testing.T, h host.Host, sn peer.ID, pid string, req *wire.MailboxRequest) (*wire.MailboxResponse, error) {
	t.Helper()
	s, err := h.NewStream(sntest.Ctx(t), sn, protocol.ID(pid))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Protocol() != protocol.ID(pid) {
		t.Fatalf("negotiated %s, want %s", s.Protocol(), pid)
	}
	_ = s.SetDeadline(time.Now().Add(wire.MailboxTimeout))
	if err := wire.WriteMsg(s, req); err != nil {
		return nil, err
	}
	var resp wire.MailboxResponse
	if err := wire.ReadMsg(s, wire.MaxMailboxFrame, &resp); err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("answer: %s", resp.Error)
	}
	return &resp, nil
}

// fetchAllWith pages through what st's holder may fetch, limit at a time,
// and checks the pages follow one another in seq order.
func fetchAllWith(t *testing.T, f fetcher, h host.Host, sn peer.ID, st *wire.SignedTicket, limit int) []*wire.StoredMail {
	t.Helper()
	var all []*wire.StoredMail
	var after uint64
	for range 100 {
		items, more, err := f.fetch(t, h, sn, st, after, limit)
		if err != nil {
			t.Fatalf("fetch after %d: %v", after, err)
		}
		if len(items) > limit {
			t.Fatalf("%d items answered, limit %d", len(items), limit)
		}
		for _, it := range items {
			if it.Seq <= after {
				t.Fatalf("seq %d after %d: out of order", it.Seq, after)
			}
			after = it.Seq
		}
		all = append(all, items...)
		if !more {
			return all
		}
		if len(items) == 0 {
			t.Fatal("more set on an empty answer")
		}
	}
	t.Fatal("fetching never ended")
	return nil
}

// TestMailDeviceMailboxes: a device fetches its account's mailbox and its
// own device mailbox in one seq order, with every protocol version; the
// other device of the account shares the account's mailbox but never sees,
// counts or deletes the first device's items; acks cover both mailboxes.
func TestMailDeviceMailboxes(t *testing.T) {
	for _, f := range fetchers {
		t.Run(f.name, func(t *testing.T) {
			d := newDeviceMail(t, MailboxConfig{})
			e := d.e
			// Interleaved, so that the order across mailboxes shows.
			for _, p := range []struct{ box, name string }{
				{"account", "acct1"}, {"A", "a1"}, {"B", "b1"}, {"A", "a2"},
				{"account", "acct2"}, {"B", "b2"}, {"A", "a3"},
			} {
				d.put(t, p.box, p.name)
			}

			for _, limit := range []int{1, 2, 3, wire.MailFetchLimit} {
				if got, want := d.names(t, fetchAllWith(t, f, d.a, d.sn, d.aT, limit)), []string{"acct1", "a1", "a2", "acct2", "a3"}; !slices.Equal(got, want) {
					t.Fatalf("device A, %d a fetch: %q, want %q", limit, got, want)
				}
				if got, want := d.names(t, fetchAllWith(t, f, d.b, d.sn, d.bT, limit)), []string{"acct1", "b1", "acct2", "b2"}; !slices.Equal(got, want) {
					t.Fatalf("device B, %d a fetch: %q, want %q", limit, got, want)
				}
			}

			// B learns nothing of A's mailbox: its answers are the same
			// whether A's holds 3 items or 13, "more" included (B's 4
			// items fit in a fetch of 4).
			before, moreBefore, err := f.fetch(t, d.b, d.sn, d.bT, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				d.put(t, "A", fmt.Sprintf("a-more%d", i))
			}
			after, moreAfter, err := f.fetch(t, d.b, d.sn, d.bT, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.names(t, before), d.names(t, after)) || moreBefore != moreAfter || moreAfter {
				t.Fatalf("B's answer changed with A's mailbox: %q more %v, then %q more %v",
					d.names(t, before), moreBefore, d.names(t, after), moreAfter)
			}

			// B's ack of A's items (and of an account item) deletes the
			// account item only.
			if err := f.ack(t, d.b, d.sn, d.bT, d.seqs("a1", "a2", "acct1")); err != nil {
				t.Fatalf("B's ack: %v", err)
			}
			if n, _ := e.mb.DepthOf(e.deviceBox("bob", d.a.ID())); n != 13 {
				t.Fatalf("B's ack left %d items in A's mailbox, want 13", n)
			}
			if got := e.depthOf("bob"); got != 1 {
				t.Fatalf("account mailbox holds %d after B acked acct1, want 1", got)
			}

			// A's ack covers both of its mailboxes; B's items stay.
			if err := f.ack(t, d.a, d.sn, d.aT, d.seqs("acct2", "a1", "a3", "b1")); err != nil {
				t.Fatalf("A's ack: %v", err)
			}
			if got := d.names(t, fetchAllWith(t, f, d.a, d.sn, d.aT, 4)); len(got) != 11 || got[0] != "a2" || slices.Contains(got, "a3") {
				t.Fatalf("A after its ack: %q", got)
			}
			if got, want := d.names(t, fetchAllWith(t, f, d.b, d.sn, d.bT, 4)), []string{"b1", "b2"}; !slices.Equal(got, want) {
				t.Fatalf("B after A's ack: %q, want %q", got, want)
			}
			if got := e.depthOf("bob"); got != 0 {
				t.Fatalf("account mailbox holds %d, want 0", got)
			}
		})
	}
}

// TestMailDeviceQuota: a device mailbox has its quota of its own: full, it
// refuses mail while the account's mailbox and the other device's still
// take it, and the full one takes more once its device acknowledged.
func TestMailDeviceQuota(t *testing.T) {
	d := newDeviceMail(t, MailboxConfig{Quota: 3})
	ctx := sntest.Ctx(t)
	for i := range 3 {
		d.put(t, "A", fmt.Sprintf("a%d", i))
	}
	conn := client.NewMailConn(d.alice, d.sn)
	defer conn.Close()
	_, err := conn.PutDevice(ctx, d.aliceT, d.e.box("bob"), d.e.deviceBox("bob", d.a.ID()), client.Pad([]byte("a3")))
	if !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put into a full device mailbox: %v, want ErrQuota", err)
	}
	for i := range 3 {
		d.put(t, "account", fmt.Sprintf("acct%d", i))
		d.put(t, "B", fmt.Sprintf("b%d", i))
	}
	if _, err := conn.Put(ctx, d.aliceT, d.e.box("bob"), client.Pad([]byte("acct3"))); !errors.Is(err, client.ErrQuota) {
		t.Fatalf("put into a full account mailbox: %v, want ErrQuota", err)
	}
	// A fetches 6 items (over one mailbox's quota: two mailboxes).
	items, _ := fetchAll(t, d.a, d.sn, d.aT, 0)
	if len(items) != 6 {
		t.Fatalf("A fetched %d items, want 6", len(items))
	}
	if err := client.AckMail(ctx, d.a, d.sn, d.aT, d.seqs("a0")); err != nil {
		t.Fatal(err)
	}
	d.put(t, "A", "a3")
}

// TestMailDeviceHome: a device mailbox lives at its account's homes. A put
// into one is taken where the account is homed even though the device
// mailbox's own ID is homed elsewhere, and refused where the named home
// is not homed; a bad home is a bad request and stores nothing.
func TestMailDeviceHome(t *testing.T) {
	// Many other supernodes, so that most mailbox IDs are homed elsewhere.
	var others []peer.ID
	for range 30 {
		others = append(others, sntest.ID(t, sntest.Key(t)))
	}
	e := newMailEnv(t, MailboxConfig{Supernodes: func(context.Context) ([]peer.ID, error) { return others, nil }})
	if err := e.mb.RefreshSupernodes(sntest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	// A user homed here and one that is not, and a device mailbox of the
	// first whose own ID is not.
	var here, elsewhere string
	for i := 0; here == "" || elsewhere == ""; i++ {
		u := fmt.Sprintf("user%d", i)
		if e.mb.homed(e.box(u)) {
			here = cmpOr(here, u)
		} else {
			elsewhere = cmpOr(elsewhere, u)
		}
	}
	var dev peer.ID
	for dev == "" || e.mb.homed(e.deviceBox(here, dev)) {
		dev = sntest.ID(t, sntest.Key(t))
	}
	devBox := e.deviceBox(here, dev)
	conn := client.NewMailConn(alice, e.h.ID())
	defer conn.Close()

	if _, err := conn.Put(ctx, aliceT, devBox, itemN(0)); !errors.Is(err, client.ErrNotHome) {
		t.Fatalf("put into a device mailbox without its home: %v, want ErrNotHome", err)
	}
	if _, err := conn.PutDevice(ctx, aliceT, e.box(elsewhere), devBox, itemN(0)); !errors.Is(err, client.ErrNotHome) {
		t.Fatalf("put naming a home homed elsewhere: %v, want ErrNotHome", err)
	}
	for _, home := range [][]byte{make([]byte, 31), make([]byte, 33)} {
		resp, err := rawCall(t, alice, e.h.ID(), wire.ProtoMailboxDevices, &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{
			Put: &wire.MailPut{Ticket: aliceT, Mailbox: devBox, Item: itemN(0), Home: home}}})
		if err == nil || resp != nil {
			t.Fatalf("put with a home of %d bytes: %v, want %s", len(home), err, wire.CodeBadRequest)
		}
	}
	if got := e.depth(); got != 0 {
		t.Fatalf("refused puts stored %d items", got)
	}
	if _, err := conn.PutDevice(ctx, aliceT, e.box(here), devBox, itemN(1)); err != nil {
		t.Fatalf("put into a device mailbox at its account's home: %v", err)
	}
	if n, _ := e.mb.DepthOf(devBox); n != 1 {
		t.Fatalf("device mailbox holds %d, want 1", n)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestMailConnNoDeviceMailboxes: PutDevice to a supernode that does not
// speak wire.ProtoMailboxDevices fails with ErrNoDeviceMailboxes and sends
// nothing: that supernode would keep the item from everyone.
func TestMailConnNoDeviceMailboxes(t *testing.T) {
	old := sntest.Host(t)
	requests := make(chan struct{}, 10)
	old.SetStreamHandler(wire.ProtoMailboxStream, func(s network.Stream) {
		defer s.Reset()
		var req wire.MailboxRequest
		if wire.ReadMsg(s, wire.MaxMailboxFrame, &req) == nil {
			requests <- struct{}{}
		}
	})
	h := sntest.Host(t)
	if err := h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: old.ID(), Addrs: old.Addrs()}); err != nil {
		t.Fatal(err)
	}
	conn := client.NewMailConn(h, old.ID())
	defer conn.Close()
	st := sntest.SignTicket(t, sntest.Key(t), "alice", h.ID(), time.Now(), time.Now().Add(time.Hour))
	box := client.MailboxID(old.ID(), "bob")
	if ok, err := conn.DeviceMailboxes(sntest.Ctx(t)); err != nil || ok {
		t.Fatalf("DeviceMailboxes = %v, %v; want false", ok, err)
	}
	_, err := conn.PutDevice(sntest.Ctx(t), st, box, client.DeviceMailboxID(old.ID(), "bob", h.ID()), itemN(0))
	if !errors.Is(err, client.ErrNoDeviceMailboxes) {
		t.Fatalf("PutDevice: %v, want ErrNoDeviceMailboxes", err)
	}
	select {
	case <-requests:
		t.Fatal("PutDevice sent its request to a supernode without device mailboxes")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestMailNotifyDevice: mail landing in a device mailbox wakes that
// device, once it has fetched and while it is connected, and no other.
func TestMailNotifyDevice(t *testing.T) {
	d := newDeviceMail(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	notified := map[string]chan struct{}{"A": make(chan struct{}, 10), "B": make(chan struct{}, 10)}
	for name, h := range map[string]host.Host{"A": d.a, "B": d.b} {
		h.SetStreamHandler(wire.ProtoMailNotify, func(s network.Stream) {
			s.Close()
			notified[name] <- struct{}{}
		})
	}
	for _, dev := range []struct {
		h  host.Host
		st *wire.SignedTicket
	}{{d.a, d.aT}, {d.b, d.bT}} {
		if _, _, err := client.FetchMail(ctx, dev.h, d.sn, dev.st, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(who string) {
		t.Helper()
		select {
		case <-notified[who]:
		case <-time.After(10 * time.Second):
			t.Fatalf("device %s not notified", who)
		}
		other := map[string]string{"A": "B", "B": "A"}[who]
		select {
		case <-notified[other]:
			t.Fatalf("device %s notified of device %s's mail", other, who)
		case <-time.After(200 * time.Millisecond):
		}
	}
	d.put(t, "A", "a1")
	expect("A")
	d.put(t, "B", "b1")
	expect("B")
	// The account's mailbox wakes the device that fetched last (B).
	d.put(t, "account", "acct1")
	expect("B")
}
