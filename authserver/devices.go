package authserver

// Devices and their revocation. Every ticket the server issues is recorded
// against its device (peer ID) first (store.recordIssue), in the same
// transaction that checks
// the peer was never revoked, so a revocation racing with a login either
// sees the new ticket's expiry (and carries the device in the log until
// then) or makes the login fail. The revocation log is what supernodes poll
// (wire.FetchRevocations on the registry protocol); the devices table is
// what keeps a revoked peer ID from ever getting a ticket again.
//
// The log is one, whatever replica wrote an entry (the store's serial
// orders them all). Each replica keeps a copy in memory (revokedPeers),
// which the Authenticate stage consults on every ticket — supernodes'
// heartbeats every few seconds among them, too many to ask the database —
// and follows the log every Config.RevocationSync for the entries other
// replicas wrote. Where a copy that lags by that much would matter, the
// store is asked itself: a login (authenticate), every issued ticket
// (recordIssue, in the transaction that records it), and every auth
// request presenting a ticket (checkTicketRevoked), which are rare — a
// renewal a day, a user's own device requests. The registry never lists a
// revoked device's supernode, whatever the copy (the store leaves it out),
// and supernodes fetch the log from the store at any replica
// (SignedRevocations).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
)

// Stable error codes of the device requests (besides CodeBadRequest,
// CodeInternal and CodeUnauthorized).
const (
	// CodeDeviceRevoked refuses a login, renewal, password change or ticket
	// from a peer ID that was revoked.
	CodeDeviceRevoked = "device_revoked"
	// CodeUnknownDevice refuses to revoke a peer ID that is not a device of
	// the asker's account: unknown and foreign peers alike, so an account
	// learns nothing about other accounts' devices.
	CodeUnknownDevice = "unknown_device"
)

// revocationPruneGrace keeps a log entry this long past its horizon, so a
// supernode whose clock runs behind ours still learns of it while it would
// accept the device's last ticket.
const revocationPruneGrace = time.Hour

// pruneEvery bounds how often a fetch of the log also prunes it.
const pruneEvery = time.Minute

// DefaultRevocationSync is how often a replica reads the log for entries
// other replicas wrote (Config.RevocationSync): one query of the serial
// when there are none.
const DefaultRevocationSync = 5 * time.Second

// revokedSet is the in-memory copy of the revocation log, peer → horizon:
// every check of a presented, unexpired ticket consults it, and an
// unexpired ticket's device is always in the log (its horizon is at least
// the ticket's expiry).
type revokedSet map[peer.ID]time.Time

// loadRevoked reads the whole log into a revokedSet, and the serial it
// holds every entry up to: the serial is read first, so an entry committed
// meanwhile is left for followRevocations rather than skipped.
func loadRevoked(ctx context.Context, st store) (revokedSet, uint64, error) {
	serial, err := st.revocationSerial(ctx)
	if err != nil {
		return nil, 0, err
	}
	rs, _, err := st.revocationsAfter(ctx, 0, serial, 1<<30)
	if err != nil {
		return nil, 0, err
	}
	set := make(revokedSet, len(rs))
	set.add(rs)
	return set, serial, nil
}

// add adds the entries rs and returns the peers that were not in set.
func (set revokedSet) add(rs []revocation) (added []peer.ID) {
	for _, r := range rs {
		old, ok := set[r.peer]
		if !ok {
			added = append(added, r.peer)
		}
		if h := time.Unix(r.horizon, 0); h.After(old) {
			set[r.peer] = h
		}
	}
	return added
}

// followRevocations reads the log every revSync until ctx ends (the server
// closes).
func (s *Server) followRevocations(ctx context.Context) {
	tick := time.NewTicker(s.revSync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.syncRevocations(ctx); err != nil && ctx.Err() == nil {
			// The copy keeps what it has; the paths where a lagging copy
			// matters ask the store themselves.
			s.log.Error("following the revocation log", "err", err)
		}
	}
}

