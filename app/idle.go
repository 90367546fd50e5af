package app

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"
	"fyne.io/fyne/v2/lang"

	"eserver/node/api"
)

// Auto-away, as MSN did it: after some minutes without keyboard or mouse
// the status turns Away, and back to Online at the first sign of life — but
// only when the user was Online. Busy, Appear offline and the rest are
// choices we never override, and a status the user picks while away wins.

// idleSource says how long the user has not touched keyboard or mouse; ok
// is false when it cannot tell now. Tests inject one.
type idleSource interface {
	Idle() (d time.Duration, ok bool)
}

// prefAwayMinutes is the auto-away delay in minutes; 0 turns it off.
const prefAwayMinutes = "away.minutes"

// defaultAwayMinutes is the delay when the user never chose one.
const defaultAwayMinutes = 5

// awayChoices are the delays Options offers, in minutes (0: never).
var awayChoices = []int{0, 1, 2, 3, 5, 10, 15, 20, 30, 60}

// idleCheckInterval is how often the idle time is read: a minute's
// resolution needs no more, and the X server is asked a trivial question.
const idleCheckInterval = 10 * time.Second

// awayState is the auto-away bookkeeping, owned by Fyne's goroutine.
type awayState struct {
	source idleSource
	// auto is set while an Away we set ourselves stands (or is on its way
	// to the node), so we know to undo it — and only it.
	auto bool
}

func (a *App) awayMinutes() int {
	return a.prefs.IntWithFallback(prefAwayMinutes, defaultAwayMinutes)
}

// awayLabel names a delay as the Options menu shows it.
func awayLabel(min int) string {
	if min == 0 {
		return lang.L("Never")
	}
	return lang.N("{{.Count}} minutes", min, map[string]any{"Count": min})
}

// watchIdle checks the idle time every idleCheckInterval until ctx ends.
func (a *App) watchIdle(ctx context.Context) {
	if a.away.source == nil {
		a.away.source = a.defaultIdleSource()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		tick := time.NewTicker(idleCheckInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				a.uiDo(a.checkIdle)
			}
		}
	}()
}

// checkIdle sets Away after the chosen idle time and Online again on
// activity. It runs on Fyne's goroutine.
func (a *App) checkIdle() {
	if a.account == nil {
		a.away.auto = false
		return
	}
	idle, ok := a.away.source.Idle()
	if !ok {
		return
	}
	limit := time.Duration(a.awayMinutes()) * time.Minute
	idleNow := limit > 0 && idle >= limit
	st := a.account.Status
	if a.away.auto {
		switch {
		case st != api.StatusAway && st != api.StatusOnline:
			// The user chose Busy (or another) meanwhile: theirs stands.
			a.away.auto = false
		case !idleNow:
			// Back at the keyboard. Online here means our Away has not
			// reached the node yet, or the user set Online themselves.
			a.away.auto = false
			if st == api.StatusAway {
				a.autoPresence(api.StatusOnline)
			}
		}
		return
	}
	if idleNow && st == api.StatusOnline {
		a.away.auto = true
		a.autoPresence(api.StatusAway)
	}
}

// autoPresence sets a status on the user's behalf. Unlike a change the user
// makes, a failure shows no dialog (nobody is at the keyboard to read it):
// the next check simply tries again.
func (a *App) autoPresence(st api.Status) {
	a.command(func(ctx context.Context) error {
		return a.api.SetPresence(ctx, api.PresenceUpdate{Status: &st})
	}, func(err error) {
		if err != nil && st == api.StatusAway {
			a.away.auto = false
		}
	})
}

// userChoseStatus records that the user picked a status (from the tray):
// an automatic Away is no longer ours to undo.
func (a *App) userChoseStatus() { a.away.auto = false }

// defaultIdleSource is the X server's idle time when it can tell (the
// whole desktop's input, as the XScreenSaver extension counts it), else
// what our own windows see.
func (a *App) defaultIdleSource() idleSource {
	if x := openX11(); x != nil && x.hasIdle() {
		return x
	}
	return a.fg
}

// foreground follows whether one of our windows has the keyboard focus,
// from the app's lifecycle. Without X11 it stands in for both idle time
// (the user is active while our window is in front, idle since it went to
// the back) and window focus. It is safe for concurrent use.
type foreground struct {
	mu    sync.Mutex
	now   func() time.Time
	front bool
	since time.Time // when front last changed
	// onFront runs when one of our windows comes to the front (the
	// user's eyes on a conversation read it); set before the app runs.
	onFront func()
}

func newForeground(l fyne.Lifecycle) *foreground {
	f := &foreground{now: time.Now, since: time.Now()}
	l.SetOnEnteredForeground(func() {
		f.set(true)
		if f.onFront != nil {
			f.onFront()
		}
	})
	l.SetOnExitedForeground(func() { f.set(false) })
	return f
}

func (f *foreground) set(front bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.front, f.since = front, f.now()
}

func (f *foreground) inFront() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.front
}

// Idle implements idleSource: no idle time while our window is in front.
func (f *foreground) Idle() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.front {
		return 0, true
	}
	return f.now().Sub(f.since), true
}

// defaultWindowFocused reports whether w has the keyboard focus: exactly,
// from the X server, when w is an X11 window; else approximately, as
// whether any of our windows is in front.
func (a *App) defaultWindowFocused(w fyne.Window) bool {
	if x := openX11(); x != nil {
		if nw, ok := w.(driver.NativeWindow); ok {
			var handle uint64
			nw.RunNative(func(ctx any) {
				if c, ok := ctx.(driver.X11WindowContext); ok {
					handle = uint64(c.WindowHandle)
				}
			})
			if handle != 0 {
				return x.focusedWindow() == handle
			}
		}
	}
	return a.fg.inFront()
}
