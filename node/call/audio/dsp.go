package audio

import (
	"math"

	"eserver/node/wire"
)

// fullScale is the magnitude of the most negative sample: levels are
// fractions of it.
const fullScale = 32768.0

// Level returns the frame's peak level, 0 (silence) to 1 (full scale):
// what a level meter shows.
func Level(pcm []int16) float64 {
	peak := 0
	for _, s := range pcm {
		v := int(s)
		if v < 0 {
			v = -v
		}
		peak = max(peak, v)
	}
	return float64(peak) / fullScale
}

// Scale multiplies pcm by volume in place, clipping at full scale rather
// than wrapping round (a wrapped sample is a loud click).
func Scale(pcm []int16, volume float64) {
	if volume < 0 || math.IsNaN(volume) {
		volume = 0
	}
	for i, s := range pcm {
		pcm[i] = clip(math.Round(float64(s) * volume))
	}
}

// clip rounds v into int16's range.
func clip(v float64) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// Tone returns `frames` 20 ms frames of a sine of freq Hz at amplitude
// (a fraction of full scale, 0–1) at wire.CallSampleRate.
func Tone(freq, amplitude float64, frames int) []int16 {
	if frames <= 0 {
		return nil
	}
	pcm := make([]int16, frames*wire.CallFrameSamples)
	w := 2 * math.Pi * freq / wire.CallSampleRate
	for i := range pcm {
		pcm[i] = clip(math.Round(amplitude * math.MaxInt16 * math.Sin(w*float64(i))))
	}
	return pcm
}

// DominantFrequency returns the frequency, in Hz, of the strongest
// component of pcm between 10 Hz and 4 kHz (or half sampleRate), or 0 for
// silence or too short an input. It works on a single 20 ms frame: the
// samples, less their mean, are Hann-windowed, their spectrum is evaluated
// directly (one DFT term per frequency, not an FFT's fixed bins) on a 5 Hz
// grid, and the peak is then refined by golden-section search to 0.05 Hz.
// The window's main lobe is four bins wide (200 Hz on 20 ms), so the
// coarse grid cannot step over the peak. Below ~150 Hz a single frame
// holds under three periods and the result is off by a few hertz: pass
// several frames. Cost: about 800 DFT terms, a few
// milliseconds for a 960-sample frame — a test tool, not for the audio
// path.
func DominantFrequency(pcm []int16, sampleRate int) float64 {
	if len(pcm) < 16 || sampleRate <= 0 {
		return 0
	}
	const lo = 10.0
	hi := min(4000.0, float64(sampleRate)/2-1)
	if hi <= lo {
		return 0
	}
	var mean float64
	for _, s := range pcm {
		mean += float64(s)
	}
	mean /= float64(len(pcm))
	x := make([]float64, len(pcm))
	energy := 0.0
	n := float64(len(pcm) - 1)
	for i, s := range pcm {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
		x[i] = (float64(s) - mean) * w
		energy += x[i] * x[i]
	}
	if energy == 0 {
		return 0
	}
	power := func(f float64) float64 {
		// One DFT term by the Goertzel recurrence: two multiplies a
		// sample, and no table of sines.
		w := 2 * math.Pi * f / float64(sampleRate)
		c := 2 * math.Cos(w)
		var s1, s2 float64
		for _, v := range x {
			s0 := v + c*s1 - s2
			s2, s1 = s1, s0
		}
		return s1*s1 + s2*s2 - c*s1*s2
	}
	const step = 5.0
	best, bestP := lo, -1.0
	for f := lo; f <= hi; f += step {
		if p := power(f); p > bestP {
			best, bestP = f, p
		}
	}
	// Golden-section search for the maximum on [best-step, best+step],
	// where the spectrum is unimodal (inside the main lobe).
	a, b := max(lo, best-step), min(hi, best+step)
	const g = 0.6180339887498949
	c, d := b-g*(b-a), a+g*(b-a)
	pc, pd := power(c), power(d)
	for b-a > 0.05 {
		if pc > pd {
			b, d, pd = d, c, pc
			c = b - g*(b-a)
			pc = power(c)
		} else {
			a, c, pc = c, d, pd
			d = a + g*(b-a)
			pd = power(d)
		}
	}
	return (a + b) / 2
}

// Envelope returns the RMS of each window of `window` samples (the last
// may be shorter), as a fraction of full scale: the shape of a phrase,
// which survives a codec where the waveform does not.
func Envelope(pcm []int16, window int) []float64 {
	if window <= 0 || len(pcm) == 0 {
		return nil
	}
	env := make([]float64, 0, (len(pcm)+window-1)/window)
	for start := 0; start < len(pcm); start += window {
		w := pcm[start:min(start+window, len(pcm))]
		var sum float64
		for _, s := range w {
			v := float64(s) / fullScale
			sum += v * v
		}
		env = append(env, math.Sqrt(sum/float64(len(w))))
	}
	return env
}

// ToneFrames counts pcm's 20 ms frames with sound in them (peak level at
// least minLevel) and, of those, the ones whose dominant frequency is
// within tolerance Hz of freq: how a test tells that a tone crossed a call
// whole (the frames before the call's audio came, and after, are silent).
func ToneFrames(pcm []int16, freq, tolerance, minLevel float64) (sound, right int) {
	n := wire.CallFrameSamples
	for off := 0; off+n <= len(pcm); off += n {
		frame := pcm[off : off+n]
		if Level(frame) < minLevel {
			continue
		}
		sound++
		if math.Abs(DominantFrequency(frame, wire.CallSampleRate)-freq) <= tolerance {
			right++
		}
	}
	return sound, right
}
