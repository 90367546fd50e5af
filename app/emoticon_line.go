package app

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Nicks and personal messages show their emoticons as pictures, as MSN
// did, wherever they appear on one line: the contact list's rows, our own
// name at the top of it and a conversation's header. messageText wraps
// and is made for a conversation; emoticonLine is its one-line sibling,
// sized and padded as a widget.Label is, so it lines up with labels
// beside it, and cut with "…" when the line is too short.

// lineSegment is a run of an emoticonLine in one colour and style.
type lineSegment struct {
	Text      string
	ColorName fyne.ThemeColorName // "" is the foreground
	Style     fyne.TextStyle
}

// emoticonLine is one line of text in segments, emoticons as pictures.
type emoticonLine struct {
	widget.BaseWidget
	Segments []lineSegment
	SizeName fyne.ThemeSizeName // "" is the theme's text size
	// Truncation is TextTruncateOff (the line asks for all its width) or
	// TextTruncateEllipsis (it takes what it is given and ends in "…").
	Truncation fyne.TextTruncation

	pieces [][]textPiece // Segments, parsed
}

func newEmoticonLine(segs ...lineSegment) *emoticonLine {
	l := &emoticonLine{}
	l.ExtendBaseWidget(l)
	l.SetSegments(segs...)
	return l
}

// SetSegments changes what the line says.
func (l *emoticonLine) SetSegments(segs ...lineSegment) {
	l.Segments = segs
	l.Refresh()
}

// Refresh parses the segments again and redraws.
func (l *emoticonLine) Refresh() {
	l.pieces = l.pieces[:0]
	for _, s := range l.Segments {
		l.pieces = append(l.pieces, parseEmoticons(s.Text))
	}
	l.BaseWidget.Refresh()
}

// String is the line's text, codes and all, as a Label's Text would be.
func (l *emoticonLine) String() string {
	var b strings.Builder
	for _, s := range l.Segments {
		b.WriteString(s.Text)
	}
	return b.String()
}

func (l *emoticonLine) CreateRenderer() fyne.WidgetRenderer {
	return &emoticonLineRenderer{l: l}
}

type emoticonLineRenderer struct {
	l       *emoticonLine
	texts   []*canvas.Text  // pooled
	images  []*canvas.Image // pooled
	objects []fyne.CanvasObject
}

// metrics are the sizes a line is drawn at: the text size, the height of a
// line of text (an emoticon is as high, so a line with one is no taller
// than a label) and the padding around it, the label's.
func (r *emoticonLineRenderer) metrics() (size, textH, pad float32) {
	name := r.l.SizeName
	if name == "" {
		name = theme.SizeNameText
	}
	size = theme.SizeForWidget(name, r.l)
	textH = fyne.MeasureText("Mg", size, fyne.TextStyle{}).Height // not translated: measures a line
	return size, textH, theme.SizeForWidget(theme.SizeNameInnerPadding, r.l)
}

// lineItem is one placed piece: a run of text or an emoticon.
type lineItem struct {
	seg      int
	text     string
	emoticon bool
	x, w     float32
}

// lay places the pieces from x = 0, no further than maxW when cut is set:
// the piece that does not fit is cut, and "…" ends the line.
func (r *emoticonLineRenderer) lay(maxW float32, cut bool) []lineItem {
	size, textH, _ := r.metrics()
	measure := func(s string, st fyne.TextStyle) float32 { return fyne.MeasureText(s, size, st).Width }
	var items []lineItem
	x := float32(0)
	for i, ps := range r.l.pieces {
		st := r.l.Segments[i].Style
		for _, p := range ps {
			w := textH
			if !p.Emoticon {
				w = measure(p.Text, st)
			}
			items = append(items, lineItem{seg: i, text: p.Text, emoticon: p.Emoticon, x: x, w: w})
			x += w
		}
	}
	if !cut || x <= maxW || len(items) == 0 {
		return items
	}
	// Too long: keep what fits before an ellipsis, cutting text between
	// letters; an emoticon is kept whole or not at all.
	for i, it := range items {
		st := r.l.Segments[it.seg].Style
		room := maxW - it.x - measure("…", st)
		if it.w <= room {
			continue
		}
		out := items[:i]
		text := ""
		if !it.emoticon && room > 0 {
			n := fitPrefix(it.text, room, func(s string) float32 { return measure(s, st) })
			if measure(it.text[:n], st) <= room {
				text = it.text[:n]
			}
		}
		text = strings.TrimRight(text, " ") + "…"
		return append(out, lineItem{seg: it.seg, text: text, x: it.x, w: measure(text, st)})
	}
	return items
}

