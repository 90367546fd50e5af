package conversation

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// user is an account's device: its key and the ticket the test server
// issued it.
type user struct {
	name string
	key  crypto.PrivKey
	tk   *ticket.Ticket
}

// world is a test auth server that issues tickets.
type world struct {
	t      testing.TB
	key    crypto.PrivKey
	server peer.ID
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k) // cannot fail for an Ed25519 key
	return k, id
}

func newWorld(t testing.TB) *world {
	k, id := newKey(t)
	return &world{t: t, key: k, server: id}
}

func (w *world) user(name string) user {
	k, p := newKey(w.t)
	now := time.Now()
	st, err := ticket.Sign(w.key, ticket.Ticket{Username: name, Peer: p, Issued: now, Expiry: now.Add(time.Hour), Role: ticket.RoleNode})
	if err != nil {
		w.t.Fatal(err)
	}
	tk, err := ticket.VerifySignature(w.server, st)
	if err != nil {
		w.t.Fatal(err)
	}
	return user{name: name, key: k, tk: tk}
}

// fakeHost is the node as the component sees it, with no network: what is
// queued and emitted is recorded.
type fakeHost struct {
	w        *world
	me       user
	now      time.Time
	st       *store.Store
	contacts []string         // accepted
	revoked  map[peer.ID]bool // devices revoked at the server
	lock     sync.Mutex

	mu      sync.Mutex
	events  []api.Event
	queued  []store.OutboxEntry
	fanouts []store.OutboxEntry
	own     []*wire.Payload // queued for our other devices (EnqueueOwn)
	// failFanout makes queueing a multi-party event fail before its
	// commit, as a kill there would.
	failFanout bool
}

func newHost(t testing.TB, w *world, me user, contacts ...string) *fakeHost {
	h := &fakeHost{w: w, me: me, now: time.Now(), contacts: contacts, revoked: map[peer.ID]bool{}}
	if t, ok := t.(*testing.T); ok {
		h.st = storetest.Open(t)
	}
	return h
}

func (h *fakeHost) Me() string               { return h.me.name }
func (h *fakeHost) Ticket() *ticket.Ticket   { return h.me.tk }
func (h *fakeHost) Now() time.Time           { return h.now }
func (h *fakeHost) Store() *store.Store      { return h.st }
func (h *fakeHost) Log() *slog.Logger        { return slog.New(slog.DiscardHandler) }
func (h *fakeHost) ContactLock() sync.Locker { return &h.lock }
func (h *fakeHost) Accepted(u string) bool   { return slices.Contains(h.contacts, u) }
func (h *fakeHost) Sign(b []byte) ([]byte, error) {
	return h.me.key.Sign(b)
}

func (h *fakeHost) Emit(e api.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *fakeHost) Enqueue(username string, p *wire.Payload, m *store.Message) error {
	raw, err := proto.Marshal(p)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queued = append(h.queued, store.OutboxEntry{Peer: username, Payload: raw})
	return nil
}

func (h *fakeHost) EnqueueOwn(p *wire.Payload) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.own = append(h.own, proto.Clone(p).(*wire.Payload))
	return nil
}

func (h *fakeHost) EnqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry) error {
	return h.enqueueFanout(m, conv, entries)
}

func (h *fakeHost) EnqueueFanoutWith(conv string, entries []store.OutboxEntry, ops ...store.Op) error {
	return h.enqueueFanout(nil, conv, entries, ops...)
}

func (h *fakeHost) enqueueFanout(m *store.Message, conv string, entries []store.OutboxEntry, ops ...store.Op) error {
	if h.failFanout {
		return errors.New("killed before the commit")
	}
	op, err := h.st.FanoutOp(m, conv, entries)
	if err != nil {
		return err
	}
	if err := h.st.Commit(append(ops, op)...); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fanouts = append(h.fanouts, entries...)
	return nil
}

