package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestDeviceRevocation: alice signs in on a second computer and removes the
// first from her account. The first one's ticket, still unexpired, stops
// working at the supernode at once and at her contacts' nodes at their next
// poll; it cannot sign in again; the second lists it as removed.
func TestDeviceRevocation(t *testing.T) {
	svc := testBundle(t)
	laptop := newTestNode(t, svc.Addr(), "alice")
	bob := newTestNode(t, svc.Addr(), "bob")
	laptop.register()
	bob.register()
	laptop.login()
	bob.login()
	befriend(t, laptop, bob)
	ls, _ := laptop.current()
	laptopID, laptopTicket := ls.host.ID(), ls.tk().Signed

	phone := &testNode{t: t, dir: t.TempDir(), server: svc.Addr(), name: "alice", pass: laptop.pass}
	phone.open()
	t.Cleanup(phone.stop)
	phone.login()
	ds, err := phone.Devices(ctx(t))
	if err != nil || len(ds) != 2 {
		t.Fatalf("devices: %+v, %v", ds, err)
	}
	if err := phone.RevokeDevice(ctx(t), "not a peer ID", phone.pass); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("revoking garbage: %v", err)
	}
	// Removing another device takes the password: a stolen signed-in
	// phone cannot remove the laptop with its ticket alone.
	if err := phone.RevokeDevice(ctx(t), laptopID.String(), ""); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("revoking the laptop without the password: %v", err)
	}
	if err := phone.RevokeDevice(ctx(t), laptopID.String(), "wrong"); !errors.Is(err, api.ErrLoginFailed) {
		t.Fatalf("revoking the laptop with a wrong password: %v", err)
	}
	if err := phone.RevokeDevice(ctx(t), laptopID.String(), phone.pass); err != nil {
		t.Fatal(err)
	}
	ds, _ = phone.Devices(ctx(t))
	for _, d := range ds {
		if d.PeerID == laptopID.String() && d.Revoked == nil {
			t.Fatalf("laptop not shown removed: %+v", d)
		}
		if d.Current && d.PeerID == laptopID.String() {
			t.Fatal("the phone thinks it is the laptop")
		}
	}

	// The supernode refuses the laptop's ticket although it has not expired.
	waitUntil(t, "the supernode to learn of the revocation", func() bool { return svc.Revocations.Revoked(laptopID) })
	err = client.Rendezvous{}.Publish(ctx(t), ls.host, svc.Host.ID(), laptopTicket)
	if err == nil {
		t.Fatal("the supernode took a publish with a revoked device's ticket")
	}
	// Bob's node refuses the laptop once it has polled.
	bs, _ := bob.current()
	bs.revs.Kick()
	waitUntil(t, "bob's node to learn of the revocation", func() bool { return bs.revs.Revoked(laptopID) })
	// A hello with the laptop's ticket, from the laptop itself, is refused.
	if err := ls.host.Connect(ctx(t), peer.AddrInfo{ID: bs.host.ID(), Addrs: bs.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	st, err := ls.host.NewStream(ctx(t), bs.host.ID(), wire.ProtoMsg)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(st, &wire.Hello{Ticket: laptopTicket}); err != nil {
		t.Fatal(err)
	}
	if !streamBroken(st) {
		t.Fatal("bob's node took a hello with a revoked device's ticket")
	}
	// A device that removes itself is signed out, and told why.
	ps, _ := phone.current()
	if err := phone.RevokeDevice(ctx(t), ps.host.ID().String(), ""); err != nil {
		t.Fatal(err)
	}
	e := phone.waitFor("the phone's sign-out", func(e api.Event) bool { return e.SignedOut })
	if !strings.Contains(e.SignedOutReason, "removed") || e.SignedOutCode != api.SignedOutRevoked {
		t.Fatalf("signed out with reason %q, code %q", e.SignedOutReason, e.SignedOutCode)
	}
	// And the laptop cannot sign in again with its keys.
	laptop.stop()
	laptop.open()
	if _, err := laptop.Login(ctx(t), api.LoginRequest{Server: laptop.server, Username: "alice", Password: laptop.pass}); !errors.Is(err, api.ErrDeviceRevoked) {
		t.Fatalf("signing in on the removed laptop: %v", err)
	}
}

// TestChangePassword: the password changes at the server and this device's
// keys are re-sealed: the old password signs in nowhere, the new one
// everywhere, and this device keeps its identity (and its contacts).
func TestChangePassword(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	as, _ := alice.current()
	id := as.host.ID()
	if err := alice.ChangePassword(ctx(t), "wrong", "new-pw"); !errors.Is(err, api.ErrLoginFailed) {
		t.Fatalf("changing with a wrong password: %v", err)
	}
	if err := alice.ChangePassword(ctx(t), alice.pass, "new-pw"); err != nil {
		t.Fatal(err)
	}
	old := alice.pass
	alice.pass = "new-pw"
	if err := alice.Logout(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Login(ctx(t), api.LoginRequest{Server: server, Username: "alice", Password: old}); !errors.Is(err, api.ErrLoginFailed) {
		t.Fatalf("the old password: %v", err)
	}
	alice.login()
	as, _ = alice.current()
	if as.host.ID() != id {
		t.Fatalf("the device changed identity: %s, was %s", as.host.ID(), id)
	}
	if _, err := alice.Send(ctx(t), "bob", "same laptop, new password"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	// A new device signs in with the new password only.
	other := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: old}
	other.open()
	t.Cleanup(other.stop)
	if _, err := other.Login(ctx(t), api.LoginRequest{Server: server, Username: "alice", Password: old}); !errors.Is(err, api.ErrLoginFailed) {
		t.Fatalf("old password on a new device: %v", err)
	}
	other.pass = "new-pw"
	other.login()
}
