package authserver

// The supernode registry: supernodes heartbeat here with their operator's
// ticket and a signed peer record and get a role-supernode ticket back; any
// ticket holder may list the live ones, and every login and renewal carries
// the same list. It is kept in memory only: supernodes heartbeat every
// wire.HeartbeatInterval, so a restarted server knows them all again within
// one interval.

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// Stable error codes carried in wire.RegistryResponse.error (besides
// CodeBadRequest and CodeInternal).
const (
	CodeUnauthorized = wire.CodeUnauthorized
	CodeTooMany      = wire.CodeTooMany
)

// SelfUsername is the reserved operator name on the ticket the server signs
// for itself when it runs the supernode services (Config.SelfSupernode). No
// account can have it: '@' is not valid in a username.
const SelfUsername = "@server"

// Registry bounds. A supernode costs the registry a few hundred bytes; the
// caps keep one account (or many) from filling memory or from taking over
// the homing of every user with a swarm of peer IDs.
const (
	MaxSupernodes        = 10_000 // live supernodes at once
	MaxSupernodesPerUser = 8      // live supernodes run by one account
)

// snEntry is one registered supernode.
type snEntry struct {
	username string
	record   []byte             // signed envelope, verified at heartbeat
	ticket   *wire.SignedTicket // the role-supernode ticket issued at the last heartbeat
	last     time.Time          // last heartbeat
}

// registry is the in-memory table of supernodes, peer ID → entry.
type registry struct {
	mu  sync.Mutex
	sns map[peer.ID]snEntry

	// self caches the server's own role-supernode ticket (SelfSupernode).
	selfTicket *wire.SignedTicket
	selfExpiry time.Time
}

func newRegistry() *registry {
	return &registry{sns: make(map[peer.ID]snEntry)}
}

// live reports whether e's last heartbeat is younger than wire.SupernodeTTL.
func (e snEntry) live(now time.Time) bool {
	return now.Sub(e.last) < wire.SupernodeTTL
}

// sweep drops entries that are no longer live. Callers hold mu.
func (r *registry) sweep(now time.Time) {
	for id, e := range r.sns {
		if !e.live(now) {
			delete(r.sns, id)
		}
	}
}

// registryCredentials says what each registry request presents: a
// heartbeat its operator's node ticket (a supernode ticket vouches to
// others, it is no credential), the others any ticket of ours.
func registryCredentials(req *wire.RegistryRequest) (pipeline.Credential, error) {
	switch k := req.GetKind().(type) {
	case *wire.RegistryRequest_Heartbeat:
		return pipeline.TicketOfRole(k.Heartbeat.GetTicket(), ticket.RoleNode), nil
	case *wire.RegistryRequest_List:
		return pipeline.Ticket(k.List.GetTicket()), nil
	case *wire.RegistryRequest_Revocations:
		return pipeline.Ticket(k.Revocations.GetTicket()), nil
	}
	return pipeline.Credential{}, errors.New("registry request of no known kind")
}

// processRegistry is the process stage for one authenticated request.
func (s *Server) processRegistry(ctx context.Context, r *pipeline.Request[*wire.RegistryRequest]) (*wire.RegistryResponse, error) {
	switch k := r.Msg.GetKind().(type) {
	case *wire.RegistryRequest_Heartbeat:
		return s.heartbeat(k.Heartbeat, r.Ticket, r.Remote, s.now()), nil
	case *wire.RegistryRequest_List:
		return &wire.RegistryResponse{Supernodes: s.Supernodes(registryListBudget)}, nil
	default:
		sr, err := s.SignedRevocations(ctx, r.Msg.GetRevocations().GetSince())
		if err != nil {
			s.log.Error("revocation list", "err", err)
			return &wire.RegistryResponse{Error: CodeInternal}, nil
		}
		return &wire.RegistryResponse{Revocations: sr}, nil
	}
}

// heartbeat registers or refreshes the supernode remote and answers with
// its role-supernode ticket. t is the operator's node ticket, verified by
// the Authenticate stage; the record must be signed by remote.
func (s *Server) heartbeat(m *wire.Heartbeat, t *ticket.Ticket, remote peer.ID, now time.Time) *wire.RegistryResponse {
	rec, err := ticket.VerifyRecord(remote, m.GetPeerRecord())
	if err == nil && len(rec.Addrs) == 0 {
		err = errors.New("record lists no addresses")
	}
	if err != nil {
		s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: record", "peer", remote, "user", t.Username, "err", err)
		return &wire.RegistryResponse{Error: CodeBadRequest}
	}

	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	s.reg.sweep(now)
	old, known := s.reg.sns[remote]
	if !known {
		if len(s.reg.sns) >= MaxSupernodes {
			s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: registry full", "peer", remote, "user", t.Username)
			return &wire.RegistryResponse{Error: CodeTooMany}
		}
		n := 0
		for _, e := range s.reg.sns {
			if e.username == t.Username {
				n++
			}
		}
		if n >= MaxSupernodesPerUser {
			s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: too many supernodes for one account", "peer", remote, "user", t.Username)
			return &wire.RegistryResponse{Error: CodeTooMany}
		}
	}
	// Re-sign only when the ticket would not outlive the next few
	// heartbeats by far, or the operator changed: signing on every beat of
	// thousands of supernodes is wasted work.
	st := old.ticket
	if !known || old.username != t.Username || s.reg.stale(old, now) {
		st, err = ticket.Sign(s.key, ticket.Ticket{
			Username: t.Username,
			Peer:     remote,
			Device:   t.Device,
			Issued:   now,
			Expiry:   now.Add(wire.SupernodeTicketLifetime),
			Role:     ticket.RoleSupernode,
			BoxKey:   t.BoxKey,
		})
		if err != nil {
			s.log.Error("signing supernode ticket", "err", err)
			return &wire.RegistryResponse{Error: CodeInternal}
		}
	}
	s.reg.sns[remote] = snEntry{
		username: t.Username,
		record:   append([]byte(nil), m.GetPeerRecord()...),
		ticket:   st,
		last:     now,
	}
	if !known {
		s.log.Info("supernode registered", "peer", remote, "user", t.Username, "addrs", rec.Addrs)
	}
	return &wire.RegistryResponse{SupernodeTicket: st}
}

