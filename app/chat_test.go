package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/assets"
	"eserver/node/api"
)

// fakeClock is a clock the test steps by hand; timers fire inside advance,
// on the test's goroutine, which the test driver treats as Fyne's.
type fakeClock struct {
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, done bool
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	tm := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		was := !tm.stopped && !tm.done
		tm.stopped = true
		return was
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	for _, tm := range c.timers {
		if !tm.stopped && !tm.done && !tm.at.After(c.now) {
			tm.done = true
			tm.f()
		}
	}
}

// pending is how many timers are still to fire.
func (c *fakeClock) pending() int {
	n := 0
	for _, tm := range c.timers {
		if !tm.stopped && !tm.done {
			n++
		}
	}
	return n
}

// useFakeClock makes chat windows opened from now on use a clock at now.
func useFakeClock(t *testing.T, now time.Time) *fakeClock {
	fc := &fakeClock{now: now}
	old := chatClock
	chatClock = fc
	t.Cleanup(func() { chatClock = old })
	return fc
}

// conversation is what the history shows: "— day —" separators, "text"
// for messages and "! line" for the app's lines.
func conversation(c *chatWindow) []string {
	byBox := map[fyne.CanvasObject]*chatItem{}
	for _, it := range c.items {
		byBox[it.box] = it
	}
	var out []string
	for _, o := range c.history.Objects {
		if d, ok := o.(*dayDivider); ok {
			out = append(out, "— "+d.label.Text+" —")
			continue
		}
		it := byBox[o]
		switch {
		case it == nil:
			out = append(out, fmt.Sprintf("?%T", o))
		case it.row != nil:
			out = append(out, it.row.text.Text)
		default:
			out = append(out, "! "+it.note)
		}
	}
	return out
}

// TestChatEmoticons: a message's codes show as pictures in its row.
func TestChatEmoticons(t *testing.T) {
	a, _ := signedIn(t)
	a.openChat("bob")
	c := a.chats["bob"]
	a.apply(api.Event{Message: &api.Message{ID: "r1", From: "bob", To: "alice", Text: "hi :) (y)", Time: time.Now(), State: api.StateReceived}})
	c.win.Resize(fyne.NewSize(600, 480))
	row := c.rows[len(c.rows)-1]
	images, texts := messageObjects(row.text)
	if len(images) != 2 || len(texts) != 1 {
		t.Fatalf("row draws %d images and %d texts, want 2 and 1", len(images), len(texts))
	}
	if images[1].Resource != emoticonResources["(Y)"] {
		t.Errorf("second image %v, want the thumbs up", images[1].Resource.Name())
	}
}

// TestEmoticonPicker: the smiley opens the grid; picking puts the code at
// the cursor, not at the end, and closes the grid.
func TestEmoticonPicker(t *testing.T) {
	a, _ := signedIn(t)
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	c.entry.SetText("see you")
	c.entry.CursorRow, c.entry.CursorColumn = 0, 3 // after "see"
	test.Tap(c.emoticonBtn)
	p := c.emoticons
	if p == nil || !p.popup.Visible() || len(p.buttons) != len(assets.Emoticons) {
		t.Fatal("the picker did not open with every emoticon")
	}
	wink := slices.IndexFunc(assets.Emoticons, func(e assets.Emoticon) bool { return e.Name == "wink" })
	test.Tap(p.buttons[wink])
	if c.entry.Text != "see;) you" {
		t.Errorf("entry %q, want the wink's code at the cursor", c.entry.Text)
	}
	if p.popup.Visible() {
		t.Error("the picker stayed open")
	}
	if c.win.Canvas().Focused() != c.entry {
		t.Error("the entry lost the cursor")
	}
}

