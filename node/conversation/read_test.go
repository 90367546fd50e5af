package conversation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// readMark is a ReadMark as another device of bob's account sends it.
func readMark(conv string, upTo int64, lastID string) *payload.Inbound {
	return &payload.Inbound{
		Ticket:  &ticket.Ticket{Username: "bob", Peer: peer.ID("laptop")},
		ID:      wire.NewID(),
		Payload: &wire.Payload{Kind: &wire.Payload_ReadMark{ReadMark: &wire.ReadMark{Conversation: conv, UpToUnixMilli: upTo, LastId: lastID}}},
		Own:     true,
	}
}

// reads is the Read events h recorded, and forgets them.
func (h *fakeHost) reads() []api.ReadEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []api.ReadEvent
	for _, e := range h.events {
		if e.Read != nil {
			out = append(out, *e.Read)
		}
	}
	h.events = nil
	return out
}

// TestMarkRead: marking a conversation read moves its mark to the newest
// incoming message, emits its count (0) and queues the mark for our other
// devices; marking it again, or one with nothing incoming, sends nothing;
// a malformed conversation is refused.
func TestMarkRead(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("bob"), "alice")
	c := New(h)
	at := h.now.Add(-time.Hour)
	for i, id := range []string{"m1", "m2", "m3"} {
		if _, err := h.st.AddIncoming(store.Message{ID: id, Peer: "alice", Text: "hi", Time: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Unread("alice"); n != 3 {
		t.Fatalf("Unread(alice) = %d, want 3", n)
	}
	for _, tc := range []struct {
		name     string
		conv     string
		wantErr  error
		wantRead []api.ReadEvent
		wantSent []*wire.ReadMark
	}{
		{"the newest incoming message", "alice", nil, []api.ReadEvent{{Conversation: "alice"}},
			[]*wire.ReadMark{{Conversation: "alice", UpToUnixMilli: at.Add(2 * time.Second).UnixMilli(), LastId: "m3"}}},
		{"again: nothing newer", "alice", nil, nil, nil},
		{"nothing incoming", "carol", nil, nil, nil},
		{"ourselves", "bob", api.ErrBadRequest, nil, nil},
		{"not a username", "no/such", api.ErrBadRequest, nil, nil},
		{"malformed conversation", "#12", api.ErrBadRequest, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.own = nil
			err := c.MarkRead(tc.conv)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("MarkRead(%q) = %v, want %v", tc.conv, err, tc.wantErr)
			}
			if got := h.reads(); len(got) != len(tc.wantRead) || (len(got) > 0 && got[0] != tc.wantRead[0]) {
				t.Fatalf("Read events %+v, want %+v", got, tc.wantRead)
			}
			if len(h.own) != len(tc.wantSent) {
				t.Fatalf("queued for our devices %v, want %v", h.own, tc.wantSent)
			}
			for i, p := range h.own {
				if !proto.Equal(p.GetReadMark(), tc.wantSent[i]) {
					t.Fatalf("queued %v, want %v", p.GetReadMark(), tc.wantSent[i])
				}
			}
		})
	}
	if n := c.Unread("alice"); n != 0 {
		t.Fatalf("Unread(alice) after MarkRead = %d, want 0", n)
	}
}