func (h *fakeHost) AuthenticateAt(st *wire.SignedTicket, at time.Time) (*ticket.Ticket, error) {
	a := pipeline.Authenticator{Server: h.w.server, Revoked: pipeline.RevokedPeers(func(p peer.ID) bool { return h.revoked[p] })}
	return a.AuthenticateAt(st, at)
}

// event returns an event by author, signed by author's device.
func event(t testing.TB, author user, members []string, kind func(*wire.GroupEvent)) *wire.GroupEvent {
	ev := &wire.GroupEvent{Conversation: bytes.Repeat([]byte{1}, idLen), Id: "e1", SentUnixMilli: author.tk.Issued.Add(time.Minute).UnixMilli(), Author: author.name,
		AuthorTicket: author.tk.Signed, Members: members, Kind: &wire.GroupEvent_Text{Text: "genuine"}}
	if kind != nil {
		kind(ev)
	}
	sign(t, author, ev)
	return ev
}

func sign(t testing.TB, author user, ev *wire.GroupEvent) {
	var err error
	if ev.Signature, err = author.key.Sign(signingBytes(ev)); err != nil {
		t.Fatal(err)
	}
}

func chat(text string, sent time.Time) *payload.Inbound {
	return &payload.Inbound{
		Ticket:  &ticket.Ticket{Username: "alice"},
		ID:      "m1",
		Payload: &wire.Payload{SentUnixMilli: sent.UnixMilli(), Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}},
		Contact: store.Contact{Username: "alice", Relation: string(api.RelationAccepted)},
		Known:   true,
	}
}

// TestReceiveChat: a contact's message is refused when empty or too long,
// and stamped with our clock when the sender's is in the future or absurdly
// far in the past.
func TestReceiveChat(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("bob"), "alice")
	c := New(h)
	now := h.now
	tests := []struct {
		name    string
		text    string
		sent    time.Time
		wantErr error
		wantAt  time.Time
	}{
		{"ordinary", "hi", now.Add(-time.Minute), nil, now.Add(-time.Minute)},
		{"empty", "", now, payload.ErrBadRequest, time.Time{}},
		{"longest", string(bytes.Repeat([]byte{'a'}, wire.MaxChatText)), now, nil, now},
		{"too long", string(bytes.Repeat([]byte{'a'}, wire.MaxChatText+1)), now, payload.ErrBadRequest, time.Time{}},
		{"sender's clock ahead", "hi", now.Add(time.Hour), nil, now},
		{"sender's clock a year behind", "hi", now.Add(-365 * 24 * time.Hour), nil, now},
		{"within the skew", "hi", now.Add(-MaxSkew + time.Hour), nil, now.Add(-MaxSkew + time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through a backlog, so nothing is stored and each case sees
			// the message it made.
			in := chat(tc.text, tc.sent)
			var backlog []store.Message
			in.Backlog = &backlog
			err := c.receiveChat(in)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("receiveChat = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if len(backlog) != 0 {
					t.Fatalf("a refused message reached the backlog: %+v", backlog)
				}
				return
			}
			if len(backlog) != 1 {
				t.Fatalf("backlog = %+v, want one message", backlog)
			}
			m := backlog[0]
			if m.Time.UnixMilli() != tc.wantAt.UnixMilli() || m.Peer != "alice" || m.ID != "m1" || m.Text != tc.text {
				t.Fatalf("message %+v, want from alice at %v", m, tc.wantAt)
			}
		})
	}
}

