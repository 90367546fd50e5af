package contacts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// Account sync: what belongs to the account (the contact list with its
// groups, names, blocks and removals, and the rooms joined; node/backup
// says what does not) is sealed with a key from OPAQUE's export key —
// which every device that knows the password derives and no server sees —
// and left at our homes. Every device signed in to the account keeps its
// own copy of that state with a change time per field (settingSynced),
// notices its own changes by comparing the store with that copy
// (observe), merges what its other devices stored (node/backup.Merge),
// applies the result to the store (apply) and stores the merge at the
// homes whose blob differs.
//
// How a device hears of its other devices' changes: it polls. Every
// SyncInterval it asks one of its homes, in turn, for the blob, naming the
// one it holds (client.GetContactsIfChanged): "unchanged" is one round
// trip of a ~230-byte request (mostly the ticket) and a 6-byte answer, and
// the homes' per-account rate limit is far away (three devices at the
// default interval ask each home about once a minute). Only when something
// changed does it read every home and write. A push would be quicker, but
// the homes hold no connection to every device of an account and the
// devices may not reach each other at all; the poll works wherever the
// homes do. A change of the account's device list (a device signed in or
// was revoked) and every local change start a full sync at once.

const (
	backupDebounce = 2 * time.Second // changes in a burst make one upload
	settingBackup  = "backup.version"
	// settingSynced holds this device's copy of the account's synced state
	// (backup.State.Marshal, base64), with the change time of every field.
	settingSynced = "sync.state"
	// settingRoomsHere holds the rooms this device had joined at the last
	// pass (a JSON list): a room of the account's that is not joined here
	// was left here only if it was joined here before.
	settingRoomsHere = "sync.rooms-here"

	// DefaultSyncInterval is how often a device asks a home whether
	// another device changed the account's state.
	DefaultSyncInterval = 20 * time.Second
	// roomJoinTimeout bounds joining one room another device joined.
	roomJoinTimeout = 30 * time.Second
	// devicesCheck is how often the account's device list is looked at
	// (in memory) for a change that should start a sync.
	devicesCheck = time.Second
)

// RoomList is what the sync needs of the rooms feature: the rooms joined
// are the store's (store.Rooms); joining and leaving go through it, and it
// says when a room was joined or left here.
type RoomList interface {
	JoinRoom(ctx context.Context, name, password string) (api.Room, error)
	LeaveRoom(ctx context.Context, name string) error
	// OnChange registers f, called after each join or leave.
	OnChange(f func())
}

// homeState is what a home held when we last read or wrote it.
type homeState struct {
	hash []byte   // client.ContactsHash of its blob; nil: it held none
	sum  [32]byte // backup.State.Sum of its content, expired; zero when it did not open
}

// backupState is the sync's key, its copy of the account's state and what
// each home holds.
type backupState struct {
	mu      sync.Mutex
	key     []byte // seals the backup; nil when the server gave no export key
	rekeyed bool   // the key changed since the last upload

	kick chan struct{} // asks Serve for a full sync

	// syncMu serializes sync passes (Restore at sign-in, Serve after).
	syncMu sync.Mutex
	// homes is, per home, what it held when we last read or wrote it. A
	// put replaces exactly that blob, so a list another device stored
	// since is merged before it is overwritten — and a blob that does not
	// open (garbage, another password's) is still replaced, never a
	// reason to stop backing up. Guarded by mu.
	homes map[peer.ID]homeState
	next  int // the home the next tick asks (syncMu)

	// Guarded by the list's lock (Contacts.mu):
	synced *backup.State // this device's copy; nil until loaded
	clock  backup.Clock  // change times
	// roomsHere is the rooms joined here at the last pass (nil until
	// loaded from settingRoomsHere); gaveUp the rooms whose join was
	// refused here for good, recorded as left at the next pass.
	roomsHere map[string]bool
	gaveUp    map[string]bool

	rooms    RoomList // nil: rooms are not synced
	interval time.Duration
}

