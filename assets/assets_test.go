package assets

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"testing"
	"time"
)

func TestPNGs(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		size int
	}{
		{"icon", Icon, 256},
		{"avatar", Avatar, 96},
		{"online", StatusOnline, 32},
		{"busy", StatusBusy, 32},
		{"away", StatusAway, 32},
		{"offline", StatusOffline, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := png.Decode(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tt.size || b.Dy() != tt.size {
				t.Errorf("size = %v, want %d×%d", b.Size(), tt.size, tt.size)
			}
			// The corners are transparent for the round glyphs and the icon.
			if tt.name != "avatar" {
				if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
					t.Errorf("corner alpha = %d, want 0", a)
				}
			}
		})
	}
}

// TestWAVs checks the sounds are what players expect (PCM WAV, 16-bit mono)
// and short enough never to annoy: a notification sound longer than a
// second would overlap the next one.
func TestWAVs(t *testing.T) {
	for name, data := range map[string][]byte{"signin": SoundSignIn, "message": SoundMessage, "nudge": SoundNudge} {
		t.Run(name, func(t *testing.T) {
			if len(data) < 44 || string(data[0:4]) != "RIFF" || string(data[8:16]) != "WAVEfmt " || string(data[36:40]) != "data" {
				t.Fatalf("not a canonical WAV header: % x", data[:min(len(data), 44)])
			}
			le := binary.LittleEndian
			format, channels, rate, bits := le.Uint16(data[20:]), le.Uint16(data[22:]), le.Uint32(data[24:]), le.Uint16(data[34:])
			if format != 1 || channels != 1 || bits != 16 {
				t.Errorf("format %d, %d channels, %d bits; want PCM mono 16-bit", format, channels, bits)
			}
			size := le.Uint32(data[40:])
			if int(size) != len(data)-44 {
				t.Errorf("data chunk says %d bytes, file has %d", size, len(data)-44)
			}
			d := time.Duration(size/2) * time.Second / time.Duration(rate)
			if d < 100*time.Millisecond || d > time.Second {
				t.Errorf("lasts %v, want between 0.1 s and 1 s", d)
			}
			// Not silence: the generator normalises to about -3 dB.
			peak := 0
			for i := 44; i+1 < len(data); i += 2 {
				v := int(int16(le.Uint16(data[i:])))
				peak = max(peak, v, -v)
			}
			if peak < 16000 {
				t.Errorf("peak %d, want a normalised sound", peak)
			}
		})
	}
}
