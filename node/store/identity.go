package store

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Identity is this device's private key material.
type Identity struct {
	DeviceKey []byte // libp2p crypto.MarshalPrivateKey bytes
	BoxKey    []byte // X25519 private key, 32 bytes
	// StorageKey (32 bytes) seals every other secret in the database
	// (end-to-end sessions, prekeys): see Unlock. It lives only inside the
	// password-sealed identity, so changing the password (Reseal) re-seals
	// them all at once. Identities written before it existed have none;
	// the node adds one (Rewrap) at its next sign-in.
	StorageKey []byte
}

// KDF parameters for new seals. A desktop app stretches the password once
// per sign-in, so it affords far more than OWASP's minimum for servers
// (t=2, m=19 MiB, which seals before 2026-12 used): the threat is an offline
// guessing attack on a stolen disk. The parameters are stored with each seal;
// Strengthen re-seals an older, weaker one at the next sign-in.
const (
	kdfName      = "argon2id"
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 1
	saltLen      = 16

	// Bounds on stored parameters, checked before running the KDF so a
	// corrupt row cannot make us allocate unbounded memory.
	maxArgonTime   = 64
	maxArgonMemory = 4 << 20 // KiB = 4 GiB
	maxArgonThread = 255

	identityLabel    = "eserver-identity-v1"
	identityFormat   = 2 // 1: device and box key only
	maxIdentityField = 4 << 10
)

type sealedIdentity struct {
	kdf     string
	salt    []byte
	time    uint32
	memory  uint32
	threads uint8
	nonce   []byte
	sealed  []byte
}

// CreateIdentity seals id under password and stores it. It fails with
// ErrIdentityExists when one is already stored.
func (s *Store) CreateIdentity(password []byte, id Identity) error {
	if len(id.DeviceKey) == 0 || len(id.DeviceKey) > maxIdentityField {
		return fmt.Errorf("store: create identity: device key of %d bytes", len(id.DeviceKey))
	}
	if len(id.BoxKey) != 32 {
		return fmt.Errorf("store: create identity: box key of %d bytes, want 32", len(id.BoxKey))
	}
	if len(id.StorageKey) != StorageKeySize {
		return fmt.Errorf("store: create identity: storage key of %d bytes, want %d", len(id.StorageKey), StorageKeySize)
	}
	si, err := seal(password, id)
	if err != nil {
		return fmt.Errorf("store: create identity: %w", err)
	}
	_, err = s.db.Exec(`INSERT INTO identity (id, kdf, salt, time, memory, threads, nonce, sealed)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
		si.kdf, si.salt, si.time, si.memory, si.threads, si.nonce, si.sealed)
	if isPrimaryKeyViolation(err) {
		return fmt.Errorf("store: create identity: %w", ErrIdentityExists)
	}
	if err != nil {
		return fmt.Errorf("store: create identity: %w", err)
	}
	return nil
}

// Identity unseals the stored identity with password. It returns
// ErrNoIdentity when none is stored and ErrWrongPassword when the password
// does not open it.
func (s *Store) Identity(password []byte) (Identity, error) {
	si, err := readIdentity(s.db)
	if err != nil {
		return Identity{}, fmt.Errorf("store: identity: %w", err)
	}
	id, err := si.open(password)
	if err != nil {
		return Identity{}, fmt.Errorf("store: identity: %w", err)
	}
	return id, nil
}

// Reseal re-encrypts the stored identity under newPassword, with a fresh salt
// and the current KDF parameters. It returns ErrWrongPassword when
// oldPassword does not open it.
func (s *Store) Reseal(oldPassword, newPassword []byte) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		si, err := readIdentity(tx)
		if err != nil {
			return err
		}
		id, err := si.open(oldPassword)
		if err != nil {
			return err
		}
		defer clear(id.DeviceKey)
		defer clear(id.BoxKey)
		defer clear(id.StorageKey)
		n, err := seal(newPassword, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE identity SET kdf = ?, salt = ?, time = ?, memory = ?, threads = ?, nonce = ?, sealed = ?
			WHERE id = 1`, n.kdf, n.salt, n.time, n.memory, n.threads, n.nonce, n.sealed)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: reseal identity: %w", err)
	}
	return nil
}

