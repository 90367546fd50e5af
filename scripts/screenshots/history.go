package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"eserver/internal/watch"
	"eserver/internal/xvfb"
)

// shootHistory photographs the message history browsed by day, without a
// search: Bob nudges Alice (after the messages and files of the shots
// before), then Alice opens File → View history and chooses Bob, so the
// newest day shows the nudge, the files and the messages.
func shootHistory(ctx context.Context, x *xvfb.Display, list string, bob *watch.Node, path string) error {
	// Nudges go once per interval: the transfers shot came first, so Bob
	// has sent none yet.
	if err := bob.Nudge(ctx, "alice"); err != nil {
		return fmt.Errorf("bob nudging alice: %w", err)
	}
	time.Sleep(2 * time.Second) // the shake ends; the nudge is in history
	// File → View history... in the contact list's menu bar.
	x.Run("windowraise", list)
	x.Run("windowfocus", "--sync", list)
	x.Run("mousemove", "--sync", "--window", list, "27", "14")
	x.Run("click", "1")
	time.Sleep(500 * time.Millisecond)
	x.Run("mousemove", "--sync", "--window", list, "70", "46")
	x.Run("click", "1")
	hist, err := x.Window(ctx, "^Message history")
	if err != nil {
		return fmt.Errorf("the history window did not open: %w", err)
	}
	x.Run("windowfocus", "--sync", hist)
	time.Sleep(time.Second)
	// The search box has the focus: Tab goes to "with", whose popup
	// lists the contacts; Bob is the first after "All contacts".
	x.Run("key", "Tab")
	x.Run("key", "space")
	time.Sleep(500 * time.Millisecond)
	x.Run("key", "Down")
	x.Run("key", "Down")
	x.Run("key", "Return")
	time.Sleep(1500 * time.Millisecond)
	return capture(x, hist, path)
}

// shootVerify photographs the Verify dialog of the conversation with Bob:
// the safety number and the code to compare. The Verify button is at the
// right end of the window's header.
func shootVerify(ctx context.Context, x *xvfb.Display, chat, path string) error {
	x.Run("windowraise", chat)
	x.Run("windowfocus", "--sync", chat)
	w, _ := windowSize(x, chat)
	x.Run("mousemove", "--sync", "--window", chat, fmt.Sprint(w-45), "21")
	x.Run("click", "1")
	time.Sleep(1500 * time.Millisecond)
	if err := capture(x, chat, path); err != nil {
		return err
	}
	x.Run("key", "Escape")
	return ctx.Err()
}

// windowSize is a window's width and height.
func windowSize(x *xvfb.Display, window string) (w, h int) {
	for _, l := range strings.Split(x.Run("getwindowgeometry", "--shell", window), "\n") {
		fmt.Sscanf(l, "WIDTH=%d", &w)
		fmt.Sscanf(l, "HEIGHT=%d", &h)
	}
	return w, h
}
