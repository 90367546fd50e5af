package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
	"eserver/pipeline"
)

// changePassword answers change_password: a whole OPAQUE login with the old
// password (same revocation check and rate limits as a login), and only
// once its KE3 verified, a registration of the new one on the same stream,
// whose record replaces the account's. A stolen ticket alone changes
// nothing; a wrong old password counts as a failed login.
//
// An account with an identity must send its private key sealed afresh under
// the new password's export key (RegisterFinish.account_key_sealed), stored
// with the new record in one transaction: a client too old to do so is
// refused with bad_request, so it cannot leave an identity that no
// password opens. Without an identity the field is ignored.
func (s *Server) changePassword(ctx context.Context, rw *pipeline.Stream, m *wire.ChangePassword, remote peer.ID, src source) (*wire.AuthResponse, error) {
	now := s.now()
	acct, ip := m.Username, src.ip
	if refused, err := s.authenticate(ctx, rw, acct, m.Ke1, remote, src, now); refused != nil || err != nil {
		return refused, err
	}
	// The registration request is evaluated only now: before KE3, the
	// server must do no work for a caller who may not know the password.
	resp, err := s.pake.RegistrationResponse(acct, m.RegistrationRequest)
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
	if len(fin.AccountKeySealed) > wire.MaxAccountKeySealed {
		return refusal(CodeBadRequest, "sealed account key too large"), nil
	}
	switch err := s.store.updateRecord(ctx, acct, fin.RegistrationRecord, fin.AccountKeySealed); {
	case errors.Is(err, errNeedSealed):
		s.refused.note(s.log, RefusedBadRequest, "password change refused: the account identity was not sealed afresh", "user", acct, "peer", remote, "ip", ip)
		return refusal(CodeBadRequest, "this account has an identity: the new password must come with its key sealed afresh (update the app)"), nil
	case err != nil:
		return s.failed("change password", err, "user", acct), nil
	}
	s.stats.passwordChanges.Add(1)
	s.log.Info("password changed", "user", acct, "peer", remote, "ip", ip)
	return &wire.AuthResponse{Kind: &wire.AuthResponse_PasswordChanged{PasswordChanged: &wire.PasswordChanged{}}}, nil
}
