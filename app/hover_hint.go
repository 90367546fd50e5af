package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// hoverHint lies over a button and shows a short note under it while the
// pointer rests there — why it is greyed out — since Fyne has no tooltips.
// It passes the hover on, so the button still lights up, and takes no
// taps: those reach the button beneath.
type hoverHint struct {
	widget.BaseWidget
	under *widget.Button
	text  func() string // the note now; "" shows none
	pop   *widget.PopUp
}

// withHint is b with its hint over it, for a layout: hide this, not b.
func withHint(b *widget.Button, text func() string) *fyne.Container {
	h := &hoverHint{under: b, text: text}
	h.ExtendBaseWidget(h)
	return container.NewStack(b, h)
}

func (h *hoverHint) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(canvas.NewRectangle(color.Transparent))
}

func (h *hoverHint) MouseIn(e *desktop.MouseEvent) {
	h.under.MouseIn(e)
	text := h.text()
	c := fyne.CurrentApp().Driver().CanvasForObject(h)
	if text == "" || c == nil {
		return
	}
	h.hide()
	label := widget.NewLabel(text)
	h.pop = widget.NewPopUp(label, c)
	at := fyne.CurrentApp().Driver().AbsolutePositionForObject(h)
	// Under the button, kept inside the window.
	x := min(at.X, c.Size().Width-label.MinSize().Width-8)
	h.pop.ShowAtPosition(fyne.NewPos(max(x, 0), at.Y+h.Size().Height))
}

func (h *hoverHint) MouseMoved(e *desktop.MouseEvent) { h.under.MouseMoved(e) }

func (h *hoverHint) MouseOut() {
	h.under.MouseOut()
	h.hide()
}

func (h *hoverHint) hide() {
	if h.pop != nil {
		h.pop.Hide()
		h.pop = nil
	}
}
