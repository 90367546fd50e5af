package node

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/delivery"
	"eserver/supernode/client"
)

// secondDevice signs first's account in on a new computer (a fresh profile) with
// password, once the account's contact list is backed up from first (so
// the new device has its contacts).
func secondDevice(t testing.TB, server string, first *testNode) *testNode {
	t.Helper()
	fs, _ := first.current()
	waitUntil(t, first.name+"'s list backed up", func() bool { return fs.contacts.BackupVersion() > 0 })
	d := &testNode{t: t, dir: t.TempDir(), server: server, name: first.name, pass: first.pass}
	d.open()
	t.Cleanup(d.stop)
	d.login()
	return d
}

// history is the texts of n's history with peer, oldest first, and
// whether each is ours.
func history(t *testing.T, n *testNode, peer string) []string {
	t.Helper()
	ms, err := n.History(ctx(t), peer, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s:%s", m.From, m.Text))
	}
	return out
}

// TestEveryDevice: alice is signed in on three computers. What bob sends
// her reaches all three, each message once and in order; what she sends
// from one appears on the other two; a device that was off while bob
// wrote catches up from its mailbox when it signs in again; once she
// removes a device, bob sends it nothing more.
func TestEveryDevice(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	laptop, bob := friends(t, server)
	desktop := secondDevice(t, server, laptop)
	phone := secondDevice(t, server, laptop)
	ls, _ := laptop.current()
	ds, _ := desktop.current()
	ps, _ := phone.current()
	bs, _ := bob.current()
	devices := []*testNode{laptop, desktop, phone}

	// Bob hears of all three devices (each says hello with the list).
	waitUntil(t, "bob to know alice's three devices", func() bool {
		c, _ := bs.store.Contact("alice")
		k, err := bs.identity.Contact(c)
		return err == nil && k.Devices != nil && k.Devices.Has(ls.host.ID()) && k.Devices.Has(ds.host.ID()) && k.Devices.Has(ps.host.ID())
	})
	var want []string
	for i := range 5 {
		text := fmt.Sprintf("bob #%d", i)
		if _, err := bob.Send(ctx(t), "alice", text); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob:"+text)
	}
	for _, d := range devices {
		dd, _ := d.current()
		waitUntil(t, "bob's messages on every device of alice's", func() bool { return len(history(t, d, "bob")) >= len(want) })
		if got := history(t, d, "bob"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("device %s has %q, want %q", dd.host.ID(), got, want)
		}
	}

	// The desktop is off while bob writes; it catches up at sign-in.
	desktop.stop()
	for i := range 3 {
		text := fmt.Sprintf("while the desktop was off #%d", i)
		if _, err := bob.Send(ctx(t), "alice", text); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob:"+text)
	}
	laptop.collect("bob", 3)
	desktop.open()
	desktop.login()
	waitUntil(t, "the desktop to catch up", func() bool { return len(history(t, desktop, "bob")) >= len(want) })
	if got := history(t, desktop, "bob"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the desktop after catching up: %q, want %q", got, want)
	}

	// The laptop knows its siblings (their hellos) and sends: the desktop
	// and the phone show it as sent.
	waitUntil(t, "the laptop to know its siblings", func() bool {
		own := ls.identity.Own()
		return own.Has(ds.host.ID()) && own.Has(ps.host.ID())
	})
	if _, err := laptop.Send(ctx(t), "bob", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "alice:from the laptop")
	bob.collect("alice", 1)
	for _, d := range devices {
		waitUntil(t, "the laptop's message on every device", func() bool { return len(history(t, d, "bob")) >= len(want) })
		if got := history(t, d, "bob"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q, want %q", got, want)
		}
	}
	if got := history(t, bob, "alice"); len(got) != len(want) {
		t.Fatalf("bob's history: %q (the laptop's message more than once?)", got)
	}

	// The laptop removes the phone. Bob learns it from the laptop's next
	// hello, and from then on sends the phone nothing: no entry waits for
	// it and nothing lands in its mailbox.
	phoneID := ps.host.ID()
	phone.stop()
	if err := laptop.RevokeDevice(ctx(t), phoneID.String(), laptop.pass); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob to learn the phone is gone", func() bool {
		c, _ := bs.store.Contact("alice")
		k, err := bs.identity.Contact(c)
		return err == nil && k.Devices != nil && !k.Devices.Has(phoneID)
	})
	if _, err := bob.Send(ctx(t), "alice", "after the phone left"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "bob:after the phone left")
	for _, d := range []*testNode{laptop, desktop} {
		waitUntil(t, "bob's last message on the laptop and the desktop", func() bool { return len(history(t, d, "bob")) >= len(want) })
	}
	if out, _ := bs.store.Outbox(delivery.DeviceRoute("alice", phoneID)); len(out) != 0 {
		t.Fatalf("%d entries wait for the removed phone", len(out))
	}
	if n, err := svc.Mailbox.DepthOf(client.DeviceMailboxID(svc.Host.ID(), "alice", phoneID)); err != nil || n != 0 {
		t.Fatalf("the removed phone's mailbox holds %d items (%v)", n, err)
	}
}

// deviceByPeer is p's entry in n's Devices, failing the test on an error.
func deviceByPeer(t *testing.T, n *testNode, p peer.ID) (api.Device, bool) {
	t.Helper()
	ds, err := n.Devices(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.PeerID == p.String() {
			return d, true
		}
	}
	return api.Device{}, false
}

// TestDevicesOnlineAndListed: Devices says which of the account's devices
// are signed in now (the rendezvous shows them to each other) and which the
// account identity's list names. A removed device is neither: the
// rendezvous stops showing a revoked device at once, where a stopped one
// would stay until its entry goes stale, minutes later.
func TestDevicesOnlineAndListed(t *testing.T) {
	server := testBundle(t).Addr()
	laptop, _ := friends(t, server)
	desktop := secondDevice(t, server, laptop)
	ls, _ := laptop.current()
	ds, _ := desktop.current()
	lp, dp := ls.host.ID(), ds.host.ID()

	waitUntil(t, "the laptop to see both devices online and listed", func() bool {
		l, _ := deviceByPeer(t, laptop, lp)
		d, _ := deviceByPeer(t, laptop, dp)
		return l.Current && l.Online && l.Listed && !d.Current && d.Online && d.Listed
	})
	// The desktop sees the same from its side.
	if l, _ := deviceByPeer(t, desktop, lp); !l.Online || !l.Listed || l.Current {
		t.Fatalf("the desktop sees the laptop as %+v", l)
	}

	desktop.stop()
	if err := laptop.RevokeDevice(ctx(t), dp.String(), laptop.pass); err != nil {
		t.Fatal(err)
	}
	// Devices shows a revoked device offline whatever it hears; the
	// rendezvous itself must stop showing it too.
	waitUntil(t, "the rendezvous to stop showing the removed desktop", func() bool {
		online, err := ls.discovery.OnlineDevices(ctx(t), "alice")
		return err == nil && online[lp] && !online[dp]
	})
	waitUntil(t, "the removed desktop offline and not listed", func() bool {
		d, ok := deviceByPeer(t, laptop, dp)
		return ok && d.Revoked != nil && !d.Online && !d.Listed
	})
	if l, _ := deviceByPeer(t, laptop, lp); !l.Online || !l.Listed {
		t.Fatalf("the laptop after removing the desktop: %+v", l)
	}
}
