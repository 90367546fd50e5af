// Package authserver is EServer's auth server: accounts in SQLite or
// PostgreSQL (one store interface, store.go), OPAQUE
// registration and login (the server never sees a password), and tickets
// signed with the server's libp2p host key, so anyone who knows the server's
// peer ID verifies a ticket offline. Several servers sharing one PostgreSQL
// database and one host key are replicas of one auth server: each
// registers and heartbeats in the database, every login lists the live
// ones, and each follows the one revocation log (replica.go, devices.go).
//
// A request passes the seed's layers in the order every service of EServer
// uses (package pipeline): listen (the libp2p stream handler, its deadline
// and frame limit), authentication (the ticket of renewals and device
// requests, checked by the pipeline; registration and login are declared
// unauthenticated, as they have no ticket yet, and authenticate by OPAQUE
// inside process, after its rate limits), process (the account store) and
// output (the answer, or a refusal with an error code).
package authserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// Stable error codes sent in wire.AuthError.
const (
	CodeLoginFailed   = "login_failed"
	CodeUsernameTaken = "username_taken"
	CodeRateLimited   = wire.CodeRateLimited
	CodeBadRequest    = wire.CodeBadRequest
	CodeInternal      = wire.CodeInternal
	// CodeUnreachable: the server's database does not answer (see
	// Server.failed); nothing was written.
	CodeUnreachable = wire.CodeUnreachable
	// CodeBusy: the server holds all the request bytes it may at once;
	// try again in a moment.
	CodeBusy = wire.CodeBusy
)

// Limits on LoginStart fields.
const (
	MaxDevice    = wire.MaxDeviceName // bytes of the device name
	BoxKeyLength = 32                 // an X25519 public key
)

// Rate-limit defaults.
const (
	DefaultMaxFailures     = 5
	DefaultMaxAddrFailures = 20
	DefaultFailureWindow   = 15 * time.Minute
	// DefaultRegisterRate is how many accounts one address may create in
	// RegisterWindow.
	DefaultRegisterRate = 10
	// RegisterPrefixFactor times the per-address rate is what one network
	// (an IPv4 /24, an IPv6 /56) may create in RegisterWindow: a few
	// households or one office behind neighbouring addresses, not a rented
	// block of them.
	RegisterPrefixFactor = 3
	// RegisterProbeFactor times the register rate is how many
	// registrations one address may start per RegisterWindow, whatever
	// their outcome: "username taken" tells whether an account exists, and
	// without this an address could ask it of any number of names.
	RegisterProbeFactor = 3
	// RegisterWindow is the window of the registration throttle.
	RegisterWindow = time.Hour
	// DefaultMaxDevices is how many devices with a live (unexpired,
	// unrevoked) ticket one account may have.
	DefaultMaxDevices = 10
	// DefaultLookupRate is how many user lookups (wire.LookupUser) one
	// account may make per LookupWindow: plenty for a person adding
	// contacts, slow for reading out the list of accounts.
	DefaultLookupRate = 30
	// LookupWindow is the window of the lookup limit.
	LookupWindow = 10 * time.Minute
)

// Timers of the rate limits and the registry, which live in the store.
const (
	// sweepInterval is how often a server drops the rate limits' attempts
	// that no longer count and the supernodes no longer live. Reads never
	// see either (they filter by time), so this bounds space, not
	// correctness.
	sweepInterval = time.Minute
	// limitReleaseTimeout bounds giving back an attempt that did not count
	// once its request's context is done (the client hung up).
	limitReleaseTimeout = 5 * time.Second
)

