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

// pt is a point in unit coordinates.
type pt struct{ x, y float64 }

// segDist is the distance from p to the segment ab.
func segDist(p, a, b pt) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	l := dx*dx + dy*dy
	t := 0.0
	if l > 0 {
		t = math.Max(0, math.Min(1, ((p.x-a.x)*dx+(p.y-a.y)*dy)/l))
	}
	return math.Hypot(p.x-(a.x+t*dx), p.y-(a.y+t*dy))
}

// stroke is a line of width w along the polyline pts, with round ends.
func stroke(w float64, c color.NRGBA, pts ...pt) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		p := pt{x, y}
		if len(pts) == 1 {
			return c, math.Hypot(x-pts[0].x, y-pts[0].y) <= w/2
		}
		for i := 1; i < len(pts); i++ {
			if segDist(p, pts[i-1], pts[i]) <= w/2 {
				return c, true
			}
		}
		return c, false
	}
}

// curve samples the quadratic Bézier curve a→b with control point ctl.
func curve(a, ctl, b pt) []pt {
	const n = 24
	out := make([]pt, 0, n+1)
	for i := 0; i <= n; i++ {
		t := float64(i) / n
		u := 1 - t
		out = append(out, pt{u*u*a.x + 2*u*t*ctl.x + t*t*b.x, u*u*a.y + 2*u*t*ctl.y + t*t*b.y})
	}
	return out
}

// polygon fills the polygon pts (even-odd rule) with a vertical gradient.
func polygon(top, bottom color.NRGBA, pts ...pt) shape {
	y0, y1 := pts[0].y, pts[0].y
	for _, p := range pts {
		y0, y1 = math.Min(y0, p.y), math.Max(y1, p.y)
	}
	return func(x, y float64) (color.NRGBA, bool) {
		in := false
		for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
			a, b := pts[i], pts[j]
			if (a.y > y) != (b.y > y) && x < (b.x-a.x)*(y-a.y)/(b.y-a.y)+a.x {
				in = !in
			}
		}
		return mix(top, bottom, (y-y0)/math.Max(1e-9, y1-y0)), in
	}
}

// rotEllipse is an ellipse turned by angle (radians, clockwise on screen).
func rotEllipse(cx, cy, rx, ry, angle float64, c color.NRGBA) shape {
	sin, cos := math.Sincos(angle)
	return func(x, y float64) (color.NRGBA, bool) {
		dx, dy := x-cx, y-cy
		u, v := (dx*cos+dy*sin)/rx, (-dx*sin+dy*cos)/ry
		return c, u*u+v*v <= 1
	}
}

// ring is the outline of a circle: radius r to its centre line, width w.
func ring(cx, cy, r, w float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		return c, math.Abs(math.Hypot(x-cx, y-cy)-r) <= w/2
	}
}

// heart is the classic implicit heart (x²+y²-1)³ = x²y³, centred at
// (cx, cy) with half-width s, shaded from light at the top left to base.
func heart(cx, cy, s float64, light, base color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		u, v := (x-cx)/s*1.25, -(y-cy)/s*1.25+0.1
		q := u*u + v*v - 1
		if q*q*q-u*u*v*v*v > 0 {
			return color.NRGBA{}, false
		}
		t := math.Min(1, math.Hypot(x-(cx-s*0.45), y-(cy-s*0.45))/(s*1.7))
		return mix(light, base, t), true
	}
}

// moved shifts s by (dx, dy); flipped mirrors it top to bottom.
func moved(s shape, dx, dy float64) shape {
	return func(x, y float64) (color.NRGBA, bool) { return s(x-dx, y-dy) }
}

func flipped(shapes []shape) []shape {
	out := make([]shape, len(shapes))
	for i, s := range shapes {
		out[i] = func(x, y float64) (color.NRGBA, bool) { return s(x, 1-y) }
	}
	return out
}

// outside keeps s only where cut is not.
func outside(s, cut shape) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if _, ok := cut(x, y); ok {
			return color.NRGBA{}, false
		}
		return s(x, y)
	}
}

