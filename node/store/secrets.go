package store

import (
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// StorageKeySize is the size of Identity.StorageKey.
const StorageKeySize = chacha20poly1305.KeySize

// ErrLocked is the answer of every method that reads or writes a sealed
// secret before Unlock.
var ErrLocked = errors.New("store: locked: no storage key")

const secretLabel = "eserver-store-secret-v1"

// Unlock gives the store the storage key of the account's identity, for the
// sealed tables and the sealed history. The key is copied.
//
// The first Unlock records a check value of the key; a later Unlock with
// another key fails with ErrWrongStorageKey and leaves the store locked.
// If the store holds history from before it was sealed, Unlock seals and
// indexes it first (durably, in batches: a sealing killed half way goes on
// at the next Unlock) and rewrites the file so that no page keeps its text;
// that takes a while for a long history, once.
func (s *Store) Unlock(key []byte) error {
	if len(key) != StorageKeySize {
		return fmt.Errorf("store: unlock: key of %d bytes, want %d", len(key), StorageKeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return fmt.Errorf("store: unlock: %w", err)
	}
	hist, err := deriveHistoryKeys(key)
	if err != nil {
		return fmt.Errorf("store: unlock: %w", err)
	}
	if err := s.unlockHistory(aead, hist); err != nil {
		return fmt.Errorf("store: unlock: %w", err)
	}
	s.setKeys(aead, hist)
	s.idx.start(s, hist)
	return nil
}

func (s *Store) setKeys(secrets cipher.AEAD, hist *historyKeys) {
	s.secretMu.Lock()
	s.secrets, s.hist = secrets, hist
	s.secretMu.Unlock()
}

// sealSecret seals plain for the row named by where (table and key), so a
// sealed value moved to another row does not open.
func (s *Store) sealSecret(plain []byte, where ...string) ([]byte, error) {
	aead, err := s.secretsAEAD()
	if err != nil {
		return nil, err
	}
	return sealWith(aead, plain, where...)
}

// openSecret opens what sealSecret sealed for the same row.
func (s *Store) openSecret(sealed []byte, where ...string) ([]byte, error) {
	aead, err := s.secretsAEAD()
	if err != nil {
		return nil, err
	}
	return openWith(aead, sealed, where...)
}

func (s *Store) secretsAEAD() (cipher.AEAD, error) {
	s.secretMu.RLock()
	aead := s.secrets
	s.secretMu.RUnlock()
	if aead == nil {
		return nil, ErrLocked
	}
	return aead, nil
}

func sealWith(aead cipher.AEAD, plain []byte, where ...string) ([]byte, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, secretAD(where)), nil
}

func openWith(aead cipher.AEAD, sealed []byte, where ...string) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, errors.New("sealed secret too short")
	}
	n := chacha20poly1305.NonceSizeX
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], secretAD(where))
	if err != nil {
		return nil, errors.New("sealed secret does not open: wrong storage key or damaged row")
	}
	return plain, nil
}

func secretAD(where []string) []byte {
	ad := []byte(secretLabel)
	for _, w := range where {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(w)))
		ad = append(ad, w...)
	}
	return ad
}

// Session is one stored end-to-end session with a contact's device.
type Session struct {
	PeerID string
	ID     []byte
	State  []byte // the ratchet's serialized state, opened
	Used   time.Time
}

// MaxSessionsPerPeer bounds the sessions kept per contact device: older ones
// than the newest few can no longer be in use by the other side.
const MaxSessionsPerPeer = 5

// PutSession stores (or replaces) a session, sealed, and keeps only the
// MaxSessionsPerPeer most recently used ones for its peer. It is durable
// when it returns: a message may be sent with the state it saved.
func (s *Store) PutSession(ss Session) error {
	if ss.PeerID == "" || len(ss.ID) == 0 || len(ss.ID) > 64 {
		return fmt.Errorf("store: put session: bad peer %q or ID of %d bytes", ss.PeerID, len(ss.ID))
	}
	sealed, err := s.sealSecret(ss.State, "e2e_sessions", ss.PeerID, string(ss.ID))
	if err != nil {
		return fmt.Errorf("store: put session: %w", err)
	}
	err = s.db.Tx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO e2e_sessions (peer_id, session, state, used) VALUES (?, ?, ?, ?)
			ON CONFLICT (peer_id, session) DO UPDATE SET state = excluded.state, used = excluded.used`,
			ss.PeerID, ss.ID, sealed, ss.Used.UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM e2e_sessions WHERE peer_id = ? AND session NOT IN
			(SELECT session FROM e2e_sessions WHERE peer_id = ? ORDER BY used DESC, rowid DESC LIMIT ?)`,
			ss.PeerID, ss.PeerID, MaxSessionsPerPeer)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put session: %w", err)
	}
	return nil
}

