package node

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/account"
	"eserver/node/api"
	"eserver/node/wire"
)

// TestAccountIdentity: one account signed in on two computers, and a
// contact. The first device makes the account identity; the second opens
// the same one from the auth server's copy and adds itself to the list.
// Bob pins the identity once, and the second device speaking raises no
// warning and leaves the safety number as it was; both of alice's devices
// show bob the same number. A device with a good ticket that the account
// never listed is refused. After a password change a new device still opens
// the same identity, and a device removed from the account is refused by
// bob as soon as he has seen the list without it.
func TestAccountIdentity(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	as, _ := alice.current()
	key := as.identity.Key()
	if key == nil || !as.identity.Own().Has(as.host.ID()) {
		t.Fatal("the first device made no identity, or its list lacks it")
	}
	if _, err := alice.Send(ctx(t), "bob", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	bs, _ := bob.current()
	c, _ := bs.store.Contact("alice")
	if !key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(c.AccountKey)) {
		t.Fatal("bob did not pin alice's account identity")
	}
	before, err := bob.SafetyNumber(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.VerifyContact(ctx(t), api.Verification{Username: "alice", Verified: true}); err != nil {
		t.Fatal(err)
	}

	// The desktop gets alice's contacts from her backup (the sync of a
	// list between live devices is another step).
	waitUntil(t, "alice's list backed up", func() bool { return as.contacts.BackupVersion() > 0 })
	desktop := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: alice.pass}
	desktop.open()
	t.Cleanup(desktop.stop)
	desktop.login()
	ds, _ := desktop.current()
	if !ds.identity.Key().Equal(key) {
		t.Fatal("the second device holds another identity")
	}
	if own := ds.identity.Own(); own.Version != 2 || !own.Has(as.host.ID()) || !own.Has(ds.host.ID()) {
		t.Fatalf("the second device's list: v%d %v", own.Version, own.Peers())
	}
	if _, err := desktop.Send(ctx(t), "bob", "from the desktop"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	c, _ = bs.store.Contact("alice")
	if !c.KeyChanged.IsZero() {
		t.Fatal("bob was warned of a new identity when alice added a device")
	}
	after, _ := bob.SafetyNumber(ctx(t), "alice")
	if after.Number != before.Number || !after.Verified {
		t.Fatalf("bob's safety number for alice: %q (verified %v), was %q", after.Number, after.Verified, before.Number)
	}
	fromLaptop, _ := alice.SafetyNumber(ctx(t), "bob")
	fromDesktop, _ := desktop.SafetyNumber(ctx(t), "bob")
	if fromLaptop.Number != fromDesktop.Number || fromLaptop.Number != before.Number {
		t.Fatalf("alice's devices show %q and %q, bob %q", fromLaptop.Number, fromDesktop.Number, before.Number)
	}

	// A device the auth server vouches for, which the account never listed.
	unlisted := bareDevice(t, server, "alice", alice.pass, false)
	h, st := unlisted.h, unlisted.ticket.Signed
	if err := h.Connect(ctx(t), peer.AddrInfo{ID: bs.host.ID(), Addrs: bs.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx(t), bs.host.ID(), wire.ProtoMsg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(s, &wire.Hello{Ticket: st}); err != nil {
		t.Fatal(err)
	}
	if !streamBroken(s) {
		t.Fatal("bob took a hello from a device alice's account never listed")
	}

	// The laptop removes the desktop: the list goes without it, and once
	// bob has heard from the laptop he refuses the desktop.
	if err := alice.RevokeDevice(ctx(t), ds.host.ID().String(), alice.pass); err != nil {
		t.Fatal(err)
	}
	if own := as.identity.Own(); own.Has(ds.host.ID()) || !own.Has(as.host.ID()) {
		t.Fatalf("the laptop's list after removing the desktop: %v", own.Peers())
	}
	if _, err := alice.Send(ctx(t), "bob", "the desktop is gone"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	c, _ = bs.store.Contact("alice")
	k, err := bs.identity.Contact(c)
	if err != nil || k.Devices.Has(ds.host.ID()) || !k.Devices.Has(as.host.ID()) {
		t.Fatalf("bob's list of alice's devices: %v, %v", k.Devices.Peers(), err)
	}
	if err := bs.identity.Admit(ds.tk(), nil); !errors.Is(err, account.ErrNotListed) {
		t.Fatalf("bob admits the removed desktop: %v", err)
	}

	// The password changes on the laptop; a new device opens the same
	// identity with the new password, and lists itself.
	if err := alice.ChangePassword(ctx(t), alice.pass, "new-pw"); err != nil {
		t.Fatal(err)
	}
	phone := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: "new-pw"}
	phone.open()
	t.Cleanup(phone.stop)
	phone.login()
	ps, _ := phone.current()
	if !ps.identity.Key().Equal(key) {
		t.Fatal("after a password change a new device holds another identity")
	}
	if own := ps.identity.Own(); !own.Has(ps.host.ID()) || own.Has(ds.host.ID()) {
		t.Fatalf("the phone's list: %v", own.Peers())
	}
}
