package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// callsOf are the fake's calls of the voice-call methods, in order.
func callsOf(fake *fakeAPI) []string {
	var out []string
	for _, c := range fake.Calls() {
		for _, m := range []string{"Call ", "AnswerCall", "DeclineCall", "HangUp", "MuteCall", "SetCallVolume", "MicrophoneLevel"} {
			if strings.HasPrefix(c, m) {
				out = append(out, c)
			}
		}
	}
	return out
}

// lastLine is the conversation's last line.
func lastLine(c *chatWindow) string {
	lines := conversation(c)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// TestCallButton: Call rings the contact with the devices chosen in
// Options → Audio, and the bar says so at once; it is greyed out while
// the contact is offline, and a contact gone offline meanwhile
// (ErrOffline) is said in the conversation.
func TestCallButton(t *testing.T) {
	useFakeClock(t, renderDay)
	a, fake := signedIn(t)
	a.prefs.SetString(prefAudioInput, "mic-usb")
	a.prefs.SetString(prefAudioOutput, "headset")
	bob := contact("bob", api.StatusOffline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	if !c.callBtn.Disabled() {
		t.Fatal("Call is enabled while Bob is offline")
	}
	// Hovering the greyed-out button says why.
	c.win.Resize(fyne.NewSize(600, 480))
	hint := c.callBox.Objects[1].(*hoverHint)
	hint.MouseIn(&desktop.MouseEvent{})
	if got := overlayText(c.win); !strings.Contains(got, "You can call Bob when they are online.") {
		t.Fatalf("the hint says %q", got)
	}
	hint.MouseOut()
	if c.win.Canvas().Overlays().Top() != nil {
		t.Fatal("the hint stays after the pointer left")
	}
	bob.Status = api.StatusOnline
	a.apply(api.Event{Contact: &bob})
	if c.callBtn.Disabled() {
		t.Fatal("Call is disabled while Bob is online")
	}
	hint.MouseIn(&desktop.MouseEvent{})
	if top := c.win.Canvas().Overlays().Top(); top != nil {
		t.Fatalf("an enabled Call shows a hint: %q", overlayText(c.win))
	}
	hint.MouseOut()

	fake.Fail("Call", api.ErrOffline)
	test.Tap(c.callBtn)
	if got := lastLine(c); got != "! Bob is offline." {
		t.Fatalf("calling an offline contact says %q", got)
	}
	if c.bar.box.Visible() {
		t.Fatal("the bar shows for a call that never started")
	}

	fake.Fail("Call", nil)
	test.Tap(c.callBtn)
	call := `Call bob in="mic-usb" out="headset" infile="" outfile=""`
	want := []string{call, call} // the one that failed, and this one
	if got := callsOf(fake); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if !c.bar.box.Visible() || c.bar.state.Text != "Calling Bob…" || !c.callBtn.Disabled() {
		t.Fatalf("the bar shows %v %q; Call disabled %v", c.bar.box.Visible(), c.bar.state.Text, c.callBtn.Disabled())
	}
	// A second tap while it rings starts no second call.
	test.Tap(c.callBtn)
	if got := callsOf(fake); len(got) != 2 {
		t.Fatalf("calls %q: a second call while one rings", got)
	}
}

// TestCallErrorText: why a call could not start, in words.
func TestCallErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{api.ErrOffline, "Bob is offline."},
		{errors.Join(errors.New("rpc"), api.ErrOffline), "Bob is offline."},
		{api.ErrBusy, "You are already in a call."},
		{context.Canceled, "The call could not be started: The operation was cancelled."},
	}
	for _, tt := range tests {
		if got := callErrorText(tt.err, "Bob"); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestIncomingCall: a call coming in opens a small window with Accept and
// Decline and rings until one is chosen; each calls the node's method for
// it with the chosen devices, and the ringing stops.
func TestIncomingCall(t *testing.T) {
	tests := []struct {
		name   string
		choose func(w *incomingCall)
		want   string
		opens  bool
	}{
		{"accept", func(w *incomingCall) { test.Tap(w.accept) }, `AnswerCall c9 in="mic-usb" out="" infile="" outfile=""`, true},
		{"decline", func(w *incomingCall) { test.Tap(w.reject) }, "DeclineCall c9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := useFakeClock(t, renderDay)
			a, fake, _, rec := newDesktopApp(t, true)
			signIn(t, a)
			a.prefs.SetString(prefAudioInput, "mic-usb")
			bob := contact("bob", api.StatusOnline)
			a.apply(api.Event{Contact: &bob})
			a.apply(api.Event{CallIncoming: &api.IncomingCall{ID: "c9", From: "bob"}})
			w := a.calls.incoming["c9"]
			if w == nil {
				t.Fatal("no window for the incoming call")
			}
			if got := windowText(w.win); !strings.Contains(got, "Bob is calling you") || w.accept.Text != "Accept" || w.reject.Text != "Decline" {
				t.Fatalf("the window says %q, buttons %q %q", got, w.accept.Text, w.reject.Text)
			}
			if !slices.Contains(rec.notes, "EServer|Bob is calling you") {
				t.Errorf("notifications %q", rec.notes)
			}
			clock.advance(ringEvery)
			if n := countSound(rec.sounds, soundRing); n != 2 {
				t.Fatalf("rang %d times in %v, want twice", n, ringEvery)
			}
			tt.choose(w)
			if got := callsOf(fake); !slices.Equal(got, []string{tt.want}) {
				t.Fatalf("calls %q, want %q", got, tt.want)
			}
			if a.calls.incoming["c9"] != nil {
				t.Fatal("the window stays after the choice")
			}
			clock.advance(3 * ringEvery)
			if n := countSound(rec.sounds, soundRing); n != 2 {
				t.Fatalf("rang %d times, still ringing after the choice", n)
			}
			if chat := a.chats["bob"]; (chat != nil && chat.shown) != tt.opens {
				t.Fatalf("the conversation opened: %v, want %v", chat != nil && chat.shown, tt.opens)
			}
		})
	}
}

// TestIncomingCallEnds: the caller giving up closes the window, stops the
// ring and says the call was missed, in the conversation and, with the
// app in the tray, in a toast where the desktop has no notifications.
func TestIncomingCallEnds(t *testing.T) {
	clock := useFakeClock(t, renderDay)
	a, _, _, rec := newDesktopApp(t, true)
	a.notifySink = func(context.Context, *fyne.Notification) (uint32, error) {
		return 0, errors.New("no notification service")
	}
	a.main.toasts.logf = func(string, error) {}
	signIn(t, a)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.main.win.Hide() // in the tray
	a.apply(api.Event{CallIncoming: &api.IncomingCall{ID: "c9", From: "bob"}})
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c9", With: "bob", State: api.CallEnded, Reason: api.CallReasonMissed}})
	if a.calls.incoming["c9"] != nil {
		t.Fatal("the window stays after the call ended")
	}
	clock.advance(2 * ringEvery)
	if n := countSound(rec.sounds, soundRing); n != 1 {
		t.Fatalf("rang %d times, want once before the end", n)
	}
	if got := toastTexts(a); !slices.Contains(got, "EServer|Missed call from Bob") {
		t.Fatalf("toasts %q", got)
	}
	if got := lastLine(a.chats["bob"]); got != "! Missed call from Bob" {
		t.Fatalf("the conversation says %q", got)
	}
}

// TestIncomingRingStops: the ring never outlasts the node's ring timeout,
// even when the end event is lost.
func TestIncomingRingStops(t *testing.T) {
	clock := useFakeClock(t, renderDay)
	a, _, _, rec := newDesktopApp(t, true)
	signIn(t, a)
	a.apply(api.Event{CallIncoming: &api.IncomingCall{ID: "c9", From: "bob"}})
	for range 30 {
		clock.advance(ringEvery)
	}
	if a.calls.incoming["c9"] != nil {
		t.Fatal("the window rings on past the ring timeout")
	}
	if n := countSound(rec.sounds, soundRing); n < 10 || time.Duration(n)*ringEvery > ringFor+ringEvery {
		t.Fatalf("rang %d times", n)
	}
}

func countSound(ss []sound, s sound) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestCallBar: the bar follows the call's events, calling → ringing →
// active with a running timer → ended with its reason, shows the quality,
// and Mute, the volume and Hang up call the node; it goes a few seconds
// after the end, and the conversation says how the call went.
func TestCallBar(t *testing.T) {
	clock := useFakeClock(t, renderDay)
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	bar := c.bar
	if bar.box.Visible() {
		t.Fatal("the bar shows before any call")
	}
	test.Tap(c.callBtn)
	steps := []struct {
		ev      api.CallEvent
		advance time.Duration
		state   string
	}{
		{api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallCalling}, 0, "Calling Bob…"},
		{api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallRinging}, 0, "Ringing…"},
		{api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive, Since: renderDay.Add(-83 * time.Second)}, 0, "In call 01:23"},
		{api.CallEvent{}, time.Second, "In call 01:24"},
		{api.CallEvent{}, time.Hour, "In call 1:01:24"},
	}
	for _, s := range steps {
		if s.ev.ID != "" {
			a.apply(api.Event{CallState: &s.ev})
		}
		clock.advance(s.advance)
		if !bar.box.Visible() || bar.state.Text != s.state {
			t.Fatalf("after %v +%v the bar shows %v %q, want %q", s.ev.State, s.advance, bar.box.Visible(), bar.state.Text, s.state)
		}
	}
	a.apply(api.Event{CallStats: &api.CallStats{ID: "c1", Quality: api.QualityPoor, Relayed: true}})
	if bar.quality.Text != "Quality: poor, relayed" {
		t.Fatalf("quality %q", bar.quality.Text)
	}
	a.apply(api.Event{CallStats: &api.CallStats{ID: "c1", Quality: api.QualityGood}})
	if bar.quality.Text != "Quality: good" {
		t.Fatalf("quality %q", bar.quality.Text)
	}
	test.Tap(bar.mute)
	bar.volume.SetValue(1.5)
	test.Tap(bar.hangUp)
	want := []string{`Call bob in="" out="" infile="" outfile=""`, "MuteCall c1 true", "SetCallVolume c1 1.50", "HangUp c1"}
	if got := callsOf(fake); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if !fake.Voice.Muted["c1"] || fake.Voice.Volume["c1"] != 1.5 {
		t.Fatalf("muted %v, volume %v", fake.Voice.Muted, fake.Voice.Volume)
	}
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallEnded, Reason: api.CallReasonHungUp,
		Since: renderDay.Add(-83 * time.Second)}})
	if bar.state.Text != "Call ended — you hung up" || !bar.hangUp.Disabled() || !bar.mute.Disabled() {
		t.Fatalf("ended: %q, hang up disabled %v", bar.state.Text, bar.hangUp.Disabled())
	}
	if got := lastLine(c); got != "! You called Bob — 1 h 1 min" {
		t.Fatalf("the conversation says %q", got)
	}
	// Reported again: said once.
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallEnded, Reason: api.CallReasonHungUp}})
	if n := len(slices.DeleteFunc(conversation(c), func(s string) bool { return !strings.HasPrefix(s, "! You called") })); n != 1 {
		t.Fatalf("the end is said %d times", n)
	}
	if c.callBtn.Disabled() {
		t.Fatal("Call stays disabled after the call ended")
	}
	clock.advance(callLinger)
	if bar.box.Visible() {
		t.Fatal("the bar stays after the call ended")
	}
	if clock.pending() != 0 {
		t.Fatalf("%d timers left after the call", clock.pending())
	}

	// The next call starts afresh, and its end says why.
	test.Tap(c.callBtn)
	if bar.mute.Checked || bar.volume.Value != 1 || bar.state.Text != "Calling Bob…" {
		t.Fatalf("a new call starts muted %v at volume %v saying %q", bar.mute.Checked, bar.volume.Value, bar.state.Text)
	}
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c2", With: "bob", Outgoing: true, State: api.CallEnded, Reason: api.CallReasonDeclined}})
	if bar.state.Text != "Call ended — declined" || lastLine(c) != "! Bob declined your call" {
		t.Fatalf("declined: bar %q, line %q", bar.state.Text, lastLine(c))
	}
}

