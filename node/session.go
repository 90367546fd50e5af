package node

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"eserver/node/account"
	"eserver/node/api"
	"eserver/node/backup"
	"eserver/node/call"
	"eserver/node/contacts"
	"eserver/node/conversation"
	"eserver/node/delivery"
	"eserver/node/discovery"
	"eserver/node/handover"
	"eserver/node/keys"
	"eserver/node/payload"
	"eserver/node/presence"
	"eserver/node/role"
	"eserver/node/rooms"
	"eserver/node/task"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/e2e"
	"eserver/node/files"
	"eserver/node/login"
	"eserver/node/store"
	"eserver/node/streams"
	"eserver/node/ticket"
)

// session is everything that exists only while signed in.
type session struct {
	n      *Node
	store  *store.Store
	host   host.Host
	creds  atomic.Pointer[credentials] // our ticket and region pass; replaced on renewal
	server peer.AddrInfo
	// replicas are the server's replicas as the login listed them
	// (profile.Replicas); renewLoop alone changes them after.
	replicas []string
	// revs are the devices revoked at the auth server, polled: a contact\'s
	// revoked device is refused even before its ticket expires.
	revs *client.Revocations
	// auth is the authenticate stage of every inbound path (direct
	// streams, mail): the pipeline's one ticket check.
	auth pipeline.Authenticator
	// kinds maps each payload kind to the component that handles it.
	kinds payload.Registry
	components

	// tasks are the session's goroutines and stream handlers; ctx is
	// theirs, cancelled when the session closes.
	tasks *task.Group
	ctx   context.Context

	// offline sums up the messages the sign-in's mail drain shows while
	// it runs (offline.go); nil otherwise.
	offline atomic.Pointer[offlineTally]
	// waited is that summary, for Login to report after the account.
	waited *api.OfflineMessagesEvent
	// listChanged: this sign-in put this device in our account's list.
	listChanged bool
}

// components are the session's feature components (docs/ARCHITECTURE.md),
// built by startSession and assemble, started by run, closed by close.
type components struct {
	identity  *account.Account
	keys      *keys.Keys
	discovery *discovery.Discovery
	delivery  *delivery.Delivery
	contacts  *contacts.Contacts
	presence  *presence.Presence
	conv      *conversation.Conversations
	files     *files.Files
	streams   *streams.Streams
	role      *role.Role
	rooms     *rooms.Rooms
	handover  *handover.Handover
	calls     *call.Calls
}

// mapLoginErr turns the login package's sentinels into the API's. The
// error says only what the login package said: its sentinels already name
// what went wrong in the API's words, so wrapping one in the other would
// read "wrong username or password: wrong username or password".
func mapLoginErr(err error) error {
	var sentinel error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, login.ErrLoginFailed):
		sentinel = api.ErrLoginFailed
	case errors.Is(err, login.ErrUsernameTaken):
		sentinel = api.ErrUsernameTaken
	case errors.Is(err, login.ErrRateLimited):
		sentinel = api.ErrRateLimited
	case errors.Is(err, login.ErrBadRequest):
		sentinel = api.ErrBadRequest
	case errors.Is(err, login.ErrUnreachable), errors.Is(err, login.ErrUnconfirmed):
		// Unconfirmed: the account may exist; its message says to sign in.
		sentinel = api.ErrUnreachable
	case errors.Is(err, login.ErrDeviceRevoked):
		sentinel = api.ErrDeviceRevoked
	default:
		return err
	}
	return api.Mark(sentinel, err)
}

// serverInfo is the auth server to sign in at: server, or the one
// remembered when empty, with the addresses of the replicas its last login
// listed (same identity, so the same peer ID).
func (n *Node) serverInfo(server string) (peer.AddrInfo, string, error) {
	p := n.loadProfile()
	if server == "" {
		server = p.Server
	}
	if server == "" {
		return peer.AddrInfo{}, "", fmt.Errorf("%w: no server given and none remembered", api.ErrBadRequest)
	}
	ai, err := login.ParseServer(server)
	if err != nil {
		return peer.AddrInfo{}, "", fmt.Errorf("%w: server address: %v", api.ErrBadRequest, err)
	}
	return withReplicas(ai, p.Replicas), server, nil
}

