package call

import (
	"slices"
	"time"

	"eserver/node/wire"
)

// The receiver's jitter buffer. Frames leave the sender every
// wire.CallFrameDuration but arrive unevenly: some late, some out of
// order, some never. The buffer holds each frame until its playout time
// and gives the player one frame per slot, in sequence order; a frame not
// there at its time is concealed (Opus's FEC from the next frame, or its
// loss concealment), and one that comes after its time is dropped, never
// waited for.
//
// Playout time. For frame s, transit(s) = arrival − s·FrameDuration is
// the one-way delay up to a constant (the two clocks are not compared).
// The smallest transit over the recent window is the path's base; the
// others exceed it by their jitter. Frame s plays at base +
// s·FrameDuration + Delay, so a frame arrives in time when its jitter is
// under Delay.
//
// Adaptation. A slot is heard when its own frame is there at its time, or
// when the next frame is: Opus rebuilds a missing frame from the in-band
// FEC of the one after it. So the delay covers, for each slot s, the
// earlier of its own frame's jitter and the next frame's plus a frame —
// on a path where lateness strikes frames one at a time (over QUIC a lost
// packet holds back only its own lane, wire.CallLanes) an isolated late
// frame is rebuilt rather than waited for, and the delay stays that of
// the path's ordinary jitter instead of a retransmission's. Delay is the
// smallest that kept the slots heard but for about 1 % over the window:
// the 99th percentile of those times, plus a margin, within
// [MinJitterDelay, MaxJitterDelay]. It grows at once when the path gets
// rougher (a late frame is lost sound) and shrinks slowly when it calms
// (each step down plays a few frames closer together).
const (
	// MinJitterDelay is the least delay the buffer keeps: a frame's
	// worth, for the scheduling of the player and the network's smallest
	// wobble.
	MinJitterDelay = wire.CallFrameDuration
	// MaxJitterDelay bounds the delay: past it a conversation turns into
	// walkie-talkie (ITU-T G.114's 150 ms mouth to ear is the comfortable
	// limit; a worse path is better served by losing frames).
	MaxJitterDelay = 300 * time.Millisecond
	// jitterWindow is how many recent frames the delay is computed from:
	// 5 seconds of audio.
	jitterWindow = 250
	// jitterMargin is added to the window's percentile: the next burst is
	// rarely exactly the last one's size.
	jitterMargin = 5 * time.Millisecond
	// shrinkStep is the most the delay shrinks per second of audio.
	shrinkStep = 10 * time.Millisecond
	// maxAhead bounds how far past the next frame to play a frame may be
	// held: 5 seconds. Beyond, it is refused (a sender's gap or garbage
	// sequence numbers must not grow the buffer).
	maxAhead = 250
)

// Slot is what the buffer gives the player for one slot of audio.
type Slot int

const (
	// NotDue: nothing is due yet; ask again at the next tick.
	NotDue Slot = iota
	// Play: the frame returned is due; decode and play it.
	Play
	// Recover: the frame due is missing but the next one is held: the
	// Frame returned carries the next frame's packet, whose in-band FEC
	// rebuilds the missing one.
	Recover
	// Conceal: the frame due is missing and so is the next: conceal it
	// (Opus's packet loss concealment).
	Conceal
)

// JitterStats counts what the buffer did.
type JitterStats struct {
	Played, Concealed int // slots given to the player
	Recovered         int // of the concealed, rebuilt from the next frame's FEC
	Late              int // frames that came after their slot (dropped)
	Duplicates        int // frames that came twice (the copy dropped)
	Refused           int // frames too far ahead of playout (dropped)
	Delay             time.Duration
}

// Jitter is one call's jitter buffer, for one goroutine (the call's
// receive loop, which pushes frames and pops slots at its ticks).
type Jitter struct {
	started bool
	first   uint32          // the first frame's sequence number: slot 0
	next    int64           // the next slot to play, counted from first
	frames  map[int64]Frame // frames held, by slot
	// window is the transits of the last jitterWindow slots, by slot
	// modulo its length; newest is the highest slot in it.
	window [jitterWindow]transit
	newest int64
	lowest time.Duration // the least transit in the window: the path's base
	heard  []time.Duration
	base   time.Time // the origin transits are measured from
	delay  time.Duration
	since  int // frames pushed since the delay last shrank
	stats  JitterStats
}

// transit is when frame slot arrived, less its place in the stream.
type transit struct {
	slot int64
	t    time.Duration
	ok   bool
}

// NewJitter returns an empty buffer.
func NewJitter() *Jitter {
	return &Jitter{frames: map[int64]Frame{}, delay: MinJitterDelay}
}

// slot is frame seq's slot, counted from the first frame's.
func (j *Jitter) slot(seq uint32) int64 { return int64(int32(seq - j.first)) }

