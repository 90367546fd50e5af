package node

import (
	"context"
	"eserver/node/api"
	"eserver/node/promotion"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"eserver/authserver/bundle"
)

// testServer starts a real auth server with rendezvous on 127.0.0.1.
func testServer(t testing.TB) string {
	t.Helper()
	return testBundle(t).Addr()
}

// testBundle starts the one-process network: auth server, registry and
// supernode services on one host on 127.0.0.1.
func testBundle(t testing.TB) *bundle.Service {
	t.Helper()
	return testBundleIn(t, t.TempDir())
}

// testBundleIn is testBundle with its databases in dir, for tests that
// look at them as a supernode's operator could.
func testBundleIn(t testing.TB, dir string) *bundle.Service {
	t.Helper()
	svc, err := bundle.Start(bundle.Config{
		Dir:    dir,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Logger: testLogger(),
		// Every test node is on 127.0.0.1: one address, many accounts.
		RegisterRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func testLogger() *slog.Logger {
	if os.Getenv("ESERVER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testNode is a node with a profile dir that survives restarts in a test.
type testNode struct {
	t      testing.TB
	dir    string
	server string
	name   string
	pass   string
	*Node
	events <-chan api.Event
	// relayOnly opens the node as one behind a strict NAT (Config.RelayOnly).
	relayOnly bool
	supernode promotion.Config // Config.Supernode
	syncEvery time.Duration    // Config.SyncInterval
	now       func() time.Time // Config.Now; nil is the wall clock
	cancel    context.CancelFunc
}

func newTestNode(t testing.TB, server, name string) *testNode {
	tn := &testNode{t: t, dir: t.TempDir(), server: server, name: name, pass: "pw-" + name}
	tn.open()
	t.Cleanup(func() { tn.stop() })
	return tn
}

func (tn *testNode) open() {
	n, err := New(Config{
		ProfileDir:     tn.dir,
		Listen:         []string{"/ip4/127.0.0.1/tcp/0"},
		Logger:         testLogger().With("node", tn.name),
		RetryMax:       200 * time.Millisecond,
		LookupInterval: 500 * time.Millisecond,
		RelayOnly:      tn.relayOnly,
		SyncInterval:   tn.syncEvery,
		Supernode:      tn.supernode,
		Now:            tn.now,
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.Node = n
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	tn.events = n.Watch(ctx)
}

func (tn *testNode) stop() {
	if tn.Node == nil {
		return
	}
	tn.Node.Close()
	tn.cancel()
	for range tn.events {
	}
	tn.Node = nil
}

func (tn *testNode) register() {
	tn.t.Helper()
	if err := tn.Register(ctx(tn.t), tn.server, tn.name, tn.pass); err != nil {
		tn.t.Fatalf("register %s: %v", tn.name, err)
	}
}

func (tn *testNode) login() {
	tn.t.Helper()
	if _, err := tn.Login(ctx(tn.t), api.LoginRequest{Server: tn.server, Username: tn.name, Password: tn.pass}); err != nil {
		tn.t.Fatalf("login %s: %v", tn.name, err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// waitFor reads events until match returns true, failing after a generous bound.
func (tn *testNode) waitFor(what string, match func(api.Event) bool) api.Event {
	tn.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-tn.events:
			if !ok {
				tn.t.Fatalf("%s: event stream closed waiting for %s", tn.name, what)
			}
			if match(e) {
				return e
			}
		case <-timeout:
			tn.t.Fatalf("%s: timed out waiting for %s", tn.name, what)
		}
	}
}

func (tn *testNode) waitContact(username string, rel api.Relation, status api.Status) {
	tn.t.Helper()
	tn.waitFor(fmt.Sprintf("%s %s/%s", username, rel, status), func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == username && e.Contact.Relation == rel && (status == "" || e.Contact.Status == status)
	})
}

// friends returns alice and bob, registered and signed in at server, each
// the other's accepted contact.
func friends(t testing.TB, server string) (alice, bob *testNode) {
	t.Helper()
	alice = newTestNode(t, server, "alice")
	bob = newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	alice.login()
	bob.login()
	befriend(t, alice, bob)
	return alice, bob
}

// befriend makes a and b accepted contacts, both online.
func befriend(t testing.TB, a, b *testNode) {
	t.Helper()
	if err := a.AddContact(ctx(t), b.name, "hi, it's "+a.name); err != nil {
		t.Fatal(err)
	}
	b.waitFor("contact request", func(e api.Event) bool { return e.ContactRequest != nil && e.ContactRequest.From == a.name })
	if err := b.AcceptContact(ctx(t), a.name); err != nil {
		t.Fatal(err)
	}
	a.waitContact(b.name, api.RelationAccepted, api.StatusOnline)
	b.waitContact(a.name, api.RelationAccepted, api.StatusOnline)
}

func TestSignUpSignInAndChat(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	if err := alice.Register(ctx(t), server, "alice", "other"); api.Code(err) != "username_taken" {
		t.Fatalf("duplicate register: %v (code %q)", err, api.Code(err))
	}

	// A wrong password and an unknown user fail alike.
	_, errWrong := alice.Login(ctx(t), api.LoginRequest{Server: server, Username: "alice", Password: "nope"})
	_, errUnknown := alice.Login(ctx(t), api.LoginRequest{Server: server, Username: "mallory", Password: "nope"})
	if api.Code(errWrong) != "login_failed" || api.Code(errUnknown) != "login_failed" || errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong password: %v; unknown user: %v", errWrong, errUnknown)
	}

	alice.login()
	bob.login()
	befriend(t, alice, bob)

	// Chat both ways.
	id, err := alice.Send(ctx(t), "bob", "hello bob")
	if err != nil {
		t.Fatal(err)
	}
	e := bob.waitFor("message", func(e api.Event) bool { return e.Message != nil && e.Message.From == "alice" })
	if e.Message.ID != id || e.Message.Text != "hello bob" || e.Message.To != "bob" || e.Message.State != api.StateReceived {
		t.Fatalf("bob got %+v", e.Message)
	}
	alice.waitFor("delivered", func(e api.Event) bool { return e.Delivered != nil && e.Delivered.ID == id })
	if _, err := bob.Send(ctx(t), "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("reply", func(e api.Event) bool { return e.Message != nil && e.Message.Text == "hi alice" })

	h, err := alice.History(ctx(t), "bob", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Text != "hello bob" || h[0].State != api.StateDelivered || h[1].Text != "hi alice" || h[1].From != "bob" {
		t.Fatalf("history: %+v", h)
	}

	// Presence reaches the contact.
	busy, sub := api.StatusBusy, "at work"
	if err := alice.SetPresence(ctx(t), api.PresenceUpdate{Status: &busy, Subnick: &sub}); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("presence", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Status == api.StatusBusy && e.Contact.Subnick == "at work"
	})

	// Signing out shows alice offline to bob.
	alice.stop()
	bob.waitContact("alice", api.RelationAccepted, api.StatusOffline)
}
