package node

import (
	"slices"
	"sync"

	"eserver/node/api"
)

// offlineTally sums up the messages the mail drain at sign-in shows, for
// the OfflineMessages event. It counts at the session's Emit, where every
// received message passes, rather than inside node/delivery: a
// multi-party conversation's messages reach the events from
// node/conversation, not from the drain's batch. While the sign-in drain
// runs, the message protocol's handler is not attached yet
// (delivery.Start comes after), so every received message shown then came
// from a mailbox.
type offlineTally struct {
	mu  sync.Mutex
	sum api.OfflineMessagesEvent
}

func (t *offlineTally) add(m api.Message) {
	if m.State != api.StateReceived {
		return // our own, sent from another front end meanwhile
	}
	in := m.From
	if api.IsConversation(m.To) {
		in = m.To
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum.Count++
	if !slices.Contains(t.sum.From, m.From) {
		t.sum.From = append(t.sum.From, m.From)
	}
	if !slices.Contains(t.sum.In, in) {
		t.sum.In = append(t.sum.In, in)
	}
}

// result is the summary, or nil when nothing waited.
func (t *offlineTally) result() *api.OfflineMessagesEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sum.Count == 0 {
		return nil
	}
	sum := t.sum
	return &sum
}
