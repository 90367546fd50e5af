package app

import (
	"context"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// desktopApp is the test driver's app with what the test app lacks and a
// desktop has: a tray (desktop.App) and windows whose closing, hiding and
// quitting can be observed.
type desktopApp struct {
	fyne.App
	trayMenu *fyne.Menu
	trayIcon fyne.Resource
	quits    int
	windows  map[string]*spyWindow // by title
}

var _ desktop.App = (*desktopApp)(nil)

func (d *desktopApp) SetSystemTrayMenu(m *fyne.Menu)    { d.trayMenu = m }
func (d *desktopApp) SetSystemTrayIcon(r fyne.Resource) { d.trayIcon = r }
func (d *desktopApp) SetSystemTrayWindow(fyne.Window)   {}
func (d *desktopApp) Quit()                             { d.quits++ }
func (d *desktopApp) NewWindow(title string) fyne.Window {
	w := &spyWindow{Window: d.App.NewWindow(title)}
	d.windows[title] = w
	return w
}

// spyWindow records what the app does to a window, and lets a test close
// it as the user would (the title bar's X runs the close intercept).
type spyWindow struct {
	fyne.Window
	intercept func()
	visible   bool
}

func (w *spyWindow) SetCloseIntercept(f func()) { w.intercept = f; w.Window.SetCloseIntercept(f) }
func (w *spyWindow) Show()                      { w.visible = true; w.Window.Show() }
func (w *spyWindow) Hide()                      { w.visible = false; w.Window.Hide() }

// userCloses is the user clicking the window's close button.
func (w *spyWindow) userCloses() {
	if w.intercept != nil {
		w.intercept()
		return
	}
	w.visible = false
	w.Close()
}

// recorder collects the alerts an app raises.
type recorder struct {
	notes     []string // "title|body"
	sounds    []sound
	ids       uint32   // the ID of the last notification shown (1, 2, ...)
	withdrawn []uint32 // the IDs of notifications taken back
}

func (r *recorder) play(s sound) { r.sounds = append(r.sounds, s) }

// newDesktopApp is a test app on a desktop that has a tray host (or not),
// with alerts recorded.
func newDesktopApp(t *testing.T, trayHost bool) (*App, *fakeAPI, *desktopApp, *recorder) {
	t.Helper()
	old := trayHostPresent
	trayHostPresent = func() bool { return trayHost }
	t.Cleanup(func() { trayHostPresent = old })
	d := &desktopApp{App: test.NewTempApp(t), windows: map[string]*spyWindow{}}
	fake := newFakeAPI()
	a := New(d, fake, Options{DefaultServer: testServer, Profile: "test", Prefs: NewMemoryPrefs()})
	a.run = func(f func()) { f() }
	rec := &recorder{}
	a.notifySink = func(_ context.Context, n *fyne.Notification) (uint32, error) {
		rec.notes = append(rec.notes, n.Title+"|"+n.Content)
		rec.ids++
		return rec.ids, nil
	}
	a.withdrawSink = func(_ context.Context, id uint32) error {
		rec.withdrawn = append(rec.withdrawn, id)
		return nil
	}
	a.sounds = rec
	a.windowFocused = func(fyne.Window) bool { return false }
	a.apply(api.Event{Snapshot: &api.Snapshot{}})
	return a, fake, d, rec
}

func signIn(t *testing.T, a *App) {
	t.Helper()
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	if a.account == nil {
		t.Fatalf("not signed in: %q", a.signIn.errText.Text)
	}
}

// menuItem finds the item labelled label in m or its submenus.
func findMenuItem(m *fyne.Menu, label string) *fyne.MenuItem {
	for _, it := range m.Items {
		if it.Label == label {
			return it
		}
		if it.ChildMenu != nil {
			if found := findMenuItem(it.ChildMenu, label); found != nil {
				return found
			}
		}
	}
	return nil
}

// luminance and contrast follow WCAG 2.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

func contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// TestThemesReadable: both themes keep text readable on every surface it
// is drawn on (WCAG AA: 4.5:1 for text, 3:1 for placeholders and disabled
// text is not required, but we keep placeholders at 3:1 so hints show).
func TestThemesReadable(t *testing.T) {
	for _, name := range []string{themeLight, themeDark} {
		th := newTheme(name)
		c := func(n fyne.ThemeColorName) color.Color { return th.Color(n, theme.VariantLight) }
		fg := c(theme.ColorNameForeground)
		for _, bg := range []fyne.ThemeColorName{theme.ColorNameBackground, theme.ColorNameInputBackground,
			theme.ColorNameButton, theme.ColorNameMenuBackground, theme.ColorNameHeaderBackground, theme.ColorNameOverlayBackground} {
			if r := contrast(fg, c(bg)); r < 7 {
				t.Errorf("%s: text on %s has contrast %.1f, want ≥ 7", name, bg, r)
			}
		}
		if r := contrast(c(theme.ColorNameForegroundOnPrimary), c(theme.ColorNamePrimary)); r < 4.5 {
			t.Errorf("%s: text on the primary colour (default buttons) has contrast %.1f, want ≥ 4.5", name, r)
		}
		if r := contrast(c(theme.ColorNamePlaceHolder), c(theme.ColorNameInputBackground)); r < 3 {
			t.Errorf("%s: placeholder contrast %.1f, want ≥ 3", name, r)
		}
		if r := contrast(c(theme.ColorNameHyperlink), c(theme.ColorNameBackground)); r < 4.5 {
			t.Errorf("%s: link contrast %.1f, want ≥ 4.5", name, r)
		}
		// The desktop's variant does not leak in: the user chose ours.
		if th.Color(theme.ColorNameBackground, theme.VariantDark) != th.Color(theme.ColorNameBackground, theme.VariantLight) {
			t.Errorf("%s follows the system variant", name)
		}
	}
}

// TestThemeSwitch: the blue theme is the default; choosing Dark in Options
// applies at once and is there at the next start.
func TestThemeSwitch(t *testing.T) {
	a, _ := signedIn(t)
	current := func(fa fyne.App) string {
		th, ok := fa.Settings().Theme().(*messengerTheme)
		if !ok {
			t.Fatalf("theme is %T, not ours", fa.Settings().Theme())
		}
		return th.name
	}
	if got := current(a.fyne); got != themeLight {
		t.Fatalf("default theme %q, want light", got)
	}
	a.showOptions()
	s := a.settings
	if s.theme.Selected != "Messenger blue (light)" {
		t.Errorf("Appearance shows %q", s.theme.Selected)
	}
	lightBg := theme.Color(theme.ColorNameBackground)
	s.theme.SetSelected("Dark")
	if got := current(a.fyne); got != themeDark {
		t.Fatalf("after choosing Dark the theme is %q", got)
	}
	// Applied live: what widgets draw with changes now.
	if bg := theme.Color(theme.ColorNameBackground); bg == lightBg || bg != darkColors[theme.ColorNameBackground] {
		t.Errorf("background after switching is %v", bg)
	}
	// Remembered: the next start of this profile comes up dark.
	a.fyne.Settings().SetTheme(theme.DefaultTheme())
	again := New(a.fyne, newFakeAPI(), Options{Profile: "test", Prefs: a.prefs})
	if got := current(again.fyne); got != themeDark {
		t.Errorf("next start has theme %q, want dark", got)
	}
	// Another profile has its own choice.
	New(a.fyne, newFakeAPI(), Options{Profile: "other"})
	if got := current(a.fyne); got != themeLight {
		t.Errorf("another profile starts with %q, want light", got)
	}
}

// TestTrayMenu: the tray offers the statuses once signed in, a status item
// sets our presence, and Exit quits for real.
func TestTrayMenu(t *testing.T) {
	a, fake, d, _ := newDesktopApp(t, true)
	if d.trayMenu == nil || d.trayIcon != iconResource {
		t.Fatalf("no tray: menu %v, icon %v", d.trayMenu, d.trayIcon)
	}
	if it := findMenuItem(d.trayMenu, "Busy"); it == nil || !it.Disabled {
		t.Fatalf("status item while signed out: %+v", it)
	}
	if it := findMenuItem(d.trayMenu, "Sign out"); it == nil || !it.Disabled {
		t.Fatalf("Sign out while signed out: %+v", it)
	}
	signIn(t, a)
	var labels []string
	for _, it := range findMenuItem(d.trayMenu, "My status").ChildMenu.Items {
		labels = append(labels, it.Label)
		if it.Disabled {
			t.Errorf("%s disabled while signed in", it.Label)
		}
		if it.Checked != (it.Label == "Available") {
			t.Errorf("%s checked = %v while Available", it.Label, it.Checked)
		}
	}
	if !slices.Equal(labels, statusOptions()) {
		t.Errorf("tray statuses %v, want %v", labels, statusOptions())
	}

	findMenuItem(d.trayMenu, "Busy").Action()
	if !fake.Called("SetPresence status=busy") {
		t.Fatalf("tray Busy: calls %v", fake.Calls())
	}
	acc := *a.account
	acc.Status = api.StatusBusy
	a.apply(api.Event{Account: &acc})
	if !findMenuItem(d.trayMenu, "Busy").Checked || findMenuItem(d.trayMenu, "Available").Checked {
		t.Error("tray menu does not show the new status")
	}

	// Open EServer brings back the hidden contact list.
	main := d.windows[a.main.win.Title()]
	main.userCloses()
	findMenuItem(d.trayMenu, "Open EServer").Action()
	if !main.visible {
		t.Error("Open EServer did not show the contact list")
	}

	exit := findMenuItem(d.trayMenu, "Exit")
	if !exit.IsQuit {
		t.Error("Exit is not the menu's quit item: Fyne would add a second one")
	}
	exit.Action()
	if d.quits != 1 {
		t.Errorf("Exit quit %d times", d.quits)
	}

	findMenuItem(d.trayMenu, "Sign out").Action()
	if !fake.Called("Logout") || a.account != nil {
		t.Fatalf("tray Sign out: calls %v", fake.Calls())
	}
	if it := findMenuItem(d.trayMenu, "Busy"); !it.Disabled || it.Checked {
		t.Errorf("after signing out the status item is %+v", it)
	}
}

// TestCloseToTray: with a tray, closing the contact list (or the sign-in
// window) hides it and the app keeps running; without a tray host,
// closing the contact list quits, since nothing could bring it back.
func TestCloseToTray(t *testing.T) {
	a, _, d, _ := newDesktopApp(t, true)
	signIn(t, a)
	main := d.windows[a.main.win.Title()]
	if !main.visible {
		t.Fatal("contact list not shown after signing in")
	}
	main.userCloses()
	if main.visible || d.quits != 0 {
		t.Errorf("closing with a tray: visible %v, quits %d", main.visible, d.quits)
	}
	a.doSignOut()
	signInWin := d.windows[a.signIn.win.Title()]
	signInWin.userCloses()
	if signInWin.visible || d.quits != 0 {
		t.Errorf("closing sign-in with a tray: visible %v, quits %d", signInWin.visible, d.quits)
	}

	b, _, d2, _ := newDesktopApp(t, false)
	if d2.trayMenu != nil || b.tray != nil {
		t.Error("tray set up without a tray host")
	}
	signIn(t, b)
	d2.windows[b.main.win.Title()].userCloses()
	if d2.quits != 1 {
		t.Errorf("closing without a tray quit %d times, want 1", d2.quits)
	}
}

// TestNotifications: sign-ins, messages, nudges and files pop up and chime
// as the settings say, and not for a conversation the user is typing in.
func TestNotifications(t *testing.T) {
	a, _, _, rec := newDesktopApp(t, true)
	signIn(t, a)
	prefs := a.prefs
	reset := func() { rec.notes, rec.sounds = nil, nil }
	bobOffline := contact("bob", api.StatusOffline)
	bobOnline := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bobOffline})
	if len(rec.notes)+len(rec.sounds) != 0 {
		t.Fatalf("a contact appearing offline alerted: %v %v", rec.notes, rec.sounds)
	}

	a.apply(api.Event{Contact: &bobOnline})
	if !slices.Equal(rec.notes, []string{"EServer|Bob has just signed in."}) || !slices.Equal(rec.sounds, []sound{soundSignIn}) {
		t.Fatalf("sign-in: %v %v", rec.notes, rec.sounds)
	}
	reset()
	a.apply(api.Event{Contact: &bobOnline}) // still online: no news
	prefs.SetBool(prefNotifySignIn, false)
	a.apply(api.Event{Contact: &bobOffline})
	a.apply(api.Event{Contact: &bobOnline})
	if len(rec.notes)+len(rec.sounds) != 0 {
		t.Fatalf("muted sign-ins alerted: %v %v", rec.notes, rec.sounds)
	}

	msg := func(text string) api.Event {
		return api.Event{Message: &api.Message{ID: text, From: "bob", To: "alice", Text: text, Time: time.Now(), State: api.StateReceived}}
	}
	a.apply(msg("hello"))
	if !slices.Equal(rec.notes, []string{"Bob says:|hello"}) || !slices.Equal(rec.sounds, []sound{soundMessage}) {
		t.Fatalf("message: %v %v", rec.notes, rec.sounds)
	}
	reset()
	// Typing in bob's conversation: no popup for his message there.
	a.windowFocused = func(w fyne.Window) bool { return w == a.chats["bob"].win }
	a.apply(msg("are you there?"))
	if len(rec.notes)+len(rec.sounds) != 0 {
		t.Fatalf("message to the focused conversation alerted: %v %v", rec.notes, rec.sounds)
	}
	a.windowFocused = func(fyne.Window) bool { return false }
	// Our own messages never alert.
	a.apply(api.Event{Message: &api.Message{ID: "m1", From: "alice", To: "bob", Text: "hi", State: api.StateQueued}})
	if len(rec.notes) != 0 {
		t.Fatalf("own message alerted: %v", rec.notes)
	}

	prefs.SetBool(prefSounds, false)
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "bob", Time: time.Now()}})
	a.apply(api.Event{Transfer: &api.Transfer{ID: "t1", Peer: "bob", Name: "photo.jpg", State: api.TransferDone}})
	want := []string{"EServer|Bob has just sent you a nudge!", "EServer|photo.jpg from Bob has arrived."}
	if !slices.Equal(rec.notes, want) || len(rec.sounds) != 0 {
		t.Fatalf("sounds off: notes %v (want %v), sounds %v", rec.notes, want, rec.sounds)
	}
	reset()
	prefs.SetBool(prefSounds, true)
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "bob", Time: time.Now()}})
	if !slices.Equal(rec.sounds, []sound{soundNudge}) {
		t.Fatalf("nudge sound: %v", rec.sounds)
	}
	reset()

	prefs.SetBool(prefNotifyMessages, false)
	a.apply(msg("muted"))
	a.apply(api.Event{Transfer: &api.Transfer{ID: "t2", Peer: "bob", Name: "b.txt", State: api.TransferDone}})
	if len(rec.notes)+len(rec.sounds) != 0 {
		t.Fatalf("muted messages alerted: %v %v", rec.notes, rec.sounds)
	}

	// Busy: quiet, whatever the settings.
	prefs.SetBool(prefNotifyMessages, true)
	prefs.SetBool(prefNotifySignIn, true)
	acc := *a.account
	acc.Status = api.StatusBusy
	a.apply(api.Event{Account: &acc})
	a.apply(msg("while busy"))
	a.apply(api.Event{Contact: &bobOffline})
	a.apply(api.Event{Contact: &bobOnline})
	if len(rec.notes)+len(rec.sounds) != 0 {
		t.Fatalf("alerts while Busy: %v %v", rec.notes, rec.sounds)
	}
}

