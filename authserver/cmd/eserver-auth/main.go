// Command eserver-auth runs an EServer auth server.
//
//	eserver-auth --db FILE [--listen MULTIADDR]... [--metrics-addr HOST:PORT]
//
// Its first line on stdout is a dialable multiaddr of the server ending in
// /p2p/<peer ID>; logs go to stderr. SIGINT or SIGTERM shut it down. It also
// runs the supernode services and lists itself in its supernode registry,
// so a small community needs no other process; eserver-supernode adds more.
// With --metrics-addr it serves Prometheus metrics of the auth server and
// its supernode services at http://HOST:PORT/metrics.
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
	flag.Parse()
	if *db == "" || flag.NArg() > 0 {
		flag.Usage()
		return fmt.Errorf("--db is required")
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
		OnRevoke: func(peer.ID) { rev.Kick() }})
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