func alpha(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

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

// nudgeIcon is the chat toolbar's nudge button: a small window between
// motion marks, as if it shook.
func nudgeIcon() *image.NRGBA {
	edge, bar, barLight := rgb(0x1c, 0x4c, 0x9a), rgb(0x2a, 0x6c, 0xd0), rgb(0x80, 0xc0, 0xff)
	motion := rgb(0xf0, 0x90, 0x10)
	return render(32,
		roundRect(0.2, 0.2, 0.8, 0.8, 0.08, edge, edge),
		roundRect(0.24, 0.24, 0.76, 0.76, 0.05, white, rgb(0xdc, 0xe8, 0xf6)),
		roundRect(0.24, 0.24, 0.76, 0.38, 0.05, barLight, bar),
		stroke(0.06, motion, curve(pt{0.12, 0.3}, pt{0.04, 0.5}, pt{0.12, 0.7})...),
		stroke(0.06, motion, curve(pt{0.88, 0.3}, pt{0.96, 0.5}, pt{0.88, 0.7})...),
	)
}

func main() {
	writeEmoticons()
	writePictures()
	write("nudge.png", nudgeIcon())

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

// Emoticons: MSN's set, drawn at EmoticonSize (twice the size they are
// shown at, so they stay crisp on high-density screens).

const emoticonSize = 40

// Colours shared by the faces: a warm yellow ball with an amber rim, as
// MSN's smileys had, and dark brown features rather than black.
var (
	faceLight = rgb(0xff, 0xf8, 0xb8)
	faceBase  = rgb(0xfb, 0xc8, 0x12)
	faceRim   = rgb(0xb0, 0x6c, 0x00)
	feature   = rgb(0x4a, 0x26, 0x00)
	mouthDark = rgb(0x6a, 0x1c, 0x08)
	tongueRed = rgb(0xf0, 0x58, 0x50)
	white     = rgb(0xff, 0xff, 0xff)
)

// face is a smiley's ball: rim, shaded fill and a soft highlight. The
// default is centred; angel and devil shift it to make room.
func faceAt(cx, cy, r float64, light, base, rim color.NRGBA) []shape {
	return []shape{
		circle(cx, cy, r, rim),
		radial(cx, cy, r-0.045, light, base),
		ellipse(cx-r*0.22, cy-r*0.55, r*0.42, r*0.2, alpha(white, 120)),
	}
}

func face() []shape { return faceAt(0.5, 0.5, 0.47, faceLight, faceBase, faceRim) }

// eyes are two upright ovals with a glint.
func eyes(y, rx, ry float64) []shape {
	return []shape{
		ellipse(0.355, y, rx, ry, feature), ellipse(0.645, y, rx, ry, feature),
		circle(0.355+rx*0.3, y-ry*0.45, rx*0.35, alpha(white, 200)), circle(0.645+rx*0.3, y-ry*0.45, rx*0.35, alpha(white, 200)),
	}
}

func normalEyes() []shape { return eyes(0.37, 0.06, 0.095) }

func smileMouth() shape {
	return stroke(0.065, feature, curve(pt{0.27, 0.6}, pt{0.5, 0.86}, pt{0.73, 0.6})...)
}

func join(parts ...[]shape) []shape {
	var out []shape
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// emoticons maps each file name (without .png) to its drawing. The names
// match package assets' table.
var emoticons = map[string]func() []shape{
	"smile": func() []shape { return join(face(), normalEyes(), []shape{smileMouth()}) },
	"grin": func() []shape {
		open := func(x, y float64) (color.NRGBA, bool) {
			_, in := ellipse(0.5, 0.57, 0.27, 0.27, mouthDark)(x, y)
			return mouthDark, in && y >= 0.57
		}
		return join(face(), normalEyes(), []shape{
			open,
			clip(rect(0, 0.55, 1, 0.63, white), open),
			clip(ellipse(0.5, 0.83, 0.15, 0.09, tongueRed), open),
		})
	},
	"wink": func() []shape {
		return join(face(), []shape{
			stroke(0.06, feature, curve(pt{0.27, 0.39}, pt{0.355, 0.31}, pt{0.44, 0.39})...),
			ellipse(0.645, 0.37, 0.06, 0.095, feature), circle(0.663, 0.327, 0.021, alpha(white, 200)),
			stroke(0.065, feature, curve(pt{0.3, 0.62}, pt{0.52, 0.84}, pt{0.74, 0.57})...),
		})
	},
	"sad": func() []shape {
		return join(face(), eyes(0.39, 0.055, 0.085), []shape{
			stroke(0.065, feature, curve(pt{0.3, 0.76}, pt{0.5, 0.57}, pt{0.7, 0.76})...),
		})
	},
	"tongue": func() []shape {
		return join(face(), normalEyes(), []shape{
			clip(roundRect(0.46, 0.6, 0.7, 0.88, 0.11, tongueRed, rgb(0xc8, 0x30, 0x30)), func(x, y float64) (color.NRGBA, bool) {
				return color.NRGBA{}, y >= 0.62
			}),
			stroke(0.015, rgb(0xb0, 0x28, 0x28), pt{0.58, 0.68}, pt{0.58, 0.8}),
			stroke(0.065, feature, pt{0.29, 0.63}, pt{0.73, 0.61}),
		})
	},
	"surprised": func() []shape {
		return join(face(), eyes(0.35, 0.07, 0.1), []shape{
			ellipse(0.5, 0.7, 0.11, 0.14, mouthDark),
			ellipse(0.5, 0.74, 0.06, 0.06, alpha(tongueRed, 200)),
		})
	},
	"angry": func() []shape {
		red := faceAt(0.5, 0.5, 0.47, rgb(0xff, 0xb0, 0x90), rgb(0xe8, 0x3a, 0x1c), rgb(0x8a, 0x14, 0x00))
		teeth := roundRect(0.29, 0.62, 0.71, 0.8, 0.05, white, rgb(0xe0, 0xe0, 0xe0))
		return join(red, eyes(0.42, 0.05, 0.07), []shape{
			stroke(0.06, feature, pt{0.24, 0.27}, pt{0.45, 0.36}),
			stroke(0.06, feature, pt{0.76, 0.27}, pt{0.55, 0.36}),
			roundRect(0.27, 0.6, 0.73, 0.82, 0.06, mouthDark, mouthDark),
			teeth,
			clip(stroke(0.02, rgb(0x90, 0x90, 0x90), pt{0.28, 0.71}, pt{0.72, 0.71}), teeth),
			clip(stroke(0.02, rgb(0x90, 0x90, 0x90), pt{0.4, 0.6}, pt{0.4, 0.82}), teeth),
			clip(stroke(0.02, rgb(0x90, 0x90, 0x90), pt{0.5, 0.6}, pt{0.5, 0.82}), teeth),
			clip(stroke(0.02, rgb(0x90, 0x90, 0x90), pt{0.6, 0.6}, pt{0.6, 0.82}), teeth),
		})
	},
	"confused": func() []shape {
		var wave []pt
		for i := 0; i <= 24; i++ {
			x := 0.28 + 0.44*float64(i)/24
			wave = append(wave, pt{x, 0.69 - 0.05*math.Sin((x-0.28)/0.44*2*math.Pi)})
		}
		return join(face(), []shape{
			ellipse(0.375, 0.37, 0.06, 0.095, feature), ellipse(0.665, 0.37, 0.06, 0.095, feature),
			circle(0.39, 0.33, 0.02, alpha(white, 200)), circle(0.68, 0.33, 0.02, alpha(white, 200)),
			stroke(0.045, feature, pt{0.24, 0.22}, pt{0.42, 0.2}),
			stroke(0.06, feature, wave...),
		})
	},
	"embarrassed": func() []shape {
		blush := rgb(0xf4, 0x50, 0x40)
		return join(face(), []shape{
			ellipse(0.24, 0.56, 0.12, 0.07, alpha(blush, 150)), ellipse(0.76, 0.56, 0.12, 0.07, alpha(blush, 150)),
			// Eyes looking down and away, as the shy MSN face did.
			stroke(0.055, feature, curve(pt{0.28, 0.38}, pt{0.355, 0.45}, pt{0.43, 0.38})...),
			stroke(0.055, feature, curve(pt{0.57, 0.38}, pt{0.645, 0.45}, pt{0.72, 0.38})...),
			ellipse(0.5, 0.7, 0.08, 0.05, mouthDark),
		})
	},
	"disappointed": func() []shape {
		return join(face(), eyes(0.38, 0.055, 0.085), []shape{
			stroke(0.065, feature, pt{0.31, 0.67}, pt{0.69, 0.67}),
		})
	},
	"crying": func() []shape {
		tear := rgb(0x40, 0x9c, 0xf0)
		drop := func(cx, cy float64) []shape {
			return []shape{
				polygon(rgb(0xb0, 0xe0, 0xff), tear, pt{cx, cy - 0.13}, pt{cx - 0.062, cy - 0.01}, pt{cx + 0.062, cy - 0.01}),
				radial(cx, cy, 0.065, rgb(0xd8, 0xf0, 0xff), tear),
			}
		}
		return join(face(), eyes(0.38, 0.055, 0.085), []shape{
			stroke(0.065, feature, curve(pt{0.32, 0.77}, pt{0.5, 0.6}, pt{0.68, 0.77})...),
		}, drop(0.28, 0.6), drop(0.75, 0.66))
	},
	"hot": func() []shape {
		lens := func(x0 float64) shape {
			return roundRect(x0, 0.3, x0+0.27, 0.48, 0.07, rgb(0x50, 0x58, 0x68), rgb(0x08, 0x08, 0x10))
		}
		return join(face(), []shape{
			stroke(0.04, rgb(0x10, 0x10, 0x18), pt{0.08, 0.36}, pt{0.92, 0.36}),
			lens(0.19), lens(0.54),
			stroke(0.035, alpha(white, 150), pt{0.24, 0.35}, pt{0.3, 0.33}),
			stroke(0.035, alpha(white, 150), pt{0.59, 0.35}, pt{0.65, 0.33}),
			stroke(0.065, feature, curve(pt{0.3, 0.64}, pt{0.52, 0.84}, pt{0.74, 0.6})...),
		})
	},
	"angel": func() []shape {
		cy := 0.56
		return join(
			// The halo is seen from the front and a little above: a flat ring.
			[]shape{
				outside(ellipse(0.5, 0.12, 0.33, 0.11, rgb(0xc8, 0x90, 0x00)), ellipse(0.5, 0.125, 0.22, 0.045, white)),
				outside(ellipse(0.5, 0.12, 0.3, 0.085, rgb(0xff, 0xf0, 0x80)), ellipse(0.5, 0.125, 0.25, 0.065, white)),
			},
			faceAt(0.5, cy, 0.42, faceLight, faceBase, faceRim),
			[]shape{
				ellipse(0.37, cy-0.1, 0.05, 0.08, feature), ellipse(0.63, cy-0.1, 0.05, 0.08, feature),
				stroke(0.06, feature, curve(pt{0.31, cy + 0.1}, pt{0.5, cy + 0.3}, pt{0.69, cy + 0.1})...),
			},
		)
	},
	"devil": func() []shape {
		rim, light, base := rgb(0x4c, 0x10, 0x6a), rgb(0xe2, 0xa8, 0xff), rgb(0x92, 0x3a, 0xc8)
		cy := 0.56
		horn := func(sign float64) []shape {
			x := 0.5 + sign*0.25
			return []shape{
				polygon(rim, rim, pt{x - 0.1*sign, 0.26}, pt{x + 0.17*sign, 0.01}, pt{x + 0.11*sign, 0.34}),
				polygon(light, base, pt{x - 0.06*sign, 0.27}, pt{x + 0.145*sign, 0.06}, pt{x + 0.08*sign, 0.32}),
			}
		}
		return join(horn(-1), horn(1), faceAt(0.5, cy, 0.42, light, base, rim), []shape{
			stroke(0.05, rgb(0x2a, 0x00, 0x40), pt{0.29, cy - 0.2}, pt{0.44, cy - 0.12}),
			stroke(0.05, rgb(0x2a, 0x00, 0x40), pt{0.71, cy - 0.2}, pt{0.56, cy - 0.12}),
			ellipse(0.38, cy-0.06, 0.045, 0.065, rgb(0x2a, 0x00, 0x40)), ellipse(0.62, cy-0.06, 0.045, 0.065, rgb(0x2a, 0x00, 0x40)),
			stroke(0.06, rgb(0x2a, 0x00, 0x40), curve(pt{0.28, cy + 0.1}, pt{0.5, cy + 0.34}, pt{0.72, cy + 0.1})...),
		})
	},
	"thumbs-up":   func() []shape { return thumb() },
	"thumbs-down": func() []shape { return flipped(thumb()) },
	"heart": func() []shape {
		return []shape{
			heart(0.5, 0.52, 0.47, rgb(0x8a, 0x00, 0x10), rgb(0x8a, 0x00, 0x10)),
			heart(0.5, 0.52, 0.42, rgb(0xff, 0x8c, 0x96), rgb(0xe0, 0x10, 0x2c)),
			rotEllipse(0.3, 0.3, 0.1, 0.05, -0.7, alpha(white, 170)),
		}
	},
	"broken-heart": func() []shape {
		whole := []shape{
			heart(0.5, 0.52, 0.47, rgb(0x8a, 0x00, 0x10), rgb(0x8a, 0x00, 0x10)),
			heart(0.5, 0.52, 0.42, rgb(0xff, 0x8c, 0x96), rgb(0xe0, 0x10, 0x2c)),
			rotEllipse(0.3, 0.3, 0.1, 0.05, -0.7, alpha(white, 170)),
		}
		// A zigzag crack down the middle; the halves drift apart.
		left := polygon(white, white, pt{0, 0}, pt{0.52, 0}, pt{0.44, 0.3}, pt{0.56, 0.5}, pt{0.46, 0.72}, pt{0.52, 1}, pt{0, 1})
		var out []shape
		for _, s := range whole {
			out = append(out, moved(clip(s, left), -0.05, 0.02), moved(outside(s, left), 0.05, 0.02))
		}
		return out
	},
	"kiss": func() []shape {
		lipTop, lipBottom, line := rgb(0xf8, 0x50, 0x64), rgb(0xc0, 0x08, 0x24), rgb(0x70, 0x00, 0x10)
		upper := outside(polygon(lipTop, lipBottom,
			pt{0.04, 0.52}, pt{0.2, 0.36}, pt{0.36, 0.28}, pt{0.5, 0.36}, pt{0.64, 0.28}, pt{0.8, 0.36}, pt{0.96, 0.52},
			pt{0.72, 0.52}, pt{0.5, 0.55}, pt{0.28, 0.52}), circle(0.5, 0.22, 0.1, line))
		lower := func(x, y float64) (color.NRGBA, bool) {
			c, in := ellipse(0.5, 0.53, 0.45, 0.24, lipTop)(x, y)
			_ = c
			return mix(lipTop, lipBottom, (y-0.53)/0.24), in && y >= 0.53
		}
		return []shape{
			moved(upper, 0, 0), lower,
			stroke(0.03, line, curve(pt{0.06, 0.52}, pt{0.5, 0.6}, pt{0.94, 0.52})...),
			ellipse(0.5, 0.66, 0.14, 0.04, alpha(white, 140)),
			ellipse(0.33, 0.38, 0.07, 0.025, alpha(white, 120)),
		}
	},
	"rose": func() []shape {
		stem, leaf := rgb(0x2c, 0x8a, 0x1c), rgb(0x4c, 0xb8, 0x2c)
		petalDark, petal, petalLight := rgb(0x90, 0x00, 0x10), rgb(0xe0, 0x14, 0x2c), rgb(0xff, 0x70, 0x80)
		return []shape{
			stroke(0.07, stem, curve(pt{0.45, 0.45}, pt{0.52, 0.75}, pt{0.4, 0.98})...),
			rotEllipse(0.63, 0.75, 0.16, 0.07, -0.5, leaf),
			stroke(0.015, stem, pt{0.5, 0.8}, pt{0.74, 0.69}),
			rotEllipse(0.28, 0.68, 0.12, 0.055, 0.6, leaf),
			circle(0.47, 0.32, 0.3, petalDark),
			radial(0.47, 0.32, 0.27, petalLight, petal),
			ellipse(0.47, 0.38, 0.2, 0.15, petalDark),
			radial(0.47, 0.35, 0.18, petalLight, petal),
			stroke(0.03, petalDark, curve(pt{0.36, 0.3}, pt{0.47, 0.18}, pt{0.57, 0.3})...),
			stroke(0.03, petalDark, curve(pt{0.4, 0.34}, pt{0.5, 0.42}, pt{0.55, 0.3})...),
		}
	},
	"star": func() []shape {
		star := func(r float64) []pt {
			var p []pt
			for i := 0; i < 10; i++ {
				rr := r
				if i%2 == 1 {
					rr = r * 0.45
				}
				a := -math.Pi/2 + float64(i)*math.Pi/5
				p = append(p, pt{0.5 + rr*math.Cos(a), 0.53 + rr*math.Sin(a)})
			}
			return p
		}
		return []shape{
			polygon(rgb(0xb8, 0x70, 0x00), rgb(0xa0, 0x58, 0x00), star(0.5)...),
			polygon(rgb(0xff, 0xf6, 0xa0), rgb(0xf8, 0xb0, 0x08), star(0.43)...),
			ellipse(0.45, 0.4, 0.07, 0.05, alpha(white, 160)),
		}
	},
	"cake": func() []shape {
		sponge, icing, plate := rgb(0xf4, 0xc8, 0x88), rgb(0xff, 0x9c, 0xc8), rgb(0xd8, 0xe4, 0xf0)
		flame := func(x float64) []shape {
			return []shape{
				roundRect(x-0.03, 0.22, x+0.03, 0.46, 0.02, rgb(0x80, 0xc8, 0xff), rgb(0x30, 0x80, 0xe0)),
				polygon(rgb(0xff, 0xf0, 0x60), rgb(0xff, 0x90, 0x10), pt{x, 0.02}, pt{x - 0.045, 0.15}, pt{x + 0.045, 0.15}),
				circle(x, 0.15, 0.045, rgb(0xff, 0xa0, 0x10)),
				circle(x, 0.15, 0.022, rgb(0xff, 0xf4, 0x90)),
			}
		}
		return join([]shape{
			ellipse(0.5, 0.88, 0.48, 0.1, rgb(0x80, 0x90, 0xa8)),
			ellipse(0.5, 0.87, 0.45, 0.08, plate),
			roundRect(0.1, 0.44, 0.9, 0.88, 0.06, rgb(0x90, 0x58, 0x20), rgb(0x90, 0x58, 0x20)),
			roundRect(0.13, 0.47, 0.87, 0.85, 0.04, sponge, rgb(0xd8, 0x98, 0x50)),
			rect(0.13, 0.64, 0.87, 0.69, rgb(0xe8, 0x50, 0x78)),
			roundRect(0.1, 0.42, 0.9, 0.56, 0.06, icing, rgb(0xf0, 0x70, 0xa8)),
			circle(0.24, 0.56, 0.045, icing), circle(0.45, 0.57, 0.05, icing), circle(0.7, 0.56, 0.045, rgb(0xf0, 0x70, 0xa8)),
		}, flame(0.32), flame(0.5), flame(0.68))
	},
	"coffee": func() []shape {
		cup, cupShade, rim := rgb(0xff, 0xff, 0xff), rgb(0xc8, 0xd0, 0xdc), rgb(0x60, 0x68, 0x78)
		return []shape{
			ellipse(0.48, 0.9, 0.44, 0.08, rim),
			ellipse(0.48, 0.89, 0.41, 0.06, rgb(0xe8, 0xee, 0xf4)),
			ring(0.76, 0.62, 0.11, 0.09, rim),
			ring(0.76, 0.62, 0.11, 0.05, cup),
			polygon(rim, rim, pt{0.12, 0.4}, pt{0.84, 0.4}, pt{0.76, 0.85}, pt{0.2, 0.85}),
			polygon(cup, cupShade, pt{0.155, 0.43}, pt{0.805, 0.43}, pt{0.735, 0.82}, pt{0.225, 0.82}),
			ellipse(0.48, 0.42, 0.36, 0.07, rim),
			ellipse(0.48, 0.425, 0.33, 0.055, rgb(0x6a, 0x38, 0x10)),
			ellipse(0.44, 0.415, 0.12, 0.02, rgb(0xa0, 0x68, 0x38)),
			stroke(0.04, alpha(rgb(0x90, 0x98, 0xa8), 200), curve(pt{0.38, 0.3}, pt{0.3, 0.18}, pt{0.38, 0.04})...),
			stroke(0.04, alpha(rgb(0x90, 0x98, 0xa8), 200), curve(pt{0.56, 0.3}, pt{0.48, 0.18}, pt{0.56, 0.04})...),
		}
	},
	"beer": func() []shape {
		glass, beer, beerDark, foam := rgb(0x8a, 0x5a, 0x10), rgb(0xff, 0xd8, 0x40), rgb(0xe8, 0x90, 0x00), rgb(0xff, 0xff, 0xf4)
		return []shape{
			ring(0.76, 0.58, 0.14, 0.11, glass),
			ring(0.76, 0.58, 0.14, 0.05, rgb(0xff, 0xe8, 0x90)),
			roundRect(0.12, 0.22, 0.74, 0.97, 0.06, glass, glass),
			roundRect(0.155, 0.25, 0.705, 0.935, 0.04, beer, beerDark),
			stroke(0.05, alpha(white, 150), pt{0.24, 0.4}, pt{0.24, 0.85}),
			stroke(0.03, alpha(beerDark, 200), pt{0.43, 0.4}, pt{0.43, 0.87}),
			stroke(0.03, alpha(beerDark, 200), pt{0.6, 0.4}, pt{0.6, 0.87}),
			circle(0.2, 0.22, 0.1, glass), circle(0.38, 0.17, 0.13, glass), circle(0.58, 0.2, 0.12, glass), circle(0.7, 0.27, 0.08, glass),
			circle(0.2, 0.23, 0.075, foam), circle(0.38, 0.18, 0.105, foam), circle(0.58, 0.21, 0.095, foam), circle(0.69, 0.28, 0.055, foam),
			rect(0.15, 0.24, 0.71, 0.33, foam),
		}
	},
	"note": func() []shape {
		ink, inkLight := rgb(0x10, 0x30, 0x90), rgb(0x50, 0x80, 0xe0)
		head := func(cx, cy float64) []shape {
			return []shape{rotEllipse(cx, cy, 0.15, 0.105, -0.45, ink), rotEllipse(cx-0.03, cy-0.025, 0.05, 0.025, -0.45, alpha(inkLight, 220))}
		}
		return join(head(0.24, 0.8), head(0.72, 0.72), []shape{
			stroke(0.055, ink, pt{0.36, 0.77}, pt{0.36, 0.18}),
			stroke(0.055, ink, pt{0.84, 0.69}, pt{0.84, 0.1}),
			polygon(inkLight, ink, pt{0.335, 0.14}, pt{0.865, 0.04}, pt{0.865, 0.2}, pt{0.335, 0.3}),
		})
	},
}

func rect(x0, y0, x1, y1 float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) { return c, x >= x0 && x <= x1 && y >= y0 && y <= y1 }
}

// thumb is a fist with the thumb up, in a blue cuff: outlines first so the
// pieces merge into one silhouette, then the fills.
func thumb() []shape {
	edge, skin, skinDark := rgb(0x9a, 0x58, 0x18), rgb(0xff, 0xdc, 0xa0), rgb(0xf0, 0xa8, 0x50)
	const e = 0.035
	fist := [4]float64{0.34, 0.42, 0.86, 0.92}
	th := [4]float64{0.4, 0.08, 0.6, 0.52}
	cuff := [4]float64{0.1, 0.44, 0.36, 0.95}
	return []shape{
		roundRect(th[0]-e, th[1]-e, th[2]+e, th[3]+e, 0.1+e, edge, edge),
		roundRect(fist[0]-e, fist[1]-e, fist[2]+e, fist[3]+e, 0.1+e, edge, edge),
		roundRect(cuff[0]-e, cuff[1]-e, cuff[2]+e, cuff[3]+e, 0.04+e, rgb(0x10, 0x30, 0x80), rgb(0x10, 0x30, 0x80)),
		roundRect(th[0], th[1], th[2], th[3], 0.1, skin, skinDark),
		roundRect(fist[0], fist[1], fist[2], fist[3], 0.1, skin, skinDark),
		stroke(0.03, edge, pt{0.56, 0.55}, pt{0.84, 0.55}),
		stroke(0.03, edge, pt{0.56, 0.67}, pt{0.84, 0.67}),
		stroke(0.03, edge, pt{0.56, 0.79}, pt{0.84, 0.79}),
		stroke(0.03, edge, pt{0.42, 0.5}, pt{0.58, 0.5}),
		roundRect(cuff[0], cuff[1], cuff[2], cuff[3], 0.04, rgb(0x70, 0xb0, 0xff), rgb(0x20, 0x60, 0xd0)),
	}
}

func writeEmoticons() {
	if err := os.MkdirAll("emoticons", 0o755); err != nil {
		log.Fatal(err)
	}
	for name, draw := range emoticons {
		write("emoticons/"+name+".png", render(emoticonSize, draw()...))
	}
}

// Display pictures: the gallery the picture picker offers, as MSN's had.
// Each is a full 96×96 square (no transparent corners: the app frames
// display pictures itself), an object on a gradient background.

const pictureSize = 96

// gradient fills everything, shading along the line a→b through the
// evenly spaced colours cs.
func gradient(a, b pt, cs ...color.NRGBA) shape {
	dx, dy := b.x-a.x, b.y-a.y
	l := dx*dx + dy*dy
	return func(x, y float64) (color.NRGBA, bool) {
		return ramp(((x-a.x)*dx+(y-a.y)*dy)/l, cs...), true
	}
}

// ramp is the colour at t in [0,1] along evenly spaced colours cs.
func ramp(t float64, cs ...color.NRGBA) color.NRGBA {
	t = math.Max(0, math.Min(1, t)) * float64(len(cs)-1)
	i := int(t)
	if i >= len(cs)-1 {
		return cs[len(cs)-1]
	}
	return mix(cs[i], cs[i+1], t-float64(i))
}

// glow is a soft round light: c at the centre fading to nothing at r.
func glow(cx, cy, r float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		d := math.Hypot(x-cx, y-cy) / r
		if d >= 1 {
			return c, false
		}
		f := (1 - d) * (1 - d)
		return alpha(c, uint8(float64(c.A)*f)), true
	}
}

// softShadow is a blurred elliptical shadow, as an object casts on the ground.
func softShadow(cx, cy, rx, ry float64, a uint8) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		d := dx*dx + dy*dy
		if d >= 1 {
			return color.NRGBA{}, false
		}
		return color.NRGBA{0, 0, 0, uint8(float64(a) * (1 - d))}, true
	}
}

