package node

import (
	"encoding/binary"
	"eserver/node/api"
	"eserver/node/discovery"
	"eserver/node/payload"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/proto"

	"eserver/node/e2e"
	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// rogue is a hand-driven client: a real registered account on its own host,
// speaking the message protocol frame by frame.
type rogue struct {
	h      host.Host
	ticket *ticket.Ticket
	seal   *e2e.V1
}

func newRogue(t *testing.T, server, name string) *rogue {
	t.Helper()
	return bareDevice(t, server, name, "pw", true)
}

// bareDevice signs in to name's account (registering it first when
// register is set) on a bare host: a device that speaks the protocols by
// hand, with a good ticket and nothing else of a node — no account
// identity set up, so its account never lists it.
func bareDevice(t *testing.T, server, name, password string, register bool) *rogue {
	t.Helper()
	ai, err := login.ParseServer(server)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(nil)
	h, err := discovery.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"}, discovery.NewReach(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if register {
		if err := login.Register(ctx(t), h, ai, name, password); err != nil {
			t.Fatal(err)
		}
	}
	box, _ := e2e.GenerateBoxKey()
	res, err := login.Login(ctx(t), h, ai, login.Request{Username: name, Password: password, BoxKey: box.PublicKey().Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := e2e.NewV1(key, box)
	if err != nil {
		t.Fatal(err)
	}
	return &rogue{h: h, ticket: res.Ticket, seal: seal}
}

// find looks up a user's ticket at the rendezvous (public: it holds the
// keys) and connects to the user's node. The rendezvous shows a stranger no
// addresses, so the rogue takes them from the node itself: the protocol
// must hold even against an attacker who learned where a user is.
func (r *rogue) find(t *testing.T, server string, victim *testNode) *ticket.Ticket {
	t.Helper()
	ai, _ := login.ParseServer(server)
	if err := r.h.Connect(ctx(t), ai); err != nil {
		t.Fatal(err)
	}
	found, err := client.Lookup(ctx(t), r.h, ai.ID, r.ticket.Signed, []string{victim.name})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup %s: %v %v", victim.name, found, err)
	}
	if len(found[0].Addrs.Addrs) != 0 {
		t.Fatalf("the rendezvous showed a stranger where %s is", victim.name)
	}
	s, err := victim.current()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.h.Connect(ctx(t), peer.AddrInfo{ID: s.host.ID(), Addrs: s.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return found[0].Ticket
}

func (r *rogue) stream(t *testing.T, to *ticket.Ticket) network.Stream {
	t.Helper()
	st, err := r.h.NewStream(ctx(t), to.Peer, wire.ProtoMsg)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	return st
}

func (r *rogue) envelope(t *testing.T, to *ticket.Ticket, id string, p *wire.Payload) *wire.Frame {
	t.Helper()
	raw, _ := proto.Marshal(p)
	sealed, err := r.seal.Seal(e2e.Peer{ID: to.Peer, BoxKey: to.BoxKey}, []byte(id), raw)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Frame{Kind: &wire.Frame_Envelope{Envelope: &wire.Envelope{Id: id, Sealed: sealed}}}
}

func chatPayload(text string) *wire.Payload {
	return &wire.Payload{SentUnixMilli: time.Now().UnixMilli(), Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}}
}

// streamBroken reports whether the peer reset or closed the stream.
func streamBroken(st network.Stream) bool {
	var f wire.Frame
	err := wire.ReadMsg(st, wire.MaxMsgFrame, &f)
	return err != nil
}

func TestMessageProtocolRefusesBadInput(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	mallory := newRogue(t, server, "mallory")
	bobT := mallory.find(t, server, bob)
	aliceT := mallory.find(t, server, alice)

	t.Run("non-contact message refused", func(t *testing.T) {
		st := mallory.stream(t, bobT)
		defer st.Close()
		if err := wire.WriteMsg(st, &wire.Hello{Ticket: mallory.ticket.Signed}); err != nil {
			t.Fatal(err)
		}
		r := wire.NewReader(st, wire.MaxMsgFrame)
		var h wire.Hello
		if err := r.ReadMsg(&h); err != nil {
			t.Fatal(err)
		}
		if err := wire.WriteMsg(st, mallory.envelope(t, bobT, "m1", chatPayload("buy now"))); err != nil {
			t.Fatal(err)
		}
		var f wire.Frame
		if err := r.ReadMsg(&f); err != nil {
			t.Fatal(err)
		}
		if f.GetAck().GetError() != string(payload.ErrNotContact) {
			t.Fatalf("ack = %+v, want %s", f.GetAck(), payload.ErrNotContact)
		}
	})

	t.Run("forged sender: alice's ticket from mallory's peer", func(t *testing.T) {
		st := mallory.stream(t, bobT)
		if err := wire.WriteMsg(st, &wire.Hello{Ticket: aliceT.Signed}); err != nil {
			t.Fatal(err)
		}
		if !streamBroken(st) {
			t.Fatal("bob answered a hello with someone else's ticket")
		}
	})

	t.Run("forged sender: envelope sealed by mallory claimed as alice's", func(t *testing.T) {
		// Mallory cannot sign as alice, so an envelope from mallory's
		// stream opens only as mallory's — never as alice's message.
		st := mallory.stream(t, bobT)
		defer st.Close()
		wire.WriteMsg(st, &wire.Hello{Ticket: mallory.ticket.Signed})
		r := wire.NewReader(st, wire.MaxMsgFrame)
		var h wire.Hello
		r.ReadMsg(&h)
		f := mallory.envelope(t, bobT, "m2", chatPayload("I am alice"))
		f.GetEnvelope().Sealed[len(f.GetEnvelope().Sealed)-1] ^= 1 // and tampering fails too
		wire.WriteMsg(st, f)
		var ack wire.Frame
		if err := r.ReadMsg(&ack); err != nil {
			t.Fatal(err)
		}
		if ack.GetAck().GetError() == "" {
			t.Fatal("tampered envelope accepted")
		}
	})

	t.Run("malformed frame closes only that stream", func(t *testing.T) {
		st := mallory.stream(t, bobT)
		wire.WriteMsg(st, &wire.Hello{Ticket: mallory.ticket.Signed})
		var h wire.Hello
		wire.ReadMsg(st, wire.MaxMsgFrame, &h)
		st.Write([]byte{5, 0xff, 0xff, 0xff, 0xff, 0xff}) // a length-5 frame of garbage
		if !streamBroken(st) {
			t.Fatal("malformed frame did not close the stream")
		}
	})

	t.Run("oversized frame refused before reading it", func(t *testing.T) {
		st := mallory.stream(t, bobT)
		wire.WriteMsg(st, &wire.Hello{Ticket: mallory.ticket.Signed})
		var h wire.Hello
		wire.ReadMsg(st, wire.MaxMsgFrame, &h)
		st.Write(binary.AppendUvarint(nil, wire.MaxMsgFrame+1))
		if !streamBroken(st) {
			t.Fatal("oversized frame did not close the stream")
		}
	})

	t.Run("garbage hello", func(t *testing.T) {
		st := mallory.stream(t, bobT)
		st.Write([]byte{3, 1, 2, 3})
		if !streamBroken(st) {
			t.Fatal("garbage hello accepted")
		}
	})

	// None of that reached bob's history or disturbed alice and bob.
	id, err := alice.Send(ctx(t), "bob", "still fine")
	if err != nil {
		t.Fatal(err)
	}
	e := bob.waitFor("message", func(e api.Event) bool { return e.Message != nil })
	if e.Message.ID != id || e.Message.From != "alice" {
		t.Fatalf("bob's next message: %+v", e.Message)
	}
	cs, _ := bob.Contacts(ctx(t))
	if len(cs) != 1 || cs[0].Username != "alice" {
		t.Fatalf("bob's contacts: %+v", cs)
	}
}

// TestEveryPayloadKindIsHandled fails when a kind is added to wire.proto's
// Payload without a component registering it.
func TestEveryPayloadKindIsHandled(t *testing.T) {
	s := &session{n: &Node{}}
	s.assemble(nil)
	fields := (&wire.Payload{}).ProtoReflect().Descriptor().Oneofs().ByName("kind").Fields()
	if fields.Len() < 14 {
		t.Fatalf("Payload has %d kinds, want at least 14", fields.Len())
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := &wire.Payload{}
		m := p.ProtoReflect()
		m.Set(fd, m.NewField(fd))
		if !s.kinds.Registered(p.Kind) {
			t.Errorf("payload kind %s has no handler", fd.Name())
		}
	}
}
