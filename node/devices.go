package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/account"
	"eserver/node/api"
	"eserver/node/backup"
	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// Devices implements API.
func (n *Node) Devices(ctx context.Context) ([]api.Device, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
	defer cancel()
	// Which are signed in now, as our homes' rendezvous shows our own
	// devices to each other: asked while the auth server is, and bounded
	// by the rendezvous' own timeout. Not knowing shows the others
	// offline: the list itself is what was asked for.
	onlineCh := make(chan map[peer.ID]bool, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(ctx, wire.RendezvousTimeout)
		defer rcancel()
		online, err := s.discovery.OnlineDevices(rctx, s.me())
		if err != nil {
			n.log.Debug("asking which devices are online", "err", err)
		}
		onlineCh <- online
	}()
	ds, _, err := login.Devices(ctx, s.host, s.server, s.tk().Signed)
	online := <-onlineCh
	if err != nil {
		return nil, mapLoginErr(err)
	}
	own := s.identity.Own() // nil before the account has an identity
	out := make([]api.Device, 0, len(ds))
	for _, d := range ds {
		me := d.Peer == s.host.ID()
		ad := api.Device{PeerID: d.Peer.String(), Name: d.Name, FirstLogin: d.FirstLogin, LastSeen: d.LastSeen, Current: me,
			Online: d.Revoked.IsZero() && (me || online[d.Peer]), Listed: own != nil && own.Has(d.Peer)}
		if !d.Revoked.IsZero() {
			at := d.Revoked
			ad.Revoked = &at
		}
		out = append(out, ad)
	}
	return out, nil
}

// revocationPoll is how often a node asks the auth server for devices
// revoked since it last asked: less often than supernodes do (they are few
// and guard everyone; a node guards its own conversations, and a revoked
// device is refused at every supernode within their poll).
const revocationPoll = 5 * time.Minute

// maxPassword bounds a password: Argon2id and OPAQUE take any length, but
// nobody types more, and a megabyte of "password" is a mistake.
const maxPassword = 1024

// RevokeDevice implements API. Revoking this device ends the session.
// Revoking another one sends the server a fresh proof of the password.
func (n *Node) RevokeDevice(ctx context.Context, peerID, password string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	p, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("%w: %q is not a peer ID", api.ErrBadRequest, peerID)
	}
	if p != s.host.ID() && (password == "" || len(password) > maxPassword) {
		return fmt.Errorf("%w: removing another device needs the account's password", api.ErrBadRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
	defer cancel()
	if err := login.RevokeDevice(ctx, s.host, s.server, s.tk(), p, password); err != nil {
		if errors.Is(err, login.ErrUnknownDevice) {
			return fmt.Errorf("%w: %s is not a device of this account", api.ErrBadRequest, peerID)
		}
		return mapLoginErr(err)
	}
	if p == s.host.ID() {
		go n.endSession(s, api.SignedOutRevoked, "This computer was removed from your account.")
		return nil
	}
	// The account's list goes without it: contacts stop sending to it and
	// refuse it as one of ours as soon as they see the new list.
	if s.identity.Key() != nil {
		err := s.publishDevices(ctx, false, func(ds []ticket.Device) ([]ticket.Device, bool) {
			out := account.WithoutDevice(ds, p)
			return out, len(out) != len(ds)
		})
		if err != nil {
			return fmt.Errorf("removed at the auth server, but the account's device list still names it: %w", err)
		}
		s.devicesChanged()
	}
	return nil
}

// ChangePassword implements API. The new seal of this device's keys is
// staged before the server is asked and committed after it answered, so a
// crash in between leaves keys that open with whichever password the
// server has (see store.StagePassword).
func (n *Node) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	if newPassword == "" || len(newPassword) > maxPassword {
		return fmt.Errorf("%w: the new password must be 1–%d bytes", api.ErrBadRequest, maxPassword)
	}
	if err := s.store.StagePassword([]byte(oldPassword), []byte(newPassword)); err != nil {
		return fmt.Errorf("%w: %v", api.ErrLoginFailed, err)
	}
	ctx, cancel := context.WithTimeout(ctx, wire.AuthTimeout)
	defer cancel()
	// The account identity is sealed afresh under the new password, in the
	// server's transaction that changes it: the same key, another seal.
	var reseal func([]byte) ([]byte, error)
	if key := s.identity.Key(); key != nil {
		reseal = func(export []byte) ([]byte, error) { return account.Seal(export, s.me(), key) }
	}
	_, export, err := login.ChangePassword(ctx, s.host, s.server, s.me(), oldPassword, newPassword, reseal)
	if err != nil {
		if derr := s.store.DropStagedPassword(); derr != nil {
			n.log.Warn("dropping a staged password change", "err", derr)
		}
		return mapLoginErr(err)
	}
	if err := s.store.CommitPassword(); err != nil {
		// The next sign-in with the new password commits it.
		return fmt.Errorf("re-sealing this device's keys: %w", err)
	}
	// The contact-list backup is sealed with a key from OPAQUE's export
	// key, which changed with the password: upload it under the new one.
	if k, err := backup.DeriveKey(export); err == nil {
		s.contacts.Rekey(k)
	}
	return nil
}

// endSession ends s, which the server or the user ended elsewhere, and
// tells the front ends why.
func (n *Node) endSession(s *session, code, reason string) {
	n.loginMu.Lock()
	defer n.loginMu.Unlock()
	n.mu.Lock()
	current := n.sess == s
	if current {
		n.sess = nil
	}
	n.mu.Unlock()
	if !current {
		return
	}
	n.log.Warn("session ended", "reason", reason)
	if err := s.close(); err != nil {
		n.log.Warn("closing the session", "err", err)
	}
	n.emit(api.Event{SignedOut: true, SignedOutReason: reason, SignedOutCode: code})
}
