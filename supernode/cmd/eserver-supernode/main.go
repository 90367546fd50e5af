// Command eserver-supernode runs an EServer supernode for a community: it
// signs in at the community's auth server with an operator account, runs
// the supernode services (rendezvous; mailboxes) on its own libp2p host, and
// heartbeats to the auth server's registry so that nodes find it.
//
//	eserver-supernode --profile DIR --server MULTIADDR --username NAME --password-file FILE [--listen MULTIADDR]... [--metrics-addr HOST:PORT]
//
// The host key lives in DIR/supernode.key (created on first start, mode
// 0600), so the supernode's peer ID is stable across restarts. Its first
// line on stdout is a dialable multiaddr ending in /p2p/<peer ID>; logs go
// to stderr. SIGINT or SIGTERM shut it down. With --metrics-addr it serves
// Prometheus metrics at http://HOST:PORT/metrics.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
	"eserver/supernode/client"
)

// DefaultListen is where a supernode listens when told nothing: port 1865
// on every IPv4 address, TCP and QUIC.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/1865",
	"/ip4/0.0.0.0/udp/1865/quic-v1",
}

// KeyFile is the name of the host key file in the profile directory.
const KeyFile = "supernode.key"

// Device is the device name on the operator ticket a supernode holds.
const Device = "supernode"

// retryDelay is how long to wait before retrying a failed sign-in or
// renewal; the auth server may be restarting.
const retryDelay = 5 * time.Second

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eserver-supernode:", err)
		os.Exit(1)
	}
}

// options are the parsed command line.
type options struct {
	profile      string
	server       peer.AddrInfo
	username     string
	passwordFile string
	listen       []string
	metricsAddr  string // empty: no metrics server
	uploadRate   int64  // relay upload cap in bytes/s; 0: none
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("eserver-supernode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var listen listFlag
	profile := fs.String("profile", "", "directory for the host key and the supernode's databases (required)")
	server := fs.String("server", "", "the auth server's multiaddr ending in /p2p/<peer ID> (required)")
	username := fs.String("username", "", "operator account at the auth server (required)")
	pwFile := fs.String("password-file", "", "file holding the operator account's password (required)")
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default "+strings.Join(DefaultListen, " and ")+")")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)")
	uploadRate := fs.Int64("upload-rate", 0, "cap what the relay sends on all circuits together, in bytes per second (default 0: no cap)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *uploadRate < 0 {
		return nil, fmt.Errorf("--upload-rate %d: want 0 (no cap) or more bytes per second", *uploadRate)
	}
	if *profile == "" || *server == "" || *username == "" || *pwFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, errors.New("--profile, --server, --username and --password-file are required")
	}
	ai, err := login.ParseServer(*server)
	if err != nil {
		return nil, err
	}
	if len(listen) == 0 {
		listen = DefaultListen
	}
	return &options{profile: *profile, server: ai, username: *username, passwordFile: *pwFile, listen: listen, metricsAddr: *metricsAddr, uploadRate: *uploadRate}, nil
}

// readPassword reads the password file, trimmed of surrounding whitespace
// (editors add a final newline). It is read at each sign-in rather than kept
// in memory.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return pw, nil
}

// loadOrCreateKey returns the host key in path, creating it (mode 0600) the
// first time.
func loadOrCreateKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading host key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating host key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding host key: %w", err)
	}
	// Write then rename, so a crash never leaves a truncated key behind.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".supernode.key-*")
	if err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	// Link, not rename: if another process created the key meanwhile, use
	// theirs rather than replacing it.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadOrCreateKey(path)
		}
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	return k, nil
}

