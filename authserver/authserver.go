// Package authserver is EServer's auth server: accounts in SQLite, OPAQUE
// registration and login (the server never sees a password), and tickets
// signed with the server's libp2p host key, so anyone who knows the server's
// peer ID verifies a ticket offline.
//
// A request passes the seed's layers in order: listen (the libp2p stream
// handler), security (deadline, frame limits, rate limits), authentication
// (OPAQUE), process (the account store) and output (the ticket).
package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/pake"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Stable error codes sent in wire.AuthError.
const (
	CodeLoginFailed   = "login_failed"
	CodeUsernameTaken = "username_taken"
	CodeRateLimited   = "rate_limited"
	CodeBadRequest    = "bad_request"
	CodeInternal      = "internal"
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
)

// Config configures a Server. Zero values of optional fields are documented
// defaults.
type Config struct {
	// DBPath is the SQLite file of accounts and server secrets. Required.
	DBPath string
	// Key is the libp2p host key of the host the server is attached to; it
	// signs tickets. Required. See LoadOrCreateKey.
	Key crypto.PrivKey
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for tickets and rate limits; nil means time.Now.
	Now func() time.Time
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

	// OnRevoke, if set, is called with the peer ID of every device revoked
	// here, after the revocation is stored, outside any lock. It is how
	// supernode services in the same process learn at once rather than at
	// their next poll (supernode.Revocations.Kick). It must not block.
	OnRevoke func(peer.ID)
}

