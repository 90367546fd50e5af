package rooms

import (
	"context"
	"errors"
	"time"

	"eserver/node/room"
	"eserver/node/wire"
)

// The primary's message path. Messages of one room are sequenced by one
// runner at a time, started when the first waits and ended when none is
// left: it admits what waits (under the room's lock, with the state and
// the senders' recent messages), stores it in one transaction (one
// commit, without the room's lock, so joins, ops and the directory do not
// wait for the disk), then queues it to the members in position order.
// A busy room's messages share commits; a quiet room's message goes
// alone, at once.

// maxSequenceBatch bounds the messages one commit takes, so an answer
// waits for at most that many others.
const maxSequenceBatch = 64

// sequencer holds the messages waiting per room, and their runners.
type sequencer = batches[string, *pending]

// pending is one message waiting to be sequenced, and where its answer
// goes.
type pending struct {
	from room.Sender
	msg  *room.Message
	at   time.Time // when it arrived: the time room.Admit judges it at
	done chan sequenced
}

// sequenced is a message's answer: its position and its way to the other
// homes, or the code it was refused with.
type sequenced struct {
	pos     uint64
	shipped *shipment
	code    string
}

// sequenceHere admits, stores, pushes and ships a message as the primary
// and returns its answer.
func (s *Service) sequenceHere(ctx context.Context, from room.Sender, msg *room.Message) sequenced {
	p := &pending{from: from, msg: msg, at: s.cfg.Now(), done: make(chan sequenced, 1)}
	s.seq.add(msg.Room, p, s.runSequence)
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		// It may still be stored and pushed (the sender's retry with the
		// same ID is then answered with its position, retried).
		return sequenced{code: wire.CodeInternal}
	}
}

// runSequence sequences name's waiting messages, a batch at a time, until
// none waits.
func (s *Service) runSequence(name string) {
	for {
		batch, ok := s.seq.next(name, func([]*pending) int { return maxSequenceBatch })
		if !ok {
			return
		}
		s.sequenceBatch(name, batch)
	}
}

// sequenceBatch admits, stores and pushes one batch of name's messages,
// in their order, and answers each.
func (s *Service) sequenceBatch(name string, batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), wire.RoomTimeout)
	defer cancel()
	answers := make([]sequenced, len(batch))
	msgs, which := s.admitBatch(ctx, name, batch, answers)
	if len(msgs) > 0 {
		stored, err := s.store.SequenceBatch(ctx, name, msgs)
		again := s.retried(ctx, name, msgs, stored, err)
		m := s.lockRoom(name)
		for k, i := range which {
			switch {
			case err != nil:
				answers[i].code = s.storeCode(err)
			case stored[k].Err != nil:
				answers[i].code = s.storeCode(stored[k].Err)
			case again[k]:
				answers[i].pos = stored[k].Position // pushed here when it was stored
			default:
				answers[i].pos = stored[k].Position
				m.push(&wire.RoomEvent{Kind: &wire.RoomEvent_Message{Message: batch[i].msg.Signed}, Position: stored[k].Position})
			}
		}
		m.mu.Unlock()
		// Shipped in position order: this runner is the room's only one.
		// A retried message goes again first (its position is older):
		// its author was answered busy, no home having taken it.
		for k, i := range which {
			if answers[i].code == "" && again[k] {
				answers[i].shipped = s.ship(name, &wire.RoomOrderedMessage{Position: answers[i].pos, Message: batch[i].msg.Signed})
			}
		}
		for k, i := range which {
			if answers[i].code == "" && !again[k] {
				answers[i].shipped = s.ship(name, &wire.RoomOrderedMessage{Position: answers[i].pos, Message: batch[i].msg.Signed})
			}
		}
	}
	for i, p := range batch {
		p.done <- answers[i]
	}
}

// retried finds the messages of a batch the store refused as duplicates
// that are their authors' retries of a message this home sequenced (or
// holds displaced: Store.Place gives it a position now), and sets their
// positions in stored: they are answered with those positions and shipped
// again, not refused. A member answered busy — no other home took its
// message — tries again with the same message, which must not fail as a
// copy of itself.
func (s *Service) retried(ctx context.Context, name string, msgs []Message, stored []Sequenced, err error) []bool {
	again := make([]bool, len(msgs))
	if err != nil {
		return again
	}
	for k := range msgs {
		if !errors.Is(stored[k].Err, ErrDuplicate) {
			continue
		}
		// Held already, so not new to the members here: shipped by the
		// caller, pushed to no one.
		placed, perr := s.store.Place(ctx, name, msgs[k:k+1])
		if perr != nil || placed[0].Err != nil || placed[0].Position == 0 {
			continue // deleted, another author's ID, or the store failing: refused as before
		}
		stored[k] = Sequenced{Position: placed[0].Position}
		again[k] = true
	}
	return again
}

// admitBatch runs room.Admit on each message of batch under the room's
// lock, against its state and the senders' recent messages (counting the
// batch's earlier ones), and returns those admitted as the store takes
// them with their indexes in batch; the others' codes go in answers.
func (s *Service) admitBatch(ctx context.Context, name string, batch []*pending, answers []sequenced) ([]Message, []int) {
	m := s.lockRoom(name)
	defer m.mu.Unlock()
	st, err := s.store.State(ctx, name)
	if err != nil {
		for i := range answers {
			answers[i].code = code(err)
		}
		return nil, nil
	}
	var msgs []Message
	var which []int
	for i, p := range batch {
		recent, err := room.Admit(st, p.from, p.at, m.recent[p.from.Username].recent)
		switch {
		case err != nil:
			s.log.Debug("message not admitted", "room", name, "from", p.from.Username, "err", err)
			answers[i].code = code(err)
			continue
		case (p.msg.Sealed != nil) != st.Modes.InviteOnly:
			answers[i].code = wire.CodeNotAllowed // as at the member's home (admitHere)
			continue
		}
		// Counted now, before the store, so the batch's later messages
		// of the same sender meet its limits.
		m.recent[p.from.Username] = sent{recent, p.at}
		msgs = append(msgs, Message{ID: p.msg.ID, Author: p.msg.Author, Time: p.msg.Time, Body: wire.MustMarshal(p.msg.Signed)})
		which = append(which, i)
	}
	if len(m.recent) > len(m.users)+sweepAbove {
		// The primary counts senders at every home, who never leave
		// here: they are forgotten once they no longer bind.
		m.sweep(s.cfg.Now())
	}
	return msgs, which
}

// storeCode is the code a store error answers with, logging the store's
// own failures.
func (s *Service) storeCode(err error) string {
	c := code(err)
	if c == wire.CodeInternal {
		s.log.Warn("storing a message", "err", err)
	}
	return c
}
