// Command eserver-auth runs an EServer auth server.
//
//	eserver-auth --db FILE|URL [--key-file PATH] [--mailbox-db FILE] [--listen MULTIADDR]... [--metrics-addr HOST:PORT] [--register-rate N] [--region CIDR=CODE]... [--moderator USER=CODE]...
//	eserver-auth init --key-file PATH
//	eserver-auth migrate --from FILE --to URL
//
// migrate copies a SQLite auth database (--from, only read: a server may
// still be running on it, but what it writes after the copy began stays
// behind) into an empty PostgreSQL database (--to), in one transaction:
// the server's keys, accounts, identities, devices and the revocation log,
// so every account logs in on the new database with its old password and
// every ticket issued stays valid. The source must be at this program's
// schema version (start this program's server on it once first); a
// destination that holds anything is refused.
//
// --db is where accounts and the server's keys live: a SQLite file (a path,
// or sqlite:PATH), or a PostgreSQL database (a postgres:// or
// postgresql:// URL), which several servers may share. The supernode
// services' mailboxes are a SQLite file of this process's own: beside a
// SQLite --db by default (auth.db: auth.mailbox.db), named with --mailbox-db, which
// a PostgreSQL --db requires.
//
// The server's host key signs every ticket; its peer ID is the identity
// nodes and supernodes verify tickets against. By default it is kept in the
// database, made the first time. Several replicas sharing one PostgreSQL
// database must sign with one key: "eserver-auth init --key-file PATH"
// makes it once (mode 0600; it refuses to replace an existing file, which
// would invalidate every ticket) and prints the peer ID; the operator copies
// the file to each replica, which runs with --key-file PATH. A key file
// that is missing, malformed, not Ed25519 or open to other users is an
// error at start, before the database is opened.
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
//
// Every ticket comes with a region pass, signed apart from it, for the
// region (an ISO 3166-1 alpha-2 country code) of the address its login or
// renewal came from, from an embedded country database; loopback and
// private addresses have none, and get no pass. --region CIDR=CODE,
// repeatable, places a range in a region whatever the database says (the
// longest prefix wins among them), e.g. --region 10.8.0.0/16=ES for a LAN in
// Spain, or ranges of 127.0.0.0/8 for a test network of several "countries".
// A bad range or code, or a range given twice, is an error at start.
//
// Regional chat rooms have no owner: --moderator USER=CODE, repeatable,
// makes USER a moderator of the regional room of CODE (e.g. alice=ES), signed
// into their tickets from their next login or renewal; removing the flag
// withdraws it as their tickets expire, within a day.
package main

import (
	"context"
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

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/authserver"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode"
	"eserver/supernode/client"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "eserver-auth:", err)
		os.Exit(1)
	}
}

// options are the command line, checked.
type options struct {
	db           string
	keyFile      string // "": the key in the database
	mailboxDB    string
	listen       []string
	metricsAddr  string
	registerRate int // as authserver.Config.RegisterRate: negative is off
	regions      []authserver.RegionRange
	moderators   []authserver.Moderator
}

