package rooms

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// home is a room service on a real libp2p host on 127.0.0.1.
type home struct {
	w   *world
	svc *Service
	h   host.Host
}

func newHome(t testing.TB) *home {
	t.Helper()
	return newHomeOn(t, sntest.Host(t))
}

// newHomeOn is newHome on the host h.
func newHomeOn(t testing.TB, h host.Host) *home {
	t.Helper()
	w := newWorld(t)
	svc, err := OpenService(ServiceConfig{DBPath: filepath.Join(t.TempDir(), "rooms.db"), AuthServer: w.server, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(h)
	t.Cleanup(func() { _ = svc.Close() })
	return &home{w: w, svc: svc, h: h}
}

// member is one device of a user, with its own libp2p host connected to
// the home.
type member struct {
	t    testing.TB
	hm   *home
	user string
	key  crypto.PrivKey
	h    host.Host
	st   *wire.SignedTicket
}

func (hm *home) member(t testing.TB, user string) *member {
	t.Helper()
	return hm.memberSince(t, user, t0.Add(-30*24*time.Hour))
}

// memberSince is member for an account created at created, as the auth
// server signs it into the ticket.
func (hm *home) memberSince(t testing.TB, user string, created time.Time) *member {
	t.Helper()
	k := sntest.Key(t)
	h, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if err := h.Connect(sntest.Ctx(t), peer.AddrInfo{ID: hm.h.ID(), Addrs: hm.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	st, err := ticket.Sign(hm.w.key, ticket.Ticket{Username: user, Peer: h.ID(), Device: "dev-" + h.ID().String()[:8],
		Issued: t0.Add(-5 * time.Minute), Expiry: t0.Add(23 * time.Hour), Role: ticket.RoleNode, AccountCreated: created})
	if err != nil {
		t.Fatal(err)
	}
	return &member{t: t, hm: hm, user: user, key: k, h: h, st: st}
}

// op signs an op of this device on the room's current head and submits it.
func (m *member) op(name string, kind func(*wire.RoomOp)) error {
	m.t.Helper()
	st, err := m.hm.svc.Store().State(context.Background(), name)
	if err != nil {
		m.t.Fatal(err)
	}
	o := room.Next(st, m.user, m.hm.w.clock.tick())
	kind(o)
	return m.submit(o)
}

func (m *member) submit(o *wire.RoomOp) error {
	m.t.Helper()
	s, err := room.Sign(m.key, m.st, o)
	if err != nil {
		m.t.Fatal(err)
	}
	_, err = client.SubmitRoomOp(sntest.Ctx(m.t), m.h, m.hm.h.ID(), m.st, s)
	return err
}

// create creates name with modes; the test fails on a refusal.
func (m *member) create(name string, modes room.Modes) {
	m.t.Helper()
	if err := m.submit(room.Create(name, m.user, m.hm.w.clock.tick(), "about "+name, modes)); err != nil {
		m.t.Fatalf("create %q: %v", name, err)
	}
}

func (m *member) join(name string, pass *wire.SignedRegionPass) (*client.Subscription, error) {
	return client.JoinRoom(sntest.Ctx(m.t), m.h, m.hm.h.ID(), m.st, name, "", pass)
}

func (m *member) mustJoin(name string) *client.Subscription {
	m.t.Helper()
	sub, err := m.join(name, nil)
	if err != nil {
		m.t.Fatalf("%s joins %q: %v", m.user, name, err)
	}
	m.t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// say posts text in name as this device, with pass when not nil.
func (m *member) say(name, text string, pass *wire.SignedRegionPass) error {
	m.t.Helper()
	s, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: name, Id: wire.NewID(), Author: m.user,
		TimeUnixMilli: m.hm.w.clock.tick().UnixMilli(), Text: text})
	if err != nil {
		m.t.Fatal(err)
	}
	return client.SendRoomMessage(sntest.Ctx(m.t), m.h, m.hm.h.ID(), m.st, s, pass)
}

// mustSay is say without a pass; the test fails on a refusal.
func (m *member) mustSay(name, text string) {
	m.t.Helper()
	if err := m.say(name, text, nil); err != nil {
		m.t.Fatalf("%s says %q: %v", m.user, text, err)
	}
}

// pass is this device's region pass for region.
func (m *member) pass(region string) *wire.SignedRegionPass {
	m.t.Helper()
	tk, err := ticket.Verify(m.hm.w.server, m.st, t0)
	if err != nil {
		m.t.Fatal(err)
	}
	p, err := ticket.SignPass(m.hm.w.key, *tk, region)
	if err != nil {
		m.t.Fatal(err)
	}
	return p
}

// texts reads sub's events until a message with text until arrives and
// returns the texts of the messages seen, each as "author: text"; ops and
// presence lines are skipped. Every message is verified as a member would.
func texts(t *testing.T, w *world, sub *client.Subscription, until string) []string {
	t.Helper()
	var out []string
	for {
		ev, err := sub.Next(sntest.Ctx(t))
		if err != nil {
			t.Fatalf("waiting for %q after %q: %v", until, out, err)
		}
		sm := ev.GetMessage()
		if sm == nil {
			continue
		}
		m, err := room.VerifyMessage(sm, w.clock.Now(), room.Checks{Server: w.server})
		if err != nil {
			t.Fatalf("a pushed message does not verify: %v", err)
		}
		out = append(out, m.Author+": "+m.Text)
		if m.Text == until {
			return out
		}
	}
}

func same(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestRoomTalk: two users who are not contacts join a room and talk; each
// sees every message once, in one order; the backlog has them after a
// reconnect; ops read back as the chain.
func TestRoomTalk(t *testing.T) {
	hm := newHome(t)
	alice, bob := hm.member(t, "alice"), hm.member(t, "bob")
	alice.create("lounge", room.Modes{Public: true})
	sa := alice.mustJoin("lounge")
	sb := bob.mustJoin("lounge")
	if sb.Members != 2 || sb.Position != 1 {
		t.Fatalf("bob joined at %d with %d online", sb.Position, sb.Members)
	}
	for _, s := range []struct {
		m    *member
		text string
	}{{alice, "hi bob"}, {bob, "hello alice"}, {alice, "done"}} {
		if err := s.m.say("lounge", s.text, nil); err != nil {
			t.Fatalf("%s says %q: %v", s.m.user, s.text, err)
		}
	}
	want := []string{"alice: hi bob", "bob: hello alice", "alice: done"}
	same(t, texts(t, hm.w, sa, "done"), want...)
	same(t, texts(t, hm.w, sb, "done"), want...)
	if n := hm.svc.Online("lounge"); n != 2 {
		t.Fatalf("%d online", n)
	}

	// Bob goes and comes back: the backlog holds what was said.
	_ = sb.Close()
	sb = bob.mustJoin("lounge")
	msgs, err := client.RoomBacklog(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "lounge", 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sm := range msgs {
		m, err := room.VerifyMessage(sm, hm.w.clock.Now(), room.Checks{Server: hm.w.server})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Author+": "+m.Text)
	}
	same(t, got, want[1:]...)
	ops, more, err := client.RoomOpsSince(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "lounge", 0)
	if err != nil || more || len(ops) != 1 {
		t.Fatalf("ops: %d, more %v, %v", len(ops), more, err)
	}
	if _, err := room.Replay("lounge", ops, hm.w.clock.Now(), room.Checks{Server: hm.w.server}); err != nil {
		t.Fatal(err)
	}
	// Unknown rooms and bad names are bad requests.
	if _, err := bob.join("nowhere", nil); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("joining an unknown room: %v", err)
	}
	if _, err := client.RoomBacklog(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "No Such", 0); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("a bad name: %v", err)
	}
}

// TestRoomBan: a ban ends the banned user's joined stream (after the ban
// line), refuses their join and message from every device of the account,
// and an op by someone who may not make it is refused.
func TestRoomBan(t *testing.T) {
	hm := newHome(t)
	owner, bob, bob2, carol := hm.member(t, "olga"), hm.member(t, "bob"), hm.member(t, "bob"), hm.member(t, "carol")
	owner.create("lounge", room.Modes{Public: true})
	sb := bob.mustJoin("lounge")
	sc := carol.mustJoin("lounge")

	// Forgeries: carol may not ban; mallory's device may not sign as olga.
	if err := carol.op("lounge", ban("bob")); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a member's ban: %v", err)
	}
	forged := func(o *wire.RoomOp) { o.Author = "olga"; ban("carol")(o) }
	if err := carol.op("lounge", forged); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("an op signed as the owner by another account: %v", err)
	}

	if err := owner.op("lounge", ban("bob")); err != nil {
		t.Fatal(err)
	}
	sawBan := false
	for {
		ev, err := sb.Next(sntest.Ctx(t))
		if errors.Is(err, client.ErrRoomEnded) {
			if !strings.Contains(err.Error(), EndBanned) || !sawBan {
				t.Fatalf("ended %v, the ban line seen: %v", err, sawBan)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sawBan = sawBan || ev.GetOp() != nil
	}
	for _, d := range []*member{bob, bob2} {
		if _, err := d.join("lounge", nil); !errors.Is(err, client.ErrBanned) {
			t.Fatalf("a banned device joins: %v", err)
		}
		if err := d.say("lounge", "let me in", nil); !errors.Is(err, client.ErrBanned) {
			t.Fatalf("a banned device posts: %v", err)
		}
	}
	if err := carol.say("lounge", "bye bob", nil); err != nil {
		t.Fatal(err)
	}
	same(t, texts(t, hm.w, sc, "bye bob"), "carol: bye bob")
}

// TestRoomModeration: slow mode and the flood limit answer rate_limited; a
// muted member's message in a moderated room reaches no one; a member not
// joined here may not post.
func TestRoomModeration(t *testing.T) {
	hm := newHome(t)
	owner, bob := hm.member(t, "olga"), hm.member(t, "bob")
	owner.create("slow", room.Modes{SlowSeconds: 30})
	owner.create("busy", room.Modes{})
	owner.create("quiet", room.Modes{Moderated: true})

	if err := bob.say("slow", "not joined", nil); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("posting without joining: %v", err)
	}
	bob.mustJoin("slow")
	if err := bob.say("slow", "one", nil); err != nil {
		t.Fatal(err)
	}
	if err := bob.say("slow", "two", nil); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("slow mode: %v", err)
	}
	hm.w.clock.advance(31 * time.Second)
	if err := bob.say("slow", "three", nil); err != nil {
		t.Fatalf("after the slow-mode wait: %v", err)
	}

	// Flood: 5 in 10 s by default, for the owner too.
	owner.mustJoin("busy")
	for i := range wire.DefaultRoomFloodMessages {
		if err := owner.say("busy", fmt.Sprint(i), nil); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := owner.say("busy", "flood", nil); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("flood: %v", err)
	}

	so := owner.mustJoin("quiet")
	sq := bob.mustJoin("quiet")
	if err := bob.say("quiet", "muted words", nil); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("muted: %v", err)
	}
	if err := owner.say("quiet", "order", nil); err != nil {
		t.Fatal(err)
	}
	same(t, texts(t, hm.w, so, "order"), "olga: order")
	same(t, texts(t, hm.w, sq, "order"), "olga: order")
	msgs, err := client.RoomBacklog(sntest.Ctx(t), bob.h, hm.h.ID(), bob.st, "quiet", 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("backlog of the moderated room: %d messages, %v", len(msgs), err)
	}

	// An invite-only room's members seal what they say: plain text there
	// would be read by the home, and is refused.
	bob.create("secret", room.Modes{InviteOnly: true})
	bob.mustJoin("secret")
	if err := bob.say("secret", "in the clear", nil); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("plain text in an invite-only room: %v, want %v", err, client.ErrNotAllowed)
	}
}

