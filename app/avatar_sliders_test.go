package app

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// TestAvatarPickerSlidersWait (issue 14): before a picture is chosen the
// Size, Left and Top rows are off — the sliders disabled and their names
// greyed, where bold names made them look ready to use — and come on
// when a picture is loaded to crop; a ready-made picture, which has
// nothing to crop, turns them off again. The caption under the preview
// reads as a whole sentence, drawn in full.
func TestAvatarPickerSlidersWait(t *testing.T) {
	a, _ := signedIn(t)
	test.Tap(a.main.avatar)
	p := a.main.picker
	p.win.Resize(fyne.NewSize(560, 580))
	rows := func() (on []bool) {
		for i, s := range []*widget.Slider{p.size, p.x, p.y} {
			label := p.sliderNames[i]
			if s.Disabled() != (label.Importance == widget.LowImportance) {
				t.Fatalf("%s: slider disabled %v, name importance %v", label.Text, s.Disabled(), label.Importance)
			}
			on = append(on, !s.Disabled())
		}
		return on
	}
	check := func(when string, want ...bool) {
		t.Helper()
		got := rows()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: rows on %v, want %v", when, got, want)
			}
		}
	}
	check("opened", false, false, false)
	p.load(writePNG(t, 200, 100)) // wide: the square moves left and right only
	check("a picture loaded", true, true, false)
	p.choosePicture(0)
	check("a ready-made picture", false, false, false)
	p.load(writePNG(t, 200, 100))
	a.showAvatarPicker() // opened again: nothing chosen
	check("reopened", false, false, false)

	caption := strings.Join(strings.Fields(p.seen.Text), " ")
	if caption != "Your contacts see this." {
		t.Errorf("caption %q, want a sentence", caption)
	}
	if p.seen.Truncation != fyne.TextTruncateOff || p.seen.Size().Width < p.seen.MinSize().Width {
		t.Errorf("caption drawn %v wide, needs %v", p.seen.Size().Width, p.seen.MinSize().Width)
	}
}
