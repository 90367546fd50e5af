package app

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// absRect is where o is drawn on canvas c, found in c's overlays (where
// dialogs are) and content: its top and bottom edges. (The test driver's
// AbsolutePositionForObject looks only at the last window created.)
func absRect(c fyne.Canvas, o fyne.CanvasObject) (top, bottom float32) {
	var find func(at fyne.Position, obj fyne.CanvasObject) (fyne.Position, bool)
	find = func(at fyne.Position, obj fyne.CanvasObject) (fyne.Position, bool) {
		at = at.Add(obj.Position())
		if obj == o {
			return at, true
		}
		var children []fyne.CanvasObject
		switch v := obj.(type) {
		case *fyne.Container:
			children = v.Objects
		case fyne.Widget:
			children = test.WidgetRenderer(v).Objects()
		}
		for _, ch := range children {
			if p, ok := find(at, ch); ok {
				return p, true
			}
		}
		return at, false
	}
	roots := append(c.Overlays().List(), c.Content())
	for _, r := range roots {
		if p, ok := find(fyne.Position{}, r); ok {
			return p.Y, p.Y + o.Size().Height
		}
	}
	return -1, -1
}

// assertStacked fails unless each visible object is drawn wholly below the
// one before it, each tall enough for its content: the test of a dialog
// whose parts overlap.
func assertStacked(t *testing.T, c fyne.Canvas, names []string, objs ...fyne.CanvasObject) {
	t.Helper()
	var lastBottom float32
	last := ""
	for i, o := range objs {
		if !o.Visible() {
			continue
		}
		top, bottom := absRect(c, o)
		if min := o.MinSize().Height; bottom-top < min-0.5 {
			t.Errorf("%s is %.0f px high, its content needs %.0f", names[i], bottom-top, min)
		}
		if last != "" && top < lastBottom-0.5 {
			t.Errorf("%s (top %.0f) overlaps %s (bottom %.0f)", names[i], top, last, lastBottom)
		}
		lastBottom, last = bottom, names[i]
	}
}

// TestVerifyDialogLayout: the Verify dialog's digits, explanation and code
// fields each get their own room once the number has arrived (issue 14,
// item 8: the digit rows sat on the explanation and the code field).
func TestVerifyDialogLayout(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	test.Tap(c.lock)
	v := c.safety
	assertStacked(t, c.win.Canvas(), []string{"number", "explanation", "code fields"}, v.number, v.state, v.form)
}