// union covers where any of shapes does, in the first one's colour there.
func union(shapes ...shape) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		for _, s := range shapes {
			if c, ok := s(x, y); ok {
				return c, true
			}
		}
		return color.NRGBA{}, false
	}
}

// shade colours s by distance from a highlight at (hx, hy): light there,
// base at r and beyond, so a flat silhouette looks rounded.
func shade(s shape, hx, hy, r float64, light, base color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if _, ok := s(x, y); !ok {
			return color.NRGBA{}, false
		}
		return mix(light, base, math.Min(1, math.Hypot(x-hx, y-hy)/r)), true
	}
}

// outline is s grown by w on every side, in c: drawn under s it rims it.
func outline(s shape, w float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		if _, ok := s(x, y); ok {
			return c, true
		}
		for i := 0; i < 16; i++ {
			sin, cos := math.Sincos(float64(i) * math.Pi / 8)
			if _, ok := s(x+w*cos, y+w*sin); ok {
				return c, true
			}
		}
		return c, false
	}
}

// turned rotates shapes by angle (radians, clockwise on screen) and scales
// them by k about (cx, cy).
func turned(cx, cy, angle, k float64, shapes ...shape) []shape {
	sin, cos := math.Sincos(angle)
	out := make([]shape, len(shapes))
	for i, s := range shapes {
		out[i] = func(x, y float64) (color.NRGBA, bool) {
			dx, dy := (x-cx)/k, (y-cy)/k
			return s(cx+dx*cos+dy*sin, cy-dx*sin+dy*cos)
		}
	}
	return out
}