// Config configures a Server. Zero values of optional fields are documented
// defaults.
type Config struct {
	// DBPath is the database of accounts and server secrets, as ParseDB
	// reads it: a SQLite file (a path, or sqlite:PATH), or a PostgreSQL
	// database (a postgres:// or postgresql:// URL) that several servers
	// may share. Required.
	DBPath string
	// Key is the libp2p host key of the host the server is attached to; it
	// signs tickets. Required. Replicas sharing a database must all have the
	// same: LoadKeyFile reads the one CreateKeyFile made, and
	// LoadOrCreateKey keeps one in the database's secrets. (The OPAQUE keys
	// are in the database's secrets in either case, so replicas sharing it
	// share them, as a login at one replica of an account registered at
	// another needs.)
	Key crypto.PrivKey
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for tickets and rate limits; nil means time.Now.
	Now func() time.Time
	// RefusalLogInterval is how often at most refused requests are summed
	// up in the log; zero means RefusalLogInterval.
	RefusalLogInterval time.Duration
	// Rendezvous lists the multiaddrs (with /p2p/) of rendezvous services,
	// returned with every ticket.
	Rendezvous []string
	// SelfSupernode lists the server itself among the live supernodes (under
	// the reserved operator name SelfUsername), for when the supernode
	// services run on the server's own host, so a small network is one
	// process. False means only registered supernodes are listed.
	SelfSupernode bool

	// MaxFailures is how many failed logins an account may have within
	// FailureWindow before further attempts are refused; 0 means
	// DefaultMaxFailures.
	MaxFailures int
	// MaxAddrFailures is the same per remote IP address; 0 means
	// DefaultMaxAddrFailures (higher than per account, because many users
	// may share one NAT address).
	MaxAddrFailures int
	// FailureWindow is how long a failure counts; 0 means DefaultFailureWindow.
	FailureWindow time.Duration

	// RegisterRate is how many accounts one source address (an IPv4
	// address, an IPv6 /64) may create per RegisterWindow, and
	// RegisterPrefixFactor times as many one network (/24, /56). Every
	// supernode budget is per account, so free accounts would make every
	// budget free. 0 means DefaultRegisterRate; negative turns the
	// throttle off (a test network where everyone shares 127.0.0.1).
	RegisterRate int
	// MaxDevices is how many devices with a live ticket an account may
	// have; a login from one more is refused with CodeRateLimited until a
	// device is revoked or its tickets expire. 0 means DefaultMaxDevices;
	// negative means no cap.
	MaxDevices int
	// LookupRate is how many user lookups one account may make per
	// LookupWindow; 0 means DefaultLookupRate.
	LookupRate int
	// PublishRate is how many device lists (wire.PublishDevices) one
	// account may publish per PublishWindow, accepted or not; 0 means
	// DefaultPublishRate.
	PublishRate int

	// Regions are the operator's address ranges with the region (country
	// code) each is in; they win over the embedded country database, a
	// longer prefix over a shorter one. Every ticket comes with a region
	// pass (ticket.SignPass) for the region of the address it was asked
	// from (login or renewal), signed apart from the ticket so the region
	// goes only where the user presents it; loopback, private and
	// link-local addresses have none, and get no pass, unless a range names
	// one. Nil means the database alone. See ParseRegionRange.
	Regions []RegionRange
	// Moderators are the regional rooms' moderators, each named with a
	// region whose regional room they moderate: signed into every node
	// ticket of theirs (ticket.Ticket.Moderates). See ParseModerator.
	Moderators []Moderator

	// OnRevoke, if set, is called with the peer ID of every device revoked
	// here, after the revocation is stored, or learned from the log (a
	// revocation at another replica), outside any lock. It is how
	// supernode services in the same process learn at once rather than at
	// their next poll (supernode/client.Revocations.Kick). It must not block.
	OnRevoke func(peer.ID)

	// ReplicaHeartbeat is how often the server, once attached, writes its
	// row in the database's table of replicas (replica.go); it is listed
	// as live for ReplicaLiveBeats of them. 0 means
	// DefaultReplicaHeartbeat.
	ReplicaHeartbeat time.Duration
	// RevocationSync is how often the server reads the revocation log for
	// entries other replicas wrote, into the copy its ticket checks
	// consult (devices.go). 0 means DefaultRevocationSync.
	RevocationSync time.Duration
}

// Server serves the auth protocol. Create it with New, Attach it to a host,
// and Close it when done.
type Server struct {
	store store
	key   crypto.PrivKey
	id    peer.ID
	pake  *pake.Server
	log   *slog.Logger
	now   func() time.Time
	rdv   []string
	accts *limiter // login failures per account, of strangers (not the account's devices)
	addrs *limiter // login failures per source address, of strangers
	devs  *limiter // login failures per account and device, of the account's own devices
	// regAddrs and regNets count registrations per address and per
	// network; nil when the throttle is off.
	regAddrs, regNets *limiter
	regStarts         *limiter // registrations started per address, taken names included
	lookups           *limiter // user lookups per asking account (lookup.go)
	publishes         *limiter // device lists published per account (identity.go)
	maxDevices        int      // 0: no cap

	reg    *registry // supernodes; see registry.go
	selfSN bool

	regions *regions // places a login's address in a region (region.go)

	stats   stats     // counters for Stats and the metrics (metrics.go)
	refused *refusals // refused requests by reason (refusals.go)

	onRevoke     func(peer.ID)
	revMu        sync.Mutex
	revokedPeers revokedSet // the revocation log in memory (devices.go)
	revSerial    uint64     // the log serial revokedPeers has caught up to
	revSync      time.Duration
	lastPrune    time.Time

	// This replica (replica.go): its ID and start, its heartbeat, and the
	// other live replicas as its last heartbeat read them.
	replicaID   string
	started     time.Time
	replicaBeat time.Duration
	attachOnce  sync.Once
	replicas    atomic.Pointer[[]replicaRow]
	// dbDown: the database did not answer the last request that needed
	// it (outage.go).
	dbDown         atomic.Bool
	registered     bool            // a heartbeat stored the row; the loop's, then Close's
	warnedReplicas map[string]bool // replicas whose rows were refused and said so; the loop's

	// listen is the listen stage and lifecycle of both protocols; authRPC
	// and registryRPC are their stages, tickets their Authenticate stage.
	listen      *pipeline.Listener
	tickets     *pipeline.Authenticator
	authRPC     *pipeline.Service[*wire.AuthRequest, *wire.AuthResponse]
	registryRPC *pipeline.Service[*wire.RegistryRequest, *wire.RegistryResponse]
}