// TestNewAccountGate: in a room that lets accounts post only after an
// hour, the home reads the account's age from the ticket the auth server
// signed: a day-old account posts, a ten-minute-old one reads but may not
// post until its hour has passed.
func TestNewAccountGate(t *testing.T) {
	hm := newHome(t)
	owner := hm.member(t, "olga")
	veteran := hm.memberSince(t, "vera", t0.Add(-24*time.Hour))
	newcomer := hm.memberSince(t, "nina", t0.Add(-10*time.Minute))
	owner.create("gated", room.Modes{MinAccountMinutes: 60})
	sv := veteran.mustJoin("gated")
	newcomer.mustJoin("gated") // reading is open to all

	if err := veteran.say("gated", "hello", nil); err != nil {
		t.Fatalf("a day-old account: %v", err)
	}
	if err := newcomer.say("gated", "spam", nil); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a ten-minute-old account: %v", err)
	}
	hm.w.clock.advance(time.Hour)
	if err := newcomer.say("gated", "hi, I am new", nil); err != nil {
		t.Fatalf("the newcomer after an hour: %v", err)
	}
	same(t, texts(t, hm.w, sv, "hi, I am new"), "vera: hello", "nina: hi, I am new")
}

// TestRegionalRoom: anyone joins a regional room to read it; only a
// matching region pass, issued with the poster's own ticket, posts.
func TestRegionalRoom(t *testing.T) {
	hm := newHome(t)
	ana, carl := hm.member(t, "ana"), hm.member(t, "carl")
	es := wire.RegionalRoom("ES")
	sa, err := ana.join(es, ana.pass("ES"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Close() })
	carl.mustJoin(es)
	if err := ana.say(es, "hola", ana.pass("ES")); err != nil {
		t.Fatalf("with a matching pass: %v", err)
	}
	for _, tt := range []struct {
		name string
		pass *wire.SignedRegionPass
		want error
	}{
		{"no pass", nil, client.ErrNotAllowed},
		{"another region", carl.pass("FR"), client.ErrNotAllowed},
		{"someone else's pass", ana.pass("ES"), client.ErrBadRequest},
	} {
		if err := carl.say(es, "hola", tt.pass); !errors.Is(err, tt.want) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	same(t, texts(t, hm.w, sa, "hola"), "ana: hola")
}

// TestRegionalModeration: the home takes a regional room's moderation from
// the moderators the auth server named for its region in their tickets: a
// ban by ES's moderator keeps the banned member from posting and joining;
// a moderator of another region is refused; the moderator's ops spend none
// of their allowance to create rooms.
func TestRegionalModeration(t *testing.T) {
	hm := newHome(t)
	ana, carl := hm.member(t, "ana"), hm.member(t, "carl")
	esmod, frmod := hm.member(t, "esmod"), hm.member(t, "frmod")
	for m, region := range map[*member]string{esmod: "ES", frmod: "FR"} {
		st, err := ticket.Sign(hm.w.key, ticket.Ticket{Username: m.user, Peer: m.h.ID(), Device: "dev",
			Issued: t0.Add(-5 * time.Minute), Expiry: t0.Add(23 * time.Hour), Role: ticket.RoleNode,
			AccountCreated: t0.Add(-30 * 24 * time.Hour), Moderates: []string{region}})
		if err != nil {
			t.Fatal(err)
		}
		m.st = st
	}
	es := wire.RegionalRoom("ES")
	sa, err := ana.join(es, ana.pass("ES"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Close() })
	if _, err := carl.join(es, carl.pass("ES")); err != nil {
		t.Fatal(err)
	}
	if err := frmod.op(es, ban("carl")); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("FR's moderator bans in ES's room: %v, want %v", err, client.ErrNotAllowed)
	}
	if err := carl.op(es, ban("ana")); !errors.Is(err, client.ErrNotAllowed) {
		t.Fatalf("a member bans in a regional room: %v, want %v", err, client.ErrNotAllowed)
	}
	if err := esmod.op(es, ban("carl")); err != nil {
		t.Fatalf("ES's moderator bans carl: %v", err)
	}
	if err := carl.say(es, "spam", carl.pass("ES")); !errors.Is(err, client.ErrBanned) {
		t.Fatalf("banned carl posts: %v, want %v", err, client.ErrBanned)
	}
	if _, err := carl.join(es, carl.pass("ES")); !errors.Is(err, client.ErrBanned) {
		t.Fatalf("banned carl rejoins: %v, want %v", err, client.ErrBanned)
	}
	if err := ana.say(es, "hola", ana.pass("ES")); err != nil {
		t.Fatal(err)
	}
	same(t, texts(t, hm.w, sa, "hola"), "ana: hola")
	// The regional chain is no creation of the moderator's: all three of
	// their rooms for the hour are still theirs to create.
	for i := range wire.RoomCreatesPerWindow {
		esmod.create(fmt.Sprintf("esmod-%d", i), room.Modes{Public: true})
	}
}
