package pipeline

import (
	"errors"
	"fmt"
	"net"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
)

// NewHost builds the libp2p host a server's listeners run on (the auth
// server's, a supernode's), with key as its identity, listening on listen;
// opts come after the defaults, e.g. resource limits for a host serving
// thousands of nodes. listen is required: each server has its own default
// port (authserver.DefaultListen, the supernode's 1865).
func NewHost(key crypto.PrivKey, listen []string, opts ...libp2p.Option) (host.Host, error) {
	if len(listen) == 0 {
		return nil, errors.New("creating libp2p host: no listen address")
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
