package authserver

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"eserver/node/pake"
	"eserver/node/wire"
)

// changePassword runs a change_password exchange from c. A nil old password
// forges KE3 (a caller who does not know it); junkRecord sends a malformed
// registration record after authenticating. It returns the final error code
// ("" on success) and how far it got.
func changePassword(t *testing.T, c host.Host, f *fixture, user string, old []byte, newPw string, junkRequest, junkRecord bool) string {
	t.Helper()
	return changePasswordSealed(t, c, f, user, old, newPw, junkRequest, junkRecord, nil)
}

// changePasswordSealed is changePassword sending sealed as the account
// key sealed afresh in RegisterFinish.
func changePasswordSealed(t *testing.T, c host.Host, f *fixture, user string, old []byte, newPw string, junkRequest, junkRecord bool, sealed []byte) string {
	t.Helper()
	lc, _ := pake.NewClient(user)
	ke1, err := lc.LoginStart(append([]byte("x"), old...))
	if err != nil {
		t.Fatal(err)
	}
	if old != nil {
		lc, _ = pake.NewClient(user)
		if ke1, err = lc.LoginStart(old); err != nil {
			t.Fatal(err)
		}
	}
	rc, _ := pake.NewClient(user)
	req, err := rc.RegistrationStart([]byte(newPw))
	if err != nil {
		t.Fatal(err)
	}
	if junkRequest {
		req = []byte{1, 2, 3}
	}
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_ChangePassword{ChangePassword: &wire.ChangePassword{Username: user, Ke1: ke1, RegistrationRequest: req}}})
	r := recv(t, st)
	k2, ok := r.Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		return errCode(r)
	}
	ke3 := make([]byte, 64)
	if old != nil {
		if ke3, _, err = lc.LoginFinish(k2.Ke2); err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	send(t, st, &wire.LoginFinish{Ke3: ke3})
	r = recv(t, st)
	rr, ok := r.Kind.(*wire.AuthResponse_RegistrationResponse)
	if !ok {
		return errCode(r)
	}
	rec := []byte("junk")
	if !junkRecord {
		if rec, err = rc.RegistrationFinish(rr.RegistrationResponse); err != nil {
			t.Fatal(err)
		}
	}
	send(t, st, &wire.RegisterFinish{RegistrationRecord: rec, AccountKeySealed: sealed})
	r = recv(t, st)
	if r.GetPasswordChanged() == nil {
		return errCode(r)
	}
	return ""
}

// TestChangePasswordServer: only a caller who proves the old password gets
// the registration step; every refusal leaves the stored record as it was;
// a wrong old password is a failed login for the rate limit; a revoked
// device cannot change the password.
func TestChangePasswordServer(t *testing.T) {
	f := start(t, "", &clock{t: time.Now()})
	c := newClient(t)
	if got := register(t, c, f, "alice", "old"); got != "" {
		t.Fatal(got)
	}
	ctx := context.Background()
	stored := func() []byte {
		rec, err := f.srv.store.accountRecord(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	orig := stored()
	refusals := []struct {
		name                    string
		user                    string
		old                     []byte
		junkRequest, junkRecord bool
		want                    string
	}{
		{"forged KE3", "alice", nil, false, false, CodeLoginFailed},
		{"unknown user", "ghost", nil, false, false, CodeLoginFailed},
		{"malformed registration request", "alice", []byte("old"), true, false, CodeBadRequest},
		{"malformed record", "alice", []byte("old"), false, true, CodeBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if got := changePassword(t, c, f, tt.user, tt.old, "new", tt.junkRequest, tt.junkRecord); got != tt.want {
				t.Fatalf("code %q, want %q", got, tt.want)
			}
			if !bytes.Equal(stored(), orig) {
				t.Fatal("a refused change replaced the record")
			}
		})
	}
	if got := f.srv.Stats().PasswordsChanged; got != 0 {
		t.Fatalf("%d changes counted", got)
	}

	if got := changePassword(t, c, f, "alice", []byte("old"), "new", false, false); got != "" {
		t.Fatalf("change: %q", got)
	}
	if bytes.Equal(stored(), orig) || f.srv.Stats().PasswordsChanged != 1 {
		t.Fatal("the record was not replaced")
	}
	// The old password no longer opens the record: the client sees it in KE2.
	pc, _ := pake.NewClient("alice")
	ke1, _ := pc.LoginStart([]byte("old"))
	ls := stream(t, c, f)
	send(t, ls, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: "alice", Ke1: ke1}}})
	k2, ok := recv(t, ls).Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		t.Fatal("no KE2")
	}
	if _, _, err := pc.LoginFinish(k2.Ke2); !errors.Is(err, pake.ErrAuth) {
		t.Fatalf("old password after the change: %v", err)
	}
	ls.Reset()
	got, st := login(t, c, f, "alice", []byte("new"))
	if got != "" {
		t.Fatalf("new password: %q", got)
	}

	// A revoked device is refused before any OPAQUE work.
	if r := ask(t, c, f, revokeReq(st, c.ID())); r.GetRevokeResult() == nil {
		t.Fatalf("revoke: %q", errCode(r))
	}
	ke2 := f.srv.stats.ke2.Load()
	if got := changePassword(t, c, f, "alice", []byte("new"), "newer", false, false); got != CodeDeviceRevoked {
		t.Fatalf("revoked device: %q", got)
	}
	if f.srv.stats.ke2.Load() != ke2 {
		t.Fatal("a revoked device's change cost a KE2")
	}
}
