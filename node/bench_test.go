package node

import (
	"bytes"
	"eserver/node/api"
	"eserver/node/discovery"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkChatRoundTrip measures one chat message from Send to the sender
// seeing the Delivered event: seal, durable outbox write, stream, open,
// durable insert at the receiver, ack, durable acknowledge.
func BenchmarkChatRoundTrip(b *testing.B) {
	server := testServer(b)
	alice := newTestNode(b, server, "alice")
	bob := newTestNode(b, server, "bob")
	for _, tn := range []*testNode{alice, bob} {
		tn.register()
		tn.login()
	}
	befriend(b, alice, bob)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := alice.Send(ctx(b), "bob", "ping")
		if err != nil {
			b.Fatal(err)
		}
		alice.waitFor("delivered", func(e api.Event) bool { return e.Delivered != nil && e.Delivered.ID == id })
	}
}

// BenchmarkRawStreamEcho is the baseline: the same payload size echoed over
// a plain libp2p stream between two hosts on loopback.
func BenchmarkRawStreamEcho(b *testing.B) {
	k1, _, _ := crypto.GenerateEd25519Key(nil)
	k2, _, _ := crypto.GenerateEd25519Key(nil)
	h1, err := discovery.NewHost(k1, []string{"/ip4/127.0.0.1/tcp/0"}, discovery.NewReach(), false)
	if err != nil {
		b.Fatal(err)
	}
	defer h1.Close()
	h2, err := discovery.NewHost(k2, []string{"/ip4/127.0.0.1/tcp/0"}, discovery.NewReach(), false)
	if err != nil {
		b.Fatal(err)
	}
	defer h2.Close()
	h2.SetStreamHandler("/bench/echo", func(s network.Stream) {
		io.Copy(s, s)
		s.Close()
	})
	if err := h1.Connect(b.Context(), peer.AddrInfo{ID: h2.ID(), Addrs: h2.Addrs()}); err != nil {
		b.Fatal(err)
	}
	s, err := h1.NewStream(b.Context(), h2.ID(), "/bench/echo")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := bytes.Repeat([]byte("p"), 200) // about a sealed "ping" envelope
	buf := make([]byte, len(msg))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			b.Fatal(err)
		}
	}
}
