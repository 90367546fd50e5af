package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// The fakes below stand in for the node, node/keys, node/discovery and the
// pipeline, so that delivery's stages run without a network: envelopes are
// "sealed" as their plain payload, and a ticket is good when its signature
// reads "ok" (its username is its Ticket bytes).

type fakeHost struct {
	st  *store.Store
	me  *ticket.Ticket
	now time.Time // zero: the wall clock

	mu        sync.Mutex
	events    []api.Event
	processed []string         // IDs, in order
	refuse    map[string]error // by ID: the process stage's answer
	// notListed are the devices the account check refuses; admitted
	// counts the lists each device presented to it.
	notListed map[peer.ID]bool
	admitted  map[peer.ID]int
	// devices are the accounts' device lists Fanout answers with, by
	// username ("me": ours, this device not among them).
	devices map[string][]ticket.Device
}

func (h *fakeHost) Devices() *wire.SignedAccountDevices { return nil }
func (h *fakeHost) Fanout(u string) (theirs, ours []ticket.Device) {
	if u == "me" {
		return nil, h.devices["me"]
	}
	return h.devices[u], h.devices["me"]
}
func (h *fakeHost) DeviceTicket(string, peer.ID) (*ticket.Ticket, bool) { return nil, false }
func (h *fakeHost) AdmitDevice(t *ticket.Ticket, presented *wire.SignedAccountDevices) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.admitted == nil {
		h.admitted = map[peer.ID]int{}
	}
	if presented != nil {
		h.admitted[t.Peer]++
	}
	if h.notListed[t.Peer] {
		return fmt.Errorf("%w: %s", ticket.ErrNotListed, t.Peer)
	}
	return nil
}

func (h *fakeHost) Libp2p() host.Host      { return nil }
func (h *fakeHost) Store() *store.Store    { return h.st }
func (h *fakeHost) Ticket() *ticket.Ticket { return h.me }
func (h *fakeHost) Now() time.Time {
	if !h.now.IsZero() {
		return h.now
	}
	return time.Now()
}
func (h *fakeHost) Log() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (h *fakeHost) Message(m store.Message) api.Message {
	return api.Message{ID: m.ID, From: m.Peer, Text: m.Text, State: api.MessageState(m.State)}
}

func (h *fakeHost) Accepted(username string) bool {
	c, err := h.st.Contact(username)
	return err == nil && c.Relation == string(api.RelationAccepted)
}

func (h *fakeHost) Emit(e api.Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *fakeHost) Process(t *ticket.Ticket, id string, _ uint64, p *wire.Payload, backlog *[]store.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.refuse[id]; err != nil {
		return err
	}
	h.processed = append(h.processed, id)
	if c := p.GetChat(); c != nil && backlog != nil {
		*backlog = append(*backlog, store.Message{ID: id, Peer: t.Username, Text: c.Text})
	}
	return nil
}

// ProcessDirect processes as Process, which hands a chat message to the
// batch, as the node's conversations do.
func (h *fakeHost) ProcessDirect(t *ticket.Ticket, id string, order uint64, p *wire.Payload, batch *[]store.Message) error {
	return h.Process(t, id, order, p, batch)
}

type fakeSealer struct {
	mu        sync.Mutex
	resets    []peer.ID
	persisted [][]peer.ID // the devices of each Persist
	st        *store.Store
}

// repeated marks an envelope whose key was used before (ratchet.ErrDuplicate).
var repeated = []byte("repeated")

func (s *fakeSealer) OpenDirect(t *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	if bytes.Equal(env.Sealed, repeated) {
		return nil, ratchet.ErrDuplicate
	}
	return s.Open(t, env)
}

func (s *fakeSealer) Persist(ps []peer.ID, ops ...store.Op) (*store.Pending, error) {
	s.mu.Lock()
	s.persisted = append(s.persisted, slices.Clone(ps))
	s.mu.Unlock()
	return s.st.Submit(ops...), nil
}

func (s *fakeSealer) Queue(_ peer.ID, _ *store.OutboxEntry, op store.Op) (*store.Pending, error) {
	return s.st.Submit(op), nil
}

func (s *fakeSealer) Current(peer.ID, []byte) bool { return false }

func (s *fakeSealer) Ensure(context.Context, *ticket.Ticket) error { return nil }

func (s *fakeSealer) Seal(_ *ticket.Ticket, entries []store.OutboxEntry) ([]*wire.Envelope, error) {
	envs := make([]*wire.Envelope, len(entries))
	for i, e := range entries {
		envs[i] = &wire.Envelope{Id: e.ID, Sealed: e.Payload}
	}
	return envs, nil
}

