package assets

import (
	"bytes"
	"image/png"
	"testing"
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
		{"blocked", StatusBlocked, 32},
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