// withReplicas adds to ai the addresses of replicas (multiaddrs with
// /p2p/) of the same peer ID; others, and ones malformed, are left out.
func withReplicas(ai peer.AddrInfo, replicas []string) peer.AddrInfo {
	addrs := slices.Clone(ai.Addrs)
	for _, r := range replicas {
		rai, err := login.ParseServer(r)
		if err != nil || rai.ID != ai.ID {
			continue
		}
		for _, a := range rai.Addrs {
			if !slices.ContainsFunc(addrs, a.Equal) {
				addrs = append(addrs, a)
			}
		}
	}
	return peer.AddrInfo{ID: ai.ID, Addrs: addrs}
}

// Register implements API. It uses a throw-away host: an account is not tied
// to a device until a login binds one through a ticket.
func (n *Node) Register(ctx context.Context, server, username, password string) error {
	if err := wire.ValidUsername(username); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if password == "" {
		return fmt.Errorf("%w: empty password", api.ErrBadRequest)
	}
	ai, _, err := n.serverInfo(server)
	if err != nil {
		return err
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return err
	}
	h, err := discovery.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"}, discovery.NewReach(), false)
	if err != nil {
		return err
	}
	defer h.Close()
	return mapLoginErr(login.Register(ctx, h, ai, username, password))
}

// Login implements API.
func (n *Node) Login(ctx context.Context, req api.LoginRequest) (api.Account, error) {
	n.loginMu.Lock()
	defer n.loginMu.Unlock()
	if _, err := n.current(); err == nil {
		return api.Account{}, fmt.Errorf("%w: already signed in", api.ErrBadRequest)
	}
	if wire.ValidUsername(req.Username) != nil || req.Password == "" {
		return api.Account{}, api.ErrLoginFailed
	}
	if req.Status == "" {
		req.Status = api.StatusOnline
	}
	if !req.Status.Valid() {
		return api.Account{}, fmt.Errorf("%w: unknown status %q", api.ErrBadRequest, req.Status)
	}
	ai, serverStr, err := n.serverInfo(req.Server)
	if err != nil {
		return api.Account{}, err
	}
	dir := filepath.Join(n.cfg.ProfileDir, "accounts", req.Username)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return api.Account{}, fmt.Errorf("creating account dir: %w", err)
	}
	st, err := store.Open(filepath.Join(dir, "eserver.db"))
	if err != nil {
		return api.Account{}, fmt.Errorf("opening store: %w", err)
	}
	s, err := n.startSession(ctx, st, ai, req)
	if err != nil {
		st.Close()
		return api.Account{}, err
	}
	if err := n.saveProfile(profile{Server: serverStr, Username: req.Username, Replicas: s.replicas}); err != nil {
		n.log.Warn("remembering server", "err", err)
	}
	n.mu.Lock()
	n.sess = s
	n.mu.Unlock()
	s.run()
	acct := s.account()
	n.emit(api.Event{Account: &acct})
	if cs, err := s.contacts.List(); err == nil {
		for i := range cs {
			n.emit(api.Event{Contact: &cs[i]})
		}
	}
	if s.waited != nil {
		n.emit(api.Event{OfflineMessages: s.waited})
	}
	return acct, nil
}