func newBackupState(key []byte) backupState {
	return backupState{key: key, kick: make(chan struct{}, 1), homes: map[peer.ID]homeState{},
		gaveUp: map[string]bool{}, interval: DefaultSyncInterval}
}

// SyncRooms makes the rooms joined part of the account's synced state:
// joined or left on one device, joined or left on the others. Call it
// before Serve.
func (l *Contacts) SyncRooms(r RoomList) {
	l.mu.Lock()
	l.backup.rooms = r
	l.mu.Unlock()
	r.OnChange(l.backupChanged)
}

// SetSyncInterval sets how often other devices' changes are looked for
// (0: DefaultSyncInterval). Call it before Serve.
func (l *Contacts) SetSyncInterval(d time.Duration) {
	if d <= 0 {
		d = DefaultSyncInterval
	}
	l.backup.interval = d
}

// backupChanged schedules a full sync of the account's state.
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

// Serve keeps the account's state in sync until ctx ends: a full sync
// after local changes (coalescing bursts) and after the account's device
// list changed, and a poll of one home every sync interval.
func (l *Contacts) Serve(ctx context.Context) error {
	tick := time.NewTicker(l.backup.interval)
	defer tick.Stop()
	devices := time.NewTicker(devicesCheck)
	defer devices.Stop()
	list := l.h.Devices()
	for {
		full := true
		select {
		case <-ctx.Done():
			return nil
		case <-l.backup.kick:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backupDebounce):
			}
		case <-devices.C:
			if d := l.h.Devices(); d != list {
				list = d // a device joined or left the account: it may bring changes
			} else {
				continue
			}
		case <-tick.C:
			full = false
		}
		sctx, cancel := context.WithTimeout(ctx, wire.ContactsTimeout)
		if err := l.sync(sctx, full, true); err != nil && ctx.Err() == nil {
			l.h.Log().Warn("syncing the account's contact list and rooms", "err", err)
		}
		cancel()
	}
}

// BackupVersion is the version of the state last stored or read (0:
// never).
func (l *Contacts) BackupVersion() uint64 {
	v, _ := l.h.Store().Setting(settingBackup)
	n, _ := strconv.ParseUint(v, 10, 64)
	return n
}

// Restore reads the account's state from every home and applies it; it
// stores nothing (Serve does). A device signing in calls it first.
func (l *Contacts) Restore(ctx context.Context) error {
	return l.sync(ctx, true, false)
}

// sync runs one pass: read the homes (every one when full, else the next
// in turn), merge, apply, and when write is set store the merge at the
// homes whose content differs. A pass that was not full and finds any
// difference turns into a full one.
func (l *Contacts) sync(ctx context.Context, full, write bool) error {
	key, rekeyed := l.currentBackupKey()
	if key == nil || !l.h.HasMailboxes() {
		return nil
	}
	l.backup.syncMu.Lock()
	defer l.backup.syncMu.Unlock()
	homes := l.h.HomesOf(l.h.Me())
	if len(homes) == 0 {
		return nil
	}
	if !full {
		i := l.backup.next % len(homes)
		l.backup.next++
		out, err := l.pass(ctx, key, homes[i:i+1])
		if !l.differs(homes, out) {
			return err
		}
		// Something changed, here or at that home: read them all before
		// writing.
	}
	out, pollErr := l.pass(ctx, key, homes)
	if !write || (pollErr != nil && !l.readAny(homes)) {
		return pollErr
	}
	return l.store(ctx, key, rekeyed, homes, out)
}

// pass reads homes, merges what they hold with this device's state,
// applies the merge, and returns its fingerprint as it would be stored.
// An error from the homes is returned after the merge of what did answer.
func (l *Contacts) pass(ctx context.Context, key []byte, homes []peer.AddrInfo) (backup.State, error) {
	remotes, seen, pollErr := l.poll(ctx, key, homes)
	merged, moves, err := l.mergeLocal(remotes)
	if err != nil {
		return backup.State{}, err
	}
	l.settleRooms(ctx, moves)
	if seen > l.BackupVersion() {
		if err := l.h.Store().SetSetting(settingBackup, strconv.FormatUint(seen, 10)); err != nil {
			return backup.State{}, err
		}
	}
	return merged.Expire(l.h.Now()), pollErr
}

