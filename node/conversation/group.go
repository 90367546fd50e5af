package conversation

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/wire"
)

// signingContext separates the signatures of conversation events from
// every other use of a device key.
const signingContext = "eserver-group-event-v1\x00"

// idLen is the length of a conversation's raw ID.
const idLen = 16

func convID(raw []byte) string { return "#" + hex.EncodeToString(raw) }

// ParseID returns the raw ID of the conversation id; a malformed one is
// api.ErrBadRequest.
func ParseID(id string) ([]byte, error) {
	if !api.IsConversation(id) {
		return nil, fmt.Errorf("%w: %q is not a conversation", api.ErrBadRequest, id)
	}
	raw, err := hex.DecodeString(id[1:])
	if err != nil || len(raw) != idLen {
		return nil, fmt.Errorf("%w: %q is not a conversation", api.ErrBadRequest, id)
	}
	return raw, nil
}

// signingBytes is what an event's author signs: every field but the
// signature and the ticket, each length-prefixed, members in sorted order.
func signingBytes(ev *wire.GroupEvent) []byte {
	b := []byte(signingContext)
	field := func(v []byte) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field(ev.Conversation)
	field([]byte(ev.Id))
	b = binary.BigEndian.AppendUint64(b, uint64(ev.SentUnixMilli))
	field([]byte(ev.Author))
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		b = append(b, 1)
		field([]byte(k.Text))
	case *wire.GroupEvent_Joined:
		b = append(b, 2)
		field([]byte(k.Joined))
	case *wire.GroupEvent_Left:
		b = append(b, 3)
	default:
		b = append(b, 0)
	}
	members := slices.Clone(ev.Members)
	slices.Sort(members)
	b = binary.AppendUvarint(b, uint64(len(members)))
	for _, m := range members {
		field([]byte(m))
	}
	return b
}

func toConversation(c store.Conversation) api.Conversation {
	return api.Conversation{ID: c.ID, Members: slices.Clone(c.Members), Left: c.Left}
}

func (c *Conversations) emitConversation(conv store.Conversation, joined, left, by string) {
	c.h.Emit(api.Event{Conversation: &api.ConversationEvent{Conversation: toConversation(conv), Joined: joined, Left: left, By: by}})
}

// record keeps a conversation event in the history, as its window showed
// it. The event itself is applied already: a history that could not be
// written loses the line, not the event, so the failure is only logged.
func (c *Conversations) record(m store.Message) {
	if _, err := c.h.Store().AddEntry(m); err != nil {
		c.h.Log().Warn("recording a conversation event in history", "conversation", m.Peer, "err", err)
	}
}

// publish signs ev as ours and queues it for every member who is our
// contact (and m, the message it carries, in our history), in one
// transaction.
func (c *Conversations) publish(conv store.Conversation, ev *wire.GroupEvent, m *store.Message) error {
	raw, err := ParseID(conv.ID)
	if err != nil {
		return err
	}
	ev.Conversation = raw
	if ev.Id == "" {
		ev.Id = wire.NewID()
	}
	ev.SentUnixMilli = c.h.Now().UnixMilli()
	ev.Author = c.h.Me()
	ev.AuthorTicket = c.h.Ticket().Signed
	ev.Members = slices.Clone(conv.Members)
	if ev.Signature, err = c.h.Sign(signingBytes(ev)); err != nil {
		return fmt.Errorf("signing a conversation event: %w", err)
	}
	// Every other device of ours gets what we author, so each shows the
	// same conversation.
	entries, err := c.passOnEntries(conv, ev, "", true)
	if err != nil {
		return err
	}
	return c.h.EnqueueFanout(m, conv.ID, entries)
}

