package supernode

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// prekeysDomain separates prekey owner IDs from any other hash of a
// username (contact lists, mailboxes).
const prekeysDomain = "eserver-prekeys-owner-v1"

// Defaults for the zero values of PrekeysConfig, and the sweeper's period.
//
// One-time prekeys are a drainable resource: every fetch takes one from
// each device of the user asked for. One fetch per second per account, with
// bursts of 30, lets a node start sessions with a freshly restored contact
// list at once and keeps any one account from draining a device faster than
// its owner tops up (a node checks on sign-in and after each publish). When
// a device is drained anyway, sessions still start on its signed prekeys,
// only without the one-time key's extra forward secrecy for the first
// message.
const (
	DefaultPrekeysRate   = rate.Limit(1)
	DefaultPrekeysBurst  = 30
	PrekeysSweepInterval = 10 * time.Minute
)

// PrekeysOwnerID is the key under which the devices of username on the
// network of the auth server server keep their prekeys: SHA-256 over a
// domain label, the server's peer ID bytes, a 0 byte and the username.
// It is the only trace of a username in the prekey database, which keeps no
// tickets (see Prekeys).
func PrekeysOwnerID(server peer.ID, username string) []byte {
	h := sha256.New()
	h.Write([]byte(prekeysDomain))
	h.Write([]byte(server))
	h.Write([]byte{0})
	h.Write([]byte(username))
	return h.Sum(nil)
}

// PrekeysConfig configures a Prekeys service. Zero values are documented
// defaults.
type PrekeysConfig struct {
	// DBPath is the SQLite file holding the prekeys; it is created if
	// missing. Required.
	DBPath string
	// AuthServer is the auth server whose tickets are accepted. Required.
	AuthServer peer.ID
	// Revocations, if set, refuses tickets of revoked devices even
	// before they expire; nil revokes none.
	Revocations *client.Revocations
	// Now is the clock for tickets, entry expiry and rate limits; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives per-stream diagnostics; nil discards them.
	Logger *slog.Logger
	// Rate and Burst bound the requests (publishes, fetches and status
	// checks together) of one account; zero means 1 per second with bursts
	// of 30 (see DefaultPrekeysRate).
	Rate  rate.Limit
	Burst int
	// MaxBytes bounds what all entries together take on disk (bundles and
	// one-time prekeys, with a per-row overhead); zero means
	// CapsFor(0).PrekeyBytes.
	MaxBytes int64
}

// PrekeysStats are the prekey service's counters since it started.
type PrekeysStats struct {
	Publishes           uint64 // publishes stored
	Fetches             uint64 // fetches answered
	OneTimeHandedOut    uint64 // one-time prekeys handed out (and deleted)
	OneTimeExhausted    uint64 // device entries fetched with no one-time prekey left
	OneTimeKEMHandedOut uint64 // one-time KEM prekeys handed out (and deleted)
	OneTimeKEMExhausted uint64 // device entries fetched with no one-time KEM prekey left
	RateLimited         uint64 // requests refused: the account's rate
	PublishesFull       uint64 // publishes refused: all entries together hold the global cap
	RevokedDropped      uint64 // entries of revoked devices deleted
}

type pkStats struct {
	publishes, fetches, handedOut, exhausted, kemHandedOut, kemExhausted, rateLimited, revoked atomic.Uint64
	full                                                                                       atomic.Uint64
}

// Prekeys serves wire.ProtoPrekeys: the prekey directory. Each device
// publishes its signed prekey bundle and batches of one-time prekeys (X25519
// and ML-KEM) under its ticket; any ticket holder, stranger or contact alike
// (contact requests go to strangers), fetches a user's bundles, and every
// fetch hands out at most one one-time prekey of each kind per device,
// deleting it, so no key is handed out twice.
//
// An entry lives as long as the ticket it was published with, or
// wire.PrekeyBundleTTL after its last publish if that is later. A bundle is
// signed by the device's identity key, which the fetcher checks against
// the device's ticket (expired or not: the ticket binds the key to the
// account), so it needs no live ticket here; cutting entries at the ticket's
// expiry made every session start to a contact away for more than a day
// fall back to static keys. What a live ticket did guard against, a
// revoked device, is checked on its own: entries of devices the revocation
// list names are deleted, at fetch and by the sweeper.
//
// The database is blind: an entry is keyed by PrekeysOwnerID (a hash of the
// username) and the device's peer ID, and keeps the ticket's expiry but not
// the ticket, so no username or device name reaches the disk. Fetchers need
// no ticket from here: they hold the contact's ticket already (the
// rendezvous hands tickets to anyone), pick the entry whose peer ID the
// ticket names, and check the bundle's signature against that device's key.
// The supernode can neither read nor verify bundles.
type Prekeys struct {
	cfg PrekeysConfig
	log *slog.Logger
	db  *prekeysDB

	lim *buckets // per account

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.PrekeysRequest, *wire.PrekeysResponse]

	// The sweeper runs until stop is cancelled; swept is closed when it ends.
	stop  context.CancelFunc
	swept chan struct{}
	// revSerial is the revocation serial the last sweep of revoked
	// devices saw (the sweeper's alone).
	revSerial atomic.Uint64

	stats pkStats
}