// TestCallBarDeclinesIncoming: Hang up on a call still ringing here
// declines it.
func TestCallBarDeclinesIncoming(t *testing.T) {
	useFakeClock(t, renderDay)
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.apply(api.Event{CallIncoming: &api.IncomingCall{ID: "c9", From: "bob"}})
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c9", With: "bob", State: api.CallIncoming}})
	bar := a.chat("bob").bar
	if bar.state.Text != "Bob is calling you" {
		t.Fatalf("the bar says %q", bar.state.Text)
	}
	test.Tap(bar.hangUp)
	if got := callsOf(fake); !slices.Equal(got, []string{"DeclineCall c9"}) {
		t.Fatalf("calls %q", got)
	}
}

// TestCallBarKeepsRoom: with the bar shown, the history and the entry
// keep room to read and write, at the window's default size and at its
// smallest.
func TestCallBarKeepsRoom(t *testing.T) {
	useFakeClock(t, renderDay)
	a, _ := signedInRender(t, themeLight)
	c := a.chat("bob")
	c.show(false)
	c.win.Resize(fyne.NewSize(600, 480))
	before := c.win.Content().MinSize()
	a.apply(api.Event{CallState: &api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive, Since: renderDay}})
	a.apply(api.Event{CallStats: &api.CallStats{ID: "c1", Quality: api.QualityPoor, Relayed: true}})
	after := c.win.Content().MinSize()
	if after.Width > before.Width {
		t.Errorf("the bar widens the window's minimum from %v to %v", before.Width, after.Width)
	}
	for _, size := range []fyne.Size{fyne.NewSize(600, 480), after} {
		c.win.Resize(size)
		c.win.Content().Refresh()
		if h := c.scroll.Size().Height; h < 60 {
			t.Errorf("at %v the history has %v of height", size, h)
		}
		if got, min := c.entry.Size().Height, c.entry.MinSize().Height; got < min {
			t.Errorf("at %v the entry has %v of its %v", size, got, min)
		}
		if right := c.bar.hangUp.Position().X + c.bar.hangUp.Size().Width; right > c.bar.box.Size().Width+1 || c.bar.box.Size().Width > size.Width {
			t.Errorf("at %v Hang up ends at %v, the bar is %v wide", size, right, c.bar.box.Size().Width)
		}
	}
}

