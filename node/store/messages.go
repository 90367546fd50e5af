package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Message is one chat message of a conversation with Peer: a contact, or a
// multi-party conversation's ID, whose incoming messages name their author
// in Sender.
type Message struct {
	ID, Peer string
	Outgoing bool
	Text     string
	Time     time.Time
	State    string // StateQueued, StateDelivered, StateReceived or StateFailed
	Sender   string
	// Kind is EntryMessage for a message, else what other entry of the
	// history the row is (entries.go); File is set for an EntryFile, Call
	// for an EntryCall.
	Kind string
	File *FileEntry
	Call *CallEntry // for an EntryCall
	// Device and Order place an incoming message in its author's order:
	// the sending device's peer ID and its outbox position of the
	// message (order.go). Order 0: not said, shown where it arrived.
	Device string
	Order  uint64
}

// OutboxEntry is one sealed payload waiting for the recipient's Ack. ID is the
// envelope ID, stable across retries.
type OutboxEntry struct {
	Seq      int64
	ID, Peer string
	Payload  []byte
	Created  time.Time
	// Sessionless entries are sealed without a ratchet session (v1, signed
	// by our device key), so they open whatever session state the
	// recipient holds.
	Sessionless bool
	// Sealed is the envelope (a marshalled wire.Envelope) sealed when the
	// entry was queued, under session SealedSession with device
	// SealedPeer, whose state was stored in the same transaction: the
	// courier sends it as it is while that session is still ours, so a
	// message can go out without another write. Empty: sealed when sent.
	Sealed        []byte
	SealedPeer    string
	SealedSession []byte
}

// messageColumns are what scanMessage reads: body is the sealed text.
const messageColumns = `id, peer, outgoing, body, time, state, sender, kind`

func scanMessage(k *historyKeys, sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var t int64
	var body []byte
	if err := sc.Scan(&m.ID, &m.Peer, &m.Outgoing, &body, &t, &m.State, &m.Sender, &m.Kind); err != nil {
		return Message{}, err
	}
	m.Time = fromNanos(t)
	if err := k.open(&m, body); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Enqueue stores the outbox entry e and, when m is not nil, the outgoing chat
// message m, in one transaction. m must have e's ID and Peer; it is stored as
// outgoing, in state queued unless m.State says otherwise, at e.Created when
// m.Time is zero (e.Created defaults to now). Enqueue returns once the
// transaction is durably committed, with the entry's Seq set (increasing).
// Storing a message needs the store unlocked (ErrLocked otherwise).
func (s *Store) Enqueue(m *Message, e OutboxEntry) (OutboxEntry, error) {
	// Through the group commit: concurrent sends share one fsync.
	op, err := s.EnqueueOp(m, &e)
	if err != nil {
		return OutboxEntry{}, err
	}
	if err := s.Commit(op); err != nil {
		return OutboxEntry{}, fmt.Errorf("store: enqueue %q to %q: %w", e.ID, e.Peer, err)
	}
	return e, nil
}

// Outbox returns the entries waiting for peer, oldest first.
func (s *Store) Outbox(peer string) ([]OutboxEntry, error) {
	return s.OutboxAfter(peer, 0, -1)
}

// OutboxAfter returns up to limit (all when negative) entries waiting for
// peer with a Seq after seq, oldest first: a courier reads the outbox a
// window at a time.
func (s *Store) OutboxAfter(peer string, seq int64, limit int) ([]OutboxEntry, error) {
	rows, err := s.db.Query(`SELECT seq, id, peer, payload, created, sessionless, sealed, sealed_peer, sealed_session
		FROM outbox WHERE peer = ? AND seq > ? ORDER BY seq LIMIT ?`, peer, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: outbox of %q: %w", peer, err)
	}
	defer rows.Close()
	var es []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		var created int64
		if err := rows.Scan(&e.Seq, &e.ID, &e.Peer, &e.Payload, &created, &e.Sessionless, &e.Sealed, &e.SealedPeer, &e.SealedSession); err != nil {
			return nil, fmt.Errorf("store: outbox of %q: %w", peer, err)
		}
		e.Created = fromNanos(created)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox of %q: %w", peer, err)
	}
	return es, nil
}

// OutboxPeers returns the peers with entries in the outbox, sorted.
func (s *Store) OutboxPeers() ([]string, error) {
	rows, err := s.db.Query(`SELECT DISTINCT peer FROM outbox ORDER BY peer`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox peers: %w", err)
	}
	defer rows.Close()
	var ps []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("store: outbox peers: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox peers: %w", err)
	}
	return ps, nil
}

// Acknowledge removes the outbox entry id and marks its message (if any)
// delivered, in one transaction. found is false when there was no such entry
// (e.g. a duplicate Ack); then nothing changes.
func (s *Store) Acknowledge(id string) (found bool, err error) {
	err = s.finish(id, StateDelivered)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: acknowledge %q: %w", id, err)
	}
	return true, nil
}

// Fail removes the outbox entry id and marks its message (if any) failed, in
// one transaction. It returns ErrNotFound when there is no such entry.
func (s *Store) Fail(id string) error {
	if err := s.finish(id, StateFailed); err != nil {
		return fmt.Errorf("store: fail %q: %w", id, err)
	}
	return nil
}

