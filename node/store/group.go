package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"eserver/sqlite"
)

// Group commit: the message path's writes — a sent message with its outbox
// entry and the ratchet state that sealed it, a received batch with the
// state that opened it, acknowledgements — are Ops. Ops submitted while a
// transaction is being committed wait, and the next committer writes all
// of them in one transaction: one fsync for many messages, with no
// goroutine of its own (the first waiter leads, as in a leader/follower
// group commit). Ops run in the order they were submitted, so a caller
// that submits under its own lock (the ratchet's) gets its order kept in
// the file: a later state of a session is never overwritten by an earlier
// one.
//
// An Op's run must not wait for anything but the database: the committer
// runs it inside the transaction, holding the store's one connection.

// Op is one unit of a group commit: its writes are committed together, or
// none of them.
type Op struct {
	run   func(w *groupTx) error
	after func() // on success, after the commit
	// key, when set, names what the op replaces as a whole (a session's
	// state): of several ops with one key in a transaction only the last
	// runs, the others being overwritten by it in the same commit anyway.
	key string
}

// groupTx is the transaction of a group commit, with the message writer
// made on first use.
type groupTx struct {
	tx *sql.Tx
	k  *historyKeys
	mw *messageWriter
}

func (g *groupTx) messages() *messageWriter {
	if g.mw == nil {
		g.mw = newMessageWriter(g.tx, g.k)
	}
	return g.mw
}

// Pending is a submitted set of ops; Wait for its outcome.
type Pending struct {
	s    *Store
	ops  []Op
	done bool // under g.mu
	err  error
}

type groupCommit struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*Pending
	leading bool
}

func (g *groupCommit) init() {
	g.mu.Lock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	g.mu.Unlock()
}

// Submit queues ops to be committed together, after everything submitted
// before, and returns at once; Wait returns the outcome. Submit never
// blocks on the database, so it may be called under the caller's locks.
func (s *Store) Submit(ops ...Op) *Pending {
	g := &s.group
	g.init()
	p := &Pending{s: s, ops: ops}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	g.mu.Unlock()
	return p
}

// Commit submits ops and waits until they are durably committed.
func (s *Store) Commit(ops ...Op) error { return s.Submit(ops...).Wait() }

// caughtUp commits whatever waits in the group commit, if anything does,
// so that a read sees every write submitted before it: a message the
// front ends were told is delivered (its ack's record waits here for the
// next write) reads as delivered in the history too.
func (s *Store) caughtUp() error {
	g := &s.group
	g.init()
	g.mu.Lock()
	idle := len(g.queue) == 0 && !g.leading
	g.mu.Unlock()
	if idle {
		return nil
	}
	return s.Commit()
}

// Wait returns once p's ops are durably committed (nil) or failed: it
// commits them itself, with everything else queued, when no other caller
// is committing.
func (p *Pending) Wait() error {
	s := p.s
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	for !p.done {
		if g.leading {
			g.cond.Wait()
			continue
		}
		g.leading = true
		g.mu.Unlock()
		batch := s.commitNext()
		g.mu.Lock()
		for _, q := range batch {
			q.done = true
		}
		g.leading = false
		g.cond.Broadcast()
	}
	return p.err
}

// commitNext takes the store's connection, then everything queued by
// then, and commits it; it returns what it took. The batch is taken only
// once the connection is ours: writers whose reads held the connection
// meanwhile (a send reads the contact first) have queued their writes by
// then, and join this commit instead of the next.
func (s *Store) commitNext() []*Pending {
	g := &s.group
	conn, err := s.db.Conn(context.Background())
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	if err != nil {
		for _, p := range batch {
			p.err = fmt.Errorf("store: group commit: %w", err)
		}
		return batch
	}
	defer conn.Close()
	s.commitGroup(conn, batch)
	return batch
}

// commitGroup writes batch in one transaction; should that fail, each
// Pending is tried alone so that one bad op fails only its own.
func (s *Store) commitGroup(conn *sql.Conn, batch []*Pending) {
	err := s.commitOps(conn, batch)
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			p.err = err
		}
		return
	}
	for _, p := range batch {
		p.err = s.commitOps(conn, []*Pending{p})
	}
}

