package rooms

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/payload"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// queued is what a fakeHost's Enqueue was given.
type queued struct {
	to string
	p  *wire.Payload
}

// outboxes holds each fakeHost's queued payloads (fakeHost is shared with
// the fuzz tests and has no field for them).
var outboxes sync.Map // *fakeHost → *[]queued

func (f *fakeHost) EnqueueFanout(_ *store.Message, _ string, entries []store.OutboxEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, _ := outboxes.LoadOrStore(f, &[]queued{})
	q := v.(*[]queued)
	for _, e := range entries {
		var p wire.Payload
		if err := proto.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		*q = append(*q, queued{e.Peer, &p})
	}
	return nil
}

// sent takes what f queued since the last call.
func (f *fakeHost) sent() []queued {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := outboxes.Load(f)
	if !ok {
		return nil
	}
	q := v.(*[]queued)
	out := *q
	*q = nil
	return out
}

// shown takes the texts f showed in rooms since the last call.
func (f *fakeHost) shown() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if m := e.RoomMessage; m != nil {
			out = append(out, m.From+": "+m.Text)
		}
	}
	f.events = nil
	return out
}

// keyWorld is an auth server, users with a device and a ticket each, and
// an invite-only room owned by alice, with bob and carol invited; every
// user has a Rooms on a fakeHost, joined to the room.
type keyWorld struct {
	t      testing.TB
	server peer.ID
	now    time.Time
	keys   map[string]crypto.PrivKey
	tks    map[string]*ticket.Ticket
	hosts  map[string]*fakeHost
	rooms  map[string]*Rooms
	state  *room.State
}

const keyRoom = "secrets"

func newKeyWorld(t testing.TB, users ...string) *keyWorld {
	t.Helper()
	serverKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := peer.IDFromPrivateKey(serverKey)
	w := &keyWorld{t: t, server: server, now: time.Unix(1_800_000_000, 0), keys: map[string]crypto.PrivKey{},
		tks: map[string]*ticket.Ticket{}, hosts: map[string]*fakeHost{}, rooms: map[string]*Rooms{}}
	for _, u := range users {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		dev, _ := peer.IDFromPrivateKey(key)
		st, err := ticket.Sign(serverKey, ticket.Ticket{Username: u, Peer: dev, Device: "laptop",
			Issued: w.now.Add(-time.Hour), Expiry: w.now.Add(time.Hour), Role: ticket.RoleNode})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := ticket.Verify(server, st, w.now)
		if err != nil {
			t.Fatal(err)
		}
		s := storetest.Open(t)
		w.keys[u], w.tks[u] = key, tk
		w.hosts[u] = &fakeHost{st: s, tk: tk, now: w.now}
		w.rooms[u] = New(w.hosts[u], Config{})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		w.rooms[u].joined[keyRoom] = &joined{room: keyRoom, ctx: ctx, cancel: cancel, done: make(chan struct{}), state: room.New(keyRoom)}
	}
	w.state = room.New(keyRoom)
	w.op(room.Create(keyRoom, "alice", w.now, "", room.Modes{InviteOnly: true}))
	w.invite("bob")
	w.invite("carol")
	return w
}

// op signs op as its author and hands it to every member as their home
// would push it.
func (w *keyWorld) op(op *wire.RoomOp) {
	w.t.Helper()
	signed, err := room.Sign(w.keys[op.Author], w.tks[op.Author].Signed, op)
	if err != nil {
		w.t.Fatal(err)
	}
	next, _, err := room.Step(w.state, signed, w.now, room.Checks{Server: w.server})
	if err != nil {
		w.t.Fatal(err)
	}
	w.state = next
	for u, r := range w.rooms {
		if r.joined[keyRoom] == nil {
			continue // out of the room
		}
		r.handle(r.joined[keyRoom], &wire.RoomEvent{Kind: &wire.RoomEvent_Op{Op: signed}})
		if st := r.state(keyRoom); st != nil && st.Seq != next.Seq {
			w.t.Fatalf("%s did not follow op %d", u, next.Seq)
		}
	}
}