// TestReceiveChatStoresOnce: outside a backlog a message is stored and
// shown once, however often it arrives.
// TestResentChatKeepsItsPlace: a message sent again at our request comes
// under a new outbox position, and names the one it was first sent under:
// it is shown there, before the author's later messages.
func TestResentChatKeepsItsPlace(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("bob"), "alice")
	c := New(h)
	in := func(id string, envOrder, chatOrder uint64) *payload.Inbound {
		ch := chat(id, h.now)
		ch.ID, ch.Order = id, envOrder
		ch.Ticket = &ticket.Ticket{Username: "alice", Peer: peer.ID("alice's device")}
		ch.Payload.GetChat().Order = chatOrder
		return ch
	}
	for _, m := range []*payload.Inbound{in("one", 10, 0), in("three", 30, 0), in("two", 40, 20)} {
		if err := c.receiveChat(m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := c.History("alice", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("history %v, want the resent message in its first place", got)
	}
}

func TestReceiveChatStoresOnce(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("bob"), "alice")
	c := New(h)
	for range 2 {
		if err := c.receiveChat(chat("hello", h.now)); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.events) != 1 || h.events[0].Message == nil || h.events[0].Message.From != "alice" || h.events[0].Message.To != "bob" {
		t.Fatalf("events %+v, want the message once", h.events)
	}
	ms, err := c.History("alice", 0, "")
	if err != nil || len(ms) != 1 || ms[0].Text != "hello" {
		t.Fatalf("history %+v (%v)", ms, err)
	}
}

func TestSendRefusals(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("alice"))
	c := New(h)
	for name, tc := range map[string]struct {
		to, text string
		want     error
	}{
		"empty text":             {"bob", "", api.ErrBadRequest},
		"text too long":          {"bob", string(bytes.Repeat([]byte{'a'}, wire.MaxChatText+1)), api.ErrBadRequest},
		"text not UTF-8":         {"bob", "\xff", api.ErrBadRequest},
		"a stranger":             {"bob", "hi", api.ErrNotContact},
		"unknown conversation":   {"#00112233445566778899aabbccddeeff", "hi", api.ErrBadRequest},
		"malformed conversation": {"#0011", "hi", api.ErrBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Send(tc.to, tc.text); !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
		})
	}
	if len(h.queued)+len(h.fanouts)+len(h.events) != 0 {
		t.Fatalf("refused sends queued %v %v or emitted %v", h.queued, h.fanouts, h.events)
	}
}

