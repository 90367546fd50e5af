package node

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/authserver/bundle"
	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/sqlite"
	"eserver/supernode"
	"eserver/supernode/client"
)

// TestOfflineDeliveryThroughMailboxes: alice writes 100 messages while bob
// is offline, then goes offline herself; bob signs in later and gets each
// exactly once, in order, from his mailboxes, which are empty afterwards;
// when alice is back, bob's receipts mark her messages delivered.
func TestOfflineDeliveryThroughMailboxes(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	alice, bob := friends(t, server)

	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	const n = 100
	var ids []string
	for i := range n {
		id, err := alice.Send(ctx(t), "bob", fmt.Sprintf("offline #%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Bob's mailbox only: bob's receipts to the absent alice wait in hers.
	depth := func() int {
		d, err := svc.Mailbox.DepthOf(client.MailboxID(svc.Host.ID(), "bob"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The supernode stores an item before it answers, and alice drops it
	// from her outbox after the answer: wait for both.
	s, _ := alice.current()
	waitUntil(t, "all 100 in bob's mailbox and out of alice's outbox", func() bool {
		out, _ := s.store.Outbox("bob")
		return depth() == n && len(out) == 0
	})
	alice.stop() // only the mailbox can deliver now

	bob.open()
	bob.login()
	got := bob.collect("alice", n)
	for i, m := range got {
		if m.ID != ids[i] || m.Text != fmt.Sprintf("offline #%d", i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if h := fullHistory(t, bob, "alice"); len(h) != n {
		t.Fatalf("bob's history holds %d messages, want %d", len(h), n)
	}
	waitUntil(t, "bob's mailbox emptied", func() bool { return depth() == 0 })

	// Alice comes back and learns, from bob's receipts, that all arrived.
	alice.open()
	alice.login()
	waitDelivered(t, alice, "bob", n)
}

// waitUntil polls cond for up to a minute: under the race detector, with
// the other packages' tests on the same two cores, a hundred mail puts have
// taken longer than 30 s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

// TestMailIsNotOvertaken: alice leaves a message in bob's mailbox while his
// node refuses her streams (and he gets no notification of it); when it
// takes them again, her next message goes directly — and bob still sees
// the mailed one first.
func TestMailIsNotOvertaken(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	as, _ := alice.current()
	bs, _ := bob.current()

	// Bob hears of no mail, and takes no message stream: alice can only mail.
	bs.host.RemoveStreamHandler(wire.ProtoMailNotify)
	bs.host.RemoveStreamHandler(wire.ProtoMsg)
	as.host.Network().ClosePeer(bs.host.ID()) // and the stream alice had open ends
	if _, err := alice.Send(ctx(t), "bob", "first, by mail"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first message in bob's mailbox", func() bool {
		out, _ := as.store.Outbox("bob")
		return len(out) == 0 && as.delivery.Mailed("bob")
	})

	// Bob takes streams again; alice's second message goes directly.
	bs.host.SetStreamHandler(wire.ProtoMsg, bs.delivery.HandleStream)
	if _, err := alice.Send(ctx(t), "bob", "second, directly"); err != nil {
		t.Fatal(err)
	}
	got := bob.collect("alice", 2)
	if got[0].Text != "first, by mail" || got[1].Text != "second, directly" {
		t.Fatalf("bob saw %q then %q", got[0].Text, got[1].Text)
	}
	if as.delivery.Mailed("bob") {
		t.Fatal("alice still thinks mail waits for bob")
	}
}

// TestLateMailInAuthorsOrder: the soak's reordering. Alice leaves a message
// in bob's mailbox; when bob next fetches, the home does not answer (it was
// killed), so alice's next message, sent directly, arrives first. When the
// home is back, the mailed one arrives too — and bob's history shows them
// in alice's order, not in the order they arrived.
func TestLateMailInAuthorsOrder(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	as, _ := alice.current()
	bs, _ := bob.current()

	// Bob takes no message stream: alice can only mail.
	bs.host.RemoveStreamHandler(wire.ProtoMailNotify)
	bs.host.RemoveStreamHandler(wire.ProtoMsg)
	as.host.Network().ClosePeer(bs.host.ID())
	first, err := alice.Send(ctx(t), "bob", "first, by mail")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first message in bob's mailbox", func() bool {
		out, _ := as.store.Outbox("bob")
		return len(out) == 0 && as.delivery.Mailed("bob")
	})

	// The home stops answering mailbox calls (on either protocol, and the
	// mailbox stream bob keeps open to it ends, as when a home is killed);
	// bob takes streams again and alice's second message comes directly,
	// after bob failed to fetch.
	stopMailbox(svc.Host, bs.host.Network().ConnsToPeer(svc.Host.ID()))
	bs.host.SetStreamHandler(wire.ProtoMsg, bs.delivery.HandleStream)
	second, err := alice.Send(ctx(t), "bob", "second, directly")
	if err != nil {
		t.Fatal(err)
	}
	if got := bob.collect("alice", 1); got[0].ID != second {
		t.Fatalf("bob first saw %q, want the direct one", got[0].Text)
	}

	// The home is back: bob fetches the first message.
	svc.Mailbox.Attach(svc.Host)
	bs.delivery.PokeMail()
	if got := bob.collect("alice", 1); got[0].ID != first {
		t.Fatalf("bob then saw %q, want the mailed one", got[0].Text)
	}
	h := fullHistory(t, bob, "alice")
	if len(h) != 2 || h[0].ID != first || h[1].ID != second {
		t.Fatalf("bob's history: %+v, want the mailed message first", h)
	}
}

// TestMailFromALostSession: bob's node lost its session with alice (say, a
// restore from an older copy) while her messages waited in his mailbox,
// sealed in that session. He cannot open them, so he asks her to send them
// again, in a new session; they arrive once each, in order, and alice sees
// them delivered. Nothing she wrote is lost.
func TestMailFromALostSession(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	// A first message each way: both hold a ratchet session.
	if _, err := alice.Send(ctx(t), "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	var ids []string
	for i := range 3 {
		id, err := alice.Send(ctx(t), "bob", fmt.Sprintf("while you were away #%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	mailedFromALostSession(t, svc, alice, bob, 3)
	got := bob.collect("alice", 3)
	for i, m := range got {
		if m.ID != ids[i] || m.Text != fmt.Sprintf("while you were away #%d", i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	waitDelivered(t, alice, "bob", 4)
	if h := fullHistory(t, bob, "alice"); len(h) != 4 {
		t.Fatalf("bob's history holds %d messages, want 4: %+v", len(h), h)
	}
}

// TestConversationEventFromALostSession: a conversation message mailed to a
// member who then lost its session with the sender is asked for again and
// comes again as it went (the soak lost such a message: resend requests
// were answered for chat messages only).
func TestConversationEventFromALostSession(t *testing.T) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	carol := newTestNode(t, svc.Addr(), "carol")
	carol.register()
	carol.login()
	befriend(t, alice, carol)
	id, err := alice.Invite(ctx(t), "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// A first message: bob holds a ratchet session with alice.
	if _, err := alice.Send(ctx(t), id, "hello both"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("the first message", func(e api.Event) bool {
		return e.Message != nil && e.Message.To == id && e.Message.Text == "hello both"
	})
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	msg, err := alice.Send(ctx(t), id, "while you were away")
	if err != nil {
		t.Fatal(err)
	}
	mailedFromALostSession(t, svc, alice, bob, 1)
	got := bob.waitFor("the message mailed while away", func(e api.Event) bool {
		return e.Message != nil && e.Message.To == id && e.Message.ID == msg
	})
	if got.Message.From != "alice" || got.Message.Text != "while you were away" {
		t.Fatalf("bob got %+v", got.Message)
	}
}

// mailedFromALostSession waits until n items of alice's are in the stopped
// bob's mailbox and out of her outbox, has bob's store forget his sessions
// with her (the mail is sealed in one of them), and signs bob in again.
func mailedFromALostSession(t *testing.T, svc *bundle.Service, alice, bob *testNode, n int) {
	t.Helper()
	sa, _ := alice.current()
	waitUntil(t, "alice's mail in bob's mailbox", func() bool {
		out, _ := sa.store.Outbox("bob")
		d, _ := svc.Mailbox.DepthOf(client.MailboxID(svc.Host.ID(), "bob"))
		return len(out) == 0 && d >= n
	})
	st, err := store.Open(filepath.Join(bob.dir, "accounts", "bob", "eserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSessions(sa.host.ID().String()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	bob.open()
	bob.login()
}

// extraSupernode starts a supernode (mailboxes only, no rooms) on its own
// host on 127.0.0.1 for the auth server of svc. It is in no registry: the
// test decides which nodes' lists have it.
func extraSupernode(t *testing.T, svc *bundle.Service) (client.Supernode, *supernode.Services) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: svc.Host.ID(), MailboxDB: filepath.Join(t.TempDir(), "mailbox.db"), NoRooms: true, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return client.Supernode{Addrs: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}}, sn
}

// TestMailAtASupernodeWeNoLongerList: the soak's mail left at op4. Bob's
// node knew supernode S1, then its list lost it (the registry's answer
// lacked it for a moment — S1 was restarting, or bob refreshed his list in
// a partition); alice, whose list still has S1, leaves a message there
// while bob's own supernode S0 takes no mail. Bob must still fetch it — it
// is his only copy — once, and before alice's next message, which comes
// directly; S1's mailbox for bob is empty afterwards. Also when bob's node
// restarted in between: it signs in with the registry's list, which lacks
// S1, and must remember S1 from before.
func TestMailAtASupernodeWeNoLongerList(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) { mailAtASupernodeWeNoLongerList(t, restart) })
	}
}

func mailAtASupernodeWeNoLongerList(t *testing.T, restart bool) {
	svc := testBundle(t)
	alice, bob := friends(t, svc.Addr())
	as, _ := alice.current()
	bs, _ := bob.current()
	s0 := client.Supernode{Addrs: peer.AddrInfo{ID: svc.Host.ID(), Addrs: svc.Host.Addrs()}}
	s1, sn1 := extraSupernode(t, svc)
	both := []client.Supernode{s0, s1}

	// Bob knew S1, then lost it from his list (his next refresh at the
	// registry, which does not list S1, keeps it lost).
	bs.discovery.SetSupernodes(both)
	bs.discovery.SetSupernodes([]client.Supernode{s0})
	if restart {
		bob.stop()
		bob.open()
		bob.login()
		alice.waitContact("bob", api.RelationAccepted, api.StatusOnline)
		bs, _ = bob.current()
	}

	// Bob takes no message stream and hears of no mail; S0 takes no mail:
	// alice can only leave her message at S1.
	bs.host.RemoveStreamHandler(wire.ProtoMailNotify)
	bs.host.RemoveStreamHandler(wire.ProtoMsg)
	stopMailbox(svc.Host, svc.Host.Network().Conns()) // the streams kept open to S0 end too
	as.host.Network().ClosePeer(bs.host.ID())
	first, err := alice.Send(ctx(t), "bob", "first, by mail at S1")
	if err != nil {
		t.Fatal(err)
	}
	box := client.MailboxID(svc.Host.ID(), "bob")
	depth := func() int {
		d, err := sn1.Mailbox.DepthOf(box)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitUntil(t, "the message in bob's mailbox at S1", func() bool {
		// Alice's own refresh at the registry drops S1 from her list too:
		// her list keeps it here, as a list refreshed before S1 dropped out.
		as.discovery.SetSupernodes(both)
		out, _ := as.store.Outbox("bob")
		return len(out) == 0 && as.delivery.Mailed("bob") && depth() == 1
	})
	svc.Mailbox.Attach(svc.Host)

	// Bob takes streams again; alice's next message goes directly, and her
	// hello says she left mail: bob fetches it first.
	bs.host.SetStreamHandler(wire.ProtoMsg, bs.delivery.HandleStream)
	second, err := alice.Send(ctx(t), "bob", "second, directly")
	if err != nil {
		t.Fatal(err)
	}
	got := bob.collect("alice", 2)
	if got[0].ID != first || got[1].ID != second {
		t.Fatalf("bob saw %q then %q, want the mailed one first", got[0].Text, got[1].Text)
	}
	waitUntil(t, "bob's mailbox at S1 emptied", func() bool { return depth() == 0 })
	if h := fullHistory(t, bob, "alice"); len(h) != 2 || h[0].ID != first || h[1].ID != second {
		t.Fatalf("bob's history: %+v, want each message once, the mailed one first", h)
	}
}

// stopMailbox makes the supernode host h stop answering mailbox calls, on
// every version of the protocol, and ends the mailbox streams of conns
// (those kept open to it): as when a home is killed.
func stopMailbox(h host.Host, conns []network.Conn) {
	pids := []protocol.ID{wire.ProtoMailbox, wire.ProtoMailboxStream, wire.ProtoMailboxDevices}
	for _, pid := range pids {
		h.RemoveStreamHandler(pid)
	}
	for _, c := range conns {
		for _, st := range c.GetStreams() {
			if slices.Contains(pids, st.Protocol()) {
				_ = st.Reset()
			}
		}
	}
}

// TestMailDeviceMailbox: mail for bob waits in his account's mailbox and
// in the mailbox of his device A; A's drain takes both, in order. A second
// device of bob's drains the account's mailbox and never sees A's: the
// item it could not open stays for A. (Senders do not fan out to devices
// yet, so the test moves alice's mail into A's mailbox as a sender that
// does would have left it: the same sealed bytes, put with PutDevice.)
func TestMailDeviceMailbox(t *testing.T) {
	dir := t.TempDir()
	svc := testBundleIn(t, dir)
	alice, bob := friends(t, svc.Addr())
	as, _ := alice.current()
	bs, _ := bob.current()
	sn := svc.Host.ID()
	account := client.MailboxID(sn, "bob")
	device := client.DeviceMailboxID(sn, "bob", bs.host.ID())
	depth := func(box []byte) int {
		d, err := svc.Mailbox.DepthOf(box)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	db, err := sql.Open("sqlite3", sqlite.DSN(filepath.Join(dir, "mailbox.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn := client.NewMailConn(as.host, sn)
	defer conn.Close()
	// mail sends text to bob, who is offline, and waits until it is in
	// his account's mailbox; toDevice then moves it into A's.
	mail := func(text string, toDevice bool) {
		t.Helper()
		before := depth(account)
		if _, err := alice.Send(ctx(t), "bob", text); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, text+" in bob's mailbox", func() bool {
			out, _ := as.store.Outbox("bob")
			return len(out) == 0 && depth(account) == before+1
		})
		if !toDevice {
			return
		}
		items := mailboxItems(t, dir, alice, "bob")
		if _, err := conn.PutDevice(ctx(t), as.tk().Signed, account, device, items[len(items)-1]); err != nil {
			t.Fatalf("putting into A's mailbox: %v", err)
		}
		if _, err := db.Exec(`DELETE FROM mail WHERE seq = (SELECT max(seq) FROM mail WHERE mailbox = ?)`, account); err != nil {
			t.Fatal(err)
		}
	}

	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	mail("first, in A's mailbox", true)
	mail("second, in the account's", false)
	if depth(device) != 1 || depth(account) != 1 {
		t.Fatalf("A's mailbox holds %d, the account's %d; want 1 and 1", depth(device), depth(account))
	}
	bob.open()
	bob.login()
	if got := bob.collect("alice", 2); got[0].Text != "first, in A's mailbox" || got[1].Text != "second, in the account's" {
		t.Fatalf("bob's device A saw %q then %q", got[0].Text, got[1].Text)
	}
	waitUntil(t, "both mailboxes drained", func() bool { return depth(device) == 0 && depth(account) == 0 })

	// A is offline; mail for it waits while bob's laptop drains.
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	mail("third, in A's mailbox", true)
	laptop := newTestNode(t, svc.Addr(), "bob")
	laptop.login()
	ls, _ := laptop.current()
	if ls.host.ID() == bs.host.ID() {
		t.Fatal("the laptop is the same device")
	}
	if err := ls.delivery.DrainMail(ctx(t)); err != nil {
		t.Fatalf("laptop's drain: %v", err)
	}
	if got := depth(device); got != 1 {
		t.Fatalf("A's mailbox holds %d after the laptop drained, want 1", got)
	}
	for _, m := range fullHistory(t, laptop, "alice") {
		if m.Text == "third, in A's mailbox" {
			t.Fatal("the laptop got A's mail")
		}
	}
	laptop.stop()
	bob.open()
	bob.login()
	if got := bob.collect("alice", 1); got[0].Text != "third, in A's mailbox" {
		t.Fatalf("bob's device A saw %q", got[0].Text)
	}
	waitUntil(t, "A's mailbox drained", func() bool { return depth(device) == 0 })
}
