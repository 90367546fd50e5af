package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"eserver/node/api"
	"eserver/node/promotion"
	"eserver/node/wire"
	"eserver/supernode"
	"eserver/supernode/client"
)

// The seed's "When switch from Node to Supernode": a node the user allowed
// (Config.Supernode.Allowed), publicly reachable over TCP and QUIC, with
// enough memory, runs the supernode services on its own host and
// heartbeats to the registry; when a condition fails for a while it stops.
// The promotion manager decides; this file supplies what it starts.

// Settings that remember the user's supernode choices for the account: the
// opt-in, and the upload cap in bytes per second.
const (
	settingSupernode = "supernode.allowed"
	settingUploadCap = "supernode.uploadCap"
)

// startRole runs the promotion manager for the session.
func (s *session) startRole() {
	cfg := s.n.cfg.Supernode
	if v, _ := s.store.Setting(settingSupernode); v != "" {
		cfg.Allowed = v == "true"
	}
	if v, _ := s.store.Setting(settingUploadCap); v != "" {
		if c, err := strconv.ParseInt(v, 10, 64); err == nil && c >= 0 {
			cfg.UploadCap = c
		}
	}
	s.mu.Lock()
	s.supernodeAllowed = cfg.Allowed
	s.uploadCap = cfg.UploadCap
	s.mu.Unlock()
	cfg.Start = s.startSupernode
	cfg.OnRole = func(e promotion.RoleEvent) {
		ev := &api.RoleEvent{Role: api.RoleNode, Reason: string(e.Reason), Time: e.Time}
		if e.Role == promotion.RoleSupernode {
			ev.Role = api.RoleSupernode
		}
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		s.mu.Lock()
		s.role = ev.Role
		s.mu.Unlock()
		s.n.log.Info("role", "role", ev.Role, "reason", ev.Reason, "err", ev.Error)
		acct := s.account()
		s.n.emit(api.Event{Role: ev, Account: &acct})
	}
	if cfg.Logger == nil {
		cfg.Logger = s.n.log.With("component", "promotion")
	}
	m := promotion.New(s.host, cfg)
	s.mu.Lock()
	s.promotion = m
	s.mu.Unlock()
	s.goTracked(func() {
		if err := m.Serve(s.ctx); err != nil {
			s.n.log.Warn("promotion manager", "err", err)
		}
	})
}

// startSupernode starts the supernode services on our host and keeps us in
// the registry until the promotion ends.
func (s *session) startSupernode(ctx context.Context) (promotion.Stopper, error) {
	dir := filepath.Join(s.n.cfg.ProfileDir, "accounts", s.me())
	s.mu.Lock()
	upload := s.uploadCap
	s.mu.Unlock()
	svc, err := supernode.StartServices(s.host, supernode.ServicesConfig{
		AuthServer: s.tk().Server,
		MailboxDB:  filepath.Join(dir, "supernode-mailbox.db"),
		UploadRate: upload,
		Logger:     s.n.log.With("component", "supernode"),
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.services = svc
	s.mu.Unlock()
	hb := &client.Heartbeater{Host: s.host, Auth: s.server.ID, Ticket: func() *wire.SignedTicket { return s.tk().Signed }, Logger: s.n.log}
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
		s.mu.Lock()
		s.services = nil
		s.mu.Unlock()
		return svc.Close()
	}), nil
}

// Role returns whether this node serves as a supernode now.
func (n *Node) Role() api.Role {
	s, err := n.current()
	if err != nil {
		return api.RoleNode
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.role == "" {
		return api.RoleNode
	}
	return s.role
}

// SetSupernode implements API.
func (n *Node) SetSupernode(ctx context.Context, set api.SupernodeSettings) error {
	if set.UploadCap != nil && *set.UploadCap < 0 {
		return fmt.Errorf("%w: upload cap %d bytes/s, want 0 (no cap) or more", api.ErrBadRequest, *set.UploadCap)
	}
	s, err := n.current()
	if err != nil {
		return err
	}
	if set.UploadCap != nil {
		if err := s.store.SetSetting(settingUploadCap, strconv.FormatInt(*set.UploadCap, 10)); err != nil {
			return err
		}
		s.mu.Lock()
		s.uploadCap = *set.UploadCap
		svc := s.services
		s.mu.Unlock()
		if svc != nil {
			if err := svc.Relay.SetUploadRate(*set.UploadCap); err != nil {
				return err
			}
		}
	}
	if set.Allowed != nil {
		if err := s.store.SetSetting(settingSupernode, strconv.FormatBool(*set.Allowed)); err != nil {
			return err
		}
		s.mu.Lock()
		s.supernodeAllowed = *set.Allowed
		m := s.promotion
		s.mu.Unlock()
		if m != nil {
			m.SetAllowed(*set.Allowed)
		}
	}
	acct := s.account()
	n.emit(api.Event{Account: &acct})
	return nil
}