// TestReceiveReadMark: a mark from another device of ours moves ours
// forward only and emits the count left; a malformed one, or one from
// anyone but our own devices, is refused and changes nothing.
func TestReceiveReadMark(t *testing.T) {
	w := newWorld(t)
	h := newHost(t, w, w.user("bob"), "alice")
	c := New(h)
	var reg payload.Registry
	reg.Register(c.Kinds()...)
	at := h.now.Add(-time.Hour)
	ms := func(i int) int64 { return at.Add(time.Duration(i) * time.Second).UnixMilli() }
	for i, id := range []string{"m1", "m2", "m3"} {
		if _, err := h.st.AddIncoming(store.Message{ID: id, Peer: "alice", Text: "hi", Time: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	fromAlice := readMark("alice", ms(2), "m3")
	fromAlice.Ticket.Username, fromAlice.Own = "alice", false
	fromAlice.Contact, fromAlice.Known = store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}, true
	for _, tc := range []struct {
		name       string
		in         *payload.Inbound
		wantErr    error
		wantUnread int   // alice's, after
		wantRead   []int // counts of the Read events
	}{
		{"a contact cannot say what we read", fromAlice, payload.ErrNotOwnDevice, 3, nil},
		{"no conversation", readMark("", ms(0), "m1"), ErrBadReadMark, 3, nil},
		{"our own name", readMark("bob", ms(0), "m1"), ErrBadReadMark, 3, nil},
		{"malformed conversation", readMark("#zz", ms(0), "m1"), ErrBadReadMark, 3, nil},
		{"no message ID", readMark("alice", ms(0), ""), ErrBadReadMark, 3, nil},
		{"message ID too long", readMark("alice", ms(0), strings.Repeat("a", wire.MaxReadMarkID+1)), ErrBadReadMark, 3, nil},
		{"no time", readMark("alice", 0, "m1"), ErrBadReadMark, 3, nil},
		{"further ahead than the clock skew", readMark("alice", h.now.Add(wire.MaxClockSkew+time.Minute).UnixMilli(), "m9"), ErrBadReadMark, 3, nil},
		{"up to the first message", readMark("alice", ms(0), "m1"), nil, 2, []int{2}},
		{"the longest message ID", readMark("alice", ms(1), strings.Repeat("z", wire.MaxReadMarkID)), nil, 1, []int{1}},
		{"an older mark changes nothing", readMark("alice", ms(0), "m1"), nil, 1, nil},
		{"up to the newest", readMark("alice", ms(2), "m3"), nil, 0, []int{0}},
		{"the same mark again changes nothing", readMark("alice", ms(2), "m3"), nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reg.Dispatch(tc.in)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Dispatch = %v, want %v", err, tc.wantErr)
			}
			if n := c.Unread("alice"); n != tc.wantUnread {
				t.Fatalf("Unread(alice) = %d, want %d", n, tc.wantUnread)
			}
			var got []int
			for _, r := range h.reads() {
				got = append(got, r.Unread)
			}
			if len(got) != len(tc.wantRead) || (len(got) > 0 && got[0] != tc.wantRead[0]) {
				t.Fatalf("Read events with counts %v, want %v", got, tc.wantRead)
			}
			if len(h.own) != 0 {
				t.Fatalf("a received mark was sent on: %v", h.own)
			}
		})
	}
}

// FuzzReadMark: whatever another device of ours sends as a read mark, its
// checks neither panic nor store a mark that names no conversation, no
// message ID of at most wire.MaxReadMarkID bytes, or a time out of range;
// a refused mark changes nothing.
func FuzzReadMark(f *testing.F) {
	w := newWorld(f)
	h := newHost(f, w, w.user("bob"), "alice")
	h.st = storetest.Open(f) // newHost opens one for a *testing.T only
	c := New(h)
	now := h.now
	for _, rm := range []*wire.ReadMark{
		{Conversation: "alice", UpToUnixMilli: now.UnixMilli(), LastId: "m1"},
		{Conversation: "#0123456789abcdef0123456789abcdef", UpToUnixMilli: 1, LastId: "e1"},
		{Conversation: "bob", UpToUnixMilli: -1, LastId: strings.Repeat("x", 65)},
		{},
	} {
		raw, err := proto.Marshal(&wire.Payload{Kind: &wire.Payload_ReadMark{ReadMark: rm}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p wire.Payload
		if err := proto.Unmarshal(raw, &p); err != nil {
			return
		}
		rm := p.GetReadMark()
		if rm == nil {
			return
		}
		before, hadMark, err := h.st.ReadMark(rm.Conversation)
		if err != nil {
			t.Fatal(err)
		}
		in := readMark("", 0, "")
		in.Payload = &p
		if err := c.receiveReadMark(in); err != nil {
			if !errors.Is(err, payload.ErrBadRequest) {
				t.Fatalf("refused with %v, not a bad request", err)
			}
			if after, has, err := h.st.ReadMark(rm.Conversation); err != nil || has != hadMark || after != before {
				t.Fatalf("a refused mark changed %q: %+v → %+v, %v", rm.Conversation, before, after, err)
			}
			return
		}
		if c.checkConversation(rm.Conversation) != nil || rm.LastId == "" || len(rm.LastId) > wire.MaxReadMarkID ||
			rm.UpToUnixMilli <= 0 || time.UnixMilli(rm.UpToUnixMilli).After(now.Add(wire.MaxClockSkew)) {
			t.Fatalf("a malformed mark passed: %v", rm)
		}
	})
}