// rejoin is u's node joining the room again: the state it verifies from
// the chain is the room's.
func (w *keyWorld) rejoin(u string) {
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	w.rooms[u].joined[keyRoom] = &joined{room: keyRoom, ctx: ctx, cancel: cancel, done: make(chan struct{}), state: w.state}
}

func (w *keyWorld) invite(u string) {
	op := room.Next(w.state, "alice", w.now)
	op.Kind = &wire.RoomOp_Invite{Invite: u}
	w.op(op)
}

// post has author's Rooms seal text as RoomSend does and sign it.
func (w *keyWorld) post(author, id, text string) *wire.SignedRoomMessage {
	w.t.Helper()
	m := &wire.RoomMessage{Room: keyRoom, Id: id, Author: author, TimeUnixMilli: w.now.UnixMilli(), Text: text}
	if err := w.rooms[author].sealFor(w.rooms[author].state(keyRoom), m); err != nil {
		w.t.Fatal(err)
	}
	if m.Sealed == nil || m.Text != "" {
		w.t.Fatalf("%s's message in an invite-only room is not sealed: %+v", author, m)
	}
	s, err := room.SignMessage(w.keys[author], w.tks[author].Signed, m)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// push hands a message to a member as its home would.
func (w *keyWorld) push(to string, s *wire.SignedRoomMessage) {
	r := w.rooms[to]
	r.handle(r.joined[keyRoom], &wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: s}})
}

// deliver hands to each recipient the RoomKey payloads from queued by
// from, through receiveKey as the node's payload registry would: from's
// verified ticket is the sender.
func (w *keyWorld) deliver(from string, q []queued) {
	w.t.Helper()
	for _, e := range q {
		r, ok := w.rooms[e.to]
		if !ok {
			continue
		}
		// One for from's own account stands for its other devices' copy.
		if err := r.receiveKey(&payload.Inbound{Ticket: w.tks[from], ID: wire.NewID(), Payload: e.p, Own: e.to == from}); err != nil {
			w.t.Fatalf("%s takes %s's room key: %v", e.to, from, err)
		}
	}
}

// recipientsOf are the users q's own keys go to (not requests, nor
// others' keys passed on to our other devices: TestKeysOnOurDevices).
func recipientsOf(q []queued) []string {
	var out []string
	for _, e := range q {
		if k := e.p.GetRoomKey(); k != nil && !k.Request && k.Author == "" {
			out = append(out, e.to)
		}
	}
	slices.Sort(out)
	return out
}

