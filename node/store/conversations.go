package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Conversation is a multi-party conversation as this device knows it.
type Conversation struct {
	ID       string
	Members  []string // ourselves included, sorted
	Departed []string // who left, sorted
	Left     bool     // we left
	Created  time.Time
	// Changed is, for each member who joined or left, the signed time of
	// the last invitation or departure of theirs applied: an older one is
	// stale (a replay, or overtaken on another path) and changes nothing.
	Changed map[string]time.Time
}

// joinTimes stores a member → time map as "name millis" lines, sorted.
func joinTimes(m map[string]time.Time) string {
	lines := make([]string, 0, len(m))
	for name, t := range m {
		lines = append(lines, name+" "+strconv.FormatInt(t.UnixMilli(), 10))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func splitTimes(s string) (map[string]time.Time, error) {
	m := map[string]time.Time{}
	for _, line := range splitNames(s) {
		name, ms, ok := strings.Cut(line, " ")
		v, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("changed %q: not a name and a time", line)
		}
		m[name] = time.UnixMilli(v)
	}
	return m, nil
}

func joinNames(names []string) string {
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), "\n")
}

func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// PutConversation inserts c or replaces the conversation with its ID.
func (s *Store) PutConversation(c Conversation) error {
	op, err := s.ConversationOp(c)
	if err != nil {
		return err
	}
	return s.Commit(op)
}

// ConversationOp is PutConversation as an Op.
func (s *Store) ConversationOp(c Conversation) (Op, error) {
	if c.ID == "" || len(c.Members) == 0 {
		return Op{}, fmt.Errorf("store: put conversation %q: no ID or members", c.ID)
	}
	members, departed, changed := joinNames(c.Members), joinNames(c.Departed), joinTimes(c.Changed)
	return Op{run: func(g *groupTx) error {
		_, err := g.tx.Exec(`INSERT INTO conversations (id, members, departed, left, created, changed) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET members = excluded.members, departed = excluded.departed, left = excluded.left,
				changed = excluded.changed`,
			c.ID, members, departed, c.Left, nanos(c.Created), changed)
		if err != nil {
			return fmt.Errorf("put conversation %q: %w", c.ID, err)
		}
		return nil
	}}, nil
}

func scanConversation(sc interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var members, departed, changed string
	var created int64
	if err := sc.Scan(&c.ID, &members, &departed, &c.Left, &created, &changed); err != nil {
		return Conversation{}, err
	}
	c.Members, c.Departed, c.Created = splitNames(members), splitNames(departed), fromNanos(created)
	var err error
	c.Changed, err = splitTimes(changed)
	return c, err
}