// TestCallHistoryLines: call entries read as MSN wrote them, for each
// direction and way a call ended.
func TestCallHistoryLines(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	out := func(reason string, secs int) api.Message {
		return api.Message{Kind: api.KindCall, From: "alice", To: "bob", Call: &api.CallNote{Reason: reason, Duration: secs}}
	}
	in := func(reason string, secs int) api.Message {
		return api.Message{Kind: api.KindCall, From: "bob", To: "alice", Call: &api.CallNote{Reason: reason, Duration: secs}}
	}
	tests := []struct {
		m    api.Message
		want string
	}{
		{in(api.CallReasonMissed, 0), "Missed call from Bob"},
		{in(api.CallReasonDeclined, 0), "Missed call from Bob"},
		{in(api.CallReasonElsewhere, 0), "Call from Bob, answered on another device"},
		{in(api.CallReasonTheyHung, 45), "Call with Bob — 45 s"},
		{in(api.CallReasonHungUp, 3600+300), "Call with Bob — 1 h 5 min"},
		{out(api.CallReasonHungUp, 182), "You called Bob — 3 min 2 s"},
		{out(api.CallReasonLost, 60), "You called Bob — 1 min 0 s"},
		{out(api.CallReasonDeclined, 0), "Bob declined your call"},
		{out(api.CallReasonBusy, 0), "Bob was in another call"},
		{out(api.CallReasonMissed, 0), "You called Bob: no answer"},
		{out(api.CallReasonFailed, 0), "Your call to Bob did not go through"},
		{api.Message{Kind: api.KindCall, From: "bob", To: "alice"}, "Missed call from Bob"}, // no note: nothing to crash on
	}
	for _, tt := range tests {
		if got := a.entryText(tt.m); got != tt.want {
			t.Errorf("%s→%s %+v: %q, want %q", tt.m.From, tt.m.To, tt.m.Call, got, tt.want)
		}
	}
	// In a reopened conversation, as lines among the messages.
	a.chat("bob").setHistory([]api.Message{
		{ID: "m1", From: "bob", To: "alice", Text: "call me?", Time: renderDay, State: api.StateReceived},
		{ID: "c1", From: "alice", To: "bob", Kind: api.KindCall, Time: renderDay.Add(time.Minute), Call: &api.CallNote{Reason: api.CallReasonHungUp, Duration: 182}},
	})
	if got := lastLine(a.chats["bob"]); got != "! You called Bob — 3 min 2 s" {
		t.Fatalf("the conversation says %q", got)
	}
}

