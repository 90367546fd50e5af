// Package bundle runs a complete small EServer service in one process: the
// auth server with the supernode services beside it on one libp2p host, the
// server listing itself as a live supernode (authserver.Config.SelfSupernode).
// It is what `make run` starts when no server is configured, what eserver-auth
// runs, and what integration tests stand up.
//
// It lives apart from package authserver because it also wires in
// package supernode; authserver itself shares only the wire, ticket and
// pake packages with the rest (DESIGN.md §2).
package bundle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"eserver/authserver"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
	"eserver/supernode/client"
)

// Config configures a Service.
type Config struct {
	// Dir holds auth.db (accounts, the server key) and server.addr (the
	// dialable address, for other local clients to find). Required.
	Dir string
	// Listen are the libp2p listen multiaddrs; empty means
	// authserver.DefaultListen (TCP and QUIC on port 1864).
	Listen []string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// RegisterRate is authserver.Config.RegisterRate: accounts one address
	// may create per hour; 0 means authserver.DefaultRegisterRate, negative
	// no limit (a server only this machine can reach, or a test network
	// where every node is on 127.0.0.1).
	RegisterRate int
	// MaxFailures is authserver.Config.MaxFailures: failed logins an
	// account may have in the failure window; 0 means the default. A test
	// that kills a node mid-login again and again raises it.
	MaxFailures int
	// Regions and Moderators are authserver.Config's: the operator's
	// address ranges of regions, and the regional rooms' moderators.
	Regions    []authserver.RegionRange
	Moderators []authserver.Moderator
}

// Service is a running bundle.
type Service struct {
	Host host.Host
	Auth *authserver.Server
	*supernode.Services
	// Revocations is the revocation set the supernode services consult,
	// fed from Auth in process and kicked by each revocation there.
	Revocations *client.Revocations
	dir         string

	stopRev context.CancelFunc
	revDone chan struct{}
}

// AddrFile is the name of the file in Config.Dir holding Addr().
const AddrFile = "server.addr"

// Start opens the database, starts the host and attaches both services.
func Start(cfg Config) (*Service, error) {
	if cfg.Dir == "" {
		return nil, errors.New("bundle: Config.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = authserver.DefaultListen
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.Dir, err)
	}
	db := filepath.Join(cfg.Dir, "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		return nil, err
	}
	// The limits eserver-auth runs with: the bundled server listens on every
	// address too, and with libp2p's desktop defaults a burst of streams
	// from a score of free peer IDs takes every stream of a protocol.
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		return nil, err
	}
	h, err := pipeline.NewHost(key, cfg.Listen, res)
	if err != nil {
		return nil, err
	}
	// The supernode services run on this host too, so the server lists
	// itself: a small network needs no other process. They learn of a
	// revocation here at once, not at their next poll.
	rev := &client.Revocations{Auth: h.ID(), Logger: cfg.Logger}
	auth, err := authserver.New(authserver.Config{DBPath: db, Key: key, Logger: cfg.Logger, SelfSupernode: true,
		RegisterRate: cfg.RegisterRate, MaxFailures: cfg.MaxFailures, Regions: cfg.Regions, Moderators: cfg.Moderators, OnRevoke: func(peer.ID) { rev.Kick() }})
	if err != nil {
		h.Close()
		return nil, err
	}
	// A room's homes reach one another with the registry's addresses and
	// the server's own supernode ticket.
	roomPeers, selfTicket := client.InProcessRoomPeers(h.ID(), func() []*wire.SupernodeInfo {
		return auth.Supernodes(wire.MaxRegistryFrame - 64)
	})
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: h.ID(), MailboxDB: filepath.Join(cfg.Dir, "mailbox.db"), Revocations: rev, Logger: cfg.Logger,
		Supernodes: auth.SupernodeIDs, // a host cannot dial itself
		RoomPeers:  roomPeers, SupernodeTicket: selfTicket,
	})
	if err != nil {
		auth.Close()
		h.Close()
		return nil, err
	}
	auth.Attach(h)
	rev.Fetch = auth.SignedRevocations // a host cannot dial itself
	rev.OnRevoke = sn.Admissions.Revoke
	s := &Service{Host: h, Auth: auth, Services: sn, Revocations: rev, dir: cfg.Dir, revDone: make(chan struct{})}
	var revCtx context.Context
	revCtx, s.stopRev = context.WithCancel(context.Background())
	go func() {
		defer close(s.revDone)
		if err := rev.Serve(revCtx); err != nil {
			cfg.Logger.Error("revocations", "err", err)
		}
	}()
	if err := os.WriteFile(filepath.Join(cfg.Dir, AddrFile), []byte(s.Addr()+"\n"), 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("writing %s: %w", AddrFile, err)
	}
	return s, nil
}

// Addr returns a dialable multiaddr of the service ending in /p2p/<id>.
func (s *Service) Addr() string {
	a, err := pipeline.DialAddr(s.Host)
	if err != nil {
		return ""
	}
	return a.String()
}

// Close stops the services and the host.
func (s *Service) Close() error {
	s.stopRev()
	<-s.revDone
	snErr := s.Services.Close()
	authErr := s.Auth.Close()
	hostErr := s.Host.Close()
	return errors.Join(snErr, authErr, hostErr)
}

// Ensure returns the address of the bundled service for dir: the one another
// process already runs (found through dir/server.addr and a live listener),
// or a new one started here, which the caller must Close (svc is nil when
// the service belongs to another process).
func Ensure(ctx context.Context, cfg Config) (addr string, svc *Service, err error) {
	if a, ok := running(cfg.Dir); ok {
		return a, nil, nil
	}
	svc, err = Start(cfg)
	if err == nil {
		return svc.Addr(), svc, nil
	}
	// Another process may have won the race for the port: use it.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if a, ok := running(cfg.Dir); ok {
			return a, nil, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", nil, err
}

// running reports the address in dir/server.addr if something accepts TCP
// connections there.
func running(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, AddrFile))
	if err != nil {
		return "", false
	}
	addr := strings.TrimSpace(string(b))
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return "", false
	}
	tr, _ := ma.SplitFunc(m, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
	na, err := manet.ToNetAddr(tr)
	if err != nil || na.Network() != "tcp" {
		return "", false
	}
	c, err := net.DialTimeout("tcp", na.String(), time.Second)
	if err != nil {
		return "", false
	}
	c.Close()
	return addr, true
}
