package authserver

// The supernode registry: supernodes heartbeat here with their operator's
// ticket and a signed peer record and get a role-supernode ticket back; any
// ticket holder may list the live ones, and every login and renewal carries
// the same list. It is kept in the store (the supernodes table), so every
// replica sharing a database lists the supernodes that heartbeated at any
// of them, and a heartbeat may go to any replica. A row is listed while
// its last heartbeat is younger than wire.SupernodeTTL; rows older than
// that are swept (Server.sweep), and until then count for nothing.

import (
	"context"
	"errors"
	"fmt"
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
// caps keep one account (or many) from filling the table or from taking over
// the homing of every user with a swarm of peer IDs.
const (
	MaxSupernodes        = 10_000 // live supernodes at once
	MaxSupernodesPerUser = 8      // live supernodes run by one account
)

// registry is what of the registry a server keeps in memory: its own
// role-supernode ticket (Config.SelfSupernode), which each replica signs
// for itself. The registered supernodes are in the store.
type registry struct {
	mu         sync.Mutex
	selfTicket *wire.SignedTicket
	selfExpiry time.Time
}

func newRegistry() *registry { return &registry{} }

// liveSince is the oldest heartbeat at or before which a supernode is no
// longer live at now: it is live while its last heartbeat is younger than
// wire.SupernodeTTL.
func liveSince(now time.Time) time.Time { return now.Add(-wire.SupernodeTTL) }

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
		return s.heartbeat(ctx, k.Heartbeat, r.Ticket, r.Remote, s.now()), nil
	case *wire.RegistryRequest_List:
		infos, err := s.supernodes(ctx, registryListBudget)
		if err != nil {
			s.log.Error("supernode list", "err", err)
			return &wire.RegistryResponse{Error: CodeInternal}, nil
		}
		return &wire.RegistryResponse{Supernodes: infos}, nil
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
func (s *Server) heartbeat(ctx context.Context, m *wire.Heartbeat, t *ticket.Ticket, remote peer.ID, now time.Time) *wire.RegistryResponse {
	rec, err := ticket.VerifyRecord(remote, m.GetPeerRecord())
	if err == nil && len(rec.Addrs) == 0 {
		err = errors.New("record lists no addresses")
	}
	if err != nil {
		s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: record", "peer", remote, "user", t.Username, "err", err)
		return &wire.RegistryResponse{Error: CodeBadRequest}
	}

	raw, added, err := s.store.beat(ctx, snRow{
		peer:     remote,
		username: t.Username,
		record:   append([]byte(nil), m.GetPeerRecord()...),
		last:     now,
	}, liveSince(now), MaxSupernodes, MaxSupernodesPerUser, func(old *snRow) ([]byte, error) {
		// Re-sign only when the ticket would not outlive the next few
		// heartbeats by far, or the operator changed: signing on every
		// beat of thousands of supernodes is wasted work.
		if old != nil && old.username == t.Username && !staleTicket(old.ticket, now) {
			return old.ticket, nil
		}
		st, err := ticket.Sign(s.key, ticket.Ticket{
			Username: t.Username,
			Peer:     remote,
			Device:   t.Device,
			Issued:   now,
			Expiry:   now.Add(wire.SupernodeTicketLifetime),
			Role:     ticket.RoleSupernode,
			BoxKey:   t.BoxKey,
		})
		if err != nil {
			return nil, fmt.Errorf("signing supernode ticket: %w", err)
		}
		return proto.Marshal(st)
	})
	switch {
	case errors.Is(err, errRegistryFull):
		s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: registry full", "peer", remote, "user", t.Username)
		return &wire.RegistryResponse{Error: CodeTooMany}
	case errors.Is(err, errOperatorFull):
		s.refused.note(s.log, RefusedHeartbeat, "heartbeat refused: too many supernodes for one account", "peer", remote, "user", t.Username)
		return &wire.RegistryResponse{Error: CodeTooMany}
	case err != nil:
		s.log.Error("heartbeat", "peer", remote, "user", t.Username, "err", err)
		return &wire.RegistryResponse{Error: CodeInternal}
	}
	var st wire.SignedTicket
	if err := proto.Unmarshal(raw, &st); err != nil {
		s.log.Error("heartbeat: stored supernode ticket", "peer", remote, "err", err)
		return &wire.RegistryResponse{Error: CodeInternal}
	}
	if added {
		s.log.Info("supernode registered", "peer", remote, "user", t.Username, "addrs", rec.Addrs)
	}
	return &wire.RegistryResponse{SupernodeTicket: &st}
}

// staleTicket reports whether raw, a serialized role-supernode ticket, has
// less than half its lifetime left (or was issued in the future of a clock
// that went back), or does not decode.
func staleTicket(raw []byte, now time.Time) bool {
	var st wire.SignedTicket
	var w wire.Ticket
	if proto.Unmarshal(raw, &st) != nil || proto.Unmarshal(st.GetTicket(), &w) != nil {
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
//
// A store error is logged and leaves the registered supernodes out; the
// server's own requests use supernodes, which returns it.
func (s *Server) Supernodes(budget int) []*wire.SupernodeInfo {
	infos, err := s.supernodes(context.Background(), budget)
	if err != nil {
		s.log.Error("listing supernodes", "err", err)
	}
	return infos
}

// supernodes is Supernodes, failing when the store does; then it returns
// the server's own entry alone (when it has one).
func (s *Server) supernodes(ctx context.Context, budget int) ([]*wire.SupernodeInfo, error) {
	now := s.now()
	var infos []*wire.SupernodeInfo
	if self := s.selfInfo(now); self != nil {
		infos = append(infos, self)
	}
	selfN, used := len(infos), encodedSize(infos)
	var bad error
	err := s.store.liveSupernodes(ctx, liveSince(now), func(r snRow) bool {
		var st wire.SignedTicket
		if err := proto.Unmarshal(r.ticket, &st); err != nil {
			bad = fmt.Errorf("supernode %s: stored ticket: %w", r.peer, err)
			return true
		}
		in := &wire.SupernodeInfo{Ticket: &st, PeerRecord: r.record}
		// Stop reading at the first that does not fit: the rows come in
		// peer-ID order, so what is kept is the lowest IDs.
		if used += encodedSize([]*wire.SupernodeInfo{in}); used > budget {
			return false
		}
		infos = append(infos, in)
		return true
	})
	if err != nil {
		return fitInfos(infos[:selfN], budget), err
	}
	if bad != nil {
		s.log.Error("listing supernodes", "err", bad)
	}
	return fitInfos(infos, budget), nil
}

// registryListBudget is the bytes of SupernodeInfo a list answer carries.
const registryListBudget = wire.MaxRegistryFrame - 64

// fitInfos returns the longest prefix of infos whose encoding as a repeated
// field takes at most budget bytes.
func fitInfos(infos []*wire.SupernodeInfo, budget int) []*wire.SupernodeInfo {
	used := 0
	for i := range infos {
		if used += encodedSize(infos[i : i+1]); used > budget {
			return infos[:i]
		}
	}
	return infos
}

// encodedSize is the bytes infos take encoded as a repeated field.
func encodedSize(infos []*wire.SupernodeInfo) int {
	used := 0
	for _, in := range infos {
		n := proto.Size(in)
		used += 1 + protoVarintLen(n) + n // tag, length, body
	}
	return used
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
func (s *Server) SupernodeIDs(ctx context.Context) ([]peer.ID, error) {
	infos, err := s.supernodes(ctx, registryListBudget)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
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
func (s *Server) loginSupernodes(ctx context.Context, lr *wire.LoginResult) ([]*wire.SupernodeInfo, error) {
	rest := proto.Size(&wire.AuthResponse{Kind: &wire.AuthResponse_LoginResult{LoginResult: lr}})
	// Leave room for the outer message's length prefix growing.
	return s.supernodes(ctx, wire.MaxAuthFrame-rest-16)
}