// TestDaySeparators: history gets a separator before each day, named
// relative to today, and a message after midnight starts a new one while
// the old names move on.
func TestDaySeparators(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.Local) }
	fc := useFakeClock(t, day(25, 10, 0))
	a, fake := signedIn(t)
	fake.Messages["bob"] = []api.Message{
		{ID: "1", From: "bob", To: "alice", Text: "monday", Time: day(23, 18, 0), State: api.StateReceived},
		{ID: "2", From: "alice", To: "bob", Text: "monday too", Time: day(23, 18, 5), State: api.StateDelivered},
		{ID: "3", From: "bob", To: "alice", Text: "tuesday", Time: day(24, 9, 0), State: api.StateReceived},
		{ID: "4", From: "bob", To: "alice", Text: "wednesday", Time: day(25, 8, 0), State: api.StateReceived},
	}
	a.openChat("bob")
	c := a.chats["bob"]
	want := []string{"— Monday 23 November 2026 —", "monday", "monday too", "— Yesterday —", "tuesday", "— Today —", "wednesday"}
	if got := conversation(c); !slices.Equal(got, want) {
		t.Fatalf("history\n%q, want\n%q", got, want)
	}

	// Late at night: same day, no separator.
	fc.advance(13*time.Hour + 50*time.Minute)
	a.apply(api.Event{Message: &api.Message{ID: "5", From: "bob", To: "alice", Text: "late", Time: fc.now, State: api.StateReceived}})
	// Past midnight: a new day, and yesterday's "Today" becomes "Yesterday".
	fc.advance(15 * time.Minute)
	a.apply(api.Event{Message: &api.Message{ID: "6", From: "bob", To: "alice", Text: "after midnight", Time: fc.now, State: api.StateReceived}})
	want = []string{"— Monday 23 November 2026 —", "monday", "monday too", "— Tuesday 24 November 2026 —", "tuesday",
		"— Yesterday —", "wednesday", "late", "— Today —", "after midnight"}
	if got := conversation(c); !slices.Equal(got, want) {
		t.Fatalf("after midnight\n%q, want\n%q", got, want)
	}

	// Lines from the app are dated like messages.
	fake.Fail("Send", api.ErrNotContact)
	c.entry.SetText("still there?")
	test.Tap(c.send)
	if got := conversation(c); got[len(got)-2] != "still there?" || !strings.HasPrefix(got[len(got)-1], "! This message could not be sent") {
		t.Errorf("failed send shows %q", got[len(got)-2:])
	}
}

func TestDayLabel(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 30, 0, 0, time.Local)
	tests := []struct {
		day  time.Time
		want string
	}{
		{now, "Today"},
		{now.Add(-31 * time.Minute), "Yesterday"}, // 23:59 the day before
		{time.Date(2026, 11, 23, 23, 59, 0, 0, time.Local), "Monday 23 November 2026"},
		{time.Date(2025, 12, 31, 12, 0, 0, 0, time.Local), "Wednesday 31 December 2025"},
	}
	for _, tt := range tests {
		if got := dayLabel(tt.day, now); got != tt.want {
			t.Errorf("dayLabel(%v) = %q, want %q", tt.day, got, tt.want)
		}
	}
}

// TestTyping: our typing reaches the node at most once per TypingInterval;
// theirs shows under the entry until TypingTimeout after the last signal or
// until their message arrives.
func TestTyping(t *testing.T) {
	fc := useFakeClock(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.Local))
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	typingCalls := func() int {
		n := 0
		for _, c := range fake.Calls() {
			if c == "Typing bob" {
				n++
			}
		}
		return n
	}

	// A typing signal does not open a conversation.
	a.apply(api.Event{Typing: &api.TypingEvent{From: "bob"}})
	if a.chats["bob"] != nil {
		t.Fatal("typing opened a conversation")
	}

	a.openChat("bob")
	c := a.chats["bob"]
	test.Type(c.entry, "hel")
	if n := typingCalls(); n != 1 {
		t.Fatalf("%d Typing calls for three keys, want 1", n)
	}
	fc.advance(api.TypingInterval - time.Millisecond)
	test.Type(c.entry, "l")
	fc.advance(time.Millisecond)
	test.Type(c.entry, "o")
	if n := typingCalls(); n != 2 {
		t.Fatalf("%d Typing calls after %v, want 2", n, api.TypingInterval)
	}
	// Sending clears the entry, which is not typing.
	c.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if n := typingCalls(); n != 2 || !fake.Called("Send bob hello") {
		t.Fatalf("after sending: %v", fake.Calls())
	}

	// Theirs.
	a.apply(api.Event{Typing: &api.TypingEvent{From: "bob"}})
	if c.statusBar.Text != "Bob is typing..." {
		t.Fatalf("status bar %q", c.statusBar.Text)
	}
	fc.advance(api.TypingTimeout - time.Second)
	a.apply(api.Event{Typing: &api.TypingEvent{From: "bob"}}) // still typing: the timeout starts again
	fc.advance(api.TypingTimeout - time.Second)
	if c.statusBar.Text != "Bob is typing..." {
		t.Fatalf("typing cleared before its timeout: %q", c.statusBar.Text)
	}
	fc.advance(time.Second)
	if c.statusBar.Text != "" {
		t.Fatalf("typing not cleared after the timeout: %q", c.statusBar.Text)
	}

	// A message while they are not typing says when it came.
	a.apply(api.Event{Message: &api.Message{ID: "r0", From: "bob", To: "alice", Text: "first", Time: fc.now, State: api.StateReceived}})
	if !strings.HasPrefix(c.statusBar.Text, "Last message received at ") {
		t.Fatalf("status bar %q after a message", c.statusBar.Text)
	}
	fc.advance(time.Minute)

	// Their message ends it at once, and the bar says when it came.
	a.apply(api.Event{Typing: &api.TypingEvent{From: "bob"}})
	a.apply(api.Event{Message: &api.Message{ID: "r1", From: "bob", To: "alice", Text: "hi", Time: fc.now, State: api.StateReceived}})
	if want := "Last message received at " + fc.now.Format("15:04") + " on 25 November 2026."; c.statusBar.Text != want {
		t.Fatalf("status bar %q, want %q", c.statusBar.Text, want)
	}
	if fc.pending() != 0 {
		t.Error("the typing timer still runs after their message")
	}

	// Signing out closes the window; no timer outlives it.
	a.apply(api.Event{Typing: &api.TypingEvent{From: "bob"}})
	a.main.signOutItem.Action()
	if fc.pending() != 0 || !c.closed {
		t.Error("the typing timer outlived the window")
	}
}

