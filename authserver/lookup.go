package authserver

import (
	"context"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// User lookups: a signed-in user asks whether an account exists before
// adding it as a contact, so a mistyped name fails at once instead of
// leaving a request that nobody will ever answer.
//
// Usernames are public handles here, as MSN's addresses were: whoever knows
// one can ask to become a contact. What the lookup must not become is a way
// to read out the list of accounts, so it answers only holders of a node
// ticket (checked by the Authenticate stage; accounts are themselves
// throttled at creation) and at most Config.LookupRate times per
// LookupWindow per account, found or not, however many devices ask.

// lookupUser answers lookup_user. t is the asker's node ticket, verified by
// the Authenticate stage.
func (s *Server) lookupUser(ctx context.Context, t *ticket.Ticket, m *wire.LookupUser) (*wire.AuthResponse, error) {
	switch full, err := s.admit(ctx, s.now(), s.lookups.key(t.Username)); {
	case err != nil:
		return s.limitsFailed(err), nil
	case full != nil:
		s.log.Info("user lookup refused: account rate limited", "user", t.Username)
		return refusal(CodeRateLimited, "too many lookups, try again later"), nil
	}
	exists, err := s.store.accountExists(ctx, m.GetUsername())
	if err != nil {
		return s.failed("user lookup", err), nil
	}
	return &wire.AuthResponse{Kind: &wire.AuthResponse_UserLookup{UserLookup: &wire.UserLookup{Exists: exists}}}, nil
}
