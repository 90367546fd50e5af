package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// fakeHost is a contacts.Host over a real store, recording what the list
// asks of the node.
type fakeHost struct {
	st        *store.Store
	sent      map[string][]*wire.Payload // username → payloads queued
	events    []api.Event
	greeted   []string
	hidden    []string
	republ    int
	invisible bool
}

func newHost(t *testing.T) *fakeHost {
	return &fakeHost{st: storetest.Open(t), sent: map[string][]*wire.Payload{}}
}

func (h *fakeHost) Store() *store.Store { return h.st }
func (h *fakeHost) Me() string          { return "me" }
func (h *fakeHost) Now() time.Time      { return time.Unix(1_700_000_000, 0) }
func (h *fakeHost) Log() *slog.Logger   { return slog.New(slog.DiscardHandler) }
func (h *fakeHost) Emit(e api.Event)    { h.events = append(h.events, e) }
func (h *fakeHost) Enqueue(u string, p *wire.Payload, _ *store.Message) error {
	h.sent[u] = append(h.sent[u], p)
	return nil
}
func (h *fakeHost) View(c store.Contact) api.Contact {
	return api.Contact{Username: c.Username, Relation: api.Relation(c.Relation)}
}
func (h *fakeHost) Greet(u string)                                   { h.greeted = append(h.greeted, u) }
func (h *fakeHost) HideFrom(u string)                                { h.hidden = append(h.hidden, u) }
func (h *fakeHost) Invisible() bool                                  { return h.invisible }
func (h *fakeHost) Republish()                                       { h.republ++ }
func (h *fakeHost) Libp2p() host.Host                                { return nil }
func (h *fakeHost) Ticket() *ticket.Ticket                           { return nil }
func (h *fakeHost) HomesOf(string) []peer.AddrInfo                   { return nil }
func (h *fakeHost) HasMailboxes() bool                               { return false }
func (h *fakeHost) ConnectHome(context.Context, peer.AddrInfo) error { return errors.New("offline") }
func (h *fakeHost) Devices() *wire.SignedAccountDevices              { return nil }
func (h *fakeHost) AccountStored()                                   {}

func (h *fakeHost) relation(t *testing.T, u string) api.Relation {
	t.Helper()
	c, err := h.st.Contact(u)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return api.Relation(c.Relation)
}

// inbound is a payload from u as the node's process stage hands it over:
// under the lock, with u's row as stored.
func (h *fakeHost) inbound(t *testing.T, u string, p *wire.Payload) *payload.Inbound {
	t.Helper()
	c, err := h.st.Contact(u)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return &payload.Inbound{Ticket: &ticket.Ticket{Username: u, Peer: peer.ID("device-of-" + u)}, ID: "m", Payload: p, Contact: c, Known: known}
}

func request(msg string) *wire.Payload {
	return &wire.Payload{Kind: &wire.Payload_ContactRequest{ContactRequest: &wire.ContactRequest{Message: msg}}}
}

// dispatch runs p from u through the list's own kinds, as the node does.
func dispatch(t *testing.T, l *Contacts, h *fakeHost, u string, p *wire.Payload) error {
	var r payload.Registry
	r.Register(l.Kinds()...)
	return l.Locked(func() error { return r.Dispatch(h.inbound(t, u, p)) })
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name    string
		before  api.Relation // "" for a stranger
		msg     string
		want    error
		after   api.Relation
		replied bool // we answered with an accept
	}{
		{"a stranger asks", "", "hi, it's bob", nil, api.RelationPendingIn, false},
		{"the note at the limit", "", strings.Repeat("x", wire.MaxRequestMessage), nil, api.RelationPendingIn, false},
		{"the note over the limit", "", strings.Repeat("x", wire.MaxRequestMessage+1), payload.ErrBadRequest, "", false},
		{"both asked: accepted", api.RelationPendingOut, "", nil, api.RelationAccepted, true},
		{"an accepted contact lost its list: confirmed again", api.RelationAccepted, "", nil, api.RelationAccepted, true},
		{"a blocked user cannot tell", api.RelationBlocked, "", nil, api.RelationBlocked, false},
		{"asked twice", api.RelationPendingIn, "", nil, api.RelationPendingIn, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			l := New(h, nil)
			if tc.before != "" {
				if err := h.st.PutContact(store.Contact{Username: "bob", Relation: string(tc.before)}); err != nil {
					t.Fatal(err)
				}
			}
			err := dispatch(t, l, h, "bob", request(tc.msg))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("request: %v, want %v", err, tc.want)
			}
			if got := h.relation(t, "bob"); got != tc.after {
				t.Fatalf("relation %q, want %q", got, tc.after)
			}
			replied := false
			for _, p := range h.sent["bob"] {
				if p.GetContactResponse().GetAccepted() {
					replied = true
				}
			}
			if replied != tc.replied {
				t.Fatalf("answered with an accept: %v, want %v", replied, tc.replied)
			}
			// The answer goes before our visibility token: a token that
			// arrived while we were still a pending request to them would be
			// refused.
			if sent := h.sent["bob"]; tc.after == api.RelationAccepted && tc.before == api.RelationPendingOut &&
				(len(sent) != 2 || sent[0].GetContactResponse() == nil || sent[1].GetVisibility() == nil) {
				t.Fatalf("sent %v, want the accept and then our token", sent)
			}
		})
	}
}