func (s *Store) commitOps(conn *sql.Conn, batch []*Pending) error {
	k, _ := s.history() // nil while locked: an op that stores text fails alone
	err := sqlite.ConnTx(context.Background(), conn, func(tx *sql.Tx) error {
		g := &groupTx{tx: tx, k: k}
		defer func() {
			if g.mw != nil {
				g.mw.close()
			}
		}()
		last := map[string]*Op{}
		for _, p := range batch {
			for i := range p.ops {
				if k := p.ops[i].key; k != "" {
					last[k] = &p.ops[i]
				}
			}
		}
		for _, p := range batch {
			for i := range p.ops {
				op := &p.ops[i]
				if op.key != "" && last[op.key] != op {
					continue
				}
				if err := op.run(g); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: group commit of %d: %w", len(batch), err)
	}
	for _, p := range batch {
		for _, op := range p.ops {
			if op.after != nil {
				op.after()
			}
		}
	}
	return nil
}

// EnqueueOp is Enqueue as an Op: the outbox entry e and, when m is not
// nil, the outgoing message m (see Enqueue for the defaults). After the
// commit, *e has its Seq and *m its defaults. The message is sealed and
// indexed now, outside the transaction.
func (s *Store) EnqueueOp(m *Message, e *OutboxEntry) (Op, error) {
	if e.ID == "" || e.Peer == "" {
		return Op{}, fmt.Errorf("store: enqueue %q to %q: empty id or peer", e.ID, e.Peer)
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	var prepared *preparedMessage
	var msg Message
	if m != nil {
		k, err := s.history()
		if err != nil {
			return Op{}, fmt.Errorf("store: enqueue %q to %q: %w", e.ID, e.Peer, err)
		}
		if m.ID != e.ID || m.Peer != e.Peer {
			return Op{}, fmt.Errorf("store: enqueue %q to %q: message is %q to %q", e.ID, e.Peer, m.ID, m.Peer)
		}
		msg = *m
		msg.Outgoing = true
		if msg.State == "" {
			msg.State = StateQueued
		}
		if msg.Time.IsZero() {
			msg.Time = e.Created
		}
		stored := msg
		stored.Sender = "" // our own message: we are the author
		sm, err := k.prepareMessage(k.tokenizer(), &stored)
		if err != nil {
			return Op{}, fmt.Errorf("store: enqueue %q to %q: %w", e.ID, e.Peer, err)
		}
		prepared = &sm
	}
	return Op{
		run: func(g *groupTx) error {
			if prepared != nil {
				if _, err := g.messages().addPrepared(prepared, false); err != nil {
					return fmt.Errorf("insert message %q: %w", e.ID, err)
				}
			}
			res, err := g.tx.Exec(`INSERT INTO outbox (id, peer, payload, created, sessionless, sealed, sealed_peer, sealed_session)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				e.ID, e.Peer, e.Payload, nanos(e.Created), e.Sessionless, e.Sealed, e.SealedPeer, e.SealedSession)
			if err != nil {
				return fmt.Errorf("insert outbox entry %q: %w", e.ID, err)
			}
			if e.Seq, err = res.LastInsertId(); err != nil {
				return err
			}
			if prepared != nil {
				// The message's first outbox position: sent again later
				// (a resend request), it keeps it (OutgoingOrder).
				if _, err := g.tx.Exec(`UPDATE messages SET author_order = ? WHERE peer = ? AND id = ? AND outgoing = 1`,
					e.Seq, e.Peer, e.ID); err != nil {
					return fmt.Errorf("recording message %q's position: %w", e.ID, err)
				}
			}
			return nil
		},
		after: func() {
			if m != nil {
				*m = msg
			}
		},
	}, nil
}

// IncomingOp is AddIncomingBatch as an Op: ms are stored, de-duplicated on
// (Peer, ID), and inserted[i] reports after the commit whether ms[i] was
// new. ms get AddIncoming's defaults now; they are sealed and indexed now,
// outside the transaction.
func (s *Store) IncomingOp(ms []Message, inserted []bool) (Op, error) {
	if len(inserted) != len(ms) {
		return Op{}, errors.New("store: incoming: inserted and messages differ in length")
	}
	for i, m := range ms {
		if m.ID == "" || m.Peer == "" {
			return Op{}, fmt.Errorf("store: incoming: message %d (%q from %q): empty id or peer", i, m.ID, m.Peer)
		}
	}
	if len(ms) == 0 {
		return Op{run: func(*groupTx) error { return nil }}, nil
	}
	k, err := s.history()
	if err != nil {
		return Op{}, fmt.Errorf("store: incoming: %w", err)
	}
	now := time.Now()
	for i := range ms {
		if ms[i].State == "" {
			ms[i].State = StateReceived
		}
		if ms[i].Time.IsZero() {
			ms[i].Time = now
		}
	}
	tok := k.tokenizer()
	prepared := make([]preparedMessage, len(ms))
	for i := range ms {
		if prepared[i], err = k.prepareMessage(tok, &ms[i]); err != nil {
			return Op{}, fmt.Errorf("store: incoming %q: %w", ms[i].ID, err)
		}
	}
	added := make([]bool, len(ms))
	return Op{
		run: func(g *groupTx) error {
			for i := range prepared {
				var err error
				if added[i], err = g.messages().addPrepared(&prepared[i], true); err != nil {
					return fmt.Errorf("insert %q from %q: %w", ms[i].ID, ms[i].Peer, err)
				}
			}
			return nil
		},
		after: func() { copy(inserted, added) },
	}, nil
}

// SessionOp stores (or replaces) ss, sealed now, as PutSession does,
// keeping the MaxSessionsPerPeer most recently used.
func (s *Store) SessionOp(ss Session) (Op, error) {
	if ss.PeerID == "" || len(ss.ID) == 0 || len(ss.ID) > 64 {
		return Op{}, fmt.Errorf("store: put session: bad peer %q or ID of %d bytes", ss.PeerID, len(ss.ID))
	}
	sealed, err := s.sealSecret(ss.State, "e2e_sessions", ss.PeerID, string(ss.ID))
	if err != nil {
		return Op{}, fmt.Errorf("store: put session: %w", err)
	}
	return Op{run: func(g *groupTx) error { return putSession(g.tx, ss, sealed) },
		key: "session\x00" + ss.PeerID + "\x00" + string(ss.ID)}, nil
}

// DeleteSessionsOp forgets every session with peerID, in queue order with
// the session writes before it.
func (s *Store) DeleteSessionsOp(peerID string) Op {
	return Op{run: func(g *groupTx) error {
		if _, err := g.tx.Exec(`DELETE FROM e2e_sessions WHERE peer_id = ?`, peerID); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return nil
	}}
}

// SeenOp records the items ids of scope as applied at at (MarkSeen).
func (s *Store) SeenOp(scope string, ids []string, at time.Time) Op {
	return Op{run: func(g *groupTx) error {
		if len(ids) == 0 {
			return nil
		}
		st, err := g.tx.Prepare(`INSERT INTO seen (scope, id, at) VALUES (?, ?, ?) ON CONFLICT (scope, id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.Exec(scope, id, nanos(at)); err != nil {
				return fmt.Errorf("mark %q seen: %w", id, err)
			}
		}
		return nil
	}}
}

// AcknowledgeOp is Acknowledge for several entries in one transaction:
// found[i] reports after the commit whether ids[i] was still in the outbox.
func (s *Store) AcknowledgeOp(ids []string, found []bool) Op {
	got := make([]bool, len(ids))
	return Op{
		run: func(g *groupTx) error {
			for i, id := range ids {
				err := finishTx(g.tx, id, StateDelivered)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("acknowledge %q: %w", id, err)
				}
				got[i] = true
			}
			return nil
		},
		after: func() { copy(found, got) },
	}
}
