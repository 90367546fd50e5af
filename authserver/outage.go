package authserver

import (
	"eserver/node/wire"
)

// The database out of reach. Every request that needs the database is
// refused with CodeUnreachable while it does not answer — nothing is
// written half (each write is one transaction, which either committed
// before the database went or did not), and tickets already issued keep
// working: they verify offline, at supernodes and nodes, with the
// server's key. A client takes "unreachable" as a reason to try another
// replica once (node/login's failover): replicas share the database but
// not the path to it. The outage is logged once when it starts and once
// when it ends, not once per request.

// dbUnreachable is the message of an unreachable answer.
const dbUnreachable = "the account database is unreachable"

// failed answers a request the server could not complete on its side, and
// logs it: unreachable when err is the database out of reach (logged once
// for the outage, markDBDown), else internal, logged with what failed.
func (s *Server) failed(what string, err error, attrs ...any) *wire.AuthResponse {
	if s.store.lostDB(err) {
		s.markDBDown(err)
		return refusal(CodeUnreachable, dbUnreachable)
	}
	s.log.Error(what, append(attrs, "err", err)...)
	return refusal(CodeInternal, "internal error")
}

// markDBDown notes that the database does not answer; the first time of
// an outage it says so.
func (s *Server) markDBDown(err error) {
	if s.dbDown.CompareAndSwap(false, true) {
		s.stats.dbOutage()
		s.log.Error("the database is unreachable: requests that need it are refused with \"unreachable\" until it answers again; tickets already issued keep working", "err", err)
	}
}

// markDBUp notes that the database answered (the replica heartbeat wrote
// its row); after an outage it says so.
func (s *Server) markDBUp() {
	if s.dbDown.CompareAndSwap(true, false) {
		s.log.Info("the database answers again")
	}
}