func mirrored(shapes ...shape) []shape {
	out := make([]shape, len(shapes))
	for i, s := range shapes {
		out[i] = func(x, y float64) (color.NRGBA, bool) { return s(1-x, y) }
	}
	return out
}

// pictures are the gallery in the order the picker shows them; the names
// match package assets' table.
var pictures = []struct {
	name string
	draw func() []shape
}{
	{"duck", duckPicture},
	{"dog", dogPicture},
	{"cat", catPicture},
	{"flower", flowerPicture},
	{"football", footballPicture},
	{"guitar", guitarPicture},
	{"chess", chessPicture},
	{"sunset", sunsetPicture},
}

func writePictures() {
	if err := os.MkdirAll("pictures", 0o755); err != nil {
		log.Fatal(err)
	}
	for _, p := range pictures {
		write("pictures/"+p.name+".png", render(pictureSize, p.draw()...))
	}
}

// duckPicture is a rubber duck afloat under a summer sky.
func duckPicture() []shape {
	rim := rgb(0xc0, 0x6a, 0x00)
	light, base := rgb(0xff, 0xfa, 0xb0), rgb(0xff, 0xc4, 0x00)
	body := union(
		ellipse(0.56, 0.66, 0.33, 0.18, white),
		rotEllipse(0.79, 0.52, 0.14, 0.075, -0.75, white),
		ellipse(0.42, 0.58, 0.16, 0.14, white),
	)
	head := circle(0.37, 0.33, 0.165, white)
	beakTop := polygon(rgb(0xff, 0xa8, 0x40), rgb(0xf0, 0x70, 0x10),
		pt{0.25, 0.33}, pt{0.12, 0.365}, pt{0.08, 0.395}, pt{0.14, 0.41}, pt{0.26, 0.41})
	beakLow := polygon(rgb(0xe8, 0x60, 0x10), rgb(0xc8, 0x48, 0x08),
		pt{0.25, 0.405}, pt{0.13, 0.41}, pt{0.12, 0.43}, pt{0.2, 0.45}, pt{0.27, 0.44})
	var waveTop []pt
	for i := 0; i <= 48; i++ {
		x := float64(i) / 48
		waveTop = append(waveTop, pt{x, 0.77 + 0.018*math.Sin(x*2*math.Pi*2.5+0.6)})
	}
	water := append([]pt{{1, 1}, {0, 1}}, waveTop...)
	return []shape{
		gradient(pt{0, 0}, pt{0, 0.8}, rgb(0x9c, 0xd8, 0xff), rgb(0xd8, 0xf0, 0xff)),
		glow(0.85, 0.12, 0.35, alpha(white, 200)),
		ellipse(0.2, 0.14, 0.12, 0.04, alpha(white, 210)), ellipse(0.28, 0.12, 0.08, 0.045, alpha(white, 210)),
		outline(union(body, head, beakTop, beakLow), 0.022, rim),
		shade(body, 0.45, 0.52, 0.45, light, base),
		shade(head, 0.32, 0.27, 0.2, light, base),
		beakTop, beakLow,
		stroke(0.012, rgb(0xa0, 0x38, 0x00), pt{0.25, 0.408}, pt{0.12, 0.41}),
		// The wing, tucked along the side.
		outside(rotEllipse(0.6, 0.6, 0.16, 0.085, -0.25, rgb(0xf0, 0xa8, 0x00)), rotEllipse(0.62, 0.55, 0.15, 0.06, -0.25, white)),
		stroke(0.014, rgb(0xe0, 0x90, 0x00), curve(pt{0.46, 0.6}, pt{0.6, 0.7}, pt{0.75, 0.55})...),
		ellipse(0.36, 0.29, 0.03, 0.04, rgb(0x20, 0x10, 0x00)),
		circle(0.37, 0.28, 0.011, white),
		ellipse(0.3, 0.23, 0.05, 0.025, alpha(white, 160)),
		ellipse(0.5, 0.54, 0.06, 0.025, alpha(white, 130)),
		polygon(rgb(0x40, 0x9c, 0xe8), rgb(0x18, 0x5c, 0xb0), water...),
		stroke(0.014, alpha(white, 190), waveTop[4:14]...),
		stroke(0.014, alpha(white, 190), waveTop[30:42]...),
		stroke(0.012, alpha(white, 110), curve(pt{0.12, 0.88}, pt{0.22, 0.86}, pt{0.32, 0.88})...),
		stroke(0.012, alpha(white, 110), curve(pt{0.6, 0.92}, pt{0.72, 0.9}, pt{0.84, 0.92})...),
	}
}

