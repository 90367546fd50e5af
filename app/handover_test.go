package app

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// TestHistoryLine: the history hand-over's progress shows as one line on
// the contact list, in words and numbers of the user's language, on the
// new computer and on the one sending; it goes when the hand-over ends,
// failed or not, and at sign-out.
func TestHistoryLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []api.HistoryEvent
		want   string // the words|the count; "": hidden
		bar    float64
	}{
		{"receiving", []api.HistoryEvent{{Direction: api.HistoryReceiving, Done: 1234, Total: 5000}},
			"History from your other computer…|1,234 of 5,000", 1234.0 / 5000},
		{"sending", []api.HistoryEvent{{Direction: api.HistorySending, Done: 512, Total: 1024}},
			"History to your new computer…|512 of 1,024", 0.5},
		{"finished", []api.HistoryEvent{{Direction: api.HistoryReceiving, Done: 10, Total: 20},
			{Direction: api.HistoryReceiving, Done: 20, Total: 20, Finished: true}}, "", 0},
		{"failed", []api.HistoryEvent{{Direction: api.HistoryReceiving, Done: 10, Total: 20},
			{Direction: api.HistoryReceiving, Done: 10, Total: 20, Finished: true, Error: "stream reset"}}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := signedIn(t)
			l := a.main.history
			if l.box.Visible() {
				t.Fatal("a progress line before any hand-over")
			}
			for _, ev := range tc.events {
				a.apply(api.Event{History: &ev})
			}
			if tc.want == "" {
				if l.box.Visible() {
					t.Fatalf("the line stays after the hand-over ended: %q", l.label.Text)
				}
				return
			}
			if got := l.label.Text + "|" + l.count.Text; !l.box.Visible() || got != tc.want {
				t.Fatalf("line %q (visible %v), want %q", got, l.box.Visible(), tc.want)
			}
			if d := l.bar.Value - tc.bar; d > 1e-9 || d < -1e-9 {
				t.Fatalf("bar at %v, want %v", l.bar.Value, tc.bar)
			}
			a.main.closeWindows()
			if l.box.Visible() {
				t.Fatal("the line stays after signing out")
			}
		})
	}
}

// TestHistoryLineFits: in every shipped language, the hand-over's words
// show whole beside a five-digit count in the contact list at its default
// width (the walk-through found "Bringing your history from your other
// com…").
func TestHistoryLineFits(t *testing.T) {
	for _, code := range []string{"en", "de", "es", "pt_BR"} {
		t.Run(code, func(t *testing.T) {
			useLanguageForTest(t, code)
			a, _ := signedIn(t)
			for _, dir := range []string{api.HistoryReceiving, api.HistorySending} {
				a.apply(api.Event{History: &api.HistoryEvent{Direction: dir, Done: 12345, Total: 54321}})
				// Laid out afresh at the default width, with the line shown.
				a.main.win.Resize(fyne.NewSize(300, 620))
				a.main.win.Resize(fyne.NewSize(360, 620))
				l := a.main.history
				whole := widget.NewLabel(l.label.Text)
				whole.SizeName = l.label.SizeName
				if need, have := whole.MinSize().Width, l.label.Size().Width; need > have {
					t.Errorf("%q needs %.0f px, has %.0f beside %q", l.label.Text, need, have, l.count.Text)
				}
			}
		})
	}
}
