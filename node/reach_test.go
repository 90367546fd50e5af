package node

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/api"
)

// TestRelayedChat: alice and bob both accept no direct connections (they
// listen nowhere, as behind strict NATs, so no hole punch can work); they
// chat through the relays at their homes, see how they are connected, and
// move 10 MiB through a relay.
func TestRelayedChat(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	for _, tn := range []*testNode{alice, bob} {
		tn.relayOnly = true
		tn.stop()
		tn.open()
	}
	alice.register()
	bob.register()
	alice.login()
	bob.login()

	// Bob listens nowhere: his record holds only circuit addresses through
	// the relays where he has reservations.
	s, _ := bob.current()
	if len(s.host.Addrs()) != 0 {
		t.Fatalf("bob listens at %v", s.host.Addrs())
	}
	waitUntil(t, "bob has a relay reservation", func() bool { return len(s.discovery.CircuitAddrs()) > 0 })

	befriend(t, alice, bob)
	const n = 20
	for i := range n {
		if _, err := alice.Send(ctx(t), "bob", fmt.Sprintf("through the relay %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := bob.collect("alice", n)
	for i, m := range got {
		if m.Text != fmt.Sprintf("through the relay %d", i) {
			t.Fatalf("message %d: %q", i, m.Text)
		}
	}
	if _, err := bob.Send(ctx(t), "alice", "and back"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)

	cs, err := alice.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Via != api.ViaRelayed {
		t.Fatalf("alice's contacts: %+v, %v; want bob via relay", cs, err)
	}

	// 10 MiB between the two nodes' hosts over the same relayed connection:
	// the relay's limits are fit for file transfer, not only for chat.
	relayedTransfer(t, alice, bob, 10<<20)
	// And a 10 MiB file, offered and accepted as a user would.
	src, data := randomFile(t, t.TempDir(), "through-the-relay.bin", 10<<20)
	id, err := alice.SendFile(ctx(t), "bob", src)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(id, api.TransferIncoming)
	if err := bob.AcceptFile(ctx(t), id, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	done := bob.waitTransfer(id, api.TransferDone)
	if got, err := os.ReadFile(done.Path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file through the relay: %d bytes, %v", len(got), err)
	}
	if cs, _ := alice.Contacts(ctx(t)); cs[0].Via != api.ViaRelayed {
		t.Fatalf("the file went %s, not through the relay", cs[0].Via)
	}

	bob.stop()
	waitUntil(t, "bob shown reachable only by mailbox", func() bool {
		cs, _ := alice.Contacts(ctx(t))
		return len(cs) == 1 && cs[0].Via == api.ViaMailbox
	})
}

// relayedTransfer copies size random bytes from a's host to b's over their
// relayed connection and checks that b got every byte.
func relayedTransfer(t *testing.T, a, b *testNode, size int) {
	t.Helper()
	const proto = protocol.ID("/eserver-test/bulk/1.0.0")
	sa, _ := a.current()
	sb, _ := b.current()
	got := make(chan [32]byte, 1)
	sb.host.SetStreamHandler(proto, func(st network.Stream) {
		defer st.Close()
		h := sha256.New()
		if _, err := io.Copy(h, st); err != nil {
			st.Reset()
			got <- [32]byte{}
			return
		}
		got <- [32]byte(h.Sum(nil))
	})
	defer sb.host.RemoveStreamHandler(proto)
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	st, err := sa.host.NewStream(network.WithAllowLimitedConn(ctx(t), "test transfer"), sb.host.ID(), proto)
	if err != nil {
		t.Fatalf("opening a stream through the relay: %v", err)
	}
	if !st.Conn().Stat().Limited {
		t.Fatalf("the stream runs over %s, not the relay", st.Conn().RemoteMultiaddr())
	}
	if _, err := st.Write(data); err != nil {
		t.Fatalf("writing %d bytes through the relay: %v", size, err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case sum := <-got:
		if sum != sha256.Sum256(data) {
			t.Fatalf("%d bytes through the relay arrived damaged or short", size)
		}
	case <-time.After(time.Minute):
		t.Fatal("the transfer through the relay did not finish")
	}
}
