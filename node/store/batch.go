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
// batch and nothing is stored.
func (s *Store) AddIncomingBatch(ms []Message) (inserted []bool, err error) {
	for i, m := range ms {
		if m.ID == "" || m.Peer == "" {
			return nil, fmt.Errorf("store: add incoming batch: message %d (%q from %q): empty id or peer", i, m.ID, m.Peer)
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	now := time.Now()
	inserted = make([]bool, len(ms))
	err = s.db.Tx(func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO messages (` + messageColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (peer, id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		defer st.Close()
		for i, m := range ms {
			if m.State == "" {
				m.State = StateReceived
			}
			if m.Time.IsZero() {
				m.Time = now
			}
			res, err := st.Exec(m.ID, m.Peer, m.Outgoing, m.Text, nanos(m.Time), m.State, m.Sender)
			if err != nil {
				return fmt.Errorf("insert %q from %q: %w", m.ID, m.Peer, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert %q from %q: %w", m.ID, m.Peer, err)
			}
			inserted[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add incoming batch of %d: %w", len(ms), err)
	}
	return inserted, nil
}