// parseArgs parses and checks the command line (without the program
// name); usage and flag errors go to out.
func parseArgs(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("eserver-auth", flag.ContinueOnError)
	fs.SetOutput(out)
	var listen, regions, moderators listFlag
	db := fs.String("db", "", "accounts and server keys: a SQLite file (PATH or sqlite:PATH) or a postgres:// URL (required)")
	keyFile := fs.String("key-file", "", "the host key made by 'eserver-auth init', shared by replicas (default: the key in the database)")
	mailboxDB := fs.String("mailbox-db", "", "SQLite file of the supernode services' mailboxes (default: beside a SQLite --db; required with a PostgreSQL one)")
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default "+strings.Join(authserver.DefaultListen, " and ")+")")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)")
	registerRate := fs.Int("register-rate", authserver.DefaultRegisterRate,
		fmt.Sprintf("accounts one address may create per hour, %d times as many per /24 or /56 (0: no limit)", authserver.RegisterPrefixFactor))
	fs.Var(&regions, "region", "CIDR=CODE: logins from this range get a region pass for this region (ISO 3166-1 alpha-2 code), "+
		"whatever the country database says; repeatable, the longest prefix wins")
	fs.Var(&moderators, "moderator", "USER=CODE: USER moderates the regional chat room of CODE (ISO 3166-1 alpha-2); repeatable")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if *db == "" || fs.NArg() > 0 {
		fs.Usage()
		return options{}, fmt.Errorf("--db is required")
	}
	if *registerRate < 0 {
		return options{}, fmt.Errorf("--register-rate %d: must be 0 (off) or more", *registerRate)
	}
	src, err := authserver.ParseDB(*db)
	if err != nil {
		return options{}, fmt.Errorf("--db: %w", err)
	}
	o := options{db: *db, keyFile: *keyFile, mailboxDB: *mailboxDB, listen: listen, metricsAddr: *metricsAddr, registerRate: *registerRate}
	if o.mailboxDB == "" {
		if src.Engine != authserver.SQLite {
			return options{}, fmt.Errorf("--mailbox-db is required with a %s --db: the mailboxes are a SQLite file of this process", src.Engine)
		}
		o.mailboxDB = strings.TrimSuffix(src.Path, filepath.Ext(src.Path)) + ".mailbox.db"
	}
	if o.registerRate == 0 {
		o.registerRate = -1 // Config's zero is the default; negative is off
	}
	rs, err := authserver.ParseRegionRanges(regions)
	if err != nil {
		return options{}, fmt.Errorf("--region: %w", err)
	}
	o.regions = rs
	for _, m := range moderators {
		g, err := authserver.ParseModerator(m)
		if err != nil {
			return options{}, fmt.Errorf("--moderator: %w", err)
		}
		o.moderators = append(o.moderators, g)
	}
	return o, nil
}

// runInit is "eserver-auth init --key-file PATH": it makes the server's
// host key in a new file and prints the server's peer ID.
func runInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eserver-auth init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key-file", "", "where to write the new host key (required; an existing file is never replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("init: --key-file is required")
	}
	k, err := authserver.CreateKeyFile(*keyFile)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintln(stdout, id)
	return nil
}

// loadKey is the server's host key: from the key file when one is given,
// else from the database (made there the first time).
func loadKey(o options) (crypto.PrivKey, error) {
	if o.keyFile == "" {
		return authserver.LoadOrCreateKey(o.db)
	}
	k, err := authserver.LoadKeyFile(o.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	return k, nil
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "init":
			return runInit(args[1:], os.Stdout, os.Stderr)
		case "migrate":
			return runMigrate(args[1:])
		}
	}
	o, err := parseArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	key, err := loadKey(o)
	if err != nil {
		return err
	}
	// Limits sized for the thousands of nodes a supernode serves.
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		return err
	}
	if len(o.listen) == 0 {
		o.listen = authserver.DefaultListen
	}
	h, err := pipeline.NewHost(key, o.listen, res)
	if err != nil {
		return err
	}
	defer h.Close()

	// The supernode services run in this process too, so the server lists
	// itself among the supernodes: a small network is this one process.
	// They learn of a revocation here at once, not at their next poll.
	rev := &client.Revocations{Auth: h.ID(), Logger: log}
	srv, err := authserver.New(authserver.Config{DBPath: o.db, Key: key, Logger: log, SelfSupernode: true,
		RegisterRate: o.registerRate, Regions: o.regions, Moderators: o.moderators, OnRevoke: func(peer.ID) { rev.Kick() }})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.Attach(h)

	// The supernode services (rendezvous, mailboxes, relay); the mailbox
	// database lives beside the accounts'.
	// A room's homes reach one another with the registry's addresses and
	// the server's own supernode ticket.
	roomPeers, selfTicket := client.InProcessRoomPeers(h.ID(), func() []*wire.SupernodeInfo {
		return srv.Supernodes(wire.MaxRegistryFrame - 64)
	})
	sn, err := supernode.StartServices(h, supernode.ServicesConfig{
		AuthServer: h.ID(), MailboxDB: o.mailboxDB, Revocations: rev, Logger: log,
		Supernodes: srv.SupernodeIDs, // a host cannot dial itself
		RoomPeers:  roomPeers, SupernodeTicket: selfTicket,
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

	if o.metricsAddr != "" {
		reg, err := supernode.NewMetricsRegistry(authserver.NewMetrics(srv), supernode.NewMetrics(sn, h))
		if err != nil {
			return err
		}
		ms, err := supernode.ListenMetrics(o.metricsAddr, reg, log)
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
	log.Info("auth server running", "peer", h.ID(), "addrs", h.Addrs(), "replica", srv.ReplicaID())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	return nil
}
