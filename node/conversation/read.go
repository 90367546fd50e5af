package conversation

import (
	"fmt"
	"time"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/wire"
)

// Unread marks. Reading a conversation on one device of the account
// clears it on the others (issue 17): MarkRead moves this device's read
// mark (store.ReadMark) to the newest incoming message and sends the mark
// as a ReadMark to each other device of the account, which moves its own
// mark forward to it. Marks name a message by its time (the sender's clock,
// the same on every device) and ID, so they mean the same wherever they
// land, even before the messages they cover arrive there.

// ErrBadReadMark is a ReadMark payload that names no conversation, or no
// message one could hold.
var ErrBadReadMark = fmt.Errorf("%w: malformed read mark", payload.ErrBadRequest)

// checkConversation refuses what names neither a contact (a valid
// username other than ours) nor a multi-party conversation.
func (c *Conversations) checkConversation(conv string) error {
	if api.IsConversation(conv) {
		_, err := ParseID(conv)
		return err
	}
	if wire.ValidUsername(conv) != nil || conv == c.h.Me() {
		return fmt.Errorf("%w: %q is no conversation", api.ErrBadRequest, conv)
	}
	return nil
}

// MarkRead marks conv read up to its newest incoming message, tells the
// front ends (a Read event) and queues the mark for the account's other
// devices. Nothing happens when there is nothing newer to mark: focusing a
// window that shows everything read sends nothing.
func (c *Conversations) MarkRead(conv string) error {
	if err := c.checkConversation(conv); err != nil {
		return err
	}
	l := c.h.ContactLock()
	l.Lock()
	defer l.Unlock()
	st := c.h.Store()
	m, ok, err := st.NewestIncoming(conv)
	if err != nil || !ok {
		return err
	}
	moved, err := st.AdvanceReadMark(m)
	if err != nil || !moved {
		return err
	}
	c.emitRead(conv)
	p := &wire.Payload{Kind: &wire.Payload_ReadMark{ReadMark: &wire.ReadMark{
		Conversation: conv, UpToUnixMilli: m.UpTo, LastId: m.LastID}}}
	if err := c.h.EnqueueOwn(p); err != nil {
		return fmt.Errorf("telling our other devices what we read in %s: %w", conv, err)
	}
	return nil
}

// checkReadMark refuses a mark that names no conversation, no message
// ID, or a time no stored message can have (before 1970, or further ahead
// of our clock than a message is ever stamped).
func (c *Conversations) checkReadMark(rm *wire.ReadMark) error {
	if err := c.checkConversation(rm.Conversation); err != nil {
		return fmt.Errorf("%w: conversation %q", ErrBadReadMark, rm.Conversation)
	}
	if rm.LastId == "" || len(rm.LastId) > wire.MaxReadMarkID {
		return fmt.Errorf("%w: message ID of %d bytes (1–%d)", ErrBadReadMark, len(rm.LastId), wire.MaxReadMarkID)
	}
	if at := time.UnixMilli(rm.UpToUnixMilli); rm.UpToUnixMilli <= 0 || at.After(c.h.Now().Add(wire.MaxClockSkew)) {
		return fmt.Errorf("%w: time %d out of range", ErrBadReadMark, rm.UpToUnixMilli)
	}
	return nil
}

// receiveReadMark applies a mark another device of ours sent: forward
// only, so an older mark (it read less, or its mark came late) changes
// nothing. The registry admits our own devices only (payload.OwnOnly).
func (c *Conversations) receiveReadMark(in *payload.Inbound) error {
	rm := in.Payload.GetReadMark()
	if rm == nil || !in.Own {
		// The registry let it through only from our own devices; a
		// handler that finds otherwise is a wiring bug, refused the same.
		return payload.ErrNotOwnDevice
	}
	if err := c.checkReadMark(rm); err != nil {
		return err
	}
	moved, err := c.h.Store().AdvanceReadMark(store.ReadMark{Conversation: rm.Conversation, UpTo: rm.UpToUnixMilli, LastID: rm.LastId})
	if err != nil {
		return fmt.Errorf("storing a read mark from our device %s: %w", in.Ticket.Peer, err)
	}
	if moved {
		c.emitRead(rm.Conversation)
	}
	return nil
}

// emitRead tells the front ends conv's unread count after its mark moved.
func (c *Conversations) emitRead(conv string) {
	n, err := c.h.Store().Unread(conv)
	if err != nil {
		// The mark moved all the same; the front ends learn the count
		// from the next list they read.
		c.h.Log().Warn("counting unread messages", "conversation", conv, "err", err)
		return
	}
	c.h.Emit(api.Event{Read: &api.ReadEvent{Conversation: conv, Unread: n}})
}

// Unread is conv's unread count for a list the front ends read: 0, logged,
// when it cannot be counted (a list is not refused for want of a count).
func (c *Conversations) Unread(conv string) int {
	n, err := c.h.Store().Unread(conv)
	if err != nil {
		c.h.Log().Warn("counting unread messages", "conversation", conv, "err", err)
	}
	return n
}
