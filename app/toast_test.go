package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// toastTexts are the toasts the contact list shows, oldest first, as
// "title|body".
func toastTexts(a *App) []string {
	var out []string
	for _, t := range a.main.toasts.toasts {
		if t.Visible() {
			out = append(out, t.title.Text+"|"+t.body.Text)
		}
	}
	return out
}

// TestToastsWithoutNotificationService: where the desktop has no
// notification service, sign-ins and messages show as MSN's small toasts in
// the bottom-right corner of the contact list, stacked; they go after a few
// seconds, a click on one opens the conversation, and the service's failure
// is logged once, not once per notification.
func TestToastsWithoutNotificationService(t *testing.T) {
	clock := useFakeClock(t, time.Date(2026, 12, 6, 10, 0, 0, 0, time.Local))
	a, _, _, _ := newDesktopApp(t, true)
	var logged []string
	a.main.toasts.logf = func(msg string, err error) { logged = append(logged, msg+": "+err.Error()) }
	serviceUp := false
	var sent []string
	a.notifySink = func(_ context.Context, n *fyne.Notification) (uint32, error) {
		if !serviceUp {
			return 0, errors.New("The name org.freedesktop.Notifications was not provided by any .service files")
		}
		sent = append(sent, n.Title+"|"+n.Content)
		return 0, nil
	}
	signIn(t, a)
	w := a.main.win
	w.Resize(fyne.NewSize(360, 620))

	bob := contact("bob", api.StatusOffline)
	a.apply(api.Event{Contact: &bob})
	bob.Status = api.StatusOnline
	a.apply(api.Event{Contact: &bob})
	if got, want := toastTexts(a), []string{"EServer|Bob has just signed in."}; !slices.Equal(got, want) {
		t.Fatalf("toasts %q, want %q", got, want)
	}
	clock.advance(2 * time.Second)
	a.apply(api.Event{Message: &api.Message{ID: "m1", From: "bob", To: "alice", Text: "hi there :)", Time: clock.Now(), State: api.StateReceived}})
	if got, want := toastTexts(a), []string{"EServer|Bob has just signed in.", "Bob says:|hi there :)"}; !slices.Equal(got, want) {
		t.Fatalf("toasts %q, want %q", got, want)
	}
	if len(logged) != 1 {
		t.Errorf("logged %q, want the failure once", logged)
	}

	// In the bottom-right corner, inside the window, newer above older.
	// In the bottom-right corner of the window's content, newer above older.
	layer := a.main.toasts.layer
	if layer.Size().Width < 300 || layer.Size().Height < 550 || layer.Position() != (fyne.Position{}) {
		t.Fatalf("the toasts' layer at %v, %v: not over the whole window", layer.Position(), layer.Size())
	}
	area := layer.Size()
	older, newer := a.main.toasts.toasts[0], a.main.toasts.toasts[1]
	for _, ts := range []*toast{older, newer} {
		p, s := ts.Position(), ts.Size()
		if s.Width < 150 || s.Height < 30 || p.X+s.Width > area.Width || p.X+s.Width < area.Width-20 || p.Y+s.Height > area.Height || p.Y < area.Height/2 {
			t.Errorf("toast at %v size %v in an area of %v", p, s, area)
		}
	}
	if older.Position().Y+older.Size().Height < area.Height-20 {
		t.Errorf("the oldest toast ends at y %v, not at the bottom of %v", older.Position().Y+older.Size().Height, area)
	}
	if newer.Position().Y+newer.Size().Height > older.Position().Y {
		t.Errorf("newer toast at y %v overlaps the older at %v", newer.Position().Y, older.Position().Y)
	}
	// Emoticons show as in the conversation.
	if n := emoticonImages(newer); n != 1 {
		t.Errorf("the message toast shows %d emoticons", n)
	}

	// The sign-in toast goes after a few seconds; a click on the message
	// opens the conversation and closes the toast.
	clock.advance(5 * time.Second)
	if got, want := toastTexts(a), []string{"Bob says:|hi there :)"}; !slices.Equal(got, want) {
		t.Fatalf("after 7 s toasts %q, want %q", got, want)
	}
	if c := a.chats["bob"]; c != nil && c.win.Canvas().Focused() == c.entry {
		t.Fatal("the conversation has the keyboard before the click")
	}
	test.Tap(newer)
	if c := a.chats["bob"]; c == nil || !c.shown || c.win.Canvas().Focused() != c.entry {
		t.Error("clicking the toast did not open the conversation")
	}
	if got := toastTexts(a); len(got) != 0 {
		t.Errorf("toasts after the click: %q", got)
	}

	// More than a few at once: the oldest make room.
	for range 6 {
		bob.Status = api.StatusOffline
		a.apply(api.Event{Contact: &bob})
		bob.Status = api.StatusOnline
		a.apply(api.Event{Contact: &bob})
	}
	if got := toastTexts(a); len(got) != maxToasts {
		t.Errorf("%d toasts at once, want %d", len(got), maxToasts)
	}
	if len(logged) != 1 {
		t.Errorf("logged %d times, want once: %q", len(logged), logged)
	}
	clock.advance(toastLife)
	if got := toastTexts(a); len(got) != 0 {
		t.Errorf("toasts left: %q", got)
	}
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers still pending", n)
	}

	// With the service back, notifications go to it and no toast shows.
	serviceUp = true
	bob.Status = api.StatusOffline
	a.apply(api.Event{Contact: &bob})
	bob.Status = api.StatusOnline
	a.apply(api.Event{Contact: &bob})
	if len(sent) != 1 || len(toastTexts(a)) != 0 {
		t.Errorf("service up: sent %q, toasts %q", sent, toastTexts(a))
	}

	// Signing out takes the toasts away.
	serviceUp = false
	a.apply(api.Event{Message: &api.Message{ID: "m2", From: "bob", To: "alice", Text: "bye", Time: clock.Now(), State: api.StateReceived}})
	a.apply(api.Event{SignedOut: true})
	if got := toastTexts(a); len(got) != 0 || clock.pending() != 0 {
		t.Errorf("after signing out: toasts %q, %d timers", got, clock.pending())
	}
}
