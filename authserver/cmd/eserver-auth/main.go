// Command eserver-auth runs an EServer auth server.
//
//	eserver-auth --db FILE [--listen MULTIADDR]... [--metrics-addr HOST:PORT] [--register-rate N]
//
// Its first line on stdout is a dialable multiaddr of the server ending in
// /p2p/<peer ID>; logs go to stderr. SIGINT or SIGTERM shut it down. It also
// runs the supernode services and lists itself in its supernode registry,
// so a small community needs no other process; eserver-supernode adds more.
// With --metrics-addr it serves Prometheus metrics of the auth server and
// its supernode services at http://HOST:PORT/metrics. --register-rate N lets
// one source address (an IPv4 address, an IPv6 /64) create at most N
// accounts an hour, and one network (/24, /56) three times as many; more are
// refused with rate_limited (default 10; 0 turns the throttle off, for a
// private test network where everyone shares one address).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/authserver"
	"eserver/pipeline"
	"eserver/supernode"
	"eserver/supernode/client"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "eserver-auth:", err)
		os.Exit(1)
	}
}

func run() error {
	var listen listFlag
	db := flag.String("db", "", "SQLite file of accounts and server keys (required)")
	flag.Var(&listen, "listen", "multiaddr to listen on (repeatable; default "+strings.Join(authserver.DefaultListen, " and ")+")")
	metricsAddr := flag.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)")
	registerRate := flag.Int("register-rate", authserver.DefaultRegisterRate,
		fmt.Sprintf("accounts one address may create per hour, %d times as many per /24 or /56 (0: no limit)", authserver.RegisterPrefixFactor))
	flag.Parse()
	if *db == "" || flag.NArg() > 0 {
		flag.Usage()
		return fmt.Errorf("--db is required")
	}
	if *registerRate < 0 {
		return fmt.Errorf("--register-rate %d: must be 0 (off) or more", *registerRate)
	}
	rate := *registerRate
	if rate == 0 {
		rate = -1 // Config's zero is the default; negative is off
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	key, err := authserver.LoadOrCreateKey(*db)
	if err != nil {
		return err
	}
	// Limits sized for the thousands of nodes a supernode serves.
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		return err
	}
	if len(listen) == 0 {
		listen = authserver.DefaultListen
	}
	h, err := pipeline.NewHost(key, listen, res)
	if err != nil {
		return err
	}
	defer h.Close()

	// The supernode services run in this process too, so the server lists
	// itself among the supernodes: a small network is this one process.
	// They learn of a revocation here at once, not at their next poll.
	rev := &client.Revocations{Auth: h.ID(), Logger: log}
	srv, err := authserver.New(authserver.Config{DBPath: *db, Key: key, Logger: log, SelfSupernode: true,
		RegisterRate: rate, OnRevoke: func(peer.ID) { rev.Kick() }})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.Attach(h)

	// The supernode services (rendezvous, mailboxes, relay); the mailbox
	// database lives beside the accounts'.
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: h.ID(), MailboxDB: strings.TrimSuffix(*db, filepath.Ext(*db)) + ".mailbox.db", Revocations: rev, Logger: log,
		Supernodes: srv.SupernodeIDs, // a host cannot dial itself
	})
	if err != nil {
		return err
	}
	defer sn.Close()

	rev.Fetch = srv.SignedRevocations // a host cannot dial itself
	rev.OnRevoke = sn.Admissions.Revoke
	revCtx, stopRev := context.WithCancel(context.Background())
	var revWG sync.WaitGroup
	revWG.Go(func() {
		if err := rev.Serve(revCtx); err != nil {
			log.Error("revocations", "err", err)
		}
	})
	defer revWG.Wait()
	defer stopRev()

	if *metricsAddr != "" {
		reg, err := supernode.NewMetricsRegistry(authserver.NewMetrics(srv), supernode.NewMetrics(sn, h))
		if err != nil {
			return err
		}
		ms, err := supernode.ListenMetrics(*metricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer ms.Close()
		// stderr: the first stdout line is the multiaddr, nothing else.
		log.Info("serving metrics", "url", ms.URL())
	}

	addr, err := pipeline.DialAddr(h)
	if err != nil {
		return err
	}
	fmt.Println(addr)
	log.Info("auth server running", "peer", h.ID(), "addrs", h.Addrs())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	return nil
}
