package authserver

import (
	"fmt"
	"net"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
)

// DefaultListen is where the auth server listens when told nothing: port
// 1864 on every IPv4 address, TCP and QUIC.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/1864",
	"/ip4/0.0.0.0/udp/1864/quic-v1",
}

// NewHost builds the libp2p host the auth server (and, beside it, the
// rendezvous service) runs on, with key as its identity, listening on listen
// (DefaultListen when empty); opts come after the defaults, e.g. resource
// limits for a host serving thousands of nodes.
func NewHost(key crypto.PrivKey, listen []string, opts ...libp2p.Option) (host.Host, error) {
	if len(listen) == 0 {
		listen = DefaultListen
	}
	h, err := libp2p.New(append([]libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating libp2p host on %v: %w", listen, err)
	}
	return h, nil
}

// DialAddr returns the host's first IP listen address (TCP preferred) with
// an unspecified IP replaced by loopback, plus /p2p/<id>.
func DialAddr(h host.Host) (ma.Multiaddr, error) {
	var best ma.Multiaddr
	for _, a := range h.Network().ListenAddresses() {
		if len(a) == 0 {
			continue
		}
		switch a[0].Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
		default:
			continue // e.g. /p2p-circuit
		}
		if best == nil {
			best = a
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			best = a
			break
		}
	}
	if best == nil {
		return nil, fmt.Errorf("host listens on no IP address")
	}
	if ip := net.ParseIP(best[0].Value()); ip != nil && ip.IsUnspecified() {
		loop := "/ip4/127.0.0.1"
		if best[0].Protocol().Code == ma.P_IP6 {
			loop = "/ip6/::1"
		}
		l, err := ma.NewMultiaddr(loop)
		if err != nil {
			return nil, err
		}
		best = l.Encapsulate(best[1:])
	}
	p2p, err := ma.NewMultiaddr("/p2p/" + h.ID().String())
	if err != nil {
		return nil, err
	}
	return best.Encapsulate(p2p), nil
}
