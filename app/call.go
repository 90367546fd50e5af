package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Voice calls (issue 18), as Windows Live Messenger had them: a Call
// button in the conversation, a small window with Accept and Decline when
// a contact calls, a bar at the top of the conversation while a call rings
// or runs (call_bar.go), and a line in the conversation when it ends. The
// node does the audio; the app only says which devices (Options → Audio,
// settings_audio.go) and follows the node's events.

// Preference keys of Options → Audio: the devices' IDs, "" the defaults.
const (
	prefAudioInput  = "audio.input"
	prefAudioOutput = "audio.output"
)

// callsState is what the app knows of calls beyond each conversation's
// bar: the incoming calls ringing here, by ID.
type callsState struct {
	incoming map[string]*incomingCall
}

// callAudio is the devices the user chose in Options → Audio.
func (a *App) callAudio() api.CallAudio {
	return api.CallAudio{Input: a.prefs.String(prefAudioInput), Output: a.prefs.String(prefAudioOutput)}
}

// startCall is the Call button: it rings the contact with the chosen
// devices; the bar follows the call from there.
func (c *chatWindow) startCall() {
	if c.bar.busy() {
		return // one call at a time: this one is ringing or running already
	}
	to, audio := c.with, c.app.callAudio()
	var id string
	c.app.command(func(ctx context.Context) error {
		var err error
		id, err = c.app.api.Call(ctx, to, audio)
		return err
	}, func(err error) {
		if err != nil {
			c.notice(callErrorText(err, c.app.nameOf(to)))
			return
		}
		if c.bar.call.ID != id { // the node's own event may have come first
			c.bar.follow(api.CallEvent{ID: id, With: to, Outgoing: true, State: api.CallCalling})
		}
	})
}

// callErrorText says why a call could not start.
func callErrorText(err error, name string) string {
	switch {
	case errors.Is(err, api.ErrOffline):
		return lang.L("{{.Name}} is offline.", map[string]any{"Name": name})
	case errors.Is(err, api.ErrBusy):
		return lang.L("You are already in a call.")
	}
	return lang.L("The call could not be started: {{.Error}}", map[string]any{"Error": errorText(err)})
}

// callEvent applies the node's call events, on Fyne's goroutine.
func (a *App) callEvent(ev api.Event) {
	if ic := ev.CallIncoming; ic != nil {
		a.callIncoming(*ic)
	}
	if e := ev.CallState; e != nil {
		a.callState(*e)
	}
	if s := ev.CallStats; s != nil {
		for _, chat := range a.chats {
			if chat.bar.call.ID == s.ID {
				chat.bar.setStats(*s)
			}
		}
	}
}

// callState moves the conversation's bar with the call, and closes the
// incoming window once the call is answered (here or elsewhere) or over.
func (a *App) callState(e api.CallEvent) {
	if w := a.calls.incoming[e.ID]; w != nil && e.State != api.CallIncoming && e.State != api.CallRinging {
		w.close()
	}
	if e.With == "" {
		return
	}
	chat := a.chat(e.With)
	bar := chat.bar
	if e.State == api.CallEnded && (bar.call.ID != e.ID || bar.call.State != api.CallEnded) {
		chat.callLine(e) // once, however often the end is reported
	}
	// The bar shows this call, unless it shows another that still runs
	// (this one was answered busy).
	if bar.call.ID == e.ID || !bar.busy() {
		bar.follow(e)
	}
}

// callLine says in the conversation how call e went, in the words its
// history entry will say when the conversation is opened again.
func (c *chatWindow) callLine(e api.CallEvent) {
	me := c.app.me()
	m := api.Message{ID: e.ID, Kind: api.KindCall, From: e.With, To: me, Time: c.clock.Now(),
		Call: &api.CallNote{Reason: e.Reason}}
	if e.Outgoing {
		m.From, m.To = me, e.With
	}
	if !e.Since.IsZero() {
		m.Call.Duration = int(c.clock.Now().Sub(e.Since) / time.Second)
	}
	c.line(c.app.entryText(m), m.Time, widget.MediumImportance)
}

