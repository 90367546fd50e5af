package delivery

import (
	"bufio"
	"bytes"
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
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// verifyHello is the authenticate stage: the peer's ticket must pass the
// pipeline's Authenticator (signed by our auth server, valid now, issued to
// the very peer on the other end of the stream, not revoked) and carry a
// box key, and its device must be one its account lists (Host.AdmitDevice:
// a device the auth server vouches for but the account never added is
// refused).
func (d *Delivery) verifyHello(remote peer.ID, h *wire.Hello) (*ticket.Ticket, error) {
	t, err := d.auth.Authenticate(remote, h.GetTicket())
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", remote, err)
	}
	if len(t.BoxKey) != e2e.BoxKeySize {
		return nil, fmt.Errorf("peer %s: ticket has no box key", remote)
	}
	if err := d.h.AdmitDevice(t, h.GetDevices()); err != nil {
		return nil, fmt.Errorf("peer %s: %w", remote, err)
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
	// Buffered, so that frames that already arrived can be told from a
	// wait for the next (receiveFrames).
	bs := &bufferedStream{Stream: st, br: bufio.NewReaderSize(st, msgReadBuffer)}
	r := d.inbound.Reader(bs, wire.MaxMsgFrame)
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
	if err := wire.WriteMsg(st, &wire.Hello{Ticket: d.h.Ticket().Signed, Devices: d.h.Devices()}); err != nil {
		return fmt.Errorf("writing hello: %w", err)
	}
	// The peer is online and talking to us: anything we hold for it can go
	// now, and anything it left in our mailboxes while we seemed away can
	// be picked up.
	if c, err := d.h.Store().Contact(t.Username); err == nil && api.Relation(c.Relation) != api.RelationBlocked {
		d.Poke(t.Username)
		d.PokeMail()
	}
	var acks bytes.Buffer
	for {
		envs, err := d.readFrames(st, bs, r)
		if len(envs) > 0 {
			// What was read is answered, even when the stream then broke:
			// the store has it either way.
			acks.Reset()
			for _, ack := range d.receiveBatch(t, envs) {
				if werr := wire.WriteMsg(&acks, &wire.Frame{Kind: &wire.Frame_Ack{Ack: ack}}); werr != nil {
					return werr
				}
			}
			if err == nil {
				st.SetWriteDeadline(time.Now().Add(wire.MsgWriteTimeout))
				if _, werr := st.Write(acks.Bytes()); werr != nil {
					return fmt.Errorf("writing acks: %w", werr)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// msgReadBuffer is the read buffer of an inbound message stream: a window
// of small envelopes fits.
const msgReadBuffer = 16 << 10

// bufferedStream reads a stream through a buffer; deadlines and the rest
// are the stream's.
type bufferedStream struct {
	network.Stream
	br *bufio.Reader
}

func (b *bufferedStream) Read(p []byte) (int, error) { return b.br.Read(p) }

// readFrames waits for the next envelope, then takes those that already
// arrived behind it, up to wire.MsgBatch frames and wire.MsgBatchBytes:
// they are stored in one transaction (group commit) before their acks.
// err ends the stream (io.EOF when the sender closed it); envs read before
// it are still to be answered.
func (d *Delivery) readFrames(st network.Stream, bs *bufferedStream, r *wire.Reader) (envs []*wire.Envelope, err error) {
	size := 0
	for len(envs) < wire.MsgBatch && size < wire.MsgBatchBytes {
		if len(envs) == 0 {
			st.SetDeadline(time.Now().Add(wire.MsgIdleTimeout))
		} else {
			if bs.br.Buffered() == 0 {
				break
			}
			// The rest of a frame that began is on its way.
			st.SetReadDeadline(time.Now().Add(wire.MsgWriteTimeout))
		}
		var f wire.Frame
		if err := r.ReadMsg(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return envs, io.EOF
			}
			return envs, fmt.Errorf("reading frame: %w", err)
		}
		env := f.GetEnvelope()
		if env == nil {
			return envs, fmt.Errorf("unexpected frame %T", f.Kind)
		}
		envs = append(envs, env)
		size += len(env.Sealed)
	}
	return envs, nil
}

// seenDirect is the scope of the envelopes other than chat messages
// applied from direct streams, named by the sender's device and the
// envelope's ID (a chat message is known by its row in the history): an
// envelope that comes again (the sender lost its record of our ack) is
// acknowledged without being applied twice.
const seenDirect = "direct"

func directKey(t *ticket.Ticket, id string) string { return t.Peer.String() + "/" + id }

// applied reports whether the envelope id from the holder of t was
// applied: its chat message is in the history, or it was seen.
func (d *Delivery) applied(t *ticket.Ticket, id string) bool {
	if m, err := d.h.Store().Message(id); err == nil && m.Peer == t.Username && !m.Outgoing {
		return true
	}
	seen, err := d.h.Store().Seen(seenDirect, directKey(t, id))
	return err == nil && seen
}

// receiveBatch opens and processes envs from the holder of ticket t and
// stores their chat messages with the sessions' new state in one
// transaction; it returns their acks, in order.
func (d *Delivery) receiveBatch(t *ticket.Ticket, envs []*wire.Envelope) []*wire.Ack {
	acks := make([]*wire.Ack, len(envs))
	var msgs []store.Message
	var applied []string
	log := d.h.Log()
	for i, env := range envs {
		acks[i] = &wire.Ack{Id: env.Id}
		n := len(msgs)
		err := d.receiveDirect(t, env, &msgs)
		if err != nil {
			acks[i].Error = payload.Code(err)
			log.Debug("refusing envelope", "from", t.Username, "id", env.Id, "err", err)
			continue
		}
		if len(msgs) == n {
			// Not a chat message, whose row in the history says it was
			// applied: remembered as seen.
			applied = append(applied, directKey(t, env.Id))
		}
	}
	inserted := make([]bool, len(msgs))
	st := d.h.Store()
	op, err := st.IncomingOp(msgs, inserted)
	var pend *store.Pending
	if err == nil {
		pend, err = d.keys.Persist([]peer.ID{t.Peer}, op, st.SeenOp(seenDirect, applied, d.h.Now()))
	}
	if err == nil {
		err = pend.Wait()
	}
	if err != nil {
		log.Info("storing received messages", "from", t.Username, "n", len(envs), "err", err)
		for _, a := range acks {
			if a.Error == "" {
				a.Error = string(payload.ErrInternal) // sent again, later
			}
		}
		return acks
	}
	for i, m := range msgs {
		if inserted[i] {
			msg := d.h.Message(m)
			d.h.Emit(api.Event{Message: &msg})
		}
	}
	return acks
}

// receiveDirect opens and processes one envelope from a direct stream; a
// chat message is appended to *msgs.
func (d *Delivery) receiveDirect(t *ticket.Ticket, env *wire.Envelope, msgs *[]store.Message) error {
	p, err := d.openWith(d.keys.OpenDirect, t, env)
	if errors.Is(err, ratchet.ErrDuplicate) {
		// Its key was used: it was applied, unless applying it failed
		// (then the sender seals it again when told).
		if !d.applied(t, env.Id) {
			return fmt.Errorf("%w: repeated envelope not applied before", payload.ErrInternal)
		}
		return nil
	}
	if err != nil {
		return err
	}
	n := len(*msgs)
	if err := d.h.ProcessDirect(t, env.Id, env.Order, p, msgs); err != nil {
		*msgs = (*msgs)[:n]
		return err
	}
	return nil
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
	p, err := d.openWith(d.keys.Open, t, env)
	if errors.Is(err, ratchet.ErrDuplicate) {
		return nil, fmt.Errorf("%w: %v", payload.ErrBadRequest, err)
	}
	return p, err
}

// openWith is open with the Sealer's open; ratchet.ErrDuplicate is
// returned as it is, for the caller to tell a repeat.
func (d *Delivery) openWith(open func(*ticket.Ticket, *wire.Envelope) ([]byte, error), t *ticket.Ticket, env *wire.Envelope) (*wire.Payload, error) {
	if env.Id == "" || len(env.Id) > 64 {
		return nil, payload.ErrBadRequest
	}
	plain, err := open(t, env)
	if err != nil {
		if errors.Is(err, payload.ErrSessionReset) || errors.Is(err, ratchet.ErrDuplicate) {
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
