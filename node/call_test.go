package node

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/api"
	"eserver/node/call/audio"
	"eserver/node/call/audio/audiotest"
	"eserver/node/wire"
)

// callFiles writes a tone of freq Hz lasting d as the call's input and
// names the file its output goes to, in dir.
func callFiles(t testing.TB, freq float64, d time.Duration) api.CallAudio {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "voice.wav")
	if err := audio.WriteWAV(in, audio.Tone(freq, 0.5, int(d/wire.CallFrameDuration))); err != nil {
		t.Fatal(err)
	}
	return api.CallAudio{InFile: in, OutFile: filepath.Join(dir, "heard.wav")}
}

// callState waits for call id's state (and reason, if given) at tn.
func (tn *testNode) callState(id string, state api.CallState, reason string) api.CallEvent {
	tn.t.Helper()
	e := tn.waitFor("call "+string(state)+" "+reason, func(e api.Event) bool {
		c := e.CallState
		return c != nil && c.ID == id && c.State == state && (reason == "" || c.Reason == reason)
	})
	return *e.CallState
}

// TestCallTone: alice calls bob, who answers; each sends a tone from a
// file for three seconds and hears the other's, whole; alice hangs up.
// Both see the states in order and keep the call in history.
func TestCallTone(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	aliceAudio, bobAudio := callFiles(t, 440, 4*time.Second), callFiles(t, 660, 4*time.Second)

	id, err := alice.Call(ctx(t), "bob", aliceAudio)
	if err != nil {
		t.Fatal(err)
	}
	alice.callState(id, api.CallCalling, "")
	in := bob.waitFor("the incoming call", func(e api.Event) bool { return e.CallIncoming != nil })
	if in.CallIncoming.ID != id || in.CallIncoming.From != "alice" {
		t.Fatalf("incoming %+v, want %s from alice", in.CallIncoming, id)
	}
	alice.callState(id, api.CallRinging, "")
	if _, err := alice.Call(ctx(t), "bob", aliceAudio); !errors.Is(err, api.ErrBusy) {
		t.Fatalf("a second call while one rings: %v", err)
	}
	if err := bob.AnswerCall(ctx(t), id, bobAudio); err != nil {
		t.Fatal(err)
	}
	a := alice.callState(id, api.CallActive, "")
	b := bob.callState(id, api.CallActive, "")
	if a.Since.IsZero() || b.Since.IsZero() || a.Relayed || b.Relayed || !a.Outgoing || b.Outgoing {
		t.Fatalf("active: alice %+v, bob %+v", a, b)
	}
	st := alice.waitFor("call statistics", func(e api.Event) bool { return e.CallStats != nil && e.CallStats.ID == id })
	if s := st.CallStats; s.Quality != api.QualityGood || s.Delay <= 0 || s.Delay > 300 {
		t.Errorf("statistics on loopback: %+v", s)
	}
	time.Sleep(3 * time.Second)
	if err := alice.HangUp(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	alice.callState(id, api.CallEnded, api.CallReasonHungUp)
	bob.callState(id, api.CallEnded, api.CallReasonTheyHung)
	if err := alice.HangUp(ctx(t), id); !errors.Is(err, api.ErrNoSuchCall) {
		t.Fatalf("hanging up twice: %v", err)
	}

	// 3 s is 150 frames; allow for the first frames' way and the ends.
	audiotest.HeardTone(t, bobAudio.OutFile, 440, 120)
	audiotest.HeardTone(t, aliceAudio.OutFile, 660, 120)

	for _, side := range []struct {
		n        *testNode
		with     string
		outgoing bool
		reason   string
	}{{alice, "bob", true, api.CallReasonHungUp}, {bob, "alice", false, api.CallReasonTheyHung}} {
		h, err := side.n.History(ctx(t), side.with, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		var got *api.Message
		for i := range h {
			if h[i].Kind == api.KindCall && h[i].ID == id {
				got = &h[i]
			}
		}
		if got == nil || got.Call == nil || got.Call.Reason != side.reason || got.Call.Duration < 2 || got.Call.Duration > 6 ||
			(got.From == side.n.name) != side.outgoing {
			t.Fatalf("%s's history of the call: %+v", side.n.name, got)
		}
	}
}

// TestCallSignalling: how calls end — declined, busy, given up by the
// caller (a missed call at the callee), hung up by the callee, the other
// side gone mid-call, and a contact offline from the start.
func TestCallSignalling(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	silent := func() api.CallAudio { return callFiles(t, 440, 100*time.Millisecond) }

	ring := func(t *testing.T) string {
		t.Helper()
		id, err := alice.Call(ctx(t), "bob", silent())
		if err != nil {
			t.Fatal(err)
		}
		bob.waitFor("the incoming call", func(e api.Event) bool { return e.CallIncoming != nil && e.CallIncoming.ID == id })
		alice.callState(id, api.CallRinging, "")
		return id
	}
	answered := func(t *testing.T) string {
		t.Helper()
		id := ring(t)
		if err := bob.AnswerCall(ctx(t), id, silent()); err != nil {
			t.Fatal(err)
		}
		alice.callState(id, api.CallActive, "")
		bob.callState(id, api.CallActive, "")
		return id
	}

	t.Run("declined", func(t *testing.T) {
		id := ring(t)
		if err := bob.DeclineCall(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		alice.callState(id, api.CallEnded, api.CallReasonDeclined)
		bob.callState(id, api.CallEnded, api.CallReasonDeclined)
		if err := bob.AnswerCall(ctx(t), id, silent()); !errors.Is(err, api.ErrNoSuchCall) {
			t.Fatalf("answering a declined call: %v", err)
		}
	})
	t.Run("audio stream without an answer", func(t *testing.T) {
		// Bob's device opens the audio stream for a call it has not
		// answered (or for no call): alice's node refuses it, and the
		// call rings on.
		id := ring(t)
		as, _ := alice.current()
		bs, _ := bob.current()
		raw, _ := hex.DecodeString(id)
		for _, hello := range [][]byte{append(raw, 0), append(make([]byte, wire.CallIDSize), 0), append(raw, wire.CallLanes)} {
			// As the call's own streams, over whatever connection the two
			// have: a relayed one would otherwise make NewStream wait for
			// a direct one until the test's deadline.
			st, err := bs.host.NewStream(network.WithAllowLimitedConn(ctx(t), "test"), as.host.ID(), protocol.ID(wire.CallProtocol))
			if err != nil {
				t.Fatal(err)
			}
			st.Write(hello)
			st.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := st.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("an unanswered audio stream was kept open (%d bytes, %v)", n, err)
			}
		}
		if calls, _ := alice.ActiveCalls(ctx(t)); len(calls) != 1 || calls[0].State != api.CallRinging {
			t.Fatalf("alice's call after the forged stream: %+v", calls)
		}
		if err := bob.DeclineCall(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		alice.callState(id, api.CallEnded, api.CallReasonDeclined)
	})
	t.Run("caller gives up", func(t *testing.T) {
		id := ring(t)
		if err := alice.HangUp(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		alice.callState(id, api.CallEnded, api.CallReasonHungUp)
		bob.callState(id, api.CallEnded, api.CallReasonMissed)
		h, err := bob.History(ctx(t), "alice", 1, "")
		if err != nil || len(h) != 1 || h[0].Kind != api.KindCall || h[0].Call.Reason != api.CallReasonMissed || h[0].From != "alice" {
			t.Fatalf("bob's history: %+v, %v", h, err)
		}
	})
	t.Run("nobody answers", func(t *testing.T) {
		// The caller's time runs out first: the callee hears so and
		// records a missed call.
		for _, tn := range []*testNode{alice, bob} {
			s, _ := tn.current()
			s.calls.SetRingTimeout(time.Second)
			defer s.calls.SetRingTimeout(api.CallRingTimeout)
		}
		id := ring(t)
		alice.callState(id, api.CallEnded, api.CallReasonMissed)
		bob.callState(id, api.CallEnded, api.CallReasonMissed)
		h, err := bob.History(ctx(t), "alice", 1, "")
		if err != nil || len(h) != 1 || h[0].ID != id || h[0].Call.Reason != api.CallReasonMissed {
			t.Fatalf("bob's history: %+v, %v", h, err)
		}
	})
	t.Run("callee hangs up", func(t *testing.T) {
		id := answered(t)
		if err := bob.HangUp(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		bob.callState(id, api.CallEnded, api.CallReasonHungUp)
		alice.callState(id, api.CallEnded, api.CallReasonTheyHung)
	})
	t.Run("busy", func(t *testing.T) {
		carol := newTestNode(t, server, "carol")
		carol.register()
		carol.login()
		befriend(t, carol, bob)
		id := answered(t)
		cid, err := carol.Call(ctx(t), "bob", silent())
		if err != nil {
			t.Fatal(err)
		}
		carol.callState(cid, api.CallEnded, api.CallReasonBusy)
		// The call in progress goes on.
		calls, err := bob.ActiveCalls(ctx(t))
		if err != nil || len(calls) != 1 || calls[0].ID != id || calls[0].State != api.CallActive {
			t.Fatalf("bob's calls while busy: %+v, %v", calls, err)
		}
		h, err := bob.History(ctx(t), "carol", 1, "")
		if err != nil || len(h) != 1 || h[0].Kind != api.KindCall || h[0].Call.Reason != api.CallReasonBusy {
			t.Fatalf("bob's history with carol: %+v, %v", h, err)
		}
		if err := alice.HangUp(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		bob.callState(id, api.CallEnded, api.CallReasonTheyHung)
	})
	t.Run("offline", func(t *testing.T) {
		bob.stop()
		alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
		start := time.Now()
		_, err := alice.Call(ctx(t), "bob", silent())
		if !errors.Is(err, api.ErrOffline) || err.Error() != "bob is offline" {
			t.Fatalf("calling an offline contact: %v", err)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the refusal took %v", time.Since(start))
		}
		if calls, _ := alice.ActiveCalls(ctx(t)); len(calls) != 0 {
			t.Fatalf("calls left: %+v", calls)
		}
		// Back online, bob can be called again.
		bob.open()
		bob.login()
		alice.waitContact("bob", api.RelationAccepted, api.StatusOnline)
	})
	t.Run("callee killed mid-call", func(t *testing.T) {
		id := answered(t)
		// Bob's process dies: no hang-up, no goodbye; its connections
		// just end.
		bs, err := bob.current()
		if err != nil {
			t.Fatal(err)
		}
		bs.host.Close()
		alice.callState(id, api.CallEnded, api.CallReasonLost)
	})
}

// TestCallRingsEveryDevice: bob calls alice, who is signed in on her
// laptop and her desktop: both ring; she answers on the desktop, the
// laptop stops ringing ("answered elsewhere", and keeps no entry), and the
// call runs with the desktop. A second call declined on the laptop stops
// the desktop ringing too.
func TestCallRingsEveryDevice(t *testing.T) {
	laptop, desktop, bob, _ := aliceOnTwoDevices(t)
	silent := func() api.CallAudio { return callFiles(t, 440, 100*time.Millisecond) }
	incoming := func(tn *testNode, id string) {
		t.Helper()
		tn.waitFor("the incoming call on the "+tn.name, func(e api.Event) bool { return e.CallIncoming != nil && e.CallIncoming.ID == id })
	}

	id, err := bob.Call(ctx(t), "alice", silent())
	if err != nil {
		t.Fatal(err)
	}
	incoming(laptop, id)
	incoming(desktop, id)
	if err := desktop.AnswerCall(ctx(t), id, silent()); err != nil {
		t.Fatal(err)
	}
	bob.callState(id, api.CallActive, "")
	desktop.callState(id, api.CallActive, "")
	laptop.callState(id, api.CallEnded, api.CallReasonElsewhere)
	if err := laptop.AnswerCall(ctx(t), id, silent()); !errors.Is(err, api.ErrNoSuchCall) {
		t.Fatalf("answering on the laptop too: %v", err)
	}
	if err := bob.HangUp(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	desktop.callState(id, api.CallEnded, api.CallReasonTheyHung)
	if h, _ := laptop.History(ctx(t), "bob", 10, ""); slices.ContainsFunc(h, func(m api.Message) bool { return m.ID == id }) {
		t.Fatalf("the laptop kept the call answered on the desktop: %+v", h)
	}

	id, err = bob.Call(ctx(t), "alice", silent())
	if err != nil {
		t.Fatal(err)
	}
	incoming(laptop, id)
	incoming(desktop, id)
	if err := laptop.DeclineCall(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	bob.callState(id, api.CallEnded, api.CallReasonDeclined)
	desktop.callState(id, api.CallEnded, api.CallReasonElsewhere)
}