// TestGroupEventForgery: an event a member passes on cannot be changed or
// attributed to someone else: the author's signature and ticket are
// checked, whoever forwards it.
func TestGroupEventForgery(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.user("alice"), w.user("bob")
	c := New(newHost(t, w, bob, "alice"))
	ev := event(t, alice, []string{"alice", "bob"}, nil)
	if err := c.checkEvent(ev); err != nil {
		t.Fatalf("a genuine event is refused: %v", err)
	}
	other := newWorld(t).user("alice")
	for name, change := range map[string]func(*wire.GroupEvent){
		"text changed":        func(e *wire.GroupEvent) { e.Kind = &wire.GroupEvent_Text{Text: "forged"} },
		"author changed":      func(e *wire.GroupEvent) { e.Author = "bob" },
		"members added":       func(e *wire.GroupEvent) { e.Members = append(e.Members, "mallory") },
		"other ticket":        func(e *wire.GroupEvent) { e.AuthorTicket = bob.tk.Signed },
		"other server":        func(e *wire.GroupEvent) { e.AuthorTicket = other.tk.Signed },
		"no ticket":           func(e *wire.GroupEvent) { e.AuthorTicket = nil },
		"no signature":        func(e *wire.GroupEvent) { e.Signature = nil },
		"author not member":   func(e *wire.GroupEvent) { e.Members = []string{"bob", "carol"} },
		"empty text":          func(e *wire.GroupEvent) { e.Kind = &wire.GroupEvent_Text{} },
		"no kind":             func(e *wire.GroupEvent) { e.Kind = nil },
		"short conversation":  func(e *wire.GroupEvent) { e.Conversation = e.Conversation[:8] },
		"bad member name":     func(e *wire.GroupEvent) { e.Members = append(e.Members, "Not A Name") },
		"joined not a member": func(e *wire.GroupEvent) { e.Kind = &wire.GroupEvent_Joined{Joined: "carol"} },
		"no ID":               func(e *wire.GroupEvent) { e.Id = "" },
		"ID too long":         func(e *wire.GroupEvent) { e.Id = string(bytes.Repeat([]byte{'x'}, 65)) },
	} {
		t.Run(name, func(t *testing.T) {
			forged := proto.Clone(ev).(*wire.GroupEvent)
			change(forged)
			if err := c.checkEvent(forged); err == nil {
				t.Fatal("a changed event passed")
			}
		})
	}
	// Signed properly, but with too many members or a text too long.
	t.Run("too many members", func(t *testing.T) {
		members := []string{"alice"}
		for i := range api.MaxConversationMembers {
			members = append(members, "member"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
		if err := c.checkEvent(event(t, alice, members, nil)); err == nil {
			t.Fatal("passed")
		}
	})
	t.Run("revoked author", func(t *testing.T) {
		h := newHost(t, w, bob, "alice")
		h.revoked[alice.tk.Peer] = true
		if err := New(h).checkEvent(ev); err == nil {
			t.Fatal("passed")
		}
	})
}

// TestReceiveGroup: a conversation starts only with an invitation of us by
// the contact who invites; events of strangers to it are ignored; a
// message is stored and passed on once.
func TestReceiveGroup(t *testing.T) {
	w := newWorld(t)
	alice, bob, carol, mallory := w.user("alice"), w.user("bob"), w.user("carol"), w.user("mallory")
	h := newHost(t, w, bob, "alice", "carol")
	c := New(h)
	conv := convID(bytes.Repeat([]byte{1}, idLen))
	joined := func(who string) func(*wire.GroupEvent) {
		return func(e *wire.GroupEvent) { e.Id = "join-" + who; e.Kind = &wire.GroupEvent_Joined{Joined: who} }
	}
	// An invitation of bob passed on by someone other than its author does
	// not start a conversation.
	if err := c.receiveGroup("carol", event(t, alice, []string{"alice", "bob"}, joined("bob"))); err != nil {
		t.Fatal(err)
	}
	if cs, _ := c.List(); len(cs) != 0 {
		t.Fatalf("a passed-on invitation started %+v", cs)
	}
	// A forged event is refused as a bad request.
	forged := event(t, alice, []string{"alice", "bob"}, joined("bob"))
	forged.Author = "mallory"
	if err := c.receiveGroup("alice", forged); !errors.Is(err, payload.ErrBadRequest) {
		t.Fatalf("forged event: %v", err)
	}
	// alice's own invitation does.
	if err := c.receiveGroup("alice", event(t, alice, []string{"alice", "bob"}, joined("bob"))); err != nil {
		t.Fatal(err)
	}
	cs, err := c.List()
	if err != nil || len(cs) != 1 || cs[0].ID != conv || !slices.Equal(cs[0].Members, []string{"alice", "bob"}) {
		t.Fatalf("conversations %+v (%v)", cs, err)
	}
	// mallory, no member, cannot speak in it through carol, no member
	// either (yet).
	if err := c.receiveGroup("carol", event(t, mallory, []string{"carol", "mallory"}, func(e *wire.GroupEvent) { e.Id = "m" })); err != nil {
		t.Fatal(err)
	}
	// alice invites carol, then carol speaks, passed on by alice: bob
	// stores the message once, and passes it on to nobody (carol wrote
	// it, alice passed it).
	if err := c.receiveGroup("alice", event(t, alice, []string{"alice", "bob", "carol"}, joined("carol"))); err != nil {
		t.Fatal(err)
	}
	said := event(t, carol, []string{"alice", "bob", "carol"}, func(e *wire.GroupEvent) { e.Id = "c1" })
	for range 2 {
		if err := c.receiveGroup("alice", said); err != nil {
			t.Fatal(err)
		}
	}
	// The history tells the invitations (by alice: of bob, then of carol)
	// before the message, each once.
	ms, err := c.History(conv, 0, "")
	if err != nil || len(ms) != 3 || ms[2].Kind != api.KindMessage || ms[2].From != "carol" || ms[2].To != conv || ms[2].Text != "genuine" {
		t.Fatalf("history %+v (%v)", ms, err)
	}
	for i, who := range []string{"bob", "carol"} {
		if m := ms[i]; m.Kind != api.KindJoined || m.From != "alice" || m.Text != who {
			t.Fatalf("history entry %d: %+v, want %s joined, invited by alice", i, m, who)
		}
	}
	// bob passed alice's invitation of carol on to carol (his contact),
	// and nothing else to anyone.
	var to []string
	for _, e := range h.fanouts {
		to = append(to, e.Peer+":"+store.FanoutMessageID(e.ID))
	}
	if !slices.Equal(to, []string{"carol:join-carol"}) {
		t.Fatalf("passed on %v", to)
	}
}

// TestPassedOnWithWhatItApplies: a member who applies an event and passes
// it on writes both in one transaction. When queueing it for the others
// fails (a kill before the commit), nothing of it is applied either, so
// the same event coming again is applied and passed on then — never
// applied, marked seen and lost to the members who get it through us.
func TestPassedOnWithWhatItApplies(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.user("alice"), w.user("bob")
	h := newHost(t, w, bob, "alice", "carol")
	c := New(h)
	conv := convID(bytes.Repeat([]byte{1}, idLen))
	members := []string{"alice", "bob", "carol"}
	if err := c.receiveGroup("alice", event(t, alice, members, func(e *wire.GroupEvent) {
		e.Id, e.Kind = "join-bob", &wire.GroupEvent_Joined{Joined: "bob"}
	})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kind func(*wire.GroupEvent)
		want string // the history entry it makes
	}{
		{"message", func(e *wire.GroupEvent) { e.Id = "m1" }, string(api.KindMessage) + ":genuine"},
		{"invitation", func(e *wire.GroupEvent) {
			e.Id, e.Kind = "join-dave", &wire.GroupEvent_Joined{Joined: "dave"}
			e.Members = append(slices.Clone(members), "dave")
		}, string(api.KindJoined) + ":dave"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event(t, alice, members, tc.kind)
			h.mu.Lock()
			h.failFanout, h.fanouts, h.events = true, nil, nil
			h.mu.Unlock()
			if err := c.receiveGroup("alice", ev); err == nil {
				t.Fatal("a failed pass-on was not an error")
			}
			entries := func() []string {
				ms, err := c.History(conv, 0, "")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range ms {
					if m.ID == ev.Id {
						got = append(got, string(m.Kind)+":"+m.Text)
					}
				}
				return got
			}
			if got := entries(); len(got) != 0 {
				t.Fatalf("applied without being passed on: %v", got)
			}
			if seen, err := h.st.Seen(conv, "alice/"+ev.Id); err != nil || seen {
				t.Fatalf("marked seen without being passed on (%v)", err)
			}
			h.mu.Lock()
			told := len(h.events)
			h.failFanout = false
			h.mu.Unlock()
			if told != 0 {
				t.Fatalf("front ends told of an event not applied: %+v", h.events)
			}
			// It comes again (its sender had no acknowledgement): applied
			// and passed on to carol now; a third time, neither.
			for range 2 {
				if err := c.receiveGroup("alice", ev); err != nil {
					t.Fatal(err)
				}
			}
			if got := entries(); !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("history %v, want [%s]", got, tc.want)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.fanouts) != 1 || h.fanouts[0].Peer != "carol" || h.fanouts[0].ID != store.FanoutID(ev.Id, "carol") {
				t.Fatalf("passed on %+v, want once to carol", h.fanouts)
			}
			if len(h.events) != 1 {
				t.Fatalf("front ends told %d times: %+v", len(h.events), h.events)
			}
		})
	}
}