// New opens the database (creating it and the server's OPAQUE keys the
// first time) and returns a server not yet attached to any host.
func New(cfg Config) (*Server, error) {
	if cfg.Key == nil {
		return nil, errors.New("authserver: Config.Key is required")
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("authserver: peer ID of key: %w", err)
	}
	regions, err := newRegions(cfg.Regions, cfg.Moderators)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	src, err := ParseDB(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	db, err := openStore(context.Background(), src)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	keys, err := db.secret(context.Background(), secretOPAQUEKeys, pake.GenerateServerKeys)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	ps, err := pake.NewServer(keys)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	revoked, serial, err := loadRevoked(context.Background(), db)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	replicaID, err := newReplicaID()
	if err != nil {
		db.close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s := &Server{
		store: db,
		key:   cfg.Key,
		id:    id,
		pake:  ps,
		log:   cfg.Logger,
		now:   cfg.Now,
		rdv:   append([]string(nil), cfg.Rendezvous...),
		accts: newLimiter(bucketAccount, orDefault(cfg.MaxFailures, DefaultMaxFailures), orDefault(cfg.FailureWindow, DefaultFailureWindow)),
		addrs: newLimiter(bucketAddress, orDefault(cfg.MaxAddrFailures, DefaultMaxAddrFailures), orDefault(cfg.FailureWindow, DefaultFailureWindow)),
		devs:  newLimiter(bucketDevice, orDefault(cfg.MaxFailures, DefaultMaxFailures), orDefault(cfg.FailureWindow, DefaultFailureWindow)),

		lookups:   newLimiter(bucketLookups, max(orDefault(cfg.LookupRate, DefaultLookupRate), 1), LookupWindow),
		publishes: newLimiter(bucketPublishes, max(orDefault(cfg.PublishRate, DefaultPublishRate), 1), PublishWindow),

		maxDevices: max(orDefault(cfg.MaxDevices, DefaultMaxDevices), 0),

		reg:    newRegistry(),
		selfSN: cfg.SelfSupernode,

		regions: regions,

		onRevoke:     cfg.OnRevoke,
		revokedPeers: revoked,
		revSerial:    serial,
		revSync:      orDefault(cfg.RevocationSync, DefaultRevocationSync),

		replicaID:      replicaID,
		replicaBeat:    orDefault(cfg.ReplicaHeartbeat, DefaultReplicaHeartbeat),
		warnedReplicas: map[string]bool{},
	}
	if rate := orDefault(cfg.RegisterRate, DefaultRegisterRate); rate > 0 {
		s.regAddrs = newLimiter(bucketRegAddress, rate, RegisterWindow)
		s.regNets = newLimiter(bucketRegNetwork, rate*RegisterPrefixFactor, RegisterWindow)
		s.regStarts = newLimiter(bucketRegStarts, rate*RegisterProbeFactor, RegisterWindow)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.listen = pipeline.NewListener(s.log)
	s.refused = newRefusals()
	interval := orDefault(cfg.RefusalLogInterval, RefusalLogInterval)
	s.listen.Go(func(ctx context.Context) { s.refused.run(ctx, s.log, interval) })
	s.listen.Go(func(ctx context.Context) { s.sweep(ctx, sweepInterval) })
	s.listen.Go(s.followRevocations)
	s.started = s.now()
	s.tickets = &pipeline.Authenticator{Server: id, Now: s.now, Revoked: pipeline.RevokedPeers(s.revoked)}
	s.authRPC = &pipeline.Service[*wire.AuthRequest, *wire.AuthResponse]{
		Protocol:        wire.ProtoAuth,
		MaxRequest:      wire.MaxAuthFrame,
		Budget:          pipeline.NewServiceBudget(wire.AuthBudget, wire.MaxAuthFrame),
		Timeout:         wire.AuthTimeout,
		Auth:            s.tickets,
		Credentials:     authCredentials,
		Process:         s.process,
		Refuse:          s.refuseAuth,
		AnswerMalformed: true,
		Log:             s.log,
	}
	s.registryRPC = &pipeline.Service[*wire.RegistryRequest, *wire.RegistryResponse]{
		Protocol:    wire.ProtoRegistry,
		MaxRequest:  wire.MaxRegistryFrame,
		Budget:      pipeline.NewServiceBudget(wire.RegistryBudget, wire.MaxRegistryFrame),
		Timeout:     wire.RegistryTimeout,
		Auth:        s.tickets,
		Credentials: registryCredentials,
		Process:     s.processRegistry,
		Refuse: func(_ *wire.RegistryRequest, r pipeline.Refusal) *wire.RegistryResponse {
			reason := RefusedBadRequest
			switch r.Code {
			case pipeline.CodeBusy:
				reason = RefusedBusy
			case pipeline.CodeUnauthorized:
				reason = RefusedUnauthorized
			}
			s.refused.note(s.log, reason, "registry request refused", "code", r.Code, "err", r.Err)
			return &wire.RegistryResponse{Error: r.Code}
		},
		AnswerMalformed: true,
		Log:             s.log,
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ID is the server's peer ID: the identity tickets are verified against.
func (s *Server) ID() peer.ID { return s.id }

// Attach serves the auth and registry protocols on h. h must run with Config.Key, or the
// tickets it issues will not verify against h's peer ID.
func (s *Server) Attach(h host.Host) {
	if h.ID() != s.id {
		s.log.Error("auth server attached to a host with another key; its tickets will not verify against the host's peer ID",
			"host", h.ID(), "key", s.id)
	}
	s.authRPC.Attach(s.listen, h)
	s.registryRPC.Attach(s.listen, h)
	// Registered as a replica once it has addresses to be reached at.
	s.attachOnce.Do(func() { s.listen.Go(s.serveReplica) })
}

// Close stops serving, resets streams in flight, waits for their handlers
// and its loops, removes the server from the database's replicas and
// closes the database. It does not close the hosts.
func (s *Server) Close() error {
	if !s.listen.Close() {
		return nil
	}
	s.removeReplica()
	if err := s.store.close(); err != nil {
		return fmt.Errorf("authserver: closing database: %w", err)
	}
	return nil
}

// serve runs one auth exchange on rw for the authenticated peer remote at
// addr through the pipeline. It returns an error only when the stream itself
// failed and must be reset; refusals are answered with an AuthError.
func (s *Server) serve(ctx context.Context, rw io.ReadWriter, remote peer.ID, addr ma.Multiaddr) error {
	return s.authRPC.Serve(ctx, rw, remote, addr)
}

// process is the process stage of the auth protocol.
func (s *Server) process(ctx context.Context, r *pipeline.Request[*wire.AuthRequest]) (*wire.AuthResponse, error) {
	rw, remote, src := r.Stream, r.Remote, sourceOf(r.Addr)
	if r.Ticket != nil {
		// The Authenticate stage checked this replica's copy of the
		// revocation log, which may lag a revocation at another replica.
		if refused := s.checkTicketRevoked(ctx, r.Ticket, src.ip); refused != nil {
			return refused, nil
		}
	}
	switch k := r.Msg.Kind.(type) {
	case *wire.AuthRequest_RegisterStart:
		return s.register(ctx, rw, k.RegisterStart, remote, src)
	case *wire.AuthRequest_LoginStart:
		return s.login(ctx, rw, k.LoginStart, remote, src)
	case *wire.AuthRequest_Renew:
		return s.renew(ctx, r.Ticket, remote, src)
	case *wire.AuthRequest_ListDevices:
		return s.listDevices(ctx, r.Ticket, remote)
	case *wire.AuthRequest_RevokeDevice:
		return s.revokeDevice(ctx, rw, r.Ticket, k.RevokeDevice, remote, src)
	case *wire.AuthRequest_ChangePassword:
		return s.changePassword(ctx, rw, k.ChangePassword, remote, src)
	case *wire.AuthRequest_LookupUser:
		return s.lookupUser(ctx, r.Ticket, k.LookupUser)
	case *wire.AuthRequest_PublishDevices:
		return s.publishDevices(ctx, r.Ticket, k.PublishDevices, remote)
	default: // authCredentials refused it already
		return refusal(CodeBadRequest, "unknown request"), nil
	}
}

// authCredentials checks a decoded auth request's fields and says what it
// presents: registration, login and password change have no ticket (OPAQUE
// authenticates them in process); renewal presents the ticket it renews;
// device requests, device-list publishes and user lookups present a node
// ticket.
func authCredentials(req *wire.AuthRequest) (pipeline.Credential, error) {
	if err := checkRequest(req); err != nil {
		return pipeline.Credential{}, err
	}
	switch k := req.Kind.(type) {
	case *wire.AuthRequest_Renew:
		return pipeline.Ticket(k.Renew.GetTicket()), nil
	case *wire.AuthRequest_ListDevices:
		return pipeline.TicketOfRole(k.ListDevices.GetTicket(), ticket.RoleNode), nil
	case *wire.AuthRequest_RevokeDevice:
		return pipeline.TicketOfRole(k.RevokeDevice.GetTicket(), ticket.RoleNode), nil
	case *wire.AuthRequest_LookupUser:
		return pipeline.TicketOfRole(k.LookupUser.GetTicket(), ticket.RoleNode), nil
	case *wire.AuthRequest_PublishDevices:
		return pipeline.TicketOfRole(k.PublishDevices.GetTicket(), ticket.RoleNode), nil
	default:
		return pipeline.Unauthenticated("no ticket before login: OPAQUE authenticates it"), nil
	}
}

// refuseAuth answers a request the pipeline refused.
func (s *Server) refuseAuth(req *wire.AuthRequest, r pipeline.Refusal) *wire.AuthResponse {
	reason := RefusedBadRequest
	switch {
	case r.Code == pipeline.CodeBusy:
		reason = RefusedBusy
	case r.Code == pipeline.CodeUnauthorized:
		reason = RefusedUnauthorized
	}
	s.refused.note(s.log, reason, "auth request refused", "code", r.Code, "err", r.Err)
	switch {
	case r.Code == pipeline.CodeBusy:
		return refusal(CodeBusy, "the server is busy, try again in a moment")
	case r.Code != pipeline.CodeUnauthorized:
		return refusal(CodeBadRequest, "malformed request")
	case errors.Is(r.Err, pipeline.ErrRevoked):
		return refusal(CodeDeviceRevoked, "this device was revoked")
	case req.GetRenew() != nil:
		return refusal(CodeLoginFailed, "ticket not valid for renewal")
	default:
		return refusal(CodeUnauthorized, "ticket not valid")
	}
}

// decodeRequest reads and checks the first frame of an auth stream.
func decodeRequest(r io.Reader) (*wire.AuthRequest, error) {
	var req wire.AuthRequest
	if err := wire.ReadMsg(r, wire.MaxAuthFrame, &req); err != nil {
		return nil, err
	}
	if err := checkRequest(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

// checkRequest checks the fields of a decoded auth request.
func checkRequest(req *wire.AuthRequest) error {
	switch k := req.Kind.(type) {
	case *wire.AuthRequest_RegisterStart:
		if k.RegisterStart == nil {
			return errors.New("empty register_start")
		}
		if err := ValidUsername(k.RegisterStart.Username); err != nil {
			return err
		}
	case *wire.AuthRequest_LoginStart:
		m := k.LoginStart
		if m == nil {
			return errors.New("empty login_start")
		}
		if err := ValidUsername(m.Username); err != nil {
			return err
		}
		// A NUL goes in no PostgreSQL text column (SQLite would take it):
		// refused here, both engines answer alike.
		if len(m.Device) > MaxDevice || !utf8.ValidString(m.Device) || strings.ContainsRune(m.Device, 0) {
			return fmt.Errorf("device name: not UTF-8, holding a NUL, or longer than %d bytes", MaxDevice)
		}
		if len(m.BoxKey) != 0 && len(m.BoxKey) != BoxKeyLength {
			return fmt.Errorf("box key: %d bytes, want %d", len(m.BoxKey), BoxKeyLength)
		}
	case *wire.AuthRequest_Renew:
		if k.Renew.GetTicket() == nil {
			return errors.New("renew without a ticket")
		}
	case *wire.AuthRequest_ListDevices:
		if k.ListDevices.GetTicket() == nil {
			return errors.New("list_devices without a ticket")
		}
	case *wire.AuthRequest_RevokeDevice:
		if k.RevokeDevice.GetTicket() == nil {
			return errors.New("revoke_device without a ticket")
		}
		if _, err := peer.IDFromBytes(k.RevokeDevice.GetPeerId()); err != nil {
			return fmt.Errorf("revoke_device: peer ID: %w", err)
		}
	case *wire.AuthRequest_LookupUser:
		if k.LookupUser.GetTicket() == nil {
			return errors.New("lookup_user without a ticket")
		}
		if err := ValidUsername(k.LookupUser.GetUsername()); err != nil {
			return fmt.Errorf("lookup_user: %w", err)
		}
	case *wire.AuthRequest_PublishDevices:
		if err := checkPublish(k.PublishDevices); err != nil {
			return err
		}
	case *wire.AuthRequest_ChangePassword:
		m := k.ChangePassword
		if m == nil {
			return errors.New("empty change_password")
		}
		if err := ValidUsername(m.Username); err != nil {
			return err
		}
		if len(m.Ke1) == 0 || len(m.RegistrationRequest) == 0 {
			return errors.New("change_password without KE1 or registration request")
		}
	default:
		return errors.New("no request kind")
	}
	return nil
}

// ValidUsername reports whether name is a valid account name (the rule
// lives in wire.ValidUsername, shared with the nodes).
func ValidUsername(name string) error { return wire.ValidUsername(name) }

// refusal is an AuthError answer.
func refusal(code, msg string) *wire.AuthResponse {
	return &wire.AuthResponse{Kind: &wire.AuthResponse_Error{Error: &wire.AuthError{Code: code, Message: msg}}}
}

func (s *Server) register(ctx context.Context, rw *pipeline.Stream, m *wire.RegisterStart, remote peer.ID, src source) (*wire.AuthResponse, error) {
	// Counted before the name is looked up, so that past the limit a taken
	// name and a free one get the same answer.
	if s.regStarts != nil {
		switch full, err := s.admit(ctx, s.now(), s.regStarts.key(src.addr)); {
		case err != nil:
			return s.limitsFailed(err), nil
		case full != nil:
			s.stats.registrationsRateLimited.Add(1)
			s.refused.note(s.log, RefusedRegisterLimited, "registration refused: address started too many", "user", m.Username, "ip", src.ip)
			return refusal(CodeRateLimited, "too many sign-ups from this address, try again later"), nil
		}
	}
	rec, err := s.store.accountRecord(ctx, m.Username)
	if err != nil {
		return s.failed("register", err), nil
	}
	if rec != nil {
		return refusal(CodeUsernameTaken, "username taken"), nil
	}
	// The throttle counts the account before any OPAQUE work, so parallel
	// registrations cannot slip past it, and gives the count back unless
	// the account is created.
	switch ok, err := s.admitRegistration(ctx, src, s.now()); {
	case err != nil:
		return s.limitsFailed(err), nil
	case !ok:
		s.stats.registrationsRateLimited.Add(1)
		s.refused.note(s.log, RefusedRegisterLimited, "registration refused: address rate limited", "user", m.Username, "ip", src.ip)
		return refusal(CodeRateLimited, "too many accounts created from this address, try again later"), nil
	}
	created := false
	defer func() {
		if !created {
			s.releaseRegistration(ctx, src)
		}
	}()
	resp, err := s.pake.RegistrationResponse(m.Username, m.RegistrationRequest)
	if err != nil {
		return refusal(CodeBadRequest, "malformed registration request"), nil
	}
	if err := wire.WriteMsg(rw, &wire.AuthResponse{Kind: &wire.AuthResponse_RegistrationResponse{RegistrationResponse: resp}}); err != nil {
		return nil, err
	}
	var fin wire.RegisterFinish
	if err := rw.ReadMsg(&fin); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) {
			return refusal(CodeBadRequest, "frame too large"), nil
		}
		return nil, fmt.Errorf("reading register_finish: %w", err)
	}
	if err := s.pake.CheckRecord(fin.RegistrationRecord); err != nil {
		return refusal(CodeBadRequest, "malformed registration record"), nil
	}
	switch err := s.store.createAccount(ctx, m.Username, fin.RegistrationRecord, s.now().Unix()); {
	case errors.Is(err, errExists):
		return refusal(CodeUsernameTaken, "username taken"), nil
	case err != nil:
		return s.failed("register", err), nil
	}
	created = true
	s.stats.registrations.Add(1)
	s.log.Info("account registered", "user", m.Username, "peer", remote, "ip", src.ip)
	return &wire.AuthResponse{Kind: &wire.AuthResponse_RegisterResult{RegisterResult: &wire.RegisterResult{}}}, nil
}

// renew issues a fresh ticket to the device holding a valid one (old,
// verified by the Authenticate stage: ours, unexpired, presented by the peer
// it names, not revoked), so a long-running client never needs to keep the
// password in memory. The account must still exist. The region pass is
// the renewal's own address's, never carried over: a laptop that travelled
// gets its new country at its next renewal.
func (s *Server) renew(ctx context.Context, old *ticket.Ticket, remote peer.ID, src source) (*wire.AuthResponse, error) {
	now := s.now()
	rec, err := s.store.accountRecord(ctx, old.Username)
	if err != nil {
		return s.failed("renew", err), nil
	}
	if rec == nil {
		return refusal(CodeLoginFailed, "ticket not valid for renewal"), nil
	}
	return s.issue(ctx, ticket.Ticket{
		Username: old.Username,
		Peer:     remote,
		Device:   old.Device,
		Issued:   now,
		Expiry:   now.Add(wire.TicketLifetime),
		Role:     old.Role,
		BoxKey:   old.BoxKey,
	}, s.regions.lookup(src.remote), src.ip, false)
}

// issue records t against its device, signs it, its card and, when region
// is not "", its region pass, and sends them as the login result, with the
// account's identity when it has one: its device list always, its sealed
// key only when withSealed (a login, which proved the password; a renewal
// did not).
// Recording comes first and refuses a revoked device, so no ticket is ever
// signed that the revocation log would not cover. region is what the
// server placed the stream's address in, never a field of a message. The
// ticket carries the account's creation time from the store (ticket.Sign
// rounds it to ticket.AccountGrain), at login and renewal alike.
func (s *Server) issue(ctx context.Context, t ticket.Ticket, region, ip string, withSealed bool) (*wire.AuthResponse, error) {
	created, id, err := s.store.recordIssue(ctx, t, s.maxDevices)
	switch {
	case errors.Is(err, errRevoked):
		s.refused.note(s.log, RefusedRevoked, "ticket refused: device revoked", "user", t.Username, "peer", t.Peer, "ip", ip)
		return refusal(CodeDeviceRevoked, "this device was revoked"), nil
	case errors.Is(err, errTooManyDevices):
		s.refused.note(s.log, RefusedTooManyDevices, "ticket refused: too many devices", "user", t.Username, "peer", t.Peer, "ip", ip)
		return refusal(CodeRateLimited, fmt.Sprintf("%d devices are signed in to this account: remove one from a signed-in device, or wait until one has been off for a day", s.maxDevices)), nil
	case errors.Is(err, errNoAccount):
		return refusal(CodeLoginFailed, "wrong username or password"), nil
	case err != nil:
		return s.failed("recording device", err), nil
	}
	t.AccountCreated = created
	if t.Role == ticket.RoleNode {
		t.Moderates = s.regions.moderators[t.Username]
	}
	st, err := ticket.Sign(s.key, t)
	if err != nil {
		return s.failed("signing ticket", err), nil
	}
	card, err := ticket.SignCard(s.key, t)
	if err != nil {
		return s.failed("signing card", err), nil
	}
	var pass *wire.SignedRegionPass
	if region != "" {
		if pass, err = ticket.SignPass(s.key, t, region); err != nil {
			return s.failed("signing region pass", err), nil
		}
	}
	s.stats.tickets.Add(1)
	s.log.Info("ticket issued", "user", t.Username, "peer", t.Peer, "device", t.Device, "ip", ip, "region", region)
	lr := &wire.LoginResult{Ticket: st, Card: card, RegionPass: pass, Rendezvous: s.rdv, Account: id.toWire(withSealed),
		Replicas: s.loginReplicas(t.Issued)}
	// The supernodes take the room the rest leaves in the frame.
	if lr.Supernodes, err = s.loginSupernodes(ctx, lr); err != nil {
		// A ticket without the supernodes to use it with is no login.
		return s.failed("login: supernode list", err, "user", t.Username), nil
	}
	return &wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}}, nil
}

func (s *Server) login(ctx context.Context, rw *pipeline.Stream, m *wire.LoginStart, remote peer.ID, src source) (*wire.AuthResponse, error) {
	now := s.now()
	if refused, err := s.authenticate(ctx, rw, m.Username, m.Ke1, remote, src, now); refused != nil || err != nil {
		return refused, err
	}
	return s.issue(ctx, ticket.Ticket{
		Username: m.Username,
		Peer:     remote, // the authenticated stream peer, never a field of the message
		Device:   m.Device,
		Issued:   now,
		Expiry:   now.Add(wire.TicketLifetime),
		Role:     ticket.RoleNode,
		BoxKey:   m.BoxKey,
	}, s.regions.lookup(src.remote), src.ip, true) // the stream's address, never a field of the message
}

// authenticate runs the security and authentication layers of an OPAQUE
// login of acct from remote at src: the revocation and rate-limit checks,
// then KE1 → KE2 → KE3. It returns nil, nil when KE3 verified; otherwise
// the refusal to answer, or err when the stream failed.
// Logins, password changes and revocations of another device share it, and
// so share one rate limit.
//
// Which limits apply depends on who asks. One of the account's own devices
// (a peer that got a ticket for it and was not revoked; the stream's peer
// is authenticated by its key) is limited per device only, so strangers'
// failures, on the account or from a shared address, never lock the owner
// out of a device already signed in. Anyone else is limited per account
// and per source address (an IPv6 /64).
//
// A failure is an attempt that got its KE2 and did not prove the password:
// a wrong KE3, or a hang-up — the client knows from KE2 alone whether its
// password was right, so an uncounted hang-up would be a free guess.
// Attempts refused, malformed, or failed on our side before KE2 went out
// do not count.
func (s *Server) authenticate(ctx context.Context, rw *pipeline.Stream, acct string, ke1 []byte, remote peer.ID, src source, now time.Time) (refused *wire.AuthResponse, err error) {
	ip := src.ip
	// A revoked device is refused whatever name it gives, so the answer
	// says nothing about the account; the same holds for what follows.
	switch revoked, err := s.store.peerRevoked(ctx, remote); {
	case err != nil:
		s.stats.login(loginError)
		return s.failed("login", err), nil
	case revoked:
		s.stats.login(loginFailed)
		s.refused.note(s.log, RefusedRevoked, "login refused: device revoked", "user", acct, "peer", remote, "ip", ip)
		return refusal(CodeDeviceRevoked, "this device was revoked"), nil
	}
	own, err := s.store.isDevice(ctx, acct, remote)
	if err != nil {
		s.stats.login(loginError)
		return s.failed("login", err), nil
	}
	// Every way out but the ones below counts as a failure: a wrong password
	// usually ends with the client hanging up after KE2.
	result, counted := loginFailed, false
	defer func() {
		if !counted {
			s.stats.login(result)
		}
	}()
	// refuseLimited counts the refusal before answering it, so whoever
	// reads the answer also finds it counted.
	refuseLimited := func() *wire.AuthResponse {
		s.stats.login(loginRateLimited)
		counted = true
		return refusal(CodeRateLimited, "too many failed logins, try again later")
	}
	// Security layer: refuse before any OPAQUE work, the same way for real
	// and unknown accounts. The attempt is counted now, before its OPAQUE
	// work, so parallel attempts cannot slip past the limit; forget gives
	// the count back when it turns out not to be a failure.
	// An account's and an address's counts are taken together, all or
	// none.
	keys := []limitKey{s.accts.key(acct), s.addrs.key(src.addr)}
	if own {
		keys = []limitKey{s.devs.key(acct + "\x00" + string(remote))}
	}
	full, err := s.admit(ctx, now, keys...)
	switch {
	case err != nil:
		result = loginError
		return s.limitsFailed(err), nil
	case full != nil:
		what := map[string]string{bucketDevice: "device", bucketAccount: "account", bucketAddress: "address"}[full.bucket]
		s.refused.note(s.log, RefusedLoginLimited, "login refused: "+what+" rate limited", "user", acct, "peer", remote, "ip", ip)
		return refuseLimited(), nil
	}
	forget := func() { s.release(ctx, keys...) }

	rec, err := s.store.accountRecord(ctx, acct)
	if err != nil {
		forget()
		result = loginError
		return s.failed("login", err), nil
	}
	s.stats.ke2.Add(1)
	ke2, pending, err := s.pake.StartLogin(acct, rec, ke1)
	if err != nil {
		forget()
		if errors.Is(err, pake.ErrMalformed) {
			return refusal(CodeBadRequest, "malformed KE1"), nil
		}
		result = loginError
		return s.failed("login", err, "user", acct), nil
	}
	if err := wire.WriteMsg(rw, &wire.AuthResponse{Kind: &wire.AuthResponse_Ke2{Ke2: ke2}}); err != nil {
		// The client never got its KE2: no guess was made.
		forget()
		return nil, err
	}
	// From here the attempt is a failure until KE3 verifies.
	var fin wire.LoginFinish
	if err := rw.ReadMsg(&fin); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) {
			return refusal(CodeBadRequest, "frame too large"), nil
		}
		// Usually a client whose password was wrong: it knows from KE2.
		return nil, fmt.Errorf("reading login_finish: %w", err)
	}
	if err := pending.Finish(fin.Ke3); err != nil {
		s.refused.note(s.log, RefusedLoginFailed, "login failed", "user", acct, "peer", remote, "ip", ip, "own_device", own)
		return refusal(CodeLoginFailed, "wrong username or password"), nil
	}
	// Forget only this attempt: the account's other failures in the window
	// still count, so an attacker's guesses interleaved with the owner's
	// logins never add up to more than the limit.
	forget()
	result = loginOK
	return nil, nil
}
