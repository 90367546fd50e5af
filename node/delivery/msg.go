package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/e2e"
	"eserver/node/payload"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// verifyHello is the authenticate stage: the peer's ticket must pass the
// pipeline's Authenticator (signed by our auth server, valid now, issued to
// the very peer on the other end of the stream, not revoked) and carry a
// box key.
func (d *Delivery) verifyHello(remote peer.ID, h *wire.Hello) (*ticket.Ticket, error) {
	t, err := d.auth.Authenticate(remote, h.GetTicket())
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", remote, err)
	}
	if len(t.BoxKey) != e2e.BoxKeySize {
		return nil, fmt.Errorf("peer %s: ticket has no box key", remote)
	}
	return t, nil
}

// serveMsg serves one inbound message stream, after the listen stage
// (pipeline.Listener, set up by Start) admitted it: the peer's hello is
// authenticated and answered; then each envelope is opened, processed and
// acknowledged in turn. An error resets the stream; nil closes it.
func (d *Delivery) serveMsg(ctx context.Context, st network.Stream) error {
	remote := st.Conn().RemotePeer()
	log := d.h.Log().With("peer", remote)
	// Frames are read as they arrive, each reserved in the node's budget
	// for inbound chat frames until it is acknowledged: strangers' partial
	// frames pin at most the budget.
	r := d.inbound.Reader(st, wire.MaxMsgFrame)
	defer r.Release()
	st.SetDeadline(time.Now().Add(wire.MsgWriteTimeout))
	var hello wire.Hello
	if err := r.ReadMsg(&hello); err != nil {
		return fmt.Errorf("reading hello: %w", err)
	}
	t, err := d.verifyHello(remote, &hello)
	if err != nil {
		return fmt.Errorf("refusing hello: %w", err)
	}
	if hello.Mailed {
		// The contact left us mail and now talks directly: fetch the mail
		// first, so nothing on this stream overtakes it.
		if c, err := d.h.Store().Contact(t.Username); err == nil && api.Relation(c.Relation) != api.RelationBlocked {
			dctx, cancel := context.WithTimeout(ctx, wire.MsgWriteTimeout/2)
			if err := d.DrainMail(dctx); err != nil {
				log.Debug("fetching mail before a direct stream", "err", err)
			}
			cancel()
		}
	}
	if err := wire.WriteMsg(st, &wire.Hello{Ticket: d.h.Ticket().Signed}); err != nil {
		return fmt.Errorf("writing hello: %w", err)
	}
	// The peer is online and talking to us: anything we hold for it can go
	// now, and anything it left in our mailboxes while we seemed away can
	// be picked up.
	if c, err := d.h.Store().Contact(t.Username); err == nil && api.Relation(c.Relation) != api.RelationBlocked {
		d.Poke(t.Username)
		d.PokeMail()
	}
	for {
		st.SetDeadline(time.Now().Add(wire.MsgIdleTimeout))
		var f wire.Frame
		if err := r.ReadMsg(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading frame: %w", err)
		}
		env := f.GetEnvelope()
		if env == nil {
			return fmt.Errorf("unexpected frame %T", f.Kind)
		}
		ack := &wire.Ack{Id: env.Id}
		if err := d.receive(t, env); err != nil {
			ack.Error = payload.Code(err)
			log.Debug("refusing envelope", "from", t.Username, "id", env.Id, "err", err)
		}
		st.SetWriteDeadline(time.Now().Add(wire.MsgWriteTimeout))
		if err := wire.WriteMsg(st, &wire.Frame{Kind: &wire.Frame_Ack{Ack: ack}}); err != nil {
			return fmt.Errorf("writing ack: %w", err)
		}
	}
}

// HandleStream serves one inbound message stream without the listener
// (tests, or a handler set by hand): reset on error, closed otherwise, and
// reset by Close like the couriers' streams.
func (d *Delivery) HandleStream(st network.Stream) {
	if !d.tasks.Enter() {
		st.Reset()
		return
	}
	defer d.tasks.Exit()
	if !d.hold(st) {
		return
	}
	defer d.release(st)
	if err := d.serveMsg(d.tasks.Context(), st); err != nil {
		d.h.Log().Debug("message stream", "peer", st.Conn().RemotePeer(), "err", err)
		st.Reset()
		return
	}
	st.Close()
}

// receive opens and processes one envelope from the holder of ticket t.
func (d *Delivery) receive(t *ticket.Ticket, env *wire.Envelope) error {
	p, err := d.open(t, env)
	if err != nil {
		return err
	}
	return d.h.Process(t, env.Id, env.Order, p, nil)
}

// open checks and decrypts an envelope from the holder of ticket t: the
// security stage.
func (d *Delivery) open(t *ticket.Ticket, env *wire.Envelope) (*wire.Payload, error) {
	if env.Id == "" || len(env.Id) > 64 {
		return nil, payload.ErrBadRequest
	}
	plain, err := d.keys.Open(t, env)
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