// fakeIdle is an idle source a test sets.
type fakeIdle struct {
	d  time.Duration
	ok bool
}

func (f *fakeIdle) Idle() (time.Duration, bool) { return f.d, f.ok }

// TestAutoAway: Away after the chosen idle minutes, Available again on
// activity; never over a status the user chose.
func TestAutoAway(t *testing.T) {
	a, fake := signedIn(t)
	idle := &fakeIdle{ok: true}
	a.away.source = idle
	setStatus := func(st api.Status) {
		acc := *a.account
		acc.Status = st
		a.apply(api.Event{Account: &acc})
	}
	presenceCalls := func() []string {
		var out []string
		for _, c := range fake.Calls() {
			if strings.HasPrefix(c, "SetPresence") {
				out = append(out, c)
			}
		}
		return out
	}

	idle.d = 4*time.Minute + 59*time.Second // default: 5 minutes
	a.checkIdle()
	if got := presenceCalls(); len(got) != 0 {
		t.Fatalf("away before 5 minutes: %v", got)
	}
	idle.d = 5 * time.Minute
	a.checkIdle()
	a.checkIdle() // the node has not confirmed yet: no second request, no undo
	if got := presenceCalls(); !slices.Equal(got, []string{"SetPresence status=away"}) {
		t.Fatalf("after 5 idle minutes: %v", got)
	}
	setStatus(api.StatusAway)
	idle.d = 20 * time.Minute
	a.checkIdle()
	idle.d = 2 * time.Second // the user is back
	a.checkIdle()
	if got := presenceCalls(); !slices.Equal(got, []string{"SetPresence status=away", "SetPresence status=online"}) {
		t.Fatalf("after activity: %v", got)
	}
	setStatus(api.StatusOnline)

	// A status the user chose is never overridden, idle or not.
	for _, st := range []api.Status{api.StatusBusy, api.StatusInvisible, api.StatusBRB, api.StatusAway} {
		setStatus(st)
		n := len(presenceCalls())
		idle.d = time.Hour
		a.checkIdle()
		idle.d = 0
		a.checkIdle()
		if got := presenceCalls()[n:]; len(got) != 0 {
			t.Errorf("status %s was changed: %v", st, got)
		}
	}

	// Auto-away set, then the user picks Busy while away: Busy stays.
	setStatus(api.StatusOnline)
	idle.d = time.Hour
	a.checkIdle()
	setStatus(api.StatusAway)
	setStatus(api.StatusBusy)
	n := len(presenceCalls())
	idle.d = 0
	a.checkIdle()
	if got := presenceCalls()[n:]; len(got) != 0 {
		t.Errorf("Busy chosen while auto-away was overridden: %v", got)
	}

	// The delay is the setting; Never turns it off; an unknown idle
	// time changes nothing.
	setStatus(api.StatusOnline)
	a.showOptions()
	a.settings.away.SetSelected("10 minutes")
	idle.d = 9 * time.Minute
	a.checkIdle()
	a.settings.away.SetSelected("Never")
	idle.d = 24 * time.Hour
	a.checkIdle()
	a.settings.away.SetSelected("1 minute")
	idle.ok = false
	a.checkIdle()
	if got := presenceCalls()[n:]; len(got) != 0 {
		t.Errorf("away despite the setting: %v", got)
	}
}

