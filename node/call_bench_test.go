package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"eserver/node/api"
	"eserver/node/call"
)

// A call's latency is judged against the network's: the benchmark times
// each frame from the sender's source handing it over (a microphone's
// capture; a file source paces frames as one does) to the receiver's sink
// taking it decoded (a speaker's playout), both in this process and so on
// one clock; the device buffers either side are outside it. The baseline
// is half the libp2p ping round trip between the same two hosts, over the
// same connection, in the same run: what EServer adds is the difference.

// callBenchTime is how long each benchmarked call runs once both sides are
// active.
const callBenchTime = 5 * time.Second

// callRecord is one side's frames during a benchmarked call.
type callRecord struct {
	mu       sync.Mutex
	captured map[uint32]time.Time // our frames, by sequence number
	played   []playout            // the other side's slots, in order
	sent     atomic.Int64         // bytes written to the call's stream
}

type playout struct {
	seq  uint32
	slot call.Slot
	at   time.Time
}

func (r *callRecord) trace() *call.Trace {
	r.captured = map[uint32]time.Time{}
	return &call.Trace{
		Captured: func(seq uint32, at time.Time) {
			r.mu.Lock()
			r.captured[seq] = at
			r.mu.Unlock()
		},
		Sent: func(n int) { r.sent.Add(int64(n)) },
		Played: func(seq uint32, slot call.Slot, at time.Time) {
			r.mu.Lock()
			r.played = append(r.played, playout{seq, slot, at})
			r.mu.Unlock()
		},
	}
}

// latencies returns the capture-to-playout time of every frame from sent
// that recv played from t0 to t1, and how many of recv's slots then were
// concealed instead (a frame late or lost). The window leaves out the
// call's start and end, where the other side's frames have not begun or
// have stopped.
func latencies(sent, recv *callRecord, t0, t1 time.Time) (lat []time.Duration, concealed, slots int) {
	sent.mu.Lock()
	defer sent.mu.Unlock()
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, p := range recv.played {
		if p.at.Before(t0) || p.at.After(t1) {
			continue
		}
		slots++
		if p.slot != call.Play {
			concealed++
			continue
		}
		if c, ok := sent.captured[p.seq]; ok {
			lat = append(lat, p.at.Sub(c))
		}
	}
	return lat, concealed, slots
}

// BenchmarkCallLatency runs calls of callBenchTime between two nodes in
// this process, on loopback: "direct", and "relayed" through a
// supernode's relay (both nodes relay-only). Each side sends a tone from a
// file. It reports, over both directions:
//   - p50-ms, p95-ms: capture to playout;
//   - oneway-ms: half the p50 libp2p ping round trip between the two hosts
//     over the call's connection, taken right after the call (the
//     baseline), and added-p50-ms, added-p95-ms: the latencies less it;
//   - late-%: the slots the receiver concealed (a frame late or lost);
//   - stream-B/s: bytes one side writes to the call's stream per second
//     (length prefix and sealed frame; the wire adds the muxer's,
//     Noise's and TCP/IP's headers), and relay-B/s: what the relay
//     carries for one direction (the Noise and muxer frames of the
//     circuit, the relay protocol's own bytes included);
//   - core%/side: the process's CPU time (getrusage) during the call less
//     the same nodes' idle CPU over as long before it, per second of call
//     and per side, as a share of one core. Every node, the auth server
//     and the supernode run in this process: it is both sides' share plus
//     the relay's.
func BenchmarkCallLatency(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		alice, bob := friends(b, testServer(b))
		benchCall(b, alice, bob, nil, false)
	})
	b.Run("relayed", func(b *testing.B) {
		ts := newTappedSupernode(b)
		alice, bob := ts.relayOnlyNode(b, "alice"), ts.relayOnlyNode(b, "bob")
		befriend(b, alice, bob)
		benchCall(b, alice, bob, ts.tap, true)
	})
}

