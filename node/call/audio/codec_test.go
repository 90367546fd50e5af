package audio

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"eserver/node/wire"
)

// frames splits pcm into 20 ms frames.
func frames(pcm []int16) [][]int16 {
	var out [][]int16
	for i := 0; i+wire.CallFrameSamples <= len(pcm); i += wire.CallFrameSamples {
		out = append(out, pcm[i:i+wire.CallFrameSamples])
	}
	return out
}

// encodeAll encodes every frame of pcm into its own packet.
func encodeAll(t testing.TB, pcm []int16) [][]byte {
	t.Helper()
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var packets [][]byte
	for _, f := range frames(pcm) {
		p, err := enc.Encode(f, make([]byte, 0, wire.MaxCallPacket))
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 || len(p) > wire.MaxCallPacket {
			t.Fatalf("a packet of %d bytes", len(p))
		}
		packets = append(packets, p)
	}
	return packets
}

// correlation is the normalised cross-correlation of a and b at the best
// lag within ±maxLag: 1 for the same waveform.
func correlation(a, b []int16, maxLag int) float64 {
	best := -1.0
	for lag := -maxLag; lag <= maxLag; lag++ {
		var ab, aa, bb float64
		for i := range a {
			j := i + lag
			if j < 0 || j >= len(b) {
				continue
			}
			x, y := float64(a[i]), float64(b[j])
			ab += x * y
			aa += x * x
			bb += y * y
		}
		if aa > 0 && bb > 0 {
			best = max(best, ab/math.Sqrt(aa*bb))
		}
	}
	return best
}

func TestCodecToneSurvives(t *testing.T) {
	for _, tc := range []struct {
		freq, amp float64
	}{
		{440, 0.5},
		{200, 0.3},
		{1000, 0.5},
		{3000, 0.2},
		{440, 0.05},
	} {
		pcm := Tone(tc.freq, tc.amp, 50)
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int16, wire.CallFrameSamples)
		good, total := 0, 0
		for i, p := range encodeAll(t, pcm) {
			if err := dec.Decode(p, out); err != nil {
				t.Fatal(err)
			}
			if i < 2 { // the codec's start-up
				continue
			}
			total++
			if f := DominantFrequency(out, wire.CallSampleRate); math.Abs(f-tc.freq) <= 3 {
				good++
			}
		}
		if good*100 < total*95 {
			t.Errorf("%v Hz at %v: %d of %d decoded frames within 3 Hz", tc.freq, tc.amp, good, total)
		}
	}
}

func TestCodecBadInput(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, wire.CallFrameSamples)
	for _, tc := range []struct {
		name   string
		packet []byte
		want   error
	}{
		{"empty", nil, ErrBadPacket},
		{"too long", make([]byte, wire.MaxCallPacket+1), ErrBadPacket},
		// Code 3 (several frames) with a frame count of 0.
		{"zero frames", []byte{0x03, 0x00}, ErrBadPacket},
		// Code 3 with 63 frames of 20 ms: more than 120 ms.
		{"too many frames", []byte{0xFF, 0xFF, 1, 2, 3}, ErrBadPacket},
		// A well-formed packet of 10 ms (TOC config 8, SILK wideband):
		// Opus, but not a call's frame.
		{"10 ms", []byte{0x08 << 3, 0xAA, 0xBB}, ErrFrameSize},
	} {
		err := dec.Decode(tc.packet, pcm)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := dec.Decode([]byte{1, 2, 3}, make([]int16, 100)); !errors.Is(err, ErrFrameSize) {
		t.Errorf("Decode into 100 samples = %v, want ErrFrameSize", err)
	}
	if _, err := enc.Encode(make([]int16, 100), make([]byte, 0, wire.MaxCallPacket)); !errors.Is(err, ErrFrameSize) {
		t.Errorf("Encode of 100 samples = %v, want ErrFrameSize", err)
	}
	if err := enc.SetPacketLoss(101); err == nil {
		t.Error("SetPacketLoss(101) accepted")
	}
	if err := enc.SetPacketLoss(20); err != nil {
		t.Error(err)
	}
	// Random bytes may or may not be valid Opus; they must never panic,
	// and the decoder must still decode a real packet afterwards.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := make([]byte, 1+rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		_ = dec.Decode(b, pcm)
		_ = dec.DecodeFEC(b, pcm)
	}
	p := encodeAll(t, Tone(440, 0.5, 3))
	for _, pk := range p {
		if err := dec.Decode(pk, pcm); err != nil {
			t.Fatalf("after garbage: %v", err)
		}
	}
}

