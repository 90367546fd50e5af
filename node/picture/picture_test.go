package picture

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"eserver/node/api"
)

// quadrants is a w×h picture whose left half is red and right half blue,
// so a crop's position shows in the result.
func quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.NRGBA{B: 255, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encode(t *testing.T, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAvatar(t *testing.T) {
	src := quadrants(400, 200)
	tests := []struct {
		name    string
		format  string
		crop    api.Crop
		centre  color.NRGBA // the result's centre pixel, roughly
		wantErr error
	}{
		{"centred square of a wide png", "png", api.Crop{}, color.NRGBA{}, nil},
		{"left square", "png", api.Crop{X: 0, Y: 0, Size: 200}, color.NRGBA{R: 255, A: 255}, nil},
		{"right square", "png", api.Crop{X: 200, Y: 0, Size: 200}, color.NRGBA{B: 255, A: 255}, nil},
		{"jpeg", "jpeg", api.Crop{X: 0, Y: 0, Size: 100}, color.NRGBA{R: 255, A: 255}, nil},
		{"gif", "gif", api.Crop{X: 250, Y: 50, Size: 100}, color.NRGBA{B: 255, A: 255}, nil},
		{"crop past the edge", "png", api.Crop{X: 300, Y: 0, Size: 200}, color.NRGBA{}, ErrBadCrop},
		{"negative crop", "png", api.Crop{X: -1, Y: 0, Size: 50}, color.NRGBA{}, ErrBadCrop},
		{"empty crop size", "png", api.Crop{X: 5, Y: 5}, color.NRGBA{}, ErrBadCrop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Avatar(bytes.NewReader(encode(t, tt.format, src)), tt.crop)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckAvatar(out); err != nil {
				t.Fatalf("our own picture fails CheckAvatar: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != api.AvatarSize || b.Dy() != api.AvatarSize {
				t.Fatalf("size %v, want %d square", b, api.AvatarSize)
			}
			if len(out) > api.MaxAvatarBytes {
				t.Fatalf("%d bytes, over MaxAvatarBytes", len(out))
			}
			if tt.centre == (color.NRGBA{}) {
				// The centred square spans both halves: red left, blue right.
				l := color.NRGBAModel.Convert(img.At(5, 48)).(color.NRGBA)
				r := color.NRGBAModel.Convert(img.At(90, 48)).(color.NRGBA)
				if l.R < 200 || r.B < 200 {
					t.Fatalf("centred crop: left %v right %v", l, r)
				}
				return
			}
			got := color.NRGBAModel.Convert(img.At(48, 48)).(color.NRGBA)
			if diff(got.R, tt.centre.R) > 40 || diff(got.B, tt.centre.B) > 40 {
				t.Fatalf("centre %v, want about %v", got, tt.centre)
			}
		})
	}
}

func diff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestAvatarRefusesBadInput(t *testing.T) {
	// A PNG header claiming 100000×100000 pixels: refused from its header,
	// before anything is allocated for the pixels.
	huge := encode(t, "png", image.NewGray(image.Rect(0, 0, 1, 1)))
	binaryPutSize(huge, 100000, 100000)
	for name, data := range map[string][]byte{
		"text":      []byte("hello, not an image"),
		"empty":     nil,
		"truncated": encode(t, "png", quadrants(50, 50))[:60],
		"huge":      huge,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Avatar(bytes.NewReader(data), api.Crop{})
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrNotImage or ErrTooLarge", err)
			}
		})
	}
}

// binaryPutSize rewrites a PNG's IHDR width and height (its CRC then no
// longer matches, which DecodeConfig does not check: the size alone must
// stop the decode).
func binaryPutSize(p []byte, w, h uint32) {
	put := func(off int, v uint32) {
		p[off], p[off+1], p[off+2], p[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, w)
	put(20, h)
}

func TestCheckAvatar(t *testing.T) {
	ok := encode(t, "png", quadrants(96, 96))
	big := encode(t, "png", quadrants(MaxAvatarSide+1, 10))
	jpg := encode(t, "jpeg", quadrants(96, 96))
	for name, tc := range map[string]struct {
		data []byte
		err  error
	}{
		"ok":        {ok, nil},
		"too wide":  {big, ErrTooLarge},
		"jpeg":      {jpg, ErrNotImage},
		"truncated": {ok[:len(ok)-20], ErrNotImage},
		"garbage":   {[]byte{0x89, 'P', 'N', 'G'}, ErrNotImage},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckAvatar(tc.data)
			if (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestThumbnail(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		w, h int
		err  error
	}{
		{"wide photo", write("wide.jpg", encode(t, "jpeg", quadrants(1600, 800))), 96, 48, nil},
		{"tall png", write("tall.png", encode(t, "png", quadrants(300, 900))), 32, 96, nil},
		{"small gif is not enlarged", write("small.gif", encode(t, "gif", quadrants(40, 20))), 40, 20, nil},
		{"not an image", write("notes.txt", []byte("just words")), 0, 0, ErrNotImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Thumbnail(tt.path)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckThumbnail(out); err != nil {
				t.Fatalf("our own preview fails CheckThumbnail: %v", err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != tt.w || cfg.Height != tt.h {
				t.Fatalf("preview %d×%d, want %d×%d", cfg.Width, cfg.Height, tt.w, tt.h)
			}
		})
	}
}

func TestCheckThumbnail(t *testing.T) {
	if err := CheckThumbnail(encode(t, "png", quadrants(ThumbSize+1, 4))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized preview: %v", err)
	}
	if err := CheckThumbnail(bytes.Repeat([]byte{1}, MaxThumb+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized bytes: %v", err)
	}
	if err := CheckThumbnail([]byte("nope")); !errors.Is(err, ErrNotImage) {
		t.Fatalf("garbage: %v", err)
	}
}

// FuzzCheckAvatar: contacts' pictures and previews are untrusted bytes;
// checking them never panics, and what passes decodes within the limits.
func FuzzCheckAvatar(f *testing.F) {
	var b bytes.Buffer
	png.Encode(&b, quadrants(8, 8))
	f.Add(b.Bytes())
	b.Reset()
	jpeg.Encode(&b, quadrants(8, 8), nil)
	f.Add(b.Bytes())
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if CheckAvatar(data) == nil {
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil || img.Bounds().Dx() > MaxAvatarSide || img.Bounds().Dy() > MaxAvatarSide {
				t.Fatalf("accepted a picture that does not decode within limits: %v", err)
			}
		}
		if CheckThumbnail(data) == nil && len(data) > MaxThumb {
			t.Fatal("accepted an oversized preview")
		}
	})
}