// Sessions returns the sessions with peerID, most recently used first.
func (s *Store) Sessions(peerID string) ([]Session, error) {
	rows, err := s.db.Query(`SELECT session, state, used FROM e2e_sessions WHERE peer_id = ? ORDER BY used DESC, rowid DESC`, peerID)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		ss := Session{PeerID: peerID}
		var sealed []byte
		var used int64
		if err := rows.Scan(&ss.ID, &sealed, &used); err != nil {
			return nil, fmt.Errorf("store: sessions: %w", err)
		}
		if ss.State, err = s.openSecret(sealed, "e2e_sessions", peerID, string(ss.ID)); err != nil {
			return nil, fmt.Errorf("store: sessions with %s: %w", peerID, err)
		}
		ss.Used = time.Unix(0, used)
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	return out, nil
}

// DeleteSessions forgets every session with peerID (the contact was
// removed, or its device revoked).
func (s *Store) DeleteSessions(peerID string) error {
	if _, err := s.db.Exec(`DELETE FROM e2e_sessions WHERE peer_id = ?`, peerID); err != nil {
		return fmt.Errorf("store: delete sessions: %w", err)
	}
	return nil
}

// PrekeyKind says what a stored prekey is.
type PrekeyKind int

// Prekey kinds, as stored.
const (
	PrekeySigned     PrekeyKind = 1 // signed X25519 prekey
	PrekeyKEM        PrekeyKind = 2 // signed ML-KEM-768 prekey (last resort)
	PrekeyOneTime    PrekeyKind = 3 // one-time X25519 prekey
	PrekeyKEMOneTime PrekeyKind = 4 // signed one-time ML-KEM-768 prekey
)

// Prekey is one of this device's prekeys, private part opened.
type Prekey struct {
	Kind    PrekeyKind
	ID      uint32
	Private []byte
	Created time.Time
}

func prekeyWhere(kind PrekeyKind, id uint32) []string {
	return []string{"prekeys", fmt.Sprint(int(kind)), fmt.Sprint(id)}
}