func (r *emoticonLineRenderer) MinSize() fyne.Size {
	size, textH, pad := r.metrics()
	if r.l.Truncation == fyne.TextTruncateEllipsis {
		return fyne.NewSize(fyne.MeasureText("…", size, fyne.TextStyle{}).Width+2*pad, textH+2*pad)
	}
	w := float32(0)
	if items := r.lay(0, false); len(items) > 0 {
		last := items[len(items)-1]
		w = last.x + last.w
	}
	return fyne.NewSize(w+2*pad, textH+2*pad)
}

func (r *emoticonLineRenderer) Layout(s fyne.Size) {
	size, textH, pad := r.metrics()
	items := r.lay(s.Width-2*pad, r.l.Truncation == fyne.TextTruncateEllipsis)
	nt, ni := 0, 0
	r.objects = r.objects[:0]
	for _, it := range items {
		seg := r.l.Segments[it.seg]
		if it.emoticon {
			if ni == len(r.images) {
				r.images = append(r.images, &canvas.Image{FillMode: canvas.ImageFillContain, ScaleMode: canvas.ImageScaleSmooth})
			}
			img := r.images[ni]
			ni++
			if res := emoticonResources[it.text]; img.Resource != res {
				img.Resource = res
				img.Refresh()
			}
			img.Move(fyne.NewPos(pad+it.x, pad))
			img.Resize(fyne.NewSquareSize(textH))
			r.objects = append(r.objects, img)
			continue
		}
		if nt == len(r.texts) {
			r.texts = append(r.texts, &canvas.Text{})
		}
		txt := r.texts[nt]
		nt++
		colour := seg.ColorName
		if colour == "" {
			colour = theme.ColorNameForeground
		}
		txt.Text, txt.TextSize, txt.TextStyle = it.text, size, seg.Style
		txt.Color = theme.ColorForWidget(colour, r.l)
		txt.Move(fyne.NewPos(pad+it.x, pad))
		txt.Resize(fyne.NewSize(it.w, textH))
		txt.Refresh()
		r.objects = append(r.objects, txt)
	}
}

func (r *emoticonLineRenderer) Refresh() {
	r.Layout(r.l.Size())
	canvas.Refresh(r.l)
}

func (r *emoticonLineRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *emoticonLineRenderer) Destroy()                     {}

// emoticonLabel is a one-line label whose emoticons show as pictures:
// Text, Importance, TextStyle and SizeName as widget.Label has them.
type emoticonLabel struct {
	emoticonLine
	Text       string
	Importance widget.Importance
	TextStyle  fyne.TextStyle
}

func newEmoticonLabel(text string) *emoticonLabel {
	l := &emoticonLabel{Text: text}
	l.ExtendBaseWidget(l)
	l.Refresh()
	return l
}

// SetText changes the text.
func (l *emoticonLabel) SetText(text string) {
	l.Text = text
	l.Refresh()
}

// Refresh shows Text in the colour Importance gives a widget.Label.
func (l *emoticonLabel) Refresh() {
	colour := theme.ColorNameForeground
	switch l.Importance {
	case widget.LowImportance:
		colour = theme.ColorNameDisabled
	case widget.HighImportance:
		colour = theme.ColorNamePrimary
	case widget.DangerImportance:
		colour = theme.ColorNameError
	}
	l.Segments = []lineSegment{{Text: l.Text, ColorName: colour, Style: l.TextStyle}}
	l.emoticonLine.Refresh()
}