// TestNudge: the button and Ctrl+G nudge; success writes a line and shakes
// our window, errors say why in words.
func TestNudge(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		line   string
		shakes int
	}{
		{"sent", nil, "You have just sent a nudge.", 1},
		{"too often", fmt.Errorf("nudge: %w", api.ErrRateLimited), "You can't send nudges so often.", 0},
		{"unreachable", api.ErrUnreachable, "Bob can't be reached right now, so the nudge was not sent.", 0},
		{"other", api.ErrNotContact, "The nudge could not be sent: That person has not accepted you as a contact yet.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			useFakeClock(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.Local))
			a, fake := signedIn(t)
			bob := contact("bob", api.StatusOnline)
			a.apply(api.Event{Contact: &bob})
			a.openChat("bob")
			c := a.chats["bob"]
			fake.Fail("Nudge", tt.err)
			test.Tap(c.nudgeBtn)
			if !fake.Called("Nudge bob") {
				t.Fatalf("Nudge not called: %v", fake.Calls())
			}
			got := conversation(c)
			if last := got[len(got)-1]; last != "! "+tt.line {
				t.Errorf("conversation ends %q, want %q", last, tt.line)
			}
			if c.shakes != tt.shakes {
				t.Errorf("%d shakes, want %d", c.shakes, tt.shakes)
			}
		})
	}

	t.Run("ctrl+g", func(t *testing.T) {
		a, fake := signedIn(t)
		a.openChat("bob")
		c := a.chats["bob"]
		c.entry.TypedShortcut(nudgeShortcut) // the entry has the cursor
		if !fake.Called("Nudge bob") {
			t.Fatalf("Ctrl+G in the entry did not nudge: %v", fake.Calls())
		}
		// Elsewhere in the window, the window's shortcut does it.
		n := len(fake.Calls())
		c.win.Canvas().(fyne.Shortcutable).TypedShortcut(nudgeShortcut)
		if got := fake.Calls()[n:]; !slices.Equal(got, []string{"Nudge bob"}) {
			t.Fatalf("Ctrl+G on the window: %v", got)
		}
	})
}

// TestNudged: a contact's nudge opens the conversation with a line and
// shakes it, but shakes at most once per NudgeInterval.
func TestNudged(t *testing.T) {
	fc := useFakeClock(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.Local))
	a, _ := signedIn(t)
	carol := contact("carol", api.StatusOnline)
	a.apply(api.Event{Contact: &carol})
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "carol", Time: fc.now}})
	c := a.chats["carol"]
	if c == nil || !c.shown {
		t.Fatal("a nudge did not open the conversation")
	}
	if got := conversation(c); !slices.Equal(got, []string{"— Today —", "! Carol has just sent you a nudge!"}) {
		t.Fatalf("conversation %q", got)
	}
	if c.shakes != 1 {
		t.Fatalf("%d shakes, want 1", c.shakes)
	}

	// The shake swings the content sideways and ends where it began.
	content := c.shaker.Objects[0]
	c.shakeStep(0.05)
	if content.Position().X == 0 {
		t.Error("the content did not move during the shake")
	}
	c.shakeStep(1)
	if content.Position().X != 0 {
		t.Errorf("the content ended at x=%v", content.Position().X)
	}

	fc.advance(api.NudgeInterval / 2)
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "carol", Time: fc.now}})
	if c.shakes != 1 || len(c.items) != 2 {
		t.Fatalf("second nudge within the interval: %d shakes, %d items", c.shakes, len(c.items))
	}
	fc.advance(api.NudgeInterval / 2)
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "carol", Time: fc.now}})
	if c.shakes != 2 {
		t.Fatalf("nudge after the interval: %d shakes, want 2", c.shakes)
	}
}

