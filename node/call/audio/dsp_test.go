package audio

import (
	"math"
	"testing"

	"eserver/node/wire"
)

func TestDominantFrequency(t *testing.T) {
	for _, freq := range []float64{200, 440, 1000, 3000, 1234.5, 60} {
		for _, frames := range []int{1, 5} {
			if freq < 150 && frames == 1 {
				continue // not 3 periods in 20 ms: see DominantFrequency's doc
			}
			pcm := Tone(freq, 0.5, frames)
			got := DominantFrequency(pcm, wire.CallSampleRate)
			if math.Abs(got-freq) > 2 {
				t.Errorf("%v Hz over %d frames: %.2f Hz", freq, frames, got)
			}
		}
	}
	// With a weaker second tone and a DC offset, still the strong one.
	pcm := Tone(440, 0.4, 1)
	second := Tone(1500, 0.1, 1)
	for i := range pcm {
		pcm[i] += second[i] + 2000
	}
	if got := DominantFrequency(pcm, wire.CallSampleRate); math.Abs(got-440) > 2 {
		t.Errorf("440 Hz + 1500 Hz + DC: %.2f Hz", got)
	}
	if got := DominantFrequency(make([]int16, 960), wire.CallSampleRate); got != 0 {
		t.Errorf("silence: %v Hz", got)
	}
	if got := DominantFrequency(nil, wire.CallSampleRate); got != 0 {
		t.Errorf("nothing: %v Hz", got)
	}
}

func TestEnvelopeLevelScale(t *testing.T) {
	// Silence, then a loud tone, then a quiet one: the envelope shows
	// the shape.
	pcm := append(make([]int16, wire.CallFrameSamples), Tone(440, 0.8, 1)...)
	pcm = append(pcm, Tone(440, 0.1, 1)...)
	env := Envelope(pcm, wire.CallFrameSamples)
	if len(env) != 3 {
		t.Fatalf("%d windows, want 3", len(env))
	}
	// A sine's RMS is its amplitude / √2.
	for i, want := range []float64{0, 0.8 / math.Sqrt2, 0.1 / math.Sqrt2} {
		if math.Abs(env[i]-want) > 0.01 {
			t.Errorf("window %d: RMS %.3f, want %.3f", i, env[i], want)
		}
	}
	if got := Envelope(pcm[:1000], wire.CallFrameSamples); len(got) != 2 {
		t.Errorf("a partial last window: %d windows, want 2", len(got))
	}
	if Envelope(pcm, 0) != nil {
		t.Error("window 0 gave an envelope")
	}

	for _, tc := range []struct {
		pcm  []int16
		want float64
	}{
		{[]int16{0, 0}, 0},
		{[]int16{-32768, 5}, 1},
		{[]int16{100, -16384}, 0.5},
	} {
		if got := Level(tc.pcm); got != tc.want {
			t.Errorf("Level(%v) = %v, want %v", tc.pcm, got, tc.want)
		}
	}
	x := []int16{1000, -1000, 20000, -20000, 3}
	Scale(x, 2)
	if want := []int16{2000, -2000, 32767, -32768, 6}; !equal(x, want) {
		t.Errorf("Scale ×2 = %v, want %v (clipped)", x, want)
	}
	Scale(x, 0.5)
	if want := []int16{1000, -1000, 16384, -16384, 3}; !equal(x, want) {
		t.Errorf("Scale ×0.5 = %v, want %v", x, want)
	}
	Scale(x, -1)
	if Level(x) != 0 {
		t.Errorf("Scale by a negative volume = %v, want silence", x)
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
