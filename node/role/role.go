// Package role is this node's part in the network: the seed's "When switch
// from Node to Supernode". A node the user allowed (the supernode opt-in),
// publicly reachable over TCP and QUIC, with enough memory, runs the
// supernode services on its own host and heartbeats to the registry; when a
// condition fails for a while it stops. node/promotion decides; this
// package supplies what it starts and remembers the user's choices.
package role

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/promotion"
	"eserver/node/store"
	"eserver/node/task"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode"
	"eserver/supernode/client"
)

// Settings that remember the user's supernode choices for the account: the
// opt-in, and the upload cap in bytes per second.
const (
	SettingSupernode = "supernode.allowed"
	SettingUploadCap = "supernode.uploadCap"
)

// Host is what the role needs from the node.
type Host interface {
	Libp2p() host.Host
	Store() *store.Store
	Ticket() *ticket.Ticket
	Log() *slog.Logger
	// RoleChanged tells the front ends of a new role (and the account,
	// which shows it).
	RoleChanged(e *api.RoleEvent)
}

// Config configures the role of one session.
type Config struct {
	// Promotion is the node's configuration of the promotion manager
	// (opt-in and upload cap are overridden by the account's settings).
	Promotion promotion.Config
	// AuthServer is the auth server whose registry lists supernodes.
	AuthServer peer.ID
	// Dir is where the supernode services keep their databases.
	Dir string
}

// Role is the role of one session.
type Role struct {
	h     Host
	cfg   Config
	tasks *task.Group

	mu        sync.Mutex
	role      api.Role
	allowed   bool
	uploadCap int64               // bytes/s granted to supernode duty; 0: none
	manager   *promotion.Manager  // set by Start
	services  *supernode.Services // while serving as a supernode
}

// New returns the role of a session; Start starts deciding it.
func New(h Host, cfg Config) *Role { return &Role{h: h, cfg: cfg, role: api.RoleNode} }

// Start reads the account's choices and runs the promotion manager until
// Close.
func (r *Role) Start(ctx context.Context) {
	cfg := r.cfg.Promotion
	st := r.h.Store()
	if v, _ := st.Setting(SettingSupernode); v != "" {
		cfg.Allowed = v == "true"
	}
	if v, _ := st.Setting(SettingUploadCap); v != "" {
		if c, err := strconv.ParseInt(v, 10, 64); err == nil && c >= 0 {
			cfg.UploadCap = c
		}
	}
	r.mu.Lock()
	r.allowed = cfg.Allowed
	r.uploadCap = cfg.UploadCap
	r.mu.Unlock()
	cfg.Start = r.startSupernode
	cfg.OnRole = func(e promotion.RoleEvent) {
		ev := &api.RoleEvent{Role: api.RoleNode, Reason: string(e.Reason), Time: e.Time}
		if e.Role == promotion.RoleSupernode {
			ev.Role = api.RoleSupernode
		}
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		r.mu.Lock()
		r.role = ev.Role
		r.mu.Unlock()
		r.h.Log().Info("role", "role", ev.Role, "reason", ev.Reason, "err", ev.Error)
		r.h.RoleChanged(ev)
	}
	if cfg.Logger == nil {
		cfg.Logger = r.h.Log().With("component", "promotion")
	}
	m := promotion.New(r.h.Libp2p(), cfg)
	r.mu.Lock()
	r.manager = m
	r.mu.Unlock()
	r.tasks = task.New(ctx)
	r.tasks.Go(func(ctx context.Context) {
		if err := m.Serve(ctx); err != nil {
			r.h.Log().Warn("promotion manager", "err", err)
		}
	})
}

// Close stops the promotion manager (which stops the supernode services)
// and waits for it.
func (r *Role) Close() {
	if r.tasks != nil {
		r.tasks.Close()
	}
}

// Current is this node's role now, and the user's supernode choices.
func (r *Role) Current() (role api.Role, allowed bool, uploadCap int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.role, r.allowed, r.uploadCap
}

// Services are the supernode services while this node serves as one; nil
// otherwise.
func (r *Role) Services() *supernode.Services {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.services
}

// startSupernode starts the supernode services on our host and keeps us in
// the registry until the promotion ends.
func (r *Role) startSupernode(ctx context.Context) (promotion.Stopper, error) {
	r.mu.Lock()
	upload := r.uploadCap
	r.mu.Unlock()
	ticketOf := func() *wire.SignedTicket {
		if t := r.h.Ticket(); t != nil {
			return t.Signed
		}
		return nil
	}
	hb := &client.Heartbeater{Host: r.h.Libp2p(), Auth: r.cfg.AuthServer, Ticket: func() *wire.SignedTicket { return r.h.Ticket().Signed }, Logger: r.h.Log()}
	svc, err := supernode.StartServices(r.h.Libp2p(), supernode.ServicesConfig{
		AuthServer: r.cfg.AuthServer,
		MailboxDB:  filepath.Join(r.cfg.Dir, "supernode-mailbox.db"),
		UploadRate: upload,
		Logger:     r.h.Log().With("component", "supernode"),
		// Our host keeps libp2p's desktop resource limits: caps to match.
		MaxNodes:   supernode.PromotedMaxNodes,
		Supernodes: client.SupernodeLister(r.h.Libp2p(), r.cfg.AuthServer, ticketOf),
		// The same list with addresses, and the heartbeat's supernode
		// ticket: a room's homes reach one another.
		RoomPeers:       client.RoomPeerLister(r.h.Libp2p(), r.cfg.AuthServer, ticketOf),
		SupernodeTicket: client.SignedSupernodeTicket(hb),
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.services = svc
	r.mu.Unlock()
	var wg sync.WaitGroup
	hbCtx, stopHB := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		hb.Serve(hbCtx)
	}()
	return promotion.StopFunc(func(context.Context) error {
		// Leave the registry first, so nodes stop choosing us; nodes homed
		// here re-home when our services go (the mail they left here has
		// copies at their other homes).
		stopHB()
		wg.Wait()
		r.mu.Lock()
		r.services = nil
		r.mu.Unlock()
		return svc.Close()
	}), nil
}

// Set changes the user's supernode choices: the opt-in and the upload cap.
// The caller tells the front ends of the account as it is afterwards.
func (r *Role) Set(set api.SupernodeSettings) error {
	if set.UploadCap != nil && *set.UploadCap < 0 {
		return fmt.Errorf("%w: upload cap %d bytes/s, want 0 (no cap) or more", api.ErrBadRequest, *set.UploadCap)
	}
	st := r.h.Store()
	if set.UploadCap != nil {
		if err := st.SetSetting(SettingUploadCap, strconv.FormatInt(*set.UploadCap, 10)); err != nil {
			return err
		}
		r.mu.Lock()
		r.uploadCap = *set.UploadCap
		svc := r.services
		r.mu.Unlock()
		if svc != nil {
			if err := svc.Relay.SetUploadRate(*set.UploadCap); err != nil {
				return err
			}
		}
	}
	if set.Allowed != nil {
		if err := st.SetSetting(SettingSupernode, strconv.FormatBool(*set.Allowed)); err != nil {
			return err
		}
		r.mu.Lock()
		r.allowed = *set.Allowed
		m := r.manager
		r.mu.Unlock()
		if m != nil {
			m.SetAllowed(*set.Allowed)
		}
	}
	return nil
}
