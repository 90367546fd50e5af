// Command eserver-node is the headless EServer node for bots, scripts and
// tests: `eserver-node [--profile DIR] daemon` speaks JSON-RPC 2.0, one
// object per line, on stdin and stdout (docs/API.md). Logs go to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"eserver/node"
	"eserver/node/rpc"
)

func main() {
	fs := flag.NewFlagSet("eserver-node", flag.ExitOnError)
	profile := fs.String("profile", "", "profile name or directory (default: the \"default\" profile)")
	listen := fs.String("listen", "", "comma-separated libp2p listen multiaddrs (default: TCP and QUIC on all interfaces, random ports)")
	verbose := fs.Bool("v", false, "debug logging")
	allowSupernode := fs.Bool("supernode", false, "allow this node to become a supernode when it is publicly reachable over TCP and QUIC with 2 GiB of memory free")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eserver-node [--profile DIR] [--listen ADDRS] daemon\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if fs.NArg() != 1 || fs.Arg(0) != "daemon" {
		fs.Usage()
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*profile, *listen, *allowSupernode, log); err != nil {
		log.Error("eserver-node", "err", err)
		os.Exit(1)
	}
}

func run(profile, listen string, allowSupernode bool, log *slog.Logger) error {
	dir, err := node.ProfileDir(profile)
	if err != nil {
		return err
	}
	cfg := node.Config{ProfileDir: dir, Logger: log}
	cfg.Supernode.Allowed = allowSupernode
	if listen != "" {
		cfg.Listen = strings.Split(listen, ",")
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("daemon ready", "profile", dir)
	return rpc.NewServer(n, log).Serve(ctx, os.Stdin, os.Stdout)
}
