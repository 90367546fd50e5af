package app

import (
	"context"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// Typing and nudges in the chat window: the signals MSN sent besides
// messages. Both are best-effort and never stored.

// clock is time as chat windows see it. Tests swap chatClock for one they
// step by hand, so typing timeouts and nudge intervals need no sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc runs f on Fyne's goroutine after d unless stop is called
	// first; stop reports whether it stopped f from running.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, func() { fyne.Do(f) }).Stop
}

// chatClock is the clock new chat windows use.
var chatClock clock = realClock{}

// typed runs when the entry changes: it tells the contact we are typing,
// at most once per api.TypingInterval however fast the keys come.
func (c *chatWindow) typed(text string) {
	if text != "" {
		c.markSeen(true) // typing here: the window is in front
	}
	if text == "" || api.IsConversation(c.with) {
		return // cleared by sending, or by the user: not typing; typing is two-party
	}
	now := c.clock.Now()
	if !c.lastTyping.IsZero() && now.Sub(c.lastTyping) < api.TypingInterval {
		return
	}
	c.lastTyping = now
	to := c.with
	// No done: a lost typing signal is nothing to tell the user about.
	c.app.command(func(ctx context.Context) error { return c.app.api.Typing(ctx, to) }, nil)
}

// typing shows that the contact is typing, until api.TypingTimeout after
// their last signal or until their message arrives.
func (c *chatWindow) typing() {
	if c.closed {
		return
	}
	if c.typingStop != nil {
		c.typingStop()
	}
	c.typingShown = true
	c.typingStop = c.clock.AfterFunc(api.TypingTimeout, func() {
		if !c.closed {
			c.clearTyping()
		}
	})
	c.showStatus()
}

func (c *chatWindow) clearTyping() {
	if c.typingStop != nil {
		c.typingStop()
		c.typingStop = nil
	}
	if c.typingShown {
		c.typingShown = false
		c.showStatus()
	}
}

// showStatus fills the status bar: typing first, else MSN's "last message
// received" line.
func (c *chatWindow) showStatus() {
	// Typing stands out; the last message's time is background.
	c.statusBar.Importance = widget.LowImportance
	c.statusBar.TextStyle = fyne.TextStyle{}
	switch {
	case c.typingShown:
		c.statusBar.Importance = widget.MediumImportance
		c.statusBar.TextStyle = fyne.TextStyle{Italic: true}
		c.statusBar.SetText(lang.L("{{.Name}} is typing...", map[string]any{"Name": c.app.nameOf(c.with)}))
	case !c.lastRecv.IsZero():
		t := c.lastRecv.Local()
		c.statusBar.SetText(lang.L("Last message received at {{.Time}} on {{.Day}} {{.Month}} {{.Year}}.", map[string]any{
			"Time": clockText(t), "Day": t.Day(), "Month": monthName(t.Month()), "Year": t.Year(),
		}))
	default:
		c.statusBar.SetText("")
	}
}

// nudgeShortcut is Ctrl+G (Cmd+G on macOS).
var nudgeShortcut = &desktop.CustomShortcut{KeyName: fyne.KeyG, Modifier: fyne.KeyModifierShortcutDefault}

// nudgeIcon is the toolbar's nudge button: a window that shakes.
var nudgeIcon = fyne.NewStaticResource("nudge.png", assets.Nudge)

// sendNudge nudges the contact; our own window shakes too, as MSN's did.
func (c *chatWindow) sendNudge() {
	to := c.with
	c.app.command(func(ctx context.Context) error { return c.app.api.Nudge(ctx, to) }, func(err error) {
		if c.closed {
			return
		}
		switch api.Code(err) {
		case "":
			c.line(lang.L("You have just sent a nudge."), c.clock.Now(), widget.MediumImportance)
			c.shake()
		case "rate_limited":
			c.notice(lang.L("You can't send nudges so often."))
		case "unreachable":
			c.notice(lang.L("{{.Name}} can't be reached right now, so the nudge was not sent.", map[string]any{"Name": c.app.nameOf(to)}))
		default:
			c.notice(lang.L("The nudge could not be sent: {{.Error}}", map[string]any{"Error": errorText(err)}))
		}
	})
}

// nudged shows a contact's nudge: the window opens and comes to the front
// and shakes, at most once per api.NudgeInterval whatever the sender does.
func (c *chatWindow) nudged(n api.NudgeEvent) {
	when := n.Time
	if when.IsZero() {
		when = c.clock.Now()
	}
	c.line(nudgedText(c.app.nameOf(n.From)), when, widget.MediumImportance)
	c.show(false)
	c.win.RequestFocus()
	now := c.clock.Now()
	if !c.lastShaken.IsZero() && now.Sub(c.lastShaken) < api.NudgeInterval {
		return
	}
	c.lastShaken = now
	c.shake()
}

// nudgedText is the line a contact's nudge leaves, in the chat and in
// the history alike.
func nudgedText(name string) string {
	return lang.L("{{.Name}} has just sent you a nudge!", map[string]any{"Name": name})
}

// Shaking moves the window's content left and right, dying away.
const (
	shakeDuration  = 500 * time.Millisecond
	shakeAmplitude = 10  // pixels at the start
	shakeSwings    = 5.0 // full left-right swings
)

// shake starts the animation, restarting one already running.
func (c *chatWindow) shake() {
	c.shakes++
	if c.shakeAnim != nil {
		c.shakeAnim.Stop()
	}
	c.shakeAnim = fyne.NewAnimation(shakeDuration, c.shakeStep)
	c.shakeAnim.Curve = fyne.AnimationLinear
	c.shakeAnim.Start()
}

// shakeStep places the content for progress p (0 to 1) of the shake. It
// moves the content only, without laying it out again, so every frame is cheap.
func (c *chatWindow) shakeStep(p float32) {
	l := c.shaker.Layout.(*shakeLayout)
	l.dx = float32(math.Sin(float64(p)*shakeSwings*2*math.Pi)) * shakeAmplitude * (1 - p)
	if p >= 1 {
		l.dx = 0
	}
	c.shaker.Objects[0].Move(fyne.NewPos(l.dx, 0))
}

// shakeLayout gives its one object the whole space, offset by dx.
type shakeLayout struct{ dx float32 }

func (l *shakeLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Resize(size)
		o.Move(fyne.NewPos(l.dx, 0))
	}
}

func (l *shakeLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var min fyne.Size
	for _, o := range objs {
		min = min.Max(o.MinSize())
	}
	return min
}
