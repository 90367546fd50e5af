// Package presence is what contacts see of us while we are signed in and
// what we see of them: status (MSN's online, busy, away, ... and appearing
// offline), nick, personal message ("subnick"), now playing, the display
// picture (pictures.go) — and the signals of the moment, typing and
// nudges.
//
// Presence is not stored at the contact's side of the wire and not mailed:
// only the newest value matters, so each contact's courier holds one slot
// for it (Host.SendPresence) and sends it when the contact is reachable. A
// device that comes online sends its own, and we answer with ours. It is
// not sent again while nothing changes: a device is taken to be signed in
// from its first presence until its goodbye (a presence that says only
// "offline") or until the last connection to it closes (DeviceGone: a
// device that crashed says no goodbye). Signals ride the same courier
// once, never stored; a signal that cannot go in one delivery round is
// dropped.
//
// One person may be signed in on several devices at once, each sending
// its own presence; the contact is shown once, merged (devices.go):
//
//   - Each contact's signed-in devices are kept in memory by peer ID, at
//     most wire.MaxAccountDevices (one more pushes out the one heard from
//     longest ago). There is no timer: presence is sent on a change and
//     when a device comes online, never to say "still here", so a device
//     quiet for a day is as signed in as one that spoke a second ago, and
//     the connection is what says it went.
//   - The status shown is the most available of the devices' (the order
//     is availability's: online, busy, phone, brb, away, lunch); the
//     contact goes offline with its last device.
//   - Nick, personal message, now playing and picture are the account's:
//     each field shows its newest change from any device, by the change
//     time the device sends with it (wire.Presence's *_changed: when it was
//     set, not when it was sent, so a device signing in with a nick set
//     last week does not undo today's), ties broken by the larger peer ID.
//     A time ahead of our clock is taken as now, once.
//   - The front ends hear of it (Host.ContactChanged) only when what they
//     show changed: two devices saying the same say it once.
//
// Appearing offline is a choice about the account — in MSN, setting it on
// one computer set it on all. But a contact must not learn that we are
// invisible, so our device that appears offline says only "offline",
// exactly as signing out does, and the contact cannot tell it from a
// goodbye: its other devices' statuses show. Making the whole account
// invisible is therefore up to the account's own devices, passing the
// choice among themselves (with the account's settings); a contact only
// merges what they say. Until they do, appearing offline on the laptop
// while the desktop is online shows the desktop's status.
package presence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/text"
	"eserver/node/wire"
)

// Limits of the capability.
const (
	// SignalWait bounds how long Nudge waits to learn whether its nudge
	// arrived (finding and dialling the contact included).
	SignalWait = 15 * time.Second
	// settingPrefix + nick|subnick|media are our settings in the store.
	settingPrefix = "presence."
	// settingPrefix + field + settingChanged is when we set the field.
	settingChanged = ".changed"
	// maxRemembered bounds each rate-limit table (one entry per contact),
	// and the contacts whose devices we keep.
	maxRemembered = 10000
)

// Host is what the capability needs from the node.
type Host interface {
	Store() *store.Store
	Me() string
	Now() time.Time
	Emit(e api.Event)
	// Log is the node's logger.
	Log() *slog.Logger
	// AccountChanged tells the front ends that our account (which shows
	// our presence) changed.
	AccountChanged()
	// ContactChanged tells the front ends that username's entry changed.
	ContactChanged(username string)
	// SendPresence puts p in username's delivery slot for presence,
	// replacing what waited there.
	SendPresence(username string, p *wire.Presence)
	// Signal queues a signal for username, tried in one delivery round;
	// the returned channel gets how it went (api.ErrUnreachable when the
	// contact could not be reached). false: too many signals wait.
	Signal(username string, kind wire.Signal_Kind) (<-chan error, bool)
	// VisibilityChanged: appearing offline hides our record at the
	// rendezvous, and back.
	VisibilityChanged()
	// Enqueue queues p for username's devices (asking for a picture).
	Enqueue(username string, p *wire.Payload, m *store.Message) error
	// OfferAvatar offers the picture at path to username as a transfer of
	// kind avatar; FetchAvatar takes such an offer into dir.
	OfferAvatar(to, path string) error
	FetchAvatar(from string, o *wire.FileOffer, dir string) error
	// SyncAccount: another device of ours stored the account's synced
	// state at our homes (a Signal_ACCOUNT_CHANGED): read it now.
	SyncAccount()
}

