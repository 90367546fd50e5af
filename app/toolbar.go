package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// compactRow lays buttons out in a row, like container.NewHBox, but asks
// only for the room their icons need: when the row is narrower than the
// buttons with their words ("Send a file" is 40 % longer in German and
// Portuguese than in English), labelled buttons drop their words, the last
// first, and keep their icons, until the row fits; they get their words
// back when the window widens. So a translation never makes the
// conversation window wider than the size the app gives it, and as many
// buttons as fit keep saying what they do.
type compactRow struct {
	order  []*widget.Button          // the labelled buttons, left to right
	labels map[*widget.Button]string // each one's words
}

// newCompactRow is a compactRow for the labelled buttons among objects;
// give it the same objects as the container.
func newCompactRow(objects ...fyne.CanvasObject) *compactRow {
	r := &compactRow{labels: map[*widget.Button]string{}}
	for _, o := range objects {
		if b, ok := o.(*widget.Button); ok && b.Text != "" && b.Icon != nil {
			r.order = append(r.order, b)
			r.labels[b] = b.Text
		}
	}
	return r
}

// widths are the row's width with only icons, and what each visible
// labelled button's words add to it, measured on buttons made for the
// purpose: the row's own show one or the other at a time.
func (r *compactRow) widths(objects []fyne.CanvasObject) (compact float32, extra map[*widget.Button]float32) {
	extra = map[*widget.Button]float32{}
	n := 0
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		n++
		b, ok := o.(*widget.Button)
		label, labelled := r.labels[b]
		if !ok || !labelled {
			compact += o.MinSize().Width
			continue
		}
		icon := widget.NewButtonWithIcon("", b.Icon, nil).MinSize().Width
		compact += icon
		extra[b] = widget.NewButtonWithIcon(label, b.Icon, nil).MinSize().Width - icon
	}
	if n > 1 {
		compact += theme.Padding() * float32(n-1)
	}
	return compact, extra
}

func (r *compactRow) MinSize(objects []fyne.CanvasObject) fyne.Size {
	compact, _ := r.widths(objects)
	h := float32(0)
	for _, o := range objects {
		if o.Visible() {
			h = fyne.Max(h, o.MinSize().Height)
		}
	}
	return fyne.NewSize(compact, h)
}

func (r *compactRow) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	width, extra := r.widths(objects)
	// Words from the left while they fit: the first buttons are the
	// conversation's own (nudge), the later ones less used. Once one
	// button drops its words, every one after it does, so the row reads
	// as words then icons, never a patchwork.
	fit := true
	for _, b := range r.order {
		want := ""
		if e, visible := extra[b]; visible && fit {
			if fit = width+e <= size.Width; fit {
				want, width = r.labels[b], width+e
			}
		}
		if b.Text != want {
			b.SetText(want)
		}
	}
	x := float32(0)
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		w := o.MinSize().Width
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w, size.Height))
		x += w + theme.Padding()
	}
}