// Server serves the auth protocol. Create it with New, Attach it to a host,
// and Close it when done.
type Server struct {
	db    *sql.DB
	key   crypto.PrivKey
	id    peer.ID
	pake  *pake.Server
	log   *slog.Logger
	now   func() time.Time
	rdv   []string
	accts *limiter
	addrs *limiter

	reg    *registry // supernodes; see registry.go
	selfSN bool

	stats stats // counters for Stats and the metrics (metrics.go)

	onRevoke     func(peer.ID)
	revMu        sync.Mutex
	revokedPeers revokedSet // the revocation log in memory (devices.go)
	lastPrune    time.Time

	ctx    context.Context // canceled by Close; resets streams in flight
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	hosts  []host.Host
	wg     sync.WaitGroup
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
	db, err := openDB(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	keys, err := loadOrCreateSecret(context.Background(), db, secretOPAQUEKeys, pake.GenerateServerKeys)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	ps, err := pake.NewServer(keys)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	revoked, err := loadRevoked(context.Background(), db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s := &Server{
		db:    db,
		key:   cfg.Key,
		id:    id,
		pake:  ps,
		log:   cfg.Logger,
		now:   cfg.Now,
		rdv:   append([]string(nil), cfg.Rendezvous...),
		accts: newLimiter(orDefault(cfg.MaxFailures, DefaultMaxFailures), orDefault(cfg.FailureWindow, DefaultFailureWindow)),
		addrs: newLimiter(orDefault(cfg.MaxAddrFailures, DefaultMaxAddrFailures), orDefault(cfg.FailureWindow, DefaultFailureWindow)),

		reg:    newRegistry(),
		selfSN: cfg.SelfSupernode,

		onRevoke:     cfg.OnRevoke,
		revokedPeers: revoked,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.hosts = append(s.hosts, h)
	h.SetStreamHandler(wire.ProtoAuth, s.handle)
	h.SetStreamHandler(wire.ProtoRegistry, s.handleRegistry)
}

// Close stops serving, resets streams in flight, waits for their handlers
// and closes the database. It does not close the hosts.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, h := range s.hosts {
		h.RemoveStreamHandler(wire.ProtoAuth)
		h.RemoveStreamHandler(wire.ProtoRegistry)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("authserver: closing database: %w", err)
	}
	return nil
}

// enter registers a handler in flight; false once closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// handle is the listen layer: one stream, one register or login exchange.
func (s *Server) handle(st network.Stream) {
	if !s.enter() {
		st.Reset()
		return
	}
	defer s.wg.Done()
	if err := st.SetDeadline(time.Now().Add(wire.AuthTimeout)); err != nil {
		st.Reset()
		return
	}
	stop := context.AfterFunc(s.ctx, func() { st.Reset() })
	defer stop()

	conn := st.Conn()
	err := s.serve(s.ctx, st, conn.RemotePeer(), remoteIP(conn.RemoteMultiaddr()))
	if err != nil {
		s.log.Debug("auth stream failed", "peer", conn.RemotePeer(), "err", err)
		st.Reset()
		return
	}
	st.Close()
}

// remoteIP is the IP address of a connection's remote end, the key of the
// per-address rate limit.
func remoteIP(a ma.Multiaddr) string {
	if a == nil {
		return "unknown"
	}
	if v, err := a.ValueForProtocol(ma.P_IP6); err == nil {
		return v
	}
	if v, err := a.ValueForProtocol(ma.P_IP4); err == nil {
		return v
	}
	return "unknown"
}

// serve runs one exchange on rw for the authenticated peer remote at address
// ip. It returns an error only when the stream itself failed and must be
// reset; refusals are answered with an AuthError and return nil.
func (s *Server) serve(ctx context.Context, rw io.ReadWriter, remote peer.ID, ip string) error {
	req, err := decodeRequest(rw)
	if err != nil {
		s.log.Info("bad auth request", "peer", remote, "ip", ip, "err", err)
		return s.refuse(rw, CodeBadRequest, "malformed request")
	}
	switch k := req.Kind.(type) {
	case *wire.AuthRequest_RegisterStart:
		return s.register(ctx, rw, k.RegisterStart, remote, ip)
	case *wire.AuthRequest_LoginStart:
		return s.login(ctx, rw, k.LoginStart, remote, ip)
	case *wire.AuthRequest_Renew:
		return s.renew(ctx, rw, k.Renew, remote, ip)
	case *wire.AuthRequest_ListDevices:
		return s.listDevices(ctx, rw, k.ListDevices, remote)
	case *wire.AuthRequest_RevokeDevice:
		return s.revokeDevice(ctx, rw, k.RevokeDevice, remote, ip)
	case *wire.AuthRequest_ChangePassword:
		return s.changePassword(ctx, rw, k.ChangePassword, remote, ip)
	default:
		return s.refuse(rw, CodeBadRequest, "unknown request")
	}
}

// decodeRequest reads and checks the first frame of an auth stream.
func decodeRequest(r io.Reader) (*wire.AuthRequest, error) {
	var req wire.AuthRequest
	if err := wire.ReadMsg(r, wire.MaxAuthFrame, &req); err != nil {
		return nil, err
	}
	switch k := req.Kind.(type) {
	case *wire.AuthRequest_RegisterStart:
		if k.RegisterStart == nil {
			return nil, errors.New("empty register_start")
		}
		if err := ValidUsername(k.RegisterStart.Username); err != nil {
			return nil, err
		}
	case *wire.AuthRequest_LoginStart:
		m := k.LoginStart
		if m == nil {
			return nil, errors.New("empty login_start")
		}
		if err := ValidUsername(m.Username); err != nil {
			return nil, err
		}
		if len(m.Device) > MaxDevice || !utf8.ValidString(m.Device) {
			return nil, fmt.Errorf("device name: not UTF-8 or longer than %d bytes", MaxDevice)
		}
		if len(m.BoxKey) != 0 && len(m.BoxKey) != BoxKeyLength {
			return nil, fmt.Errorf("box key: %d bytes, want %d", len(m.BoxKey), BoxKeyLength)
		}
	case *wire.AuthRequest_Renew:
		if k.Renew.GetTicket() == nil {
			return nil, errors.New("renew without a ticket")
		}
	case *wire.AuthRequest_ListDevices:
		if k.ListDevices.GetTicket() == nil {
			return nil, errors.New("list_devices without a ticket")
		}
	case *wire.AuthRequest_RevokeDevice:
		if k.RevokeDevice.GetTicket() == nil {
			return nil, errors.New("revoke_device without a ticket")
		}
		if _, err := peer.IDFromBytes(k.RevokeDevice.GetPeerId()); err != nil {
			return nil, fmt.Errorf("revoke_device: peer ID: %w", err)
		}
	case *wire.AuthRequest_ChangePassword:
		m := k.ChangePassword
		if m == nil {
			return nil, errors.New("empty change_password")
		}
		if err := ValidUsername(m.Username); err != nil {
			return nil, err
		}
		if len(m.Ke1) == 0 || len(m.RegistrationRequest) == 0 {
			return nil, errors.New("change_password without KE1 or registration request")
		}
	default:
		return nil, errors.New("no request kind")
	}
	return &req, nil
}

// ValidUsername reports whether name is a valid account name (the rule
// lives in wire.ValidUsername, shared with the nodes).
func ValidUsername(name string) error { return wire.ValidUsername(name) }

// refuse answers with an AuthError; it fails only if the stream did.
func (s *Server) refuse(w io.Writer, code, msg string) error {
	return wire.WriteMsg(w, &wire.AuthResponse{Kind: &wire.AuthResponse_Error{Error: &wire.AuthError{Code: code, Message: msg}}})
}

func (s *Server) register(ctx context.Context, rw io.ReadWriter, m *wire.RegisterStart, remote peer.ID, ip string) error {
	rec, err := accountRecord(ctx, s.db, m.Username)
	if err != nil {
		s.log.Error("register", "err", err)
		return s.refuse(rw, CodeInternal, "internal error")
	}
	if rec != nil {
		return s.refuse(rw, CodeUsernameTaken, "username taken")
	}
	resp, err := s.pake.RegistrationResponse(m.Username, m.RegistrationRequest)
	if err != nil {
		return s.refuse(rw, CodeBadRequest, "malformed registration request")
	}
	if err := wire.WriteMsg(rw, &wire.AuthResponse{Kind: &wire.AuthResponse_RegistrationResponse{RegistrationResponse: resp}}); err != nil {
		return err
	}
	var fin wire.RegisterFinish
	if err := wire.ReadMsg(rw, wire.MaxAuthFrame, &fin); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) {
			return s.refuse(rw, CodeBadRequest, "frame too large")
		}
		return fmt.Errorf("reading register_finish: %w", err)
	}
	if err := s.pake.CheckRecord(fin.RegistrationRecord); err != nil {
		return s.refuse(rw, CodeBadRequest, "malformed registration record")
	}
	switch err := createAccount(ctx, s.db, m.Username, fin.RegistrationRecord, s.now().Unix()); {
	case errors.Is(err, errExists):
		return s.refuse(rw, CodeUsernameTaken, "username taken")
	case err != nil:
		s.log.Error("register", "err", err)
		return s.refuse(rw, CodeInternal, "internal error")
	}
	s.stats.registrations.Add(1)
	s.log.Info("account registered", "user", m.Username, "peer", remote, "ip", ip)
	return wire.WriteMsg(rw, &wire.AuthResponse{Kind: &wire.AuthResponse_RegisterResult{RegisterResult: &wire.RegisterResult{}}})
}

