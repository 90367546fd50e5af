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
	return s.contacts.Locked(func() error { return s.process(t, id, order, p, backlog) })
}

func (s *session) process(t *ticket.Ticket, id string, order uint64, p *wire.Payload, backlog *[]store.Message) error {
	from := t.Username
	c, err := s.store.Contact(from)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rel := api.Relation(c.Relation)
	if known && rel != api.RelationBlocked && backlog == nil {
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