// dogPicture is a puppy with floppy ears and a red collar.
func dogPicture() []shape {
	fur, furDark := rgb(0xf2, 0xc2, 0x84), rgb(0xc4, 0x84, 0x40)
	ear, earDark := rgb(0x9a, 0x5c, 0x28), rgb(0x5c, 0x30, 0x10)
	edge, dark := rgb(0x5a, 0x32, 0x12), rgb(0x2a, 0x16, 0x08)
	head := union(ellipse(0.5, 0.5, 0.29, 0.27, white), ellipse(0.5, 0.66, 0.21, 0.17, white))
	earL := rotEllipse(0.22, 0.5, 0.095, 0.22, 0.38, white)
	earR := rotEllipse(0.78, 0.5, 0.095, 0.22, -0.38, white)
	body := ellipse(0.5, 1.08, 0.4, 0.3, white)
	muzzle := union(ellipse(0.43, 0.68, 0.11, 0.09, white), ellipse(0.57, 0.68, 0.11, 0.09, white))
	return []shape{
		gradient(pt{0, 0}, pt{0.3, 1}, rgb(0xe6, 0xfa, 0xc8), rgb(0x8c, 0xd0, 0x60)),
		glow(0.5, 0.45, 0.5, alpha(white, 150)),
		outline(body, 0.02, edge),
		shade(body, 0.5, 0.85, 0.4, fur, furDark),
		outline(head, 0.02, edge),
		shade(head, 0.42, 0.36, 0.42, rgb(0xff, 0xe0, 0xb0), furDark),
		// A white blaze up the nose.
		ellipse(0.5, 0.45, 0.055, 0.2, alpha(rgb(0xff, 0xf6, 0xe8), 220)),
		shade(muzzle, 0.48, 0.64, 0.2, rgb(0xff, 0xfc, 0xf4), rgb(0xf0, 0xdc, 0xc0)),
		// A patch round one eye.
		rotEllipse(0.64, 0.44, 0.09, 0.075, -0.3, alpha(ear, 200)),
		outline(earL, 0.02, edge), shade(earL, 0.22, 0.36, 0.3, ear, earDark),
		outline(earR, 0.02, edge), shade(earR, 0.78, 0.36, 0.3, ear, earDark),
		ellipse(0.37, 0.45, 0.038, 0.048, dark), circle(0.382, 0.432, 0.014, white),
		ellipse(0.63, 0.45, 0.038, 0.048, dark), circle(0.642, 0.432, 0.014, white),
		stroke(0.018, edge, curve(pt{0.31, 0.38}, pt{0.36, 0.35}, pt{0.42, 0.38})...),
		stroke(0.018, edge, curve(pt{0.58, 0.38}, pt{0.64, 0.35}, pt{0.69, 0.38})...),
		// Tongue out, below the mouth.
		clip(roundRect(0.44, 0.7, 0.56, 0.84, 0.06, rgb(0xff, 0x80, 0x90), rgb(0xe0, 0x40, 0x58)), func(x, y float64) (color.NRGBA, bool) {
			return color.NRGBA{}, y > 0.71
		}),
		stroke(0.01, rgb(0xb0, 0x28, 0x40), pt{0.5, 0.73}, pt{0.5, 0.8}),
		stroke(0.02, dark, pt{0.5, 0.62}, pt{0.5, 0.69}),
		stroke(0.02, dark, curve(pt{0.5, 0.69}, pt{0.46, 0.74}, pt{0.4, 0.7})...),
		stroke(0.02, dark, curve(pt{0.5, 0.69}, pt{0.54, 0.74}, pt{0.6, 0.7})...),
		shade(union(ellipse(0.5, 0.585, 0.075, 0.05, white), polygon(white, white, pt{0.43, 0.59}, pt{0.57, 0.59}, pt{0.5, 0.645})),
			0.48, 0.56, 0.1, rgb(0x70, 0x60, 0x58), dark),
		ellipse(0.48, 0.565, 0.025, 0.012, alpha(white, 170)),
		// Collar and tag.
		stroke(0.05, rgb(0x90, 0x08, 0x10), curve(pt{0.27, 0.86}, pt{0.5, 0.96}, pt{0.73, 0.86})...),
		stroke(0.035, rgb(0xe8, 0x24, 0x2c), curve(pt{0.27, 0.86}, pt{0.5, 0.96}, pt{0.73, 0.86})...),
		circle(0.5, 0.95, 0.045, rgb(0x9a, 0x70, 0x00)),
		radial(0.5, 0.95, 0.035, rgb(0xff, 0xf0, 0x90), rgb(0xe8, 0xb0, 0x10)),
	}
}

