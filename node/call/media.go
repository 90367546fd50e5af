package call

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/api"
	"eserver/node/call/audio"
	"eserver/node/wire"
)

// The audio streams (lanes). Each side writes its frames as they are
// captured, each one length-prefixed (2 bytes, big-endian) and sealed
// (frame.go); a length of 0 is the side's goodbye: it hung up. A frame is
// never waited for: the capture loop writes it itself (a stream takes a
// frame this small into its send buffer at once; one more goroutine to
// hand it to would be one more wake-up every 20 ms, the bulk of a call's
// CPU), and the receiver's jitter buffer drops what comes after its time.
const (
	// writeTimeout bounds one write of a stream. A write that takes
	// longer means the connection is gone, so it ends the call.
	writeTimeout = 5 * time.Second
	// statsEvery is how often a running call's CallStats go out.
	statsEvery = time.Second
	// Quality thresholds: a call is "poor" beyond either (the loss counts
	// the slots concealed without the next frame's FEC: what was not heard).
	poorLoss  = 0.05
	poorDelay = 250 * time.Millisecond
)

// Host's part that media needs.
type mediaHost interface {
	Emit(e api.Event)
}

// media is one call's audio, both ways, over its lanes: wire.CallLanes
// streams, frame s on lane s mod CallLanes. Over QUIC a lost packet holds
// back only its own stream, so one loss delays every third frame for a
// round trip instead of all of them, and the frame after a late one
// (on another lane) usually brings its FEC in time.
type media struct {
	lanes []network.Stream
	keys  *Keys
	src   audio.Source
	sink  audio.Sink
	now   func() time.Time
	// rtt is the connection's measured round trip (0 when unknown).
	rtt func() time.Duration

	muted  atomic.Bool
	volume atomic.Uint64 // math.Float64bits
	sayBye atomic.Bool   // we hung up: the writer says goodbye
	// stop is closed (once) to end the audio, by hangUp — before run has
	// started, too.
	stop     chan struct{}
	stopOnce sync.Once

	// jmu guards the receive side's state, shared by the reader, the
	// player and the statistics.
	jmu    sync.Mutex
	jitter *Jitter
	level  float64 // loudest played since the last stats
	// counts of what the sender did, and of forged frames received
	sent, forged atomic.Int64
	// trace is the Calls' Trace when the call started (its fields nil
	// when none).
	trace Trace
}

func newMedia(lanes []network.Stream, keys *Keys, src audio.Source, sink audio.Sink, now func() time.Time, rtt func() time.Duration) *media {
	m := &media{lanes: lanes, keys: keys, src: src, sink: sink, now: now, rtt: rtt, jitter: NewJitter(),
		stop: make(chan struct{})}
	m.setVolume(1)
	return m
}

func (m *media) mute(on bool) { m.muted.Store(on) }

func (m *media) setVolume(v float64) { m.volume.Store(math.Float64bits(v)) }

// hangUp ends the audio; byUs: the other side is told first.
func (m *media) hangUp(byUs bool) {
	m.sayBye.Store(byUs)
	m.stopOnce.Do(func() { close(m.stop) })
}

// close releases what newMedia was given, for a call that never ran.
func (m *media) close() {
	m.src.Close()
	m.sink.Close()
}

// run moves the call's audio until it ends, and says how: we hung up (or
// the session ended), they did, or the connection was lost.
func (m *media) run(ctx context.Context, sid string, h mediaHost, relayed func() bool) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once   sync.Once
		reason = api.CallReasonHungUp
	)
	finish := func(r string) {
		once.Do(func() { reason = r })
		cancel()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	loops := []func(context.Context) string{m.capture, m.play}
	for i := range m.lanes {
		loops = append(loops, func(ctx context.Context) string { return m.read(ctx, i) })
	}
	for _, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := loop(ctx); r != "" {
				finish(r)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.report(ctx, sid, h, relayed)
	}()
	<-ctx.Done()
	// The readers may sit in a read: unblock them.
	for _, st := range m.lanes {
		st.SetReadDeadline(time.Now())
	}
	wg.Wait()
	// Our goodbye, on every lane (whichever comes first tells), when we
	// hung up.
	for _, st := range m.lanes {
		if m.sayBye.Load() {
			st.SetWriteDeadline(time.Now().Add(time.Second))
			st.Write([]byte{0, 0})
		}
		st.CloseWrite()
	}
	m.close()
	for _, st := range m.lanes {
		st.Close()
	}
	return reason
}

