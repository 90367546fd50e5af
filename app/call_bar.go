package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// callLinger is how long the bar stays after a call ended, saying how.
const callLinger = 5 * time.Second

// callBar is the strip at the top of a conversation while a call with
// the contact rings or runs: where the call stands, its time and quality
// in words, and Mute, the volume and Hang up. One line high, so the
// history and the entry keep their room.
type callBar struct {
	c    *chatWindow
	call api.CallEvent // the call shown; ID "" when none was
	box  *fyne.Container

	state   *widget.Label
	quality *widget.Label
	mute    *widget.Check
	volume  *widget.Slider
	hangUp  *widget.Button
	tick    func() bool // stops the next tick of the timer
	linger  func() bool // stops the timer that hides an ended call's bar
}

func newCallBar(c *chatWindow) *callBar {
	b := &callBar{c: c}
	b.state = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	b.state.Truncation = fyne.TextTruncateEllipsis
	b.quality = widget.NewLabel("")
	b.quality.Importance = widget.LowImportance
	b.mute = widget.NewCheck(lang.L("Mute"), b.setMuted)
	b.volume = widget.NewSlider(0, 2)
	b.volume.Step = 0.1
	b.volume.Value = 1
	b.volume.OnChanged = b.setVolume
	b.hangUp = widget.NewButtonWithIcon(lang.L("Hang up"), theme.CancelIcon(), b.end)
	b.hangUp.Importance = widget.DangerImportance
	// The slider has no width of its own: it gets enough to be dragged.
	slider := container.New(layout.NewGridWrapLayout(fyne.NewSize(90, b.volume.MinSize().Height)), b.volume)
	tools := []fyne.CanvasObject{b.mute, widget.NewIcon(theme.VolumeUpIcon()), slider, b.hangUp}
	row := newCompactRow(tools...)
	controls := container.New(row, tools...)
	info := container.NewBorder(nil, nil, nil, b.quality, b.state)
	b.box = container.New(&callBarLayout{b: b, row: row}, info, controls)
	b.box.Hide()
	return b
}

// busy reports whether the bar follows a call that rings or runs.
func (b *callBar) busy() bool {
	return b.call.ID != "" && b.call.State != api.CallEnded
}

// follow shows call e as it stands now.
func (b *callBar) follow(e api.CallEvent) {
	if b.call.ID != e.ID {
		// A new call: its controls start afresh.
		b.mute.SetChecked(false)
		b.volume.Value = 1
		b.volume.Refresh()
		b.quality.SetText("")
	}
	if e.Since.IsZero() && b.call.ID == e.ID {
		e.Since = b.call.Since // a later event without it keeps the start
	}
	b.call = e
	b.stopTimers()
	active := e.State == api.CallActive
	for _, w := range []fyne.Disableable{b.mute, b.volume} {
		if active {
			w.Enable()
		} else {
			w.Disable()
		}
	}
	if e.State == api.CallEnded {
		b.hangUp.Disable()
		b.quality.SetText("")
		b.linger = b.c.clock.AfterFunc(callLinger, b.hide)
	} else {
		b.hangUp.Enable()
	}
	if e.Relayed && b.quality.Text == "" && active {
		b.quality.SetText(lang.L("relayed"))
	}
	b.showState()
	if ct, ok := b.c.app.contacts[b.c.with]; ok {
		b.c.callable(ct)
	}
	if !b.box.Visible() {
		b.box.Show()
		b.c.top.Refresh()
	}
}

// showState writes the state in words; a running call's timer ticks once
// a second.
func (b *callBar) showState() {
	name := b.c.app.nameOf(b.call.With)
	var text string
	switch b.call.State {
	case api.CallCalling:
		text = lang.L("Calling {{.Name}}…", map[string]any{"Name": name})
	case api.CallRinging, api.CallIncoming:
		text = lang.L("Ringing…")
		if !b.call.Outgoing {
			text = callingYouText(name)
		}
	case api.CallActive:
		text = lang.L("In call {{.Time}}", map[string]any{"Time": callClock(b.c.clock.Now().Sub(b.call.Since))})
		if b.call.Since.IsZero() {
			text = lang.L("In call")
		} else if !b.c.closed {
			b.tick = b.c.clock.AfterFunc(time.Second, b.showState)
		}
	case api.CallEnded:
		text = lang.L("Call ended — {{.Reason}}", map[string]any{"Reason": reasonText(b.call.Reason, name)})
	}
	b.state.SetText(text)
}

