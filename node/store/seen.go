package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Items that may reach us more than once — mail a home hands out again, a
// multi-party event passed on by several members or replayed by one — are
// remembered here once applied, so that their next arrival changes nothing.
// Each belongs to a scope ("mail", a conversation's ID) and is named by its
// sender or author and its ID within it.

// ScopeMail is the scope of mailed envelopes.
const ScopeMail = "mail"

// Seen reports whether the item id of scope was applied (and not yet
// forgotten).
func (s *Store) Seen(scope, id string) (bool, error) {
	var one int
	err := s.db.QueryRow(`SELECT 1 FROM seen WHERE scope = ? AND id = ?`, scope, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: seen %s %q: %w", scope, id, err)
	}
	return true, nil
}

// MarkSeen records that the items ids of scope were applied at at, in one
// transaction; one recorded before keeps its first time.
func (s *Store) MarkSeen(scope string, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.Tx(func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO seen (scope, id, at) VALUES (?, ?, ?) ON CONFLICT (scope, id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.Exec(scope, id, nanos(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark %d seen in %s: %w", len(ids), scope, err)
	}
	return nil
}

// ForgetSeen drops every item, of every scope, applied before before, and
// reports how many. Callers pass now minus wire.SeenRetention: by then
// what the row guarded against is refused as too old anyway.
func (s *Store) ForgetSeen(before time.Time) (int64, error) {
	res, err := s.db.Exec(`DELETE FROM seen WHERE at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: forget seen: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
