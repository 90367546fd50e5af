package handover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// device is one device of an account in these tests: a real libp2p host on
// 127.0.0.1, a real store, and the capability on them.
type device struct {
	h        host.Host
	st       *store.Store
	x        *Handover
	now      time.Time
	mu       sync.Mutex
	siblings map[peer.ID]bool
	events   []api.HistoryEvent
}

func (d *device) Libp2p() host.Host   { return d.h }
func (d *device) Store() *store.Store { return d.st }
func (d *device) Log() *slog.Logger   { return slog.New(slog.DiscardHandler) }
func (d *device) Now() time.Time      { return d.now }
func (d *device) Sibling(p peer.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.siblings[p]
}

func (d *device) Emit(e api.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.History != nil {
		d.events = append(d.events, *e.History)
	}
}

func (d *device) history() []api.HistoryEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.events)
}

// testNow is the tests' clock: messages are placed around it.
var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func newDevice(t testing.TB) *device {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "eserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, store.StorageKeySize)
	key[0] = 7
	if err := st.Unlock(key); err != nil {
		t.Fatal(err)
	}
	d := &device{h: h, st: st, now: testNow, siblings: map[peer.ID]bool{}}
	d.x = New(d)
	d.x.Start()
	t.Cleanup(func() {
		d.x.Close()
		h.Close()
		st.Close()
	})
	return d
}

// pair makes a and b each other's siblings (devices of one account) and
// connects them.
func pair(t testing.TB, a, b *device) {
	t.Helper()
	a.siblings[b.h.ID()] = true
	b.siblings[a.h.ID()] = true
	connect(t, a, b)
}