// passOnEntries is ev as an outbox entry for every member but us, its
// author and from (who passed it to us), who is our contact, and with
// ours, one for our own account. Each goes to every device of its
// account we know of: the host spreads an entry for an account over its
// devices (the one for ours over our other devices, none when we have
// none), as it does a chat message.
func (c *Conversations) passOnEntries(conv store.Conversation, ev *wire.GroupEvent, from string, ours bool) ([]store.OutboxEntry, error) {
	raw, err := proto.Marshal(&wire.Payload{SentUnixMilli: c.h.Now().UnixMilli(), Kind: &wire.Payload_GroupEvent{GroupEvent: ev}})
	if err != nil {
		return nil, fmt.Errorf("encoding a conversation event: %w", err)
	}
	var entries []store.OutboxEntry
	for _, member := range conv.Members {
		if member == c.h.Me() || member == ev.Author || member == from || !c.h.Accepted(member) {
			continue
		}
		entries = append(entries, store.OutboxEntry{ID: store.FanoutID(ev.Id, member), Peer: member, Payload: raw})
	}
	if ours {
		entries = append(entries, store.OutboxEntry{ID: store.FanoutID(ev.Id, c.h.Me()), Peer: c.h.Me(), Payload: raw})
	}
	return entries, nil
}

// lookup is the conversation id, which must exist and must not be one we
// left.
func (c *Conversations) lookup(id string) (store.Conversation, error) {
	conv, err := c.h.Store().Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		return conv, fmt.Errorf("%w: no conversation %s", api.ErrBadRequest, id)
	}
	if err != nil {
		return conv, err
	}
	if conv.Left {
		return conv, fmt.Errorf("%w: we left conversation %s", api.ErrBadRequest, id)
	}
	return conv, nil
}

// Invite brings username into the conversation with, or, when with is a
// contact, starts a conversation of us, with and username; it returns the
// conversation's ID. The node has checked that username, and with when it
// names a contact other than username, are accepted contacts.
func (c *Conversations) Invite(with, username string) (string, error) {
	l := c.h.ContactLock()
	l.Lock()
	defer l.Unlock()
	var conv store.Conversation
	var first []string // members told of the conversation before username
	if api.IsConversation(with) {
		if _, err := ParseID(with); err != nil {
			return "", err
		}
		var err error
		if conv, err = c.lookup(with); err != nil {
			return "", err
		}
		if slices.Contains(conv.Members, username) {
			return conv.ID, nil
		}
	} else {
		if with == username {
			return "", fmt.Errorf("%w: %s is already in the conversation", api.ErrBadRequest, username)
		}
		raw := make([]byte, idLen)
		rand.Read(raw) // never fails (crypto/rand's documented contract)
		conv = store.Conversation{ID: convID(raw), Members: []string{c.h.Me(), with}, Created: c.h.Now()}
		first = []string{with}
	}
	if len(conv.Members)+1 > api.MaxConversationMembers {
		return "", fmt.Errorf("%w: a conversation holds at most %d people", api.ErrBadRequest, api.MaxConversationMembers)
	}
	conv.Members = append(conv.Members, username)
	slices.Sort(conv.Members)
	conv.Departed = slices.DeleteFunc(conv.Departed, func(d string) bool { return d == username })
	// Our invitations are signed now: older departures of theirs are stale.
	if conv.Changed == nil {
		conv.Changed = map[string]time.Time{}
	}
	for _, joined := range append(first, username) {
		conv.Changed[joined] = c.h.Now()
	}
	if err := c.h.Store().PutConversation(conv); err != nil {
		return "", err
	}
	for _, joined := range append(first, username) {
		ev := &wire.GroupEvent{Id: wire.NewID(), Kind: &wire.GroupEvent_Joined{Joined: joined}}
		if err := c.publish(conv, ev, nil); err != nil {
			return "", err
		}
		if joined == username {
			// As the window says it: "You invited carol."
			c.record(store.Message{ID: ev.Id, Peer: conv.ID, Outgoing: true, Kind: store.EntryJoined, Text: joined})
		}
	}
	c.emitConversation(conv, username, "", c.h.Me())
	return conv.ID, nil
}

