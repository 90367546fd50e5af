package benchproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode"
)

// AddrOf is ai's first address with its /p2p/ part: what a server prints
// after "ADDR " and peer.AddrInfoFromString reads back.
func AddrOf(ai peer.AddrInfo) string {
	return ai.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + ai.ID.String())).String()
}

// NewHost makes a TCP-only host listening on ip (empty: no address at all,
// reachable only through a relay). A light host — a simulated node of
// which a worker runs thousands — has no resource manager, relay or ping
// service.
func NewHost(ip string, light bool) (host.Host, error) {
	opts := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics()}
	if ip == "" {
		opts = append(opts, libp2p.NoListenAddrs, libp2p.EnableRelay())
	} else {
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/"+ip+"/tcp/0"))
	}
	if light {
		opts = append(opts, libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableRelay(), libp2p.Ping(false))
	}
	return libp2p.New(opts...)
}

// AccountAge is how old SignTicket says every account is: older than any
// room's new-account gate may ask (wire.MaxRoomMinAccountMinutes).
const AccountAge = 60 * 24 * time.Hour

// SignTicket is a node ticket for user name on h's peer ID, signed by the
// run's auth key as the auth server would sign one at login, valid for
// wire.TicketLifetime, with an account created AccountAge ago. It is
// issued a minute ago, so anything signed from now on comes after it
// whatever the encodings round.
func SignTicket(authKey crypto.PrivKey, name, device string, h host.Host) (*wire.SignedTicket, error) {
	now := time.Now().Add(-time.Minute)
	return ticket.Sign(authKey, ticket.Ticket{
		Username: name, Peer: h.ID(), Device: device, Role: ticket.RoleNode,
		Issued: now, Expiry: now.Add(wire.TicketLifetime), BoxKey: make([]byte, 32),
		AccountCreated: ticket.CoarseCreated(now.Add(-AccountAge), now),
	})
}

// PingOnce is a bare libp2p round trip, the benchmarks' baseline: a fresh
// ping stream, 32 bytes there and back, as the supernode clients open a
// fresh stream for each request.
func PingOnce(ctx context.Context, h host.Host, p peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, ping.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	var out, in [ping.PingSize]byte
	_, _ = rand.Read(out[:])
	if _, err := s.Write(out[:]); err != nil {
		_ = s.Reset()
		return err
	}
	if _, err := io.ReadFull(s, in[:]); err != nil {
		_ = s.Reset()
		return err
	}
	if in != out {
		return errors.New("ping: wrong echo")
	}
	return nil
}

// Auth is the auth server's key of a run: made by the coordinator,
// handed to the children in the environment, so every process signs and
// checks tickets of the same server without an auth server running.
type Auth struct {
	Key crypto.PrivKey
	ID  peer.ID
}

// NewAuth makes a run's auth key.
func NewAuth() (Auth, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return Auth{}, err
	}
	id, err := peer.IDFromPrivateKey(k)
	return Auth{k, id}, err
}

// Env is the environment for the run's children: this process's, with the
// key in envVar.
func (a Auth) Env(envVar string) ([]string, error) {
	raw, err := crypto.MarshalPrivateKey(a.Key)
	if err != nil {
		return nil, err
	}
	return append(os.Environ(), envVar+"="+hex.EncodeToString(raw)), nil
}

// AuthFromEnv is a child's copy of the run's auth key, from envVar.
func AuthFromEnv(envVar string) (Auth, error) {
	raw, err := hex.DecodeString(os.Getenv(envVar))
	if err != nil {
		return Auth{}, fmt.Errorf("%s: %w", envVar, err)
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return Auth{}, fmt.Errorf("%s: %w", envVar, err)
	}
	id, err := peer.IDFromPrivateKey(k)
	return Auth{k, id}, err
}

// ServerHost is a server child's host: TCP only on 127.0.0.1, with opts
// (a supernode's resource limits); Ready is the first line it prints.
func ServerHost(opts ...libp2p.Option) (host.Host, error) {
	return libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport)}, opts...)...)
}

// Ready is the line by which a server child says where it listens.
func Ready(h host.Host) string {
	return "ADDR " + AddrOf(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
}

// SupernodeHost is a server child's host with a supernode's resource
// limits for n nodes (supernode.SupernodeResources).
func SupernodeHost(n int) (host.Host, error) {
	res, err := supernode.SupernodeResources(n)
	if err != nil {
		return nil, err
	}
	return ServerHost(res)
}