// readAny reports whether any of homes was read: a write replaces only
// what was read.
func (l *Contacts) readAny(homes []peer.AddrInfo) bool {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	for _, h := range homes {
		if _, ok := l.backup.homes[h.ID]; ok {
			return true
		}
	}
	return false
}

// differs reports whether any home holds other content than out, or was
// never read.
func (l *Contacts) differs(homes []peer.AddrInfo, out backup.State) bool {
	sum := out.Sum()
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	for _, h := range homes {
		if st, ok := l.backup.homes[h.ID]; !ok || st.sum != sum {
			return true
		}
	}
	return false
}

// poll reads homes, each naming the blob we last saw there, and returns
// the states that opened and the highest version seen.
func (l *Contacts) poll(ctx context.Context, key []byte, homes []peer.AddrInfo) ([]backup.State, uint64, error) {
	var (
		states []backup.State
		seen   uint64
		errs   []error
	)
	for _, home := range homes {
		if err := l.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		l.backup.mu.Lock()
		held, read := l.backup.homes[home.ID]
		l.backup.mu.Unlock()
		var known []byte
		if read {
			known = held.hash
		}
		v, blob, found, unchanged, err := client.GetContactsIfChanged(ctx, l.h.Libp2p(), home.ID, l.h.Ticket().Signed, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case unchanged:
			seen = max(seen, v)
			continue
		case !found:
			l.setHome(home.ID, homeState{})
			continue
		}
		// Remembered before opening: what does not open is replaced too.
		st := homeState{hash: client.ContactsHash(blob)}
		v, state, err := backup.Open(key, l.h.Me(), blob)
		if err != nil {
			l.setHome(home.ID, st)
			errs = append(errs, fmt.Errorf("%s: %w", home.ID, err)) // another password's blob, or tampered
			continue
		}
		st.sum = state.Expire(l.h.Now()).Sum()
		l.setHome(home.ID, st)
		states = append(states, state)
		seen = max(seen, v)
	}
	if len(errs) > 0 {
		return states, seen, errors.Join(errs...)
	}
	return states, seen, nil
}

func (l *Contacts) setHome(home peer.ID, st homeState) {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	l.backup.homes[home] = st
}

// store seals out under the next version and puts it at every home whose
// content differs from it (all of them after a rekey), each put replacing
// the blob we last read there.
func (l *Contacts) store(ctx context.Context, key []byte, rekeyed bool, homes []peer.AddrInfo, out backup.State) error {
	sum := out.Sum()
	var todo []peer.AddrInfo
	l.backup.mu.Lock()
	for _, h := range homes {
		if st, ok := l.backup.homes[h.ID]; !ok || st.sum != sum || rekeyed {
			todo = append(todo, h)
		}
	}
	l.backup.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	version := l.BackupVersion() + 1
	blob, err := backup.Seal(key, l.h.Me(), version, out)
	if err != nil {
		return err
	}
	stored := 0
	var errs []error
	for _, home := range todo {
		l.backup.mu.Lock()
		held, read := l.backup.homes[home.ID]
		l.backup.mu.Unlock()
		if !read {
			errs = append(errs, fmt.Errorf("%s: its list was not read before writing", home.ID))
			continue
		}
		if err := l.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := client.PutContacts(ctx, l.h.Libp2p(), home.ID, l.h.Ticket().Signed, version, held.hash, blob); err != nil {
			if errors.Is(err, client.ErrStale) {
				l.backupChanged() // another device wrote meanwhile: read it, merge, write again
			}
			errs = append(errs, err)
			continue
		}
		l.setHome(home.ID, homeState{hash: client.ContactsHash(blob), sum: sum})
		stored++
	}
	if stored == 0 {
		return errors.Join(errs...)
	}
	if rekeyed {
		l.backup.mu.Lock()
		l.backup.rekeyed = false
		l.backup.mu.Unlock()
	}
	if err := l.h.Store().SetSetting(settingBackup, strconv.FormatUint(version, 10)); err != nil {
		return err
	}
	if len(errs) > 0 {
		l.h.Log().Debug("the account's state not stored at every home", "stored", stored, "err", errors.Join(errs...))
	}
	l.h.AccountStored()
	return nil
}