// callText is what a call's history entry says, from our side: m.From
// called m.To.
func (a *App) callText(m api.Message) string {
	note := api.CallNote{}
	if m.Call != nil {
		note = *m.Call
	}
	if m.From == a.me() {
		name := a.nameOf(m.To)
		switch {
		case note.Duration > 0:
			return lang.L("You called {{.Name}} — {{.Duration}}", map[string]any{"Name": name, "Duration": callLength(note.Duration)})
		case note.Reason == api.CallReasonDeclined:
			return lang.L("{{.Name}} declined your call", map[string]any{"Name": name})
		case note.Reason == api.CallReasonBusy:
			return lang.L("{{.Name}} was in another call", map[string]any{"Name": name})
		case note.Reason == api.CallReasonOffline || note.Reason == api.CallReasonFailed || note.Reason == api.CallReasonLost:
			return lang.L("Your call to {{.Name}} did not go through", map[string]any{"Name": name})
		}
		return lang.L("You called {{.Name}}: no answer", map[string]any{"Name": name})
	}
	name := a.nameOf(m.From)
	switch {
	case note.Duration > 0:
		return lang.L("Call with {{.Name}} — {{.Duration}}", map[string]any{"Name": name, "Duration": callLength(note.Duration)})
	case note.Reason == api.CallReasonElsewhere:
		return lang.L("Call from {{.Name}}, answered on another device", map[string]any{"Name": name})
	}
	return lang.L("Missed call from {{.Name}}", map[string]any{"Name": name})
}

// callLength is a call's length in words: "45 s", "3 min 2 s", "1 h 5 min".
func callLength(seconds int) string {
	h, m, s := seconds/3600, seconds/60%60, seconds%60
	n := func(v int) string { return fmt.Sprint(v) }
	switch {
	case h > 0:
		return lang.L("{{.H}} h {{.M}} min", map[string]any{"H": n(h), "M": n(m)})
	case m > 0:
		return lang.L("{{.M}} min {{.S}} s", map[string]any{"M": n(m), "S": n(s)})
	}
	return lang.L("{{.S}} s", map[string]any{"S": n(s)})
}

// callAlerts are the notifications call events raise (alertFor): a call
// coming in, and one missed while its conversation was not in front.
func (a *App) callAlerts(ev api.Event) {
	if ic := ev.CallIncoming; ic != nil {
		a.alert(alertCall, ic.From, "EServer", callingYouText(a.nameOf(ic.From)))
	}
	if e := ev.CallState; e != nil && e.State == api.CallEnded && !e.Outgoing && e.Reason == api.CallReasonMissed && !a.chatFocused(e.With) {
		a.alert(alertCall, e.With, "EServer", lang.L("Missed call from {{.Name}}", map[string]any{"Name": a.nameOf(e.With)}))
	}
}

// callingYouText is what an incoming call says.
func callingYouText(name string) string {
	return lang.L("{{.Name}} is calling you", map[string]any{"Name": name})
}

// endCalls closes the incoming windows on signing out.
func (a *App) endCalls() {
	for _, w := range a.calls.incoming {
		w.close()
	}
}

// callable lets the Call button call only a contact that can answer: an
// accepted contact online now (the node would answer ErrOffline), and
// not while a call with them rings or runs. The status in the header says
// why it is greyed out.
func (c *chatWindow) callable(ct api.Contact) {
	if ct.Online() && ct.Relation == api.RelationAccepted && !c.bar.busy() {
		c.callBtn.Enable()
	} else {
		c.callBtn.Disable()
	}
}

// callHint is what hovering the greyed-out Call button says, "" when it
// is not greyed out or a call runs (the bar says that).
func (c *chatWindow) callHint() string {
	if !c.callBtn.Disabled() || c.bar.busy() {
		return ""
	}
	return lang.L("You can call {{.Name}} when they are online.", map[string]any{"Name": c.app.nameOf(c.with)})
}

// loadCalls shows the calls the node has ringing or running at sign-in:
// the app may have started again while the node kept a call going.
func (a *App) loadCalls() {
	var calls []api.CallEvent
	a.command(func(ctx context.Context) error {
		var err error
		calls, err = a.api.ActiveCalls(ctx)
		return err
	}, func(err error) {
		if err != nil || a.account == nil {
			return // the next call event shows it anyway
		}
		for _, e := range calls {
			if !e.Outgoing && (e.State == api.CallIncoming || e.State == api.CallRinging) {
				a.callIncoming(api.IncomingCall{ID: e.ID, From: e.With})
			}
			a.callState(e)
		}
	})
}
