package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/api"
	"eserver/node/livestream"
)

// TestLiveStream: alice streams 4 MiB to bob, who reads it as it comes,
// whole and in order; a stranger cannot open one; an unclaimed or unknown
// stream is refused.
func TestLiveStream(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	data := make([]byte, 4<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	id, w, err := alice.OpenStream(ctx(t), "bob", "microphone")
	if err != nil {
		t.Fatal(err)
	}
	e := bob.waitFor("the incoming stream", func(e api.Event) bool { return e.StreamIncoming != nil })
	if in := e.StreamIncoming; in.ID != id || in.From != "alice" || in.Label != "microphone" {
		t.Fatalf("incoming %+v, want %s from alice", in, id)
	}
	r, err := bob.AcceptStream(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptStream(ctx(t), id); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("taking a stream twice: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	for off := 0; off < len(data); off += 100 << 10 {
		if _, err := w.Write(data[off:min(off+100<<10, len(data))]); err != nil {
			t.Fatalf("writing at %d: %v", off, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("bob read %d bytes, want the %d written", len(b), len(data))
	}

	// Carol is nobody's contact: she cannot stream to bob.
	carol := newTestNode(t, server, "carol")
	carol.register()
	carol.login()
	if _, _, err := carol.OpenStream(ctx(t), "bob", "spam"); !errors.Is(err, api.ErrNotContact) {
		t.Fatalf("a stranger's stream: %v", err)
	}
	// Nor by going around her node: bob's listener refuses her.
	cs, _ := carol.current()
	bs, _ := bob.current()
	cs.host.Peerstore().AddAddrs(bs.host.ID(), bs.host.Addrs(), peerstore.TempAddrTTL)
	key := make([]byte, 32)
	if _, err := livestream.Open(ctx(t), cs.host, bs.host.ID(), key, "spam"); !errors.Is(err, livestream.ErrRefused) {
		t.Fatalf("a stranger's raw stream: %v", err)
	}
	// Nor can alice open a stream she did not announce.
	as, _ := alice.current()
	if _, err := livestream.Open(ctx(t), as.host, bs.host.ID(), key, "unannounced"); err == nil {
		t.Fatal("bob took a stream nobody announced")
	}
	// A live stream needs the contact now: to an offline one it fails at once.
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	if _, _, err := alice.OpenStream(ctx(t), "bob", "late"); !errors.Is(err, api.ErrUnreachable) {
		t.Fatalf("a stream to an offline contact: %v", err)
	}
}