// capture encodes and seals what the source gives, frame by frame, and
// writes it on its lane.
func (m *media) capture(ctx context.Context) string {
	enc, err := audio.NewEncoder()
	if err != nil {
		return api.CallReasonFailed
	}
	pcm := make([]int16, wire.CallFrameSamples)
	buf := make([]byte, wire.MaxCallPacket)
	out := make([]byte, 0, 2+wire.MaxCallFrame)
	for seq := uint32(0); ; seq++ {
		if err := m.src.Read(ctx, pcm); err != nil {
			if ctx.Err() != nil {
				return ""
			}
			return api.CallReasonFailed
		}
		if m.trace.Captured != nil {
			m.trace.Captured(seq, time.Now())
		}
		if m.muted.Load() {
			clear(pcm)
		}
		pkt, err := enc.Encode(pcm, buf)
		if err != nil {
			return api.CallReasonFailed
		}
		// The length prefix, then the frame sealed after it.
		out, err = m.keys.Seal(out[:2], Frame{Seq: seq, Timestamp: seq * uint32(wire.CallFrameSamples), Packet: pkt})
		if err != nil {
			return api.CallReasonFailed
		}
		binary.BigEndian.PutUint16(out, uint16(len(out)-2))
		st := m.lanes[int(seq)%len(m.lanes)]
		st.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := st.Write(out); err != nil {
			if ctx.Err() != nil {
				return ""
			}
			return api.CallReasonLost
		}
		m.sent.Add(1)
		if m.trace.Sent != nil {
			m.trace.Sent(len(out))
		}
	}
}

// read takes the other side's frames on lane i into the jitter buffer
// until its goodbye, or until nothing came for CallLostAfter.
func (m *media) read(ctx context.Context, i int) string {
	st := m.lanes[i]
	var hdr [2]byte
	buf := make([]byte, wire.MaxCallFrame)
	for {
		st.SetReadDeadline(time.Now().Add(api.CallLostAfter))
		if _, err := io.ReadFull(st, hdr[:]); err != nil {
			return m.readFailed(ctx, err)
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n == 0 {
			return api.CallReasonTheyHung
		}
		if n > wire.MaxCallFrame {
			// Not a frame of ours: the stream is out of step for good.
			return api.CallReasonLost
		}
		if _, err := io.ReadFull(st, buf[:n]); err != nil {
			return m.readFailed(ctx, err)
		}
		f, err := m.keys.Open(buf[:n])
		if err != nil {
			m.forged.Add(1)
			continue
		}
		// The packet aliases buf, which the next read overwrites.
		f.Packet = append([]byte(nil), f.Packet...)
		m.jmu.Lock()
		m.jitter.Push(f, m.now())
		m.jmu.Unlock()
	}
}

// readFailed is how a failed read ends the call: not at all when we are
// ending it; else lost — a stream closed without a goodbye (the other side
// was killed) or silent for CallLostAfter.
func (m *media) readFailed(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	return api.CallReasonLost
}

// play gives the sink one frame per slot from the jitter buffer: decoded,
// recovered from the next frame's FEC, or concealed.
func (m *media) play(ctx context.Context) string {
	dec, err := audio.NewDecoder()
	if err != nil {
		return api.CallReasonFailed
	}
	pcm := make([]int16, wire.CallFrameSamples)
	// The player sleeps until the next slot is due (one wake-up a frame,
	// each on time), or a frame's time while no audio came yet.
	wake := time.NewTimer(wire.CallFrameDuration)
	defer wake.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-wake.C:
		}
		if r := m.playDue(dec, pcm); r != "" {
			return r
		}
		m.jmu.Lock()
		due, started := m.jitter.NextDue()
		m.jmu.Unlock()
		wait := wire.CallFrameDuration
		if started {
			wait = min(max(due.Sub(m.now()), time.Millisecond), wire.CallFrameDuration)
		}
		wake.Reset(wait)
	}
}