// benchCall runs the benchmark's calls from alice to bob, which must go
// through a relay when relayed is set and directly when not (a direct pair
// may still meet through the bundled supernode's relay, and would measure
// the wrong thing); tap is that relay's, when there is one.
func benchCall(b *testing.B, alice, bob *testNode, tap *tapHost, relayed bool) {
	as, err := alice.current()
	if err != nil {
		b.Fatal(err)
	}
	bs, err := bob.current()
	if err != nil {
		b.Fatal(err)
	}
	var (
		lat                            []time.Duration
		concealed, slots               int
		streamBytes, relayBytes        int64
		callTime, callCPU              time.Duration
		idleTime, idleCPU              time.Duration
		rtts                           []time.Duration
		aliceAudio, bobAudio           = callFiles(b, 440, callBenchTime+3*time.Second), callFiles(b, 660, callBenchTime+3*time.Second)
		aliceRec, bobRec               *callRecord
		tapBefore, tapAfter, sentAfter int64
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The nodes' own background work, for as long as the call.
		i0, cpu0 := time.Now(), cpuTime()
		time.Sleep(callBenchTime)
		idleCPU += cpuTime() - cpu0
		idleTime += time.Since(i0)

		aliceRec, bobRec = &callRecord{}, &callRecord{}
		as.calls.SetTrace(aliceRec.trace())
		bs.calls.SetTrace(bobRec.trace())
		id, err := alice.Call(ctx(b), "bob", aliceAudio)
		if err != nil {
			b.Fatal(err)
		}
		bob.waitFor("the incoming call", func(e api.Event) bool { return e.CallIncoming != nil && e.CallIncoming.ID == id })
		if err := bob.AnswerCall(ctx(b), id, bobAudio); err != nil {
			b.Fatal(err)
		}
		for _, tn := range []*testNode{alice, bob} {
			if a := tn.callState(id, api.CallActive, ""); a.Relayed != relayed {
				b.Fatalf("%s's call is relayed %v, want %v", tn.name, a.Relayed, relayed)
			}
		}
		if tap != nil {
			tapBefore = int64(len(tap.bytes()))
		}
		sent0 := aliceRec.sent.Load() + bobRec.sent.Load()
		t0, cpu0 := time.Now(), cpuTime()
		time.Sleep(callBenchTime)
		callCPU += cpuTime() - cpu0
		t1 := time.Now()
		callTime += t1.Sub(t0)
		sentAfter = aliceRec.sent.Load() + bobRec.sent.Load()
		streamBytes += sentAfter - sent0
		if tap != nil {
			tapAfter = int64(len(tap.bytes()))
			// The tap records each byte twice: into the relay and out.
			relayBytes += (tapAfter - tapBefore) / 2
		}
		// The baseline, over the call's connection while it is up.
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		results := ping.Ping(pctx, as.host, bs.host.ID())
		for range 20 {
			r := <-results
			if r.Error != nil {
				b.Fatal(r.Error)
			}
			rtts = append(rtts, r.RTT)
		}
		cancel()

		if err := alice.HangUp(ctx(b), id); err != nil {
			b.Fatal(err)
		}
		alice.callState(id, api.CallEnded, api.CallReasonHungUp)
		bob.callState(id, api.CallEnded, api.CallReasonTheyHung)
		as.calls.SetTrace(nil)
		bs.calls.SetTrace(nil)
		for _, d := range [][2]*callRecord{{aliceRec, bobRec}, {bobRec, aliceRec}} {
			l, c, s := latencies(d[0], d[1], t0, t1)
			lat = append(lat, l...)
			concealed += c
			slots += s
		}
	}
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatal("no frame was played")
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	oneway := quantile(rtts, 0.5) / 2
	p50, p95 := quantile(lat, 0.5), quantile(lat, 0.95)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p95), "p95-ms")
	b.ReportMetric(ms(oneway), "oneway-ms")
	b.ReportMetric(ms(p50-oneway), "added-p50-ms")
	b.ReportMetric(ms(p95-oneway), "added-p95-ms")
	b.ReportMetric(100*float64(concealed)/float64(max(slots, 1)), "late-%")
	secs := callTime.Seconds()
	b.ReportMetric(float64(streamBytes)/secs/2, "stream-B/s")
	if tap != nil {
		b.ReportMetric(float64(relayBytes)/secs/2, "relay-B/s")
	}
	// Per side: half the process's CPU beyond its idle rate.
	idle := idleCPU.Seconds() / idleTime.Seconds()
	share := (callCPU.Seconds()/secs - idle) / 2
	b.ReportMetric(100*share, "core%/side")
	b.ReportMetric(100*idle/2, "idle-core%/side")
}
