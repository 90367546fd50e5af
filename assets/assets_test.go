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
		{"blocked", StatusBlocked, 32},
		{"nudge", Nudge, 32},
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

// TestEmoticons: every emoticon has a picture of the right size, every code
// the chat must understand maps to one, and no code is claimed twice.
func TestEmoticons(t *testing.T) {
	seen := map[string]string{}
	files, err := emoticonFiles.ReadDir("emoticons")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(Emoticons) {
		t.Errorf("%d pictures for %d emoticons: the generator and the table disagree", len(files), len(Emoticons))
	}
	for _, e := range Emoticons {
		img, err := png.Decode(bytes.NewReader(e.PNG))
		if err != nil {
			t.Fatalf("%s: decoding: %v", e.Name, err)
		}
		if b := img.Bounds(); b.Dx() != EmoticonSize || b.Dy() != EmoticonSize {
			t.Errorf("%s: size %v", e.Name, b.Size())
		}
		if e.Title == "" || len(e.Codes) == 0 {
			t.Errorf("%s: no title or codes", e.Name)
		}
		for _, c := range e.Codes {
			if other, dup := seen[c]; dup {
				t.Errorf("code %q claimed by %s and %s", c, other, e.Name)
			}
			seen[c] = e.Name
		}
	}
	for code, want := range map[string]string{
		":)": "smile", ":-)": "smile", ":D": "grin", ":-D": "grin", ";)": "wink", ":(": "sad", ":P": "tongue",
		":O": "surprised", ":@": "angry", ":S": "confused", ":$": "embarrassed", ":|": "disappointed",
		":'(": "crying", "(H)": "hot", "(A)": "angel", "(Y)": "thumbs-up", "(y)": "thumbs-up",
		"(N)": "thumbs-down", "(n)": "thumbs-down", "(L)": "heart", "<3": "heart", "(U)": "broken-heart",
		"(K)": "kiss", "(F)": "rose", "(*)": "star", "(^)": "cake", "(C)": "coffee", "(B)": "beer",
		"(6)": "devil", "(8)": "note",
	} {
		e, ok := EmoticonByCode(code)
		if !ok || e.Name != want {
			t.Errorf("EmoticonByCode(%q) = %q, %v; want %s", code, e.Name, ok, want)
		}
	}
	if _, ok := EmoticonByCode("(Q)"); ok {
		t.Error("an unknown code maps to an emoticon")
	}
}

// TestPictures: every gallery picture is a full, opaque 96×96 PNG with a
// title, the generator drew exactly the table's pictures, and no two are
// the same file.
func TestPictures(t *testing.T) {
	files, err := pictureFiles.ReadDir("pictures")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(Pictures) || len(Pictures) != 8 {
		t.Errorf("%d files for %d pictures, want 8", len(files), len(Pictures))
	}
	seen := map[string]string{}
	for _, p := range Pictures {
		img, err := png.Decode(bytes.NewReader(p.PNG))
		if err != nil {
			t.Fatalf("%s: decoding: %v", p.Name, err)
		}
		if b := img.Bounds(); b.Dx() != 96 || b.Dy() != 96 {
			t.Errorf("%s: size %v, want 96×96", p.Name, b.Size())
		}
		// A full square: the corners are painted, not cut round.
		for _, c := range [][2]int{{0, 0}, {95, 0}, {0, 95}, {95, 95}} {
			if _, _, _, a := img.At(c[0], c[1]).RGBA(); a != 0xffff {
				t.Errorf("%s: pixel %v has alpha %d", p.Name, c, a)
			}
		}
		if p.Title == "" {
			t.Errorf("%s: no title", p.Name)
		}
		if other, dup := seen[string(p.PNG)]; dup {
			t.Errorf("%s and %s are the same picture", other, p.Name)
		}
		seen[string(p.PNG)] = p.Name
	}
}

// TestWAVs checks the sounds are what players expect (PCM WAV, 16-bit mono)
// and short enough never to annoy: a notification sound longer than a
// second would overlap the next one.
func TestWAVs(t *testing.T) {
	for name, data := range map[string][]byte{"signin": SoundSignIn, "message": SoundMessage, "nudge": SoundNudge, "ring": SoundRing} {
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
