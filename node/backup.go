package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"eserver/node/api"
	"eserver/node/backup"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Contact-list backup: after every change, the contact list (relations and
// visibility tokens) is sealed with a key from OPAQUE's export key — which
// every device that knows the password derives and no server sees — and
// left at our homes. A new device or a reinstall restores it at sign-in.

const (
	backupDebounce = 2 * time.Second // changes in a burst make one upload
	settingBackup  = "backup.version"
)

// backupChanged schedules an upload of the contact list.
func (s *session) backupChanged() {
	select {
	case s.backupKick <- struct{}{}:
	default:
	}
}

// backupLoop uploads the contact list after changes, coalescing bursts.
func (s *session) backupLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.backupKick:
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backupDebounce):
		}
		ctx, cancel := context.WithTimeout(s.ctx, wire.ContactsTimeout)
		if err := s.uploadContacts(ctx); err != nil && s.ctx.Err() == nil {
			s.n.log.Warn("backing up the contact list", "err", err)
		}
		cancel()
	}
}

func (s *session) backupVersion() uint64 {
	v, _ := s.store.Setting(settingBackup)
	n, _ := strconv.ParseUint(v, 10, 64)
	return n
}

// uploadContacts seals the list under the next version and puts it at
// every home; another device's newer list is merged in first.
func (s *session) uploadContacts(ctx context.Context) error {
	key, rekeyed := s.currentBackupKey()
	if key == nil || !s.discovery.HasMailboxes() {
		return nil
	}
	if err := s.restoreContacts(ctx); err != nil {
		s.n.log.Debug("reading the backed-up list before writing", "err", err)
	}
	s.contactMu.Lock()
	cs, err := s.store.Contacts()
	s.contactMu.Unlock()
	if err != nil {
		return err
	}
	list := make([]backup.Entry, 0, len(cs))
	for _, c := range cs {
		if api.Relation(c.Relation) == api.RelationPendingIn {
			continue // a request we have not answered is not ours to keep
		}
		list = append(list, backup.Entry{Username: c.Username, Relation: c.Relation, MyToken: c.MyToken, TheirToken: c.TheirToken, PeerID: c.PeerID,
			Group: c.Group, Alias: c.Alias})
	}
	// Presence changes also wake us; only a changed list is uploaded.
	sum := listSum(list)
	if sum == s.backupSum && !rekeyed {
		return nil
	}
	version := s.backupVersion() + 1
	blob, err := backup.Seal(key, s.me(), version, list)
	if err != nil {
		return err
	}
	stored := 0
	var errs []error
	for _, home := range s.discovery.HomesOf(s.me()) {
		if err := s.discovery.Connect(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := client.PutContacts(ctx, s.host, home.ID, s.tk().Signed, version, blob); err != nil {
			errs = append(errs, err)
			continue
		}
		stored++
	}
	if stored == 0 {
		return errors.Join(errs...)
	}
	s.backupSum = sum
	if rekeyed {
		s.mu.Lock()
		s.backupRekeyed = false
		s.mu.Unlock()
	}
	return s.store.SetSetting(settingBackup, strconv.FormatUint(version, 10))
}

// listSum fingerprints a contact list.
func listSum(list []backup.Entry) [32]byte {
	h := sha256.New()
	for _, e := range list {
		for _, f := range [][]byte{[]byte(e.Username), []byte(e.Relation), e.MyToken, e.TheirToken, []byte(e.PeerID), []byte(e.Group), []byte(e.Alias)} {
			h.Write(binary.AppendUvarint(nil, uint64(len(f))))
			h.Write(f)
		}
	}
	return [32]byte(h.Sum(nil))
}

// restoreContacts reads the list from every home, keeps the newest version
// that opens (a supernode could serve an older genuine one, never a forged
// one), and adds the contacts this device does not have.
func (s *session) restoreContacts(ctx context.Context) error {
	key, _ := s.currentBackupKey()
	if key == nil || !s.discovery.HasMailboxes() {
		return nil
	}
	var (
		best    uint64
		newest  []backup.Entry
		errs    []error
		answers int
	)
	for _, home := range s.discovery.HomesOf(s.me()) {
		if err := s.discovery.Connect(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		_, blob, found, err := client.GetContacts(ctx, s.host, home.ID, s.tk().Signed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answers++
		if !found {
			continue
		}
		v, list, err := backup.Open(key, s.me(), blob)
		if err != nil {
			errs = append(errs, err) // another password's blob, or tampered
			continue
		}
		if v > best {
			best, newest = v, list
		}
	}
	if answers == 0 {
		return errors.Join(errs...)
	}
	if best <= s.backupVersion() {
		return nil
	}
	s.contactMu.Lock()
	restored := 0
	for _, e := range newest {
		if _, err := s.store.Contact(e.Username); !errors.Is(err, store.ErrNotFound) {
			continue // what this device knows wins
		}
		if err := s.store.PutContact(store.Contact{
			Username: e.Username, Relation: e.Relation, MyToken: e.MyToken, TheirToken: e.TheirToken,
			PeerID: e.PeerID, Updated: s.n.cfg.Now(), Group: e.Group, Alias: e.Alias,
		}); err != nil {
			s.contactMu.Unlock()
			return err
		}
		restored++
	}
	s.contactMu.Unlock()
	if err := s.store.SetSetting(settingBackup, strconv.FormatUint(best, 10)); err != nil {
		return err
	}
	if restored > 0 {
		s.n.log.Info("contact list restored", "contacts", restored, "version", best)
		for _, e := range newest {
			s.emitContact(e.Username)
		}
		s.visibilityChanged()
	}
	return nil
}

// currentBackupKey returns the key sealing the contact-list backup, and
// whether it changed (a password change) since the list was last uploaded.
func (s *session) currentBackupKey() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backupKey, s.backupRekeyed
}