// Push takes frame f, arrived at now. It reports whether the frame was
// kept: a frame for a slot already played, a copy, or one too far ahead is
// dropped (and counted).
func (j *Jitter) Push(f Frame, now time.Time) bool {
	if !j.started {
		j.started, j.first, j.base = true, f.Seq, now
	}
	s := j.slot(f.Seq)
	switch {
	case s < j.next:
		// Too late to play, but the latest news of the path: a buffer
		// that learned only from the frames in time would never grow.
		j.stats.Late++
		j.observe(s, now.Sub(j.base)-time.Duration(s)*wire.CallFrameDuration)
		return false
	case s-j.next >= maxAhead:
		j.stats.Refused++
		return false
	}
	if _, ok := j.frames[s]; ok {
		j.stats.Duplicates++
		return false
	}
	j.frames[s] = f
	j.observe(s, now.Sub(j.base)-time.Duration(s)*wire.CallFrameDuration)
	return true
}

// observe adds slot s's transit t to the window and adapts the delay.
func (j *Jitter) observe(s int64, t time.Duration) {
	if s <= j.newest-jitterWindow {
		return // older than the window: no news of the path now
	}
	j.newest = max(j.newest, s)
	j.window[j.at(s)] = transit{slot: s, t: t, ok: true}
	j.lowest = t
	for _, w := range j.window {
		if j.inWindow(w) {
			j.lowest = min(j.lowest, w.t)
		}
	}
	// When each slot of the window could be heard: its own frame's
	// transit, or the next frame's plus a frame (its FEC must be there
	// at the slot's time, a frame before its own). A slot whose frame has
	// not come counts once it was played: until then it may yet come.
	j.heard = j.heard[:0]
	for _, w := range j.window {
		if !j.inWindow(w) {
			continue
		}
		if prev := w.slot - 1; prev >= 0 && prev < j.next && prev > j.newest-jitterWindow && !j.has(prev) {
			j.heard = append(j.heard, w.t+wire.CallFrameDuration)
		}
		h := w.t
		if j.has(w.slot + 1) {
			h = min(h, j.window[j.at(w.slot+1)].t+wire.CallFrameDuration)
		}
		j.heard = append(j.heard, h)
	}
	slices.Sort(j.heard)
	jitter := j.heard[len(j.heard)*99/100] - j.lowest
	want := min(max(jitter+jitterMargin, MinJitterDelay), MaxJitterDelay)
	j.since++
	switch {
	case want > j.delay:
		j.delay = want
		j.since = 0
	case want < j.delay && j.since >= int(time.Second/wire.CallFrameDuration):
		j.delay = max(want, j.delay-shrinkStep)
		j.since = 0
	}
}

// at is slot s's place in the window.
func (j *Jitter) at(s int64) int { return int(((s % jitterWindow) + jitterWindow) % jitterWindow) }

// has reports whether the window holds slot s's transit.
func (j *Jitter) has(s int64) bool {
	w := j.window[j.at(s)]
	return w.ok && w.slot == s
}

// inWindow reports whether w is one of the window's last jitterWindow
// slots (a place keeps an older slot's transit until a newer one takes
// it).
func (j *Jitter) inWindow(w transit) bool { return w.ok && w.slot > j.newest-jitterWindow }

// due is slot s's playout time.
func (j *Jitter) due(s int64) time.Time {
	return j.base.Add(j.lowest + time.Duration(s)*wire.CallFrameDuration + j.delay)
}

// Pop gives the player the next slot if it is due at now: its frame
// (Play), the next one's to rebuild it from (Recover), or neither
// (Conceal). The player calls it at each of its wake-ups until it says
// NotDue.
func (j *Jitter) Pop(now time.Time) (Frame, Slot) {
	if !j.started || now.Before(j.due(j.next)) {
		return Frame{}, NotDue
	}
	s := j.next
	j.next++
	f, ok := j.frames[s]
	delete(j.frames, s)
	if !ok {
		j.stats.Concealed++
		seq := j.first + uint32(s)
		if n, ok := j.frames[s+1]; ok {
			j.stats.Recovered++
			return Frame{Seq: seq, Timestamp: seq * uint32(wire.CallFrameSamples), Packet: n.Packet}, Recover
		}
		return Frame{Seq: seq, Timestamp: seq * uint32(wire.CallFrameSamples)}, Conceal
	}
	j.stats.Played++
	return f, Play
}

// NextDue is when the next slot is due; false before the first frame.
func (j *Jitter) NextDue() (time.Time, bool) {
	if !j.started {
		return time.Time{}, false
	}
	return j.due(j.next), true
}

// Stats is what the buffer did so far, with its delay now.
func (j *Jitter) Stats() JitterStats {
	st := j.stats
	st.Delay = j.delay
	return st
}
