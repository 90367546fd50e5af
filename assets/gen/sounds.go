//go:build ignore

// Command sounds synthesises the WAV files embedded by package assets: short
// chimes in the spirit of MSN's, made from sine partials with a bell-like
// decay (no recorded or third-party audio). Run it from the assets
// directory when a sound should change:
//
//	cd assets && go run gen/sounds.go
//
// The output is 16-bit mono PCM at 22,050 Hz: small, and every player
// (paplay, aplay) reads it.
package main

import (
	"bytes"
	"encoding/binary"
	"log"
	"math"
	"os"
)

const rate = 22050

// note is one struck tone: it starts at start seconds, rings at freq Hz and
// fades with time constant decay seconds; partials add overtones (multiple
// of freq → relative amplitude) for a bell rather than a beep.
type note struct {
	start, freq, decay, amp float64
	partials                map[float64]float64
}

// chime mixes notes into length seconds of samples in [-1, 1].
func chime(length float64, notes ...note) []float64 {
	out := make([]float64, int(length*rate))
	for _, n := range notes {
		for i := int(n.start * rate); i < len(out); i++ {
			t := float64(i)/rate - n.start
			// A 4 ms attack avoids the click of a waveform starting at full height.
			env := n.amp * math.Exp(-t/n.decay) * math.Min(1, t/0.004)
			v := math.Sin(2 * math.Pi * n.freq * t)
			for mult, a := range n.partials {
				v += a * math.Sin(2*math.Pi*n.freq*mult*t)
			}
			out[i] += env * v
		}
	}
	return out
}

// buzz is the nudge: a low rattle, a square-ish wave whose loudness
// shakes at 18 Hz, like a phone vibrating on a desk.
func buzz(length float64) []float64 {
	out := make([]float64, int(length*rate))
	for i := range out {
		t := float64(i) / rate
		tone := math.Tanh(4 * math.Sin(2*math.Pi*140*t)) // soft-clipped sine: buzzy, not harsh
		shake := 0.55 + 0.45*math.Sin(2*math.Pi*18*t)
		fade := math.Min(1, t/0.01) * math.Min(1, (length-t)/0.08)
		out[i] = 0.5 * tone * shake * fade
	}
	return out
}

// fadeOut ends samples at silence over the last 30 ms, so players that
// stop at the last sample do not click.
func fadeOut(s []float64) []float64 {
	n := rate * 3 / 100
	for i := 0; i < n && i < len(s); i++ {
		s[len(s)-1-i] *= float64(i) / float64(n)
	}
	return s
}

func wav(samples []float64) []byte {
	var data bytes.Buffer
	peak := 0.0
	for _, v := range samples {
		peak = math.Max(peak, math.Abs(v))
	}
	scale := 0.7 / math.Max(peak, 1e-9) // normalise to -3 dB: audible, never clipping
	for _, v := range samples {
		binary.Write(&data, binary.LittleEndian, int16(math.Round(v*scale*32767)))
	}
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + data.Len()))
	b.WriteString("WAVEfmt ")
	w(uint32(16))       // fmt chunk size
	w(uint16(1))        // PCM
	w(uint16(1))        // mono
	w(uint32(rate))     // sample rate
	w(uint32(rate * 2)) // byte rate
	w(uint16(2))        // block align
	w(uint16(16))       // bits per sample
	b.WriteString("data")
	w(uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func write(name string, samples []float64) {
	if err := os.WriteFile(name, wav(fadeOut(samples)), 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	bell := map[float64]float64{2: 0.25, 3: 0.08}
	// Sign-in: a rising major sixth, E5 then C#6, the "someone is here" chime.
	write("sound-signin.wav", chime(0.7,
		note{start: 0, freq: 659.25, decay: 0.18, amp: 0.8, partials: bell},
		note{start: 0.14, freq: 1108.73, decay: 0.25, amp: 0.7, partials: bell},
	))
	// New message: two quick, bright notes, G5 then D6.
	write("sound-message.wav", chime(0.45,
		note{start: 0, freq: 783.99, decay: 0.07, amp: 0.7, partials: bell},
		note{start: 0.08, freq: 1174.66, decay: 0.12, amp: 0.7, partials: bell},
	))
	write("sound-nudge.wav", buzz(0.5))
	// Ring: an incoming call, played again every few seconds until it is
	// answered. A soft two-tone trill, A5 and C#6 struck in turn four
	// times, like the warble of a desk phone but bell-like, not a beep.
	var trill []note
	for i := range 8 {
		freq := 880.0
		if i%2 == 1 {
			freq = 1108.73
		}
		trill = append(trill, note{start: float64(i) * 0.09, freq: freq, decay: 0.07, amp: 0.7, partials: bell})
	}
	write("sound-ring.wav", chime(0.95, trill...))
}