// stale reports whether e's supernode ticket has less than half its
// lifetime left (or was issued in the future of a clock that went back).
func (r *registry) stale(e snEntry, now time.Time) bool {
	var w wire.Ticket
	if e.ticket == nil || proto.Unmarshal(e.ticket.GetTicket(), &w) != nil {
		return true
	}
	issued, expiry := time.Unix(w.GetIssuedUnix(), 0), time.Unix(w.GetExpiryUnix(), 0)
	return expiry.Sub(now) < wire.SupernodeTicketLifetime/2 || now.Before(issued)
}

// Supernodes returns the live supernodes (with the server itself first when
// Config.SelfSupernode is set), as many as fit in budget bytes of encoded
// repeated SupernodeInfo. When not all fit, the ones kept are those with the
// lowest peer IDs, so every client sees the same subset and homing
// (supernode/client.UserHomes) agrees across clients.
func (s *Server) Supernodes(budget int) []*wire.SupernodeInfo {
	now := s.now()
	var infos []*wire.SupernodeInfo
	if self := s.selfInfo(now); self != nil {
		infos = append(infos, self)
	}
	s.reg.mu.Lock()
	ids := make([]peer.ID, 0, len(s.reg.sns))
	for id, e := range s.reg.sns {
		// A supernode revoked between heartbeats is no longer listed.
		if e.live(now) && !s.revoked(id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		e := s.reg.sns[id]
		infos = append(infos, &wire.SupernodeInfo{Ticket: e.ticket, PeerRecord: e.record})
	}
	s.reg.mu.Unlock()
	return fitInfos(infos, budget)
}

// registryListBudget is the bytes of SupernodeInfo a list answer carries.
const registryListBudget = wire.MaxRegistryFrame - 64

// fitInfos returns the longest prefix of infos whose encoding as a repeated
// field takes at most budget bytes.
func fitInfos(infos []*wire.SupernodeInfo, budget int) []*wire.SupernodeInfo {
	used := 0
	for i, in := range infos {
		n := proto.Size(in)
		used += 1 + protoVarintLen(n) + n // tag, length, body
		if used > budget {
			return infos[:i]
		}
	}
	return infos
}

func protoVarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// selfInfo is the server's own entry when it runs the supernode services
// (Config.SelfSupernode): a role-supernode ticket for its own peer ID under
// SelfUsername, and a fresh record of the attached host's addresses.
func (s *Server) selfInfo(now time.Time) *wire.SupernodeInfo {
	if !s.selfSN {
		return nil
	}
	var h host.Host
	for _, a := range s.listen.Hosts() {
		if a.ID() == s.id {
			h = a
			break
		}
	}
	if h == nil {
		return nil
	}
	rec, err := ticket.SealRecord(s.key, peer.AddrInfo{ID: s.id, Addrs: h.Addrs()})
	if err != nil {
		s.log.Error("sealing own peer record", "err", err)
		return nil
	}
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	if s.reg.selfTicket == nil || s.reg.selfExpiry.Sub(now) < wire.SupernodeTicketLifetime/2 || now.Before(s.reg.selfExpiry.Add(-wire.SupernodeTicketLifetime)) {
		st, err := ticket.Sign(s.key, ticket.Ticket{
			Username: SelfUsername,
			Peer:     s.id,
			Device:   "auth server",
			Issued:   now,
			Expiry:   now.Add(wire.SupernodeTicketLifetime),
			Role:     ticket.RoleSupernode,
		})
		if err != nil {
			s.log.Error("signing own supernode ticket", "err", err)
			return nil
		}
		s.reg.selfTicket, s.reg.selfExpiry = st, now.Add(wire.SupernodeTicketLifetime)
	}
	return &wire.SupernodeInfo{Ticket: s.reg.selfTicket, PeerRecord: rec}
}

// SupernodeIDs returns the peer IDs of the live supernodes as the registry
// lists them, for the supernode services in this process (which cannot
// dial their own host): supernode.ServicesConfig.Supernodes.
// It lists what a list request is answered with, so the subset agrees.
func (s *Server) SupernodeIDs(context.Context) ([]peer.ID, error) {
	infos := s.Supernodes(registryListBudget)
	ids := make([]peer.ID, 0, len(infos))
	now := s.now()
	for _, in := range infos {
		if t, err := ticket.Verify(s.id, in.GetTicket(), now); err == nil {
			ids = append(ids, t.Peer)
		}
	}
	return ids, nil
}

// loginSupernodes is the list carried by a login result: as many live
// supernodes as fit beside the rest of the answer in one auth frame.
func (s *Server) loginSupernodes(lr *wire.LoginResult) []*wire.SupernodeInfo {
	rest := proto.Size(&wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}})
	// Leave room for the outer message's length prefix growing.
	return s.Supernodes(wire.MaxAuthFrame - rest - 16)
}
