// Package presence is what contacts see of us while we are signed in and
// what we see of them: status (MSN's online, busy, away, ... and appearing
// offline), nick, personal message ("subnick"), now playing, the display
// picture (pictures.go) — and the signals of the moment, typing and
// nudges.
//
// Presence is not stored at the contact's side of the wire and not mailed:
// only the newest value matters, so each contact's courier holds one slot
// for it (Host.SendPresence) and sends it when the contact is reachable. A
// contact that comes online sends its own, and we answer with ours.
// Signals ride the same courier once, never stored; a signal that cannot go
// in one delivery round is dropped.
package presence

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	// maxRemembered bounds each rate-limit table (one entry per contact).
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
}

// Presence is the capability for one session.
type Presence struct {
	h   Host
	dir string // the picture cache

	mu   sync.Mutex
	mine api.Presence

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
	p.mu.Lock()
	p.mine = m
	p.mu.Unlock()
}

// Kinds are the payload kinds the capability handles.
func (p *Presence) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_Presence)(nil), From: payload.Accepted, Handle: p.receive},
		{Of: (*wire.Payload_Signal)(nil), From: payload.Accepted, Handle: p.receiveSignal},
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
		key string
	}{{u.Nick, wire.MaxNick, "nick"}, {u.Subnick, wire.MaxSubnick, "subnick"}, {u.Media, wire.MaxSubnick, "media"}}
	for _, f := range fields {
		if f.v != nil && len(*f.v) > f.max {
			return fmt.Errorf("%w: %s longer than %d bytes", api.ErrBadRequest, f.key, f.max)
		}
	}
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		if err := p.h.Store().SetSetting(settingPrefix+f.key, *f.v); err != nil {
			return err
		}
	}
	p.mu.Lock()
	if u.Status != nil {
		p.mine.Status = *u.Status
	}
	if u.Nick != nil {
		p.mine.Nick = *u.Nick
	}
	if u.Subnick != nil {
		p.mine.Subnick = *u.Subnick
	}
	if u.Media != nil {
		p.mine.Media = *u.Media
	}
	p.mu.Unlock()
	p.h.AccountChanged()
	p.Broadcast()
	if u.Status != nil {
		p.h.VisibilityChanged()
	}
	return nil
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
func (p *Presence) SendTo(username string) { p.sendAs(username, p.Public()) }

// SendOffline shows username that we are offline (to a contact we block).
func (p *Presence) SendOffline(username string) {
	p.sendAs(username, api.Presence{Status: api.StatusOffline})
}

func (p *Presence) sendAs(username string, pr api.Presence) {
	avatar, _ := hex.DecodeString(pr.Avatar) // ours: always a hash or empty
	p.h.SendPresence(username, &wire.Presence{
		Status: string(pr.Status), Nick: pr.Nick, Subnick: pr.Subnick, Media: pr.Media, Avatar: avatar,
	})
}

// receive applies a contact's presence to its entry.
func (p *Presence) receive(in *payload.Inbound) error {
	c, pr := in.Contact, in.Payload.GetPresence()
	st := api.Status(pr.Status)
	if st != api.StatusOffline && (!st.Valid() || st == api.StatusInvisible) {
		return payload.ErrBadRequest
	}
	if len(pr.Nick) > wire.MaxNick || len(pr.Subnick) > wire.MaxSubnick || len(pr.Media) > wire.MaxSubnick {
		return payload.ErrBadRequest
	}
	// What the contact chose to be called is shown as it is, not as bidi
	// or invisible characters would draw it (issue 13, item 12). Cleaning
	// never lengthens, so the limits above still hold.
	nick, subnick, media := text.Clean(pr.Nick), text.Clean(pr.Subnick), text.Clean(pr.Media)
	wasOffline := c.Status == "" || api.Status(c.Status) == api.StatusOffline
	oldPicture := c.Avatar
	if st == api.StatusOffline && nick == "" && len(pr.Avatar) == 0 {
		// Signing off (or appearing offline) says only "offline": the list
		// keeps showing the name and picture we knew, as MSN did.
		c.Status, c.Subnick, c.Media = pr.Status, "", ""
	} else {
		c.Status, c.Nick, c.Subnick, c.Media = pr.Status, nick, subnick, media
		if err := p.contactPicture(&c, pr.Avatar); err != nil {
			return err
		}
	}
	c.Updated = p.h.Now()
	if err := p.h.Store().PutContact(c); err != nil {
		return err
	}
	if c.Avatar != oldPicture {
		p.forgetPicture(oldPicture, c.Username) // one picture per contact in the cache
	}
	p.h.ContactChanged(c.Username)
	// A contact that just came online has not heard our presence yet.
	if wasOffline && st != api.StatusOffline {
		p.SendTo(c.Username)
	}
	return nil
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
func (p *Presence) receiveSignal(in *payload.Inbound) error {
	from, now := in.From(), p.h.Now()
	switch in.Payload.GetSignal().Kind {
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