// Leave leaves the conversation id: its members are told, and nothing of
// it reaches us any more. Leaving twice is no error.
func (c *Conversations) Leave(id string) error {
	if _, err := ParseID(id); err != nil {
		return err
	}
	l := c.h.ContactLock()
	l.Lock()
	defer l.Unlock()
	conv, err := c.h.Store().Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no conversation %s", api.ErrBadRequest, id)
	}
	if err != nil || conv.Left {
		return err
	}
	ev := &wire.GroupEvent{Id: wire.NewID(), Kind: &wire.GroupEvent_Left{Left: true}}
	if err := c.publish(conv, ev, nil); err != nil {
		return err
	}
	conv.Left = true
	if err := c.h.Store().PutConversation(conv); err != nil {
		return err
	}
	c.record(store.Message{ID: ev.Id, Peer: conv.ID, Outgoing: true, Kind: store.EntryLeft, Text: c.h.Me()})
	c.emitConversation(conv, "", c.h.Me(), "")
	return nil
}

// List returns every conversation we are or were in.
func (c *Conversations) List() ([]api.Conversation, error) {
	cs, err := c.h.Store().Conversations()
	if err != nil {
		return nil, err
	}
	out := make([]api.Conversation, 0, len(cs))
	for _, conv := range cs {
		ac := toConversation(conv)
		ac.Unread = c.Unread(conv.ID)
		out = append(out, ac)
	}
	return out, nil
}

// sendGroup is Send to a multi-party conversation.
func (c *Conversations) sendGroup(id, text string) (string, error) {
	if _, err := ParseID(id); err != nil {
		return "", err
	}
	l := c.h.ContactLock()
	l.Lock()
	defer l.Unlock()
	conv, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	ev := &wire.GroupEvent{Id: wire.NewID(), Kind: &wire.GroupEvent_Text{Text: text}}
	m := &store.Message{ID: ev.Id, Peer: id, Outgoing: true, Text: text, Time: c.h.Now(), State: string(api.StateQueued)}
	if err := c.publish(conv, ev, m); err != nil {
		return "", err
	}
	c.emitMessage(*m)
	return m.ID, nil
}

// checkEvent checks an event's shape and its author's ticket and
// signature.
func (c *Conversations) checkEvent(ev *wire.GroupEvent) error {
	_, err := c.checkAuthor(ev)
	return err
}

// checkAuthor is checkEvent, returning the author's device: the peer its
// checked ticket names.
func (c *Conversations) checkAuthor(ev *wire.GroupEvent) (peer.ID, error) {
	if err := c.checkShape(ev); err != nil {
		return "", err
	}
	sent := time.UnixMilli(ev.SentUnixMilli)
	t, err := c.h.AuthenticateAt(ev.AuthorTicket, sent)
	if err != nil {
		return "", fmt.Errorf("author's ticket: %w", err)
	}
	if t.Username != ev.Author {
		return "", fmt.Errorf("event by %q carries the ticket of %q", ev.Author, t.Username)
	}
	pub, err := t.Peer.ExtractPublicKey()
	if err != nil {
		return "", fmt.Errorf("author's device key: %w", err)
	}
	if ok, err := pub.Verify(signingBytes(ev), ev.Signature); err != nil || !ok {
		return "", errors.New("conversation event: bad signature")
	}
	return t.Peer, nil
}

// checkShape checks what an event says without its signature: fields,
// kind and age.
func (c *Conversations) checkShape(ev *wire.GroupEvent) error {
	if len(ev.Conversation) != idLen || ev.Id == "" || len(ev.Id) > 64 || ev.Author == "" || len(ev.Author) > wire.MaxUsername ||
		len(ev.Members) == 0 || len(ev.Members) > api.MaxConversationMembers || !slices.Contains(ev.Members, ev.Author) {
		return errors.New("malformed conversation event")
	}
	for _, m := range ev.Members {
		if wire.ValidUsername(m) != nil {
			return fmt.Errorf("conversation member %q", m)
		}
	}
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		if k.Text == "" || len(k.Text) > wire.MaxChatText || !utf8.ValidString(k.Text) {
			return errors.New("conversation message text")
		}
	case *wire.GroupEvent_Joined:
		if wire.ValidUsername(k.Joined) != nil || !slices.Contains(ev.Members, k.Joined) {
			return errors.New("conversation invitation")
		}
	case *wire.GroupEvent_Left:
	default:
		return errors.New("unknown conversation event")
	}
	// An event older than mail lives could only be a replay or one held
	// back: refused, so that the revocations the node keeps (until a
	// device's last ticket expired plus the mail TTL) and the events it
	// remembers having applied (wire.SeenRetention) always cover what it
	// accepts. Passed on through members, an event normally arrives
	// within seconds, or within the mail TTL of a member's absence.
	sent, now := time.UnixMilli(ev.SentUnixMilli), c.h.Now()
	if now.Sub(sent) > wire.MailTTL || sent.Sub(now) > wire.MaxClockSkew {
		return fmt.Errorf("%w: signed at %v", ErrStaleEvent, sent)
	}
	return nil
}