// renew issues a fresh ticket to the device holding a valid one, so a
// long-running client never needs to keep the password in memory. The
// ticket must be ours, unexpired, and presented by the peer it names; the
// account must still exist.
func (s *Server) renew(ctx context.Context, rw io.ReadWriter, m *wire.Renew, remote peer.ID, ip string) error {
	now := s.now()
	old, err := ticket.VerifyFor(s.id, remote, m.Ticket, now)
	if err != nil {
		s.log.Info("renewal refused", "peer", remote, "ip", ip, "err", err)
		return s.refuse(rw, CodeLoginFailed, "ticket not valid for renewal")
	}
	rec, err := accountRecord(ctx, s.db, old.Username)
	if err != nil {
		s.log.Error("renew", "err", err)
		return s.refuse(rw, CodeInternal, "internal error")
	}
	if rec == nil {
		return s.refuse(rw, CodeLoginFailed, "ticket not valid for renewal")
	}
	return s.issue(ctx, rw, ticket.Ticket{
		Username: old.Username,
		Peer:     remote,
		Device:   old.Device,
		Issued:   now,
		Expiry:   now.Add(wire.TicketLifetime),
		Role:     old.Role,
		BoxKey:   old.BoxKey,
	}, ip)
}

// issue records t against its device, signs it and sends it as the login
// result. Recording comes first and refuses a revoked device, so no ticket
// is ever signed that the revocation log would not cover.
func (s *Server) issue(ctx context.Context, w io.Writer, t ticket.Ticket, ip string) error {
	switch err := recordIssue(ctx, s.db, t); {
	case errors.Is(err, errRevoked):
		s.log.Info("ticket refused: device revoked", "user", t.Username, "peer", t.Peer, "ip", ip)
		return s.refuse(w, CodeDeviceRevoked, "this device was revoked")
	case errors.Is(err, errNoAccount):
		return s.refuse(w, CodeLoginFailed, "wrong username or password")
	case err != nil:
		s.log.Error("recording device", "err", err)
		return s.refuse(w, CodeInternal, "internal error")
	}
	st, err := ticket.Sign(s.key, t)
	if err != nil {
		s.log.Error("signing ticket", "err", err)
		return s.refuse(w, CodeInternal, "internal error")
	}
	s.stats.tickets.Add(1)
	s.log.Info("ticket issued", "user", t.Username, "peer", t.Peer, "device", t.Device, "ip", ip)
	lr := &wire.LoginResult{Ticket: st, Rendezvous: s.rdv}
	lr.Supernodes = s.loginSupernodes(lr)
	return wire.WriteMsg(w, &wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}})
}

