// Package backup seals a user's contact list so that supernodes can keep it
// for the user's other devices and for a reinstall without being able to
// read it (supernode/client.PutContacts, supernode/client.GetContacts).
//
// The key comes from OPAQUE's export key (login.Result.ExportKey), which
// every device that knows the password recomputes and the auth server never
// sees; DeriveKey turns it into the backup key with HKDF-SHA256. A blob is
//
//	format (1 byte) || version (8 bytes, big endian) || nonce (24 bytes) || XChaCha20-Poly1305 ciphertext
//
// over the ContactBackup protobuf (node/wire), padded to a bucket size so a
// supernode learns only roughly how long the list is. The associated data
// binds the format, the version and the owner's username: a blob cannot be
// passed off as another user's, and a supernode cannot change the version
// it is filed under. A supernode can still answer with an older blob it once
// stored under its true older version, so a restoring device asks all its
// homes and keeps the highest version that opens.
//
// No network code here: the caller moves blobs.
package backup

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// KeySize is the size of a backup key.
const KeySize = chacha20poly1305.KeySize

// keyLabel is the HKDF info that makes the backup key; a new format of
// backup gets a new label, so the export key is never used twice alike.
const keyLabel = "eserver-contacts-v1"

// format is the first byte of every blob this version writes.
const format byte = 1

const (
	headerSize = 1 + 8 + chacha20poly1305.NonceSizeX
	// Overhead is what sealing adds to the padded plaintext.
	Overhead = headerSize + chacha20poly1305.Overhead
)

// MaxVersion is the highest version a blob may carry: supernodes keep
// versions as SQLite integers.
const MaxVersion = math.MaxInt64

// Errors callers branch on.
var (
	// ErrOpen means a blob did not authenticate: a wrong key (another
	// password, another account), another user's blob, or tampering.
	// Callers cannot and should not tell these apart.
	ErrOpen = errors.New("backup: blob does not open with this key and username")
	// ErrMalformed means a blob is too short or of an unknown format, or
	// its authenticated content does not decode.
	ErrMalformed = errors.New("backup: malformed blob")
	// ErrTooLarge means the list does not fit in wire.MaxContactsBlob.
	ErrTooLarge = errors.New("backup: contact list too large")
	// ErrVersion means a version outside 1..MaxVersion.
	ErrVersion = errors.New("backup: version out of range")
	// ErrKey means a key or export key of the wrong size.
	ErrKey = errors.New("backup: bad key")
)

// Entry is one contact as the backup keeps it: enough to rebuild the contact
// list and the visibility tokens on a new device. Presence, nicks and
// history are not backed up; they come back from the contacts themselves.
type Entry struct {
	Username   string
	Relation   string // as node/store keeps it: accepted, pending-in, pending-out, blocked, ...
	MyToken    []byte // the visibility token we gave the contact
	TheirToken []byte // the visibility token the contact gave us
	PeerID     string // the contact's last known device, text form
	// Group and Alias are how the owner arranged the list: kept, as MSN
	// kept groups on its servers, so a new device shows the same list.
	Group, Alias string
}

// DeriveKey returns the backup key for an OPAQUE export key: HKDF-SHA256
// with the label "eserver-contacts-v1". The export key must be at least 32
// bytes (OPAQUE's are 64).
func DeriveKey(exportKey []byte) ([]byte, error) {
	if len(exportKey) < 32 {
		return nil, fmt.Errorf("%w: export key of %d bytes", ErrKey, len(exportKey))
	}
	k, err := hkdf.Key(sha256.New, exportKey, nil, keyLabel, KeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving backup key: %w", err)
	}
	return k, nil
}

// Seal encrypts list as version of username's contact list under key (from
// DeriveKey). Versions must grow with every change: supernodes keep only a
// blob with a higher version than the one they hold.
func Seal(key []byte, username string, version uint64, list []Entry) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if version == 0 || version > MaxVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	msg := &wire.ContactBackup{Entries: make([]*wire.ContactBackupEntry, 0, len(list))}
	for _, e := range list {
		msg.Entries = append(msg.Entries, &wire.ContactBackupEntry{
			Username: e.Username, Relation: e.Relation,
			MyToken: e.MyToken, TheirToken: e.TheirToken, PeerId: e.PeerID,
			Group: e.Group, Alias: e.Alias,
		})
	}
	plain, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding contact list: %w", err)
	}
	if len(plain)+1 > wire.MaxContactsPlain {
		return nil, fmt.Errorf("%w: %d entries take %d bytes, limit %d", ErrTooLarge, len(list), len(plain), wire.MaxContactsPlain-1)
	}
	padded := pad(plain)
	blob := make([]byte, headerSize, headerSize+len(padded)+chacha20poly1305.Overhead)
	blob[0] = format
	binary.BigEndian.PutUint64(blob[1:9], version)
	if _, err := rand.Read(blob[9:headerSize]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(blob, blob[9:headerSize], padded, associatedData(blob[:9], username)), nil
}

// Open decrypts a blob made by Seal for username under key and returns its
// version and list. It fails with ErrOpen when the key, the username or any
// byte of the blob differs from what Seal was given, so a supernode cannot
// hand one user's list to another or relabel its version.
func Open(key []byte, username string, blob []byte) (version uint64, list []Entry, err error) {
	aead, err := newAEAD(key)
	if err != nil {
		return 0, nil, err
	}
	if len(blob) < Overhead {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(blob))
	}
	if len(blob) > wire.MaxContactsBlob {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(blob), wire.MaxContactsBlob)
	}
	if blob[0] != format {
		return 0, nil, fmt.Errorf("%w: format %d", ErrMalformed, blob[0])
	}
	padded, err := aead.Open(nil, blob[9:headerSize], blob[headerSize:], associatedData(blob[:9], username))
	if err != nil {
		return 0, nil, ErrOpen
	}
	version = binary.BigEndian.Uint64(blob[1:9])
	if version == 0 || version > MaxVersion {
		return 0, nil, fmt.Errorf("%w: %w: %d", ErrMalformed, ErrVersion, version)
	}
	list, err = decode(padded)
	if err != nil {
		return 0, nil, err
	}
	return version, list, nil
}

// decode unpads and decodes an authenticated plaintext.
func decode(padded []byte) ([]Entry, error) {
	plain, err := unpad(padded)
	if err != nil {
		return nil, err
	}
	var msg wire.ContactBackup
	if err := proto.Unmarshal(plain, &msg); err != nil {
		return nil, fmt.Errorf("%w: decoding contact list: %v", ErrMalformed, err)
	}
	list := make([]Entry, 0, len(msg.GetEntries()))
	for _, e := range msg.GetEntries() {
		list = append(list, Entry{
			Username: e.GetUsername(), Relation: e.GetRelation(),
			MyToken: e.GetMyToken(), TheirToken: e.GetTheirToken(), PeerID: e.GetPeerId(),
			Group: e.GetGroup(), Alias: e.GetAlias(),
		})
	}
	return list, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKey, len(key), KeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return aead, nil
}

// associatedData binds the label, the clear header (format and version) and
// the owner's username into the tag. The username goes last, so no length
// prefix is needed for it to be unambiguous.
func associatedData(header []byte, username string) []byte {
	ad := make([]byte, 0, len(keyLabel)+1+len(header)+len(username))
	ad = append(ad, keyLabel...)
	ad = append(ad, 0)
	ad = append(ad, header...)
	return append(ad, username...)
}