// PutPrekeys stores prekeys, sealed, in one transaction.
func (s *Store) PutPrekeys(keys []Prekey) error {
	sealed := make([][]byte, len(keys))
	for i, k := range keys {
		if k.Kind < PrekeySigned || k.Kind > PrekeyKEMOneTime || len(k.Private) == 0 {
			return fmt.Errorf("store: put prekeys: bad prekey kind %d with %d bytes", k.Kind, len(k.Private))
		}
		var err error
		if sealed[i], err = s.sealSecret(k.Private, prekeyWhere(k.Kind, k.ID)...); err != nil {
			return fmt.Errorf("store: put prekeys: %w", err)
		}
	}
	err := s.db.Tx(func(tx *sql.Tx) error {
		for i, k := range keys {
			if _, err := tx.Exec(`INSERT INTO prekeys (kind, id, private, created) VALUES (?, ?, ?, ?)`,
				int(k.Kind), int64(k.ID), sealed[i], k.Created.UnixNano()); err != nil {
				return fmt.Errorf("prekey %d/%d: %w", k.Kind, k.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put prekeys: %w", err)
	}
	return nil
}

// Prekey returns one prekey; ErrNotFound when there is none (a one-time
// key already used).
func (s *Store) Prekey(kind PrekeyKind, id uint32) (Prekey, error) {
	var sealed []byte
	var created int64
	err := s.db.QueryRow(`SELECT private, created FROM prekeys WHERE kind = ? AND id = ?`, int(kind), int64(id)).Scan(&sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Prekey{}, fmt.Errorf("store: prekey %d/%d: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return Prekey{}, fmt.Errorf("store: prekey %d/%d: %w", kind, id, err)
	}
	priv, err := s.openSecret(sealed, prekeyWhere(kind, id)...)
	if err != nil {
		return Prekey{}, fmt.Errorf("store: prekey %d/%d: %w", kind, id, err)
	}
	return Prekey{Kind: kind, ID: id, Private: priv, Created: time.Unix(0, created)}, nil
}

// TakePrekey returns a prekey and deletes it, in one transaction: a
// one-time key serves one session start, even if the same start is
// replayed or two race.
func (s *Store) TakePrekey(kind PrekeyKind, id uint32) (Prekey, error) {
	var sealed []byte
	var created int64
	err := s.db.Tx(func(tx *sql.Tx) error {
		err := tx.QueryRow(`SELECT private, created FROM prekeys WHERE kind = ? AND id = ?`, int(kind), int64(id)).Scan(&sealed, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM prekeys WHERE kind = ? AND id = ?`, int(kind), int64(id))
		return err
	})
	if err != nil {
		return Prekey{}, fmt.Errorf("store: take prekey %d/%d: %w", kind, id, err)
	}
	priv, err := s.openSecret(sealed, prekeyWhere(kind, id)...)
	if err != nil {
		return Prekey{}, fmt.Errorf("store: take prekey %d/%d: %w", kind, id, err)
	}
	return Prekey{Kind: kind, ID: id, Private: priv, Created: time.Unix(0, created)}, nil
}

// Prekeys lists the IDs of the stored prekeys of kind, oldest first.
func (s *Store) Prekeys(kind PrekeyKind) ([]uint32, error) {
	rows, err := s.db.Query(`SELECT id FROM prekeys WHERE kind = ? ORDER BY created, id`, int(kind))
	if err != nil {
		return nil, fmt.Errorf("store: prekeys: %w", err)
	}
	defer rows.Close()
	var ids []uint32
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: prekeys: %w", err)
		}
		ids = append(ids, uint32(id))
	}
	return ids, rows.Err()
}

// DeletePrekey removes a prekey (a retired signed prekey past its grace
// period, with the init messages accepted under it). Deleting one that is
// not there is not an error.
func (s *Store) DeletePrekey(kind PrekeyKind, id uint32) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM prekeys WHERE kind = ? AND id = ?`, int(kind), int64(id)); err != nil {
			return err
		}
		if kind == PrekeySigned {
			if _, err := tx.Exec(`DELETE FROM e2e_inits WHERE signed_id = ?`, int64(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete prekey: %w", err)
	}
	return nil
}

// ErrReplayed is ConsumeInit's answer for an init message accepted before.
var ErrReplayed = errors.New("store: session start already accepted")

// ConsumeInit records, in one transaction, that the init message initID
// made for signed prekey signedID was accepted, and deletes the one-time
// prekeys it used: X25519 (if oneTime is not nil) and ML-KEM (if oneTimeKEM
// is not nil). It fails with ErrReplayed if initID was accepted before and
// with ErrNotFound if a one-time prekey is gone; then nothing changes. Of
// two racing calls for one init message, exactly one succeeds, and of two
// init messages naming one one-time prekey, at most one.
func (s *Store) ConsumeInit(initID []byte, signedID uint32, oneTime, oneTimeKEM *uint32) error {
	if len(initID) != 32 {
		return fmt.Errorf("store: consume init: ID of %d bytes", len(initID))
	}
	err := s.db.Tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO e2e_inits (signed_id, init_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, int64(signedID), initID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrReplayed
		}
		for _, k := range []struct {
			kind PrekeyKind
			id   *uint32
		}{{PrekeyOneTime, oneTime}, {PrekeyKEMOneTime, oneTimeKEM}} {
			if k.id == nil {
				continue
			}
			res, err := tx.Exec(`DELETE FROM prekeys WHERE kind = ? AND id = ?`, int(k.kind), int64(*k.id))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return ErrNotFound
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: consume init: %w", err)
	}
	return nil
}

// Pin is a contact's device we have spoken to through the ratchet (see
// PinRatchet), with the last verified bundle of it we kept, if any.
type Pin struct {
	PeerID  string
	Bundle  []byte    // nil when we never fetched one
	Fetched time.Time // when Bundle was fetched
}

// PinRatchet records that we have had a ratchet session with peerID's
// device: from now on it is never sealed to with static keys. Pinning a
// pinned device changes nothing.
func (s *Store) PinRatchet(peerID string) error {
	if peerID == "" {
		return errors.New("store: pin: no peer")
	}
	if _, err := s.db.Exec(`INSERT INTO e2e_pins (peer_id) VALUES (?) ON CONFLICT DO NOTHING`, peerID); err != nil {
		return fmt.Errorf("store: pin: %w", err)
	}
	return nil
}

// KeepBundle pins peerID's device and keeps bundle (public, verified by
// the caller, without one-time keys) as its last known one, fetched at
// fetched.
func (s *Store) KeepBundle(peerID string, bundle []byte, fetched time.Time) error {
	if peerID == "" || len(bundle) == 0 {
		return errors.New("store: keep bundle: no peer or no bundle")
	}
	_, err := s.db.Exec(`INSERT INTO e2e_pins (peer_id, bundle, fetched) VALUES (?, ?, ?)
		ON CONFLICT (peer_id) DO UPDATE SET bundle = excluded.bundle, fetched = excluded.fetched`,
		peerID, bundle, fetched.UnixNano())
	if err != nil {
		return fmt.Errorf("store: keep bundle: %w", err)
	}
	return nil
}

// Pinned returns peerID's pin: ErrNotFound when we never spoke to its
// device through the ratchet.
func (s *Store) Pinned(peerID string) (Pin, error) {
	p := Pin{PeerID: peerID}
	var fetched int64
	err := s.db.QueryRow(`SELECT bundle, fetched FROM e2e_pins WHERE peer_id = ?`, peerID).Scan(&p.Bundle, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return Pin{}, fmt.Errorf("store: pin of %s: %w", peerID, ErrNotFound)
	}
	if err != nil {
		return Pin{}, fmt.Errorf("store: pin of %s: %w", peerID, err)
	}
	if p.Bundle != nil {
		p.Fetched = time.Unix(0, fetched)
	}
	return p, nil
}
