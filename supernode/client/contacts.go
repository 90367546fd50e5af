package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// MaxContactsVersion is the highest version a blob may be stored under
// (SQLite integers are signed 64-bit).
const MaxContactsVersion = math.MaxInt64

// ErrStale is what PutContacts returns (as a *StaleError) when the
// supernode holds another blob than the one the put replaces: get it,
// merge, and put again replacing it.
var ErrStale = errors.New("contacts: another list is stored than the one replaced")

// StaleError is PutContacts' refusal of a put that does not replace the
// stored blob. errors.Is(err, ErrStale) holds for it.
type StaleError struct {
	Stored uint64 // the version the supernode holds
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%v (version %d)", ErrStale, e.Stored)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// ContactsHash is the SHA-256 of a stored blob, which a put names as the
// blob it replaces (PutContacts).
func ContactsHash(blob []byte) []byte {
	h := sha256.Sum256(blob)
	return h[:]
}

// PutContacts stores blob, sealed by the caller (node/backup), as version of
// the contact list of t's owner (h) at the supernode sn, replacing the blob
// whose ContactsHash is replaces — the one the caller last got from sn, or
// nil when sn held none. It returns nil once the supernode has stored it
// durably, or when exactly these bytes were already stored (a retry). When
// sn holds another blob it returns a *StaleError (errors.Is(err, ErrStale))
// naming that blob's version: get it, merge, and put again replacing it. A
// full supernode (all accounts' lists together) answers ErrFull. The caller
// has already connected h to sn.
func PutContacts(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket, version uint64, replaces, blob []byte) error {
	if version == 0 || version > MaxContactsVersion || len(blob) == 0 || len(blob) > wire.MaxContactsBlob ||
		(len(replaces) != 0 && len(replaces) != sha256.Size) {
		return fmt.Errorf("putting contacts: %w: version %d, blob of %d bytes (limit %d), replacing a hash of %d bytes",
			ErrBadRequest, version, len(blob), wire.MaxContactsBlob, len(replaces))
	}
	resp, err := Call[*wire.ContactsResponse](ctx, h, sn, wire.ProtoContacts, &wire.ContactsRequest{
		Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{Ticket: t, Version: version, Blob: blob, Replaces: replaces}},
	})
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("putting contacts: %w", &StaleError{Stored: resp.GetVersion()})
	}
	if err != nil {
		return fmt.Errorf("putting contacts: %w", err)
	}
	return nil
}

// GetContacts returns the latest contact-list blob of t's owner (h) stored at
// sn and its version; found is false when sn holds none. The blob is as the
// owner sealed it, or so the supernode claims: open it with backup.Open,
// which also checks the version, and prefer the highest version among the
// owner's homes. Put a new list replacing ContactsHash(blob).
func GetContacts(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket) (version uint64, blob []byte, found bool, err error) {
	version, blob, found, _, err = GetContactsIfChanged(ctx, h, sn, t, nil)
	return version, blob, found, err
}

// GetContactsIfChanged is GetContacts for a device that holds the blob
// whose ContactsHash is known (nil: none): when sn still stores that blob
// it answers unchanged, with no blob, in one short round trip. A supernode
// that predates the shortcut sends the blob; unchanged is then worked out
// here, so callers see one behaviour.
func GetContactsIfChanged(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket, known []byte) (version uint64, blob []byte, found, unchanged bool, err error) {
	if len(known) != 0 && len(known) != sha256.Size {
		return 0, nil, false, false, fmt.Errorf("getting contacts: %w: known hash of %d bytes", ErrBadRequest, len(known))
	}
	resp, err := Call[*wire.ContactsResponse](ctx, h, sn, wire.ProtoContacts, &wire.ContactsRequest{
		Kind: &wire.ContactsRequest_Get{Get: &wire.ContactsGet{Ticket: t, Known: known}},
	})
	if err != nil {
		return 0, nil, false, false, fmt.Errorf("getting contacts: %w", err)
	}
	if !resp.GetFound() {
		return 0, nil, false, false, nil
	}
	if resp.GetUnchanged() {
		if len(known) == 0 || resp.GetVersion() == 0 {
			return 0, nil, false, false, fmt.Errorf("getting contacts: malformed answer: unchanged from no blob, version %d", resp.GetVersion())
		}
		return resp.GetVersion(), nil, true, true, nil
	}
	if resp.GetVersion() == 0 || len(resp.GetBlob()) == 0 || len(resp.GetBlob()) > wire.MaxContactsBlob {
		return 0, nil, false, false, fmt.Errorf("getting contacts: malformed answer: version %d, blob of %d bytes",
			resp.GetVersion(), len(resp.GetBlob()))
	}
	return resp.GetVersion(), resp.GetBlob(), true, len(known) != 0 && bytes.Equal(ContactsHash(resp.GetBlob()), known), nil
}