// TestSenderKeys: alice's first message makes her sender key and sends it
// to the members, not to a stranger; a member who gets the message first
// keeps it pending, asks her, and shows it when the key arrives. A key
// sent by one member is that member's whatever it claims: carol cannot
// pass a key off as alice's, and a stranger's key is not taken. A kick
// replaces alice's key, the new one goes to those who remain, the kicked
// member cannot read what follows and asks in vain; joining again (a kick
// is not a ban) she reads from then on.
func TestSenderKeys(t *testing.T) {
	w := newKeyWorld(t, "alice", "bob", "carol", "mallory")
	alice, bob, carol := w.hosts["alice"], w.hosts["bob"], w.hosts["carol"]

	m1 := w.post("alice", "m1", "the vault code is 7781")
	keys := alice.sent()
	// (And to alice: her other devices, if she has any.)
	if got := recipientsOf(keys); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("alice's key went to %q, want her other devices, bob and carol", got)
	}
	firstKey := keys[0].p.GetRoomKey().KeyId
	// Bob gets the message before the key: pending, and alice is asked.
	w.push("bob", m1)
	if got := bob.shown(); len(got) != 0 {
		t.Fatalf("bob shows %q without the key", got)
	}
	asks := bob.sent()
	if len(asks) != 1 || asks[0].to != "alice" || !asks[0].p.GetRoomKey().Request {
		t.Fatalf("bob queued %+v, want one request to alice", asks)
	}
	// The same message again (a backlog) asks nothing more.
	w.push("bob", m1)
	if q := bob.sent(); len(q) != 0 {
		t.Fatalf("bob asks again at once: %+v", q)
	}
	// Alice answers bob's request with the key, once a while.
	w.deliver("bob", asks)
	w.deliver("bob", asks)
	answers := alice.sent()
	if got := recipientsOf(answers); !slices.Equal(got, []string{"bob"}) || string(answers[0].p.GetRoomKey().ChainKey) != string(keys[0].p.GetRoomKey().ChainKey) {
		t.Fatalf("alice answers bob's two requests with %+v, want her key once", answers)
	}
	// Carol, a member, sends bob a key under alice's key ID: it is carol's.
	forged := proto.Clone(keys[0].p).(*wire.Payload)
	forged.GetRoomKey().ChainKey = make([]byte, wire.RoomChainKey)
	w.deliver("carol", []queued{{"bob", forged}})
	if got := bob.shown(); len(got) != 0 {
		t.Fatalf("bob opens alice's message with carol's key: %q", got)
	}
	// Mallory, no member, sends bob a key: not taken.
	w.deliver("mallory", []queued{{"bob", forged}})
	w.rooms["bob"].kmu.Lock()
	_, taken := w.rooms["bob"].keys[keyRoom].peers["mallory"]
	w.rooms["bob"].kmu.Unlock()
	if taken {
		t.Fatal("bob keeps a stranger's key")
	}
	// Alice's real key arrives: the pending message shows, once.
	w.deliver("alice", keys)
	if got := bob.shown(); !slices.Equal(got, []string{"alice: the vault code is 7781"}) {
		t.Fatalf("bob shows %q", got)
	}
	w.push("carol", m1)
	w.push("alice", m1) // her own, back from the home
	if got, mine := carol.shown(), alice.shown(); len(got) != 1 || len(mine) != 1 {
		t.Fatalf("carol shows %q, alice %q", got, mine)
	}

	// A second message under the same key goes straight through.
	m2 := w.post("alice", "m2", "bring the kumquats")
	if q := alice.sent(); len(q) != 0 {
		t.Fatalf("alice sends keys again: %+v", q)
	}
	w.push("bob", m2)
	if got := bob.shown(); !slices.Equal(got, []string{"alice: bring the kumquats"}) {
		t.Fatalf("bob shows %q", got)
	}

	// Alice kicks carol: her key is replaced, the new one goes to bob only.
	kick := room.Next(w.state, "alice", w.now)
	kick.Kind = &wire.RoomOp_Kick{Kick: "carol"}
	w.op(kick)
	m3 := w.post("alice", "m3", "carol must not read this")
	keys = alice.sent()
	if got := recipientsOf(keys); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("alice's new key went to %q, want her other devices and bob", got)
	}
	if string(keys[0].p.GetRoomKey().KeyId) == string(firstKey) {
		t.Fatal("the kick did not replace alice's key")
	}
	w.deliver("alice", keys)
	w.push("bob", m3)
	if got := bob.shown(); !slices.Equal(got, []string{"alice: carol must not read this"}) {
		t.Fatalf("bob shows %q", got)
	}
	// Carol's node, seeing herself kicked, left the room and its keys.
	if w.rooms["carol"].joined[keyRoom] != nil {
		t.Fatal("kicked carol's node is still in the room")
	}
	// Were she to ask alice for the new key, alice, having seen the kick,
	// answers nothing.
	ask := &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: &wire.RoomKey{Room: keyRoom, KeyId: keys[0].p.GetRoomKey().KeyId, Request: true}}}
	w.deliver("carol", []queued{{"alice", ask}})
	if q := alice.sent(); len(q) != 0 {
		t.Fatalf("alice answers kicked carol: %+v", q)
	}
	// Carol joins again (she is still invited): alice's key is replaced
	// once more, and her next message brings the new one to bob and carol
	// — who reads from her return on, not what was said while she was out.
	w.rejoin("carol")
	ra := w.rooms["alice"]
	ra.handle(ra.joined[keyRoom], &wire.RoomEvent{Kind: &wire.RoomEvent_Joined{Joined: "carol"}})
	if q := alice.sent(); len(q) != 0 {
		t.Fatalf("carol's rejoining sends %+v", q)
	}
	m4 := w.post("alice", "m4", "welcome back, carol")
	keys = alice.sent()
	if got := recipientsOf(keys); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("alice's key after carol's return went to %q", got)
	}
	w.deliver("alice", keys)
	w.push("carol", m4)
	if got := carol.shown(); !slices.Equal(got, []string{"alice: welcome back, carol"}) {
		t.Fatalf("carol, back, shows %q", got)
	}
	carol.sent()

	// A ban removes for good: bob's next key does not go to carol, and
	// her requests are dropped as a non-member's.
	ban := room.Next(w.state, "alice", w.now)
	ban.Kind = &wire.RoomOp_Ban{Ban: &wire.RoomBan{Username: "carol"}}
	w.op(ban)
	w.post("bob", "b1", "carol is gone")
	bobKeys := bob.sent()
	if got := recipientsOf(bobKeys); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("bob's key went to %q, want alice and his other devices", got)
	}
	ask = &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: &wire.RoomKey{Room: keyRoom, KeyId: bobKeys[0].p.GetRoomKey().KeyId, Request: true}}}
	w.deliver("carol", []queued{{"bob", ask}})
	if q := bob.sent(); len(q) != 0 {
		t.Fatalf("bob answers banned carol: %+v", q)
	}
}

