// Command eserver-node is the headless EServer node for bots, scripts and
// tests: `eserver-node [--profile NAME|DIR] daemon` speaks JSON-RPC 2.0, one
// object per line, on stdin and stdout (docs/API.md). Logs go to stderr.
//
// `eserver-node --user NAME stream send CONTACT < source` and
// `eserver-node --user NAME stream receive [--from CONTACT] > sink` sign
// in with the profile (password in $ESERVER_PASSWORD or --password-file)
// and carry stdin to the contact's stdout as a live stream, so
// `arecord | eserver-node ... stream send bob` on one side and
// `eserver-node ... stream receive | aplay` on the other is a call.
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

// flags are the command line's options.
type flags struct {
	profile, listen           *string
	verbose, allowSupernode   *bool
	user, pwFile, label, from *string
}

// newFlags defines the command line (docs/API.md shows it; a test holds
// the two together).
func newFlags() (*flag.FlagSet, flags) {
	fs := flag.NewFlagSet("eserver-node", flag.ExitOnError)
	f := flags{
		profile: fs.String("profile", "", "the profile: a name (a directory under $ESERVER_HOME/profiles, by default ~/.config/eserver/profiles on Linux) "+
			"or a directory (a path: with a slash or starting with a dot) (default: the profile named \"default\")"),
		listen:         fs.String("listen", "", "comma-separated libp2p listen multiaddrs (default: TCP and QUIC on all interfaces, random ports)"),
		verbose:        fs.Bool("v", false, "debug logging"),
		allowSupernode: fs.Bool("supernode", false, "allow this node to become a supernode when it is publicly reachable over TCP and QUIC with 2 GiB of memory free"),
		user:           fs.String("user", "", "stream: the account to sign in as"),
		pwFile:         fs.String("password-file", "", "stream: file holding the password (default: $ESERVER_PASSWORD)"),
		label:          fs.String("label", "stdin", "stream send: the label the contact sees"),
		from:           fs.String("from", "", "stream receive: take only a stream from this contact"),
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eserver-node [--profile NAME|DIR] [--listen ADDRS] [--supernode] daemon\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME [--label L] stream send CONTACT < source\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME [--from CONTACT] stream receive > sink\n\n")
		fs.PrintDefaults()
	}
	return fs, f
}

func main() {
	fs, f := newFlags()
	profile, listen, verbose, allowSupernode := f.profile, f.listen, f.verbose, f.allowSupernode
	user, pwFile, label, from := f.user, f.pwFile, f.label, f.from
	fs.Parse(os.Args[1:])
	isDaemon := fs.NArg() == 1 && fs.Arg(0) == "daemon"
	isSend := fs.NArg() == 3 && fs.Arg(0) == "stream" && fs.Arg(1) == "send"
	isReceive := fs.NArg() == 2 && fs.Arg(0) == "stream" && fs.Arg(1) == "receive"
	if !isDaemon && !isSend && !isReceive {
		fs.Usage()
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if !isDaemon {
		opt := streamOptions{profile: *profile, listen: *listen, user: *user, passwordFile: *pwFile, label: *label, from: *from}
		if isSend {
			opt.to = fs.Arg(2)
		}
		if err := runStream(opt, os.Stdin, os.Stdout, log); err != nil {
			log.Error("eserver-node stream", "err", err)
			os.Exit(1)
		}
		return
	}
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
	// Signed out before Serve returns, so that what the session's loops
	// show until they stop is written out, not dropped (rpc.SignOutAtEnd).
	return rpc.NewServer(n, log).SignOutAtEnd().Serve(ctx, os.Stdin, os.Stdout)
}
