package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// compactRow lays buttons out in a row, like container.NewHBox, but asks
// only for the room their icons need: when the row is narrower than the
// buttons with their words ("Send a file" is 40 % longer in German and
// Portuguese than in English), the labelled buttons drop their words and
// keep their icons, and get them back when the window widens. So a
// translation never makes the conversation window wider than the size the
// app gives it.
type compactRow struct {
	labels map[*widget.Button]string // each labelled button's words
}

// newCompactRow is a compactRow for the labelled buttons among objects;
// give it the same objects as the container.
func newCompactRow(objects ...fyne.CanvasObject) *compactRow {
	r := &compactRow{labels: map[*widget.Button]string{}}
	for _, o := range objects {
		if b, ok := o.(*widget.Button); ok && b.Text != "" && b.Icon != nil {
			r.labels[b] = b.Text
		}
	}
	return r
}

// widths are the row's width with every label shown and with only icons,
// measured on buttons made for the purpose: the row's own show one or the
// other at a time.
func (r *compactRow) widths(objects []fyne.CanvasObject) (full, compact float32) {
	gap := theme.Padding()
	n := 0
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		n++
		b, ok := o.(*widget.Button)
		label, labelled := r.labels[b]
		if !ok || !labelled {
			w := o.MinSize().Width
			full, compact = full+w, compact+w
			continue
		}
		full += widget.NewButtonWithIcon(label, b.Icon, nil).MinSize().Width
		compact += widget.NewButtonWithIcon("", b.Icon, nil).MinSize().Width
	}
	if n > 1 {
		full += gap * float32(n-1)
		compact += gap * float32(n-1)
	}
	return full, compact
}

func (r *compactRow) MinSize(objects []fyne.CanvasObject) fyne.Size {
	_, compact := r.widths(objects)
	h := float32(0)
	for _, o := range objects {
		if o.Visible() {
			h = fyne.Max(h, o.MinSize().Height)
		}
	}
	return fyne.NewSize(compact, h)
}

func (r *compactRow) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	full, _ := r.widths(objects)
	words := size.Width >= full
	for b, label := range r.labels {
		want := ""
		if words {
			want = label
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
