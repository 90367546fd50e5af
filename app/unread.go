package app

import (
	"context"

	"eserver/node/api"
)

// Unread messages, as MSN showed a conversation waiting: the contact's
// name bold in the list with how many messages wait ("Bob (3)"). A
// conversation is read when its window is in front with its newest
// message in view; the node then marks it read and tells the account's
// other devices, and every device's Read event clears the count and takes
// back the notifications about it, so what was read on the laptop stops
// calling from the desktop.

// maxNotified bounds the notification IDs kept per conversation: older
// ones have faded from the desktop long since.
const maxNotified = 16

// unread is how many messages wait in the conversation with (a contact or
// a multi-party conversation).
func (a *App) unread(with string) int {
	if api.IsConversation(with) {
		return a.conversations[with].Unread
	}
	return a.contacts[with].Unread
}

// setUnread records with's count and shows it.
func (a *App) setUnread(with string, n int) {
	if api.IsConversation(with) {
		if cv, ok := a.conversations[with]; ok && cv.Unread != n {
			cv.Unread = n
			a.conversations[with] = cv
		}
		return
	}
	c, ok := a.contacts[with]
	if !ok || c.Unread == n {
		return
	}
	c.Unread = n
	a.contacts[with] = c
	a.contactsChanged()
}

// read applies a Read event: the count the node has now, and, once
// nothing waits, no notification left about it.
func (a *App) read(ev api.ReadEvent) {
	a.setUnread(ev.Conversation, ev.Unread)
	if ev.Unread == 0 {
		a.withdrawNotifications(ev.Conversation)
	}
}

// markRead asks the node to mark with read. Its Read event updates the
// windows; a failure (signed out meanwhile) leaves the count, which says
// what is true then.
func (a *App) markRead(with string) {
	a.command(func(ctx context.Context) error { return a.api.MarkRead(ctx, with) }, nil)
}

// seesNewest reports whether the user sees the conversation's newest
// message: the window shown and in front (focused: known to be, as when
// the user just opened it), following the newest message.
func (c *chatWindow) seesNewest(focused bool) bool {
	return !c.closed && c.shown && c.follow && (focused || c.app.windowFocused(c.win))
}

// markSeen marks the conversation read if messages wait in it and the
// user sees the newest.
func (c *chatWindow) markSeen(focused bool) {
	if c.app.unread(c.with) > 0 && c.seesNewest(focused) {
		c.app.markRead(c.with)
	}
}

// readFocused marks read the conversation whose window came to the front.
func (a *App) readFocused() {
	for _, chat := range a.chats {
		chat.markSeen(false)
	}
}

// notifiedAbout keeps the desktop's ID of a notification about chat, to
// withdraw it once chat is read.
func (a *App) notifiedAbout(chat string, id uint32) {
	if chat == "" || id == 0 {
		return
	}
	if a.notified == nil {
		a.notified = map[string][]uint32{}
	}
	ids := append(a.notified[chat], id)
	if len(ids) > maxNotified {
		ids = ids[len(ids)-maxNotified:]
	}
	a.notified[chat] = ids
}

// withdrawNotifications takes back the toasts and desktop notifications
// about chat.
func (a *App) withdrawNotifications(chat string) {
	a.main.toasts.withdraw(chat)
	ids := a.notified[chat]
	delete(a.notified, chat)
	withdraw := a.withdrawSink
	for _, id := range ids {
		// No done: a notification the desktop could not take back fades
		// by itself.
		a.command(func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
			defer cancel()
			return withdraw(ctx, id)
		}, nil)
	}
}
