package authserver

// Replicas. Several servers may share one PostgreSQL database (issue 19):
// each is a replica, under a random ID of its own for the life of its
// process. They sign with one identity — the same host key, from a key file
// copied to each (LoadKeyFile), or from the database's secrets — and hold
// the same OPAQUE keys, which are only ever in the database's secrets, so
// an account registered at one replica signs in at any other and every
// ticket verifies under one peer ID.
//
// Once attached to a host, a replica writes its row in the replicas table
// at once and every Config.ReplicaHeartbeat: its multiaddrs and until when
// it counts as live (ReplicaLiveBeats heartbeats ahead, by its own
// interval, so replicas configured differently still agree on each
// other). The same loop reads the live replicas back, and every login and
// renewal lists their addresses (LoginResult.replicas), this replica's
// first, so a client that remembers them signs in at another when one does
// not answer. Close removes the row; a replica that crashed drops out of
// the list once its row expires, and out of the table ReplicaForget later.
// On SQLite there is one replica, and the same code lists it alone.
//
// Replicas compare heartbeats written with one clock against another's:
// their clocks must agree to well within ReplicaLiveBeats intervals, as
// NTP keeps them.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"eserver/node/wire"
)

// Replica defaults and bounds.
const (
	// DefaultReplicaHeartbeat is how often a replica writes its row.
	DefaultReplicaHeartbeat = 10 * time.Second
	// ReplicaLiveBeats is how many of its heartbeat intervals a replica
	// stays live after a heartbeat: one missed beat (a slow database, a
	// long pause) does not drop it from the list.
	ReplicaLiveBeats = 3
	// ReplicaForget is how long after it expired a row is deleted (by any
	// replica's heartbeat): a replica that crashed stays visible to the
	// operator in the table for a while, never in a login result.
	ReplicaForget = time.Hour
	// MaxAddrsPerReplica is how many multiaddrs one replica registers, so
	// a replica with many interfaces does not crowd the others out of
	// the wire.MaxReplicaAddrs a login result carries.
	MaxAddrsPerReplica = 4
	// replicaRemoveTimeout bounds Close's removal of the replica's row.
	replicaRemoveTimeout = 5 * time.Second
)