// catPicture is a ginger tabby with green eyes.
func catPicture() []shape {
	fur, furDark := rgb(0xff, 0xc8, 0x80), rgb(0xe0, 0x80, 0x28)
	stripe, edge := rgb(0xc0, 0x60, 0x10), rgb(0x7a, 0x36, 0x00)
	pink := rgb(0xff, 0x9c, 0xb0)
	earL := polygon(white, white, pt{0.18, 0.5}, pt{0.2, 0.13}, pt{0.46, 0.33})
	earInL := polygon(pink, rgb(0xf0, 0x70, 0x90), pt{0.235, 0.43}, pt{0.245, 0.21}, pt{0.4, 0.34})
	head := union(ellipse(0.5, 0.56, 0.33, 0.27, white), earL, mirrored(earL)[0])
	body := ellipse(0.5, 1.1, 0.42, 0.3, white)
	eye := func(cx float64) []shape {
		iris := ellipse(cx, 0.53, 0.072, 0.064, white)
		return []shape{
			ellipse(cx, 0.53, 0.085, 0.077, edge),
			shade(iris, cx-0.02, 0.5, 0.09, rgb(0xd8, 0xff, 0x90), rgb(0x3c, 0xa0, 0x20)),
			ellipse(cx, 0.535, 0.02, 0.058, rgb(0x10, 0x18, 0x08)),
			circle(cx+0.025, 0.505, 0.014, white),
		}
	}
	whisker := func(a, ctl, b pt) []shape {
		return []shape{stroke(0.011, alpha(rgb(0x60, 0x30, 0x10), 200), curve(a, ctl, b)...)}
	}
	return join([]shape{
		gradient(pt{0, 0}, pt{0.2, 1}, rgb(0xf0, 0xe4, 0xff), rgb(0xa4, 0x88, 0xe8)),
		glow(0.5, 0.5, 0.5, alpha(white, 140)),
		outline(body, 0.02, edge),
		shade(body, 0.5, 0.85, 0.4, fur, furDark),
		outline(head, 0.02, edge),
		shade(head, 0.42, 0.42, 0.45, rgb(0xff, 0xe8, 0xc8), furDark),
		earInL, mirrored(earInL)[0],
		// Tabby stripes on the forehead and cheeks.
		stroke(0.028, stripe, pt{0.5, 0.31}, pt{0.5, 0.4}),
		stroke(0.024, stripe, pt{0.42, 0.33}, pt{0.44, 0.41}),
		stroke(0.024, stripe, pt{0.58, 0.33}, pt{0.56, 0.41}),
		stroke(0.022, stripe, pt{0.18, 0.58}, pt{0.26, 0.6}),
		stroke(0.022, stripe, pt{0.19, 0.66}, pt{0.27, 0.66}),
		stroke(0.022, stripe, pt{0.82, 0.58}, pt{0.74, 0.6}),
		stroke(0.022, stripe, pt{0.81, 0.66}, pt{0.73, 0.66}),
		stroke(0.03, stripe, pt{0.3, 0.92}, pt{0.36, 1}),
		stroke(0.03, stripe, pt{0.7, 0.92}, pt{0.64, 1}),
		// A pale muzzle.
		ellipse(0.44, 0.7, 0.085, 0.065, rgb(0xff, 0xf6, 0xea)),
		ellipse(0.56, 0.7, 0.085, 0.065, rgb(0xff, 0xf6, 0xea)),
		ellipse(0.5, 0.76, 0.06, 0.04, rgb(0xff, 0xf6, 0xea)),
	}, eye(0.36), eye(0.64), []shape{
		polygon(pink, rgb(0xe0, 0x60, 0x80), pt{0.455, 0.635}, pt{0.545, 0.635}, pt{0.5, 0.685}),
		stroke(0.016, edge, pt{0.5, 0.68}, pt{0.5, 0.71}),
		stroke(0.016, edge, curve(pt{0.5, 0.71}, pt{0.47, 0.75}, pt{0.43, 0.72})...),
		stroke(0.016, edge, curve(pt{0.5, 0.71}, pt{0.53, 0.75}, pt{0.57, 0.72})...),
	}, whisker(pt{0.38, 0.7}, pt{0.2, 0.66}, pt{0.05, 0.68}), whisker(pt{0.38, 0.73}, pt{0.2, 0.74}, pt{0.06, 0.79}),
		whisker(pt{0.62, 0.7}, pt{0.8, 0.66}, pt{0.95, 0.68}), whisker(pt{0.62, 0.73}, pt{0.8, 0.74}, pt{0.94, 0.79}))
}

// flowerPicture is a pink gerbera against the sky, over green hills.
func flowerPicture() []shape {
	cx, cy := 0.5, 0.4
	stem := rgb(0x2c, 0x8a, 0x1c)
	out := []shape{
		gradient(pt{0, 0}, pt{0, 1}, rgb(0x78, 0xc4, 0xf8), rgb(0xd8, 0xf2, 0xff)),
		ellipse(0.16, 0.16, 0.1, 0.04, alpha(white, 220)), ellipse(0.23, 0.13, 0.07, 0.045, alpha(white, 220)),
		ellipse(0.86, 0.26, 0.09, 0.03, alpha(white, 200)),
		ellipse(0.15, 1.05, 0.55, 0.25, rgb(0x6c, 0xc0, 0x40)),
		shade(ellipse(0.85, 1.08, 0.6, 0.3, white), 0.7, 0.8, 0.5, rgb(0x9c, 0xe0, 0x58), rgb(0x4c, 0xa0, 0x28)),
		stroke(0.05, rgb(0x1c, 0x60, 0x10), curve(pt{cx, cy}, pt{0.53, 0.75}, pt{0.44, 1.02})...),
		stroke(0.032, stem, curve(pt{cx, cy}, pt{0.53, 0.75}, pt{0.44, 1.02})...),
		outline(rotEllipse(0.66, 0.8, 0.15, 0.055, -0.5, white), 0.015, rgb(0x1c, 0x60, 0x10)),
		shade(rotEllipse(0.66, 0.8, 0.15, 0.055, -0.5, white), 0.62, 0.78, 0.2, rgb(0x90, 0xe0, 0x60), stem),
		stroke(0.01, rgb(0x1c, 0x60, 0x10), pt{0.54, 0.85}, pt{0.78, 0.74}),
		outline(rotEllipse(0.36, 0.84, 0.13, 0.05, 0.55, white), 0.015, rgb(0x1c, 0x60, 0x10)),
		shade(rotEllipse(0.36, 0.84, 0.13, 0.05, 0.55, white), 0.38, 0.8, 0.2, rgb(0x90, 0xe0, 0x60), stem),
	}
	petals := func(n int, r, rx, ry, off float64, light, base, edge color.NRGBA) []shape {
		var ps []shape
		for i := 0; i < n; i++ {
			a := off + float64(i)*2*math.Pi/float64(n)
			sin, cos := math.Sincos(a)
			p := rotEllipse(cx+r*cos, cy+r*sin, rx, ry, a, white)
			ps = append(ps, outline(p, 0.012, edge), shade(p, cx, cy, r+rx, light, base))
		}
		return ps
	}
	out = append(out, petals(14, 0.2, 0.16, 0.048, 0.11, rgb(0xff, 0x60, 0xa0), rgb(0xff, 0xb8, 0xd8), rgb(0xb0, 0x10, 0x58))...)
	out = append(out, petals(14, 0.16, 0.12, 0.04, 0.33, rgb(0xe8, 0x30, 0x80), rgb(0xff, 0x90, 0xc0), rgb(0xb0, 0x10, 0x58))...)
	out = append(out,
		circle(cx, cy, 0.1, rgb(0x7a, 0x3a, 0x00)),
		radial(cx, cy, 0.085, rgb(0xff, 0xe8, 0x60), rgb(0xe8, 0x90, 0x00)),
		circle(cx, cy, 0.045, rgb(0x6a, 0x38, 0x08)),
		ellipse(cx-0.03, cy-0.045, 0.03, 0.015, alpha(white, 150)),
	)
	for i := 0; i < 12; i++ {
		sin, cos := math.Sincos(float64(i) * math.Pi / 6)
		out = append(out, circle(cx+0.067*cos, cy+0.067*sin, 0.009, rgb(0xb0, 0x5a, 0x00)))
	}
	return out
}

