// Package picture turns images into what the messenger sends: square
// display pictures and small previews of image files. It decodes PNG, JPEG
// and GIF, and reads an image's dimensions before decoding it, so a small
// file that claims a huge picture is refused without allocating it.
package picture

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders registered for image.Decode
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/draw"

	"eserver/node/api"
)

// Limits. MaxPixels bounds what is decoded at all (a 64-megapixel photo
// decodes into 256 MiB); MaxFile bounds the file read to get there.
const (
	MaxPixels = 64 << 20
	MaxFile   = 64 << 20
	// ThumbSize is the longest side of an image file's preview and
	// MaxThumb its largest encoding: the preview travels inside the offer.
	ThumbSize = 96
	MaxThumb  = 16 << 10
	// MaxAvatarSide is the largest display picture accepted from a
	// contact (ours are api.AvatarSize; older or other clients may differ).
	MaxAvatarSide = 512
)

// Errors callers branch on.
var (
	ErrNotImage = errors.New("not a PNG, JPEG or GIF image")
	ErrTooLarge = errors.New("image too large")
	ErrBadCrop  = errors.New("crop outside the image")
)

// Decode reads an image of at most MaxPixels from r, checking its
// dimensions before decoding it. The picker decodes with it too, so what the
// user can choose is what SetAvatar accepts.
func Decode(r io.Reader) (image.Image, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, MaxFile+1)); err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	if buf.Len() > MaxFile {
		return nil, fmt.Errorf("%w: file larger than %d MiB", ErrTooLarge, MaxFile>>20)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%w: %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	return img, nil
}

// Avatar makes a display picture from the image in r: the square crop of
// it, scaled to api.AvatarSize, as PNG.
func Avatar(r io.Reader, crop api.Crop) ([]byte, error) {
	img, err := Decode(r)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if crop == (api.Crop{}) {
		side := min(b.Dx(), b.Dy())
		crop = api.Crop{X: (b.Dx() - side) / 2, Y: (b.Dy() - side) / 2, Size: side}
	}
	src := image.Rect(b.Min.X+crop.X, b.Min.Y+crop.Y, b.Min.X+crop.X+crop.Size, b.Min.Y+crop.Y+crop.Size)
	if crop.X < 0 || crop.Y < 0 || crop.Size <= 0 || !src.In(b) {
		return nil, fmt.Errorf("%w: %d,%d size %d in %d×%d", ErrBadCrop, crop.X, crop.Y, crop.Size, b.Dx(), b.Dy())
	}
	dst := image.NewNRGBA(image.Rect(0, 0, api.AvatarSize, api.AvatarSize))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, src, draw.Src, nil)
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, dst); err != nil {
		return nil, fmt.Errorf("encoding display picture: %w", err)
	}
	return out.Bytes(), nil
}

// AvatarFile is Avatar of the file at path.
func AvatarFile(path string, crop api.Crop) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Avatar(f, crop)
}

// CheckAvatar reports whether data is a display picture we show: a PNG of
// at most MaxAvatarSide pixels a side that decodes completely. Contacts'
// pictures pass it before they enter the cache.
func CheckAvatar(data []byte) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxAvatarSide || cfg.Height > MaxAvatarSide {
		return fmt.Errorf("%w: display picture of %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	return nil
}

// Thumbnail returns a JPEG preview of the image file at path, at most
// ThumbSize pixels on its longest side and MaxThumb bytes, or ErrNotImage
// when the file is not an image it can read.
func Thumbnail(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	w, h := ThumbSize, ThumbSize
	if b.Dx() >= b.Dy() {
		h = max(1, b.Dy()*ThumbSize/b.Dx())
	} else {
		w = max(1, b.Dx()*ThumbSize/b.Dy())
	}
	if b.Dx() < w || b.Dy() < h { // never enlarge
		w, h = b.Dx(), b.Dy()
	}
	// JPEG has no transparency: transparent parts become white, as a
	// file manager shows them.
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
	for q := 85; q >= 40; q -= 15 {
		var out bytes.Buffer
		if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("encoding preview: %w", err)
		}
		if out.Len() <= MaxThumb {
			return out.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("%w: preview larger than %d bytes", ErrTooLarge, MaxThumb)
}

// CheckThumbnail reports whether data is a preview we show: a JPEG or
// PNG of at most ThumbSize pixels a side and MaxThumb bytes.
func CheckThumbnail(data []byte) error {
	if len(data) > MaxThumb {
		return fmt.Errorf("%w: preview of %d bytes", ErrTooLarge, len(data))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > ThumbSize || cfg.Height > ThumbSize {
		return fmt.Errorf("%w: preview of %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	return nil
}
