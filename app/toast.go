package app

import (
	"context"
	"image/color"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Notifications go to the desktop's notification service. Where there is
// none — a bare window manager, a remote session — or it fails, they show
// as MSN showed them: small toasts in the bottom-right corner of the
// contact list, stacked, gone after a few seconds; a click on one opens the
// conversation it is about. The service's failure is logged once, not once
// per notification.

const (
	// notifyTimeout bounds a call to the notification service: one that
	// hangs must not hold a notification back for long.
	notifyTimeout = 3 * time.Second
	// toastLife is how long a toast stays, as long as MSN's did.
	toastLife = 7 * time.Second
	// maxToasts are shown at once; the oldest make room for new ones.
	maxToasts = 3
	// toastWidth is a toast's width where the window has room for it.
	toastWidth = 260
)

// notify shows a notification through the desktop's service, or as a toast
// when that fails. chat is the conversation a click on the toast opens,
// "" for none.
func (a *App) notify(title, body, chat string) {
	send, n := a.notifySink, fyne.NewNotification(title, body)
	var id uint32
	a.command(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
		defer cancel()
		var err error
		id, err = send(ctx, n)
		return err
	}, func(err error) {
		if a.account == nil {
			return // signed out meanwhile: old news
		}
		if err == nil {
			a.notifiedAbout(chat, id) // shown by the desktop: withdrawn once read
			return
		}
		a.main.toasts.failed(err)
		a.main.toasts.show(title, body, chat)
	})
}

// appNotifier sends notifications as Fyne does, reporting no failure: on
// desktops where this package has no notifier of its own (notifier_*.go),
// and in tests' apps, which show none.
func appNotifier(app fyne.App) func(context.Context, *fyne.Notification) (uint32, error) {
	return func(_ context.Context, n *fyne.Notification) (uint32, error) {
		app.SendNotification(n)
		return 0, nil // Fyne gives no handle to take it back by
	}
}

// noWithdraw is the withdrawSink where notifications cannot be taken
// back (Fyne's): they fade by themselves.
func noWithdraw(context.Context, uint32) error { return nil }

// toastStack is the contact list's corner where toasts show: a layer over
// the window's content that holds nothing else, so clicks beside the
// toasts reach the list beneath.
type toastStack struct {
	app    *App
	layer  *fyne.Container
	toasts []*toast // oldest first
	// logf reports the service's first failure; tests replace it.
	logf   func(msg string, err error)
	logged bool
}

func newToastStack(a *App) *toastStack {
	return &toastStack{app: a, layer: container.New(toastLayout{}), logf: fyne.LogError}
}

// failed logs the first failure of the notification service: later ones
// say nothing new, and a line per notification buried the log.
func (s *toastStack) failed(err error) {
	if s.logged {
		return
	}
	s.logged = true
	s.logf("desktop notifications are not available, so they show in the contact list instead", err)
}

// show adds a toast, making room if there are already maxToasts.
func (s *toastStack) show(title, body, chat string) {
	for len(s.toasts) >= maxToasts {
		s.dismiss(s.toasts[0])
	}
	t := newToast(title, body)
	t.chat = chat
	t.onTap = func() {
		s.dismiss(t)
		if chat != "" {
			s.app.openChat(chat)
		}
	}
	t.stop = chatClock.AfterFunc(toastLife, func() { s.dismiss(t) })
	s.toasts = append(s.toasts, t)
	s.layer.Add(t)
	s.layer.Refresh() // Add only lays out; the window must be drawn again
}

// dismiss takes t away, if it is still shown.
func (s *toastStack) dismiss(t *toast) {
	for i, x := range s.toasts {
		if x == t {
			t.stop()
			s.toasts = append(s.toasts[:i], s.toasts[i+1:]...)
			s.layer.Remove(t)
			s.layer.Refresh() // Remove only lays out: without this the toast stayed on screen
			return
		}
	}
}

// withdraw takes away the toasts about chat: it was read, here or on
// another device.
func (s *toastStack) withdraw(chat string) {
	for _, t := range slices.Clone(s.toasts) {
		if t.chat == chat && chat != "" {
			s.dismiss(t)
		}
	}
}

// clear takes every toast away, on signing out.
func (s *toastStack) clear() {
	for len(s.toasts) > 0 {
		s.dismiss(s.toasts[0])
	}
}

