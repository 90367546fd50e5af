package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

const (
	// ringEvery is how often the ring sounds while a call rings here.
	ringEvery = 3 * time.Second
	// ringFor bounds the ringing should the node's end event never come:
	// the node gives up at api.CallRingTimeout.
	ringFor = api.CallRingTimeout + 5*time.Second
)

// incomingCall is the small window that says a contact is calling, with
// Accept and Decline, ringing until one is chosen or the call ends. A
// window of its own, not a toast in the contact list: the list may be in
// the tray.
type incomingCall struct {
	a      *App
	call   api.IncomingCall
	win    fyne.Window
	accept *widget.Button
	reject *widget.Button
	rings  int         // rings played, to stop at ringFor
	ring   func() bool // stops the next ring
}

// callIncoming shows the window for a call coming in and starts ringing.
func (a *App) callIncoming(ic api.IncomingCall) {
	if a.calls.incoming[ic.ID] != nil {
		return // announced again
	}
	w := &incomingCall{a: a, call: ic, win: a.fyne.NewWindow(a.title(lang.L("Incoming call")))}
	name := a.nameOf(ic.From)
	text := widget.NewLabelWithStyle(callingYouText(name), fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	text.Truncation = fyne.TextTruncateEllipsis
	w.accept = widget.NewButtonWithIcon(lang.L("Accept"), theme.ConfirmIcon(), w.answer)
	w.accept.Importance = widget.SuccessImportance
	w.reject = widget.NewButtonWithIcon(lang.L("Decline"), theme.CancelIcon(), w.decline)
	w.reject.Importance = widget.DangerImportance
	pic := newDisplayPicture(64, nil)
	if c, ok := a.contacts[ic.From]; ok {
		pic.setPicture(c.AvatarPath)
		pic.setStatus(c.Status)
	}
	buttons := container.NewHBox(layout.NewSpacer(), w.accept, w.reject, layout.NewSpacer())
	w.win.SetContent(container.NewPadded(container.NewBorder(nil, nil, pic, nil,
		container.NewVBox(layout.NewSpacer(), text, buttons, layout.NewSpacer()))))
	w.win.Resize(fyne.NewSize(340, 110))
	w.win.SetIcon(iconResource)
	w.win.SetCloseIntercept(w.decline) // closing the window is saying no
	a.calls.incoming[ic.ID] = w
	w.win.Show()
	w.win.RequestFocus()
	w.ringAgain()
}

// ringAgain plays the ring, as the settings allow, and again ringEvery
// later while the call rings.
func (w *incomingCall) ringAgain() {
	if time.Duration(w.rings)*ringEvery >= ringFor {
		w.close()
		return
	}
	w.rings++
	busy := w.a.account != nil && w.a.account.Status == api.StatusBusy
	if !busy && w.a.prefBool(prefSounds) {
		w.a.sounds.play(soundRing)
	}
	w.ring = chatClock.AfterFunc(ringEvery, w.ringAgain)
}

// answer is Accept: the call is answered with the chosen devices, and its
// conversation opens, where the bar shows it.
func (w *incomingCall) answer() {
	a, id, from, audio := w.a, w.call.ID, w.call.From, w.a.callAudio()
	w.close()
	a.openChat(from)
	a.command(func(ctx context.Context) error { return a.api.AnswerCall(ctx, id, audio) }, func(err error) {
		if err != nil && a.account != nil {
			a.chat(from).notice(lang.L("The call could not be answered: {{.Error}}", map[string]any{"Error": errorText(err)}))
		}
	})
}

// decline is Decline, or closing the window.
func (w *incomingCall) decline() {
	a, id := w.a, w.call.ID
	w.close()
	a.command(func(ctx context.Context) error { return a.api.DeclineCall(ctx, id) }, nil)
}

// close stops the ringing and takes the window away.
func (w *incomingCall) close() {
	if w.ring != nil {
		w.ring()
		w.ring = nil
	}
	if w.a.calls.incoming[w.call.ID] == w {
		delete(w.a.calls.incoming, w.call.ID)
		w.win.Close()
	}
}