// newReplicaID is a fresh random replica ID: 32 hex digits.
func newReplicaID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("replica ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ReplicaID is the server's ID in the database's table of replicas: random,
// new in every process.
func (s *Server) ReplicaID() string { return s.replicaID }

// serveReplica heartbeats until ctx ends (the server closes); Close removes
// the row after it returned, so no heartbeat writes it back.
func (s *Server) serveReplica(ctx context.Context) {
	tick := time.NewTicker(s.replicaBeat)
	defer tick.Stop()
	for {
		s.replicaHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// replicaHeartbeat writes this replica's row, reads the live replicas back
// for the login results, and deletes rows long expired. When the database
// does not answer, the replicas read last stay listed until their rows'
// expiry: a login checks it (loginReplicas).
func (s *Server) replicaHeartbeat(ctx context.Context) {
	now := s.now()
	own := s.ownAddrs()
	if len(own) > 0 {
		row := replicaRow{id: s.replicaID, addrs: own, started: s.started, heartbeat: now,
			expires: now.Add(ReplicaLiveBeats * s.replicaBeat)}
		if err := s.store.heartbeatReplica(ctx, row); err != nil {
			switch {
			case ctx.Err() != nil:
			case s.store.lostDB(err):
				s.markDBDown(err)
			default:
				s.log.Error("replica heartbeat", "replica", s.replicaID, "err", err)
			}
		} else if s.markDBUp(); !s.registered {
			s.registered = true
			// Debug: eserver-auth says the replica's ID at start (ReplicaID).
			s.log.Debug("replica registered", "replica", s.replicaID, "addrs", own)
		}
	}
	rows, err := s.store.liveReplicas(ctx, now, wire.MaxReplicaAddrs)
	if err != nil {
		if ctx.Err() == nil && !s.store.lostDB(err) {
			s.log.Error("listing replicas", "err", err)
		}
		return
	}
	var others []replicaRow
	for _, r := range rows {
		if r.id == s.replicaID {
			continue
		}
		// What another replica wrote is checked before it goes to clients:
		// a row from a misconfigured replica (another key) or a damaged
		// one is left out, and said once.
		var ok []string
		for _, a := range r.addrs {
			if err := checkReplicaAddr(a, s.id); err != nil {
				if !s.warnedReplicas[r.id] {
					s.log.Warn("replica not listed: address does not dial this server's identity", "replica", r.id, "addr", a, "err", err)
				}
				ok = nil
				break
			}
			ok = append(ok, a)
		}
		if len(ok) == 0 {
			s.warnedReplicas[r.id] = true
			continue
		}
		r.addrs = ok
		others = append(others, r)
	}
	s.replicas.Store(&others)
	if err := s.store.pruneReplicas(ctx, now.Add(-ReplicaForget)); err != nil && ctx.Err() == nil {
		s.log.Error("pruning replicas", "err", err)
	}
}

// otherReplicas is how many other replicas the last heartbeat found live.
func (s *Server) otherReplicas() int {
	if p := s.replicas.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// removeReplica deletes this replica's row: the server is closing, its
// heartbeat loop has returned.
func (s *Server) removeReplica() {
	if !s.registered {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), replicaRemoveTimeout)
	defer cancel()
	if err := s.store.removeReplica(ctx, s.replicaID); err != nil {
		// Its row expires on its own.
		s.log.Warn("removing replica", "replica", s.replicaID, "err", err)
		return
	}
	s.log.Debug("replica removed", "replica", s.replicaID)
}

// checkReplicaAddr checks an address another replica registered: within
// wire.MaxReplicaAddrLen (before it is parsed), a multiaddr, ending in
// /p2p/ of id, the identity tickets are signed with.
func checkReplicaAddr(a string, id peer.ID) error {
	if len(a) > wire.MaxReplicaAddrLen {
		return fmt.Errorf("%d bytes, limit %d", len(a), wire.MaxReplicaAddrLen)
	}
	m, err := ma.NewMultiaddr(a)
	if err != nil {
		return err
	}
	_, last := ma.SplitLast(m)
	if last == nil || last.Protocol().Code != ma.P_P2P {
		return fmt.Errorf("no /p2p/ at the end")
	}
	if p, err := peer.Decode(last.Value()); err != nil || p != id {
		return fmt.Errorf("/p2p/%s, not %s", last.Value(), id)
	}
	return nil
}

// ownAddrs is what this replica registers: the addresses of the hosts it is
// attached to (with /p2p/), public ones first, then private ones; loopback
// ones only when there are no others (a test, or a network on one
// machine); relayed ones never. At most MaxAddrsPerReplica.
func (s *Server) ownAddrs() []string {
	type ranked struct {
		rank int // 0 public, 1 private, 2 loopback
		a    string
	}
	var all []ranked
	seen := map[string]bool{}
	for _, h := range s.listen.Hosts() {
		if h.ID() != s.id {
			continue
		}
		for _, a := range h.Addrs() {
			if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
				continue
			}
			ip, err := manet.ToIP(a)
			if err != nil {
				continue // not an IP address: nothing a client dials directly
			}
			rank := 1
			switch {
			case ip.IsLoopback():
				rank = 2
			case isPublicIP(ip):
				rank = 0
			}
			full := a.String() + "/p2p/" + s.id.String()
			if len(full) > wire.MaxReplicaAddrLen || seen[full] {
				continue
			}
			seen[full] = true
			all = append(all, ranked{rank, full})
		}
	}
	slices.SortStableFunc(all, func(x, y ranked) int { return x.rank - y.rank })
	var out []string
	for _, r := range all {
		// Loopback only when there is nothing else (a test, a replica
		// serving its own machine): then all of it, TCP and QUIC.
		if r.rank == 2 && all[0].rank < 2 {
			break
		}
		if len(out) == MaxAddrsPerReplica {
			break
		}
		out = append(out, r.a)
	}
	return out
}

func isPublicIP(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}

// loginReplicas is LoginResult.replicas: this replica's addresses first
// (the client just reached it there), then those of every other replica
// live at now, by ID, at most wire.MaxReplicaAddrs in all.
func (s *Server) loginReplicas(now time.Time) []string {
	out := s.ownAddrs()
	seen := map[string]bool{}
	for _, a := range out {
		seen[a] = true
	}
	if p := s.replicas.Load(); p != nil {
		for _, r := range *p {
			if !r.expires.After(now) {
				continue
			}
			for _, a := range r.addrs {
				// The same address twice: a replica restarted, its old
				// row not yet expired.
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	if len(out) > wire.MaxReplicaAddrs {
		out = out[:wire.MaxReplicaAddrs]
	}
	return out
}