// arrival is how an event reached us.
type arrival struct {
	// from is who passed it to us: a contact, or our own username when
	// own.
	from string
	// own: another device of our account passed it to us. It passed the
	// event on to the members already, so we do not.
	own bool
	// envelope is the ID of the envelope it came in: a store.FanoutID of
	// the event's ID and the route it was queued for.
	envelope string
}

// receiveGroup applies a conversation event the contact from passed us
// (receive).
func (c *Conversations) receiveGroup(from string, ev *wire.GroupEvent) error {
	return c.receive(arrival{from: from}, ev)
}

// receive applies a conversation event that arrived as a says, and passes
// it on the first time we see it. Called with the contact lock held (it
// is a payload handler).
//
// Our account's devices each hold the whole conversation: an event we
// author goes to our other devices too (publish), and one passed to us
// on our account's route — by an older member, or one who does not know
// our devices, so it reached only this device of ours — we pass on to
// our other devices. One that came on this device's own route was sent
// to each of our devices alike. Our own event from another device of
// ours shows here as ours: our message as sent, our invitation as ours,
// our departure as this device's too.
func (c *Conversations) receive(a arrival, ev *wire.GroupEvent) error {
	device, err := c.checkAuthor(ev)
	if err != nil {
		return fmt.Errorf("%w: %w", payload.ErrBadRequest, err)
	}
	me, id, from := c.h.Me(), convID(ev.Conversation), a.from
	mine := ev.Author == me
	// Passed to our account rather than to this device: our other devices
	// may not have it.
	ours := !a.own && a.envelope != "" && a.envelope == store.FanoutID(ev.Id, me)
	// An event applies once: members pass it on along several paths, and
	// one who has it may replay it (her old invitation, say). What was
	// applied is remembered in the store for wire.SeenRetention, longer
	// than checkEvent accepts an event, and across restarts.
	seenID := ev.Author + "/" + ev.Id
	if seen, err := c.h.Store().Seen(id, seenID); err != nil || seen {
		return err
	}
	sent := time.UnixMilli(ev.SentUnixMilli)
	// What applying the event writes — the conversation, its entry in the
	// history, the record that it was applied — and its copies for the
	// members we pass it on to are committed together: a kill between them
	// would leave it applied (so refused when it comes again) but never
	// passed on, or passed on but not applied.
	var w applying
	w.seen(c.h.Store(), id, seenID, c.h.Now())
	conv, err := c.h.Store().Conversation(id)
	if errors.Is(err, store.ErrNotFound) {
		return c.start(a, ev, &w, ours, device)
	}
	if err != nil {
		return err
	}
	if conv.Left {
		return nil // nothing reaches us once we left
	}
	// The author must be a member as we know it — or one whom a member we
	// know (the contact passing it on) knows as a member: invitations and
	// messages may overtake each other on different paths.
	if !slices.Contains(conv.Members, ev.Author) && !(slices.Contains(conv.Members, from) && slices.Contains(ev.Members, ev.Author)) {
		return nil
	}
	// first: the event changes something here, so the members we pass
	// events on to need it too. Not seen means not applied: the writes
	// above are one transaction.
	first, changed := false, false
	var joined, left string
	// An invitation or a departure is stale when one of the same member
	// signed later (or at the same moment) was applied: an old invitation
	// cannot undo a departure, nor an old departure a new invitation,
	// whichever path or order they come by. The times are their authors'
	// clocks; the one whose clock is off by more than the gap between
	// someone's departure and their next invitation is refused, and can
	// invite again.
	if conv.Changed == nil {
		conv.Changed = map[string]time.Time{}
	}
	subject := ""
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Joined:
		subject = k.Joined
	case *wire.GroupEvent_Left:
		subject = ev.Author
	}
	last, had := conv.Changed[subject]
	stale := had && !sent.After(last)
	// invited is our own invitation made on another device of ours: shown
	// here as it is there ("You invited carol"), even when we learnt of
	// carol already from the members the conversation's first event
	// named.
	invited := ""
	switch k := ev.Kind.(type) {
	case *wire.GroupEvent_Text:
		// Members pass events on along several paths: a message can come
		// after a later one of its author's. Its place is by the time its
		// author's device signed it.
		m := store.Message{ID: ev.Id, Peer: id, Text: k.Text, Time: c.sentAt(ev.SentUnixMilli), State: string(api.StateReceived), Sender: ev.Author,
			Device: device.String(), Order: uint64(max(ev.SentUnixMilli, 0))}
		if mine {
			// Ours, from another device of ours: shown as sent, as a copy
			// of a chat message is.
			m.Outgoing, m.Sender, m.State = true, "", string(api.StateDelivered)
		}
		w.message(c.h.Store(), m, c.emitMessage)
		first = true
	case *wire.GroupEvent_Joined:
		if !stale && !slices.Contains(conv.Members, k.Joined) {
			joined, first = k.Joined, true
		}
		if !stale && mine {
			invited = k.Joined
		}
	case *wire.GroupEvent_Left:
		if !stale && slices.Contains(conv.Members, ev.Author) {
			left, first = ev.Author, true
		}
	}
	recorded := subject != "" && !stale
	if recorded {
		conv.Changed[subject] = sent
	}
	if left == me {
		// We left on another device of ours: this one leaves too, as
		// Leave does (the members still list us; nothing reaches us).
		conv.Left = true
		w.conversation(c.h.Store(), conv)
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Outgoing: true, Kind: store.EntryLeft, Text: me, Time: c.sentAt(ev.SentUnixMilli)}, nil)
		if err := w.commit(c.h.Store().Commit); err != nil {
			return fmt.Errorf("applying conversation event %s: %w", seenID, err)
		}
		c.emitConversation(conv, "", me, "")
		return nil
	}
	// Learn the members the author knows that we missed (never one who
	// left, unless invited again), and apply a departure.
	for _, m := range ev.Members {
		if left == "" && !slices.Contains(conv.Members, m) && (m == joined || !slices.Contains(conv.Departed, m)) &&
			len(conv.Members) < api.MaxConversationMembers {
			conv.Members = append(conv.Members, m)
			changed = true
		}
	}
	if joined != "" {
		conv.Departed = slices.DeleteFunc(conv.Departed, func(d string) bool { return d == joined })
	}
	if left != "" {
		conv.Members = slices.DeleteFunc(conv.Members, func(m string) bool { return m == left })
		conv.Departed = append(conv.Departed, left)
		changed = true
	}
	if changed || recorded {
		slices.Sort(conv.Members)
		w.conversation(c.h.Store(), conv)
	}
	by := ""
	at := c.sentAt(ev.SentUnixMilli)
	switch {
	case invited != "":
		joined, by, changed = invited, me, true
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Outgoing: true, Kind: store.EntryJoined, Text: invited, Time: at}, nil)
	case changed && joined != "":
		by = ev.Author
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Sender: by, Kind: store.EntryJoined, Text: joined, Time: at}, nil)
	case changed && left != "":
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Sender: left, Kind: store.EntryLeft, Text: left, Time: at}, nil)
	}
	var entries []store.OutboxEntry
	if first && !a.own {
		if entries, err = c.passOnEntries(conv, ev, from, ours); err != nil {
			return err
		}
	}
	commit := c.h.Store().Commit
	if len(entries) > 0 {
		commit = func(ops ...store.Op) error { return c.h.EnqueueFanoutWith(conv.ID, entries, ops...) }
	}
	if err := w.commit(commit); err != nil {
		return fmt.Errorf("applying conversation event %s: %w", seenID, err)
	}
	if changed {
		c.emitConversation(conv, joined, left, by)
	}
	return nil
}

