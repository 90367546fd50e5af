package node

import (
	"context"
	"errors"
	"eserver/node/api"
	"eserver/node/payload"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// The message protocol, /eserver/msg/1.0.0, in the seed's layers:
//
//	listen          the stream handler (handleStream)
//	authentication  Hello: the peer's ticket passes the pipeline's
//	                Authenticator (verifyHello); mail, the same check at
//	                the time the mail was left (openMail)
//	security        the envelope is opened by the E2E scheme (keys.Open)
//	process         the payload is applied to the store (process)
//	output          an Ack, written only after the store committed
//
// The initiator of a stream is the sender; the responder only acks.
const msgProtocol = protocol.ID(wire.ProtoMsg)

// verifyHello is the authenticate stage: the peer's ticket must pass the
// pipeline's Authenticator (signed by our auth server, valid now, issued to
// the very peer on the other end of the stream, not revoked) and carry a
// box key.
func (s *session) verifyHello(remote peer.ID, h *wire.Hello) (*ticket.Ticket, error) {
	t, err := s.auth.Authenticate(remote, h.GetTicket())
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", remote, err)
	}
	if len(t.BoxKey) != 32 {
		return nil, fmt.Errorf("peer %s: ticket has no box key", remote)
	}
	return t, nil
}

// handleStream serves one inbound message stream.
func (s *session) handleStream(st network.Stream) {
	if !s.tasks.Enter() {
		st.Reset()
		return
	}
	defer s.tasks.Exit()
	remote := st.Conn().RemotePeer()
	log := s.n.log.With("peer", remote)
	fail := func(msg string, err error) {
		log.Debug(msg, "err", err)
		st.Reset()
	}
	r := wire.NewReader(st, wire.MaxMsgFrame)
	st.SetDeadline(time.Now().Add(wire.MsgWriteTimeout))
	var hello wire.Hello
	if err := r.ReadMsg(&hello); err != nil {
		fail("reading hello", err)
		return
	}
	t, err := s.verifyHello(remote, &hello)
	if err != nil {
		fail("refusing hello", err)
		return
	}
	if hello.Mailed {
		// The contact left us mail and now talks directly: fetch the mail
		// first, so nothing on this stream overtakes it.
		if c, err := s.store.Contact(t.Username); err == nil && api.Relation(c.Relation) != api.RelationBlocked {
			ctx, cancel := context.WithTimeout(s.ctx, wire.MsgWriteTimeout/2)
			if err := s.drainMail(ctx); err != nil {
				log.Debug("fetching mail before a direct stream", "err", err)
			}
			cancel()
		}
	}
	if err := wire.WriteMsg(st, &wire.Hello{Ticket: s.tk().Signed}); err != nil {
		fail("writing hello", err)
		return
	}
	// The peer is online and talking to us: anything we hold for it can go
	// now, and anything it left in our mailboxes while we seemed away can
	// be picked up.
	if c, err := s.store.Contact(t.Username); err == nil && api.Relation(c.Relation) != api.RelationBlocked {
		s.courierFor(t.Username).poke()
		s.pokeMail()
	}
	for {
		st.SetDeadline(time.Now().Add(wire.MsgIdleTimeout))
		var f wire.Frame
		if err := r.ReadMsg(&f); err != nil {
			if errors.Is(err, io.EOF) {
				st.Close()
				return
			}
			fail("reading frame", err)
			return
		}
		env := f.GetEnvelope()
		if env == nil {
			fail("unexpected frame", fmt.Errorf("%T", f.Kind))
			return
		}
		ack := &wire.Ack{Id: env.Id}
		if err := s.receive(t, env); err != nil {
			ack.Error = payload.Code(err)
			log.Debug("refusing envelope", "from", t.Username, "id", env.Id, "err", err)
		}
		st.SetWriteDeadline(time.Now().Add(wire.MsgWriteTimeout))
		if err := wire.WriteMsg(st, &wire.Frame{Kind: &wire.Frame_Ack{Ack: ack}}); err != nil {
			fail("writing ack", err)
			return
		}
	}
}

// receive opens and applies one envelope from the holder of ticket t.
func (s *session) receive(t *ticket.Ticket, env *wire.Envelope) error {
	p, err := s.open(t, env)
	if err != nil {
		return err
	}
	return s.apply(t, env.Id, p)
}

// open checks and decrypts an envelope from the holder of ticket t: the
// security layer.
func (s *session) open(t *ticket.Ticket, env *wire.Envelope) (*wire.Payload, error) {
	if env.Id == "" || len(env.Id) > 64 {
		return nil, payload.ErrBadRequest
	}
	plain, err := s.keys.Open(t, env)
	if err != nil {
		if errors.Is(err, payload.ErrSessionReset) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", payload.ErrBadRequest, err)
	}
	defer clear(plain)
	var p wire.Payload
	if err := proto.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", payload.ErrBadRequest, err)
	}
	return &p, nil
}

// apply processes a payload with ID id from the holder of ticket t: the
// process layer. Whatever a stranger or a blocked user sends is refused the
// same way.
func (s *session) apply(t *ticket.Ticket, id string, p *wire.Payload) error {
	return s.applyIn(t, id, p, nil)
}

// applyIn is apply, except that with batch not nil a chat message is
// checked and appended to *batch for the caller to store with the rest of a
// backlog (one transaction instead of one per message) rather than stored
// now.
func (s *session) applyIn(t *ticket.Ticket, id string, p *wire.Payload, batch *[]store.Message) error {
	return s.contacts.Locked(func() error { return s.process(t, id, p, batch) })
}

// process is the process stage, under the contact list's lock: the
// sender's record is read (and its device noted), and the payload goes to
// the component that registered its kind, if the sender's relation allows.
func (s *session) process(t *ticket.Ticket, id string, p *wire.Payload, batch *[]store.Message) error {
	from := t.Username
	c, err := s.store.Contact(from)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rel := api.Relation(c.Relation)
	if known && rel != api.RelationBlocked {
		// Remember the device we last heard from, to reach it directly.
		if c.PeerID != t.Peer.String() {
			s.keys.NoteDevice(&c, t)
			if err := s.store.PutContact(c); err != nil {
				return err
			}
			s.contacts.Changed(from)
		}
	}
	return s.kinds.Dispatch(&payload.Inbound{Ticket: t, ID: id, Payload: p, Contact: c, Known: known, Backlog: batch})
}

func mustMarshal(m proto.Message) []byte {
	b, _ := proto.Marshal(m)
	return b
}