// syncRevocations reads the entries after the serial the copy holds, in
// pages, into the copy. A revoked device learned here is treated as one
// revoked here: OnRevoke is told.
func (s *Server) syncRevocations(ctx context.Context) error {
	serial, err := s.store.revocationSerial(ctx)
	if err != nil {
		return err
	}
	s.revMu.Lock()
	since := s.revSerial
	s.revMu.Unlock()
	if serial < since {
		// The database was restored from an older backup: read it all
		// again, or entries under reused serials would be missed.
		since = 0
	}
	for since < serial {
		rs, more, err := s.store.revocationsAfter(ctx, since, serial, wire.MaxRevocationEntries)
		if err != nil {
			return err
		}
		next := serial
		if more {
			next = rs[len(rs)-1].serial
		}
		s.revMu.Lock()
		added := s.revokedPeers.add(rs)
		s.revSerial = next
		s.revMu.Unlock()
		for _, p := range added {
			s.revokedElsewhere(p)
		}
		since = next
	}
	s.revMu.Lock()
	s.revSerial = serial
	s.revMu.Unlock()
	return nil
}

// revokedElsewhere applies a revocation of p this replica learned from the
// log, as revokeDevice does one it stored itself. The registry is the
// store's, and the replica that revoked p dropped its supernode there.
func (s *Server) revokedElsewhere(p peer.ID) {
	s.log.Info("device revoked at another replica", "device", p)
	if s.onRevoke != nil {
		s.onRevoke(p)
	}
}

// checkTicketRevoked asks the store whether the device of t, a ticket the
// Authenticate stage accepted, was revoked, perhaps at another replica
// since this one last read the log. It returns the refusal to answer, or
// nil.
func (s *Server) checkTicketRevoked(ctx context.Context, t *ticket.Ticket, ip string) *wire.AuthResponse {
	revoked, err := s.store.peerRevoked(ctx, t.Peer)
	switch {
	case err != nil:
		return s.failed("checking revocation", err)
	case revoked:
		s.refused.note(s.log, RefusedRevoked, "ticket refused: device revoked", "user", t.Username, "peer", t.Peer, "ip", ip)
		return refusal(CodeDeviceRevoked, "this device was revoked")
	}
	return nil
}

// revoked reports whether p is in the revocation log: the check for a
// presented ticket, which verified and has not expired.
func (s *Server) revoked(p peer.ID) bool {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	_, ok := s.revokedPeers[p]
	return ok
}

// listDevices answers list_devices.
// t is the asker's node ticket, verified by the Authenticate stage.
func (s *Server) listDevices(ctx context.Context, t *ticket.Ticket, remote peer.ID) (*wire.AuthResponse, error) {
	now := s.now()
	if err := s.store.learnDevice(ctx, t, now); err != nil {
		return s.failed("list devices", err), nil
	}
	rows, total, err := s.store.listDevices(ctx, t.Username, wire.MaxListedDevices)
	if err != nil {
		return s.failed("list devices", err), nil
	}
	dl := &wire.DeviceList{Total: uint32(total)}
	// Room for the outer message and its length prefix: names are at most
	// MaxDevice bytes, so MaxListedDevices rows fit, but keep the answer
	// inside one frame whatever the limits become.
	budget := wire.MaxAuthFrame - 64
	for _, r := range rows {
		d := &wire.Device{
			PeerId:         []byte(r.peer),
			Name:           r.name,
			FirstLoginUnix: r.first,
			LastSeenUnix:   r.last,
			RevokedUnix:    r.revokedUnix,
			Current:        r.peer == remote,
		}
		n := proto.Size(d)
		budget -= 1 + protoVarintLen(n) + n
		if budget < 0 {
			break
		}
		dl.Devices = append(dl.Devices, d)
	}
	return &wire.AuthResponse{Kind: &wire.AuthResponse_Devices{Devices: dl}}, nil
}

