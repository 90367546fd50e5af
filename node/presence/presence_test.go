package presence

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/text"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// host is a presence.Host over a real store in t.TempDir(), recording what
// the capability asks of the node.
type host struct {
	st  *store.Store
	now time.Time

	mu       sync.Mutex
	events   []api.Event
	sent     map[string]*wire.Presence
	signals  []wire.Signal_Kind
	signalTo chan error // the outcome Signal reports; nil: queue refused
	account  int
	synced   int      // SyncAccount calls
	changed  []string // ContactChanged, in order
	visible  int
	offers   []string // "to path" of each picture offered
}

func newHost(t *testing.T) *host {
	return &host{st: storetest.Open(t), now: time.Unix(1_700_000_000, 0), sent: map[string]*wire.Presence{}}
}

func (h *host) Store() *store.Store { return h.st }
func (h *host) Me() string          { return "me" }
func (h *host) Log() *slog.Logger   { return slog.New(slog.DiscardHandler) }
func (h *host) Now() time.Time      { return h.now }
func (h *host) Emit(e api.Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}
func (h *host) AccountChanged() { h.account++ }
func (h *host) SyncAccount()    { h.synced++ }
func (h *host) ContactChanged(u string) {
	h.mu.Lock()
	h.changed = append(h.changed, u)
	h.mu.Unlock()
}
func (h *host) SendPresence(u string, p *wire.Presence) {
	h.mu.Lock()
	h.sent[u] = p
	h.mu.Unlock()
}
func (h *host) Signal(u string, k wire.Signal_Kind) (<-chan error, bool) {
	h.signals = append(h.signals, k)
	return h.signalTo, h.signalTo != nil
}
func (h *host) VisibilityChanged()                                  { h.visible++ }
func (h *host) Enqueue(string, *wire.Payload, *store.Message) error { return nil }
func (h *host) FetchAvatar(string, *wire.FileOffer, string) error   { return nil }
func (h *host) OfferAvatar(to, path string) error {
	h.mu.Lock()
	h.offers = append(h.offers, to+" "+path)
	h.mu.Unlock()
	return nil
}

func presenceFrom(c store.Contact, p *wire.Presence) *payload.Inbound {
	return &payload.Inbound{
		Ticket:  &ticket.Ticket{Username: c.Username},
		Payload: &wire.Payload{Kind: &wire.Payload_Presence{Presence: p}},
		Contact: c, Known: true,
	}
}

