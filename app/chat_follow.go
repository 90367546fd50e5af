package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Keeping the newest message in view. A conversation follows its newest
// message as it grows, as the window is resized and as wrapped text settles
// to its height — unless the person scrolled up to read: then it stays
// where they read and a "New messages" marker offers the way down.
//
// Scrolling once when an item is added is not enough: the history's height
// is known only after Fyne lays it out at the window's width (a message's
// height depends on how it wraps), which happens later and again on every
// resize. So the history and its scroll are laid out by followLayout, which
// scrolls down after each layout while following.

// followSlack is how far from the bottom still counts as at the bottom.
const followSlack = 4

// followLayout lays out its objects with inner (or, without one, gives each
// the whole size), then calls after.
type followLayout struct {
	inner fyne.Layout
	after func()
}

func (l *followLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if l.inner != nil {
		l.inner.Layout(objs, size)
	} else {
		for _, o := range objs {
			o.Move(fyne.NewPos(0, 0))
			o.Resize(size)
		}
	}
	l.after()
}

func (l *followLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	if l.inner != nil {
		return l.inner.MinSize(objs)
	}
	var min fyne.Size
	for _, o := range objs {
		min = min.Max(o.MinSize())
	}
	return min
}

// newNewBelow makes the marker shown while new messages wait below.
func (c *chatWindow) newNewBelow() *widget.Button {
	b := widget.NewButtonWithIcon(lang.L("New messages"), theme.MoveDownIcon(), c.jumpToNewest)
	b.Importance = widget.HighImportance
	b.Hide()
	return b
}

// keepNewestInView runs after every layout of the history or its scroll.
func (c *chatWindow) keepNewestInView() {
	if c.follow {
		c.scroll.ScrollToBottom()
	}
}

// scrolled runs whenever the history's offset moves, by the person or by
// us: at the bottom it follows again, anywhere above it stays.
func (c *chatWindow) scrolled(fyne.Position) {
	was := c.follow
	c.follow = c.atBottom()
	if c.follow {
		c.newBelow.Hide()
		if !was {
			c.markSeen(false) // scrolled down to what was new
		}
	}
}

// atBottom reports whether the end of the history is in view.
func (c *chatWindow) atBottom() bool {
	return c.scroll.Offset.Y >= c.scroll.Content.MinSize().Height-c.scroll.Size().Height-followSlack
}

// grew runs when the history got a new item: lay it out (which follows it
// down when following), else tell the reader something new is below.
func (c *chatWindow) grew() {
	c.scroll.Refresh()
	if c.follow {
		c.scroll.ScrollToBottom()
		return
	}
	c.newBelow.Show()
}

// jumpToNewest is the marker: down to the newest message, following again.
func (c *chatWindow) jumpToNewest() {
	c.follow = true
	c.newBelow.Hide()
	c.scroll.ScrollToBottom()
	c.markSeen(true) // a click in this window: it is in front
}
