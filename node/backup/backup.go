// Package backup seals the account's synced state — its contact list and
// the rooms it joined — so that supernodes can keep it for the account's
// other devices and for a reinstall without being able to read it
// (supernode/client.PutContacts, supernode/client.GetContactsIfChanged),
// and merges the states of several devices (state.go).
//
// # What is synced and what is not
//
// What belongs to the account travels in the blob and reaches every device
// signed in to it (node/contacts polls the homes for it):
//
//   - each contact's relation (accepted, asked, blocked; removed contacts
//     as tombstones for TombstoneTTL) and, while blocked, the relation
//     before the block, so an unblock on any device restores it;
//   - the visibility tokens given and received, and the contact's last
//     known device;
//   - the group each contact is filed under and the name given to it;
//   - the rooms joined (with their keys), and rooms left lately.
//
// What belongs to the computer stays in its profile and is never in the
// blob: the download folder, the ports listened on, the supernode opt-in
// and bandwidth cap, window positions, theme and language, remembered
// sign-in, the device's own keys and sessions, the history kept here, and
// requests not yet answered (a stranger's words are shown where they
// arrived; answering on any device syncs the answer). Presence, nicks and
// pictures are not backed up either: they come back from the contacts.
//
// # Merging
//
// Every field carries the time of its last change (a Stamp from a Clock
// that never runs behind a change it has seen). Merge takes, field by
// field, the newest change, so concurrent edits on two devices keep both
// (a rename here, a new group there), a block or an unblock made anywhere
// applies everywhere, a removal stays a removal until a newer re-add, and
// a relation changed by the network (a contact accepting us) is never
// reverted by an older list. Blobs written before change times were kept
// open and merge with zero times: older than any change.
//
// # Sealing
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
// stored under its true older version; since a device merges every blob
// that opens rather than choosing one, an older blob adds nothing newer
// than what the device holds.
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
	// PrevRelation is, while blocked, the relation before the block.
	PrevRelation string
	// When each field last changed (0: before change times were kept).
	// RelationAt covers Relation and PrevRelation.
	RelationAt, MyTokenAt, TheirTokenAt, PeerIDAt, GroupAt, AliasAt Stamp
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

// Seal encrypts st as version of username's synced state under key (from
// DeriveKey). Versions should grow with every change, so a device can tell
// the newest of its homes' blobs apart.
func Seal(key []byte, username string, version uint64, st State) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if version == 0 || version > MaxVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	plain, err := proto.Marshal(st.message())
	if err != nil {
		return nil, fmt.Errorf("encoding contact list: %w", err)
	}
	if len(plain)+1 > wire.MaxContactsPlain {
		return nil, fmt.Errorf("%w: %d entries and %d rooms take %d bytes, limit %d", ErrTooLarge, len(st.Entries), len(st.Rooms), len(plain), wire.MaxContactsPlain-1)
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
// version and state. It fails with ErrOpen when the key, the username or any
// byte of the blob differs from what Seal was given, so a supernode cannot
// hand one user's list to another or relabel its version.
func Open(key []byte, username string, blob []byte) (version uint64, st State, err error) {
	aead, err := newAEAD(key)
	if err != nil {
		return 0, State{}, err
	}
	if len(blob) < Overhead {
		return 0, State{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(blob))
	}
	if len(blob) > wire.MaxContactsBlob {
		return 0, State{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(blob), wire.MaxContactsBlob)
	}
	if blob[0] != format {
		return 0, State{}, fmt.Errorf("%w: format %d", ErrMalformed, blob[0])
	}
	padded, err := aead.Open(nil, blob[9:headerSize], blob[headerSize:], associatedData(blob[:9], username))
	if err != nil {
		return 0, State{}, ErrOpen
	}
	version = binary.BigEndian.Uint64(blob[1:9])
	if version == 0 || version > MaxVersion {
		return 0, State{}, fmt.Errorf("%w: %w: %d", ErrMalformed, ErrVersion, version)
	}
	st, err = decode(padded)
	if err != nil {
		return 0, State{}, err
	}
	return version, st, nil
}

// decode unpads and decodes an authenticated plaintext.
func decode(padded []byte) (State, error) {
	plain, err := unpad(padded)
	if err != nil {
		return State{}, err
	}
	return Unmarshal(plain)
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
