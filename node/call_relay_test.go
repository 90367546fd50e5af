package node

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/call"
	"eserver/node/call/audio"
	"eserver/node/call/audio/audiotest"
	"eserver/node/wire"
)

// opusPackets encodes the WAV at path frame by frame with a fresh encoder
// of the call's settings: the packets a call sends of it, since Opus
// encodes the same input from the same state to the same bytes.
func opusPackets(t testing.TB, path string) [][]byte {
	t.Helper()
	pcm, err := audio.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, wire.MaxCallPacket)
	n := wire.CallFrameSamples
	for off := 0; off+n <= len(pcm); off += n {
		pkt, err := enc.Encode(pcm[off:off+n], buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(pkt))
	}
	return out
}

// window is how long a run of a packet's bytes found in the relayed bytes
// counts as the packet seen: 12 bytes of Opus are 96 bits, never matched
// by chance in a few hundred kilobytes.
const window = 12

// windowsIn returns how many of the window-byte runs of packets occur in
// hay.
func windowsIn(packets [][]byte, hay []byte) int {
	want := map[[window]byte]bool{}
	for _, p := range packets {
		for i := 0; i+window <= len(p); i++ {
			want[[window]byte(p[i:i+window])] = true
		}
	}
	found := map[[window]byte]bool{}
	for i := 0; i+window <= len(hay); i++ {
		if k := [window]byte(hay[i : i+window]); want[k] {
			found[k] = true
		}
	}
	return len(found)
}

// TestRelayedCallBlind: alice and bob are behind strict NATs, so their
// call goes through a supernode's relay; each hears the other's tone, and
// both sides know the call is relayed. The relay carried the call (its
// bytes are counted) but none of its audio: no 12 bytes of any Opus
// packet either side sent, nor the call's secret, are in what it relayed.
func TestRelayedCallBlind(t *testing.T) {
	ts := newTappedSupernode(t)
	alice, bob := ts.relayOnlyNode(t, "alice"), ts.relayOnlyNode(t, "bob")
	befriend(t, alice, bob)
	aliceAudio, bobAudio := callFiles(t, 440, 5*time.Second), callFiles(t, 660, 5*time.Second)

	var (
		mu      sync.Mutex
		secrets = map[string][]byte{} // by side
	)
	for _, tn := range []*testNode{alice, bob} {
		s, err := tn.current()
		if err != nil {
			t.Fatal(err)
		}
		s.calls.SetTrace(&call.Trace{Keyed: func(id string, secret []byte) {
			mu.Lock()
			defer mu.Unlock()
			secrets[tn.name] = bytes.Clone(secret)
		}})
	}
	before := len(ts.tap.bytes())

	id, err := alice.Call(ctx(t), "bob", aliceAudio)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor("the incoming call", func(e api.Event) bool { return e.CallIncoming != nil && e.CallIncoming.ID == id })
	if err := bob.AnswerCall(ctx(t), id, bobAudio); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob} {
		if a := tn.callState(id, api.CallActive, ""); !a.Relayed {
			t.Errorf("%s's active call: %+v, want relayed", tn.name, a)
		}
		st := tn.waitFor("call statistics", func(e api.Event) bool { return e.CallStats != nil && e.CallStats.ID == id })
		if !st.CallStats.Relayed {
			t.Errorf("%s's call statistics: %+v, want relayed", tn.name, st.CallStats)
		}
	}
	time.Sleep(3 * time.Second)
	if err := alice.HangUp(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	alice.callState(id, api.CallEnded, api.CallReasonHungUp)
	bob.callState(id, api.CallEnded, api.CallReasonTheyHung)
	audiotest.HeardTone(t, bobAudio.OutFile, 440, 120)
	audiotest.HeardTone(t, aliceAudio.OutFile, 660, 120)

	// The packets each side sent, encoded again here; twice, to show the
	// encoding is the same each time (else the search below would prove
	// nothing).
	packets := opusPackets(t, aliceAudio.InFile)
	again := opusPackets(t, aliceAudio.InFile)
	if len(packets) != 250 || len(again) != len(packets) {
		t.Fatalf("%d and %d packets of 5 s", len(packets), len(again))
	}
	for i := range packets {
		if !bytes.Equal(packets[i], again[i]) {
			t.Fatalf("packet %d encoded twice differs: Opus is not deterministic here", i)
		}
	}
	packets = append(packets, opusPackets(t, bobAudio.InFile)...)

	relayed := ts.tap.bytes()
	// The tap records each byte twice (into the relay and out of it): ~25
	// KB a second of a call both ways.
	if n := len(relayed) - before; n < 90<<10 {
		t.Fatalf("only %d bytes went through the relay during the call: the test did not test it", n)
	}
	if n := windowsIn(packets, relayed); n != 0 {
		t.Errorf("%d runs of %d bytes of the call's Opus packets are in the relayed bytes", n, window)
	}
	mu.Lock()
	secret, bobs := secrets["alice"], secrets["bob"]
	mu.Unlock()
	if len(secret) != wire.CallKeySize || !bytes.Equal(secret, bobs) {
		t.Fatalf("the call's secret: alice %x, bob %x", secret, bobs)
	}
	if bytes.Contains(relayed, secret) || windowsIn([][]byte{secret}, relayed) != 0 {
		t.Error("the relayed bytes contain the call's secret")
	}
	// Control: the search finds a packet that is there.
	if n := windowsIn(packets[100:101], append(bytes.Clone(relayed), packets[100]...)); n == 0 {
		t.Error("control: the search does not find a packet appended to the relayed bytes")
	}
	t.Logf("%d bytes relayed during the call, searched for %d packets and the secret", len(relayed)-before, len(packets))
}