// TestGroupMessagesInAuthorsOrder: members pass events on along several
// paths, so one of alice's messages can reach bob after a later one of
// hers; bob's history shows them in the order she signed them.
func TestGroupMessagesInAuthorsOrder(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.user("alice"), w.user("bob")
	c := New(newHost(t, w, bob, "alice"))
	conv := convID(bytes.Repeat([]byte{1}, idLen))
	members := []string{"alice", "bob"}
	if err := c.receiveGroup("alice", event(t, alice, members, func(e *wire.GroupEvent) {
		e.Id, e.Kind = "join-bob", &wire.GroupEvent_Joined{Joined: "bob"}
	})); err != nil {
		t.Fatal(err)
	}
	base := alice.tk.Issued.Add(2 * time.Minute)
	for _, k := range []int{1, 3, 2} { // the second comes last
		ev := event(t, alice, members, func(e *wire.GroupEvent) {
			e.Id = fmt.Sprint("m", k)
			e.SentUnixMilli = base.Add(time.Duration(k) * time.Second).UnixMilli()
			e.Kind = &wire.GroupEvent_Text{Text: fmt.Sprint("message ", k)}
		})
		if err := c.receiveGroup("alice", ev); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := c.History(conv, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		if m.Kind == api.KindMessage {
			got = append(got, m.ID)
		}
	}
	if !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("bob's history %v, want alice's order m1 m2 m3", got)
	}
}