// start applies the event that tells us of a conversation we do not have:
// our invitation by the contact who invites us (passed to us by that
// contact, or by another device of ours, which took it), or — from another
// device of ours — an event of our own in a conversation we started or
// joined there. Anything else is dropped: a stranger cannot make us a
// member. ours: the invitation came on our account's route, so our other
// devices get it from us.
func (c *Conversations) start(a arrival, ev *wire.GroupEvent, w *applying, ours bool, device peer.ID) error {
	me, id := c.h.Me(), convID(ev.Conversation)
	invitation := ev.GetJoined() == me && (ev.Author == a.from || (a.own && c.h.Accepted(ev.Author)))
	ownEvent := a.own && ev.Author == me && !ev.GetLeft()
	if !slices.Contains(ev.Members, me) || (!invitation && !ownEvent) {
		return nil
	}
	sent := time.UnixMilli(ev.SentUnixMilli)
	conv := store.Conversation{ID: id, Members: slices.Clone(ev.Members), Created: c.h.Now(), Changed: map[string]time.Time{me: sent}}
	if joined := ev.GetJoined(); joined != "" {
		conv.Changed[joined] = sent
	}
	slices.Sort(conv.Members)
	w.conversation(c.h.Store(), conv)
	at := c.sentAt(ev.SentUnixMilli)
	switch {
	case invitation:
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Sender: ev.Author, Kind: store.EntryJoined, Text: me, Time: at}, nil)
	case ev.GetText() != "":
		// In its author's order, as every later copy of ours is.
		w.message(c.h.Store(), store.Message{ID: ev.Id, Peer: id, Text: ev.GetText(), Time: at, Outgoing: true, State: string(api.StateDelivered),
			Device: device.String(), Order: uint64(max(ev.SentUnixMilli, 0))}, c.emitMessage)
	default:
		// Our own conversation's first event is the invitation of the
		// contact we started it with: no entry of its own on the device
		// that started it either (Invite).
	}
	commit := c.h.Store().Commit
	if ours {
		entries, err := c.passOnEntries(store.Conversation{}, ev, a.from, true)
		if err != nil {
			return err
		}
		commit = func(ops ...store.Op) error { return c.h.EnqueueFanoutWith(id, entries, ops...) }
	}
	if err := w.commit(commit); err != nil {
		return fmt.Errorf("applying conversation event %s/%s: %w", ev.Author, ev.Id, err)
	}
	by := ev.Author
	if ownEvent {
		by = me
	}
	c.emitConversation(conv, ev.GetJoined(), "", by)
	return nil
}

