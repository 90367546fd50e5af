package call

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/wire"
)

// TestOpenAudioPrefersQUIC: with a TCP and a QUIC connection between two
// hosts, the audio stream goes on the QUIC one, and the other side's
// handler gets it as any stream; with TCP alone, on TCP.
func TestOpenAudioPrefersQUIC(t *testing.T) {
	newHost := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	only := func(h host.Host, proto int) peer.AddrInfo {
		ai := peer.AddrInfo{ID: h.ID()}
		for _, a := range h.Addrs() {
			if _, err := a.ValueForProtocol(proto); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		return ai
	}
	for _, tc := range []struct {
		name   string
		protos []int
		quic   bool
	}{
		{"TCP and QUIC", []int{ma.P_TCP, ma.P_QUIC_V1}, true},
		{"TCP alone", []int{ma.P_TCP}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Two connections, one per transport: libp2p keeps the one it
			// has, so they come from dialling both ways at once (a over
			// TCP, b over QUIC), as two peers finding each other at the
			// same moment do. A try where one dial saw the other's
			// connection first is made again with new hosts.
			var a, b host.Host
			for try := 0; ; try++ {
				a, b = newHost(), newHost()
				if len(tc.protos) == 1 {
					if err := a.Connect(ctx, only(b, tc.protos[0])); err != nil {
						t.Fatal(err)
					}
					break
				}
				errs := make(chan error, 2)
				go func() { errs <- a.Connect(ctx, only(b, ma.P_TCP)) }()
				go func() { errs <- b.Connect(ctx, only(a, ma.P_QUIC_V1)) }()
				for range 2 {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				if len(a.Network().ConnsToPeer(b.ID())) == 2 {
					break
				}
				if try == 20 {
					t.Skip("never got two connections at once")
				}
			}
			// libp2p on its own would take the connection with more
			// streams: give the TCP one more.
			for _, c := range a.Network().ConnsToPeer(b.ID()) {
				for i := 0; !isQUIC(c) && i < 8; i++ {
					if _, err := c.NewStream(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := make(chan string, 1)
			b.SetStreamHandler(protocol.ID(wire.CallProtocol), func(st network.Stream) {
				buf, _ := io.ReadAll(st)
				got <- string(buf)
				st.Close()
			})
			st, err := openAudio(ctx, a, b.ID())
			if err != nil {
				t.Fatal(err)
			}
			if isQUIC(st.Conn()) != tc.quic {
				t.Fatalf("the audio went on %s", st.Conn().RemoteMultiaddr())
			}
			st.Write([]byte("hello"))
			st.CloseWrite()
			if s := <-got; s != "hello" {
				t.Fatalf("the handler read %q", s)
			}
		})
	}
}