// Rewrap replaces the stored identity with id, sealed under password, which
// must open the stored one (ErrWrongPassword otherwise). The node uses it to
// add a storage key to an identity from before storage keys; the device and
// box keys must stay the same.
func (s *Store) Rewrap(password []byte, id Identity) error {
	if len(id.StorageKey) != StorageKeySize {
		return fmt.Errorf("store: rewrap identity: storage key of %d bytes, want %d", len(id.StorageKey), StorageKeySize)
	}
	err := s.db.Tx(func(tx *sql.Tx) error {
		si, err := readIdentity(tx)
		if err != nil {
			return err
		}
		old, err := si.open(password)
		if err != nil {
			return err
		}
		if !bytes.Equal(old.DeviceKey, id.DeviceKey) || !bytes.Equal(old.BoxKey, id.BoxKey) {
			return errors.New("device or box key differs from the stored one")
		}
		if len(old.StorageKey) != 0 && !bytes.Equal(old.StorageKey, id.StorageKey) {
			// Replacing it would orphan every secret sealed with the old one.
			return errors.New("a different storage key is already stored")
		}
		n, err := seal(password, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE identity SET kdf = ?, salt = ?, time = ?, memory = ?, threads = ?, nonce = ?, sealed = ?
			WHERE id = 1`, n.kdf, n.salt, n.time, n.memory, n.threads, n.nonce, n.sealed)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: rewrap identity: %w", err)
	}
	return nil
}

// Strengthen re-seals the stored identity under the same password with the
// current KDF parameters when it was sealed with weaker ones, and reports
// whether it did. The node calls it at sign-in, once the password opened
// the identity, so profiles from older releases get the stronger stretching
// without asking the user for anything.
func (s *Store) Strengthen(password []byte) (bool, error) {
	si, err := readIdentity(s.db)
	if err != nil {
		return false, fmt.Errorf("store: strengthen identity: %w", err)
	}
	if !si.weak() {
		return false, nil
	}
	if err := s.Reseal(password, password); err != nil {
		return false, fmt.Errorf("store: strengthen identity: %w", err)
	}
	return true, nil
}

// weak reports whether si was sealed with less stretching than seal uses now.
func (si sealedIdentity) weak() bool {
	return si.time < argonTime || si.memory < argonMemory || len(si.salt) < saltLen
}

// A password change is staged, then committed, so that a crash between the
// auth server's change and ours leaves an identity that opens with the
// password the server ended up with (see migration 007):
//
//	StagePassword(old, new)  // the identity sealed under new, beside the current one
//	... the auth server changes the password ...
//	CommitPassword()         // the staged seal becomes the identity
//
// At sign-in, OpenIdentity tries the current seal, then the staged one; the
// node commits the staged one once the server accepted that password, and
// drops it once the server accepted the current one.

// StagePassword seals the identity under newPassword beside the current
// seal, which oldPassword must open (ErrWrongPassword otherwise).
func (s *Store) StagePassword(oldPassword, newPassword []byte) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		si, err := readIdentity(tx)
		if err != nil {
			return err
		}
		id, err := si.open(oldPassword)
		if err != nil {
			return err
		}
		defer clear(id.DeviceKey)
		defer clear(id.BoxKey)
		defer clear(id.StorageKey)
		n, err := seal(newPassword, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT OR REPLACE INTO identity_pending (id, kdf, salt, time, memory, threads, nonce, sealed)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?)`, n.kdf, n.salt, n.time, n.memory, n.threads, n.nonce, n.sealed)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: stage password: %w", err)
	}
	return nil
}

// CommitPassword makes the staged seal the identity. It returns
// ErrNotFound when nothing is staged.
func (s *Store) CommitPassword() error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE identity SET (kdf, salt, time, memory, threads, nonce, sealed) =
			(SELECT kdf, salt, time, memory, threads, nonce, sealed FROM identity_pending WHERE id = 1)
			WHERE id = 1 AND EXISTS (SELECT 1 FROM identity_pending WHERE id = 1)`)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(`DELETE FROM identity_pending`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: commit password: %w", err)
	}
	return nil
}

// DropStagedPassword forgets a staged seal (the change did not happen).
func (s *Store) DropStagedPassword() error {
	if _, err := s.db.Exec(`DELETE FROM identity_pending`); err != nil {
		return fmt.Errorf("store: drop staged password: %w", err)
	}
	return nil
}

// OpenIdentity is Identity, except that when password does not open the
// current seal but opens a staged one, it returns that identity with
// staged true: a password change whose end we did not see.
func (s *Store) OpenIdentity(password []byte) (id Identity, staged bool, err error) {
	id, err = s.Identity(password)
	if !errors.Is(err, ErrWrongPassword) {
		return id, false, err
	}
	si, perr := readSealed(s.db, "identity_pending")
	if perr != nil {
		return Identity{}, false, err // nothing staged: the wrong password it is
	}
	pid, perr := si.open(password)
	if perr != nil {
		return Identity{}, false, err
	}
	return pid, true, nil
}

type queryRower interface {
	QueryRow(query string, args ...any) *sql.Row
}

func readIdentity(q queryRower) (sealedIdentity, error) {
	return readSealed(q, "identity")
}

// readSealed reads the sealed identity in table (identity or
// identity_pending).
func readSealed(q queryRower, table string) (sealedIdentity, error) {
	var si sealedIdentity
	var t, m, th int64
	err := q.QueryRow(`SELECT kdf, salt, time, memory, threads, nonce, sealed FROM `+table+` WHERE id = 1`).
		Scan(&si.kdf, &si.salt, &t, &m, &th, &si.nonce, &si.sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return si, ErrNoIdentity
	}
	if err != nil {
		return si, err
	}
	if si.kdf != kdfName || t < 1 || t > maxArgonTime || m < 8 || m > maxArgonMemory || th < 1 || th > maxArgonThread {
		return si, fmt.Errorf("unsupported KDF %s t=%d m=%d p=%d", si.kdf, t, m, th)
	}
	if len(si.salt) < 8 || len(si.nonce) != chacha20poly1305.NonceSizeX || len(si.sealed) < chacha20poly1305.Overhead {
		return si, errors.New("corrupt sealed identity")
	}
	si.time, si.memory, si.threads = uint32(t), uint32(m), uint8(th)
	return si, nil
}

// seal encrypts id under a key derived from password with the current parameters.
func seal(password []byte, id Identity) (sealedIdentity, error) {
	return sealIdentityWith(password, id, argonTime, argonMemory)
}

// sealIdentityWith is seal with the given Argon2id time and memory (KiB); tests
// use it to write a seal as an older release did.
func sealIdentityWith(password []byte, id Identity, time, memory uint32) (sealedIdentity, error) {
	si := sealedIdentity{
		kdf:     kdfName,
		salt:    make([]byte, saltLen),
		time:    time,
		memory:  memory,
		threads: argonThreads,
		nonce:   make([]byte, chacha20poly1305.NonceSizeX),
	}
	if _, err := rand.Read(si.salt); err != nil {
		return si, err
	}
	if _, err := rand.Read(si.nonce); err != nil {
		return si, err
	}
	key := si.key(password)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return si, err
	}
	plain := encodeIdentity(id)
	defer clear(plain)
	si.sealed = aead.Seal(nil, si.nonce, plain, si.ad())
	return si, nil
}

func (si sealedIdentity) key(password []byte) []byte {
	return argon2.IDKey(password, si.salt, si.time, si.memory, si.threads, chacha20poly1305.KeySize)
}

// ad binds the KDF parameters to the ciphertext.
func (si sealedIdentity) ad() []byte {
	ad := []byte(identityLabel)
	ad = append(ad, 0)
	ad = append(ad, si.kdf...)
	ad = append(ad, 0)
	ad = append(ad, si.salt...)
	ad = binary.BigEndian.AppendUint32(ad, si.time)
	ad = binary.BigEndian.AppendUint32(ad, si.memory)
	return append(ad, si.threads)
}

func (si sealedIdentity) open(password []byte) (Identity, error) {
	key := si.key(password)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return Identity{}, err
	}
	plain, err := aead.Open(nil, si.nonce, si.sealed, si.ad())
	if err != nil {
		return Identity{}, ErrWrongPassword
	}
	defer clear(plain)
	return decodeIdentity(plain)
}

// encodeIdentity: format byte, then each field as uvarint length and bytes.
func encodeIdentity(id Identity) []byte {
	b := []byte{identityFormat}
	for _, f := range [][]byte{id.DeviceKey, id.BoxKey, id.StorageKey} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeIdentity reads format 2, and format 1 (no storage key).
func decodeIdentity(b []byte) (Identity, error) {
	if len(b) < 1 || (b[0] != identityFormat && b[0] != 1) {
		return Identity{}, errors.New("unknown identity format")
	}
	format := b[0]
	b = b[1:]
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > maxIdentityField || n > uint64(len(b)-k) {
			return nil, errors.New("corrupt identity")
		}
		f := append([]byte(nil), b[k:k+int(n)]...)
		b = b[k+int(n):]
		return f, nil
	}
	var id Identity
	var err error
	if id.DeviceKey, err = field(); err != nil {
		return Identity{}, err
	}
	if id.BoxKey, err = field(); err != nil {
		return Identity{}, err
	}
	if format >= 2 {
		if id.StorageKey, err = field(); err != nil {
			return Identity{}, err
		}
		if len(id.StorageKey) != StorageKeySize {
			return Identity{}, errors.New("corrupt identity: storage key size")
		}
	}
	if len(b) != 0 {
		return Identity{}, errors.New("corrupt identity: trailing bytes")
	}
	return id, nil
}