// Conversation returns the conversation id, or ErrNotFound.
func (s *Store) Conversation(id string) (Conversation, error) {
	c, err := scanConversation(s.db.QueryRow(`SELECT id, members, departed, left, created, changed FROM conversations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, fmt.Errorf("store: conversation %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("store: conversation %q: %w", id, err)
	}
	return c, nil
}

// Conversations returns every conversation, oldest first.
func (s *Store) Conversations() ([]Conversation, error) {
	rows, err := s.db.Query(`SELECT id, members, departed, left, created, changed FROM conversations ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	defer rows.Close()
	var cs []Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversations: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	return cs, nil
}

// FanoutID is the outbox ID of one member's copy of a multi-party message;
// FanoutMessageID takes it back to the message's ID. The member is named by
// a short hash so the ID stays within an envelope ID's 64 bytes.
func FanoutID(msgID, member string) string {
	h := sha256.Sum256([]byte(member))
	return msgID + "~" + hex.EncodeToString(h[:6])
}

// FanoutMessageID returns the message ID inside a FanoutID (id itself when
// it is not one).
func FanoutMessageID(id string) string {
	if i := strings.IndexByte(id, '~'); i >= 0 {
		return id[:i]
	}
	return id
}

// EnqueueFanout stores a multi-party message once, outgoing in conversation
// m.Peer, and one outbox entry per member in entries (IDs made with
// FanoutID, Conversation set), in one transaction. m may be nil for an event
// that is not a message (an invitation, a departure, a message passed on).
// Storing a message needs the store unlocked (ErrLocked otherwise).
func (s *Store) EnqueueFanout(m *Message, conv string, entries []OutboxEntry) error {
	op, err := s.FanoutOp(m, conv, entries)
	if err != nil {
		return err
	}
	return s.Commit(op)
}

// FanoutOp is EnqueueFanout as an Op, so that a member passing an event on
// stores it in the transaction that applies it: a kill between the two
// would leave the event applied (and seen) but never passed on. m gets its
// defaults now; it and the entries kept for a resend are sealed now,
// outside the transaction.
func (s *Store) FanoutOp(m *Message, conv string, entries []OutboxEntry) (Op, error) {
	return s.fanoutOp(m, conv, entries, nil, conv != "")
}

// FanoutCopiesOp is FanoutOp with copies, one per other device of our own
// account: an ack of a copy marks nothing delivered (a device of ours is
// not a member that got the event), and a copy is not kept to be sent
// again (our own devices do not ask for that).
func (s *Store) FanoutCopiesOp(m *Message, conv string, entries, copies []OutboxEntry) (Op, error) {
	return s.fanoutOp(m, conv, entries, copies, conv != "")
}

// DevicesOp stores m, a message to username, and its copies in one
// transaction: entries, one per device of username's, each marking m
// delivered when it is the first acknowledged (as a conversation's
// members' copies do) — or one under m's own ID, on the account's route,
// which marks m as any entry does — and copies, one per other device of
// ours, which mark nothing. Nothing is kept to be sent again: a chat
// message is sent again from the history.
func (s *Store) DevicesOp(m *Message, username string, entries, copies []OutboxEntry) (Op, error) {
	return s.fanoutOp(m, username, entries, copies, false)
}

func (s *Store) fanoutOp(m *Message, conv string, entries, copies []OutboxEntry, keep bool) (Op, error) {
	now := time.Now()
	entries = slices.Clone(entries) // the defaults below are not the caller's
	fail := func(err error) (Op, error) {
		return Op{}, fmt.Errorf("store: enqueue in conversation %q: %w", conv, err)
	}
	copies = slices.Clone(copies)
	for _, es := range [][]OutboxEntry{entries, copies} {
		for i, e := range es {
			if e.ID == "" || e.Peer == "" {
				return fail(fmt.Errorf("outbox entry %q to %q: empty id or peer", e.ID, e.Peer))
			}
			if e.Created.IsZero() {
				es[i].Created = now
			}
		}
	}
	sealed := map[string][]byte{}
	if keep {
		for _, e := range entries {
			b, err := s.sealSecret(e.Payload, "fanout_sent", e.ID, e.Peer)
			if err != nil {
				return fail(err)
			}
			sealed[e.ID] = b
		}
	}
	var prepared *preparedMessage
	if m != nil {
		k, err := s.history()
		if err != nil {
			return fail(err)
		}
		if m.State == "" {
			m.State = StateQueued
		}
		if m.Time.IsZero() {
			m.Time = now
		}
		m.Outgoing = true
		stored := *m
		stored.Sender = "" // our own message: we are the author
		sm, err := k.prepareMessage(k.tokenizer(), &stored)
		if err != nil {
			return fail(err)
		}
		prepared = &sm
	}
	return Op{run: func(g *groupTx) error {
		if prepared != nil {
			if _, err := g.messages().addPrepared(prepared, false); err != nil {
				return fmt.Errorf("insert message: %w", err)
			}
		}
		for _, e := range entries {
			c := conv
			if m != nil && e.ID == m.ID {
				c = "" // the account's route: the entry is the message's own
			}
			if _, err := g.tx.Exec(`INSERT INTO outbox (id, peer, payload, created, conversation) VALUES (?, ?, ?, ?, ?)`,
				e.ID, e.Peer, e.Payload, nanos(e.Created), c); err != nil {
				return fmt.Errorf("insert outbox entry: %w", err)
			}
			if !keep {
				continue // a room's entries (members fetch what they missed from its homes) and a message's devices
			}
			if _, err := g.tx.Exec(`INSERT INTO fanout_sent (id, peer, payload, created) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO NOTHING`, e.ID, e.Peer, sealed[e.ID], nanos(e.Created)); err != nil {
				return fmt.Errorf("keep fan-out entry: %w", err)
			}
		}
		for _, e := range copies {
			if _, err := g.tx.Exec(`INSERT INTO outbox (id, peer, payload, created) VALUES (?, ?, ?, ?)`,
				e.ID, e.Peer, e.Payload, nanos(e.Created)); err != nil {
				return fmt.Errorf("insert outbox entry: %w", err)
			}
		}
		// What mail can no longer carry need not be sent again.
		if _, err := g.tx.Exec(`DELETE FROM fanout_sent WHERE created < ?`, nanos(now.Add(-FanoutKept))); err != nil {
			return fmt.Errorf("forget old fan-out entries: %w", err)
		}
		return nil
	}}, nil
}

// FanoutKept is how long a conversation event passed on to a member is
// kept to be sent again (FanoutSent): as long as mail lives, and a day for
// clocks and absences. Members refuse events signed longer ago than the
// mail TTL anyway.
const FanoutKept = 8 * 24 * time.Hour

// FanoutSent returns the payload of the conversation event passed on to
// member peer under the outbox entry id (a FanoutID) in the last
// FanoutKept; ErrNotFound when there is none, or it went to another
// member.
func (s *Store) FanoutSent(id, peer string) ([]byte, error) {
	var sealed []byte
	err := s.db.QueryRow(`SELECT payload FROM fanout_sent WHERE id = ? AND peer = ? AND created >= ?`,
		id, peer, nanos(time.Now().Add(-FanoutKept))).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: fan-out entry %q: %w", id, err)
	}
	plain, err := s.openSecret(sealed, "fanout_sent", id, peer)
	if err != nil {
		return nil, fmt.Errorf("store: fan-out entry %q: %w", id, err)
	}
	return plain, nil
}
