package store

import (
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Transfer is one file offer this device sent or received.
//
// Name, Path and Thumbnail are sealed at rest like the key: the name and the
// preview come from the contact, and they would outlive the file itself.
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

const transferColumns = `id, peer, outgoing, name, size, chunk_size, file_key, hash, path, state, created, kind, thumbnail, sealed`

// sealTransferField seals one of a transfer's text columns for its row and
// column (the key is sealed for the row alone, as before these were).
func sealTransferField(aead cipher.AEAD, id []byte, column string, plain []byte) ([]byte, error) {
	return sealWith(aead, plain, "transfers", string(id), column)
}

func (s *Store) openTransferField(id []byte, column string, sealed []byte) ([]byte, error) {
	p, err := s.openSecret(sealed, "transfers", string(id), column)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", column, err)
	}
	return p, nil
}

// sealedTransfer is the values of a transfer's sealed columns; thumbnail
// stays nil (NULL) when there is none.
type sealedTransfer struct{ key, name, path, thumbnail []byte }

// sealTransfer seals t's secret columns; the key only when withKey (an old
// row's key is sealed already).
func sealTransfer(aead cipher.AEAD, t *Transfer, withKey bool) (sealedTransfer, error) {
	var st sealedTransfer
	var err error
	if withKey {
		if st.key, err = sealWith(aead, t.Key, "transfers", string(t.ID)); err != nil {
			return st, err
		}
	}
	if st.name, err = sealTransferField(aead, t.ID, "name", []byte(t.Name)); err != nil {
		return st, err
	}
	if st.path, err = sealTransferField(aead, t.ID, "path", []byte(t.Path)); err != nil {
		return st, err
	}
	if t.Thumbnail != nil {
		if st.thumbnail, err = sealTransferField(aead, t.ID, "thumbnail", t.Thumbnail); err != nil {
			return st, err
		}
	}
	return st, nil
}

// PutTransfer inserts t or replaces the transfer with the same ID.
func (s *Store) PutTransfer(t Transfer) error {
	if t.Kind == "" {
		t.Kind = KindFile
	}
	if len(t.ID) != 16 || t.Peer == "" || t.ChunkSize <= 0 || t.Size < 0 || len(t.Hash) != 32 || t.State == "" {
		return fmt.Errorf("store: put transfer: incomplete %q/%x", t.Peer, t.ID)
	}
	aead, err := s.secretsAEAD()
	if err != nil {
		return fmt.Errorf("store: put transfer: %w", err)
	}
	st, err := sealTransfer(aead, &t, true)
	if err != nil {
		return fmt.Errorf("store: put transfer: %w", err)
	}
	_, err = s.db.Exec(`INSERT OR REPLACE INTO transfers (`+transferColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		t.ID, t.Peer, t.Outgoing, st.name, t.Size, t.ChunkSize, st.key, t.Hash, st.path, t.State, nanos(t.Created), t.Kind, st.thumbnail)
	if err != nil {
		return fmt.Errorf("store: put transfer: %w", err)
	}
	return nil
}

func (s *Store) scanTransfer(sc interface{ Scan(...any) error }) (Transfer, error) {
	var t Transfer
	var key, name, path []byte
	var created int64
	var sealed bool
	if err := sc.Scan(&t.ID, &t.Peer, &t.Outgoing, &name, &t.Size, &t.ChunkSize, &key, &t.Hash, &path, &t.State, &created, &t.Kind, &t.Thumbnail, &sealed); err != nil {
		return Transfer{}, err
	}
	if !sealed {
		return Transfer{}, fmt.Errorf("transfer %x: %w", t.ID, errNotSealed)
	}
	var err error
	if t.Key, err = s.openSecret(key, "transfers", string(t.ID)); err != nil {
		return Transfer{}, err
	}
	for _, f := range []struct {
		column string
		dst    *string
		sealed []byte
	}{{"name", &t.Name, name}, {"path", &t.Path, path}} {
		p, err := s.openTransferField(t.ID, f.column, f.sealed)
		if err != nil {
			return Transfer{}, err
		}
		*f.dst = string(p)
	}
	if t.Thumbnail != nil {
		if t.Thumbnail, err = s.openTransferField(t.ID, "thumbnail", t.Thumbnail); err != nil {
			return Transfer{}, err
		}
	}
	t.Created = fromNanos(created)
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

// SetTransferState changes a transfer's state (and path, if not empty:
// then it needs the store unlocked, as the path is sealed).
func (s *Store) SetTransferState(id []byte, state, path string) error {
	var res sql.Result
	var err error
	if path == "" {
		res, err = s.db.Exec(`UPDATE transfers SET state = ? WHERE id = ?`, state, id)
	} else {
		var aead cipher.AEAD
		var sealed []byte
		if aead, err = s.secretsAEAD(); err == nil {
			sealed, err = sealTransferField(aead, id, "path", []byte(path))
		}
		if err != nil {
			return fmt.Errorf("store: transfer state: %w", err)
		}
		res, err = s.db.Exec(`UPDATE transfers SET state = ?, path = ? WHERE id = ?`, state, sealed, id)
	}
	if err != nil {
		return fmt.Errorf("store: transfer state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: transfer %x: %w", id, ErrNotFound)
	}
	return nil
}

// sealOldTransfers seals the name, path and thumbnail of the transfers an
// older release stored in the clear (their key was sealed already), in one
// transaction: there are few.
func (s *Store) sealOldTransfers(aead cipher.AEAD) error {
	return s.db.Tx(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT id, name, path, thumbnail FROM transfers WHERE sealed = 0`)
		if err != nil {
			return err
		}
		var ts []Transfer
		for rows.Next() {
			var t Transfer
			if err := rows.Scan(&t.ID, &t.Name, &t.Path, &t.Thumbnail); err != nil {
				rows.Close()
				return err
			}
			ts = append(ts, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range ts {
			st, err := sealTransfer(aead, &t, false)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE transfers SET name = ?, path = ?, thumbnail = ?, sealed = 1 WHERE id = ?`,
				st.name, st.path, st.thumbnail, t.ID); err != nil {
				return err
			}
		}
		return nil
	})
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
