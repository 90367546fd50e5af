package supernode

// Resource-manager limits for a supernode host. libp2p's defaults suit a
// desktop peer: about 256 inbound connections system-wide, 8 connections per
// IPv4 address, and a connection manager that trims above 192 peers. A
// supernode serves thousands of nodes, so the system-wide limits are raised
// in proportion to the nodes it expects, while everything a single peer can
// take stays tight, so that one node cannot starve the others.

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/x/rate"

	"eserver/node/wire"
)

const (
	// DefaultMaxNodes is the number of nodes a supernode is sized for when
	// nothing else is said: the benchmark's target of 10,000.
	DefaultMaxNodes = 10000
	// minMaxNodes is the floor of maxNodes, below which the computed limits
	// would fall under libp2p's own defaults.
	minMaxNodes = 256

	// MaxSupernodeFDs is the file-descriptor budget of the libp2p stack: a
	// process may hold at most 20,000 open files here, and the rest of the
	// supernode (SQLite, logs, listeners, the metrics server, DNS) needs a
	// few thousand. Each TCP connection holds one descriptor; QUIC
	// connections share the UDP socket, so nodes beyond this budget must
	// come over QUIC (or the supernode runs as several processes).
	MaxSupernodeFDs = 16384

	// streamWindow is the memory yamux reserves for every open stream (its
	// initial receive window), charged to the connection and so to the peer
	// and the system. It is accounting, not resident memory: yamux allocates
	// on receipt.
	streamWindow = 256 << 10

	// Per-peer limits: what any one peer may hold at once.
	peerConns   = 8                                     // libp2p dials up to 8 addresses at once (TCP and QUIC, v4 and v6)
	peerStreams = 2*DefaultRelayMaxCircuitsPerPeer + 32 // its relay circuits plus chat, rendezvous, mailbox, identify, ping
	peerMemory  = 64 << 20                              // 256 stream windows, or a transfer's grown window plus some
	peerFDs     = peerConns

	// Per-peer, per-protocol and per-service limits for EServer's own
	// protocols: each request is one short stream, so a peer never needs
	// many at once.
	protoPeerStreams = 16
	protoPeerMemory  = 16 << 20

	// Connections from one IPv4 address (or IPv6 /56): an office or a
	// carrier-grade NAT puts many users behind one address; libp2p's 8 would
	// let 8 of them in. 64 users each with one connection, and new
	// connections at 1/s with a burst of two full re-homings of them.
	subnetConns     = 64
	subnetConnRate  = 1.0
	subnetConnBurst = 2 * subnetConns
)

