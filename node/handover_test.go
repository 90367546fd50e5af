package node

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/api"
	"eserver/node/handover"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/wire"
)

// TestHistoryForANewDevice: alice has a history with bob on her laptop,
// some of it older than 90 days. She signs in on a new desktop: the laptop
// hands over exactly the last 90 days' messages, both directions, in
// order, once, and both show progress. A second hand-over adds nothing;
// bob's device, and a stranger's host, asking the laptop are refused.
func TestHistoryForANewDevice(t *testing.T) {
	server := testBundle(t).Addr()
	laptop, bob := friends(t, server)
	ls, _ := laptop.current()

	// The laptop's history: 40 messages a day apart, from 120 days ago,
	// stored as they would have been, then two sent now.
	now := time.Now()
	var old []store.Message
	for i := range 40 {
		m := store.Message{ID: fmt.Sprintf("old-%02d", i), Peer: "bob", Text: fmt.Sprintf("day %d", i),
			Time: now.Add(-time.Duration(120-3*i)*24*time.Hour - 12*time.Hour), State: store.StateReceived}
		if i%2 == 0 {
			m.Outgoing, m.State = true, store.StateDelivered
		}
		old = append(old, m)
	}
	if _, err := ls.store.AddIncomingBatch(old); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx(t), "alice", "from bob, today"); err != nil {
		t.Fatal(err)
	}
	laptop.collect("bob", 1)
	if _, err := laptop.Send(ctx(t), "bob", "from alice, today"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	all, err := ls.store.History("bob", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range all {
		if now.Sub(m.Time) < handover.DefaultWindow {
			want = append(want, fmt.Sprintf("%v:%s", m.Outgoing, m.Text))
		}
	}
	if len(want) >= len(all) || len(want) < 20 {
		t.Fatalf("%d of %d messages in the window: the test's history is wrong", len(want), len(all))
	}

	desktop := secondDevice(t, server, laptop)
	ds, _ := desktop.current()
	got := desktop.waitFor("the history to arrive", func(e api.Event) bool {
		return e.History != nil && e.History.Finished
	}).History
	if got.Error != "" || got.Direction != api.HistoryReceiving || got.Device != ls.host.ID().String() || got.Done != len(want) {
		t.Fatalf("the desktop's last progress: %+v", got)
	}
	texts := func() []string {
		ms, err := ds.store.History("bob", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%v:%s", m.Outgoing, m.Text))
		}
		return out
	}
	if h := texts(); !slices.Equal(h, want) {
		t.Fatalf("the desktop's history:\n%q\nwant\n%q", h, want)
	}
	sent := laptop.waitFor("the laptop to finish sending", func(e api.Event) bool {
		return e.History != nil && e.History.Finished
	}).History
	if sent.Error != "" || sent.Direction != api.HistorySending || sent.Device != ds.host.ID().String() || sent.Done != len(want) {
		t.Fatalf("the laptop's last progress: %+v", sent)
	}
	// The hand-over is remembered as done just after its last event.
	waitUntil(t, "the desktop to remember the hand-over", func() bool {
		v, _ := ds.store.Setting(store.HandoverDone)
		return v != ""
	})
	if ds.wantsHistory() {
		t.Fatal("the desktop would ask for the history again")
	}

	// Asked again (a hand-over cut short and retried): nothing twice.
	res, err := ds.handover.Fetch(ctx(t), ls.host.ID(), now.Add(-handover.DefaultWindow))
	if err != nil || res.Received != len(want) || res.Added != 0 {
		t.Fatalf("second hand-over: %+v, %v", res, err)
	}
	if h := texts(); !slices.Equal(h, want) {
		t.Fatalf("after a second hand-over: %q", h)
	}

	// Bob's device and a stranger's host ask the laptop: refused, nothing
	// sent. (Bob's own capability would not even ask: the laptop is not
	// his.)
	bs, _ := bob.current()
	stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	for _, tc := range []struct {
		name string
		h    host.Host
	}{{"bob's device", bs.host}, {"a stranger", stranger}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if err := h.Connect(ctx(t), peer.AddrInfo{ID: ls.host.ID(), Addrs: ls.host.Addrs()}); err != nil {
				t.Fatal(err)
			}
			st, err := h.NewStream(ctx(t), ls.host.ID(), protocol.ID(wire.ProtoHandover))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := wire.WriteMsg(st, &wire.HandoverRequest{}); err != nil {
				t.Fatal(err)
			}
			var c wire.HandoverChunk
			if err := wire.ReadMsg(st, wire.MaxHandoverFrame, &c); err != nil {
				t.Fatal(err)
			}
			if c.Error != wire.CodeNotOwnDevice || len(c.Messages) != 0 {
				t.Fatalf("the laptop answered %s with %q and %d messages", tc.name, c.Error, len(c.Messages))
			}
		})
	}
	if _, err := bs.handover.Fetch(ctx(t), ls.host.ID(), time.Time{}); err == nil {
		t.Fatal("bob's node asked alice's laptop for its history")
	}
}

// TestWantsHistory: a device the account just listed asks for the history,
// and keeps asking at later sign-ins until a hand-over finishes — also once
// messages arrived meanwhile (no other device answered the first time); a
// device never listed anew asks only while it holds no history.
func TestWantsHistory(t *testing.T) {
	// signIn is one sign-in: whether it listed the device anew, whether a
	// message or a finished hand-over came before it, and what it should do.
	type signIn struct{ listChanged, message, done, want bool }
	for _, tc := range []struct {
		name  string
		steps []signIn
	}{
		{"new, answered at once", []signIn{
			{listChanged: true, want: true}, {done: true, want: false}}},
		{"new, nobody answered, messages since", []signIn{
			{listChanged: true, want: true}, {message: true, want: true}, {message: true, want: true}}},
		{"old device with history", []signIn{
			{message: true, want: false}}},
		{"old device without history", []signIn{
			{want: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storetest.Open(t)
			n := &Node{log: slog.New(slog.DiscardHandler)}
			for i, step := range tc.steps {
				if step.message {
					if _, err := st.AddIncoming(store.Message{ID: fmt.Sprint("m", i), Peer: "bob", Text: "hi"}); err != nil {
						t.Fatal(err)
					}
				}
				if step.done {
					if err := st.SetSetting(store.HandoverDone, "other"); err != nil {
						t.Fatal(err)
					}
				}
				s := &session{n: n, store: st, listChanged: step.listChanged} // a sign-in
				if got := s.wantsHistory(); got != step.want {
					t.Fatalf("sign-in %d: wants the history %v, want %v", i, got, step.want)
				}
			}
		})
	}
}