// TestSealBinding: a sealed text opens only as the message it was sealed
// for — its room, author, ID and key — and under its author's key.
func TestSealBinding(t *testing.T) {
	sk, err := newSenderKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSenderKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &wire.RoomMessage{Room: keyRoom, Id: "m1", Author: "alice"}
	s, err := seal(sk, w, "hello")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(change func(m *room.Message)) *room.Message {
		m := &room.Message{Room: keyRoom, ID: "m1", Author: "alice", Sealed: proto.Clone(s).(*wire.RoomSealed)}
		change(m)
		return m
	}
	if got, err := open(sk.chain[:], msg(func(*room.Message) {})); err != nil || got != "hello" {
		t.Fatalf("open: %q, %v", got, err)
	}
	for _, tc := range []struct {
		name   string
		key    senderKey
		change func(m *room.Message)
	}{
		{"another key", other, func(*room.Message) {}},
		{"another room", sk, func(m *room.Message) { m.Room = "others" }},
		{"another author", sk, func(m *room.Message) { m.Author = "mallory" }},
		{"another ID", sk, func(m *room.Message) { m.ID = "m2" }},
		{"another key ID", sk, func(m *room.Message) { m.Sealed.KeyId = other.id[:] }},
		{"a changed byte", sk, func(m *room.Message) { m.Sealed.Ciphertext[0] ^= 1 }},
		{"another nonce", sk, func(m *room.Message) { m.Sealed.Nonce[0] ^= 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := open(tc.key.chain[:], msg(tc.change)); !errors.Is(err, ErrOpen) {
				t.Fatalf("opened %q, %v", got, err)
			}
		})
	}
}

// TestPendingBound: messages under keys never received wait at most
// wire.RoomPending per room, the newest kept; an author is asked once per
// wire.RoomKeyAskInterval.
func TestPendingBound(t *testing.T) {
	w := newKeyWorld(t, "alice", "bob", "carol")
	var msgs []*wire.SignedRoomMessage
	for i := range wire.RoomPending + 5 {
		msgs = append(msgs, w.post("alice", "p"+string(rune('a'+i%26))+string(rune('a'+i/26)), "pending"))
	}
	keys := w.hosts["alice"].sent()
	for _, m := range msgs {
		w.push("bob", m)
	}
	bob := w.rooms["bob"]
	bob.kmu.Lock()
	n := len(bob.keys[keyRoom].pending)
	bob.kmu.Unlock()
	if n != wire.RoomPending {
		t.Fatalf("%d pending, want %d", n, wire.RoomPending)
	}
	if asks := w.hosts["bob"].sent(); len(asks) != 1 {
		t.Fatalf("bob asked %d times, want once", len(asks))
	}
	w.deliver("alice", keys)
	if got := w.hosts["bob"].shown(); len(got) != wire.RoomPending {
		t.Fatalf("bob shows %d, want the %d kept", len(got), wire.RoomPending)
	}
}