// NewPrekeys opens the database at cfg.DBPath and starts the sweeper of
// expired entries; Attach it to a host to serve, Close it to stop.
func NewPrekeys(cfg PrekeysConfig) (*Prekeys, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultPrekeysRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultPrekeysBurst
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = CapsFor(0).PrekeyBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthServer == "" {
		return nil, errors.New("prekeys: no auth server configured")
	}
	db, err := openPrekeysDB(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("prekeys: opening %s: %w", cfg.DBPath, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &Prekeys{
		cfg:   cfg,
		log:   log.With("service", "prekeys"),
		db:    db,
		lim:   newBuckets(cfg.Rate, cfg.Burst),
		stop:  stop,
		swept: make(chan struct{}),
	}
	p.listen = pipeline.NewListener(p.log)
	p.rpc = &pipeline.Service[*wire.PrekeysRequest, *wire.PrekeysResponse]{
		Protocol:    wire.ProtoPrekeys,
		MaxRequest:  wire.MaxPrekeysFrame,
		Budget:      pipeline.NewServiceBudget(wire.PrekeysBudget, wire.MaxPrekeysFrame),
		Timeout:     wire.PrekeysTimeout,
		Auth:        authenticator(cfg.AuthServer, cfg.Now, cfg.Revocations),
		Credentials: prekeysCredentials,
		Process:     p.process,
		Refuse:      refuseWith[*wire.PrekeysRequest](prekeysFailed),
		Log:         p.log,
	}
	go p.sweeper(ctx)
	return p, nil
}

// Attach serves the prekeys protocol on h until Close. Attaching after
// Close does nothing.
func (p *Prekeys) Attach(h host.Host) {
	serveOn(p.listen, h, p.rpc.Protocol, p.rpc.Timeout, p.serve)
}

// Close stops serving on every attached host, resets the streams in flight,
// waits for their handlers and the sweeper, and closes the database.
// Publishes already acknowledged, and the deletion of every one-time prekey
// already handed out, are on disk.
func (p *Prekeys) Close() error {
	if !p.listen.Close() {
		return nil
	}
	p.stop()
	<-p.swept
	if err := p.db.close(); err != nil {
		return fmt.Errorf("prekeys: closing database: %w", err)
	}
	return nil
}

// Count returns how many device entries and one-time prekeys are stored,
// including expired entries the sweeper has not deleted yet.
func (p *Prekeys) Count() (devices, oneTime int, err error) {
	devices, oneTime, _, err = p.db.count()
	if err != nil {
		return 0, 0, fmt.Errorf("prekeys: %w", err)
	}
	return devices, oneTime, nil
}

// CountKEM returns how many one-time KEM prekeys are stored, including
// those of expired entries the sweeper has not deleted yet.
func (p *Prekeys) CountKEM() (int, error) {
	_, _, n, err := p.db.count()
	if err != nil {
		return 0, fmt.Errorf("prekeys: %w", err)
	}
	return n, nil
}

// OneTimeLeft returns how many one-time prekeys the device dev of username
// has stored; found is false when it has no live entry.
func (p *Prekeys) OneTimeLeft(username string, dev peer.ID) (left int, found bool, err error) {
	st, found, err := p.db.status(PrekeysOwnerID(p.cfg.AuthServer, username), []byte(dev), p.cfg.Now())
	if err != nil {
		return 0, false, fmt.Errorf("prekeys: %w", err)
	}
	return st.left, found, nil
}

// OneTimeKEMLeft returns how many one-time KEM prekeys the device dev of
// username has stored; found is false when it has no live entry.
func (p *Prekeys) OneTimeKEMLeft(username string, dev peer.ID) (left int, found bool, err error) {
	st, found, err := p.db.status(PrekeysOwnerID(p.cfg.AuthServer, username), []byte(dev), p.cfg.Now())
	if err != nil {
		return 0, false, fmt.Errorf("prekeys: %w", err)
	}
	return st.leftKEM, found, nil
}

// Stats returns the prekey counters.
func (p *Prekeys) Stats() PrekeysStats {
	return PrekeysStats{
		Publishes:           p.stats.publishes.Load(),
		Fetches:             p.stats.fetches.Load(),
		OneTimeHandedOut:    p.stats.handedOut.Load(),
		OneTimeExhausted:    p.stats.exhausted.Load(),
		OneTimeKEMHandedOut: p.stats.kemHandedOut.Load(),
		OneTimeKEMExhausted: p.stats.kemExhausted.Load(),
		RateLimited:         p.stats.rateLimited.Load(),
		PublishesFull:       p.stats.full.Load(),
		RevokedDropped:      p.stats.revoked.Load(),
	}
}

// revoked reports whether the device with binary peer ID raw was revoked.
func (p *Prekeys) revoked(raw []byte) bool {
	if p.cfg.Revocations == nil {
		return false
	}
	id, err := peer.IDFromBytes(raw)
	return err == nil && p.cfg.Revocations.Revoked(id)
}

// Sweep deletes the entries that have expired, with their one-time
// prekeys, and — when the revocation list changed since the last sweep —
// those of revoked devices, and forgets idle rate limiters; it returns how
// many entries it deleted. The sweeper calls it at start and every
// PrekeysSweepInterval; expired entries are never served even before they
// are swept, nor are revoked devices' (fetch checks each).
//
// The revocation list forgets a device once its last ticket has expired,
// while its entry may be served for up to wire.PrekeyBundleTTL more: the
// sweep after a revocation is what makes sure the entry goes first.
func (p *Prekeys) Sweep(ctx context.Context) (int, error) {
	now := p.cfg.Now()
	n, err := p.db.sweep(ctx, now)
	p.lim.sweep(now)
	if err != nil {
		return int(n), fmt.Errorf("prekeys: sweep: %w", err)
	}
	if rev := p.cfg.Revocations; rev != nil {
		if serial := rev.Serial(); serial != p.revSerial.Load() {
			gone, err := p.db.sweepRevoked(ctx, p.revoked)
			p.stats.revoked.Add(uint64(gone))
			n += gone
			if err != nil {
				return int(n), fmt.Errorf("prekeys: sweep: %w", err)
			}
			p.revSerial.Store(serial)
		}
	}
	return int(n), nil
}

// sweeper runs Sweep at start and then periodically until ctx ends.
func (p *Prekeys) sweeper(ctx context.Context) {
	runSweeper(ctx, PrekeysSweepInterval, p.log, "expired prekeys", p.swept, p.Sweep)
}

// serve reads one request from rw, sent by the authenticated remote peer,
// and writes the answer. An error means the stream should be reset: the
// request could not be read, the store failed, or the answer could not be
// written. Requests that decode but are refused get an error code instead.
func (p *Prekeys) serve(rw io.ReadWriter, remote peer.ID) error {
	return p.rpc.Serve(p.listen.Context(), rw, remote, nil)
}

// prekeysCredentials is what each request presents: its ticket.
func prekeysCredentials(req *wire.PrekeysRequest) (pipeline.Credential, error) {
	switch k := req.GetKind().(type) {
	case *wire.PrekeysRequest_Publish:
		return pipeline.Ticket(k.Publish.GetTicket()), nil
	case *wire.PrekeysRequest_Fetch:
		return pipeline.Ticket(k.Fetch.GetTicket()), nil
	case *wire.PrekeysRequest_Status:
		return pipeline.Ticket(k.Status.GetTicket()), nil
	}
	return pipeline.Credential{}, errUnknownKind
}

// process is the process stage for one authenticated request.
func (p *Prekeys) process(_ context.Context, r *pipeline.Request[*wire.PrekeysRequest]) (*wire.PrekeysResponse, error) {
	now := p.cfg.Now()
	req, who, remote := r.Msg, r.Ticket, r.Remote
	var err error

	// A malformed request costs no token, so a buggy client learns what is
	// wrong at once rather than after its bucket empties.
	var pub prekeyPublish
	switch k := req.GetKind().(type) {
	case *wire.PrekeysRequest_Publish:
		if pub, err = p.checkPublish(who, k.Publish, now); err != nil {
			p.log.Debug("publish refused", "peer", remote, "err", err)
			return prekeysFailed(wire.CodeBadRequest), nil
		}
	case *wire.PrekeysRequest_Fetch:
		if n := len(k.Fetch.GetUsername()); n == 0 || n > wire.MaxUsername {
			p.log.Debug("fetch refused", "peer", remote, "username_len", n)
			return prekeysFailed(wire.CodeBadRequest), nil
		}
	}
	if !p.lim.allow(who.Username, now) {
		p.stats.rateLimited.Add(1)
		p.log.Debug("rate limited", "peer", remote)
		return prekeysFailed(wire.CodeRateLimited), nil
	}

	switch k := req.GetKind().(type) {
	case *wire.PrekeysRequest_Publish:
		left, leftKEM, err := p.db.publish(pub, now, wire.MaxPrekeyDevices, wire.MaxOneTimeStored, wire.MaxOneTimeKEMStored, p.cfg.MaxBytes)
		if errors.Is(err, errPrekeysFull) {
			p.stats.full.Add(1)
			p.log.Debug("publish refused: prekey directory full", "peer", remote)
			return prekeysFailed(wire.CodeFull), nil
		}
		if err != nil {
			return nil, fmt.Errorf("storing prekeys: %w", err)
		}
		p.stats.publishes.Add(1)
		return &wire.PrekeysResponse{OneTimeLeft: uint32(left), OneTimeKemLeft: uint32(leftKEM)}, nil
	case *wire.PrekeysRequest_Fetch:
		return p.fetch(k.Fetch.GetUsername(), remote, now)
	default:
		st, found, err := p.db.status(PrekeysOwnerID(p.cfg.AuthServer, who.Username), []byte(remote), now)
		if err != nil {
			return nil, fmt.Errorf("reading prekey status: %w", err)
		}
		if !found {
			return &wire.PrekeysResponse{}, nil
		}
		return &wire.PrekeysResponse{Found: true, OneTimeLeft: uint32(st.left), OneTimeKemLeft: uint32(st.leftKEM),
			ExpiryUnix: st.expiry.Unix()}, nil
	}
}

// checkPublish checks pub against the limits and returns it ready to store
// for the device who (the verified ticket of the stream's peer) at now.
func (p *Prekeys) checkPublish(who *ticket.Ticket, pub *wire.PrekeysPublish, now time.Time) (prekeyPublish, error) {
	if err := client.CheckPrekeys(pub.GetBundle(), pub.GetOneTime()); err != nil {
		return prekeyPublish{}, err
	}
	if err := client.CheckOneTimeKEM(pub.GetOneTimeKem()); err != nil {
		return prekeyPublish{}, err
	}
	// The ticket is not stored (the database holds no usernames): only its
	// owner hash, its device and the entry's end, which the ticket's expiry
	// bounds from below.
	if n := len(who.Peer); n == 0 || n > client.MaxPrekeyPeerID {
		return prekeyPublish{}, fmt.Errorf("peer ID of %d bytes (limit %d)", n, client.MaxPrekeyPeerID)
	}
	return prekeyPublish{
		owner:   PrekeysOwnerID(p.cfg.AuthServer, who.Username),
		peer:    []byte(who.Peer),
		expiry:  later(who.Expiry, now.Add(wire.PrekeyBundleTTL)),
		bundle:  pub.GetBundle(),
		oneTime: pub.GetOneTime(),
		kem:     pub.GetOneTimeKem(),
		replace: pub.GetReplaceOneTime(),
	}, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fetch answers the live entries of username's devices, except the
// fetcher's own and revoked ones, each with one one-time prekey of each
// kind taken from it if any is left. An unknown user and a user with no
// entry here get the same empty answer.
func (p *Prekeys) fetch(username string, fetcher peer.ID, now time.Time) (*wire.PrekeysResponse, error) {
	entries, err := p.db.fetch(PrekeysOwnerID(p.cfg.AuthServer, username), []byte(fetcher), now, p.revoked)
	if err != nil {
		return nil, fmt.Errorf("fetching prekeys: %w", err)
	}
	resp := &wire.PrekeysResponse{Devices: make([]*wire.PrekeyDevice, 0, len(entries))}
	for _, e := range entries {
		if e.oneTime != nil {
			p.stats.handedOut.Add(1)
		} else {
			p.stats.exhausted.Add(1)
		}
		if e.kem != nil {
			p.stats.kemHandedOut.Add(1)
		} else {
			p.stats.kemExhausted.Add(1)
		}
		resp.Devices = append(resp.Devices, &wire.PrekeyDevice{PeerId: e.peer, Bundle: e.bundle, OneTime: e.oneTime, OneTimeKem: e.kem})
	}
	p.stats.fetches.Add(1)
	return resp, nil
}

func prekeysFailed(code string) *wire.PrekeysResponse {
	return &wire.PrekeysResponse{Error: code}
}

// Usage returns what all entries take, as counted against the global cap
// (with per-row overheads), and that cap; used is 0 if the database fails.
func (p *Prekeys) Usage() (used, limit int64) {
	used, err := p.db.usage()
	if err != nil {
		p.log.Warn("reading prekeys usage", "err", err)
		return 0, p.cfg.MaxBytes
	}
	return used, p.cfg.MaxBytes
}