// TestCodecLoss drops one frame of a speech-like signal and fills it three
// ways: FEC from the next packet, concealment, and silence as the floor.
func TestCodecLoss(t *testing.T) {
	// A tone whose pitch and loudness move, so concealment (which
	// continues the last frame) cannot simply repeat it.
	const n = 40
	pcm := make([]int16, n*wire.CallFrameSamples)
	phase := 0.0
	for i := range pcm {
		t := float64(i) / wire.CallSampleRate
		f := 300 + 150*math.Sin(2*math.Pi*2*t)
		phase += 2 * math.Pi * f / wire.CallSampleRate
		pcm[i] = int16(9000 * (1 + 0.5*math.Sin(2*math.Pi*3*t)) * math.Sin(phase))
	}
	packets := encodeAll(t, pcm)
	orig := frames(pcm)
	const lost = 25
	decodeWith := func(fill func(d *Decoder, out []int16) error) []int16 {
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int16, wire.CallFrameSamples)
		var got []int16
		for i, p := range packets[:lost+2] {
			switch i {
			case lost:
				if err := fill(dec, out); err != nil {
					t.Fatal(err)
				}
				got = append([]int16(nil), out...)
			default:
				if err := dec.Decode(p, out); err != nil {
					t.Fatal(err)
				}
			}
		}
		return got
	}
	fec := decodeWith(func(d *Decoder, out []int16) error { return d.DecodeFEC(packets[lost+1], out) })
	plc := decodeWith(func(d *Decoder, out []int16) error { return d.Conceal(out) })
	// The decoder's output lags the input by its look-ahead; allow 5 ms.
	cFEC := correlation(orig[lost], fec, 240)
	cPLC := correlation(orig[lost], plc, 240)
	t.Logf("lost frame recovered: FEC correlation %.3f, concealment %.3f; Level FEC %.3f PLC %.3f orig %.3f",
		cFEC, cPLC, Level(fec), Level(plc), Level(orig[lost]))
	// Measured here: FEC 0.98, concealment 0.61.
	if cFEC < 0.9 || cFEC <= cPLC {
		t.Errorf("FEC recovered a frame with correlation %.3f to the original (concealment %.3f), want ≥ 0.9 and better", cFEC, cPLC)
	}
	if Level(plc) == 0 {
		t.Error("concealment gave silence")
	}
	if err := (&Decoder{}).Conceal(make([]int16, 5)); !errors.Is(err, ErrFrameSize) {
		t.Errorf("Conceal into 5 samples = %v, want ErrFrameSize", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range encodeAll(f, Tone(440, 0.5, 3)) {
		f.Add(p)
	}
	f.Add([]byte{0xFF, 0xFF})
	f.Add([]byte{0x03, 0x00})
	dec, err := NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	pcm := make([]int16, wire.CallFrameSamples)
	f.Fuzz(func(t *testing.T, b []byte) {
		err := dec.Decode(b, pcm)
		if err != nil && !errors.Is(err, ErrBadPacket) && !errors.Is(err, ErrFrameSize) {
			t.Fatalf("Decode error %v wraps neither sentinel", err)
		}
		_ = dec.DecodeFEC(b, pcm)
	})
}

func BenchmarkOpus(b *testing.B) {
	pcm := frames(Tone(440, 0.5, 50))
	enc, err := NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, wire.MaxCallPacket)
	out := make([]int16, wire.CallFrameSamples)
	bytes := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p, err := enc.Encode(pcm[i%len(pcm)], buf)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(p)
		if err := dec.Decode(p, out); err != nil {
			b.Fatal(err)
		}
	}
	perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perFrame, "ns/frame")
	// One call encodes and decodes a frame each 20 ms.
	b.ReportMetric(100*perFrame/float64(wire.CallFrameDuration.Nanoseconds()), "core%/call")
	b.ReportMetric(float64(bytes)*8/float64(b.N)/wire.CallFrameDuration.Seconds()/1000, "kbit/s")
}
