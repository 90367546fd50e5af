package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/benchproc"
	"eserver/node/room"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode"
	snclient "eserver/supernode/client"
)

// runHome is one of the room's homes: a supernode with its services. It
// prints "ADDR <addr>", starts its services on "start <addr>,<addr>…" (every
// home's address, its own included) and exits when stdin closes.
func runHome(args []string) error {
	fs := flag.NewFlagSet("home", flag.ContinueOnError)
	n := fs.Int("n", 1000, "nodes the supernode is sized for")
	dir := fs.String("dir", "", "directory for the databases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	auth, err := benchproc.AuthFromEnv(envAuthKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	h, err := benchproc.SupernodeHost(*n)
	if err != nil {
		return err
	}
	defer h.Close()
	var svc *supernode.Services
	defer func() {
		if svc != nil {
			_ = svc.Close()
		}
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return benchproc.Serve(os.Stdin, os.Stdout, benchproc.Ready(h), func(cmd, arg string) (any, error) {
		if cmd != "start" || svc != nil {
			return nil, fmt.Errorf("unexpected command %q", cmd)
		}
		var peers []peer.AddrInfo
		for _, a := range strings.Split(arg, ",") {
			ai, err := peer.AddrInfoFromString(a)
			if err != nil {
				return nil, fmt.Errorf("home address %q: %w", a, err)
			}
			peers = append(peers, *ai)
		}
		cfg, err := homeConfig(auth, h, *dir, *n, peers, log)
		if err != nil {
			return nil, err
		}
		svc, err = supernode.StartServices(h, cfg)
		return nil, err
	})
}

// homeConfig is a home's services: the room service learns the other homes
// (every home of the run, its own address included) as a supernode learns
// the registry's list, and presents a role-supernode ticket signed by the
// run's auth key to them, as the heartbeat's would be (docs/ROOMS.md).
func homeConfig(auth benchproc.Auth, h host.Host, dir string, n int, peers []peer.AddrInfo, log *slog.Logger) (supernode.ServicesConfig, error) {
	now := time.Now().Add(-time.Minute)
	st, err := ticket.Sign(auth.Key, ticket.Ticket{Username: "operator", Peer: h.ID(), Device: "home-" + h.ID().String()[:8],
		Issued: now, Expiry: now.Add(wire.TicketLifetime), Role: ticket.RoleSupernode})
	if err != nil {
		return supernode.ServicesConfig{}, err
	}
	return supernode.ServicesConfig{AuthServer: auth.ID, MailboxDB: filepath.Join(dir, "mailbox.db"), MaxNodes: n, Logger: log,
		RoomPeers:       func(context.Context) ([]peer.AddrInfo, error) { return peers, nil },
		SupernodeTicket: func() *wire.SignedTicket { return st }}, nil
}

// createRoom has the owner, a host of the coordinator's own, create the
// room at its primary home: public, so the directory lists it, and with the
// flood limit off, so the sends are not refused whoever makes them.
func createRoom(ctx context.Context, authKey crypto.PrivKey, primary string) error {
	ai, err := peer.AddrInfoFromString(primary)
	if err != nil {
		return err
	}
	h, err := benchproc.NewHost("127.0.0.1", true)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		return err
	}
	st, err := benchproc.SignTicket(authKey, ownerName, device, h)
	if err != nil {
		return err
	}
	key := h.Peerstore().PrivKey(h.ID())
	if key == nil {
		return errors.New("no host key")
	}
	op, err := room.Sign(key, st, room.Create(roomName, ownerName, time.Now(), "the benchmark's room", room.Modes{Public: true, FloodOff: true}))
	if err != nil {
		return err
	}
	_, err = snclient.SubmitRoomOp(ctx, h, ai.ID, st, op)
	return err
}