// revokeDevice answers revoke_device.
// t is the asker's node ticket, verified by the Authenticate stage. A
// ticket is what a thief holding a signed-in device has, so it suffices
// only for the device to revoke itself; revoking another device needs the
// account's password, proven by an OPAQUE login on this stream (m.Ke1,
// then KE2 and KE3), rate-limited and counted like any login.
//
// The server never edits the account's signed device list (it cannot sign
// one): the revoked device stays in the stored list until the revoking
// device publishes one without it (publish_devices), and no list naming it
// is ever stored again.
func (s *Server) revokeDevice(ctx context.Context, rw *pipeline.Stream, t *ticket.Ticket, m *wire.RevokeDevice, remote peer.ID, src source) (*wire.AuthResponse, error) {
	now := s.now()
	ip := src.ip
	target, err := peer.IDFromBytes(m.GetPeerId())
	if err != nil {
		return refusal(CodeBadRequest, "malformed peer ID"), nil
	}
	if target != remote && len(m.GetKe1()) == 0 {
		return refusal(CodeBadRequest, "revoking another device needs the account's password"), nil
	}
	// The asker may predate device records; make sure it can revoke itself
	// and counts as the account's device for the login limits.
	if err := s.store.learnDevice(ctx, t, now); err != nil {
		return s.failed("revoke device", err), nil
	}
	if target != remote {
		// The proof is of the ticket's account, never of a name the
		// request could choose.
		if refused, err := s.authenticate(ctx, rw, t.Username, m.GetKe1(), remote, src, now); refused != nil || err != nil {
			return refused, err
		}
	}
	r, already, err := s.store.revokeDevice(ctx, t.Username, target, now)
	switch {
	case errors.Is(err, errUnknownDevice):
		return refusal(CodeUnknownDevice, "no such device on this account"), nil
	case err != nil:
		return s.failed("revoke device", err), nil
	}
	if !already {
		s.revMu.Lock()
		s.revokedPeers[target] = time.Unix(r.horizon, 0)
		s.revMu.Unlock()
		// Its supernode, if it runs one, leaves the registry at once. (It
		// is not listed even if this fails: listing skips revoked peers.)
		if err := s.store.dropSupernode(ctx, target); err != nil {
			s.log.Warn("revoke device: registry", "device", target, "err", err)
		}
		s.stats.revocations.Add(1)
		s.log.Info("device revoked", "user", t.Username, "device", target, "by", remote, "ip", ip, "serial", r.serial)
		if s.onRevoke != nil {
			s.onRevoke(target)
		}
	}
	return &wire.AuthResponse{Kind: &wire.AuthResponse_RevokeResult{RevokeResult: &wire.RevokeResult{}}}, nil
}

// SignedRevocations returns the page of the revocation log after serial
// since, signed with the server's key: what the registry answers to
// FetchRevocations, and what supernodes running in the server's own process
// use directly (supernode/client.Revocations.Fetch).
func (s *Server) SignedRevocations(ctx context.Context, since uint64) (*wire.SignedRevocations, error) {
	now := s.now()
	s.maybePrune(ctx, now)
	// The serial first, then the entries up to it: a revocation committed
	// in between is left for the next page instead of being skipped.
	serial, err := s.store.revocationSerial(ctx)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if since > serial {
		// A reader ahead of us (a restored backup of the database): start
		// it over rather than leave it waiting for serials we will reuse.
		since = 0
	}
	rs, more, err := s.store.revocationsAfter(ctx, since, serial, wire.MaxRevocationEntries)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	l := ticket.RevocationList{Since: since, Serial: serial, Issued: now, More: more}
	if more {
		l.Serial = rs[len(rs)-1].serial
	}
	for _, r := range rs {
		l.Entries = append(l.Entries, ticket.Revocation{Serial: r.serial, Peer: r.peer, Horizon: time.Unix(r.horizon, 0)})
	}
	sr, err := ticket.SignRevocations(s.key, l)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	return sr, nil
}

// maybePrune drops log entries (and their in-memory copies) well past their
// horizon, at most every pruneEvery.
func (s *Server) maybePrune(ctx context.Context, now time.Time) {
	s.revMu.Lock()
	if now.Sub(s.lastPrune) < pruneEvery && !now.Before(s.lastPrune) {
		s.revMu.Unlock()
		return
	}
	s.lastPrune = now
	cutoff := now.Add(-revocationPruneGrace)
	for p, h := range s.revokedPeers {
		if h.Before(cutoff) {
			delete(s.revokedPeers, p)
		}
	}
	s.revMu.Unlock()
	if err := s.store.pruneRevocations(ctx, cutoff); err != nil {
		s.log.Error("pruning revocations", "err", err)
	}
}