// ResourceLimits returns resource-manager limits for a supernode expecting
// maxNodes connected nodes (zero or less means DefaultMaxNodes; values below
// 256 are raised to 256). N is maxNodes below:
//
//   - System: inbound connections N + N/4 (every node keeps one connection to
//     each of its homes, plus headroom for re-homing bursts and the brief
//     duplicate of a TCP/QUIC dial race); outbound 1024 (the auth server,
//     other supernodes); 4N streams each way; file descriptors for every
//     connection but at most MaxSupernodeFDs; memory 256 MiB + N × 512 KiB
//     (two open stream windows per node) + the relay's circuit buffers.
//   - Transient (connections mid-handshake, streams mid-negotiation): N/4
//     inbound connections, N/2 inbound streams, so the nodes of a dead
//     supernode re-home here at once.
//   - Relay: N/2 concurrent circuits (relay is the last resort, after direct
//     dials and hole punching), their hop and stop streams and 2 ×
//     DefaultRelayBufferSize of buffers each; per peer, its
//     DefaultRelayMaxCircuitsPerPeer circuits.
//   - identify, ping, autonat, hole punching: N/4 concurrent streams, as
//     every new connection runs identify.
//   - EServer protocols (the protocol and service defaults): N concurrent
//     streams each.
//   - The room protocol (wire.ProtoRoom): a joined member holds its stream
//     open, so the protocol's inbound limit is the room service's own cap
//     on joined streams (CapsFor(N).RoomJoins, 16 per node) plus N for
//     requests; the system's inbound streams grow by the same RoomJoins.
//     Per peer, the rooms a device may join at a home (wire.MaxRoomsJoined,
//     48) plus 16 requests, within the peer's 96 inbound streams. With the default's
//     N the joined streams took the protocol's whole limit and a home
//     sized for its room's members reset their sends and joins.
//   - Per peer, kept tight: 8 connections, 96 streams each way (160 in
//     all), 64 MiB, 8 descriptors; per peer and protocol 16 streams each
//     way and 16 MiB.
func ResourceLimits(maxNodes int) rcmgr.ConcreteLimitConfig {
	n := nodesOrDefault(maxNodes)
	circuits := max(n/2, 256)

	roomJoins := CapsFor(n).RoomJoins

	connsIn := n + n/4
	connsOut := 1024
	conns := connsIn + connsOut
	fds := min(conns+512, MaxSupernodeFDs)
	relayMem := int64(circuits) * (2*DefaultRelayBufferSize + 4<<10) // buffers + handshake message
	sysMem := int64(256<<20) + int64(n)*2*streamWindow + relayMem

	// Start from libp2p's defaults with its service limits, scaled for a
	// fixed 1 GiB and our descriptor budget rather than this machine, so the
	// result does not depend on where it is computed.
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(1<<30, MaxSupernodeFDs)

	lv := func(v int) rcmgr.LimitVal { return rcmgr.LimitVal(v) }
	lv64 := func(v int64) rcmgr.LimitVal64 { return rcmgr.LimitVal64(v) }
	streams := func(in, out int, mem int64) rcmgr.ResourceLimits {
		return rcmgr.ResourceLimits{
			StreamsInbound: lv(in), StreamsOutbound: lv(out), Streams: lv(in + out), Memory: lv64(mem),
		}
	}

	p := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound: lv(connsIn), ConnsOutbound: lv(connsOut), Conns: lv(conns),
			StreamsInbound: lv(4*n + roomJoins), StreamsOutbound: lv(4 * n), Streams: lv(8*n + roomJoins),
			FD: lv(fds), Memory: lv64(sysMem),
		},
		Transient: rcmgr.ResourceLimits{
			ConnsInbound: lv(n / 4), ConnsOutbound: lv(256), Conns: lv(n/4 + 256),
			StreamsInbound: lv(n / 2), StreamsOutbound: lv(n / 4), Streams: lv(n/2 + n/4),
			FD: lv(max(fds/4, 64)), Memory: lv64(64<<20 + int64(n)*64<<10),
		},
		ServiceDefault:      streams(n, n, 64<<20+int64(n)*4<<10),
		ProtocolDefault:     streams(n, n, 64<<20+int64(n)*4<<10),
		ServicePeerDefault:  streams(protoPeerStreams, protoPeerStreams, protoPeerMemory),
		ProtocolPeerDefault: streams(protoPeerStreams, protoPeerStreams, protoPeerMemory),
		PeerDefault: rcmgr.ResourceLimits{
			ConnsInbound: lv(peerConns), ConnsOutbound: lv(peerConns), Conns: lv(peerConns),
			StreamsInbound: lv(peerStreams), StreamsOutbound: lv(peerStreams), Streams: lv(peerStreams + peerStreams*2/3),
			FD: lv(peerFDs), Memory: lv64(peerMemory),
		},
		Service: map[string]rcmgr.ResourceLimits{
			// hop streams: one per circuit plus reservation requests; stop
			// streams: one per circuit.
			relay.ServiceName: streams(circuits+256, circuits+64, relayMem+16<<20),
		},
		ServicePeer: map[string]rcmgr.ResourceLimits{
			relay.ServiceName: streams(DefaultRelayMaxCircuitsPerPeer+4, DefaultRelayMaxCircuitsPerPeer+4, 1<<20),
		},
		Protocol:     map[protocol.ID]rcmgr.ResourceLimits{},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{},
	}
	for _, id := range []protocol.ID{circuit.ProtoIDv2Hop, circuit.ProtoIDv2Stop} {
		p.Protocol[id] = streams(circuits+256, circuits+256, relayMem+16<<20)
		p.ProtocolPeer[id] = streams(DefaultRelayMaxCircuitsPerPeer+4, DefaultRelayMaxCircuitsPerPeer+4, 1<<20)
	}
	// Joined room members hold their streams (supernode/rooms caps them at
	// RoomJoins); requests come on top.
	p.Protocol[wire.ProtoRoom] = streams(roomJoins+n, n, 64<<20+int64(roomJoins+n)*4<<10)
	p.ProtocolPeer[wire.ProtoRoom] = streams(wire.MaxRoomsJoined+protoPeerStreams, protoPeerStreams, protoPeerMemory)
	// Every new connection runs identify; nodes ping their homes.
	busy := streams(n/4, n/4, 16<<20+int64(n)*4<<10)
	for _, svc := range []string{identify.ServiceName, ping.ServiceName, autonat.ServiceName, holepunch.ServiceName} {
		p.Service[svc] = busy
	}
	for _, id := range []protocol.ID{identify.ID, identify.IDPush, ping.ID, autonat.AutoNATProto, holepunch.Protocol} {
		p.Protocol[id] = busy
	}
	return p.Build(base)
}

// SupernodeResources returns a libp2p option that gives a host the resource
// manager of ResourceLimits(maxNodes), per-address connection limits fit for
// users behind NAT, and a connection manager that keeps maxNodes
// connections (libp2p's default trims above 192). Pass it to libp2p.New
// instead of libp2p.ResourceManager and libp2p.ConnectionManager.
func SupernodeResources(maxNodes int) (libp2p.Option, error) {
	n := nodesOrDefault(maxNodes)
	v4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: subnetConns}}
	v6 := []rcmgr.ConnLimitPerSubnet{
		{PrefixLength: 56, ConnCount: subnetConns},
		{PrefixLength: 48, ConnCount: 8 * subnetConns},
	}
	rl := rate.Limit{RPS: subnetConnRate, Burst: subnetConnBurst}
	limiter := &rate.Limiter{
		// Loopback is never limited, as in libp2p's default.
		NetworkPrefixLimits: []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			{Prefix: netip.MustParsePrefix("::1/128")},
		},
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: rl}},
			IPv6SubnetLimits: []rate.SubnetLimit{
				{PrefixLength: 56, Limit: rl},
				{PrefixLength: 48, Limit: rate.Limit{RPS: 4 * subnetConnRate, Burst: 8 * subnetConnBurst}},
			},
			GracePeriod: time.Minute,
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(ResourceLimits(n)),
		rcmgr.WithLimitPerSubnet(v4, v6),
		rcmgr.WithConnRateLimiters(limiter),
	)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	// Trim only above the inbound limit's headroom, and never a connection
	// younger than a minute (a node that just re-homed here).
	cm, err := connmgr.NewConnManager(n, n+n/8, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	return libp2p.ChainOptions(libp2p.ResourceManager(rm), libp2p.ConnectionManager(cm)), nil
}

func nodesOrDefault(maxNodes int) int {
	if maxNodes <= 0 {
		return DefaultMaxNodes
	}
	return max(maxNodes, minMaxNodes)
}