// Presence is the capability for one session.
type Presence struct {
	h   Host
	dir string // the picture cache

	mu   sync.Mutex
	mine api.Presence
	// changed is when we last set each of mine's account fields (Unix
	// ms; 0: never on this device), sent with them.
	changed [nFields]int64

	// devmu guards accounts: our contacts' devices and the merge of what
	// they say (devices.go), by username.
	devmu    sync.Mutex
	accounts map[string]*account

	limits limits
	pics   pictures
}

// New returns the capability with display pictures cached in dir (shared
// by the accounts of a profile: names are hashes); Load sets our presence
// at sign-in.
func New(h Host, dir string) *Presence { return &Presence{h: h, dir: dir} }

// Load sets our presence at sign-in: status as chosen at the sign-in
// window, the rest as stored.
func (p *Presence) Load(status api.Status) {
	st := p.h.Store()
	m := api.Presence{Status: status, Avatar: p.loadAvatar()}
	m.Nick, _ = st.Setting(settingPrefix + "nick")
	m.Subnick, _ = st.Setting(settingPrefix + "subnick")
	m.Media, _ = st.Setting(settingPrefix + "media")
	if m.Nick == "" {
		m.Nick = p.h.Me()
	}
	var changed [nFields]int64
	for f, key := range fieldKeys {
		v, _ := st.Setting(settingPrefix + key + settingChanged)
		changed[f], _ = strconv.ParseInt(v, 10, 64) // unset or unreadable: never changed here
	}
	p.mu.Lock()
	p.mine, p.changed = m, changed
	p.mu.Unlock()
}

// Kinds are the payload kinds the capability handles.
func (p *Presence) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_Presence)(nil), From: payload.Accepted, Handle: p.receive},
		{Of: (*wire.Payload_Signal)(nil), From: payload.AcceptedOrOwn, Handle: p.receiveSignal},
		{Of: (*wire.Payload_AvatarRequest)(nil), From: payload.Accepted, Handle: p.receiveAvatarRequest},
	}
}

// Mine is our presence as we set it (invisible included).
func (p *Presence) Mine() api.Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mine
}

// Public is what contacts may see: invisible shows as offline.
func (p *Presence) Public() api.Presence {
	m := p.Mine()
	if m.Status == api.StatusInvisible {
		return api.Presence{Status: api.StatusOffline}
	}
	return m
}

// Invisible reports whether we appear offline: contacts see us offline
// and no one may see where we are.
func (p *Presence) Invisible() bool { return p.Public().Status == api.StatusOffline }

// Set changes our presence, stores what lasts, and tells everyone.
func (p *Presence) Set(u api.PresenceUpdate) error {
	if u.Status != nil && !u.Status.Valid() {
		return fmt.Errorf("%w: unknown status %q", api.ErrBadRequest, *u.Status)
	}
	fields := []struct {
		v   *string
		max int
		f   int
	}{{u.Nick, wire.MaxNick, fieldNick}, {u.Subnick, wire.MaxSubnick, fieldSubnick}, {u.Media, wire.MaxSubnick, fieldMedia}}
	for _, f := range fields {
		if f.v != nil && len(*f.v) > f.max {
			return fmt.Errorf("%w: %s longer than %d bytes", api.ErrBadRequest, fieldKeys[f.f], f.max)
		}
	}
	now := p.h.Now().UnixMilli()
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		if err := p.setField(f.f, *f.v, now); err != nil {
			return err
		}
	}
	p.mu.Lock()
	if u.Status != nil {
		p.mine.Status = *u.Status
	}
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		switch f.f {
		case fieldNick:
			p.mine.Nick = *f.v
		case fieldSubnick:
			p.mine.Subnick = *f.v
		case fieldMedia:
			p.mine.Media = *f.v
		}
		p.changed[f.f] = now
	}
	p.mu.Unlock()
	p.h.AccountChanged()
	p.Broadcast()
	if u.Status != nil {
		p.h.VisibilityChanged()
	}
	return nil
}

