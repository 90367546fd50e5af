package node

import (
	"context"
	"encoding/json"
	"errors"
	"eserver/node/api"
	"eserver/node/promotion"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config configures a Node. The zero value of every field but ProfileDir is a
// documented default.
type Config struct {
	// ProfileDir holds the profile: profile.json (remembered server and
	// username) and one SQLite database per account under accounts/.
	ProfileDir string
	// DownloadDir is where accepted files go when no folder is named; if
	// empty, ~/Downloads when it exists, else "received" in ProfileDir.
	DownloadDir string
	// Listen are the libp2p listen multiaddrs. Empty means TCP and QUIC on
	// every interface with ports chosen by the OS.
	Listen []string
	// Device names this device in tickets. Empty means the host name.
	Device string
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// RetryMax caps the back-off between delivery attempts to an unreachable
	// contact, and spaces retries of a failed ticket renewal. Zero means 10
	// seconds.
	RetryMax time.Duration
	// LookupInterval is how often contacts' addresses are refreshed at the
	// rendezvous. Zero means 30 seconds.
	LookupInterval time.Duration
	// SyncInterval is how often the account's synced state (contact list,
	// rooms joined) is looked for at one of its homes, for changes made on
	// the account's other devices (node/contacts). Zero means 20 seconds.
	SyncInterval time.Duration
	// RelayOnly makes a node that accepts no direct connections: it listens
	// nowhere and is reached through its homes' relays (and hole punching).
	// It is what a node behind a strict NAT looks like; tests use it.
	RelayOnly bool
	// NoLAN turns off announcing this node on the local network with mDNS
	// (and finding contacts there).
	NoLAN bool
	// Supernode configures promotion to supernode (the seed's "When switch
	// from Node to Supernode"): Allowed is the user's opt-in (off by
	// default), UploadCap the bandwidth it grants; the other fields tune
	// the decision (zero values are promotion's documented defaults). Start
	// and OnRole are the node's own.
	Supernode promotion.Config
}

func (c *Config) setDefaults() {
	if len(c.Listen) == 0 {
		c.Listen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	if c.Device == "" {
		c.Device, _ = os.Hostname()
		if c.Device == "" {
			c.Device = "device"
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.LookupInterval == 0 {
		c.LookupInterval = 30 * time.Second
	}
}

// Node is one EServer node. It holds at most one signed-in session at a time.
// All methods are safe for concurrent use.
type Node struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards sess, watchers, closed
	sess     *session
	watchers map[*watcher]struct{}
	closed   bool

	loginMu sync.Mutex // serializes Login/Logout so sessions never overlap
}

var _ api.API = (*Node)(nil)

// New returns a node for the profile in cfg.ProfileDir. It does no network
// I/O until Login.
func New(cfg Config) (*Node, error) {
	if cfg.ProfileDir == "" {
		return nil, errors.New("node: Config.ProfileDir is required")
	}
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.ProfileDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating profile dir: %w", err)
	}
	return &Node{cfg: cfg, log: cfg.Logger, watchers: map[*watcher]struct{}{}}, nil
}

// Close signs out and stops every watcher.
func (n *Node) Close() error {
	err := n.Logout(context.Background())
	if errors.Is(err, api.ErrNotLoggedIn) {
		err = nil
	}
	n.mu.Lock()
	n.closed = true
	ws := n.watchers
	n.watchers = map[*watcher]struct{}{}
	n.mu.Unlock()
	for w := range ws {
		w.stop()
	}
	return err
}

// current returns the signed-in session or ErrNotLoggedIn.
func (n *Node) current() (*session, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil, api.ErrNotLoggedIn
	}
	return n.sess, nil
}

// profile is what profile.json remembers between runs.
type profile struct {
	Server   string `json:"server,omitempty"`
	Username string `json:"username,omitempty"`
	// Replicas are the multiaddrs (with /p2p/) of the server's replicas
	// as its last login listed them: one identity, several machines. A
	// sign-in dials them too, so it reaches the server while the replica
	// at Server's address is down (login.Login's failover).
	Replicas []string `json:"replicas,omitempty"`
}

func (n *Node) profilePath() string { return filepath.Join(n.cfg.ProfileDir, "profile.json") }

func (n *Node) loadProfile() profile {
	var p profile
	b, err := os.ReadFile(n.profilePath())
	if err == nil {
		_ = json.Unmarshal(b, &p)
	}
	return p
}

func (n *Node) saveProfile(p profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := n.profilePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	return os.Rename(tmp, n.profilePath())
}

// RememberedServer returns the server of the last successful login, if any.
func (n *Node) RememberedServer() string { return n.loadProfile().Server }

// ---------------------------------------------------------------- events

// watcher is one Watch stream: an unbounded queue drained by its own
// goroutine, so a slow reader never blocks the node.
type watcher struct {
	out    chan api.Event
	mu     sync.Mutex
	queue  []api.Event
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once
	exited chan struct{}
}

func (w *watcher) push(e api.Event) {
	w.mu.Lock()
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) stop() { w.once.Do(func() { close(w.done) }) }

func (w *watcher) run(ctx context.Context) {
	defer close(w.exited)
	defer close(w.out)
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, e := range batch {
			select {
			case w.out <- e:
			case <-ctx.Done():
				return
			case <-w.done:
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		case <-w.done:
			return
		}
	}
}

// Watch implements API.
func (n *Node) Watch(ctx context.Context) <-chan api.Event {
	w := &watcher{out: make(chan api.Event), wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	n.mu.Lock()
	snap := n.snapshotLocked()
	if n.closed {
		n.mu.Unlock()
		close(w.out)
		return w.out
	}
	w.queue = append(w.queue, api.Event{Snapshot: snap})
	n.watchers[w] = struct{}{}
	n.mu.Unlock()
	go func() {
		w.run(ctx)
		n.mu.Lock()
		delete(n.watchers, w)
		n.mu.Unlock()
	}()
	return w.out
}

func (n *Node) snapshotLocked() *api.Snapshot {
	snap := &api.Snapshot{Contacts: []api.Contact{}}
	if s := n.sess; s != nil {
		acct := s.account()
		snap.Account = &acct
		if cs, err := s.contacts.List(); err == nil {
			snap.Contacts = cs
		}
	}
	return snap
}

// emit sends e to every watcher.
func (n *Node) emit(e api.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for w := range n.watchers {
		w.push(e)
	}
}

// ProfileDir resolves a --profile argument: a path (anything with a slash,
// or "."-prefixed) is used as is; a bare name, or "" for "default", is a
// directory under os.UserConfigDir()/eserver/profiles.
func ProfileDir(nameOrDir string) (string, error) {
	if nameOrDir == "" {
		nameOrDir = "default"
	}
	if filepath.IsAbs(nameOrDir) || nameOrDir[0] == '.' || filepath.Base(nameOrDir) != nameOrDir {
		return filepath.Abs(nameOrDir)
	}
	base, err := HomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "profiles", nameOrDir), nil
}

// HomeDir is where EServer keeps per-user data on this machine: $ESERVER_HOME,
// or os.UserConfigDir()/eserver.
func HomeDir() (string, error) {
	if h := os.Getenv("ESERVER_HOME"); h != "" {
		return h, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config dir: %w", err)
	}
	return filepath.Join(cfg, "eserver"), nil
}

// Pending returns how many items wait in the outbox for username: neither
// delivered directly nor left in its mailboxes yet. For diagnostics and tests.
func (n *Node) Pending(username string) (int, error) {
	s, err := n.current()
	if err != nil {
		return 0, err
	}
	return s.delivery.Pending(username)
}

// Homes returns the peer IDs of the supernodes this node is homed at now,
// for diagnostics and tests; nil when signed out.
func (n *Node) Homes() []string {
	s, err := n.current()
	if err != nil {
		return nil
	}
	return s.discovery.Homes()
}