func TestReceive(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name       string
		was        string // the contact's status before
		p          *wire.Presence
		want       error
		wantStatus string
		wantNick   string
		// We send ours back: a device we have not heard from yet has not
		// heard from us either, whatever the contact showed before.
		answered bool
	}{
		{"comes online", "", &wire.Presence{Status: "online", Nick: "Bob"}, nil, "online", "Bob", true},
		{"changes status", "online", &wire.Presence{Status: "busy", Nick: "Bob"}, nil, "busy", "Bob", true},
		{"signs off keeps the nick", "online", &wire.Presence{Status: "offline"}, nil, "offline", "Old", false},
		{"invisible is never sent", "online", &wire.Presence{Status: "invisible"}, payload.ErrBadRequest, "", "", false},
		{"unknown status", "online", &wire.Presence{Status: "dancing"}, payload.ErrBadRequest, "", "", false},
		{"nick at the limit", "online", &wire.Presence{Status: "online", Nick: long(wire.MaxNick)}, nil, "online", long(wire.MaxNick), true},
		{"nick over the limit", "online", &wire.Presence{Status: "online", Nick: long(wire.MaxNick + 1)}, payload.ErrBadRequest, "", "", false},
		{"subnick over the limit", "online", &wire.Presence{Status: "online", Subnick: long(wire.MaxSubnick + 1)}, payload.ErrBadRequest, "", "", false},
		{"media over the limit", "online", &wire.Presence{Status: "online", Media: long(wire.MaxSubnick + 1)}, payload.ErrBadRequest, "", "", false},
		// Issue 13, item 12: a nick that reorders or hides what it shows
		// is stored without the characters that do it.
		{"nick with a bidi override", "online", &wire.Presence{Status: "online", Nick: "\u202eecila"}, nil, "online", "ecila", true},
		{"nick with invisible and control characters", "online", &wire.Presence{Status: "online", Nick: "ali\u200bce\n\u2066x\u2069"}, nil, "online", "alice x", true},
		{"picture hash too short", "online", &wire.Presence{Status: "online", Avatar: []byte{1, 2, 3}}, payload.ErrBadRequest, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			p := New(h, t.TempDir())
			p.Load(api.StatusOnline)
			c := store.Contact{Username: "bob", Relation: string(api.RelationAccepted), Status: tc.was, Nick: "Old"}
			if err := h.st.PutContact(c); err != nil {
				t.Fatal(err)
			}
			err := p.receive(presenceFrom(c, tc.p))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("receive = %v, want %v", err, tc.want)
			}
			got, _ := h.st.Contact("bob")
			if tc.want != nil {
				if got.Status != tc.was {
					t.Fatalf("a refused presence changed the status to %q", got.Status)
				}
				return
			}
			if got.Status != tc.wantStatus || got.Nick != tc.wantNick {
				t.Fatalf("stored %q/%q, want %q/%q", got.Status, got.Nick, tc.wantStatus, tc.wantNick)
			}
			if text.Clean(got.Subnick) != got.Subnick || text.Clean(got.Media) != got.Media {
				t.Fatalf("stored subnick %+q, media %+q unclean", got.Subnick, got.Media)
			}
			if _, ok := h.sent["bob"]; ok != tc.answered {
				t.Fatalf("answered with our presence = %v, want %v", ok, tc.answered)
			}
		})
	}
}

// TestInvisibleShowsOffline: contacts never learn that we are invisible.
func TestInvisibleShowsOffline(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	inv := api.StatusInvisible
	nick := "Me!"
	if err := p.Set(api.PresenceUpdate{Status: &inv, Nick: &nick}); err != nil {
		t.Fatal(err)
	}
	if got := p.Public(); got != (api.Presence{Status: api.StatusOffline}) {
		t.Fatalf("public presence while invisible = %+v", got)
	}
	if p.Mine().Nick != nick || p.Mine().Status != inv {
		t.Fatalf("our own presence = %+v", p.Mine())
	}
	if h.account != 1 || h.visible != 1 {
		t.Fatalf("account events %d, visibility changes %d; want 1 and 1", h.account, h.visible)
	}
	// The nick is kept for the next sign-in.
	q := New(h, t.TempDir())
	q.Load(api.StatusOnline)
	if q.Mine().Nick != nick {
		t.Fatalf("nick after reload = %q", q.Mine().Nick)
	}
}

// TestSetRefusesWithoutChange: one bad field changes nothing, not even the
// good ones before it.
func TestSetRefusesWithoutChange(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	nick, sub := "New", strings.Repeat("x", wire.MaxSubnick+1)
	if err := p.Set(api.PresenceUpdate{Nick: &nick, Subnick: &sub}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("Set = %v, want ErrBadRequest", err)
	}
	bad := api.Status("dancing")
	if err := p.Set(api.PresenceUpdate{Status: &bad}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("Set = %v, want ErrBadRequest", err)
	}
	if p.Mine().Nick != "me" {
		t.Fatalf("nick = %q after refused updates", p.Mine().Nick)
	}
	if stored, _ := h.st.Setting(settingPrefix + "nick"); stored != "" {
		t.Fatalf("stored nick %q after a refused update", stored)
	}
}