// startSession unseals (or creates) the device identity, starts the host and
// logs in at the server. Nothing is persisted until the server accepted the
// password, so a wrong password never seals keys under it.
func (n *Node) startSession(ctx context.Context, st *store.Store, ai peer.AddrInfo, req api.LoginRequest) (*session, error) {
	defer releaseStretching()
	id, staged, err := st.OpenIdentity([]byte(req.Password))
	// Its 64 MiB Argon2id block is garbage now: collecting it here lets the
	// OPAQUE login's own stretching below reuse its pages instead of
	// growing the heap by another 64 MiB (see releaseStretching).
	runtime.GC()
	fresh := false
	switch {
	case errors.Is(err, store.ErrNoIdentity):
		fresh = true
		key, _, kerr := crypto.GenerateEd25519Key(nil)
		if kerr != nil {
			return nil, kerr
		}
		raw, kerr := crypto.MarshalPrivateKey(key)
		if kerr != nil {
			return nil, kerr
		}
		box, kerr := e2e.GenerateBoxKey()
		if kerr != nil {
			return nil, kerr
		}
		id = store.Identity{DeviceKey: raw, BoxKey: box.Bytes(), StorageKey: newStorageKey()}
	case errors.Is(err, store.ErrWrongPassword):
		return nil, api.ErrLoginFailed
	case err != nil:
		return nil, fmt.Errorf("reading identity: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(id.DeviceKey)
	if err != nil {
		return nil, fmt.Errorf("decoding device key: %w", err)
	}
	box, err := ecdh.X25519().NewPrivateKey(id.BoxKey)
	if err != nil {
		return nil, fmt.Errorf("decoding box key: %w", err)
	}
	r := discovery.NewReach()
	h, err := discovery.NewHost(key, n.cfg.Listen, r, n.cfg.RelayOnly)
	if err != nil {
		return nil, err
	}
	res, err := login.Login(ctx, h, ai, login.Request{
		Username: req.Username,
		Password: req.Password,
		Device:   n.cfg.Device,
		BoxKey:   box.PublicKey().Bytes(),
	})
	if err != nil {
		h.Close()
		return nil, mapLoginErr(err)
	}
	// The server accepted the password: finish (or forget) a password
	// change this device started and did not see to the end.
	if staged {
		if err := st.CommitPassword(); err != nil {
			h.Close()
			return nil, fmt.Errorf("finishing the password change: %w", err)
		}
	} else if !fresh {
		if err := st.DropStagedPassword(); err != nil {
			h.Close()
			return nil, err
		}
	}
	switch {
	case fresh:
		if err := st.CreateIdentity([]byte(req.Password), id); err != nil {
			h.Close()
			return nil, fmt.Errorf("storing identity: %w", err)
		}
	case len(id.StorageKey) == 0:
		// An identity from before storage keys: give it one now.
		id.StorageKey = newStorageKey()
		if err := st.Rewrap([]byte(req.Password), id); err != nil {
			h.Close()
			return nil, fmt.Errorf("adding a storage key to the identity: %w", err)
		}
	default:
		// A profile sealed with an older release's weaker stretching is
		// re-sealed now. Failing leaves the old seal, which still opens.
		if did, err := st.Strengthen([]byte(req.Password)); err != nil {
			n.log.Warn("re-sealing the identity with stronger key stretching", "err", err)
		} else if did {
			n.log.Info("identity re-sealed with stronger key stretching")
		}
	}
	// Unlock also seals history an older release stored in the clear (once,
	// and resumed at the next sign-in if interrupted), so a first sign-in
	// after the upgrade can take a while with a long history.
	if err := st.Unlock(id.StorageKey); err != nil {
		h.Close()
		return nil, fmt.Errorf("unlocking the account's store: %w", err)
	}
	s := &session{
		n:        n,
		store:    st,
		host:     h,
		server:   ai,
		replicas: res.Replicas,
	}
	var backupKey []byte // nil: no backup (the server gave no export key)
	if len(res.ExportKey) > 0 {
		if k, err := backup.DeriveKey(res.ExportKey); err == nil {
			backupKey = k
		}
	}
	s.tasks = task.New(context.Background())
	s.ctx = s.tasks.Context()
	var rv []peer.AddrInfo
	for _, a := range res.Rendezvous {
		if rai, err := login.ParseServer(a); err == nil {
			rv = append(rv, rai)
		}
	}
	if len(rv) == 0 {
		rv = []peer.AddrInfo{ai} // the auth server serves rendezvous beside itself
	}
	s.creds.Store(&credentials{ticket: res.Ticket, pass: res.RegionPass})
	s.discovery = discovery.New(s.ctx, s, discovery.Config{Server: ai, Rendezvous: rv, LookupInterval: n.cfg.LookupInterval, LAN: !n.cfg.NoLAN}, r)
	s.discovery.SetSupernodes(client.ParseSupernodes(ai.ID, res.Supernodes))
	s.revs = &client.Revocations{
		Auth: ai.ID, Host: h, Ticket: func() *wire.SignedTicket { return s.tk().Signed },
		Interval: revocationPoll, Logger: n.log.With("component", "revocations"),
		OnRevoke: func(p peer.ID) { s.host.Network().ClosePeer(p) },
	}
	s.auth = pipeline.Authenticator{Server: ai.ID, Now: n.cfg.Now, Revoked: s.revs}
	s.identity = account.New(s)
	if _, err := s.identity.Load(req.Username); err != nil {
		// Taken again from the auth server's copy at this sign-in.
		n.log.Warn("reading the account identity kept here", "err", err)
	}
	if s.keys, err = keys.New(s, key, box); err != nil {
		h.Close()
		return nil, err
	}
	s.assemble(backupKey)
	ictx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
	was := res.AccountDevices
	if err := s.setUpIdentity(ictx, res.ExportKey, res.Account); err != nil {
		n.log.Warn("setting up the account identity (this device speaks without the account's list until the next sign-in)", "err", err)
	}
	cancel()
	// A list this sign-in changed (this device added) is news for our
	// other devices and contacts once the session runs.
	s.listChanged = s.identity.Own() != nil && (was == nil || s.identity.Own().Version > was.Version)
	s.role = role.New(s, role.Config{Promotion: n.cfg.Supernode, AuthServer: ai.ID, Dir: filepath.Join(n.cfg.ProfileDir, "accounts", req.Username)})
	s.presence.Load(req.Status)
	return s, nil
}

// releaseStretching returns the memory of signing in's key stretching to
// the OS. Opening the identity and the OPAQUE login each run Argon2id over
// a 64 MiB block (a third run seals a new or strengthened identity). The
// collection that runs while a block is live sets the next heap goal from
// it, about 2 × (live heap + 64 MiB), so the heap grows to ~180 MB before
// the next one, and the runtime keeps pages it freed only a collection ago
// for minutes: the desktop app held 330 MiB instead of ~210 ten seconds
// after sign-in (issue 21; BENCHMARKS.md). A collection now sets the goal
// from what is really live, and the freed pages go back at once. It costs
// one collection (milliseconds with a desktop's heap) per sign-in, beside
// about a second of stretching.
func releaseStretching() { debug.FreeOSMemory() }

// assemble builds the session's feature components and fills the payload
// table from every component's kinds. backupKey seals the contact list's
// backup.
func (s *session) assemble(backupKey []byte) {
	s.contacts = contacts.New(s, backupKey)
	s.presence = presence.New(s, s.n.pictureDir())
	s.streams = streams.New(s, nil) // offers expire by the wall clock, not the session's (tests fix that one)
	s.files = files.New(s, s)       // display pictures (pictures.go) travel as transfers
	s.conv = conversation.New(s)
	// Strangers' pictures (node/rooms/faces.go) are cached apart from
	// contacts', which node/presence prunes to those contacts show.
	s.rooms = rooms.New(s, rooms.Config{RetryMax: s.n.cfg.RetryMax, PictureDir: filepath.Join(s.n.pictureDir(), "rooms")})
	s.contacts.SyncRooms(s.rooms) // rooms joined belong to the account
	s.contacts.SetSyncInterval(s.n.cfg.SyncInterval)
	s.delivery = delivery.New(s, s.keys, s.discovery, &s.auth, s.n.cfg.RetryMax)
	s.handover = handover.New(s)
	s.calls = call.New(s)
	s.kinds.Register(s.calls.Kinds()...)
	s.kinds.Register(s.contacts.Kinds()...)
	s.kinds.Register(s.delivery.Kinds()...)
	s.kinds.Register(s.files.Kinds()...)
	s.kinds.Register(s.streams.Kinds()...)
	s.kinds.Register(s.presence.Kinds()...)
	s.kinds.Register(s.conv.Kinds()...)
	s.kinds.Register(s.rooms.Kinds()...)
}

// run starts the session's background work: delivery (the message
// protocol, the mail loop, what waits in the outbox), publishing our record, refreshing contacts' records (node/discovery), and
// announcing our presence.
func (s *session) run() {
	// Mail first, direct streams after: what waited in our mailboxes is older
	// than anything a contact sends once it sees us online.
	s.discovery.Rehome()
	ctx, cancel := context.WithTimeout(s.ctx, 2*wire.MailboxTimeout)
	if err := s.contacts.Restore(ctx); err != nil {
		s.n.log.Warn("restoring the contact list", "err", err)
	}
	tally := &offlineTally{}
	s.offline.Store(tally)
	if err := s.delivery.DrainMail(ctx); err != nil {
		s.n.log.Warn("fetching mail at sign-in", "err", err)
	}
	s.offline.Store(nil)
	s.waited = tally.result()
	cancel()
	s.delivery.Start(s.ctx)
	if s.listChanged {
		s.devicesChanged()
	}
	s.streams.Start(s.ctx)
	s.files.Start(s.ctx)
	// Publish before returning from sign-in, so that contacts find us (and
	// send directly) as soon as we show online.
	published := s.discovery.Publish()
	s.contacts.UpgradeVisibility()
	s.discovery.Start(published)
	s.goTracked(s.renewLoop)
	s.goTracked(func() { s.contacts.Serve(s.ctx) })
	s.goTracked(func() {
		if err := s.revs.Serve(s.ctx); err != nil && s.ctx.Err() == nil {
			s.n.log.Warn("revocations", "err", err)
		}
	})
	s.role.Start(s.ctx)
	s.rooms.Start(s.ctx) // rejoins the remembered rooms in the background
	s.handover.Start()
	s.calls.Start()
	if s.wantsHistory() {
		s.tasks.Go(s.fetchHistory)
	}
}

// goTracked runs f in a goroutine that the session's close waits for.
func (s *session) goTracked(f func()) { s.tasks.Go(func(context.Context) { f() }) }

// Logout implements API.
func (n *Node) Logout(ctx context.Context) error {
	n.loginMu.Lock()
	defer n.loginMu.Unlock()
	n.mu.Lock()
	s := n.sess
	n.sess = nil
	n.mu.Unlock()
	if s == nil {
		return api.ErrNotLoggedIn
	}
	s.delivery.Goodbye(ctx)
	err := s.close()
	n.emit(api.Event{SignedOut: true})
	return err
}

func (s *session) account() api.Account {
	mine := s.presence.Mine()
	role, allowed, uploadCap := s.role.Current()
	return api.Account{
		Username:           s.tk().Username,
		PeerID:             s.host.ID().String(),
		Server:             s.n.loadProfile().Server,
		Role:               role,
		SupernodeAllowed:   allowed,
		SupernodeUploadCap: uploadCap,
		Presence:           mine,
		AvatarPath:         s.n.picturePath(mine.Avatar),
	}
}

func (s *session) me() string { return s.tk().Username }

// tk returns our current ticket.
func (s *session) tk() *ticket.Ticket { return s.creds.Load().current() }

// credentials are our ticket and the region pass issued with it (nil when
// the auth server placed our address in no region), stored and replaced
// together so a reader never pairs a ticket with another issuance's pass.
// The pass stays in memory, apart from the ticket the components show to
// peers: only RegionPass hands it out.
type credentials struct {
	ticket *ticket.Ticket
	pass   *ticket.Pass
}

// current is c's ticket; nil before the session stored any, as the ticket
// pointer alone used to be.
func (c *credentials) current() *ticket.Ticket {
	if c == nil {
		return nil
	}
	return c.ticket
}

// rememberReplicas keeps the replicas a renewal listed for the next
// sign-in, when they changed (a replica added or gone) and the server
// listed any.
func (s *session) rememberReplicas(replicas []string) {
	if len(replicas) == 0 || slices.Equal(replicas, s.replicas) {
		return
	}
	s.replicas = replicas
	p := s.n.loadProfile()
	if rai, err := login.ParseServer(p.Server); err != nil || rai.ID != s.server.ID {
		return // signed in elsewhere since: not this server's
	}
	p.Replicas = replicas
	if err := s.n.saveProfile(p); err != nil {
		s.n.log.Warn("remembering the server's replicas", "err", err)
	}
}

// renewLoop trades our ticket for a fresh one when three quarters of its
// lifetime have passed, so a client left running never shows peers an
// expired ticket. A failed renewal is retried after Config.RetryMax.
func (s *session) renewLoop() {
	delay := time.Until(renewAt(s.tk()))
	for {
		timer := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		old := s.tk()
		ctx, cancel := context.WithTimeout(s.ctx, wire.AuthTimeout)
		res, err := login.Renew(ctx, s.host, s.server, old)
		cancel()
		switch {
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, login.ErrDeviceRevoked):
			// Removed from the account elsewhere: this session is over.
			// (In its own goroutine: ending the session waits for this one.)
			go s.n.endSession(s, api.SignedOutRevokedElsewhere, "This computer was removed from your account from another device.")
			return
		case err != nil:
			s.n.log.Warn("renewing our ticket", "err", err)
			delay = s.n.cfg.RetryMax
		case !res.Ticket.Expiry.After(old.Expiry):
			// A server whose clock went backwards: do not spin.
			s.n.log.Warn("renewed ticket expires no later than the old one", "old", old.Expiry, "new", res.Ticket.Expiry)
			delay = s.n.cfg.RetryMax
		default:
			s.creds.Store(&credentials{ticket: res.Ticket, pass: res.RegionPass})
			s.rememberReplicas(res.Replicas)
			if key := s.identity.Key(); key != nil && res.Account != nil {
				// Another device of ours may have changed the list.
				was := s.identity.Own()
				if err := s.identity.Adopt(s.me(), key, res.Account.Devices); err != nil {
					s.n.log.Warn("taking the account's device list", "err", err)
				} else if s.identity.Own() != was {
					s.devicesChanged()
				}
			}
			s.discovery.Republish() // peers look our ticket up there
			delay = time.Until(renewAt(res.Ticket))
		}
	}
}

// renewAt is when a ticket should be renewed: at three quarters of its life.
func renewAt(t *ticket.Ticket) time.Time {
	return t.Issued.Add(t.Expiry.Sub(t.Issued) * 3 / 4)
}

// close stops every goroutine of the session, then the host and the store.
func (s *session) close() error {
	s.calls.Close() // first: its hang-ups go while delivery runs
	s.tasks.Cancel()
	s.handover.Close()
	s.rooms.Close()
	s.streams.Close()
	s.discovery.Close()
	s.files.Close()
	s.role.Close()
	s.delivery.Close()
	hostErr := s.host.Close()
	s.tasks.Close()
	storeErr := s.store.Close()
	return errors.Join(hostErr, storeErr)
}

// newStorageKey returns a fresh key for the store's sealed tables.
func newStorageKey() []byte {
	k := make([]byte, store.StorageKeySize)
	rand.Read(k) // never fails (crypto/rand's documented contract)
	return k
}