// SyncNow asks Serve for a full sync pass soon: another device of ours
// stored a change at our homes.
func (l *Contacts) SyncNow() { l.backupChanged() }

// roomsHere is the rooms joined here at the last pass; l.mu is held.
func (l *Contacts) roomsHere() (map[string]bool, error) {
	if l.backup.roomsHere != nil {
		return l.backup.roomsHere, nil
	}
	v, err := l.h.Store().Setting(settingRoomsHere)
	if err != nil {
		return nil, err
	}
	var names []string
	if v != "" {
		if err := json.Unmarshal([]byte(v), &names); err != nil {
			// Not knowing takes no room for left: the worst is a room
			// left here before this pass joined back from the others.
			l.h.Log().Warn("the rooms joined here do not decode", "err", err)
		}
	}
	l.backup.roomsHere = make(map[string]bool, len(names))
	for _, n := range names {
		l.backup.roomsHere[n] = true
	}
	return l.backup.roomsHere, nil
}

// noteJoinedHere adds room to the rooms joined here; l.mu is held.
func (l *Contacts) noteJoinedHere(room string) error {
	before, err := l.roomsHere()
	if err != nil {
		return err
	}
	here := make(map[string]string, len(before)+1)
	for n := range before {
		here[n] = ""
	}
	here[room] = ""
	return l.keepRoomsHere(here)
}

// keepRoomsHere stores here's rooms as the rooms joined here, when they
// changed; l.mu is held.
func (l *Contacts) keepRoomsHere(here map[string]string) error {
	if len(here) == len(l.backup.roomsHere) {
		same := true
		for n := range here {
			same = same && l.backup.roomsHere[n]
		}
		if same {
			return nil
		}
	}
	names := slices.Sorted(maps.Keys(here))
	b, err := json.Marshal(names)
	if err != nil {
		return err
	}
	if err := l.h.Store().SetSetting(settingRoomsHere, string(b)); err != nil {
		return fmt.Errorf("keeping the rooms joined here: %w", err)
	}
	l.backup.roomsHere = make(map[string]bool, len(names))
	for _, n := range names {
		l.backup.roomsHere[n] = true
	}
	return nil
}

// roomMove is a room to join or leave here because another device did.
type roomMove struct {
	name, password string
	leave          bool
}

// mergeLocal notes this device's own changes in its copy of the account's
// state (observe), merges remotes into it, applies the result to the store
// and tells the front ends what changed. It returns the merged state and
// the rooms to join or leave, which the caller does without the lock.
func (l *Contacts) mergeLocal(remotes []backup.State) (backup.State, []roomMove, error) {
	l.mu.Lock()
	mine, err := l.observe()
	if err != nil {
		l.mu.Unlock()
		return backup.State{}, nil, err
	}
	merged := backup.Merge(append([]backup.State{mine}, remotes...)...)
	l.backup.clock.Observe(merged.Newest())
	changed, republish, moves, err := l.apply(merged)
	if err == nil {
		err = l.keep(merged)
	}
	l.mu.Unlock()
	for _, u := range changed {
		l.emit(u)
	}
	if republish {
		l.h.Republish()
	}
	return merged, moves, err
}

// keep stores the device's copy of the account's state; l.mu is held.
func (l *Contacts) keep(s backup.State) error {
	if l.backup.synced != nil && l.backup.synced.Sum() == s.Sum() {
		l.backup.synced = &s
		return nil
	}
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	if err := l.h.Store().SetSetting(settingSynced, base64.StdEncoding.EncodeToString(b)); err != nil {
		return fmt.Errorf("keeping the synced state: %w", err)
	}
	l.backup.synced = &s
	return nil
}