// footballPicture is a football on the pitch: a truncated icosahedron
// (black pentagons, white hexagons) projected onto a lit sphere.
func footballPicture() []shape {
	cx, cy, r := 0.5, 0.47, 0.36
	type face struct {
		n    [3]float64 // unit normal
		d    float64    // the face plane's distance from the centre
		pent bool
	}
	norm := func(v [3]float64) [3]float64 {
		l := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
		return [3]float64{v[0] / l, v[1] / l, v[2] / l}
	}
	dot := func(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
	lerp := func(a, b [3]float64, t float64) [3]float64 {
		return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
	}
	// The icosahedron's vertices become pentagons, its faces hexagons,
	// when each edge is cut at its thirds.
	phi := (1 + math.Sqrt(5)) / 2
	var v [][3]float64
	for _, s1 := range []float64{-1, 1} {
		for _, s2 := range []float64{-1, 1} {
			v = append(v, [3]float64{0, s1, s2 * phi}, [3]float64{s1, s2 * phi, 0}, [3]float64{s2 * phi, 0, s1})
		}
	}
	adjacent := func(a, b [3]float64) bool {
		d := [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]}
		return math.Abs(dot(d, d)-4) < 1e-9
	}
	var faces []face
	for i, a := range v {
		for _, b := range v {
			if adjacent(a, b) {
				n := norm(a)
				faces = append(faces, face{n, dot(lerp(a, b, 1.0/3), n), true})
				break
			}
		}
		for j := i + 1; j < len(v); j++ {
			for k := j + 1; k < len(v); k++ {
				b, c := v[j], v[k]
				if adjacent(a, b) && adjacent(b, c) && adjacent(a, c) {
					n := norm([3]float64{a[0] + b[0] + c[0], a[1] + b[1] + c[1], a[2] + b[2] + c[2]})
					faces = append(faces, face{n, dot(lerp(a, b, 1.0/3), n), false})
				}
			}
		}
	}
	// Turn the ball so a pentagon faces us, tipped back and round a little.
	front := norm(v[0])
	rot := func(p [3]float64, ax, ay float64) [3]float64 {
		s, c := math.Sincos(ax)
		p = [3]float64{p[0], c*p[1] - s*p[2], s*p[1] + c*p[2]}
		s, c = math.Sincos(ay)
		return [3]float64{c*p[0] + s*p[2], p[1], -s*p[0] + c*p[2]}
	}
	// Find angles taking front to +z (towards the viewer), then tilt.
	ay0 := -math.Atan2(front[0], front[2])
	f1 := rot(front, 0, ay0)
	ax0 := math.Atan2(f1[1], f1[2])
	for i := range faces {
		n := rot(rot(faces[i].n, 0, ay0), ax0, 0)
		faces[i].n = rot(rot(n, 0, 0.3), -0.42, 0)
	}
	light := norm([3]float64{-0.5, -0.6, 0.8})
	ball := func(x, y float64) (color.NRGBA, bool) {
		dx, dy := (x-cx)/r, (y-cy)/r
		q := dx*dx + dy*dy
		if q > 1 {
			return color.NRGBA{}, false
		}
		p := [3]float64{dx, dy, math.Sqrt(1 - q)}
		// The ray from the centre through p leaves the solid through
		// the face whose plane it meets first.
		best, second, bi := -1.0, -1.0, 0
		for i, f := range faces {
			t := dot(p, f.n) / f.d
			if t > best {
				best, second, bi = t, best, i
			} else if t > second {
				second = t
			}
		}
		base := rgb(0xfa, 0xfa, 0xfa)
		if faces[bi].pent {
			base = rgb(0x26, 0x28, 0x30)
		}
		if best-second < 0.012 {
			base = rgb(0x70, 0x74, 0x80) // a seam
		}
		lit := 0.3 + 0.7*math.Max(0, dot(p, light))
		spec := math.Pow(math.Max(0, dot(p, norm([3]float64{light[0], light[1], light[2] + 1}))), 40) * 0.6
		ch := func(c uint8) uint8 {
			return uint8(math.Min(255, float64(c)*lit+255*spec))
		}
		return color.NRGBA{ch(base.R), ch(base.G), ch(base.B), 255}, true
	}
	out := []shape{
		gradient(pt{0, 0}, pt{0, 1}, rgb(0x8c, 0xd0, 0xff), rgb(0xd8, 0xf0, 0xff), rgb(0x6c, 0xc0, 0x40), rgb(0x3a, 0x90, 0x28)),
	}
	// Mown stripes on the grass.
	for i := 0; i < 6; i++ {
		x := float64(i)*0.36 - 0.3
		out = append(out, clip(polygon(alpha(white, 28), alpha(white, 28), pt{x, 1}, pt{x + 0.18, 1}, pt{x + 0.28, 0.66}, pt{x + 0.2, 0.66}),
			rect(0, 0.67, 1, 1, white)))
	}
	return append(out,
		rect(0, 0.66, 1, 0.675, alpha(white, 140)),
		softShadow(0.53, 0.86, 0.32, 0.07, 120),
		circle(cx, cy, r+0.012, rgb(0x30, 0x34, 0x40)),
		ball,
	)
}

// guitarPicture is an acoustic guitar, slanted, under a stage light.
func guitarPicture() []shape {
	wood, woodDark := rgb(0xff, 0xd0, 0x78), rgb(0xa8, 0x48, 0x10)
	edge, neck := rgb(0x3a, 0x18, 0x06), rgb(0x4a, 0x26, 0x10)
	body := union(circle(0.5, 0.72, 0.2, white), circle(0.5, 0.46, 0.155, white), rect(0.4, 0.5, 0.6, 0.65, white))
	// A waist: cut where the bouts meet.
	body = outside(body, union(circle(0.25, 0.58, 0.09, white), circle(0.75, 0.58, 0.09, white)))
	// Centred on its length (-0.2 to 0.92) before it is turned.
	g := []shape{
		outline(body, 0.022, edge),
		outline(body, 0.012, rgb(0xf8, 0xe8, 0xc8)),
		shade(body, 0.48, 0.64, 0.4, wood, woodDark),
		rotEllipse(0.6, 0.56, 0.06, 0.1, 0.4, alpha(rgb(0x50, 0x20, 0x08), 150)),
		circle(0.5, 0.48, 0.078, rgb(0x30, 0x1a, 0x08)),
		ring(0.5, 0.48, 0.086, 0.012, rgb(0x6a, 0x3a, 0x10)),
		circle(0.5, 0.48, 0.062, rgb(0x14, 0x0a, 0x04)),
		roundRect(0.41, 0.75, 0.59, 0.8, 0.02, rgb(0x5a, 0x2c, 0x0c), rgb(0x30, 0x14, 0x04)),
		roundRect(0.455, -0.02, 0.545, 0.46, 0.01, neck, rgb(0x30, 0x18, 0x08)),
		roundRect(0.43, -0.2, 0.57, 0.0, 0.03, rgb(0x6a, 0x38, 0x14), rgb(0x3a, 0x1a, 0x06)),
		rect(0.45, -0.005, 0.55, 0.005, rgb(0xf0, 0xe8, 0xd0)),
	}
	for _, y := range []float64{0.06, 0.12, 0.175, 0.225, 0.27, 0.31, 0.345} {
		g = append(g, rect(0.455, y, 0.545, y+0.006, rgb(0xc8, 0xc8, 0xd0)))
	}
	for i := 0; i < 3; i++ {
		y := -0.16 + float64(i)*0.06
		g = append(g, circle(0.41, y, 0.02, rgb(0xe8, 0xe0, 0xd0)), circle(0.59, y, 0.02, rgb(0xe8, 0xe0, 0xd0)))
	}
	for i := 0; i < 6; i++ {
		x0, x1 := 0.47+float64(i)*0.012, 0.465+float64(i)*0.014
		g = append(g, stroke(0.005, alpha(rgb(0xf8, 0xf0, 0xe0), 220), pt{x1, 0.775}, pt{x0, -0.14}))
	}
	g = append(g, ellipse(0.42, 0.66, 0.05, 0.1, alpha(white, 70)))
	for i, s := range g {
		g[i] = moved(s, 0, 0.14)
	}
	return append([]shape{
		gradient(pt{0, 0}, pt{0.4, 1}, rgb(0xff, 0x9a, 0x6a), rgb(0xd8, 0x38, 0x60), rgb(0x6a, 0x18, 0x70)),
		glow(0.5, 0.4, 0.6, alpha(rgb(0xff, 0xf0, 0xc0), 170)),
		softShadow(0.42, 0.92, 0.3, 0.05, 90),
	}, turned(0.5, 0.5, 0.72, 0.86, g...)...)
}

