package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Transfer is one file offer this device sent or received.
type Transfer struct {
	ID        []byte // 16 bytes
	Peer      string // the contact
	Outgoing  bool
	Name      string
	Size      int64
	ChunkSize int
	Key       []byte // the file key, opened (sealed at rest)
	Hash      []byte // BLAKE3-256 of the whole file (node/transfer.NewHash)
	Path      string // outgoing: the file; incoming: the directory, then the final file
	State     string
	Created   time.Time
	// Kind is KindFile for files the user sends and receives, KindAvatar
	// for display pictures fetched from contacts (never shown as
	// transfers).
	Kind string
	// Thumbnail is the preview of an image file that came with its offer
	// (nil: none).
	Thumbnail []byte
}

// Transfer kinds.
const (
	KindFile   = "file"
	KindAvatar = "avatar"
)

const transferColumns = `id, peer, outgoing, name, size, chunk_size, file_key, hash, path, state, created, kind, thumbnail`

// PutTransfer inserts t or replaces the transfer with the same ID.
func (s *Store) PutTransfer(t Transfer) error {
	if t.Kind == "" {
		t.Kind = KindFile
	}
	if len(t.ID) != 16 || t.Peer == "" || t.ChunkSize <= 0 || t.Size < 0 || len(t.Hash) != 32 || t.State == "" {
		return fmt.Errorf("store: put transfer: incomplete %q/%x", t.Peer, t.ID)
	}
	key, err := s.sealSecret(t.Key, "transfers", string(t.ID))
	if err != nil {
		return fmt.Errorf("store: put transfer: %w", err)
	}
	_, err = s.db.Exec(`INSERT OR REPLACE INTO transfers (`+transferColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Peer, t.Outgoing, t.Name, t.Size, t.ChunkSize, key, t.Hash, t.Path, t.State, nanos(t.Created), t.Kind, t.Thumbnail)
	if err != nil {
		return fmt.Errorf("store: put transfer: %w", err)
	}
	return nil
}

func (s *Store) scanTransfer(sc interface{ Scan(...any) error }) (Transfer, error) {
	var t Transfer
	var sealed []byte
	var created int64
	if err := sc.Scan(&t.ID, &t.Peer, &t.Outgoing, &t.Name, &t.Size, &t.ChunkSize, &sealed, &t.Hash, &t.Path, &t.State, &created, &t.Kind, &t.Thumbnail); err != nil {
		return Transfer{}, err
	}
	key, err := s.openSecret(sealed, "transfers", string(t.ID))
	if err != nil {
		return Transfer{}, err
	}
	t.Key, t.Created = key, fromNanos(created)
	return t, nil
}

// Transfer returns the transfer with id, or ErrNotFound.
func (s *Store) Transfer(id []byte) (Transfer, error) {
	t, err := s.scanTransfer(s.db.QueryRow(`SELECT `+transferColumns+` FROM transfers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Transfer{}, fmt.Errorf("store: transfer %x: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transfer{}, fmt.Errorf("store: transfer %x: %w", id, err)
	}
	return t, nil
}

// Transfers returns every transfer, oldest first.
func (s *Store) Transfers() ([]Transfer, error) {
	rows, err := s.db.Query(`SELECT ` + transferColumns + ` FROM transfers ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("store: transfers: %w", err)
	}
	defer rows.Close()
	var out []Transfer
	for rows.Next() {
		t, err := s.scanTransfer(rows)
		if err != nil {
			return nil, fmt.Errorf("store: transfers: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetTransferState changes a transfer's state (and path, if not empty).
func (s *Store) SetTransferState(id []byte, state, path string) error {
	res, err := s.db.Exec(`UPDATE transfers SET state = ?, path = CASE WHEN ? = '' THEN path ELSE ? END WHERE id = ?`, state, path, path, id)
	if err != nil {
		return fmt.Errorf("store: transfer state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: transfer %x: %w", id, ErrNotFound)
	}
	return nil
}

// ChunksDone returns the chunk indexes recorded for a transfer, ascending.
func (s *Store) ChunksDone(id []byte) ([]uint64, error) {
	rows, err := s.db.Query(`SELECT idx FROM transfer_chunks WHERE transfer_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("store: chunks: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("store: chunks: %w", err)
		}
		out = append(out, uint64(i))
	}
	return out, rows.Err()
}

// MarkChunks records chunks as on disk, in one transaction (durable when
// it returns: the database is synchronous=FULL).
func (s *Store) MarkChunks(id []byte, indexes ...uint64) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		for _, i := range indexes {
			if i > 1<<62 {
				return fmt.Errorf("chunk index %d out of range", i)
			}
			if _, err := tx.Exec(`INSERT OR IGNORE INTO transfer_chunks (transfer_id, idx) VALUES (?, ?)`, id, int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark chunks: %w", err)
	}
	return nil
}

// ForgetChunks drops a transfer's chunk records.
func (s *Store) ForgetChunks(id []byte) error {
	if _, err := s.db.Exec(`DELETE FROM transfer_chunks WHERE transfer_id = ?`, id); err != nil {
		return fmt.Errorf("store: forget chunks: %w", err)
	}
	return nil
}

// CountTransfers counts the transfers with peer in one direction and state
// (node/files bounds what a contact may leave waiting with it).
func (s *Store) CountTransfers(peer string, outgoing bool, state string) (int, error) {
	var n int
	err := s.db.QueryRow(`SELECT count(*) FROM transfers WHERE peer = ? AND outgoing = ? AND state = ?`, peer, outgoing, state).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count transfers: %w", err)
	}
	return n, nil
}

// TrimThumbnails drops the previews of peer's offers to us but the newest
// keep that have one, and returns how many it dropped.
func (s *Store) TrimThumbnails(peer string, keep int) (int64, error) {
	res, err := s.db.Exec(`UPDATE transfers SET thumbnail = NULL
		WHERE peer = ? AND outgoing = 0 AND thumbnail IS NOT NULL AND id NOT IN (
			SELECT id FROM transfers WHERE peer = ? AND outgoing = 0 AND thumbnail IS NOT NULL
			ORDER BY created DESC, rowid DESC LIMIT ?)`, peer, peer, keep)
	if err != nil {
		return 0, fmt.Errorf("store: trim thumbnails: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// TrimTransfers deletes peer's transfers to us in any of states but the
// newest keep of them, with their chunk records, and returns how many it
// deleted.
func (s *Store) TrimTransfers(peer string, states []string, keep int) (int64, error) {
	if len(states) == 0 {
		return 0, nil
	}
	in := "?" + strings.Repeat(", ?", len(states)-1)
	args := []any{peer}
	for _, st := range states {
		args = append(args, st)
	}
	args = append(args, keep)
	var n int64
	err := s.db.Tx(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT id FROM transfers WHERE peer = ? AND outgoing = 0 AND state IN (`+in+`)
			ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?`, args...)
		if err != nil {
			return err
		}
		var ids [][]byte
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.Exec(`DELETE FROM transfer_chunks WHERE transfer_id = ?`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM transfers WHERE id = ?`, id); err != nil {
				return err
			}
		}
		n = int64(len(ids))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: trim transfers: %w", err)
	}
	return n, nil
}