// lostSession marks an envelope sealed in a session we no longer hold.
var lostSession = []byte("lost")

func (s *fakeSealer) Open(_ *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	if bytes.Equal(env.Sealed, lostSession) {
		return nil, payload.ErrSessionReset
	}
	return bytes.Clone(env.Sealed), nil
}

func (s *fakeSealer) Reset(p peer.ID) error {
	s.mu.Lock()
	s.resets = append(s.resets, p)
	s.mu.Unlock()
	return nil
}

func (s *fakeSealer) OpenAnonymous(item []byte) ([]byte, error) { return item, nil }

type fakeRouter struct{}

func (fakeRouter) Resolve(context.Context, string, bool) (*ticket.Ticket, error) {
	return nil, errors.New("nowhere")
}
func (fakeRouter) ResolveDevice(context.Context, string, peer.ID, bool) (*ticket.Ticket, error) {
	return nil, errors.New("nowhere")
}
func (fakeRouter) HomesOf(string) []peer.AddrInfo               { return nil }
func (fakeRouter) Connect(context.Context, peer.AddrInfo) error { return errors.New("nowhere") }
func (fakeRouter) HasMailboxes() bool                           { return false }
func (fakeRouter) MailHomes() []peer.AddrInfo                   { return nil }
func (fakeRouter) IsMailHome(peer.ID) bool                      { return false }

type fakeAuth struct{}

func (fakeAuth) Authenticate(remote peer.ID, st *wire.SignedTicket) (*ticket.Ticket, error) {
	t, err := fakeAuth{}.AuthenticateAt(st, time.Now())
	if err == nil {
		t.Peer = remote
	}
	return t, err
}

func (fakeAuth) AuthenticateAt(st *wire.SignedTicket, _ time.Time) (*ticket.Ticket, error) {
	if string(st.GetSignature()) != "ok" || len(st.GetTicket()) == 0 {
		return nil, errors.New("bad ticket")
	}
	box := make([]byte, 32)
	if string(st.GetTicket()) == "nobox" {
		box = nil
	}
	return &ticket.Ticket{Username: string(st.GetTicket()), Peer: peer.ID(string(st.GetTicket()) + "-device"), BoxKey: box}, nil
}

func signed(username string) *wire.SignedTicket {
	return &wire.SignedTicket{Ticket: []byte(username), Signature: []byte("ok")}
}

// newTestDelivery is a Delivery for "me" on a fresh store, not started.
func newTestDelivery(tb testing.TB) (*Delivery, *fakeHost, *fakeSealer) {
	tb.Helper()
	st := storetest.Open(tb)
	h := &fakeHost{st: st, me: &ticket.Ticket{Username: "me", Signed: signed("me")}, refuse: map[string]error{}}
	s := &fakeSealer{st: st}
	d := New(h, s, fakeRouter{}, fakeAuth{}, time.Second)
	tb.Cleanup(d.tasks.Close) // Close itself needs a libp2p host
	return d, h, s
}

// fakeStream is one side of a message stream: it reads in and records what
// is written.
type fakeStream struct {
	network.Stream
	in            io.Reader
	out           bytes.Buffer
	remote        peer.ID
	reset, closed bool
}

type fakeConn struct {
	network.Conn
	remote peer.ID
}

func (c fakeConn) RemotePeer() peer.ID { return c.remote }

func (s *fakeStream) Read(p []byte) (int, error) { return s.in.Read(p) }
func (s *fakeStream) Write(p []byte) (int, error) {
	if s.reset || s.closed {
		return 0, errors.New("stream closed")
	}
	return s.out.Write(p)
}
func (s *fakeStream) Scope() network.StreamScope       { return nil } // no resource manager
func (s *fakeStream) SetDeadline(time.Time) error      { return nil }
func (s *fakeStream) SetReadDeadline(time.Time) error  { return nil }
func (s *fakeStream) SetWriteDeadline(time.Time) error { return nil }
func (s *fakeStream) Reset() error                     { s.reset = true; return nil }
func (s *fakeStream) Close() error                     { s.closed = true; return nil }
func (s *fakeStream) Conn() network.Conn               { return fakeConn{remote: s.remote} }

// framed is msgs as a peer writes them on a stream.
func framed(tb testing.TB, msgs ...proto.Message) []byte {
	tb.Helper()
	var b bytes.Buffer
	for _, m := range msgs {
		if err := wire.WriteMsg(&b, m); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}
