package node

import (
	"testing"

	"eserver/node/api"
)

// TestPresenceFromTwoDevices: alice signs in on her laptop and her desktop;
// bob sees one contact, merged. Laptop online and desktop away show
// online; the nick changed on the desktop shows, and the laptop's later
// presence with its older nick does not revert it; the laptop signing out
// shows the desktop's away, not offline; both out, offline.
func TestPresenceFromTwoDevices(t *testing.T) {
	svc := testBundle(t)
	laptop := newTestNode(t, svc.Addr(), "alice")
	bob := newTestNode(t, svc.Addr(), "bob")
	laptop.register()
	bob.register()
	laptop.login()
	bob.login()
	befriend(t, laptop, bob)
	ls, _ := laptop.current()
	waitUntil(t, "alice's list backed up", func() bool { return ls.contacts.BackupVersion() > 0 })

	desktop := &testNode{t: t, dir: t.TempDir(), server: svc.Addr(), name: "alice", pass: laptop.pass}
	desktop.open()
	t.Cleanup(desktop.stop)
	if _, err := desktop.Login(ctx(t), api.LoginRequest{Server: desktop.server, Username: "alice", Password: desktop.pass, Status: api.StatusAway}); err != nil {
		t.Fatal(err)
	}
	// The desktop's presence has reached bob when its nick shows there:
	// its away does not, the laptop is online.
	nick := "Alice at her desk"
	if err := desktop.SetPresence(ctx(t), api.PresenceUpdate{Nick: &nick}); err != nil {
		t.Fatal(err)
	}
	alice := func(what string, match func(c *api.Contact) bool) *api.Contact {
		t.Helper()
		e := bob.waitFor(what, func(e api.Event) bool {
			if e.Contact == nil || e.Contact.Username != "alice" {
				return false
			}
			if e.Contact.Status == api.StatusOffline && !match(e.Contact) {
				t.Fatalf("alice shown offline waiting for %s", what)
			}
			return match(e.Contact)
		})
		return e.Contact
	}
	if c := alice("the desktop's nick", func(c *api.Contact) bool { return c.Nick == nick }); c.Status != api.StatusOnline {
		t.Fatalf("laptop online, desktop away: alice shows %s", c.Status)
	}
	// The laptop's presence carries its own, older nick.
	busy := api.StatusBusy
	if err := laptop.SetPresence(ctx(t), api.PresenceUpdate{Status: &busy}); err != nil {
		t.Fatal(err)
	}
	if c := alice("the laptop's busy", func(c *api.Contact) bool { return c.Status == api.StatusBusy }); c.Nick != nick {
		t.Fatalf("the laptop's older nick %q replaced the desktop's", c.Nick)
	}
	if err := laptop.Logout(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c := alice("the desktop's away", func(c *api.Contact) bool { return c.Status == api.StatusAway }); c.Nick != nick {
		t.Fatalf("alice shows nick %q with only the desktop signed in", c.Nick)
	}
	if err := desktop.Logout(ctx(t)); err != nil {
		t.Fatal(err)
	}
	alice("alice offline", func(c *api.Contact) bool { return c.Status == api.StatusOffline })
}