func (s *Server) login(ctx context.Context, rw io.ReadWriter, m *wire.LoginStart, remote peer.ID, ip string) error {
	now := s.now()
	ok, err := s.authenticate(ctx, rw, m.Username, m.Ke1, remote, ip, now)
	if !ok {
		return err
	}
	return s.issue(ctx, rw, ticket.Ticket{
		Username: m.Username,
		Peer:     remote, // the authenticated stream peer, never a field of the message
		Device:   m.Device,
		Issued:   now,
		Expiry:   now.Add(wire.TicketLifetime),
		Role:     ticket.RoleNode,
		BoxKey:   m.BoxKey,
	}, ip)
}

// authenticate runs the security and authentication layers of an OPAQUE
// login of acct from remote at ip: the revocation and rate-limit checks,
// then KE1 → KE2 → KE3. It reports whether KE3 verified; when it did not,
// the refusal has been answered, and err is set only if the stream failed.
// Logins and password changes share it, and so share one rate limit.
func (s *Server) authenticate(ctx context.Context, rw io.ReadWriter, acct string, ke1 []byte, remote peer.ID, ip string, now time.Time) (ok bool, err error) {
	// A revoked device is refused whatever name it gives, so the answer
	// says nothing about the account; the same holds for what follows.
	switch revoked, err := peerRevoked(ctx, s.db, remote); {
	case err != nil:
		s.stats.login(loginError)
		s.log.Error("login", "err", err)
		return false, s.refuse(rw, CodeInternal, "internal error")
	case revoked:
		s.stats.login(loginFailed)
		s.log.Info("login refused: device revoked", "user", acct, "peer", remote, "ip", ip)
		return false, s.refuse(rw, CodeDeviceRevoked, "this device was revoked")
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
	refuseLimited := func() error {
		s.stats.login(loginRateLimited)
		counted = true
		return s.refuse(rw, CodeRateLimited, "too many failed logins, try again later")
	}
	// Security layer: refuse before any OPAQUE work, the same way for real
	// and unknown accounts.
	if !s.accts.attempt(acct, now) {
		s.log.Info("login refused: account rate limited", "user", acct, "ip", ip)
		return false, refuseLimited()
	}
	if !s.addrs.attempt(ip, now) {
		s.accts.forgetOne(acct)
		s.log.Info("login refused: address rate limited", "user", acct, "ip", ip)
		return false, refuseLimited()
	}
	// From here the attempt counts as a failure until KE3 verifies.
	forget := func() { s.accts.forgetOne(acct); s.addrs.forgetOne(ip) }

	rec, err := accountRecord(ctx, s.db, acct)
	if err != nil {
		forget()
		result = loginError
		s.log.Error("login", "err", err)
		return false, s.refuse(rw, CodeInternal, "internal error")
	}
	s.stats.ke2.Add(1)
	ke2, pending, err := s.pake.StartLogin(acct, rec, ke1)
	if err != nil {
		forget()
		if errors.Is(err, pake.ErrMalformed) {
			return false, s.refuse(rw, CodeBadRequest, "malformed KE1")
		}
		result = loginError
		s.log.Error("login", "user", acct, "err", err)
		return false, s.refuse(rw, CodeInternal, "internal error")
	}
	if err := wire.WriteMsg(rw, &wire.AuthResponse{Kind: &wire.AuthResponse_Ke2{Ke2: ke2}}); err != nil {
		return false, err
	}
	var fin wire.LoginFinish
	if err := wire.ReadMsg(rw, wire.MaxAuthFrame, &fin); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) {
			return false, s.refuse(rw, CodeBadRequest, "frame too large")
		}
		// Usually a client whose password was wrong: it knows from KE2.
		return false, fmt.Errorf("reading login_finish: %w", err)
	}
	if err := pending.Finish(fin.Ke3); err != nil {
		s.log.Info("login failed", "user", acct, "peer", remote, "ip", ip)
		return false, s.refuse(rw, CodeLoginFailed, "wrong username or password")
	}
	// Forget only this attempt: the account's other failures in the window
	// still count, so an attacker's guesses interleaved with the owner's
	// logins never add up to more than the limit.
	forget()
	result = loginOK
	return true, nil
}