// TestInviteAndLeave: an invitation starts a conversation and tells the
// members who are our contacts; after leaving, nothing can be sent to it.
func TestInviteAndLeave(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("alice"), "bob", "carol")
	c := New(h)
	id, err := c.Invite("bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseID(id); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Invite(id, "carol"); err != nil || got != id {
		t.Fatalf("inviting a member again: %q, %v", got, err)
	}
	if _, err := c.Send(id, "hi both"); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(id); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(id); err != nil {
		t.Fatalf("leaving twice: %v", err)
	}
	if _, err := c.Send(id, "more"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("sending after leaving: %v", err)
	}
	if _, err := c.Invite(id, "bob"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("inviting after leaving: %v", err)
	}
	// Each event went to both contacts, each signed by alice.
	n := map[string]int{}
	for _, e := range h.fanouts {
		var p wire.Payload
		if err := proto.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if err := New(newHost(t, w, w.user(e.Peer))).checkEvent(p.GetGroupEvent()); err != nil {
			t.Fatalf("%s got an event that fails its checks: %v", e.Peer, err)
		}
		n[e.Peer]++
	}
	// joined bob, joined carol, the message, the departure
	if n["bob"] != 4 || n["carol"] != 4 {
		t.Fatalf("events per member: %v", n)
	}
}

// userAt is a user whose ticket was issued at issued and lives an hour.
func (w *world) userAt(name string, issued time.Time) user {
	k, p := newKey(w.t)
	st, err := ticket.Sign(w.key, ticket.Ticket{Username: name, Peer: p, Issued: issued, Expiry: issued.Add(time.Hour), Role: ticket.RoleNode})
	if err != nil {
		w.t.Fatal(err)
	}
	tk, err := ticket.VerifySignature(w.server, st)
	if err != nil {
		w.t.Fatal(err)
	}
	return user{name: name, key: k, tk: tk}
}