// setStats shows a running call's quality in words.
func (b *callBar) setStats(s api.CallStats) {
	if b.call.State != api.CallActive {
		return
	}
	q := lang.L("good")
	if s.Quality == api.QualityPoor {
		q = lang.L("poor")
	}
	text := lang.L("Quality: {{.Quality}}", map[string]any{"Quality": q})
	if s.Relayed {
		text = lang.L("Quality: {{.Quality}}, relayed", map[string]any{"Quality": q})
	}
	b.quality.SetText(text)
}

// callClock is a running call's time: "01:23", or "1:02:03" past an hour.
func callClock(d time.Duration) string {
	s := max(int(d/time.Second), 0)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// reasonText is how a call ended, in words.
func reasonText(reason, name string) string {
	switch reason {
	case api.CallReasonHungUp:
		return lang.L("you hung up")
	case api.CallReasonTheyHung:
		return lang.L("{{.Name}} hung up", map[string]any{"Name": name})
	case api.CallReasonDeclined:
		return lang.L("declined")
	case api.CallReasonBusy:
		return lang.L("busy")
	case api.CallReasonMissed:
		return lang.L("no answer")
	case api.CallReasonOffline:
		return lang.L("{{.Name}} went offline", map[string]any{"Name": name})
	case api.CallReasonLost:
		return lang.L("connection lost")
	case api.CallReasonElsewhere:
		return lang.L("answered on another device")
	}
	return lang.L("it failed")
}

func (b *callBar) setMuted(on bool) {
	if !b.busy() {
		return
	}
	id := b.call.ID
	b.c.app.command(func(ctx context.Context) error { return b.c.app.api.MuteCall(ctx, id, on) }, b.failed)
}

func (b *callBar) setVolume(v float64) {
	if !b.busy() {
		return
	}
	id := b.call.ID
	b.c.app.command(func(ctx context.Context) error { return b.c.app.api.SetCallVolume(ctx, id, v) }, b.failed)
}

// end is Hang up: a call ringing here is declined, any other hung up.
func (b *callBar) end() {
	if !b.busy() {
		return
	}
	id, incoming := b.call.ID, !b.call.Outgoing && b.call.State != api.CallActive
	b.c.app.command(func(ctx context.Context) error {
		if incoming {
			return b.c.app.api.DeclineCall(ctx, id)
		}
		return b.c.app.api.HangUp(ctx, id)
	}, b.failed)
}

// failed says in the conversation that a call command failed; a call
// that is already gone needs no word (its end event says how it ended).
func (b *callBar) failed(err error) {
	if err != nil && !errors.Is(err, api.ErrNoSuchCall) && !b.c.closed {
		b.c.notice(lang.L("The call could not be changed: {{.Error}}", map[string]any{"Error": errorText(err)}))
	}
}

// hide takes the bar away once an ended call has been shown long enough.
func (b *callBar) hide() {
	b.linger = nil
	if b.busy() || b.c.closed {
		return
	}
	b.box.Hide()
	b.c.top.Refresh()
}

func (b *callBar) stopTimers() {
	for _, stop := range []*func() bool{&b.tick, &b.linger} {
		if *stop != nil {
			(*stop)()
			*stop = nil
		}
	}
}

// callBarLayout puts the state and quality on the left and the controls on
// the right, giving the words of the state room first: Hang up drops its
// word (compactRow) before "In call 01:23" is cut, so the bar never makes
// the conversation wider than it is without it.
type callBarLayout struct {
	b   *callBar
	row *compactRow
}

func (l *callBarLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	info, controls := objs[0], objs[1]
	compact, extra := l.row.widths(controls.(*fyne.Container).Objects)
	full := compact
	for _, e := range extra {
		full += e
	}
	pad := theme.Padding()
	text := fyne.MeasureText(l.b.state.Text, theme.TextSize(), l.b.state.TextStyle).Width + 2*theme.InnerPadding()
	want := text + l.b.quality.MinSize().Width
	w := max(compact, min(full, size.Width-want-pad))
	controls.Move(fyne.NewPos(size.Width-w, 0))
	controls.Resize(fyne.NewSize(w, size.Height))
	info.Move(fyne.NewPos(0, 0))
	info.Resize(fyne.NewSize(max(size.Width-w-pad, 0), size.Height))
}

func (l *callBarLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	a, b := objs[0].MinSize(), objs[1].MinSize()
	return fyne.NewSize(a.Width+theme.Padding()+b.Width, max(a.Height, b.Height))
}
