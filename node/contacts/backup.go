package contacts

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

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

// backupState is the backup's key and what was last uploaded.
type backupState struct {
	mu      sync.Mutex
	key     []byte // seals the backup; nil when the server gave no export key
	rekeyed bool   // the key changed since the last upload

	kick chan struct{} // asks Serve to upload the list
	sum  [32]byte      // fingerprint of the last list uploaded (Serve's own)

	// read is, per home, the client.ContactsHash of the blob it held when
	// we last read or wrote it (nil: it held none). A put replaces exactly
	// that blob, so a list another device stored since is merged before
	// it is overwritten — and a blob that does not open (garbage, another
	// password's) is still replaced, never a reason to stop backing up.
	read map[peer.ID][]byte
}

func newBackupState(key []byte) backupState {
	return backupState{key: key, kick: make(chan struct{}, 1), read: map[peer.ID][]byte{}}
}

// backupChanged schedules an upload of the contact list.
func (l *Contacts) backupChanged() {
	select {
	case l.backup.kick <- struct{}{}:
	default:
	}
}

// Rekey seals the backup with key from now on (a password change) and
// uploads it again under the new key.
func (l *Contacts) Rekey(key []byte) {
	l.backup.mu.Lock()
	l.backup.key, l.backup.rekeyed = key, true
	l.backup.mu.Unlock()
	l.backupChanged()
}

// Serve uploads the contact list after changes, coalescing bursts, until
// ctx ends.
func (l *Contacts) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.backup.kick:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backupDebounce):
		}
		uctx, cancel := context.WithTimeout(ctx, wire.ContactsTimeout)
		if err := l.upload(uctx); err != nil && ctx.Err() == nil {
			l.h.Log().Warn("backing up the contact list", "err", err)
		}
		cancel()
	}
}

// BackupVersion is the version of the list last backed up or restored
// (0: never).
func (l *Contacts) BackupVersion() uint64 {
	v, _ := l.h.Store().Setting(settingBackup)
	n, _ := strconv.ParseUint(v, 10, 64)
	return n
}

// upload seals the list under the next version and puts it at
// every home; another device's newer list is merged in first.
func (l *Contacts) upload(ctx context.Context) error {
	key, rekeyed := l.currentBackupKey()
	if key == nil || !l.h.HasMailboxes() {
		return nil
	}
	if err := l.Restore(ctx); err != nil {
		l.h.Log().Debug("reading the backed-up list before writing", "err", err)
	}
	l.mu.Lock()
	cs, err := l.h.Store().Contacts()
	l.mu.Unlock()
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
	if sum == l.backup.sum && !rekeyed {
		return nil
	}
	version := l.BackupVersion() + 1
	blob, err := backup.Seal(key, l.h.Me(), version, list)
	if err != nil {
		return err
	}
	stored := 0
	var errs []error
	for _, home := range l.h.HomesOf(l.h.Me()) {
		replaces, read := l.readHash(home.ID)
		if !read {
			errs = append(errs, fmt.Errorf("%s: its list was not read before writing", home.ID))
			continue
		}
		if err := l.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := client.PutContacts(ctx, l.h.Libp2p(), home.ID, l.h.Ticket().Signed, version, replaces, blob); err != nil {
			errs = append(errs, err)
			continue
		}
		l.setReadHash(home.ID, client.ContactsHash(blob))
		stored++
	}
	if stored == 0 {
		return errors.Join(errs...)
	}
	l.backup.sum = sum
	if rekeyed {
		l.backup.mu.Lock()
		l.backup.rekeyed = false
		l.backup.mu.Unlock()
	}
	return l.h.Store().SetSetting(settingBackup, strconv.FormatUint(version, 10))
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

// Restore reads the list from every home, keeps the newest version
// that opens (a supernode could serve an older genuine one, never a forged
// one), and adds the contacts this device does not have.
func (l *Contacts) Restore(ctx context.Context) error {
	key, _ := l.currentBackupKey()
	if key == nil || !l.h.HasMailboxes() {
		return nil
	}
	var (
		best    uint64
		newest  []backup.Entry
		errs    []error
		answers int
	)
	for _, home := range l.h.HomesOf(l.h.Me()) {
		if err := l.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		_, blob, found, err := client.GetContacts(ctx, l.h.Libp2p(), home.ID, l.h.Ticket().Signed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answers++
		if !found {
			l.setReadHash(home.ID, nil)
			continue
		}
		// Remembered before opening: what does not open is replaced too.
		l.setReadHash(home.ID, client.ContactsHash(blob))
		v, list, err := backup.Open(key, l.h.Me(), blob)
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
	if best <= l.BackupVersion() {
		return nil
	}
	l.mu.Lock()
	restored := 0
	for _, e := range newest {
		if _, err := l.h.Store().Contact(e.Username); !errors.Is(err, store.ErrNotFound) {
			continue // what this device knows wins
		}
		if err := l.h.Store().PutContact(store.Contact{
			Username: e.Username, Relation: e.Relation, MyToken: e.MyToken, TheirToken: e.TheirToken,
			PeerID: e.PeerID, Updated: l.h.Now(), Group: e.Group, Alias: e.Alias,
		}); err != nil {
			l.mu.Unlock()
			return err
		}
		restored++
	}
	l.mu.Unlock()
	if err := l.h.Store().SetSetting(settingBackup, strconv.FormatUint(best, 10)); err != nil {
		return err
	}
	if restored > 0 {
		l.h.Log().Info("contact list restored", "contacts", restored, "version", best)
		for _, e := range newest {
			l.Changed(e.Username)
		}
		l.h.Republish()
	}
	return nil
}

// readHash returns what home held when we last read or wrote it, and
// whether we did.
func (l *Contacts) readHash(home peer.ID) ([]byte, bool) {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	h, ok := l.backup.read[home]
	return h, ok
}

func (l *Contacts) setReadHash(home peer.ID, hash []byte) {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	l.backup.read[home] = hash
}

// currentBackupKey returns the key sealing the contact-list backup, and
// whether it changed (a password change) since the list was last uploaded.
func (l *Contacts) currentBackupKey() ([]byte, bool) {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	return l.backup.key, l.backup.rekeyed
}
