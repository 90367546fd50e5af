// Command eserver-auth runs an EServer auth server.
//
//	eserver-auth --db FILE [--listen MULTIADDR]...
//
// Its first line on stdout is a dialable multiaddr of the server ending in
// /p2p/<peer ID>; logs go to stderr. SIGINT or SIGTERM shut it down.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"eserver/authserver"
	"eserver/supernode"
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
	h, err := authserver.NewHost(key, listen)
	if err != nil {
		return err
	}
	defer h.Close()

	srv, err := authserver.New(authserver.Config{DBPath: *db, Key: key, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.Attach(h)

	// The rendezvous runs beside the auth server until supernodes carry it;
	// nodes fall back to the auth server's own address for it.
	rv := supernode.NewRendezvous(supernode.RendezvousConfig{AuthServer: h.ID(), Logger: log})
	defer rv.Close()
	rv.Attach(h)

	addr, err := authserver.DialAddr(h)
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