// TestCallLinesTranslated: the lengths are said in the language in use.
func TestCallLinesTranslated(t *testing.T) {
	useLanguageForTest(t, "de")
	if got := callLength(182); got != "3 Min. 2 Sek." {
		t.Fatalf("German: %q", got)
	}
}

// uiQueue replaces a.uiDo: background work's updates wait in a queue the
// test runs on its own goroutine, as fyne.Do would on Fyne's.
func uiQueue(a *App) chan func() {
	q := make(chan func(), 64)
	a.uiDo = func(f func()) {
		select {
		case q <- f:
		default: // the test stopped reading: dropped, never blocking the worker
		}
	}
	return q
}

// TestAudioOptions: Options → Audio lists the node's devices with
// Default, remembers the choice in the profile's settings, and its
// microphone test asks the node for the level again and again, shows it,
// and stops when the tab is left or Options is closed, its goroutine gone.
func TestAudioOptions(t *testing.T) {
	a, fake := signedIn(t)
	fake.Lock()
	fake.Voice.Devices = []api.AudioDevice{
		{ID: "alsa:0", Name: "Built-in microphone", Input: true, Default: true},
		{ID: "usb:1", Name: "USB headset", Input: true},
		{ID: "alsa:1", Name: "Speakers", Default: true},
		{ID: "usb:2", Name: "USB headset"},
		{ID: "hdmi:0", Name: "Speakers"},
	}
	fake.Voice.Level = 0.6
	fake.Unlock()
	q := uiQueue(a)
	a.showOptions()
	s := a.settings
	au := s.audio
	if got, want := au.input.Options, []string{"Default", "Built-in microphone", "USB headset"}; !slices.Equal(got, want) {
		t.Fatalf("microphones %q, want %q", got, want)
	}
	// A microphone and a speaker of one name keep it; two speakers of one
	// name are told apart by their IDs.
	if got, want := au.output.Options, []string{"Default", "Speakers", "USB headset", "Speakers (hdmi:0)"}; !slices.Equal(got, want) {
		t.Fatalf("speakers %q, want %q", got, want)
	}
	if au.input.Selected != "Default" || a.prefs.String(prefAudioInput) != "" {
		t.Fatalf("before a choice: %q, saved %q", au.input.Selected, a.prefs.String(prefAudioInput))
	}
	au.input.SetSelected("USB headset")
	au.output.SetSelected("USB headset")
	if got := a.callAudio(); got != (api.CallAudio{Input: "usb:1", Output: "usb:2"}) {
		t.Fatalf("calls would use %+v", got)
	}
	// Opened again, the menus show the saved choice.
	a.showOptions()
	if au.input.Selected != "USB headset" || au.output.Selected != "USB headset" {
		t.Fatalf("reopened: %q %q", au.input.Selected, au.output.Selected)
	}

	stops := []struct {
		name string
		stop func()
	}{
		{"the button", func() { test.Tap(au.test) }},
		{"leaving the tab", func() { s.tabs.SelectIndex(0) }},
		{"closing Options", func() { s.hide() }},
	}
	for _, st := range stops {
		t.Run(st.name, func(t *testing.T) {
			a.showOptions()
			s.tabs.SelectIndex(len(s.tabs.Items) - 1)
			test.Tap(au.test)
			done := au.done
			if done == nil || au.test.Text != "Stop test" {
				t.Fatalf("the test did not start: %q", au.test.Text)
			}
			deadline := time.After(5 * time.Second)
			for au.level.Value != 0.6 {
				select {
				case f := <-q:
					f()
				case <-deadline:
					t.Fatalf("the level bar shows %v, want the fake's 0.6", au.level.Value)
				}
			}
			st.stop()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the test's goroutine is still running")
			}
			for len(q) > 0 {
				(<-q)() // late updates change nothing
			}
			if au.test.Text != "Test microphone" || au.level.Value != 0 || au.done != nil {
				t.Fatalf("stopped: %q, level %v", au.test.Text, au.level.Value)
			}
			for _, c := range callsOf(fake) {
				if strings.HasPrefix(c, "MicrophoneLevel") && c != "MicrophoneLevel usb:1 200ms" {
					t.Fatalf("asked %q, want the chosen microphone for 200ms", c)
				}
			}
		})
	}
}