// playDue plays every slot due now, and says how the call ends if the
// sink failed.
func (m *media) playDue(dec *audio.Decoder, pcm []int16) string {
	for {
		m.jmu.Lock()
		f, slot := m.jitter.Pop(m.now())
		m.jmu.Unlock()
		var err error
		switch slot {
		case NotDue:
			return ""
		case Play:
			err = dec.Decode(f.Packet, pcm)
		case Recover:
			err = dec.DecodeFEC(f.Packet, pcm)
		default:
			err = dec.Conceal(pcm)
		}
		if err != nil {
			clear(pcm) // a frame that would not decode plays as silence
		}
		audio.Scale(pcm, math.Float64frombits(m.volume.Load()))
		lv := audio.Level(pcm)
		m.jmu.Lock()
		m.level = max(m.level, lv)
		m.jmu.Unlock()
		if err := m.sink.Write(pcm); err != nil {
			return api.CallReasonFailed
		}
		if m.trace.Played != nil {
			m.trace.Played(f.Seq, slot, time.Now())
		}
	}
}

// report sends the call's CallStats every statsEvery.
func (m *media) report(ctx context.Context, sid string, h mediaHost, relayed func() bool) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	var last JitterStats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.jmu.Lock()
		st, level := m.jitter.Stats(), m.level
		m.level = 0
		m.jmu.Unlock()
		h.Emit(api.Event{CallStats: m.stats(sid, last, st, level, relayed())})
		last = st
	}
}

// stats is the window between two snapshots of the jitter buffer's
// counters as the front ends see it.
func (m *media) stats(sid string, last, now JitterStats, level float64, relayed bool) *api.CallStats {
	slots := (now.Played - last.Played) + (now.Concealed - last.Concealed)
	loss, rebuilt := 0.0, 0.0
	if slots > 0 {
		loss = float64(now.Concealed-last.Concealed) / float64(slots)
		rebuilt = float64(now.Recovered-last.Recovered) / float64(slots)
	}
	delay := now.Delay + m.rtt()/2
	q := api.QualityGood
	if loss-rebuilt > poorLoss || delay > poorDelay {
		q = api.QualityPoor
	}
	return &api.CallStats{ID: sid, Delay: int(delay / time.Millisecond), Loss: loss, Rebuilt: rebuilt, Quality: q, Relayed: relayed, Level: level}
}

// isCircuit reports whether conn goes through a relay.
func isCircuit(conn network.Conn) bool {
	_, err := conn.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// isQUIC reports whether conn is a QUIC connection.
func isQUIC(conn network.Conn) bool {
	_, err := conn.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1)
	return err == nil
}

// OpenAudio opens what a's fields name: files where given, else the sound
// devices.
func OpenAudio(a api.CallAudio) (audio.Source, audio.Sink, error) {
	var (
		src  audio.Source
		sink audio.Sink
		err  error
	)
	if a.InFile != "" {
		src, err = audio.OpenFileSource(a.InFile)
	} else {
		src, err = audio.OpenCapture(a.Input)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the call's input: %w", err)
	}
	if a.OutFile != "" {
		sink, err = audio.CreateFileSink(a.OutFile)
	} else {
		sink, err = audio.OpenPlayback(a.Output)
	}
	if err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("the call's output: %w", err)
	}
	return src, sink, nil
}
