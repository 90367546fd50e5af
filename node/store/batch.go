package store

import (
	"database/sql"
	"fmt"
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
	inserted = make([]bool, len(ms))
	err = s.db.Tx(func(tx *sql.Tx) error {
		w := newMessageWriter(tx, k)
		defer w.close()
		for i, m := range ms {
			if m.State == "" {
				m.State = StateReceived
			}
			if m.Time.IsZero() {
				m.Time = now
			}
			if inserted[i], err = w.add(&m, true); err != nil {
				return fmt.Errorf("insert %q from %q: %w", m.ID, m.Peer, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
	}
	return inserted, nil
}