func TestSignalLimits(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	in := func(k wire.Signal_Kind) *payload.Inbound {
		return &payload.Inbound{Ticket: &ticket.Ticket{Username: "bob"}, Payload: &wire.Payload{Kind: &wire.Payload_Signal{Signal: &wire.Signal{Kind: k}}}}
	}
	// Nudges from a contact shake the window once per NudgeInterval.
	for range 3 {
		p.receiveSignal(in(wire.Signal_NUDGE))
	}
	h.now = h.now.Add(api.NudgeInterval)
	p.receiveSignal(in(wire.Signal_NUDGE))
	nudges := 0
	for _, e := range h.events {
		if e.Nudge != nil {
			nudges++
		}
	}
	if nudges != 2 {
		t.Fatalf("%d nudges shown, want 2", nudges)
	}
	// The history viewer shows the nudges shown, as received entries.
	if hist := nudgeEntries(t, h); len(hist) != 2 || hist[0].Outgoing || hist[1].Outgoing {
		t.Fatalf("nudges in history: %+v, want 2 received", hist)
	}
	// Our typing goes out once per TypingInterval.
	for range 3 {
		if err := p.Typing("bob"); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.signals) != 1 {
		t.Fatalf("%d typing signals sent, want 1", len(h.signals))
	}
}

// TestAccountChangedSignal: another device of ours telling that the
// account's synced state changed starts a sync here; a contact cannot send
// that signal, and our own devices send no other.
func TestAccountChangedSignal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		own      bool
		kind     wire.Signal_Kind
		wantErr  bool
		wantSync int
	}{
		{"from another device of ours", true, wire.Signal_ACCOUNT_CHANGED, false, 1},
		{"from a contact", false, wire.Signal_ACCOUNT_CHANGED, true, 0},
		{"a nudge from another device of ours", true, wire.Signal_NUDGE, true, 0},
		{"a nudge from a contact", false, wire.Signal_NUDGE, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			p := New(h, t.TempDir())
			in := &payload.Inbound{Ticket: &ticket.Ticket{Username: "bob"}, Own: tc.own,
				Payload: &wire.Payload{Kind: &wire.Payload_Signal{Signal: &wire.Signal{Kind: tc.kind}}}}
			if tc.own {
				in.Ticket.Username = "me"
			}
			err := p.receiveSignal(in)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, payload.ErrBadRequest)) {
				t.Fatalf("receiveSignal: %v, want error %v", err, tc.wantErr)
			}
			if h.synced != tc.wantSync {
				t.Fatalf("%d syncs started, want %d", h.synced, tc.wantSync)
			}
			if tc.wantErr && len(h.events) != 0 {
				t.Fatalf("a refused signal showed %+v", h.events)
			}
		})
	}
}

// nudgeEntries are the nudges in the history with bob.
func nudgeEntries(t *testing.T, h *host) []store.Message {
	t.Helper()
	ms, err := h.st.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind != store.EntryNudge {
			t.Fatalf("history entry %+v is not a nudge", m)
		}
	}
	return ms
}

func TestNudge(t *testing.T) {
	tests := []struct {
		name    string
		outcome error // what the courier reports; nil channel when refused
		refused bool
		want    error
	}{
		{"arrives", nil, false, nil},
		{"unreachable", api.ErrUnreachable, false, api.ErrUnreachable},
		{"fails on the way", errors.New("stream reset"), false, api.ErrUnreachable},
		{"too many waiting", nil, true, api.ErrRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			if !tc.refused {
				h.signalTo = make(chan error, 1)
				h.signalTo <- tc.outcome
			}
			err := New(h, t.TempDir()).Nudge(context.Background(), "bob")
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Nudge = %v, want %v", err, tc.want)
			}
			// Only a nudge that arrived is in the history, as sent.
			hist := nudgeEntries(t, h)
			if ok := len(hist) == 1 && hist[0].Outgoing; ok != (tc.want == nil) || len(hist) > 1 {
				t.Fatalf("nudges in history: %+v", hist)
			}
		})
	}
	// A second nudge within the interval is refused before it is queued.
	h := newHost(t)
	h.signalTo = make(chan error, 2)
	h.signalTo <- nil
	p := New(h, t.TempDir())
	if err := p.Nudge(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	if err := p.Nudge(context.Background(), "bob"); !errors.Is(err, api.ErrRateLimited) || len(h.signals) != 1 {
		t.Fatalf("second nudge = %v with %d queued, want ErrRateLimited and 1", err, len(h.signals))
	}
}