// toastLayout stacks toasts in the bottom-right corner, the oldest at the
// bottom, each as wide as toastWidth or the window allows.
type toastLayout struct{}

func (toastLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := theme.Padding() * 2
	w := min(toastWidth, size.Width-2*pad)
	y := size.Height - pad
	for _, o := range objs {
		h := o.MinSize().Height
		y -= h
		o.Resize(fyne.NewSize(w, h))
		o.Move(fyne.NewPos(size.Width-pad-w, y))
		y -= theme.Padding()
	}
}

func (toastLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.Size{} }

// toast is one notification in the corner: the app's icon, a bold title
// and the text, emoticons as pictures, on a card edged in the theme's
// primary colour.
type toast struct {
	widget.BaseWidget
	title, body *emoticonLabel
	chat        string // the conversation it is about, "" for none
	onTap       func()
	stop        func() bool // stops the timer that takes it away
}

func newToast(title, body string) *toast {
	t := &toast{title: newEmoticonLabel(title), body: newEmoticonLabel(body)}
	t.title.TextStyle = fyne.TextStyle{Bold: true}
	t.title.Truncation = fyne.TextTruncateEllipsis
	t.body.Truncation = fyne.TextTruncateEllipsis
	t.title.Refresh()
	t.ExtendBaseWidget(t)
	return t
}

func (t *toast) CreateRenderer() fyne.WidgetRenderer {
	card := canvas.NewRectangle(color.Transparent)
	card.StrokeWidth = 1
	card.CornerRadius = theme.InputRadiusSize()
	icon := canvas.NewImageFromResource(iconResource)
	icon.FillMode = canvas.ImageFillContain
	icon.SetMinSize(fyne.NewSquareSize(32))
	text := container.New(layoutTight{}, t.title, t.body)
	r := &toastRenderer{t: t, card: card,
		content: container.NewBorder(nil, nil, container.NewCenter(icon), nil, text)}
	r.Refresh()
	return r
}

// Tapped opens the conversation the toast is about and takes it away.
func (t *toast) Tapped(*fyne.PointEvent) {
	if t.onTap != nil {
		t.onTap()
	}
}

// Cursor says the toast can be clicked.
func (t *toast) Cursor() desktop.Cursor { return desktop.PointerCursor }

type toastRenderer struct {
	t       *toast
	card    *canvas.Rectangle
	content *fyne.Container
}

func (r *toastRenderer) Layout(size fyne.Size) {
	r.card.Resize(size)
	pad := theme.Padding()
	r.content.Move(fyne.NewPos(pad, pad))
	r.content.Resize(size.SubtractWidthHeight(2*pad, 2*pad))
}

func (r *toastRenderer) MinSize() fyne.Size {
	pad := theme.Padding()
	return r.content.MinSize().AddWidthHeight(2*pad, 2*pad)
}

func (r *toastRenderer) Refresh() {
	r.card.FillColor = theme.ColorForWidget(theme.ColorNameOverlayBackground, r.t)
	r.card.StrokeColor = theme.ColorForWidget(theme.ColorNamePrimary, r.t)
	r.card.Refresh()
	r.content.Refresh()
}

func (r *toastRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.card, r.content} }
func (r *toastRenderer) Destroy()                     {}

// layoutTight stacks lines with less space between them than a VBox: the
// labels' own padding already separates them.
type layoutTight struct{}

func (layoutTight) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	gap := theme.Size(theme.SizeNameInnerPadding)
	total := float32(0)
	for _, o := range objs {
		total += o.MinSize().Height - gap
	}
	y := (size.Height - total - gap) / 2
	for _, o := range objs {
		h := o.MinSize().Height
		o.Move(fyne.NewPos(0, y))
		o.Resize(fyne.NewSize(size.Width, h))
		y += h - gap
	}
}

func (layoutTight) MinSize(objs []fyne.CanvasObject) fyne.Size {
	gap := theme.Size(theme.SizeNameInnerPadding)
	var s fyne.Size
	for _, o := range objs {
		m := o.MinSize()
		s.Width = max(s.Width, m.Width)
		s.Height += m.Height - gap
	}
	s.Height += gap
	return s
}
