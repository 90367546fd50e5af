package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"

	"eserver/assets"
	"eserver/node/api"
)

// Every desktop notification and sound goes through alert, so the user's
// settings (General in Options) are honoured in one place:
//
//   - "contacts sign in" mutes the sign-in popup and chime;
//   - "messages" mutes popups and sounds for messages, nudges and files;
//   - "sounds" mutes every sound but leaves popups;
//   - while our status is Busy nothing pops up or plays, as MSN did.

// Preference keys of the General section (under the profile's prefix).
const (
	prefNotifySignIn   = "notify.signin"   // bool, default on
	prefNotifyMessages = "notify.messages" // bool, default on
	prefSounds         = "notify.sounds"   // bool, default on
)

// alertKind is what an alert is about; it picks the setting and the sound.
type alertKind int

const (
	alertSignIn  alertKind = iota // a contact signed in
	alertMessage                  // a message arrived
	alertNudge                    // a contact nudged us
	alertFile                     // a file finished arriving
	alertCall                     // a call came in or was missed (the ring is the incoming window's)
)

// sound names a sound of package assets.
type sound string

const (
	soundSignIn  sound = "signin"
	soundMessage sound = "message"
	soundNudge   sound = "nudge"
	soundRing    sound = "ring"
)

var soundData = map[sound][]byte{
	soundSignIn:  assets.SoundSignIn,
	soundMessage: assets.SoundMessage,
	soundNudge:   assets.SoundNudge,
	soundRing:    assets.SoundRing,
}

// soundPlayer plays a sound without blocking the caller.
type soundPlayer interface {
	play(s sound)
}

// silent plays nothing.
type silent struct{}

func (silent) play(sound) {}

// prefBool is a boolean preference of this profile whose default is on:
// Fyne's Preferences cannot tell "unset" from false, so the key is read
// with BoolWithFallback.
func (a *App) prefBool(name string) bool {
	return a.prefs.BoolWithFallback(name, true)
}

// alert shows a desktop notification (or a toast, toast.go) and plays
// kind's sound, as the settings allow; chat is the conversation it is
// about.
func (a *App) alert(kind alertKind, chat, title, body string) {
	if a.account != nil && a.account.Status == api.StatusBusy {
		return
	}
	setting, snd := prefNotifyMessages, sound("")
	switch kind {
	case alertSignIn:
		setting, snd = prefNotifySignIn, soundSignIn
	case alertMessage:
		snd = soundMessage
	case alertNudge:
		snd = soundNudge
	}
	if !a.prefBool(setting) {
		return
	}
	a.notify(title, body, chat)
	if snd != "" && a.prefBool(prefSounds) {
		a.sounds.play(snd)
	}
}

// alertFor raises the alerts one node event calls for. apply calls it
// before changing any state, so a.contacts still holds what was true
// before the event (a sign-in is a contact going from offline to online).
func (a *App) alertFor(ev api.Event) {
	if a.account == nil {
		return // before sign-in and after sign-out, the snapshot's replay is not news
	}
	if c := ev.Contact; c != nil {
		if old, known := a.contacts[c.Username]; known && !old.Online() && c.Online() {
			a.alert(alertSignIn, c.Username, "EServer", lang.L("{{.Name}} has just signed in.", map[string]any{"Name": displayName(*c)}))
		}
	}
	if m := ev.Message; m != nil && m.State == api.StateReceived {
		// About the conversation it is in: a multi-party one's, not its
		// author's, so reading that conversation withdraws it.
		with := m.From
		if api.IsConversation(m.To) {
			with = m.To
		}
		if !a.chatFocused(with) {
			a.alert(alertMessage, with, lang.L("{{.Name}} says:", map[string]any{"Name": a.nameOf(m.From)}), clip(m.Text, 200))
		}
	}
	if n := ev.Nudge; n != nil {
		// The sound even when the conversation is in front: the window
		// shakes, and the buzz is half of a nudge.
		a.alert(alertNudge, n.From, "EServer", lang.L("{{.Name}} has just sent you a nudge!", map[string]any{"Name": a.nameOf(n.From)}))
	}
	a.callAlerts(ev)
	if t := ev.Transfer; t != nil && t.State == api.TransferDone && !t.Outgoing {
		a.alert(alertFile, t.Peer, "EServer", lang.L("{{.File}} from {{.Name}} has arrived.", map[string]any{"File": t.Name, "Name": a.nameOf(t.Peer)}))
	}
}

// chatFocused reports whether the conversation with username is the window
// the user is typing in: then a new message needs no popup.
func (a *App) chatFocused(username string) bool {
	chat := a.chats[username]
	return chat != nil && a.windowFocused(chat.win)
}

// clip shortens s to at most n runes for a popup.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// execPlayer plays sounds with the desktop's command-line player (paplay
// for PulseAudio and PipeWire, else ALSA's aplay) rather than linking an
// audio library: both ship with every Linux desktop, and where neither is
// installed sounds are simply off.
type execPlayer struct {
	wg      *sync.WaitGroup // the App's, so no player outlives it
	once    sync.Once
	command string        // the player found, or "" for none
	dir     string        // where the WAVs are written for the player to read
	busy    chan struct{} // one sound at a time
	timeout time.Duration // a player that hangs (a stuck sound server) is killed
}

func newExecPlayer(wg *sync.WaitGroup) *execPlayer {
	return &execPlayer{wg: wg, busy: make(chan struct{}, 1), timeout: 3 * time.Second}
}

// find looks for a player and writes the sounds where it can read them.
func (p *execPlayer) find() {
	for _, name := range []string{"paplay", "aplay"} {
		if path, err := exec.LookPath(name); err == nil {
			p.command = path
			break
		}
	}
	if p.command == "" {
		return
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	p.dir = filepath.Join(dir, "eserver", "sounds")
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		p.command = ""
		return
	}
	for s, data := range soundData {
		path := filepath.Join(p.dir, string(s)+".wav")
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			p.command = ""
			return
		}
	}
}

// play starts the player and returns at once. A sound that comes while
// another plays is dropped, not queued: ten messages in a second make one
// chime, not a ten-second concert.
func (p *execPlayer) play(s sound) {
	p.once.Do(p.find)
	if p.command == "" {
		return
	}
	select {
	case p.busy <- struct{}{}:
	default:
		return
	}
	args := []string{filepath.Join(p.dir, string(s)+".wav")}
	if filepath.Base(p.command) == "aplay" {
		args = append([]string{"-q"}, args...)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.busy }()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		_ = exec.CommandContext(ctx, p.command, args...).Run() // a sound that fails to play is not worth a dialog
	}()
}

// setupDesktop applies the chosen theme before any window is built, and
// sets up the notification sinks and the focus tracker the alerts use.
func (a *App) setupDesktop() {
	a.fyne.Settings().SetTheme(newTheme(a.themeName()))
	a.fg = newForeground(a.fyne.Lifecycle())
	a.fg.onFront = func() { a.uiDo(a.readFocused) } // the lifecycle's goroutine need not be Fyne's
	a.notifySink, a.withdrawSink = appNotifier(a.fyne), noWithdraw
	a.sounds = silent{}
	if _, ok := a.fyne.(desktop.App); ok {
		a.notifySink, a.withdrawSink = desktopNotifier(a.fyne), desktopWithdraw()
		// Only a real desktop plays sounds: the test driver's app must not
		// chime through a developer's speakers.
		a.sounds = newExecPlayer(&a.wg)
	}
	a.windowFocused = a.defaultWindowFocused
}