// TestReceiveCleansEveryField (issue 13, item 12): subnick and now-playing
// are cleaned as the nick is.
func TestReceiveCleansEveryField(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	c := store.Contact{Username: "bob", Relation: string(api.RelationAccepted)}
	if err := h.st.PutContact(c); err != nil {
		t.Fatal(err)
	}
	pr := &wire.Presence{Status: "online", Nick: "Bob", Subnick: "on\u202eholiday", Media: "song\u200f.mp3"}
	if err := p.receive(presenceFrom(c, pr)); err != nil {
		t.Fatal(err)
	}
	got, _ := h.st.Contact("bob")
	if got.Subnick != "onholiday" || got.Media != "song.mp3" {
		t.Fatalf("stored subnick %+q, media %+q", got.Subnick, got.Media)
	}
}

// TestDevicesMerged: presences from two devices of one contact, through
// receive and the store, as the front ends see them.
func TestDevicesMerged(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	ms := func(sec int64) int64 { return h.now.Add(time.Duration(sec) * time.Second).UnixMilli() }
	steps := []struct {
		name     string
		peer     peer.ID
		p        *wire.Presence
		want     error
		status   api.Status
		nick     string
		subnick  string
		event    bool // the front ends are told
		answered bool // we send ours back
	}{
		{"the laptop signs in", "laptop", &wire.Presence{Status: "online", Nick: "Al", Subnick: "hi", NickChanged: ms(-60)},
			nil, api.StatusOnline, "Al", "hi", true, true},
		{"the desktop signs in away", "desktop", &wire.Presence{Status: "away", Nick: "Al", Subnick: "hi", NickChanged: ms(-60)},
			nil, api.StatusOnline, "Al", "hi", false, true},
		{"the desktop changes the nick", "desktop", &wire.Presence{Status: "away", Nick: "Alice", Subnick: "hi", NickChanged: ms(1)},
			nil, api.StatusOnline, "Alice", "hi", true, false},
		{"the laptop's later presence has the older nick", "laptop", &wire.Presence{Status: "online", Nick: "Al", Subnick: "hi", NickChanged: ms(-60)},
			nil, api.StatusOnline, "Alice", "hi", false, false},
		{"a bad presence from the desktop changes nothing", "desktop", &wire.Presence{Status: "dancing"},
			payload.ErrBadRequest, api.StatusOnline, "Alice", "hi", false, false},
		{"the laptop signs out: the desktop's away shows", "laptop", &wire.Presence{Status: "offline"},
			nil, api.StatusAway, "Alice", "hi", true, false},
		{"the desktop signs out: offline, the name kept", "desktop", &wire.Presence{Status: "offline"},
			nil, api.StatusOffline, "Alice", "", true, false},
	}
	for _, s := range steps {
		h.now = h.now.Add(time.Second)
		h.changed, h.sent = nil, map[string]*wire.Presence{}
		c, _ := h.st.Contact("alice")
		in := presenceFrom(c, s.p)
		in.Ticket.Username, in.Ticket.Peer = "alice", s.peer
		if err := p.receive(in); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: receive = %v, want %v", s.name, err, s.want)
		}
		got, _ := h.st.Contact("alice")
		if api.Status(got.Status) != s.status || got.Nick != s.nick || got.Subnick != s.subnick {
			t.Fatalf("%s: shows %s/%q/%q, want %s/%q/%q", s.name, got.Status, got.Nick, got.Subnick, s.status, s.nick, s.subnick)
		}
		if event := len(h.changed) > 0; event != s.event || len(h.changed) > 1 {
			t.Fatalf("%s: front ends told %d times, want %v", s.name, len(h.changed), s.event)
		}
		if _, ok := h.sent["alice"]; ok != s.answered {
			t.Fatalf("%s: answered %v, want %v", s.name, ok, s.answered)
		}
	}
}