// setField stores one of our account's fields and when we set it: the
// time goes with the field to our contacts, which keep the newest of what
// our devices say (devices.go).
func (p *Presence) setField(f int, v string, at int64) error {
	st := p.h.Store()
	key := settingPrefix + fieldKeys[f]
	if err := st.SetSetting(key, v); err != nil {
		return err
	}
	return st.SetSetting(key+settingChanged, strconv.FormatInt(at, 10))
}

// Broadcast sends our presence to every accepted contact.
func (p *Presence) Broadcast() {
	cs, err := p.h.Store().Contacts()
	if err != nil {
		return
	}
	for _, c := range cs {
		if api.Relation(c.Relation) == api.RelationAccepted {
			p.SendTo(c.Username)
		}
	}
}

// SendTo sends our presence to one contact.
func (p *Presence) SendTo(username string) {
	p.mu.Lock()
	changed := p.changed
	p.mu.Unlock()
	pr := p.Public()
	if pr.Status == api.StatusOffline {
		changed = [nFields]int64{} // appearing offline says nothing else
	}
	p.sendAs(username, pr, changed)
}

// SendOffline shows username that we are offline (to a contact we block).
func (p *Presence) SendOffline(username string) {
	p.sendAs(username, api.Presence{Status: api.StatusOffline}, [nFields]int64{})
}

func (p *Presence) sendAs(username string, pr api.Presence, changed [nFields]int64) {
	avatar, _ := hex.DecodeString(pr.Avatar) // ours: always a hash or empty
	p.h.SendPresence(username, &wire.Presence{
		Status: string(pr.Status), Nick: pr.Nick, Subnick: pr.Subnick, Media: pr.Media, Avatar: avatar,
		NickChanged: changed[fieldNick], SubnickChanged: changed[fieldSubnick],
		MediaChanged: changed[fieldMedia], AvatarChanged: changed[fieldAvatar],
	})
}

// receive takes a presence from one of a contact's devices into the
// merge of its devices' (devices.go) and shows the contact as merged.
func (p *Presence) receive(in *payload.Inbound) error {
	c, pr := in.Contact, in.Payload.GetPresence()
	st := api.Status(pr.Status)
	if st != api.StatusOffline && (!st.Valid() || st == api.StatusInvisible) {
		return payload.ErrBadRequest
	}
	if len(pr.Nick) > wire.MaxNick || len(pr.Subnick) > wire.MaxSubnick || len(pr.Media) > wire.MaxSubnick {
		return payload.ErrBadRequest
	}
	if len(pr.Avatar) != 0 && len(pr.Avatar) != sha256.Size {
		return payload.ErrBadRequest
	}
	// What the contact chose to be called is shown as it is, not as bidi
	// or invisible characters would draw it (issue 13, item 12). Cleaning
	// never lengthens, so the limits above still hold.
	r := report{
		peer: in.Ticket.Peer.String(), status: st, now: p.h.Now(),
		fields:  [nFields]string{text.Clean(pr.Nick), text.Clean(pr.Subnick), text.Clean(pr.Media), hex.EncodeToString(pr.Avatar)},
		changed: [nFields]int64{pr.NickChanged, pr.SubnickChanged, pr.MediaChanged, pr.AvatarChanged},
		// Signing off (or appearing offline) says only "offline": the list
		// keeps showing the name and picture we knew, as MSN did.
		hasFields: st != api.StatusOffline || pr.Nick != "" || len(pr.Avatar) != 0,
	}
	p.devmu.Lock()
	a := p.accountOf(c.Username)
	if offline(c) {
		// Shown offline by someone else — a block, a lost connection to a
		// device we had no presence from: the devices we had are stale.
		clear(a.devices)
	}
	arrived := a.apply(r)
	v := a.view()
	p.devmu.Unlock()
	if err := p.show(c, v); err != nil {
		return err
	}
	// A device that just signed in has not heard our presence yet.
	if arrived && st != api.StatusOffline {
		p.SendTo(c.Username)
	}
	return nil
}