func (s *Store) finish(id, state string) error {
	return s.db.Tx(func(tx *sql.Tx) error { return finishTx(tx, id, state) })
}

func finishTx(tx *sql.Tx, id, state string) error {
	var peer, conv string
	err := tx.QueryRow(`DELETE FROM outbox WHERE id = ? RETURNING peer, conversation`, id).Scan(&peer, &conv)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete outbox entry: %w", err)
	}
	msgID := id
	if conv != "" {
		// One member's copy of a multi-party message: the first ack
		// marks it delivered; one member's refusal fails nothing.
		if state != StateDelivered {
			return nil
		}
		peer, msgID = conv, FanoutMessageID(id)
	}
	if _, err := tx.Exec(`UPDATE messages SET state = ? WHERE peer = ? AND id = ? AND outgoing = 1`,
		state, peer, msgID); err != nil {
		return fmt.Errorf("update message: %w", err)
	}
	return nil
}

// Unseal forgets the envelopes sealed for the outbox entries ids when they
// were queued: they are sealed again when next sent (the recipient could
// not take them, and may have used their keys).
func (s *Store) Unseal(ids []string) error {
	return s.Commit(Op{run: func(g *groupTx) error {
		for _, id := range ids {
			if _, err := g.tx.Exec(`UPDATE outbox SET sealed = NULL, sealed_peer = '', sealed_session = NULL WHERE id = ?`, id); err != nil {
				return fmt.Errorf("store: unseal %q: %w", id, err)
			}
		}
		return nil
	}})
}

// AddIncoming stores a received message, in state received unless m.State
// says otherwise and at the current time if m.Time is zero. Messages are
// de-duplicated on (Peer, ID): a duplicate returns inserted=false and changes
// nothing. It needs the store unlocked (ErrLocked otherwise).
func (s *Store) AddIncoming(m Message) (inserted bool, err error) {
	if m.ID == "" || m.Peer == "" {
		return false, fmt.Errorf("store: add incoming %q from %q: empty id or peer", m.ID, m.Peer)
	}
	k, err := s.history()
	if err != nil {
		return false, fmt.Errorf("store: add incoming %q from %q: %w", m.ID, m.Peer, err)
	}
	if m.State == "" {
		m.State = StateReceived
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	err = s.db.Tx(func(tx *sql.Tx) error {
		w := newMessageWriter(tx, k)
		defer w.close()
		inserted, err = w.add(&m, true)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: add incoming %q from %q: %w", m.ID, m.Peer, err)
	}
	return inserted, nil
}

// History returns the newest limit messages with peer (all when limit <= 0)
// that were stored before the message before (any when before is empty),
// oldest first. Order is arrival order, not message time, except that a
// message that came after a later one of its author's is shown before it
// (order.go). It returns
// ErrNotFound when before is not a message with peer.
func (s *Store) History(peer string, limit int, before string) ([]Message, error) {
	k, err := s.history()
	if err != nil {
		return nil, fmt.Errorf("store: history with %q: %w", peer, err)
	}
	if err := s.caughtUp(); err != nil {
		return nil, fmt.Errorf("store: history with %q: %w", peer, err)
	}
	bound := math.Inf(1)
	if before != "" {
		err := s.db.QueryRow(`SELECT `+placeKey+` FROM messages WHERE peer = ? AND id = ?`, peer, before).Scan(&bound)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: history with %q before %q: %w", peer, before, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("store: history with %q before %q: %w", peer, before, err)
		}
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.Query(`SELECT `+messageColumns+` FROM messages WHERE peer = ? AND `+placeKey+` < ?
		ORDER BY `+placeKey+` DESC LIMIT ?`, peer, bound, limit)
	if err != nil {
		return nil, fmt.Errorf("store: history with %q: %w", peer, err)
	}
	defer rows.Close()
	var ms []Message
	for rows.Next() {
		m, err := scanMessage(k, rows)
		if err != nil {
			return nil, fmt.Errorf("store: history with %q: %w", peer, err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history with %q: %w", peer, err)
	}
	slices.Reverse(ms)
	return ms, nil
}

// Message returns the message with id (the first stored, should two peers
// have used the same ID), or ErrNotFound.
func (s *Store) Message(id string) (Message, error) {
	k, err := s.history()
	if err != nil {
		return Message{}, fmt.Errorf("store: message %q: %w", id, err)
	}
	m, err := scanMessage(k, s.db.QueryRow(`SELECT `+messageColumns+` FROM messages WHERE id = ? ORDER BY seq LIMIT 1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("store: message %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("store: message %q: %w", id, err)
	}
	return m, nil
}

// DropOutbox removes every outbox entry queued under peer (a route): what
// waited for a device its account removed. It reports how many went.
func (s *Store) DropOutbox(peer string) (int, error) {
	res, err := s.db.Exec(`DELETE FROM outbox WHERE peer = ?`, peer)
	if err != nil {
		return 0, fmt.Errorf("store: drop outbox of %q: %w", peer, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
