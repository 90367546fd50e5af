package authserver

// Devices and their revocation. Every ticket the server issues is recorded
// against its device (peer ID) first, in the same transaction that checks
// the peer was never revoked, so a revocation racing with a login either
// sees the new ticket's expiry (and carries the device in the log until
// then) or makes the login fail. The revocation log is what supernodes poll
// (wire.FetchRevocations on the registry protocol); the devices table is
// what keeps a revoked peer ID from ever getting a ticket again.

import (
	"context"
	"database/sql"
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

var (
	errRevoked = errors.New("device revoked")
	// errTooManyDevices refuses a ticket to a device beyond the account's
	// cap of devices with a live ticket (Config.MaxDevices).
	errTooManyDevices = errors.New("too many devices")
	errUnknownDevice  = errors.New("not a device of this account")
	errNoAccount      = errors.New("no such account")
)

// revokedSet is the in-memory copy of the revocation log, peer → horizon:
// every check of a presented, unexpired ticket consults it, and an
// unexpired ticket's device is always in the log (its horizon is at least
// the ticket's expiry).
type revokedSet map[peer.ID]time.Time

// peerRevoked reports whether p was ever revoked, by any account.
func peerRevoked(ctx context.Context, q querier, p peer.ID) (bool, error) {
	var yes bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE peer_id = ? AND revoked_unix IS NOT NULL)", []byte(p)).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("checking revocation of %s: %w", p, err)
	}
	return yes, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// isDevice reports whether p is a device of username that was not revoked:
// a peer that got a ticket for the account (or presented one, see
// learnDevice). A stream from p is authenticated by p's key, so a stranger
// cannot pass for one.
func isDevice(ctx context.Context, q querier, username string, p peer.ID) (bool, error) {
	var yes bool
	err := q.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM devices d JOIN accounts a ON a.id = d.account_id
		WHERE a.username = ? AND d.peer_id = ? AND d.revoked_unix IS NULL)`, username, []byte(p)).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("looking up device %s of %q: %w", p, username, err)
	}
	return yes, nil
}

// recordIssue records, before t is signed, that t is being issued: the
// device row is created or refreshed (name, last seen, latest expiry). It
// fails with errRevoked if t's peer was ever revoked, errNoAccount if the
// account is gone, and errTooManyDevices if t's device holds no live ticket
// while maxDevices others do (maxDevices 0: no cap). Counting live tickets,
// not rows, means a device left switched off stops counting a day after
// its last ticket, so a user whose old computers are gone is never stuck.
// It returns when the account was registered (accounts.created_unix, set
// by the server's clock at registration), read in the same transaction, for
// the ticket to carry: from the store at every issue, so a renewal keeps
// the account's age without trusting the ticket it renews; and the
// account's identity (nil when it has none), for the login result.
func recordIssue(ctx context.Context, db *sql.DB, t ticket.Ticket, maxDevices int) (accountCreated time.Time, id *identity, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("recording device: %w", err)
	}
	defer tx.Rollback()
	revoked, err := peerRevoked(ctx, tx, t.Peer)
	if err != nil {
		return time.Time{}, nil, err
	}
	if revoked {
		return time.Time{}, nil, errRevoked
	}
	if maxDevices > 0 {
		var self bool // t's device holds a live ticket already
		var others int
		err := tx.QueryRowContext(ctx, `
			SELECT coalesce(sum(d.peer_id = ?), 0) > 0, coalesce(sum(d.peer_id != ?), 0)
			FROM devices d JOIN accounts a ON a.id = d.account_id
			WHERE a.username = ? AND d.revoked_unix IS NULL AND d.expiry_unix > ?`,
			[]byte(t.Peer), []byte(t.Peer), t.Username, t.Issued.Unix()).Scan(&self, &others)
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("counting devices of %q: %w", t.Username, err)
		}
		if !self && others >= maxDevices {
			return time.Time{}, nil, errTooManyDevices
		}
	}
	// The SELECT's WHERE clause also keeps SQLite from parsing ON CONFLICT
	// as a join constraint.
	res, err := tx.ExecContext(ctx, `
		INSERT INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix)
		SELECT id, ?, ?, ?, ?, ? FROM accounts WHERE username = ?
		ON CONFLICT (account_id, peer_id) DO UPDATE SET
			name = excluded.name,
			last_unix = excluded.last_unix,
			expiry_unix = max(expiry_unix, excluded.expiry_unix)`,
		[]byte(t.Peer), t.Device, t.Issued.Unix(), t.Issued.Unix(), t.Expiry.Unix(), t.Username)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("recording device %s of %q: %w", t.Peer, t.Username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return time.Time{}, nil, errNoAccount
	}
	var created int64
	if err := tx.QueryRowContext(ctx, "SELECT created_unix FROM accounts WHERE username = ?", t.Username).Scan(&created); err != nil {
		return time.Time{}, nil, fmt.Errorf("reading when %q was created: %w", t.Username, err)
	}
	if id, err = accountIdentity(ctx, tx, t.Username); err != nil {
		return time.Time{}, nil, err
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, nil, fmt.Errorf("recording device: %w", err)
	}
	return time.Unix(created, 0), id, nil
}

// learnDevice records the device of a presented ticket t if it has no row
// yet: a device that signed in before devices were recorded. Which tickets
// it got then is unknown, so its expiry is set to the latest any ticket
// issued up to now can have.
func learnDevice(ctx context.Context, q querier, t *ticket.Ticket, now time.Time) error {
	expiry := t.Expiry
	if e := now.Add(wire.TicketLifetime); e.After(expiry) {
		expiry = e
	}
	_, err := q.ExecContext(ctx, `
		INSERT OR IGNORE INTO devices (account_id, peer_id, name, first_unix, last_unix, expiry_unix)
		SELECT id, ?, ?, ?, ?, ? FROM accounts WHERE username = ?`,
		[]byte(t.Peer), t.Device, t.Issued.Unix(), t.Issued.Unix(), expiry.Unix(), t.Username)
	if err != nil {
		return fmt.Errorf("recording device %s of %q: %w", t.Peer, t.Username, err)
	}
	return nil
}

// deviceRow is one row of the devices table.
type deviceRow struct {
	peer                     peer.ID
	name                     string
	first, last, revokedUnix int64
}

// listDevices returns up to limit of username's devices, most recently seen
// first, and how many there are.
func listDevices(ctx context.Context, db *sql.DB, username string, limit int) ([]deviceRow, int, error) {
	var total int
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM devices d JOIN accounts a ON a.id = d.account_id WHERE a.username = ?`,
		username).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting devices of %q: %w", username, err)
	}
	rows, err := db.QueryContext(ctx, `
		SELECT d.peer_id, d.name, d.first_unix, d.last_unix, coalesce(d.revoked_unix, 0)
		FROM devices d JOIN accounts a ON a.id = d.account_id
		WHERE a.username = ?
		ORDER BY d.last_unix DESC, d.peer_id
		LIMIT ?`, username, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
	}
	defer rows.Close()
	var out []deviceRow
	for rows.Next() {
		var r deviceRow
		var raw []byte
		if err := rows.Scan(&raw, &r.name, &r.first, &r.last, &r.revokedUnix); err != nil {
			return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
		}
		r.peer = peer.ID(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing devices of %q: %w", username, err)
	}
	return out, total, nil
}