// chessPicture is a white knight and a black pawn on a chessboard.
func chessPicture() []shape {
	const horizon = 0.56
	board := func(x, y float64) (color.NRGBA, bool) {
		if y < horizon+0.02 {
			return color.NRGBA{}, false
		}
		d := 1 / (y - horizon)
		u, w := (x-0.5)*d*0.7+0.5, d*0.28
		c := rgb(0xf4, 0xe4, 0xc4)
		if (int(math.Floor(u))+int(math.Floor(w)))%2 != 0 {
			c = rgb(0x8a, 0x52, 0x28)
		}
		// Fade into the haze, where the squares grow too small to draw.
		t := math.Min(1, (y-horizon-0.02)/0.16)
		return mix(rgb(0xb8, 0xcc, 0xe0), c, t*t*(3-2*t)), true
	}
	ivory, ivoryDark, edge := rgb(0xff, 0xfc, 0xf0), rgb(0xc8, 0xb8, 0x98), rgb(0x40, 0x30, 0x20)
	ebony, ebonyLight := rgb(0x1a, 0x1a, 0x22), rgb(0x70, 0x70, 0x88)
	// The pawn, behind on the left.
	pawn := union(
		roundRect(0.1, 0.66, 0.38, 0.72, 0.02, white, white),
		roundRect(0.13, 0.62, 0.35, 0.67, 0.02, white, white),
		polygon(white, white, pt{0.17, 0.63}, pt{0.21, 0.42}, pt{0.27, 0.42}, pt{0.31, 0.63}),
		ellipse(0.24, 0.42, 0.08, 0.022, white),
		circle(0.24, 0.33, 0.075, white),
	)
	knight := union(
		roundRect(0.38, 0.82, 0.9, 0.9, 0.025, white, white),
		roundRect(0.42, 0.76, 0.86, 0.83, 0.025, white, white),
		polygon(white, white,
			pt{0.46, 0.77}, pt{0.5, 0.62}, pt{0.56, 0.52}, pt{0.53, 0.48},
			pt{0.46, 0.52}, pt{0.41, 0.5}, pt{0.38, 0.45}, pt{0.4, 0.4},
			pt{0.5, 0.3}, pt{0.56, 0.22}, pt{0.58, 0.14}, pt{0.62, 0.2},
			pt{0.68, 0.19}, pt{0.76, 0.24}, pt{0.83, 0.36}, pt{0.86, 0.52},
			pt{0.85, 0.66}, pt{0.82, 0.77}),
	)
	return []shape{
		gradient(pt{0, 0}, pt{0, horizon}, rgb(0x4a, 0x7c, 0xc0), rgb(0xa8, 0xd0, 0xf0)),
		glow(0.62, 0.4, 0.5, alpha(white, 120)),
		board,
		softShadow(0.26, 0.72, 0.18, 0.035, 120),
		softShadow(0.66, 0.9, 0.3, 0.045, 140),
		outline(pawn, 0.018, rgb(0x60, 0x68, 0x80)),
		shade(pawn, 0.2, 0.3, 0.4, ebonyLight, ebony),
		ellipse(0.215, 0.3, 0.025, 0.018, alpha(white, 120)),
		outline(knight, 0.02, edge),
		shade(knight, 0.56, 0.36, 0.6, ivory, ivoryDark),
		// Mane, eye, nostril and mouth.
		stroke(0.02, rgb(0xa0, 0x88, 0x60), curve(pt{0.66, 0.22}, pt{0.8, 0.34}, pt{0.8, 0.62})...),
		stroke(0.016, rgb(0xa0, 0x88, 0x60), curve(pt{0.7, 0.28}, pt{0.76, 0.4}, pt{0.74, 0.56})...),
		rotEllipse(0.57, 0.3, 0.03, 0.018, -0.5, edge),
		circle(0.42, 0.44, 0.014, edge),
		stroke(0.012, edge, pt{0.395, 0.48}, pt{0.45, 0.485}),
		stroke(0.014, rgb(0xa0, 0x88, 0x60), pt{0.46, 0.79}, pt{0.82, 0.79}),
		ellipse(0.56, 0.58, 0.03, 0.1, alpha(white, 130)),
	}
}

// sunsetPicture is the sun going down over the sea, a palm on the shore.
func sunsetPicture() []shape {
	const sea = 0.64
	dark := rgb(0x24, 0x12, 0x2c)
	out := []shape{
		gradient(pt{0, 0}, pt{0, sea}, rgb(0x3c, 0x2c, 0x88), rgb(0xb8, 0x3c, 0x88), rgb(0xff, 0x78, 0x48), rgb(0xff, 0xd0, 0x68)),
		glow(0.42, sea, 0.45, alpha(rgb(0xff, 0xf0, 0xa0), 200)),
		clip(radial(0.42, sea, 0.17, rgb(0xff, 0xfc, 0xd8), rgb(0xff, 0xb0, 0x30)), rect(0, 0, 1, sea, white)),
		ellipse(0.2, 0.4, 0.16, 0.018, alpha(rgb(0xa0, 0x30, 0x70), 170)),
		ellipse(0.68, 0.48, 0.2, 0.016, alpha(rgb(0xa0, 0x30, 0x70), 150)),
		ellipse(0.35, 0.26, 0.12, 0.014, alpha(rgb(0xe0, 0x70, 0x90), 150)),
		clip(gradient(pt{0, sea}, pt{0, 1}, rgb(0x8a, 0x3a, 0x78), rgb(0x2a, 0x1a, 0x50)), rect(0, sea, 1, 1, white)),
	}
	// The sun's path across the water.
	for i := 0; i < 8; i++ {
		y := sea + 0.025 + float64(i)*0.045
		w := 0.15 - float64(i)*0.012
		out = append(out, stroke(0.018, alpha(rgb(0xff, 0xd8, 0x70), uint8(230-i*18)), pt{0.42 - w, y}, pt{0.42 + w, y}))
	}
	// The palm on its island.
	out = append(out,
		ellipse(0.95, 1.02, 0.35, 0.12, dark),
		stroke(0.04, dark, curve(pt{0.9, 0.96}, pt{0.9, 0.55}, pt{0.76, 0.26})...),
	)
	frond := func(a, b, ctl pt) shape { return stroke(0.035, dark, curve(a, ctl, b)...) }
	top := pt{0.76, 0.26}
	out = append(out,
		frond(top, pt{0.48, 0.3}, pt{0.6, 0.16}),
		frond(top, pt{0.56, 0.44}, pt{0.6, 0.28}),
		frond(top, pt{1.02, 0.34}, pt{0.92, 0.18}),
		frond(top, pt{0.94, 0.5}, pt{0.92, 0.3}),
		frond(top, pt{0.7, 0.02}, pt{0.66, 0.12}),
		frond(top, pt{0.96, 0.1}, pt{0.86, 0.08}),
		// Two gulls.
		stroke(0.013, dark, curve(pt{0.14, 0.18}, pt{0.18, 0.13}, pt{0.21, 0.18})...),
		stroke(0.013, dark, curve(pt{0.21, 0.18}, pt{0.24, 0.13}, pt{0.28, 0.18})...),
		stroke(0.01, dark, curve(pt{0.3, 0.26}, pt{0.33, 0.22}, pt{0.35, 0.26})...),
		stroke(0.01, dark, curve(pt{0.35, 0.26}, pt{0.37, 0.22}, pt{0.4, 0.26})...),
	)
	return out
}
