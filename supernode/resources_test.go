package supernode

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"eserver/node/wire"
)

func TestResourceLimitsComputed(t *testing.T) {
	stock := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&stock)
	stockIn := int(stock.AutoScale().ToPartialLimitConfig().System.ConnsInbound)
	t.Logf("libp2p's default limits on this machine: %d inbound connections", stockIn)

	for _, n := range []int{1000, DefaultMaxNodes, 20000} {
		l := ResourceLimits(n).ToPartialLimitConfig()
		sys := l.System
		if int(sys.ConnsInbound) < n || int(sys.Conns) < int(sys.ConnsInbound) {
			t.Errorf("n=%d: system conns %d inbound of %d, want at least n inbound", n, sys.ConnsInbound, sys.Conns)
		}
		if int(sys.ConnsInbound) <= stockIn {
			t.Errorf("n=%d: system inbound %d not above libp2p's %d", n, sys.ConnsInbound, stockIn)
		}
		if sys.FD <= 0 || int(sys.FD) > MaxSupernodeFDs || MaxSupernodeFDs >= 20000 {
			t.Errorf("n=%d: FD budget %d, want within %d, below the process's 20,000", n, sys.FD, MaxSupernodeFDs)
		}
		if int(sys.StreamsInbound) < 2*n || int64(sys.Memory) < int64(n)*streamWindow {
			t.Errorf("n=%d: system streams %d, memory %d: want 2 streams and a window per node", n, sys.StreamsInbound, sys.Memory)
		}
		if int(l.Transient.ConnsInbound) < n/4 {
			t.Errorf("n=%d: transient inbound %d, want n/4 for re-homing bursts", n, l.Transient.ConnsInbound)
		}

		// One peer stays small whatever n is.
		p := l.PeerDefault
		if p.ConnsInbound > 8 || p.StreamsInbound > 128 || p.Streams > 256 || p.Memory > 64<<20 || p.FD > 8 {
			t.Errorf("n=%d: per-peer %+v, want at most 8 conns, 128 inbound streams, 64 MiB", n, p)
		}
		if pp := l.ProtocolPeerDefault; pp.StreamsInbound > 16 || pp.Streams > 32 {
			t.Errorf("n=%d: per-peer-protocol %+v, want at most 16 inbound streams", n, pp)
		}

		// The relay's circuits fit: buffers for n/2 circuits in the service
		// scope, one peer's circuits in its service-peer scope.
		rs := l.Service[relay.ServiceName]
		circuits := n / 2
		if int64(rs.Memory) < int64(circuits)*2*DefaultRelayBufferSize || int(rs.StreamsInbound) < circuits || int(rs.StreamsOutbound) < circuits {
			t.Errorf("n=%d: relay service %+v, want room for %d circuits", n, rs, circuits)
		}
		if rsp := l.ServicePeer[relay.ServiceName]; int(rsp.StreamsInbound) < DefaultRelayMaxCircuitsPerPeer || int(rsp.StreamsInbound) > 2*DefaultRelayMaxCircuitsPerPeer {
			t.Errorf("n=%d: relay per peer %+v, want about %d circuits", n, rsp, DefaultRelayMaxCircuitsPerPeer)
		}
		// The room protocol takes every joined stream the room service
		// allows, and requests besides, within the system's streams.
		joins := CapsFor(n).RoomJoins
		room, roomPeer := l.Protocol[wire.ProtoRoom], l.ProtocolPeer[wire.ProtoRoom]
		if int(room.StreamsInbound) < joins+n || int(sys.StreamsInbound) < int(room.StreamsInbound) {
			t.Errorf("n=%d: room protocol %d inbound streams (system %d), want %d joined + %d requests", n, room.StreamsInbound, sys.StreamsInbound, joins, n)
		}
		if int(roomPeer.StreamsInbound) <= roomJoinsPerNode || roomPeer.StreamsInbound > 64 {
			t.Errorf("n=%d: room protocol per peer %d inbound streams, want %d joined + requests", n, roomPeer.StreamsInbound, roomJoinsPerNode)
		}
		if int64(sys.Memory) < int64(rs.Memory) {
			t.Errorf("n=%d: relay memory %d exceeds the system's %d", n, rs.Memory, sys.Memory)
		}
	}
	if d, z := ResourceLimits(DefaultMaxNodes).ToPartialLimitConfig(), ResourceLimits(0).ToPartialLimitConfig(); d.System != z.System {
		t.Errorf("ResourceLimits(0) is not ResourceLimits(DefaultMaxNodes)")
	}
}

// clientHost is a cheap dialling-only host: TCP only, no listener, no limits
// of its own.
func clientHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatalf("client host: %v", err)
	}
	return h
}

func TestSupernodeResourcesLive(t *testing.T) {
	const nodes = 300 // above the ~250 inbound connections libp2p allows by default here
	opt, err := SupernodeResources(nodes)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), opt)
	if err != nil {
		t.Fatalf("supernode host: %v", err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	info := peer.AddrInfo{ID: sn.ID(), Addrs: sn.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	clients := make([]host.Host, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			h := clientHost(t)
			clients[i] = h
			// A loaded machine (CI runs packages in parallel) may time out a
			// handshake; what is tested is that the supernode admits every
			// node, so a dial gets a second chance.
			for range 2 {
				cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
				errs[i] = h.Connect(cctx, info)
				ccancel()
				if errs[i] == nil {
					break
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, h := range clients {
			_ = h.Close()
		}
	})
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if failed == 1 {
				t.Errorf("connect: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d nodes could not connect", failed, nodes)
	}
	// Every connection survives: neither the resource manager nor the
	// connection manager (libp2p's trims above 192) drops any.
	sn.ConnManager().TrimOpenConns(ctx)
	if got := len(sn.Network().Peers()); got != nodes {
		t.Fatalf("supernode holds %d peers, want %d", got, nodes)
	}

	// One peer cannot hold more than its per-protocol stream allowance.
	const hold = protocol.ID("/eserver-test/hold/1.0.0")
	held := make(chan struct{}, 64)
	release := make(chan struct{})
	defer close(release)
	sn.SetStreamHandler(hold, func(s network.Stream) {
		held <- struct{}{}
		<-release
		_ = s.Reset()
	})
	c := clients[0]
	open := func() (network.Stream, error) {
		s, err := c.NewStream(ctx, sn.ID(), hold)
		if err != nil {
			return nil, err
		}
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.Write([]byte{1}); err != nil {
			return nil, err
		}
		return s, nil
	}
	limit := int(ResourceLimits(nodes).ToPartialLimitConfig().ProtocolPeerDefault.StreamsInbound)
	for i := range limit {
		if _, err := open(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		<-held
	}
	s, err := open()
	if err == nil {
		// The refusal arrives as a reset once the supernode sees the protocol.
		_, err = s.Read(make([]byte, 1))
	}
	if err == nil {
		t.Fatalf("stream %d beyond the per-peer limit was served", limit+1)
	}
	// Another peer is unaffected.
	s2, err := clients[1].NewStream(ctx, sn.ID(), hold)
	if err != nil {
		t.Fatalf("another peer's stream: %v", err)
	}
	if _, err := s2.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("another peer's stream was not served")
	}
}
