package node

import (
	"errors"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Process is the process stage of the message protocol and the mail drain
// (node/delivery runs the others): under the contact list's lock, the
// sender's record is read (and its device noted), and the payload goes to
// the component that registered its kind, if the sender's relation allows.
// With backlog not nil a chat message is checked and appended to *backlog
// for the caller to store with the rest of a backlog (one transaction
// instead of one per message) rather than stored now.
func (s *session) Process(t *ticket.Ticket, id string, order uint64, p *wire.Payload, backlog *[]store.Message) error {
	return s.contacts.Locked(func() error { return s.process(t, id, order, p, backlog, backlog == nil) })
}

// ProcessDirect is Process for an envelope from the sender's own stream
// whose chat message, if any, is appended to *batch for the caller to
// store with the rest of the frames read with it (node/delivery's group
// commit): the device it came from is noted, as for one stored at once.
func (s *session) ProcessDirect(t *ticket.Ticket, id string, order uint64, p *wire.Payload, batch *[]store.Message) error {
	return s.contacts.Locked(func() error { return s.process(t, id, order, p, batch, true) })
}

func (s *session) process(t *ticket.Ticket, id string, order uint64, p *wire.Payload, backlog *[]store.Message, direct bool) error {
	from := t.Username
	if from == s.me() {
		// Another device of ours (its device checked against our list at
		// the authenticate stage): only kinds that take our own copies.
		return s.kinds.Dispatch(&payload.Inbound{Ticket: t, ID: id, Order: order, Payload: p, Own: true, Backlog: backlog})
	}
	c, err := s.store.Contact(from)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rel := api.Relation(c.Relation)
	if known && rel != api.RelationBlocked && direct {
		// Remember the device we last heard from, to reach it directly —
		// over its own stream only: mail never moves a contact to another
		// device (anyone may put an item carrying an old ticket into our
		// mailbox; the lookup finds a contact's new device).
		if c.PeerID != t.Peer.String() {
			s.keys.NoteDevice(&c, t)
			if err := s.store.PutContact(c); err != nil {
				return err
			}
			s.contacts.Changed(from)
		}
	}
	return s.kinds.Dispatch(&payload.Inbound{Ticket: t, ID: id, Order: order, Payload: p, Contact: c, Known: known, Backlog: backlog})
}