// revocation is one entry of the log as stored.
type revocation struct {
	serial  uint64
	peer    peer.ID
	horizon int64
}

// revokeDevice revokes target, which must be a device of username. The
// horizon is the latest expiry of any ticket issued to target (under any
// account), and never earlier than a role-supernode ticket signed at now
// would expire: heartbeats are refused from now on, but one may be in
// flight. Revoking a revoked device changes nothing and returns
// already=true.
func revokeDevice(ctx context.Context, db *sql.DB, username string, target peer.ID, now time.Time) (r revocation, already bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return r, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	defer tx.Rollback()
	var revokedUnix sql.NullInt64
	err = tx.QueryRowContext(ctx, `
		SELECT d.revoked_unix FROM devices d JOIN accounts a ON a.id = d.account_id
		WHERE a.username = ? AND d.peer_id = ?`, username, []byte(target)).Scan(&revokedUnix)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, errUnknownDevice
	}
	if err != nil {
		return r, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	if revokedUnix.Valid {
		return r, true, nil
	}
	var expiry int64
	if err := tx.QueryRowContext(ctx, "SELECT max(expiry_unix) FROM devices WHERE peer_id = ?", []byte(target)).Scan(&expiry); err != nil {
		return r, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	// The horizon is when nothing signed under the device's tickets can be
	// presented any more: a ticket until its expiry, and mail left under one
	// until wire.MailTTL after that. Until then every node and supernode
	// must remember the revocation, or mail a thief left with a revoked
	// device's last ticket would pass once the entry was forgotten.
	horizon := max(expiry, now.Add(wire.SupernodeTicketLifetime).Unix()) + int64(wire.MailTTL/time.Second)
	// The ban is of the peer ID: every account's row of it says so.
	if _, err := tx.ExecContext(ctx, "UPDATE devices SET revoked_unix = ? WHERE peer_id = ? AND revoked_unix IS NULL",
		now.Unix(), []byte(target)); err != nil {
		return r, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO revocations (peer_id, horizon_unix, revoked_unix) VALUES (?, ?, ?)",
		[]byte(target), horizon, now.Unix())
	if err != nil {
		return r, false, fmt.Errorf("logging revocation of %s: %w", target, err)
	}
	serial, err := res.LastInsertId()
	if err != nil {
		return r, false, fmt.Errorf("logging revocation of %s: %w", target, err)
	}
	if err := tx.Commit(); err != nil {
		return r, false, fmt.Errorf("revoking %s: %w", target, err)
	}
	return revocation{serial: uint64(serial), peer: target, horizon: horizon}, false, nil
}

// revocationSerial is the log's serial: the highest ever given, even if its
// entry has been pruned since.
func revocationSerial(ctx context.Context, q querier) (uint64, error) {
	var serial int64
	err := q.QueryRowContext(ctx, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)").Scan(&serial)
	if err != nil {
		return 0, fmt.Errorf("reading revocation serial: %w", err)
	}
	return uint64(serial), nil
}

// revocationsAfter returns up to limit entries with since < serial <= upto,
// oldest first, and whether more follow.
func revocationsAfter(ctx context.Context, db *sql.DB, since, upto uint64, limit int) ([]revocation, bool, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT serial, peer_id, horizon_unix FROM revocations
		WHERE serial > ? AND serial <= ? ORDER BY serial LIMIT ?`, int64(since), int64(upto), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("reading revocations: %w", err)
	}
	defer rows.Close()
	var out []revocation
	for rows.Next() {
		var r revocation
		var raw []byte
		var serial int64
		if err := rows.Scan(&serial, &raw, &r.horizon); err != nil {
			return nil, false, fmt.Errorf("reading revocations: %w", err)
		}
		r.serial, r.peer = uint64(serial), peer.ID(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading revocations: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// loadRevoked reads the whole log into a revokedSet.
func loadRevoked(ctx context.Context, db *sql.DB) (revokedSet, error) {
	rs, _, err := revocationsAfter(ctx, db, 0, 1<<62, 1<<30)
	if err != nil {
		return nil, err
	}
	set := make(revokedSet, len(rs))
	for _, r := range rs {
		if h := time.Unix(r.horizon, 0); h.After(set[r.peer]) {
			set[r.peer] = h
		}
	}
	return set, nil
}

// pruneRevocations drops the entries whose horizon is before cutoff.
func pruneRevocations(ctx context.Context, db *sql.DB, cutoff time.Time) error {
	if _, err := db.ExecContext(ctx, "DELETE FROM revocations WHERE horizon_unix < ?", cutoff.Unix()); err != nil {
		return fmt.Errorf("pruning revocations: %w", err)
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
	if err := learnDevice(ctx, s.db, t, now); err != nil {
		s.log.Error("list devices", "err", err)
		return refusal(CodeInternal, "internal error"), nil
	}
	rows, total, err := listDevices(ctx, s.db, t.Username, wire.MaxListedDevices)
	if err != nil {
		s.log.Error("list devices", "err", err)
		return refusal(CodeInternal, "internal error"), nil
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
	if err := learnDevice(ctx, s.db, t, now); err != nil {
		s.log.Error("revoke device", "err", err)
		return refusal(CodeInternal, "internal error"), nil
	}
	if target != remote {
		// The proof is of the ticket's account, never of a name the
		// request could choose.
		if refused, err := s.authenticate(ctx, rw, t.Username, m.GetKe1(), remote, src, now); refused != nil || err != nil {
			return refused, err
		}
	}
	r, already, err := revokeDevice(ctx, s.db, t.Username, target, now)
	switch {
	case errors.Is(err, errUnknownDevice):
		return refusal(CodeUnknownDevice, "no such device on this account"), nil
	case err != nil:
		s.log.Error("revoke device", "err", err)
		return refusal(CodeInternal, "internal error"), nil
	}
	if !already {
		s.revMu.Lock()
		s.revokedPeers[target] = time.Unix(r.horizon, 0)
		s.revMu.Unlock()
		// Its supernode, if it runs one, leaves the registry at once.
		s.reg.mu.Lock()
		delete(s.reg.sns, target)
		s.reg.mu.Unlock()
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
	serial, err := revocationSerial(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if since > serial {
		// A reader ahead of us (a restored backup of the database): start
		// it over rather than leave it waiting for serials we will reuse.
		since = 0
	}
	rs, more, err := revocationsAfter(ctx, s.db, since, serial, wire.MaxRevocationEntries)
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
	if err := pruneRevocations(ctx, s.db, cutoff); err != nil {
		s.log.Error("pruning revocations", "err", err)
	}
}