// run is the whole program; it returns when ctx ends (nil) or on a fatal
// error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if _, err := readPassword(opt.passwordFile); err != nil {
		return err
	}
	if err := os.MkdirAll(opt.profile, 0o700); err != nil {
		return fmt.Errorf("creating profile directory: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(opt.profile, KeyFile))
	if err != nil {
		return err
	}
	// Limits sized for the thousands of nodes a supernode serves.
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		return err
	}
	h, err := pipeline.NewHost(key, opt.listen, res)
	if err != nil {
		return err
	}
	defer h.Close()
	// Heartbeats redial the auth server by peer ID after a restart of it.
	h.Peerstore().AddAddrs(opt.server.ID, opt.server.Addrs, peerstore.PermanentAddrTTL)

	// Sign in first, so a wrong password fails before anything is announced.
	cred := &credentials{h: h, opt: opt, log: log}
	if err := cred.signIn(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	// The services, attached to h and closed on the way out. They refuse
	// the tickets of devices revoked at the auth server, polled below.
	rev := &client.Revocations{Auth: opt.server.ID, Host: h, Ticket: cred.signed, Logger: log}
	// The heartbeater runs below; its supernode ticket is what the room
	// homes present to one another.
	hb := &client.Heartbeater{Host: h, Auth: opt.server.ID, Ticket: cred.signed, Logger: log}
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: opt.server.ID, MailboxDB: filepath.Join(opt.profile, "mailbox.db"), Revocations: rev,
		UploadRate: opt.uploadRate, Logger: log,
		// The registry's list, so mail is taken only for mailboxes homed here.
		Supernodes: client.SupernodeLister(h, opt.server.ID, cred.signed),
		// The same list with addresses: a room's homes reach one another.
		RoomPeers:       client.RoomPeerLister(h, opt.server.ID, cred.signed),
		SupernodeTicket: client.SignedSupernodeTicket(hb),
	})
	if err != nil {
		return err
	}
	defer sn.Close()
	rev.OnRevoke = sn.Admissions.Revoke

	if opt.metricsAddr != "" {
		reg, err := supernode.NewMetricsRegistry(supernode.NewMetrics(sn, h))
		if err != nil {
			return err
		}
		ms, err := supernode.ListenMetrics(opt.metricsAddr, reg, log)
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
	fmt.Fprintln(stdout, addr)
	log.Info("supernode running", "peer", h.ID(), "addrs", h.Addrs(), "auth", opt.server.ID, "operator", opt.username)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := hb.Serve(ctx); err != nil {
			log.Error("heartbeater stopped", "err", err)
		}
	})
	wg.Go(func() { cred.renewLoop(ctx) })
	wg.Go(func() {
		if err := rev.Serve(ctx); err != nil {
			log.Error("revocations stopped", "err", err)
		}
	})

	<-ctx.Done()
	log.Info("shutting down")
	cancel()
	wg.Wait()
	return nil
}

// credentials holds the operator's current device ticket and keeps it
// fresh: renewal at three quarters of its life, and a full sign-in with the
// password file when renewal is refused (say, the ticket already expired
// while the auth server was down).
type credentials struct {
	h   host.Host
	opt *options
	log *slog.Logger

	mu sync.Mutex
	t  *ticket.Ticket
}

func (c *credentials) current() *ticket.Ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// signed is the current ticket in wire form, for the Heartbeater.
func (c *credentials) signed() *wire.SignedTicket {
	if t := c.current(); t != nil {
		return t.Signed
	}
	return nil
}

// signIn logs in with the password file, retrying while the auth server is
// unreachable (it may start after us); a refused password is fatal.
func (c *credentials) signIn(ctx context.Context) error {
	for {
		pw, err := readPassword(c.opt.passwordFile)
		if err != nil {
			return err
		}
		lctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
		res, err := login.Login(lctx, c.h, c.opt.server, login.Request{Username: c.opt.username, Password: pw, Device: Device})
		cancel()
		if err == nil {
			c.mu.Lock()
			c.t = res.Ticket
			c.mu.Unlock()
			c.log.Info("signed in", "operator", c.opt.username, "expiry", res.Ticket.Expiry)
			return nil
		}
		if !errors.Is(err, login.ErrUnreachable) && !errors.Is(err, login.ErrRateLimited) {
			return fmt.Errorf("signing in as %s: %w", c.opt.username, err)
		}
		c.log.Warn("signing in failed; retrying", "err", err, "in", retryDelay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryDelay):
		}
	}
}

// renewLoop renews the ticket at three quarters of its lifetime until ctx
// ends.
func (c *credentials) renewLoop(ctx context.Context) {
	for {
		old := c.current()
		at := old.Issued.Add(old.Expiry.Sub(old.Issued) * 3 / 4)
		timer := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		rctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
		res, err := login.Renew(rctx, c.h, c.opt.server, old)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && res.Ticket.Expiry.After(old.Expiry):
			c.mu.Lock()
			c.t = res.Ticket
			c.mu.Unlock()
			c.log.Info("ticket renewed", "expiry", res.Ticket.Expiry)
			continue
		case err == nil:
			c.log.Warn("renewed ticket expires no later than the old one", "old", old.Expiry, "new", res.Ticket.Expiry)
		case errors.Is(err, login.ErrLoginFailed):
			// The server no longer accepts the ticket: sign in afresh.
			c.log.Warn("renewal refused; signing in again", "err", err)
			if err := c.signIn(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("signing in again", "err", err)
			} else {
				continue
			}
		default:
			c.log.Warn("renewing the ticket", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryDelay):
			// The renewal time has passed: the next turn tries again at once.
		}
	}
}
