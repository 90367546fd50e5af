// Command eserver is the EServer desktop messenger: the Fyne app (package
// app) driving an in-process node (package node). With no --server it uses
// the bundled auth server on 127.0.0.1:1864, starting it if no other profile
// on this machine has, so a newcomer can sign up and chat at once.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"eserver/app"
	"eserver/authserver/bundle"
	"eserver/internal/memstat"
	"eserver/node"
)

// version is the version this binary was built as: the Makefile sets it
// (-ldflags "-X main.version=..."), from FyneApp.toml's version and the
// commit. A plain `go build` leaves it empty; Help > About then says
// "development build".
var version string

func main() {
	profile := flag.String("profile", "default", "profile name, or a directory")
	server := flag.String("server", "", "auth server multiaddr ending in /p2p/<id> (default: the bundled local server)")
	verbose := flag.Bool("v", false, "debug logging")
	allowSupernode := flag.Bool("supernode", false, "allow this node to become a supernode when it is publicly reachable over TCP and QUIC with 2 GiB of memory free")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	stopMemstat := memstat.Install() // the memory benchmark's probe, off unless asked for
	err := run(*profile, *server, *allowSupernode, log)
	stopMemstat()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eserver:", err)
		os.Exit(1)
	}
}

func run(profile, server string, allowSupernode bool, log *slog.Logger) error {
	dir, err := node.ProfileDir(profile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The profile's settings come first: they hold what the node takes at
	// start (listening port, received-files folder). They live in the
	// profile directory, never in the Fyne app's preferences file, which
	// every profile would share; that file is only read, once, to bring
	// over the settings of earlier versions.
	fa := fyneapp.NewWithID("im.eserver.app")
	prefs, err := app.OpenPrefs(dir, fa.Preferences(), profile)
	if err != nil {
		return err
	}
	started := app.ReadStartSettings(prefs)
	if err := app.UseLanguage(started.Language); err != nil {
		log.Warn("translations", "err", err) // the app still works, in English
	}
	if started.ListenPort != 0 && !portFree(started.ListenPort) {
		// The node listens when the user signs in; a port taken by another
		// program (or profile) would fail that sign-in. Automatic ports
		// work; Options then shows the port as automatic.
		log.Warn("the chosen listening port is in use; using automatic ports", "port", started.ListenPort)
		started.ListenPort = 0
	}
	cfg := node.Config{ProfileDir: dir, Logger: log, Listen: started.Listen(), DownloadDir: started.DownloadDir}
	cfg.Supernode.Allowed = allowSupernode
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if server == "" {
		// The bundled server runs for every local profile; this one's
		// default is the server it last signed in at, if any — a
		// community's, whose replicas the node remembers too — not the
		// bundled one.
		local, err := startLocalServer(ctx, log)
		if err != nil {
			n.Close()
			return err
		}
		defer local.Close()
		server = defaultServer(n.RememberedServer(), local.addr)
	}
	a := app.New(fa, n, app.Options{DefaultServer: server, Profile: profile, ProfileDir: dir, Prefs: prefs, Started: started, Version: version, Keyring: app.SystemKeyring(dir)})
	a.Start(ctx)
	go func() {
		<-ctx.Done() // SIGINT/SIGTERM close the windows too
		fyne.Do(fa.Quit)
	}()
	fa.Run()
	stop()
	err = n.Close()
	a.Wait()
	return err
}

// defaultServer is the server the sign-in window offers when none was
// given (--server): the one this profile last signed in at (the node
// remembers its replicas with it), else the bundled one.
func defaultServer(remembered, bundled string) string {
	if remembered != "" {
		return remembered
	}
	return bundled
}

// portFree reports whether port is free on every interface for TCP and UDP.
func portFree(port int) bool {
	addr := fmt.Sprintf(":%d", port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	p, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	p.Close()
	return true
}

// localServer keeps the bundled auth server available while the app runs:
// whichever profile's process holds it, the data (accounts, the server key)
// is shared under the EServer home, so the server is the same one whoever
// started it, and when that process exits another takes over.
type localServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startLocalServer(ctx context.Context, log *slog.Logger) (*localServer, error) {
	home, err := node.HomeDir()
	if err != nil {
		return nil, err
	}
	cfg := bundle.Config{
		Dir:    filepath.Join(home, "localauth"),
		Listen: []string{"/ip4/127.0.0.1/tcp/1864", "/ip4/127.0.0.1/udp/1864/quic-v1"},
		Logger: log.With("component", "bundled-auth"),
		// Only this machine reaches it (127.0.0.1): every profile comes
		// from one address, and throttling its owner protects nothing.
		RegisterRate: -1,
	}
	addr, svc, err := bundle.Ensure(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the bundled auth server: %w", err)
	}
	if svc != nil {
		log.Info("bundled auth server started", "addr", addr)
	} else {
		log.Info("using the bundled auth server of another profile", "addr", addr)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &localServer{addr: addr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if svc != nil {
					svc.Close()
				}
				return
			case <-tick.C:
				if svc == nil {
					if _, s, err := bundle.Ensure(ctx, cfg); err == nil && s != nil {
						log.Info("took over the bundled auth server")
						svc = s
					}
				}
			}
		}
	}()
	return l, nil
}

func (l *localServer) Close() {
	l.cancel()
	<-l.done
}