// TestDisplayPictures: the contact's picture and ours show beside the
// conversation, the default until a path is known, and follow changes.
func TestDisplayPictures(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	if c.theirPic.img.Resource != avatarResource || c.myPic.img.Resource != avatarResource {
		t.Fatal("pictures do not start as the default")
	}
	dir := t.TempDir()
	for _, name := range []string{"ab12.png", "me.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), assets.Avatar, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bob.AvatarPath = filepath.Join(dir, "ab12.png")
	a.apply(api.Event{Contact: &bob})
	if c.theirPic.img.File != bob.AvatarPath || c.theirPic.img.Resource != nil {
		t.Errorf("their picture %q, want %q", c.theirPic.img.File, bob.AvatarPath)
	}
	acc := *a.account
	acc.AvatarPath = filepath.Join(dir, "me.png")
	a.apply(api.Event{Account: &acc})
	if c.myPic.img.File != acc.AvatarPath {
		t.Errorf("our picture %q, want %q", c.myPic.img.File, acc.AvatarPath)
	}
	// A window opened later starts with ours.
	a.openChat("carol")
	if got := a.chats["carol"].myPic.img.File; got != acc.AvatarPath {
		t.Errorf("new window's picture %q", got)
	}
	bob.AvatarPath = ""
	a.apply(api.Event{Contact: &bob})
	if c.theirPic.img.File != "" || c.theirPic.img.Resource != avatarResource {
		t.Error("their picture did not go back to the default")
	}
}

// TestTypeAnywhere: keys typed while nothing in the window has focus go to
// the entry, so a click on the history does not lose what is typed next.
func TestTypeAnywhere(t *testing.T) {
	a, fake := signedIn(t)
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Canvas().Unfocus()
	test.TypeOnCanvas(c.win.Canvas(), "hi")
	if c.entry.Text != "hi" || c.win.Canvas().Focused() != c.entry {
		t.Fatalf("entry %q, focused %v", c.entry.Text, c.win.Canvas().Focused())
	}
	c.win.Canvas().Unfocus()
	c.win.Canvas().(interface{ OnTypedKey() func(*fyne.KeyEvent) }).OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("Send bob hi") {
		t.Fatalf("Return on the window did not send: %v", fake.Calls())
	}
}

// TestSecurityLines: the open conversation says when messages go without
// forward secrecy, wait for the contact's keys, or are protected again; a
// closed one is not opened for it.
func TestSecurityLines(t *testing.T) {
	fc := useFakeClock(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.Local))
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.apply(api.Event{Security: &api.SecurityEvent{Contact: "bob", Kind: api.SecuritySentUnprotected, Time: fc.now}})
	if a.chats["bob"] != nil {
		t.Fatal("a security event opened a conversation")
	}
	a.openChat("bob")
	c := a.chats["bob"]
	for _, k := range []api.SecurityKind{api.SecuritySentUnprotected, api.SecurityWaitingForKeys, api.SecurityProtected} {
		a.apply(api.Event{Security: &api.SecurityEvent{Contact: "bob", Kind: k, Time: fc.now}})
	}
	want := []string{"— Today —",
		"! Sent without forward secrecy: Bob's computer has published no keys yet. Your messages will be fully protected as soon as it does.",
		"! Waiting for Bob's keys: your messages will be sent, fully protected, when they arrive.",
		"! Messages with Bob are fully protected again (forward secrecy)."}
	if got := conversation(c); !slices.Equal(got, want) {
		t.Fatalf("conversation %q", got)
	}
}

// TestLateMessageInPlace: a message its author wrote before one already
// shown (it waited in a mailbox) is shown before it, as the stored history
// has it; our own messages and another author's do not move it.
func TestLateMessageInPlace(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 25, 10, m, 0, 0, time.Local) }
	useFakeClock(t, at(30))
	a, _ := signedIn(t)
	a.openChat("bob")
	c := a.chats["bob"]
	for _, m := range []api.Message{
		{ID: "1", From: "bob", To: "alice", Text: "one", Time: at(1), State: api.StateReceived},
		{ID: "mine", From: "alice", To: "bob", Text: "mine", Time: at(2), State: api.StateDelivered},
		{ID: "3", From: "bob", To: "alice", Text: "three", Time: at(3), State: api.StateReceived},
		{ID: "4", From: "bob", To: "alice", Text: "four", Time: at(4), State: api.StateReceived},
		{ID: "2", From: "bob", To: "alice", Text: "two, by mail", Time: at(2), State: api.StateReceived},
		{ID: "5", From: "bob", To: "alice", Text: "five", Time: at(5), State: api.StateReceived},
	} {
		a.apply(api.Event{Message: &m})
	}
	want := []string{"— Today —", "one", "mine", "two, by mail", "three", "four", "five"}
	if got := conversation(c); !slices.Equal(got, want) {
		t.Fatalf("conversation\n%q, want\n%q", got, want)
	}
	var texts []string
	for _, r := range c.rows {
		texts = append(texts, r.msg.Text)
	}
	if !slices.Equal(texts, want[1:]) {
		t.Fatalf("rows %q, want %q", texts, want[1:])
	}
}