// TestRequestFlood: one sender gets three requests through per window; a
// crowd of senders is bounded in total.
func TestRequestFlood(t *testing.T) {
	h := newHost(t)
	l := New(h, nil)
	refused := 0
	for i := range 40 {
		u := fmt.Sprintf("spammer%02d", i)
		if err := dispatch(t, l, h, u, request("")); errors.Is(err, payload.ErrRateLimited) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatal("forty strangers' requests in a moment all went through")
	}
	h = newHost(t)
	l = New(h, nil)
	for i := range 5 {
		// The same sender, its earlier requests declined each time.
		err := dispatch(t, l, h, "pest", request(""))
		if i < 3 && err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i >= 3 && !errors.Is(err, payload.ErrRateLimited) {
			t.Fatalf("request %d from one sender: %v, want ErrRateLimited", i, err)
		}
		if err == nil {
			if err := l.Decline("pest"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name   string
		before api.Relation
		do     func(l *Contacts) error
		want   error
		after  api.Relation
	}{
		{"accept without a request", "", func(l *Contacts) error { return l.Accept("bob") }, api.ErrBadRequest, ""},
		{"accept a request", api.RelationPendingIn, func(l *Contacts) error { return l.Accept("bob") }, nil, api.RelationAccepted},
		{"decline a request", api.RelationPendingIn, func(l *Contacts) error { return l.Decline("bob") }, nil, ""},
		{"decline an accepted contact", api.RelationAccepted, func(l *Contacts) error { return l.Decline("bob") }, api.ErrBadRequest, api.RelationAccepted},
		{"add a blocked user", api.RelationBlocked, func(l *Contacts) error { return l.Add("bob", "") }, api.ErrBlocked, api.RelationBlocked},
		{"add with a long note", "", func(l *Contacts) error { return l.Add("bob", strings.Repeat("x", wire.MaxRequestMessage+1)) }, api.ErrBadRequest, ""},
		{"add answers a pending request", api.RelationPendingIn, func(l *Contacts) error { return l.Add("bob", "") }, nil, api.RelationAccepted},
		{"unblock someone not blocked", api.RelationAccepted, func(l *Contacts) error { return l.Unblock("bob") }, api.ErrBadRequest, api.RelationAccepted},
		{"block an accepted contact", api.RelationAccepted, func(l *Contacts) error { return l.Block("bob") }, nil, api.RelationBlocked},
		{"rename someone not in the list", "", func(l *Contacts) error { return l.Rename("bob", "Bobby") }, api.ErrNotContact, ""},
		{"a group name with a control character", api.RelationAccepted, func(l *Contacts) error { return l.SetGroup("bob", "work\x07") }, api.ErrBadRequest, api.RelationAccepted},
		{"a group name over the limit", api.RelationAccepted, func(l *Contacts) error { return l.SetGroup("bob", strings.Repeat("g", MaxGroupName+1)) }, api.ErrBadRequest, api.RelationAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			l := New(h, nil)
			if tc.before != "" {
				if err := h.st.PutContact(store.Contact{Username: "bob", Relation: string(tc.before)}); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.do(l)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := h.relation(t, "bob"); got != tc.after {
				t.Fatalf("relation %q, want %q", got, tc.after)
			}
		})
	}
}

// TestBlockAndUnblock: a block hides us from an accepted contact and an
// unblock gives back exactly what was there before.
func TestBlockAndUnblock(t *testing.T) {
	for _, before := range []api.Relation{api.RelationAccepted, api.RelationPendingIn, ""} {
		t.Run(string(before), func(t *testing.T) {
			h := newHost(t)
			l := New(h, nil)
			if before != "" {
				if err := h.st.PutContact(store.Contact{Username: "bob", Relation: string(before)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Block("bob"); err != nil {
				t.Fatal(err)
			}
			if (len(h.hidden) == 1) != (before == api.RelationAccepted) {
				t.Fatalf("shown offline to %v, before %q", h.hidden, before)
			}
			if err := l.Unblock("bob"); err != nil {
				t.Fatal(err)
			}
			want := api.Relation("")
			if before == api.RelationAccepted {
				want = api.RelationAccepted // anyone else is simply forgotten
			}
			if got := h.relation(t, "bob"); got != want {
				t.Fatalf("after unblocking: %q, want %q", got, want)
			}
		})
	}
}

// TestAllowed: the tokens that may see our record — none while we appear
// offline, and never a blocked user's.
func TestAllowed(t *testing.T) {
	h := newHost(t)
	l := New(h, nil)
	for _, c := range []store.Contact{
		{Username: "ann", Relation: string(api.RelationAccepted), MyToken: []byte("ann-token")},
		{Username: "asked", Relation: string(api.RelationPendingOut), MyToken: []byte("asked-token")},
		{Username: "blocked", Relation: string(api.RelationBlocked), MyToken: []byte("blocked-token")},
		{Username: "pending", Relation: string(api.RelationPendingIn)},
	} {
		if err := h.st.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(l.Allowed()); got != 2 {
		t.Fatalf("%d tokens allowed, want 2 (accepted and asked)", got)
	}
	h.invisible = true
	if got := l.Allowed(); got != nil {
		t.Fatalf("appearing offline, %d tokens allowed", len(got))
	}
}
