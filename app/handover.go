package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// The history hand-over (node/handover). Signing in on a new computer,
// another computer of the account sends it the last 90 days' history: the
// contact list of both shows one thin line of progress while it runs
// ("History from your other computer… 1,234 of 5,000"), gone when it
// ends. The words are short enough to show whole beside the count in a
// contact list of its default width, in every language (TestHistoryLineFits).

// historyLine is the contact list's hand-over progress, hidden when none
// runs.
type historyLine struct {
	box   *fyne.Container
	label *widget.Label // what is happening, cut short when narrow
	count *widget.Label // "1,234 of 5,000", always whole
	bar   *thinBar      // transfers.go's
}

func newHistoryLine() *historyLine {
	l := &historyLine{label: widget.NewLabel(""), count: widget.NewLabel(""), bar: newThinBar()}
	l.label.Truncation = fyne.TextTruncateEllipsis
	l.label.SizeName, l.count.SizeName = theme.SizeNameCaptionText, theme.SizeNameCaptionText
	l.box = container.New(layout.NewCustomPaddedVBoxLayout(0),
		container.NewBorder(nil, nil, nil, l.count, l.label), l.bar)
	l.box.Hide()
	return l
}

// show follows one progress event: the line while it runs, nothing once
// it finished (the messages are in the history by then, or were not
// brought: the node says why in its log, and asks again at the next
// sign-in).
func (l *historyLine) show(ev api.HistoryEvent) {
	if ev.Finished {
		l.hide()
		return
	}
	p := printer()
	text := lang.L("History from your other computer…")
	if ev.Direction == api.HistorySending {
		text = lang.L("History to your new computer…")
	}
	l.label.SetText(text)
	l.count.SetText(lang.L("{{.Done}} of {{.Total}}", map[string]any{"Done": p.Sprint(ev.Done), "Total": p.Sprint(ev.Total)}))
	if ev.Total > 0 {
		l.bar.SetValue(float64(min(ev.Done, ev.Total)) / float64(ev.Total))
	}
	l.box.Show()
}

func (l *historyLine) hide() { l.box.Hide() }
