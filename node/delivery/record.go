package delivery

import (
	"context"
	"sync"
	"time"

	"eserver/node/api"
	"eserver/node/store"
)

// recordDelay is how long an acknowledgement may wait in the store's
// group-commit queue for a write that carries it anyway (the next message
// sent, the next batch received) before the recorder commits it alone.
const recordDelay = 20 * time.Millisecond

// The record of an ack is off the message's path: once the contact's node
// acknowledged an entry (it stored the message first), the sender tells
// the front ends at once and queues the outbox entry's removal in the
// store's group commit, where the next write takes it along. A crash
// before that commit only leaves the entry in the outbox: it is sent
// again after the restart, and the contact's node, which has it, answers
// with an ack and stores nothing (serveMsg: a repeated envelope is
// acknowledged when its ID was seen; a resealed one is de-duplicated by
// its message ID). Until the removal is committed, the couriers skip the
// entry (without).

// recorder commits the removal of acknowledged outbox entries.
type recorder struct {
	mu      sync.Mutex
	waiting []recordBatch
	pending map[string]struct{} // acknowledged, removal not yet committed
	// chat are the entries queued in this run that carry a chat message of
	// the history, by ID: their delivery is told at their ack. (One queued
	// before a restart is told after its record, which finds the message.)
	chat map[string]struct{}
	kick chan struct{}
}

type recordBatch struct {
	pend    *store.Pending
	entries []store.OutboxEntry
	found   []bool // set by the commit
	told    []bool // Delivered already emitted
}

func newRecorder() recorder {
	return recorder{pending: map[string]struct{}{}, chat: map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

// forget undoes queuedChat for an entry that was not stored.
func (r *recorder) forget(id string) {
	r.mu.Lock()
	delete(r.chat, id)
	r.mu.Unlock()
}

// queuedChat notes that entry id carries a chat message of the history.
func (r *recorder) queuedChat(id string) {
	r.mu.Lock()
	r.chat[id] = struct{}{}
	r.mu.Unlock()
}

// without returns es without the entries whose removal waits.
func (r *recorder) without(es []store.OutboxEntry) []store.OutboxEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return es
	}
	out := es[:0:0]
	for _, e := range es {
		if _, ok := r.pending[e.ID]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// acknowledged records that the contact's node acknowledged es: whoever
// waits for them is woken, a chat message's delivery is told now, and
// their removal from the outbox is queued.
func (d *Delivery) acknowledged(es []store.OutboxEntry) {
	if len(es) == 0 {
		return
	}
	ids := make([]string, len(es))
	b := recordBatch{entries: es, found: make([]bool, len(es)), told: make([]bool, len(es))}
	for i, e := range es {
		ids[i] = e.ID
	}
	b.pend = d.h.Store().Submit(d.h.Store().AcknowledgeOp(ids, b.found))
	r := &d.rec
	me := d.h.Ticket().Username
	r.mu.Lock()
	for i, id := range ids {
		r.pending[id] = struct{}{}
		// A message fanned out to a contact's devices is delivered at the
		// first device's ack (its copies to our own devices say nothing).
		mid, to := store.FanoutMessageID(id), routeUser(es[i].Peer)
		if _, ok := r.chat[mid]; ok && to != me {
			delete(r.chat, mid)
			b.told[i] = true
		}
	}
	r.waiting = append(r.waiting, b)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	for i, e := range es {
		d.acked(e.ID)
		if b.told[i] {
			// A chat message is told as delivered at once: it is in the
			// contact's store, whatever becomes of our record of it.
			d.h.Emit(api.Event{Delivered: &api.Delivery{ID: store.FanoutMessageID(e.ID), To: routeUser(e.Peer)}})
		}
	}
}

// recordLoop commits the queued removals, each within recordDelay, and
// tells the deliveries not told yet. At the end it commits what is left.
func (d *Delivery) recordLoop(ctx context.Context) {
	r := &d.rec
	for {
		select {
		case <-ctx.Done():
			d.recordWaiting()
			return
		case <-r.kick:
		}
		t := time.NewTimer(recordDelay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		d.recordWaiting()
	}
}

// recordWaiting commits the queued removals (most were carried by other
// writes already: their Wait returns at once).
func (d *Delivery) recordWaiting() {
	r := &d.rec
	r.mu.Lock()
	bs := r.waiting
	r.waiting = nil
	r.mu.Unlock()
	for _, b := range bs {
		err := b.pend.Wait()
		if err != nil {
			d.h.Log().Info("recording acknowledged messages (they are sent again, and de-duplicated)", "n", len(b.entries), "err", err)
		}
		r.mu.Lock()
		for _, e := range b.entries {
			delete(r.pending, e.ID)
		}
		r.mu.Unlock()
		if err != nil {
			continue
		}
		for i, e := range b.entries {
			if !b.found[i] || b.told[i] || routeUser(e.Peer) == d.h.Ticket().Username {
				continue // a copy to a device of ours delivers nothing
			}
			// Only chat messages are in the history; requests and
			// responses are acknowledged silently. A member's copy of a
			// multi-party message reports the message, delivered in its
			// conversation.
			id := store.FanoutMessageID(e.ID)
			if m, err := d.h.Store().Message(id); err == nil && m.Outgoing {
				d.h.Emit(api.Event{Delivered: &api.Delivery{ID: id, To: m.Peer}})
			}
		}
	}
	if len(bs) > 0 {
		// Entries whose record failed are in the outbox again.
		for _, b := range bs {
			if b.pend.Wait() != nil {
				d.Poke(b.entries[0].Peer)
			}
		}
	}
}
