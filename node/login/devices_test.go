package login_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"eserver/authserver"
	"eserver/node/login"
	"eserver/node/wire"
)

// TestDevices: each login records its device; any device lists them and
// revokes another; the revoked one is refused a renewal and a login with the
// right password, and the revocation log carries it.
func TestDevices(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	laptop, phone, bob := newClient(t), newClient(t), newClient(t)
	for _, u := range []string{"alice", "bob"} {
		if err := login.Register(ctx, laptop, server, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	lt, err := login.Login(ctx, laptop, server, login.Request{Username: "alice", Password: "pw", Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	pt, err := login.Login(ctx, phone, server, login.Request{Username: "alice", Password: "pw", Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := login.Login(ctx, bob, server, login.Request{Username: "bob", Password: "pw", Device: "bob's"}); err != nil {
		t.Fatal(err)
	}

	devs, total, err := login.Devices(ctx, laptop, server, lt.Ticket.Signed)
	if err != nil {
		t.Fatal(err)
	}
	// Most recently seen first.
	if total != 2 || len(devs) != 2 || devs[0].Peer != phone.ID() || devs[1].Peer != laptop.ID() {
		t.Fatalf("devices %+v, total %d", devs, total)
	}
	if d := devs[1]; d.Name != "laptop" || !d.Current || !d.Revoked.IsZero() || d.FirstLogin.Unix() != lt.Ticket.Issued.Unix() {
		t.Fatalf("laptop listed as %+v", d)
	}
	if devs[0].Name != "phone" || devs[0].Current {
		t.Fatalf("phone listed as %+v", devs[0])
	}

	refusals := []struct {
		name string
		err  error
		want error
	}{
		{"revoke another account's device", login.RevokeDevice(ctx, laptop, server, lt.Ticket, bob.ID(), "pw"), login.ErrUnknownDevice},
		{"revoke with a stolen ticket", login.RevokeDevice(ctx, bob, server, lt.Ticket, phone.ID(), "pw"), login.ErrUnauthorized},
		{"revoke another device without the password", login.RevokeDevice(ctx, phone, server, pt.Ticket, laptop.ID(), ""), login.ErrBadRequest},
		{"revoke another device with a wrong password", login.RevokeDevice(ctx, phone, server, pt.Ticket, laptop.ID(), "guess"), login.ErrLoginFailed},
	}
	for _, tt := range refusals {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}

	clk.Advance(time.Minute)
	if err := login.RevokeDevice(ctx, laptop, server, lt.Ticket, phone.ID(), "pw"); err != nil {
		t.Fatal(err)
	}
	revoked := []struct {
		name string
		do   func() error
	}{
		{"renew", func() error { _, err := login.Renew(ctx, phone, server, pt.Ticket); return err }},
		{"login", func() error {
			_, err := login.Login(ctx, phone, server, login.Request{Username: "alice", Password: "pw"})
			return err
		}},
		{"list devices", func() error { _, _, err := login.Devices(ctx, phone, server, pt.Ticket.Signed); return err }},
		{"fetch revocations", func() error {
			_, err := login.FetchRevocations(ctx, phone, server, pt.Ticket.Signed, 0)
			if errors.Is(err, login.ErrUnauthorized) {
				return login.ErrDeviceRevoked // the registry says only "unauthorized"
			}
			return err
		}},
	}
	for _, tt := range revoked {
		if err := tt.do(); !errors.Is(err, login.ErrDeviceRevoked) {
			t.Errorf("revoked phone, %s: %v", tt.name, err)
		}
	}
	devs, _, err = login.Devices(ctx, laptop, server, lt.Ticket.Signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if (d.Peer == phone.ID()) != !d.Revoked.IsZero() {
			t.Fatalf("after revoking the phone: %+v", devs)
		}
	}

	l, err := login.FetchRevocations(ctx, laptop, server, lt.Ticket.Signed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Serial != 1 || len(l.Entries) != 1 || l.Entries[0].Peer != phone.ID() || l.Entries[0].Horizon.Before(pt.Ticket.Expiry) {
		t.Fatalf("revocation log %+v", l)
	}
	if l, err := login.FetchRevocations(ctx, laptop, server, lt.Ticket.Signed, l.Serial); err != nil || len(l.Entries) != 0 {
		t.Fatalf("log after serial 1: %+v, %v", l, err)
	}
}

// TestChangePassword: the old password stops working and the new one
// works; the export keys returned are those of a login with each; a wrong
// old password changes nothing and counts against the rate limit that
// logins share.
func TestChangePassword(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	c := newClient(t)
	if err := login.Register(ctx, c, server, "alice", "old"); err != nil {
		t.Fatal(err)
	}
	before, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "old"})
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey, err := login.ChangePassword(ctx, c, server, "alice", "old", "new", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oldKey, before.ExportKey) || len(newKey) < 32 || bytes.Equal(newKey, oldKey) {
		t.Fatalf("export keys: old %x (login had %x), new %x", oldKey, before.ExportKey, newKey)
	}
	after, err := login.Login(ctx, newClient(t), server, login.Request{Username: "alice", Password: "new"})
	if err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if !bytes.Equal(after.ExportKey, newKey) {
		t.Fatal("a login with the new password yields another export key than ChangePassword returned")
	}
	// The ticket from before still renews: a password change signs no
	// device out.
	if _, err := login.Renew(ctx, c, server, before.Ticket); err != nil {
		t.Fatalf("renewal after the change: %v", err)
	}

	tests := []struct {
		name     string
		user     string
		old, new string
		want     error
	}{
		{"empty new password", "alice", "new", "", login.ErrBadRequest},
		{"bad username", "Alice", "new", "x", login.ErrBadRequest},
		{"old password after the change", "alice", "old", "x", login.ErrLoginFailed},
		{"unknown user", "ghost", "new", "x", login.ErrLoginFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := login.ChangePassword(ctx, c, server, tt.user, tt.old, tt.new, nil); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "old"}); !errors.Is(err, login.ErrLoginFailed) {
		t.Fatalf("login with the old password: %v", err)
	}

	// Two failures so far ("old" at change and at login); three more reach
	// the limit, and then even the right password is refused, for a change
	// and a login alike.
	for i := range authserver.DefaultMaxFailures - 2 {
		if _, _, err := login.ChangePassword(ctx, c, server, "alice", "wrong", "x", nil); !errors.Is(err, login.ErrLoginFailed) {
			t.Fatalf("wrong old password %d: %v", i+1, err)
		}
	}
	if _, _, err := login.ChangePassword(ctx, c, server, "alice", "new", "x", nil); !errors.Is(err, login.ErrRateLimited) {
		t.Fatalf("change over the limit: %v", err)
	}
	if _, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "new"}); !errors.Is(err, login.ErrRateLimited) {
		t.Fatalf("login over the limit: %v", err)
	}
	clk.Advance(authserver.DefaultFailureWindow)
	if _, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "new"}); err != nil {
		t.Fatalf("after the window, the new password: %v", err)
	}
}

// TestDeviceListBounded: wire.MaxListedDevices devices with the longest
// names and peer IDs (42 bytes) and every field set fit in one auth frame,
// so a full list is never cut by the server's frame budget.
func TestDeviceListBounded(t *testing.T) {
	if wire.MaxListedDevices*(wire.MaxDeviceName+96) > wire.MaxAuthFrame {
		t.Fatalf("%d devices with the longest names may not fit in one auth frame", wire.MaxListedDevices)
	}
}
