//go:build ignore

// Command gen draws the PNGs embedded by package assets. Run it from the
// assets directory when a picture should change:
//
//	cd assets && go run gen/main.go
//
// Pictures are drawn from shapes (not shipped as third-party art), with 4×4
// supersampling per pixel for smooth edges.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

// shape reports how much of the unit point (x, y) in [0,1]² it covers, and its colour there.
type shape func(x, y float64) (color.NRGBA, bool)

func circle(cx, cy, r float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		return c, (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
	}
}

func ellipse(cx, cy, rx, ry float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		return c, dx*dx+dy*dy <= 1
	}
}

// radial is a circle shaded from a light centre (top left) to its base colour.
func radial(cx, cy, r float64, light, base color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if (x-cx)*(x-cx)+(y-cy)*(y-cy) > r*r {
			return color.NRGBA{}, false
		}
		hx, hy := cx-r*0.35, cy-r*0.35
		t := math.Min(1, math.Hypot(x-hx, y-hy)/(r*1.3))
		return mix(light, base, t), true
	}
}

// capsule is the segment from (x0, y0) to (x1, y1) drawn r thick on each side.
func capsule(x0, y0, x1, y1, r float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		dx, dy := x1-x0, y1-y0
		t := math.Max(0, math.Min(1, ((x-x0)*dx+(y-y0)*dy)/(dx*dx+dy*dy)))
		return c, math.Hypot(x-(x0+t*dx), y-(y0+t*dy)) <= r
	}
}

// roundRect is a rounded rectangle with a vertical gradient from top to bottom.
func roundRect(x0, y0, x1, y1, rad float64, top, bottom color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if x < x0 || x > x1 || y < y0 || y > y1 {
			return color.NRGBA{}, false
		}
		cx := math.Max(x0+rad, math.Min(x, x1-rad))
		cy := math.Max(y0+rad, math.Min(y, y1-rad))
		if (x-cx)*(x-cx)+(y-cy)*(y-cy) > rad*rad {
			return color.NRGBA{}, false
		}
		return mix(top, bottom, (y-y0)/(y1-y0)), true
	}
}

// clip keeps s only inside within.
func clip(s, within shape) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if _, ok := within(x, y); !ok {
			return color.NRGBA{}, false
		}
		return s(x, y)
	}
}

func mix(a, b color.NRGBA, t float64) color.NRGBA {
	l := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + (float64(q)-float64(p))*t)) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}

// render paints shapes in order (later ones on top) into a size×size image.
func render(size int, shapes ...shape) *image.NRGBA {
	const ss = 4
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					// Composite "over" per sample, premultiplied.
					var sr, sg, sb, sa float64
					for _, s := range shapes {
						c, ok := s(x, y)
						if !ok {
							continue
						}
						ca := float64(c.A) / 255
						sr = float64(c.R)*ca + sr*(1-ca)
						sg = float64(c.G)*ca + sg*(1-ca)
						sb = float64(c.B)*ca + sb*(1-ca)
						sa = ca + sa*(1-ca)
					}
					r, g, b, a = r+sr, g+sg, b+sb, a+sa
				}
			}
			n := float64(ss * ss)
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(a / n * 255)),
			})
		}
	}
	return img
}

func rgb(r, g, b uint8) color.NRGBA { return color.NRGBA{r, g, b, 255} }

// glyph is a status bullet: a dark ring around a shaded ball, MSN style.
func glyph(light, base, ring color.NRGBA) *image.NRGBA {
	return render(32,
		circle(0.5, 0.5, 0.46, ring),
		radial(0.5, 0.5, 0.38, light, base),
		ellipse(0.42, 0.32, 0.16, 0.09, color.NRGBA{255, 255, 255, 150}),
	)
}

// buddy draws one MSN-like figure (head and shoulders) at (cx, cy) of scale s.
func buddy(cx, cy, s float64, light, base color.NRGBA) []shape {
	return []shape{
		radial(cx, cy-0.17*s, 0.15*s, light, base),
		clip(radial(cx, cy+0.28*s, 0.28*s, light, base), func(x, y float64) (color.NRGBA, bool) {
			return color.NRGBA{}, y <= cy+0.3*s
		}),
	}
}

func write(name string, img image.Image) {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	write("status-online.png", glyph(rgb(0xb8, 0xf5, 0x8a), rgb(0x3c, 0xb3, 0x1c), rgb(0x1f, 0x6e, 0x0c)))
	write("status-busy.png", glyph(rgb(0xff, 0xa8, 0x98), rgb(0xd9, 0x24, 0x1c), rgb(0x86, 0x10, 0x0a)))
	write("status-away.png", glyph(rgb(0xff, 0xe0, 0x90), rgb(0xf0, 0x96, 0x12), rgb(0x9a, 0x5a, 0x05)))
	write("status-offline.png", glyph(rgb(0xf0, 0xf0, 0xf0), rgb(0xa6, 0xa6, 0xa6), rgb(0x6a, 0x6a, 0x6a)))
	// Blocked: the grey bullet struck through with a red "no entry" ring, as
	// MSN marked a blocked contact.
	red := rgb(0xd9, 0x24, 0x1c)
	write("status-blocked.png", render(32,
		circle(0.5, 0.5, 0.46, rgb(0x6a, 0x6a, 0x6a)),
		radial(0.5, 0.5, 0.38, rgb(0xf0, 0xf0, 0xf0), rgb(0xa6, 0xa6, 0xa6)),
		clip(circle(0.5, 0.5, 0.48, red), func(x, y float64) (color.NRGBA, bool) {
			return color.NRGBA{}, math.Hypot(x-0.5, y-0.5) >= 0.36
		}),
		capsule(0.25, 0.25, 0.75, 0.75, 0.065, red),
	))

	// Default display picture: a buddy on a sky gradient in a rounded frame.
	frame := roundRect(0.02, 0.02, 0.98, 0.98, 0.12, rgb(0xe9, 0xf4, 0xff), rgb(0x9c, 0xcb, 0xf2))
	inner := roundRect(0.06, 0.06, 0.94, 0.94, 0.09, rgb(0xff, 0xff, 0xff), rgb(0xcf, 0xe6, 0xfa))
	avatar := []shape{
		roundRect(0, 0, 1, 1, 0.14, rgb(0x6f, 0xa8, 0xdc), rgb(0x3b, 0x78, 0xb5)),
		frame, inner,
	}
	for _, s := range buddy(0.5, 0.52, 1.25, rgb(0x9e, 0xe2, 0x6f), rgb(0x3a, 0x9c, 0x22)) {
		avatar = append(avatar, clip(s, inner))
	}
	write("avatar.png", render(96, avatar...))

	// App icon: two buddies, green behind and blue in front.
	var icon []shape
	icon = append(icon, buddy(0.38, 0.42, 1.0, rgb(0xb6, 0xf2, 0x8c), rgb(0x3c, 0xa8, 0x1e))...)
	icon = append(icon, buddy(0.60, 0.55, 1.05, rgb(0x9c, 0xd4, 0xff), rgb(0x1c, 0x6c, 0xd0))...)
	write("icon.png", render(256, icon...))
}