// TestAudioOptionsFail: a node that cannot list devices or hear the
// microphone is said in words, and the test stops.
func TestAudioOptionsFail(t *testing.T) {
	a, fake := signedIn(t)
	fake.Fail("AudioDevices", errors.New("no sound server"))
	fake.Fail("MicrophoneLevel", errors.New("no sound server"))
	q := uiQueue(a)
	a.showOptions()
	au := a.settings.audio
	if !strings.Contains(au.status.Text, "could not be listed") || !slices.Equal(au.input.Options, []string{"Default"}) {
		t.Fatalf("status %q, options %q", au.status.Text, au.input.Options)
	}
	test.Tap(au.test)
	done := au.done
	select {
	case f := <-q:
		f()
	case <-time.After(5 * time.Second):
		t.Fatal("no update from the test")
	}
	<-done
	if !strings.Contains(au.status.Text, "could not be tested") || au.test.Text != "Test microphone" {
		t.Fatalf("status %q, button %q", au.status.Text, au.test.Text)
	}
}

// TestRenderCall: the conversation with a call running (the bar at the
// top: time, quality, Mute, volume, Hang up) and the incoming-call window,
// in both themes.
func TestRenderCall(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			useFakeClock(t, renderDay.Add(10*time.Minute))
			a, _ := signedInRender(t, th)
			c := a.chat("bob")
			c.setHistory([]api.Message{
				{ID: "m1", From: "bob", To: "alice", Text: "Can I call you? :)", Time: renderDay, State: api.StateReceived},
				{ID: "c0", From: "bob", To: "alice", Kind: api.KindCall, Time: renderDay.Add(time.Minute), Call: &api.CallNote{Reason: api.CallReasonMissed}},
			})
			c.show(false)
			c.win.Resize(fyne.NewSize(600, 480))
			a.apply(api.Event{CallState: &api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive,
				Since: renderDay.Add(10*time.Minute - 83*time.Second)}})
			a.apply(api.Event{CallStats: &api.CallStats{ID: "c1", Quality: api.QualityGood, Relayed: true}})
			c.win.Content().Refresh()
			test.AssertRendersToImage(t, "call-bar-"+th+".png", c.win.Canvas())

			a.apply(api.Event{CallIncoming: &api.IncomingCall{ID: "c2", From: "carol"}})
			w := a.calls.incoming["c2"]
			w.win.Resize(fyne.NewSize(340, 110))
			test.AssertRendersToImage(t, "call-incoming-"+th+".png", w.win.Canvas())
		})
	}
}

// TestCallsAtSignIn: calls the node has going when the app signs in show
// as if their events had just come: a running call in its bar, one
// ringing here in the incoming window.
func TestCallsAtSignIn(t *testing.T) {
	useFakeClock(t, renderDay)
	a, fake := newTestApp(t)
	fake.Lock()
	fake.Voice.Active = []api.CallEvent{
		{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive, Since: renderDay.Add(-5 * time.Second)},
		{ID: "c2", With: "carol", State: api.CallIncoming},
	}
	fake.Unlock()
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	if c := a.chats["bob"]; c == nil || c.bar.state.Text != "In call 00:05" {
		t.Fatalf("bob's call is not shown")
	}
	if a.calls.incoming["c2"] == nil {
		t.Fatal("carol's call rings in no window")
	}
}