// offline reports whether c is shown offline.
func offline(c store.Contact) bool {
	return c.Status == "" || api.Status(c.Status) == api.StatusOffline
}

// accountOf is username's account in the merge, made if new. The caller
// holds devmu. Only accepted contacts send presence, so there are as many
// as contacts; past maxRemembered, those with no device signed in go (what
// they lose is which device last changed a field).
func (p *Presence) accountOf(username string) *account {
	if a, ok := p.accounts[username]; ok {
		return a
	}
	if p.accounts == nil {
		p.accounts = map[string]*account{}
	}
	if len(p.accounts) >= maxRemembered {
		for u, a := range p.accounts {
			if len(a.devices) == 0 {
				delete(p.accounts, u)
			}
		}
	}
	a := &account{}
	p.accounts[username] = a
	return a
}

// show stores c as the merge v shows it, and tells the front ends only
// when that changed what they show. Called under the contact list's lock,
// c as stored.
func (p *Presence) show(c store.Contact, v view) error {
	was := c
	c.Status = string(v.status)
	if v.status == api.StatusOffline {
		// Offline keeps the name and picture, not what the contact was
		// doing.
		c.Subnick, c.Media = "", ""
	} else if v.known {
		c.Nick, c.Subnick, c.Media = v.fields[fieldNick], v.fields[fieldSubnick], v.fields[fieldMedia]
		raw, _ := hex.DecodeString(v.fields[fieldAvatar]) // checked as it arrived
		if err := p.contactPicture(&c, raw); err != nil {
			return err
		}
	}
	if c.Status == was.Status && c.Nick == was.Nick && c.Subnick == was.Subnick && c.Media == was.Media && c.Avatar == was.Avatar {
		return nil
	}
	c.Updated = p.h.Now()
	if err := p.h.Store().PutContact(c); err != nil {
		return err
	}
	if c.Avatar != was.Avatar {
		p.forgetPicture(was.Avatar, c.Username) // one picture per contact in the cache
	}
	p.h.ContactChanged(c.Username)
	return nil
}

// DeviceGone forgets device id of whichever contact it is, when the last
// connection to it closed: a device that crashes or is unplugged says no
// goodbye. The contact goes offline only if that was its last device. A
// device we have had no presence from this session is taken for the
// contact's only one when it is the device the contact was last seen on,
// as before devices were merged. The caller holds the contact list's lock.
func (p *Presence) DeviceGone(id peer.ID) {
	cs, err := p.h.Store().Contacts()
	if err != nil {
		p.h.Log().Warn("a device went: reading contacts", "err", err)
		return
	}
	for _, c := range cs {
		if api.Relation(c.Relation) != api.RelationAccepted || offline(c) {
			continue
		}
		p.devmu.Lock()
		a, gone := p.accounts[c.Username], false
		var v view
		switch {
		case a != nil && len(a.devices) > 0:
			gone = a.forget(id.String())
			v = a.view()
		case c.PeerID == id.String():
			gone, v = true, view{status: api.StatusOffline}
		}
		p.devmu.Unlock()
		if gone {
			if err := p.show(c, v); err != nil {
				p.h.Log().Warn("a device went: showing its contact", "contact", c.Username, "err", err)
			}
		}
	}
}

