package authserver

import (
	"context"
	"database/sql"
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
	if err := updateRecord(ctx, s.db, acct, fin.RegistrationRecord); err != nil {
		s.log.Error("change password", "user", acct, "err", err)
		return refusal(CodeInternal, "internal error"), nil
	}
	s.stats.passwordChanges.Add(1)
	s.log.Info("password changed", "user", acct, "peer", remote, "ip", ip)
	return &wire.AuthResponse{Kind: &wire.AuthResponse_PasswordChanged{PasswordChanged: &wire.PasswordChanged{}}}, nil
}

// updateRecord replaces username's OPAQUE record.
func updateRecord(ctx context.Context, db *sql.DB, username string, record []byte) error {
	res, err := db.ExecContext(ctx, "UPDATE accounts SET record = ? WHERE username = ?", record, username)
	if err != nil {
		return fmt.Errorf("updating record of %q: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("updating record of %q: %w", username, errNoAccount)
	}
	return nil
}