// load returns the device's copy of the account's state: as kept, or, the
// first time, the store's contacts and rooms with change times of zero
// (older than any change another device made since); l.mu is held.
func (l *Contacts) load() (backup.State, error) {
	if l.backup.synced != nil {
		return *l.backup.synced, nil
	}
	v, err := l.h.Store().Setting(settingSynced)
	if err != nil {
		return backup.State{}, err
	}
	if v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err == nil {
			s, err := backup.Unmarshal(b)
			if err == nil {
				l.backup.clock.Observe(s.Newest())
				l.backup.synced = &s
				return s, nil
			}
		}
		l.h.Log().Warn("the synced state kept here does not decode: starting again from the contact list", "err", err)
	}
	var s backup.State
	cs, err := l.h.Store().Contacts()
	if err != nil {
		return backup.State{}, err
	}
	for _, c := range cs {
		e, ok := l.entryOf(c)
		if ok {
			s.Entries = append(s.Entries, e)
		}
	}
	if l.backup.rooms != nil {
		rs, err := l.h.Store().Rooms()
		if err != nil {
			return backup.State{}, err
		}
		for _, r := range rs {
			s.Rooms = append(s.Rooms, backup.Room{Name: r.Room, Password: r.Password})
		}
	}
	l.backup.synced = &s
	return s, nil
}

// entryOf is c as the synced state holds it, change times aside; false
// for a request not answered (not the account's to sync).
func (l *Contacts) entryOf(c store.Contact) (backup.Entry, bool) {
	if api.Relation(c.Relation) == api.RelationPendingIn {
		return backup.Entry{}, false
	}
	e := backup.Entry{Username: c.Username, Relation: c.Relation, MyToken: c.MyToken, TheirToken: c.TheirToken,
		PeerID: c.PeerID, Group: c.Group, Alias: c.Alias}
	if api.Relation(c.Relation) == api.RelationBlocked {
		e.PrevRelation, _ = l.h.Store().Setting(settingBlockedPrev + c.Username)
	}
	return e, true
}

// observe compares the store with the device's copy of the account's
// state and stamps every field that differs as changed now: this
// device's own changes, whichever code path made them. l.mu is held.
func (l *Contacts) observe() (backup.State, error) {
	s, err := l.load()
	if err != nil {
		return backup.State{}, err
	}
	now := l.h.Now()
	cs, err := l.h.Store().Contacts()
	if err != nil {
		return backup.State{}, err
	}
	byName := make(map[string]int, len(s.Entries))
	out := backup.State{Entries: make([]backup.Entry, len(s.Entries)), Rooms: nil}
	copy(out.Entries, s.Entries)
	for i, e := range out.Entries {
		byName[e.Username] = i
	}
	here := make(map[string]bool, len(cs))
	for _, c := range cs {
		cur, ok := l.entryOf(c)
		if !ok {
			continue
		}
		here[c.Username] = true
		i, known := byName[c.Username]
		if !known {
			out.Entries = append(out.Entries, backup.Entry{Username: c.Username})
			i = len(out.Entries) - 1
		}
		e := &out.Entries[i]
		if cur.Relation != e.Relation || cur.PrevRelation != e.PrevRelation {
			e.Relation, e.PrevRelation, e.RelationAt = cur.Relation, cur.PrevRelation, l.backup.clock.Next(now)
		}
		if !bytes.Equal(cur.MyToken, e.MyToken) {
			e.MyToken, e.MyTokenAt = cur.MyToken, l.backup.clock.Next(now)
		}
		if !bytes.Equal(cur.TheirToken, e.TheirToken) {
			e.TheirToken, e.TheirTokenAt = cur.TheirToken, l.backup.clock.Next(now)
		}
		if cur.PeerID != e.PeerID {
			e.PeerID, e.PeerIDAt = cur.PeerID, l.backup.clock.Next(now)
		}
		if cur.Group != e.Group {
			e.Group, e.GroupAt = cur.Group, l.backup.clock.Next(now)
		}
		if cur.Alias != e.Alias {
			e.Alias, e.AliasAt = cur.Alias, l.backup.clock.Next(now)
		}
	}
	for i := range out.Entries {
		e := &out.Entries[i]
		if here[e.Username] || !e.Live() {
			continue
		}
		// Removed here (or declined, or answered no by the contact): a
		// tombstone, which also forgets how the contact was filed.
		at := l.backup.clock.Next(now)
		*e = backup.Entry{Username: e.Username, Relation: backup.Removed,
			RelationAt: at, MyTokenAt: at, TheirTokenAt: at, PeerIDAt: at, GroupAt: at, AliasAt: at}
	}
	out.Rooms = s.Rooms
	if l.backup.rooms != nil {
		out.Rooms, err = l.observeRooms(s.Rooms, now)
		if err != nil {
			return backup.State{}, err
		}
	}
	return out, nil
}

