// Package nodetest starts real EServer nodes for tests outside package node:
// a real auth server with its rendezvous and supernode services (the bundled
// one), nodes signed up and signed in there, a pair of accepted contacts, and
// bounded waits on a node's events.
//
// Everything listens on 127.0.0.1 with ports chosen by the OS, keeps its
// databases in t.TempDir() and is stopped by t.Cleanup, which also drains
// each node's Watch so no goroutine of ours outlives the test (DESIGN.md §8).
// Every wait is bounded by internal/poll and fails saying what it waited for
// (docs/TESTING.md).
//
// Package node's own tests cannot import it (it imports node: a cycle); they
// keep their helpers in node/node_test.go.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"eserver/authserver"
	"eserver/authserver/bundle"
	"eserver/internal/poll"
	"eserver/node"
	"eserver/node/api"
	"eserver/pipeline"
)

// Listen is where test hosts listen: loopback, a port chosen by the OS.
const Listen = "/ip4/127.0.0.1/tcp/0"

// NoRegisterLimit turns off the auth server's registration throttle
// (authserver.Config.RegisterRate): every test node is on 127.0.0.1, one
// address creating many accounts.
const NoRegisterLimit = -1

// Logger is the logger of the servers and nodes started here: silent unless
// ESERVER_TEST_LOG is set, then debug output on stderr.
func Logger() *slog.Logger {
	if os.Getenv("ESERVER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Context returns a context bounded by poll.Bound and cancelled when the
// test ends, for the calls a test makes on a node or a server.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), poll.Bound)
	t.Cleanup(cancel)
	return ctx
}

// Bundle starts the one-process network — auth server, registry,
// rendezvous and supernode services on one host — as `make run` does.
func Bundle(t testing.TB) *bundle.Service {
	t.Helper()
	return BundleWith(t, nil)
}

// BundleWith is Bundle with its Config changed by mod first (when not
// nil): regions and moderators, say.
func BundleWith(t testing.TB, mod func(*bundle.Config)) *bundle.Service {
	t.Helper()
	cfg := bundle.Config{Dir: t.TempDir(), Listen: []string{Listen}, Logger: Logger(), RegisterRate: NoRegisterLimit}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := bundle.Start(cfg)
	if err != nil {
		t.Fatalf("starting the bundled server: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// Server starts a Bundle and returns its dialable address, what a node
// signs up and in at.
func Server(t testing.TB) string {
	t.Helper()
	return Bundle(t).Addr()
}

// AuthServer starts an auth server alone, with no supernode services and
// not listing itself as a supernode: for tests whose registry must hold
// only the supernodes they start. It returns the server and its address.
func AuthServer(t testing.TB) (*authserver.Server, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "auth.db")
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pipeline.NewHost(key, []string{Listen})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Logger: Logger(), RegisterRate: NoRegisterLimit})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	srv.Attach(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	addr, err := pipeline.DialAddr(h)
	if err != nil {
		t.Fatal(err)
	}
	return srv, addr.String()
}

// Node is a real node of a test with its event stream. Its profile survives
// Stop and Start, as a device's does across restarts.
type Node struct {
	*node.Node
	// Events is the node's Watch since it was last started: a snapshot,
	// then every event. Read it with WaitFor.
	Events <-chan api.Event
	// Name is the username; Password is "pw-" + Name.
	Name, Password string
	// Server is the address the node signs up and in at.
	Server string
	// Config is what Start opens the node with.
	Config node.Config

	t      testing.TB
	cancel context.CancelFunc
}

// Open starts a node for name at server, neither signed up nor signed in.
// cfg's zero fields get test values: a profile in t.TempDir(), Listen,
// Logger, a RetryMax of 200 ms and a LookupInterval of 500 ms.
func Open(t testing.TB, server, name string, cfg node.Config) *Node {
	t.Helper()
	if cfg.ProfileDir == "" {
		cfg.ProfileDir = t.TempDir()
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{Listen}
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger().With("node", name)
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 200 * time.Millisecond
	}
	if cfg.LookupInterval == 0 {
		cfg.LookupInterval = 500 * time.Millisecond
	}
	n := &Node{Name: name, Password: "pw-" + name, Server: server, Config: cfg, t: t}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// New starts a node for name at server, signed up and signed in.
func New(t testing.TB, server, name string) *Node {
	t.Helper()
	n := Open(t, server, name, node.Config{})
	n.SignUp()
	n.SignIn()
	return n
}

// Pair starts a server and alice and bob there, signed in and each the
// other's accepted contact, both seen online (Befriend).
func Pair(t testing.TB) (alice, bob *Node) {
	t.Helper()
	server := Server(t)
	alice, bob = New(t, server, "alice"), New(t, server, "bob")
	Befriend(t, alice, bob)
	return alice, bob
}

// Befriend makes a and b accepted contacts: a asks, b sees the request and
// accepts, and each sees the other accepted and online in its events.
func Befriend(t testing.TB, a, b *Node) {
	t.Helper()
	if err := a.AddContact(Context(t), b.Name, "hi, it's "+a.Name); err != nil {
		t.Fatalf("%s asks %s: %v", a.Name, b.Name, err)
	}
	b.WaitFor("a contact request from "+a.Name, func(e api.Event) bool {
		return e.ContactRequest != nil && e.ContactRequest.From == a.Name
	})
	if err := b.AcceptContact(Context(t), a.Name); err != nil {
		t.Fatalf("%s accepts %s: %v", b.Name, a.Name, err)
	}
	a.WaitContact(b.Name, api.RelationAccepted, api.StatusOnline)
	b.WaitContact(a.Name, api.RelationAccepted, api.StatusOnline)
}

// Start opens the node on its profile and watches it; it is not signed in.
func (n *Node) Start() {
	n.t.Helper()
	nd, err := node.New(n.Config)
	if err != nil {
		n.t.Fatalf("%s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.Node, n.Events, n.cancel = nd, nd.Watch(ctx), cancel
}

// Stop closes the node (signing it out) and drains its events until the
// watch ends. Stopping a stopped node does nothing.
func (n *Node) Stop() {
	if n.Node == nil {
		return
	}
	n.Node.Close()
	n.cancel()
	for range n.Events {
	}
	n.Node = nil
}

// SignUp registers the account at the server.
func (n *Node) SignUp() {
	n.t.Helper()
	if err := n.Register(Context(n.t), n.Server, n.Name, n.Password); err != nil {
		n.t.Fatalf("%s signs up: %v", n.Name, err)
	}
}

// SignIn signs the node in at the server.
func (n *Node) SignIn() {
	n.t.Helper()
	if _, err := n.Login(Context(n.t), api.LoginRequest{Server: n.Server, Username: n.Name, Password: n.Password}); err != nil {
		n.t.Fatalf("%s signs in: %v", n.Name, err)
	}
}

// WaitFor reads events until one matches and returns it, failing the test
// with what after poll.Bound or when the watch ends.
func (n *Node) WaitFor(what string, match func(api.Event) bool) api.Event {
	n.t.Helper()
	return poll.ReceiveMatch(n.t, n.Events, n.Name+": "+what, match)
}

// WaitContact waits for an event showing username with relation rel and,
// unless status is empty, that status.
func (n *Node) WaitContact(username string, rel api.Relation, status api.Status) api.Contact {
	n.t.Helper()
	e := n.WaitFor(fmt.Sprintf("%s %s/%s", username, rel, status), func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == username && e.Contact.Relation == rel &&
			(status == "" || e.Contact.Status == status)
	})
	return *e.Contact
}

// Messages returns the next count messages from peer shown in the events,
// in the order shown, failing the test if one is shown twice.
func (n *Node) Messages(from string, count int) []api.Message {
	n.t.Helper()
	var msgs []api.Message
	seen := map[string]bool{}
	for len(msgs) < count {
		e := n.WaitFor(fmt.Sprintf("message %d of %d from %s", len(msgs)+1, count, from), func(e api.Event) bool {
			return e.Message != nil && e.Message.From == from
		})
		if seen[e.Message.ID] {
			n.t.Fatalf("%s: message %s from %s shown twice", n.Name, e.Message.ID, from)
		}
		seen[e.Message.ID] = true
		msgs = append(msgs, *e.Message)
	}
	return msgs
}