// TestStaleEventRefused: an event signed longer ago than mail lives is
// refused, however genuine, so a revoked device's old events cannot
// outlive the node's memory of the revocation (kept until the device's
// last ticket expired plus the mail TTL); an event dated in the future
// is refused too.
func TestStaleEventRefused(t *testing.T) {
	w := newWorld(t)
	bob := w.user("bob")
	h := newHost(t, w, bob, "alice")
	c := New(h)
	at := func(sent time.Time) func(*wire.GroupEvent) {
		return func(e *wire.GroupEvent) { e.SentUnixMilli = sent.UnixMilli() }
	}
	tests := []struct {
		name string
		sent time.Time
		ok   bool
	}{
		{"an hour ago", h.now.Add(-time.Hour), true},
		{"just within the mail TTL", h.now.Add(-wire.MailTTL + time.Hour), true},
		// The stolen laptop's event, signed while its ticket was valid;
		// the device was revoked, and the revocation's horizon passed.
		{"older than the mail TTL", h.now.Add(-wire.MailTTL - time.Hour), false},
		{"a day in the future", h.now.Add(24 * time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A ticket that was valid when the event was signed.
			alice := w.userAt("alice", tc.sent.Add(-time.Minute))
			err := c.checkEvent(event(t, alice, []string{"alice", "bob"}, at(tc.sent)))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrStaleEvent) {
				t.Fatalf("err = %v, want ErrStaleEvent", err)
			}
		})
	}
}

// TestStaleJoinRefused: a member who left cannot come back by replaying
// her invitation, nor by an older invitation bob never saw; a departure
// replayed after she was invited again does not drop her; and bob
// remembers all this across a restart (a new component on the same
// store).
func TestStaleJoinRefused(t *testing.T) {
	w := newWorld(t)
	alice, bob, carol := w.user("alice"), w.user("bob"), w.user("carol")
	h := newHost(t, w, bob, "alice", "carol")
	conv := convID(bytes.Repeat([]byte{1}, idLen))
	t0 := alice.tk.Issued
	ev := func(author user, id string, sent time.Duration, members []string, joined string) *wire.GroupEvent {
		return event(t, author, members, func(e *wire.GroupEvent) {
			e.Id, e.SentUnixMilli = id, t0.Add(sent).UnixMilli()
			e.Kind = &wire.GroupEvent_Left{Left: true}
			if joined != "" {
				e.Kind = &wire.GroupEvent_Joined{Joined: joined}
			}
		})
	}
	three := []string{"alice", "bob", "carol"}
	inviteBob := ev(alice, "join-bob", time.Second, []string{"alice", "bob"}, "bob")
	olderInvite := ev(alice, "join-carol-0", 2*time.Second, three, "carol")
	inviteCarol := ev(alice, "join-carol", 3*time.Second, three, "carol")
	carolLeaves := ev(carol, "carol-left", 4*time.Second, three, "")
	reinvite := ev(alice, "join-carol-again", 5*time.Second, three, "carol")

	receive := func(c *Conversations, from string, e *wire.GroupEvent) {
		t.Helper()
		if err := c.receiveGroup(from, e); err != nil {
			t.Fatalf("%s: %v", e.Id, err)
		}
	}
	members := func(c *Conversations) []string {
		t.Helper()
		cs, err := c.List()
		if err != nil || len(cs) != 1 || cs[0].ID != conv {
			t.Fatalf("conversations %+v (%v)", cs, err)
		}
		return cs[0].Members
	}
	c := New(h)
	receive(c, "alice", inviteBob)
	receive(c, "alice", inviteCarol)
	receive(c, "carol", carolLeaves)
	if got := members(c); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("after carol left: %v", got)
	}
	// carol replays the invitation she had, then one bob never saw that
	// is older than her departure.
	receive(c, "carol", inviteCarol)
	receive(c, "carol", olderInvite)
	if got := members(c); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("a stale invitation brought carol back: %v", got)
	}

	// After a restart, the same holds; alice's new invitation counts.
	c = New(h)
	receive(c, "carol", inviteCarol)
	if got := members(c); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("after a restart, a replayed invitation brought carol back: %v", got)
	}
	receive(c, "alice", reinvite)
	if got := members(c); !slices.Equal(got, three) {
		t.Fatalf("alice's new invitation: %v", got)
	}
	// Her old departure, replayed, does not drop her again.
	receive(c, "alice", carolLeaves)
	if got := members(c); !slices.Equal(got, three) {
		t.Fatalf("a replayed departure dropped carol: %v", got)
	}
}
