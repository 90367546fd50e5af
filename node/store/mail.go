package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// HandedOver removes entry id from the outbox after it was left in the
// recipient's mailboxes: it will not be sent again, and its message (if
// any) stays queued until the recipient's receipt arrives (MarkDelivered).
func (s *Store) HandedOver(id string) error {
	return s.db.Tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM outbox WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store: hand over %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: hand over %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// MarkDelivered records peer's receipt for our message id. Only a queued
// message to that very peer changes, so nobody can mark someone else's
// messages delivered. It reports whether the state changed.
func (s *Store) MarkDelivered(peer, id string) (bool, error) {
	var changed bool
	err := s.db.Tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE messages SET state = ? WHERE peer = ? AND id = ? AND outgoing = 1 AND state = ?`,
			StateDelivered, peer, id, StateQueued)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n > 0
		if changed {
			// A receipt can overtake a pending direct retry: nothing left to send.
			if _, err := tx.Exec(`DELETE FROM outbox WHERE id = ? AND peer = ?`, id, peer); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("store: mark %q delivered: %w", id, err)
	}
	return changed, nil
}