// Typing tells the accepted contact to that we are typing, at most once
// per api.TypingInterval.
func (p *Presence) Typing(to string) error {
	if !p.limits.allow(&p.limits.sentTyping, to, p.h.Now(), api.TypingInterval) {
		return nil // they heard from us a moment ago: still typing
	}
	p.h.Signal(to, wire.Signal_TYPING)
	return nil
}

// Nudge shakes the accepted contact to's window, at most once per
// api.NudgeInterval, and reports whether it arrived.
func (p *Presence) Nudge(ctx context.Context, to string) error {
	if !p.limits.allow(&p.limits.sentNudge, to, p.h.Now(), api.NudgeInterval) {
		return fmt.Errorf("%w: one nudge every %v", api.ErrRateLimited, api.NudgeInterval)
	}
	done, ok := p.h.Signal(to, wire.Signal_NUDGE)
	if !ok {
		return fmt.Errorf("%w: nudges waiting for %s", api.ErrRateLimited, to)
	}
	ctx, cancel := context.WithTimeout(ctx, SignalWait)
	defer cancel()
	select {
	case err := <-done:
		if errors.Is(err, api.ErrUnreachable) {
			return fmt.Errorf("%w: %s cannot be reached now", api.ErrUnreachable, to)
		}
		if err != nil {
			return fmt.Errorf("%w: nudge to %s: %v", api.ErrUnreachable, to, err)
		}
		p.recordNudge(store.Message{ID: wire.NewID(), Peer: to, Outgoing: true, Time: p.h.Now()})
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: nudge to %s: %v", api.ErrUnreachable, to, ctx.Err())
	}
}

// receiveSignal shows a contact's signal, within the rate limits: a
// contact cannot shake our window more than once per NudgeInterval.
//
// Our own other devices send one signal only, ACCOUNT_CHANGED, and only
// they may send it.
func (p *Presence) receiveSignal(in *payload.Inbound) error {
	from, now := in.From(), p.h.Now()
	kind := in.Payload.GetSignal().Kind
	if in.Own != (kind == wire.Signal_ACCOUNT_CHANGED) {
		return fmt.Errorf("%w: signal %v from %s", payload.ErrBadRequest, kind, from)
	}
	switch kind {
	case wire.Signal_ACCOUNT_CHANGED:
		p.h.SyncAccount()
	case wire.Signal_TYPING:
		if p.limits.allow(&p.limits.gotTyping, from, now, time.Second) {
			p.h.Emit(api.Event{Typing: &api.TypingEvent{From: from}})
		}
	case wire.Signal_NUDGE:
		if p.limits.allow(&p.limits.gotNudge, from, now, api.NudgeInterval) {
			p.recordNudge(store.Message{ID: in.ID, Peer: from, Time: now})
			p.h.Emit(api.Event{Nudge: &api.NudgeEvent{From: from, Time: now}})
		}
	}
	return nil
}

// recordNudge keeps a nudge the chat window shows in the history, so the
// history viewer shows it too (only those shown: not the ones the rate
// limits dropped). The nudge itself went or came already: a history that
// could not be written loses the line, not the nudge, so that is only
// logged.
func (p *Presence) recordNudge(m store.Message) {
	m.Kind = store.EntryNudge
	if m.ID == "" {
		m.ID = wire.NewID()
	}
	if _, err := p.h.Store().AddEntry(m); err != nil {
		p.h.Log().Warn("recording a nudge in history", "contact", m.Peer, "err", err)
	}
}

// limits remembers when we last sent and received each kind of signal, per
// contact.
type limits struct {
	mu         sync.Mutex
	sentTyping map[string]time.Time
	sentNudge  map[string]time.Time
	gotTyping  map[string]time.Time
	gotNudge   map[string]time.Time
}

// allow reports whether key's last event in *m is at least every ago, and
// if so records now.
func (l *limits) allow(m *map[string]time.Time, key string, now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if last, ok := (*m)[key]; ok && now.Sub(last) < every && !now.Before(last) {
		return false
	}
	if len(*m) > maxRemembered {
		clear(*m)
	}
	(*m)[key] = now
	return true
}