// FuzzRoomKey: whatever a RoomKey payload holds, decoding it never panics
// and refuses with ErrBadKey; one that decodes is of its sizes; and
// handing it to a member's receiveKey — from a member or a stranger, or
// passed on by the member's own other device — never panics, and keeps a
// key only of a member, passed on only by the member's own device.
func FuzzRoomKey(f *testing.F) {
	w := newKeyWorld(f, "alice", "bob", "mallory")
	for _, k := range []*wire.RoomKey{
		{Room: keyRoom, KeyId: make([]byte, wire.RoomKeyID), ChainKey: make([]byte, wire.RoomChainKey)},
		{Room: keyRoom, KeyId: make([]byte, wire.RoomKeyID), Request: true},
		{Room: "other", KeyId: make([]byte, wire.RoomKeyID), ChainKey: make([]byte, wire.RoomChainKey)},
		{Room: keyRoom, KeyId: make([]byte, wire.RoomKeyID), ChainKey: make([]byte, wire.RoomChainKey), Author: "alice"},
		{Room: keyRoom, KeyId: make([]byte, wire.RoomKeyID), ChainKey: make([]byte, wire.RoomChainKey), Author: "mallory"},
	} {
		f.Add(wire.MustMarshal(k), false)
		f.Add(wire.MustMarshal(k), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, stranger bool) {
		k, err := DecodeKey(b)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("an error without its sentinel: %v", err)
			}
			return
		}
		if len(k.KeyId) != wire.RoomKeyID || (!k.Request && len(k.ChainKey) != wire.RoomChainKey) {
			t.Fatalf("decoded out of shape: %+v", k)
		}
		from := "alice"
		if stranger {
			from = "mallory"
		}
		bob := w.rooms["bob"]
		p := &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: k}}
		err = bob.receiveKey(&payload.Inbound{Ticket: w.tks[from], Payload: p})
		if k.Author != "" {
			// Only another device of bob's own may pass a member's key on.
			if !errors.Is(err, payload.ErrBadRequest) {
				t.Fatalf("%s passed on %s's key: %v", from, k.Author, err)
			}
			err = bob.receiveKey(&payload.Inbound{Ticket: w.tks["bob"], Payload: p, Own: true})
		}
		if err != nil {
			t.Fatalf("a well-formed key refused: %v", err)
		}
		bob.kmu.Lock()
		defer bob.kmu.Unlock()
		if rk := bob.keys[keyRoom]; rk != nil && len(rk.peers["mallory"]) > 0 {
			t.Fatal("a stranger's key kept")
		}
		if n := len(bob.keys); n > 1+wire.RoomKeyStash {
			t.Fatalf("keys of %d rooms kept", n)
		}
	})
}

// TestNewcomerGetsNoEarlierKey: dave, invited after alice made her key,
// asks for it (the backlog he was shown is sealed under it) before alice
// sees him join, which would replace it: she does not answer, so he reads
// from his join on and not what was said before. Bob, whom the key was
// made for, still gets it on request.
func TestNewcomerGetsNoEarlierKey(t *testing.T) {
	w := newKeyWorld(t, "alice", "bob", "carol", "dave")
	alice := w.hosts["alice"]
	w.post("alice", "m1", "before dave")
	keys := alice.sent()
	if got := recipientsOf(keys); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("alice's key went to %q", got)
	}
	w.invite("dave")
	ask := func() *wire.Payload {
		return &wire.Payload{Kind: &wire.Payload_RoomKey{RoomKey: &wire.RoomKey{Room: keyRoom, KeyId: keys[0].p.GetRoomKey().KeyId, Request: true}}}
	}
	w.deliver("dave", []queued{{"alice", ask()}})
	if q := alice.sent(); len(q) != 0 {
		t.Fatalf("alice gave newcomer dave the key made before he was invited: %+v", q)
	}
	w.deliver("bob", []queued{{"alice", ask()}})
	if got := recipientsOf(alice.sent()); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("alice answers bob's request to %q", got)
	}
}