// observeRooms stamps the rooms joined or left here since the last pass.
// A room is left here when it was joined here at the last pass and is no
// longer, or when its join was refused here for good. One another device
// joined that this one has not joined yet (it was off, restarted, or its
// join failed for a while) is not: that would make every device leave it.
// l.mu is held.
func (l *Contacts) observeRooms(synced []backup.Room, now time.Time) ([]backup.Room, error) {
	rs, err := l.h.Store().Rooms()
	if err != nil {
		return nil, err
	}
	before, err := l.roomsHere()
	if err != nil {
		return nil, err
	}
	here := make(map[string]string, len(rs))
	for _, r := range rs {
		here[r.Room] = r.Password
	}
	out := make([]backup.Room, 0, len(synced)+len(rs))
	seen := map[string]bool{}
	for _, r := range synced {
		seen[r.Name] = true
		pw, joined := here[r.Name]
		switch {
		case joined && (r.Left || pw != r.Password):
			r = backup.Room{Name: r.Name, Password: pw, At: l.backup.clock.Next(now)}
		case !joined && !r.Left && (before[r.Name] || l.backup.gaveUp[r.Name]):
			r = backup.Room{Name: r.Name, Left: true, At: l.backup.clock.Next(now)}
		}
		delete(l.backup.gaveUp, r.Name)
		out = append(out, r)
	}
	if err := l.keepRoomsHere(here); err != nil {
		return nil, err
	}
	for _, r := range rs {
		if !seen[r.Room] {
			out = append(out, backup.Room{Name: r.Room, Password: r.Password, At: l.backup.clock.Next(now)})
		}
	}
	return out, nil
}

// apply makes the store hold merged: the contacts other devices added,
// changed, blocked, unblocked or removed, with what each move does here
// (a block hides us from the contact, an accepted contact is greeted). It
// returns the usernames changed, whether our record must be published
// again, and the rooms to join or leave. l.mu is held.
func (l *Contacts) apply(merged backup.State) (changed []string, republish bool, moves []roomMove, err error) {
	for _, e := range merged.Entries {
		c, err := l.h.Store().Contact(e.Username)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return changed, republish, moves, err
		}
		if exists {
			if cur, ok := l.entryOf(c); ok && sameFields(cur, e) {
				continue
			}
		}
		was := api.Relation(c.Relation)
		if !e.Live() {
			if !exists || was == api.RelationPendingIn {
				continue // a request from someone removed elsewhere is still shown here
			}
			if err := l.h.Store().DeleteContact(e.Username); err != nil {
				return changed, republish, moves, err
			}
			if err := l.h.Store().SetSetting(settingBlockedPrev+e.Username, ""); err != nil {
				return changed, republish, moves, err
			}
			if was == api.RelationAccepted {
				l.h.HideFrom(e.Username)
			}
			changed, republish = append(changed, e.Username), true
			continue
		}
		if !exists {
			c = store.Contact{Username: e.Username}
		}
		rel := api.Relation(e.Relation)
		if rel != was || !bytes.Equal(c.MyToken, e.MyToken) {
			republish = true
		}
		c.Relation, c.MyToken, c.TheirToken, c.PeerID, c.Group, c.Alias = e.Relation, e.MyToken, e.TheirToken, e.PeerID, e.Group, e.Alias
		c.Updated = l.h.Now()
		if rel == api.RelationBlocked {
			c.Status = string(api.StatusOffline)
		}
		if was == api.RelationPendingIn && rel != api.RelationPendingIn {
			c.RequestMessage = ""
		}
		if err := l.h.Store().PutContact(c); err != nil {
			return changed, republish, moves, err
		}
		prev := ""
		if rel == api.RelationBlocked {
			prev = e.PrevRelation
		}
		if err := l.h.Store().SetSetting(settingBlockedPrev+e.Username, prev); err != nil {
			return changed, republish, moves, err
		}
		switch {
		case was == api.RelationAccepted && rel != api.RelationAccepted:
			l.h.HideFrom(e.Username)
		case was != api.RelationAccepted && rel == api.RelationAccepted:
			l.h.Greet(e.Username)
		}
		changed = append(changed, e.Username)
	}
	if l.backup.rooms == nil {
		return changed, republish, nil, nil
	}
	rs, err := l.h.Store().Rooms()
	if err != nil {
		return changed, republish, nil, err
	}
	here := make(map[string]string, len(rs))
	for _, r := range rs {
		here[r.Room] = r.Password
	}
	for _, r := range merged.Rooms {
		pw, joined := here[r.Name]
		switch {
		case !r.Left && (!joined || pw != r.Password):
			moves = append(moves, roomMove{name: r.Name, password: r.Password})
		case r.Left && joined:
			moves = append(moves, roomMove{name: r.Name, leave: true})
		}
	}
	return changed, republish, moves, nil
}