// TestDeviceGone: a device whose last connection closed is forgotten; the
// contact goes offline with its last device. A contact shown offline by
// someone else (a block) starts again from the device that speaks next.
func TestDeviceGone(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	say := func(u string, id peer.ID, st api.Status) {
		t.Helper()
		c, _ := h.st.Contact(u)
		in := presenceFrom(c, &wire.Presence{Status: string(st), Nick: u})
		in.Ticket.Username, in.Ticket.Peer = u, id
		if err := p.receive(in); err != nil {
			t.Fatal(err)
		}
	}
	shows := func(u string, want api.Status) {
		t.Helper()
		if c, _ := h.st.Contact(u); api.Status(c.Status) != want {
			t.Fatalf("%s shows %s, want %s", u, c.Status, want)
		}
	}
	for _, c := range []store.Contact{
		{Username: "alice", Relation: string(api.RelationAccepted)},
		// carol is online from an earlier session, on her one device: no
		// presence from it yet.
		{Username: "carol", Relation: string(api.RelationAccepted), Status: "busy", PeerID: peer.ID("carol's").String()},
	} {
		if err := h.st.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	say("alice", "laptop", api.StatusOnline)
	say("alice", "desktop", api.StatusLunch)
	p.DeviceGone("laptop")
	shows("alice", api.StatusLunch)
	p.DeviceGone("someone else's")
	shows("alice", api.StatusLunch)
	shows("carol", api.StatusBusy)
	p.DeviceGone("desktop")
	shows("alice", api.StatusOffline)
	p.DeviceGone("carol's")
	shows("carol", api.StatusOffline)

	// Shown offline by a block while both devices were signed in: after
	// it, the desktop's away is what shows, not the laptop's online.
	say("alice", "laptop", api.StatusOnline)
	say("alice", "desktop", api.StatusOnline)
	c, _ := h.st.Contact("alice")
	c.Status = string(api.StatusOffline)
	if err := h.st.PutContact(c); err != nil {
		t.Fatal(err)
	}
	say("alice", "desktop", api.StatusAway)
	shows("alice", api.StatusAway)
}

// TestChangeTimesSent: our presence says when we set each account field,
// kept across sign-ins; appearing offline says nothing but "offline".
func TestChangeTimesSent(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	p.SendTo("bob")
	if got := h.sent["bob"]; got.NickChanged != 0 || got.SubnickChanged != 0 || got.MediaChanged != 0 || got.AvatarChanged != 0 {
		t.Fatalf("never set, sent %v", got)
	}
	nick, media := "Me", "a song"
	if err := p.Set(api.PresenceUpdate{Nick: &nick}); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(time.Minute)
	if err := p.Set(api.PresenceUpdate{Media: &media}); err != nil {
		t.Fatal(err)
	}
	want := func(got *wire.Presence) {
		t.Helper()
		if got.Nick != nick || got.NickChanged != h.now.Add(-time.Minute).UnixMilli() || got.MediaChanged != h.now.UnixMilli() || got.SubnickChanged != 0 {
			t.Fatalf("sent %v", got)
		}
	}
	p.SendTo("bob")
	want(h.sent["bob"])
	q := New(h, t.TempDir())
	q.Load(api.StatusOnline)
	q.SendTo("bob")
	want(h.sent["bob"])
	// A new picture is a change of the account's too.
	h.now = h.now.Add(time.Minute)
	src := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(src, pngOf(t, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := q.SetPicture(src, api.Crop{}); err != nil {
		t.Fatal(err)
	}
	q.SendTo("bob")
	if got := h.sent["bob"]; len(got.Avatar) != sha256.Size || got.AvatarChanged != h.now.UnixMilli() {
		t.Fatalf("after a new picture, sent %v", got)
	}
	inv := api.StatusInvisible
	if err := q.Set(api.PresenceUpdate{Status: &inv}); err != nil {
		t.Fatal(err)
	}
	q.SendTo("bob")
	if got := h.sent["bob"]; !proto.Equal(got, &wire.Presence{Status: "offline"}) {
		t.Fatalf("appearing offline sent %v", got)
	}
}
