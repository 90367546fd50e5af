package app

import (
	"fmt"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// newestInView reports whether the conversation's last item is wholly
// inside the visible part of the history.
func newestInView(c *chatWindow) bool {
	objs := c.history.Objects
	if len(objs) == 0 {
		return true
	}
	last := objs[len(objs)-1]
	bottom := last.Position().Y + last.Size().Height
	return last.Visible() && bottom <= c.scroll.Offset.Y+c.scroll.Size().Height+1 && last.Position().Y >= c.scroll.Offset.Y-1
}

// manyMessages are n messages with bob, long enough to wrap, a minute apart.
func manyMessages(n int, start time.Time) []api.Message {
	var ms []api.Message
	for i := range n {
		m := api.Message{ID: fmt.Sprintf("h%d", i), From: "bob", To: "alice", State: api.StateReceived,
			Time: start.Add(time.Duration(i) * time.Minute),
			Text: fmt.Sprintf("message %d: a line long enough to wrap in a narrow window, as people write them", i)}
		if i%3 == 0 {
			m.From, m.To, m.State = "alice", "bob", api.StateDelivered
		}
		ms = append(ms, m)
	}
	return ms
}

// TestNewestMessageInView: a conversation opened by a message shows that
// message, not the oldest ones; what we send and what arrives stays in
// view as the conversation grows, and after the window is resized.
func TestNewestMessageInView(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	start := time.Now().Add(-time.Hour)
	fake.Lock()
	fake.Messages["bob"] = manyMessages(40, start)
	fake.Unlock()
	// An offline message arrives at sign-in: the window opens with the
	// history above it.
	a.apply(api.Event{Message: &api.Message{ID: "new", From: "bob", To: "alice", Text: "are you there?", Time: time.Now(), State: api.StateReceived}})
	c := a.chats["bob"]
	if c == nil || !c.shown {
		t.Fatal("the message did not open the conversation")
	}
	if !newestInView(c) {
		t.Fatalf("opened by a message, the window shows offset %v of %v: the message is out of view", c.scroll.Offset.Y, c.scroll.Content.Size().Height)
	}
	c.entry.SetText("yes, just back")
	test.Type(c.entry, "\n")
	if !newestInView(c) {
		t.Fatalf("what we sent is out of view: offset %v of %v", c.scroll.Offset.Y, c.scroll.Content.Size().Height)
	}
	for i := range 5 {
		a.apply(api.Event{Message: &api.Message{ID: fmt.Sprint("r", i), From: "bob", To: "alice", Text: "and another thing I wanted to tell you about the weekend", Time: time.Now(), State: api.StateReceived}})
		if !newestInView(c) {
			t.Fatalf("arrival %d is out of view", i)
		}
	}
	c.win.Resize(fyne.NewSize(420, 360))
	if !newestInView(c) {
		t.Fatal("after a resize the newest message is out of view")
	}
	if c.newBelow.Visible() {
		t.Fatal("the new-messages marker shows while the newest message is in view")
	}
}

// TestNewMessagesMarker: someone who scrolled up to read is not pulled down
// by a new message; a "new messages" marker shows instead, and takes them
// down when tapped.
func TestNewMessagesMarker(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	fake.Lock()
	fake.Messages["bob"] = manyMessages(40, time.Now().Add(-time.Hour))
	fake.Unlock()
	a.openChat("bob")
	c := a.chats["bob"]
	// The person scrolls to the top to read.
	c.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.NewDelta(0, 1e6)})
	if c.scroll.Offset.Y != 0 {
		t.Fatalf("scrolling up left offset %v", c.scroll.Offset.Y)
	}
	a.apply(api.Event{Message: &api.Message{ID: "new", From: "bob", To: "alice", Text: "look at this", Time: time.Now(), State: api.StateReceived}})
	if c.scroll.Offset.Y != 0 {
		t.Fatalf("a new message pulled the reader down to %v", c.scroll.Offset.Y)
	}
	if !c.newBelow.Visible() {
		t.Fatal("no new-messages marker while the new message is out of view")
	}
	test.Tap(c.newBelow)
	if !newestInView(c) || c.newBelow.Visible() {
		t.Fatalf("the marker did not bring the newest message into view (offset %v) or stayed", c.scroll.Offset.Y)
	}
	// Back at the bottom, new messages are followed again.
	a.apply(api.Event{Message: &api.Message{ID: "new2", From: "bob", To: "alice", Text: "and this", Time: time.Now(), State: api.StateReceived}})
	if !newestInView(c) || c.newBelow.Visible() {
		t.Fatal("at the bottom, a new message was not followed")
	}
}