// applying gathers the writes of applying one conversation event, to be
// committed in one transaction, and what to tell the front ends after.
type applying struct {
	ops   []store.Op
	after []func()
	err   error // the first op that could not be made
}

func (w *applying) add(op store.Op, err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
	w.ops = append(w.ops, op)
}

func (w *applying) seen(st *store.Store, scope, id string, at time.Time) {
	w.add(st.SeenOp(scope, []string{id}, at), nil)
}

func (w *applying) conversation(st *store.Store, conv store.Conversation) {
	w.add(st.ConversationOp(conv))
}

// message stores m in the history (a message or an entry), and calls
// shown with it after the commit if it was not there yet.
func (w *applying) message(st *store.Store, m store.Message, shown func(store.Message)) {
	ms, inserted := []store.Message{m}, make([]bool, 1)
	op, err := st.IncomingOp(ms, inserted)
	w.add(op, err)
	if shown != nil {
		w.after = append(w.after, func() {
			if inserted[0] {
				shown(ms[0])
			}
		})
	}
}

// commit commits the writes with commit (the store's, or one that passes
// the event on in the same transaction), then tells the front ends.
func (w *applying) commit(commit func(...store.Op) error) error {
	if w.err != nil {
		return w.err
	}
	if err := commit(w.ops...); err != nil {
		return err
	}
	for _, f := range w.after {
		f()
	}
	return nil
}
