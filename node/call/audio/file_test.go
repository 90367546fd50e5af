package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"eserver/node/wire"
)

// wavBytes builds a WAV of 16-bit samples with the given format fields.
func wavBytes(tag uint16, channels, rate, bits int, samples []int16) []byte {
	var b bytes.Buffer
	data := make([]byte, 0, 2*len(samples))
	for _, s := range samples {
		data = binary.LittleEndian.AppendUint16(data, uint16(s))
	}
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, tag)
	binary.Write(&b, binary.LittleEndian, uint16(channels))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*channels*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(channels*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(bits))
	// A chunk the reader must skip, odd-sized (with its pad byte).
	b.WriteString("LIST")
	binary.Write(&b, binary.LittleEndian, uint32(3))
	b.Write([]byte{1, 2, 3, 0})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWAVRoundTrip(t *testing.T) {
	pcm := Tone(440, 0.5, 3)
	pcm[0], pcm[1] = -32768, 32767
	p := filepath.Join(t.TempDir(), "a.wav")
	if err := WriteWAV(p, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, pcm) {
		t.Fatalf("read back %d samples, not the %d written", len(got), len(pcm))
	}
	if st, _ := os.Stat(p); st.Size() != int64(44+2*len(pcm)) {
		t.Errorf("file of %d bytes, want %d", st.Size(), 44+2*len(pcm))
	}
}

func TestReadWAVFormats(t *testing.T) {
	stereo := []int16{100, 300, -200, -400, 32767, 32767}
	for _, tc := range []struct {
		name string
		file []byte
		want []int16
		err  string // in the error, if one is wanted
	}{
		{"mono", wavBytes(1, 1, 48000, 16, []int16{1, -2, 3}), []int16{1, -2, 3}, ""},
		{"stereo downmixed", wavBytes(1, 2, 48000, 16, stereo), []int16{200, -300, 32767}, ""},
		{"24 kHz resampled", wavBytes(1, 1, 24000, 16, []int16{0, 100, 200}), []int16{0, 50, 100, 150, 200, 200}, ""},
		{"float", wavBytes(3, 1, 48000, 32, []int16{0, 0}), nil, "format tag 0x3"},
		{"8-bit", wavBytes(1, 1, 48000, 8, []int16{0}), nil, "8 bits"},
		{"no channels", wavBytes(1, 0, 48000, 16, nil), nil, "0 channels"},
		{"rate 1000", wavBytes(1, 1, 1000, 16, nil), nil, "1000 Hz"},
		{"truncated header", wavBytes(1, 1, 48000, 16, nil)[:20], nil, "fmt chunk"},
		{"not RIFF", []byte("ID3\x03 hello this is an mp3 really"), nil, "RIFF"},
		{"empty", nil, nil, "RIFF"},
	} {
		p := writeFile(t, "x.wav", tc.file)
		got, err := ReadWAV(p)
		if tc.err != "" {
			if !errors.Is(err, ErrBadWAV) || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
				t.Errorf("%s: err = %v, want ErrBadWAV mentioning %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	// Data cut short: the samples there are.
	full := wavBytes(1, 1, 48000, 16, []int16{5, 6, 7, 8})
	got, err := ReadWAV(writeFile(t, "cut.wav", full[:len(full)-3]))
	if err != nil || !slices.Equal(got, []int16{5, 6}) {
		t.Errorf("cut data: %v, %v; want [5 6]", got, err)
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavBytes(1, 1, 48000, 16, []int16{1, 2, 3}))
	f.Add(wavBytes(1, 2, 44100, 16, []int16{1, 2, 3, 4}))
	f.Add(wavBytes(0xFFFE, 2, 8000, 16, []int16{1, 2}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := decodeWAV(bytes.NewReader(b))
		if err != nil {
			if pcm != nil {
				t.Fatal("samples with an error")
			}
			return
		}
		// Never more samples than bytes could hold, resampled up from
		// the lowest rate read (8 kHz, ×6).
		if len(pcm) > 6*len(b)/2+6 {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
	})
}

func TestFileSourcePacing(t *testing.T) {
	pcm := Tone(440, 0.5, 4)
	for _, name := range []string{"in.wav", "in.pcm"} {
		p := filepath.Join(t.TempDir(), name)
		if name == "in.wav" {
			if err := WriteWAV(p, pcm); err != nil {
				t.Fatal(err)
			}
		} else {
			raw := make([]byte, 0, 2*len(pcm))
			for _, s := range pcm {
				raw = binary.LittleEndian.AppendUint16(raw, uint16(s))
			}
			if err := os.WriteFile(p, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		src, err := OpenFileSource(p)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]int16, wire.CallFrameSamples)
		start := time.Now()
		var got []int16
		for range 10 {
			if err := src.Read(context.Background(), buf); err != nil {
				t.Fatal(err)
			}
			got = append(got, buf...)
		}
		// Ten frames are 200 ms of audio: a source paced like a
		// microphone cannot give them sooner (a loose bound: this is
		// behaviour, not speed).
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Errorf("%s: 10 frames in %v, want about 200 ms", name, el)
		}
		if !slices.Equal(got[:len(pcm)], pcm) {
			t.Errorf("%s: the first 4 frames are not the file's", name)
		}
		if Level(got[len(pcm):]) != 0 {
			t.Errorf("%s: after the file's end, not silence", name)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := src.Read(ctx, buf); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Read with a cancelled context = %v", name, err)
		}
		if err := src.Read(context.Background(), buf[:10]); !errors.Is(err, ErrFrameSize) {
			t.Errorf("%s: Read into 10 samples = %v", name, err)
		}
		src.Close()
		if err := src.Read(context.Background(), buf); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Read after Close = %v", name, err)
		}
	}
	if _, err := OpenFileSource(writeFile(t, "bad.wav", []byte("nope"))); !errors.Is(err, ErrBadWAV) {
		t.Errorf("OpenFileSource(bad) = %v, want ErrBadWAV", err)
	}
	if _, err := OpenFileSource(filepath.Join(t.TempDir(), "none.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFileSource(missing) = %v", err)
	}
}

func TestFileSink(t *testing.T) {
	pcm := Tone(1000, 0.4, 5)
	for _, name := range []string{"out.wav", "out.raw"} {
		p := filepath.Join(t.TempDir(), name)
		s, err := CreateFileSink(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames(pcm) {
			if err := s.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(pcm[:10]); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Write after Close = %v", name, err)
		}
		var got []int16
		if name == "out.wav" {
			got, err = ReadWAV(p)
		} else {
			got, err = readAudioFile(p)
		}
		if err != nil || !slices.Equal(got, pcm) {
			t.Errorf("%s: read back %d samples (%v), want the %d written", name, len(got), err, len(pcm))
		}
	}
	// A sink never closed (a crash) leaves a WAV whose sizes are 0: it
	// still reads, to the end of the file.
	p := filepath.Join(t.TempDir(), "crash.wav")
	s, err := createSink(p, false)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(pcm)
	s.w.Flush()
	got, err := ReadWAV(p)
	if err != nil || !slices.Equal(got, pcm) {
		t.Errorf("unclosed WAV: %d samples, %v", len(got), err)
	}
	s.Close()
}
