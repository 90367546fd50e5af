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
// Adaptation. Delay is the smallest that kept late loss under about 1 %
// over the window: the 99th percentile of the window's jitter, plus a
// margin, within [MinJitterDelay, MaxJitterDelay]. It grows at once when
// the path gets rougher (a late frame is lost sound) and shrinks slowly
// when it calms (each step down plays a few frames closer together).
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
	// Conceal: the frame due is missing; conceal it (FEC or PLC).
	Conceal
)

// JitterStats counts what the buffer did.
type JitterStats struct {
	Played, Concealed int // slots given to the player
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
	transit []time.Duration // the window's transits, oldest first
	base    time.Time       // the origin transits are measured from
	delay   time.Duration
	since   int // frames pushed since the delay last shrank
	stats   JitterStats
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
		j.observe(now.Sub(j.base) - time.Duration(s)*wire.CallFrameDuration)
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
	j.observe(now.Sub(j.base) - time.Duration(s)*wire.CallFrameDuration)
	return true
}

// observe adds a frame's transit to the window and adapts the delay.
func (j *Jitter) observe(t time.Duration) {
	if len(j.transit) == jitterWindow {
		copy(j.transit, j.transit[1:])
		j.transit = j.transit[:jitterWindow-1]
	}
	j.transit = append(j.transit, t)
	sorted := slices.Sorted(slices.Values(j.transit))
	jitter := sorted[len(sorted)*99/100] - sorted[0]
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

// due is slot s's playout time.
func (j *Jitter) due(s int64) time.Time {
	lowest := time.Duration(0)
	if len(j.transit) > 0 {
		lowest = slices.Min(j.transit)
	}
	return j.base.Add(lowest + time.Duration(s)*wire.CallFrameDuration + j.delay)
}

// Pop gives the player the next slot if it is due at now: its frame
// (Play) or its absence (Conceal). The player calls it at each of its
// ticks until it says NotDue.
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
		return Frame{Seq: j.first + uint32(s)}, Conceal
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

// Held returns frame seq if the buffer holds it: the frame after a missing
// one carries the missing one's FEC.
func (j *Jitter) Held(seq uint32) (Frame, bool) {
	if !j.started {
		return Frame{}, false
	}
	f, ok := j.frames[j.slot(seq)]
	return f, ok
}

// Stats is what the buffer did so far, with its delay now.
func (j *Jitter) Stats() JitterStats {
	st := j.stats
	st.Delay = j.delay
	return st
}