func connect(t testing.TB, a, b *device) {
	t.Helper()
	if err := a.h.Connect(context.Background(), peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// fill stores n messages with bob and carol at d, one an hour back from
// testNow (the oldest first), and returns the IDs of those within window.
func fill(t testing.TB, d *device, n int, window time.Duration) []string {
	t.Helper()
	var want []string
	ms := make([]store.Message, 0, 1000)
	flush := func() {
		if _, err := d.st.AddIncomingBatch(ms); err != nil {
			t.Fatal(err)
		}
		ms = ms[:0]
	}
	for i := range n {
		m := store.Message{ID: fmt.Sprintf("m%06d", i), Peer: []string{"bob", "carol"}[i%2],
			Text: fmt.Sprintf("message number %d, with a few words to make it a usual size", i),
			Time: testNow.Add(-time.Duration(n-i) * time.Hour), State: store.StateReceived, Device: "dev", Order: uint64(i + 1)}
		if i%3 == 0 {
			m.Outgoing, m.State, m.Device, m.Order = true, store.StateDelivered, "", 0
		}
		ms = append(ms, m)
		if len(ms) == cap(ms) {
			flush()
		}
		if testNow.Sub(m.Time) <= window {
			want = append(want, m.ID)
		}
	}
	flush()
	return want
}

// ids is the IDs of d's history with peer, in its order.
func ids(t testing.TB, d *device, peers ...string) []string {
	t.Helper()
	var out []string
	for _, p := range peers {
		ms, err := d.st.History(p, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out = append(out, m.ID)
		}
	}
	return out
}

func only(all []string, peer string, n int) []string {
	var out []string
	for _, id := range all {
		var i int
		fmt.Sscanf(id, "m%06d", &i)
		if []string{"bob", "carol"}[i%2] == peer {
			out = append(out, id)
		}
	}
	return out
}

// TestFetch: a new device gets exactly the window's history from another
// device of its account, in order, once; a second hand-over adds nothing;
// a device that is not the account's is refused both ways and given
// nothing.
func TestFetch(t *testing.T) {
	const n, window = 3000, 2500 * time.Hour
	old := newDevice(t)
	want := fill(t, old, n, window)

	fresh := newDevice(t)
	pair(t, old, fresh)
	since := testNow.Add(-window)
	for _, tc := range []struct {
		name      string
		wantAdded int
	}{{"first hand-over", len(want)}, {"again: nothing twice", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := fresh.x.Fetch(context.Background(), old.h.ID(), since)
			if err != nil {
				t.Fatal(err)
			}
			if res.Received != len(want) || res.Added != tc.wantAdded {
				t.Fatalf("received %d, added %d; want %d, %d", res.Received, res.Added, len(want), tc.wantAdded)
			}
			for _, p := range []string{"bob", "carol"} {
				if got, exp := ids(t, fresh, p), only(want, p, n); !slices.Equal(got, exp) {
					t.Fatalf("history with %s: %d messages %v…, want %d %v…", p, len(got), got[:min(3, len(got))], len(exp), exp[:3])
				}
			}
		})
	}
	// Fields travel: an outgoing message stays outgoing and delivered.
	m, err := fresh.st.Message(want[len(want)-1])
	if err != nil {
		t.Fatal(err)
	}
	o, _ := old.st.Message(want[len(want)-1])
	if m.Outgoing != o.Outgoing || m.State != o.State || m.Text != o.Text || !m.Time.Equal(o.Time) {
		t.Fatalf("stored %+v, sent %+v", m, o)
	}
	// Both showed progress, ending finished without an error.
	for _, d := range []*device{old, fresh} {
		evs := d.history()
		if len(evs) < 3 {
			t.Fatalf("%d progress events", len(evs))
		}
		last := evs[len(evs)-1]
		if !last.Finished || last.Error != "" || last.Done != len(want) || last.Total != len(want) {
			t.Fatalf("last progress %+v", last)
		}
	}
}

// TestFetchRefused: only another device of our account's list is answered,
// and only one is asked.
func TestFetchRefused(t *testing.T) {
	old := newDevice(t)
	fill(t, old, 50, 1000*time.Hour)
	for _, tc := range []struct {
		name   string
		listed func(old, asker *device) // who lists whom
		want   error
	}{
		{"the asker is not in the answerer's list", func(old, asker *device) { asker.siblings[old.h.ID()] = true }, ErrNotOwnDevice},
		{"the answerer is not in the asker's list", func(old, asker *device) { old.siblings[asker.h.ID()] = true }, ErrNotOwnDevice},
		{"neither", func(old, asker *device) {}, ErrNotOwnDevice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asker := newDevice(t)
			connect(t, asker, old)
			tc.listed(old, asker)
			before := len(old.history())
			_, err := asker.x.Fetch(context.Background(), old.h.ID(), time.Time{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Fetch: %v, want %v", err, tc.want)
			}
			if has, _ := asker.st.HasHistory(); has {
				t.Fatal("the refused asker stored history")
			}
			if evs := old.history(); len(evs) != before {
				t.Fatalf("the answerer sent to a stranger: %+v", evs[before:])
			}
		})
	}
}

// TestFetchLongestMessages: messages of the longest text fill chunks to
// the frame limit by bytes, not by count; every one arrives whole.
func TestFetchLongestMessages(t *testing.T) {
	old, fresh := newDevice(t), newDevice(t)
	pair(t, old, fresh)
	var ms []store.Message
	for i := range 100 {
		ms = append(ms, store.Message{ID: fmt.Sprintf("long-%03d", i), Peer: "bob", Text: strings.Repeat(string(rune('a'+i%26)), wire.MaxChatText),
			Time: testNow.Add(-time.Duration(100-i) * time.Minute), State: store.StateReceived})
	}
	if _, err := old.st.AddIncomingBatch(ms); err != nil {
		t.Fatal(err)
	}
	res, err := fresh.x.Fetch(context.Background(), old.h.ID(), testNow.Add(-DefaultWindow))
	if err != nil || res.Added != len(ms) {
		t.Fatalf("Fetch: %+v, %v", res, err)
	}
	got, err := fresh.st.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range got {
		if m.ID != ms[i].ID || m.Text != ms[i].Text {
			t.Fatalf("message %d: %q (%d bytes), want %q", i, m.ID, len(m.Text), ms[i].ID)
		}
	}
	// 100 × 16 KiB in frames of at most 512 KiB: several chunks, each
	// told as progress.
	if evs := fresh.history(); len(evs) < 1+100*wire.MaxChatText/wire.MaxHandoverFrame {
		t.Fatalf("%d progress events", len(evs))
	}
}
