package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// AddIncomingBatch stores messages as AddIncoming does (the node stores a
// backlog of mailed messages with it) — state received
// unless m.State says otherwise, the current time if m.Time is zero,
// de-duplicated on (Peer, ID) — but all of them in one transaction, so a
// batch costs one fsync instead of one per message. inserted[i] reports
// whether ms[i] was new (false for a duplicate, also of an earlier message
// of the same batch). A message with an empty ID or Peer fails the whole
// batch and nothing is stored. It needs the store unlocked (ErrLocked
// otherwise).
func (s *Store) AddIncomingBatch(ms []Message) (inserted []bool, err error) {
	for i, m := range ms {
		if m.ID == "" || m.Peer == "" {
			return nil, fmt.Errorf("store: add incoming batch: message %d (%q from %q): empty id or peer", i, m.ID, m.Peer)
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	k, err := s.history()
	if err != nil {
		return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
	}
	now := time.Now()
	ms = slices.Clone(ms) // the defaults below are not the caller's
	for i := range ms {
		if ms[i].State == "" {
			ms[i].State = StateReceived
		}
		if ms[i].Time.IsZero() {
			ms[i].Time = now
		}
	}
	// A long batch is stored first and indexed after its commit (see
	// indexer.go); its sender waits for the rows only. The unindexed tail
	// is kept under maxIndexLag rows by indexing some of it here first.
	deferIndex := len(ms) >= deferBatchMin
	if deferIndex {
		defer s.idx.writeBatch()()
		if err := s.catchUp(context.Background(), k, max(maxIndexLag-int64(len(ms)), 0), nil); err != nil {
			return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
		}
	}
	// Sealing (and tokenizing, for a short batch) needs no database: done
	// first, on every core, it keeps the transaction (and the one writer)
	// to SQLite's own work.
	prepared, err := k.prepareMessages(ms, !deferIndex)
	if err != nil {
		return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
	}
	inserted = make([]bool, len(ms))
	err = s.db.Tx(func(tx *sql.Tx) error {
		w := newMessageWriter(tx, k)
		w.deferIndex = deferIndex
		defer w.close()
		for i := range prepared {
			if inserted[i], err = w.addPrepared(&prepared[i], true); err != nil {
				return fmt.Errorf("insert %q from %q: %w", ms[i].ID, ms[i].Peer, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
	}
	return inserted, nil
}