// TestForegroundIdle: without X11, our windows being in front is activity.
func TestForegroundIdle(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := &foreground{now: func() time.Time { return now }, since: now}
	f.set(true)
	now = now.Add(time.Hour)
	if d, ok := f.Idle(); !ok || d != 0 {
		t.Errorf("in front: idle %v", d)
	}
	f.set(false)
	now = now.Add(7 * time.Minute)
	if d, _ := f.Idle(); d != 7*time.Minute {
		t.Errorf("behind for 7 minutes: idle %v", d)
	}
	if f.inFront() {
		t.Error("still in front")
	}
}

// TestSettingsPersist: what Options changes is remembered per profile and
// read back at the next start — including what the node takes at start.
func TestSettingsPersist(t *testing.T) {
	a, fake := signedIn(t)
	a.opts.ProfileDir = "/home/alice/.config/eserver/default"
	a.showOptions()
	s := a.settings
	for _, c := range []*widget.Check{s.notifySignIn, s.notifyMessages, s.sounds} {
		if !c.Checked {
			t.Errorf("%q off by default", c.Text)
		}
	}
	if s.away.Selected != "5 minutes" {
		t.Errorf("auto-away shows %q, want 5 minutes", s.away.Selected)
	}
	s.notifySignIn.SetChecked(false)
	s.sounds.SetChecked(false)
	s.away.SetSelected("15 minutes")

	// Ports: a bad value is refused and the last good one kept.
	test.Type(s.port, "4242")
	test.Type(s.port, "x")
	if s.port.Validate() == nil {
		t.Error("port 4242x accepted")
	}
	if !strings.Contains(s.portNote.Text, "port 4242 from the next start") {
		t.Errorf("port note %q", s.portNote.Text)
	}
	a.setDownloadDir(s, "/data/incoming")
	if !strings.Contains(s.downloads.Text, "From the next start: /data/incoming") || s.defaultFolder.Disabled() {
		t.Errorf("downloads show %q", s.downloads.Text)
	}

	// Profile: nick and personal message through SetPresence.
	s.nick.SetText("Ally")
	s.subnick.SetText("at the beach")
	test.Tap(s.saveProfile)
	if !fake.Called("SetPresence nick=Ally subnick=at the beach") {
		t.Errorf("profile save: %v", fake.Calls())
	}

	// The next start of this profile.
	st := ReadStartSettings(a.prefs)
	if st.ListenPort != 4242 || st.DownloadDir != "/data/incoming" {
		t.Errorf("start settings %+v", st)
	}
	if want := []string{"/ip4/0.0.0.0/tcp/4242", "/ip4/0.0.0.0/udp/4242/quic-v1"}; !slices.Equal(st.Listen(), want) {
		t.Errorf("listen %v, want %v", st.Listen(), want)
	}
	if (StartSettings{}).Listen() != nil {
		t.Error("automatic port does not leave the node's default")
	}
	if other := ReadStartSettings(NewMemoryPrefs()); other != (StartSettings{}) {
		t.Errorf("another profile sees %+v", other)
	}
	b := New(a.fyne, fake, Options{Profile: "test", Started: st, Prefs: a.prefs})
	b.run = a.run
	b.apply(api.Event{Snapshot: &api.Snapshot{}})
	b.apply(api.Event{Account: a.account})
	b.showOptions()
	bs := b.settings
	if bs.notifySignIn.Checked || bs.sounds.Checked || !bs.notifyMessages.Checked || bs.away.Selected != "15 minutes" {
		t.Errorf("restored: signin %v sounds %v messages %v away %q", bs.notifySignIn.Checked, bs.sounds.Checked,
			bs.notifyMessages.Checked, bs.away.Selected)
	}
	if bs.port.Text != "4242" || !strings.HasPrefix(bs.portNote.Text, "EServer listens on port 4242.") {
		t.Errorf("restored port %q, note %q", bs.port.Text, bs.portNote.Text)
	}
	if bs.downloads.Text != "/data/incoming" {
		t.Errorf("restored downloads %q", bs.downloads.Text)
	}
	if bs.nick.Text != "alice" {
		t.Errorf("profile nick shows %q", bs.nick.Text)
	}
	// "Use the default" goes back to the node's choice.
	test.Tap(bs.defaultFolder)
	if ReadStartSettings(a.prefs).DownloadDir != "" || !bs.defaultFolder.Disabled() {
		t.Error("Use the default did not clear the folder")
	}
}