// sameFields reports whether the store's entry already holds e's values.
func sameFields(cur, e backup.Entry) bool {
	return cur.Relation == e.Relation && (cur.Relation != string(api.RelationBlocked) || cur.PrevRelation == e.PrevRelation) &&
		bytes.Equal(cur.MyToken, e.MyToken) && bytes.Equal(cur.TheirToken, e.TheirToken) &&
		cur.PeerID == e.PeerID && cur.Group == e.Group && cur.Alias == e.Alias
}

// settleRooms joins and leaves the rooms another device joined or left,
// one attempt each per pass. A join refused for good (banned, wrong key,
// the room gone) is given up, and the next pass records the room as left
// for every device; one that failed otherwise (a home unreachable, the
// session still starting) is tried again at the next pass.
func (l *Contacts) settleRooms(ctx context.Context, moves []roomMove) {
	l.mu.Lock()
	rooms := l.backup.rooms
	l.mu.Unlock()
	for _, m := range moves {
		if ctx.Err() != nil {
			return
		}
		if m.leave {
			if err := rooms.LeaveRoom(ctx, m.name); err != nil {
				l.h.Log().Warn("leaving a room another device left", "room", m.name, "err", err)
			}
			continue
		}
		jctx, cancel := context.WithTimeout(ctx, roomJoinTimeout)
		_, err := rooms.JoinRoom(jctx, m.name, m.password)
		cancel()
		if err == nil {
			// Joined here now: leaving it before the next pass is a
			// leave, too.
			l.mu.Lock()
			if err := l.noteJoinedHere(m.name); err != nil {
				l.h.Log().Warn("keeping the rooms joined here", "err", err)
			}
			l.mu.Unlock()
			continue
		}
		if permanent(err) {
			l.h.Log().Info("not joining a room another device joined", "room", m.name, "err", err)
			l.mu.Lock()
			l.backup.gaveUp[m.name] = true
			l.mu.Unlock()
			l.backupChanged()
			continue
		}
		l.h.Log().Debug("joining a room another device joined; will try again", "room", m.name, "err", err)
	}
}

// permanent reports whether a join refusal will not change by trying again.
func permanent(err error) bool {
	for _, e := range []error{api.ErrBanned, api.ErrWrongPassword, api.ErrBadRequest, api.ErrNotAllowed, api.ErrRoomFull} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// currentBackupKey returns the key sealing the account's state, and
// whether it changed (a password change) since it was last stored.
func (l *Contacts) currentBackupKey() ([]byte, bool) {
	l.backup.mu.Lock()
	defer l.backup.mu.Unlock()
	return l.backup.key, l.backup.rekeyed
}
