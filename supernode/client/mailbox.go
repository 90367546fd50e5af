package client

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

// MailboxIDSize is the length of a mailbox ID.
const MailboxIDSize = sha256.Size

// mailboxDomain separates mailbox IDs from any other hash of a username;
// deviceMailboxDomain separates device mailbox IDs from them. The two labels
// differ in their ninth byte, so no input of one hash is an input of the
// other: a device mailbox ID never equals an account's mailbox ID.
const (
	mailboxDomain       = "eserver-mailbox-v1"
	deviceMailboxDomain = "eserver-device-mailbox-v1"
)

// MaxMailAck is the most seqs one ack may name: more than a mailbox can hold
// is never needed. AckMail splits longer lists.
const MaxMailAck = wire.MailboxQuota

// Errors callers branch on (with ErrUnauthorized and ErrBadRequest).
var (
	ErrQuota = errors.New("supernode: mailbox over quota")
	// ErrNotHome means the supernode is not among the mailbox's homes (as
	// it computes them from the live supernodes): put the item at the
	// mailbox's homes, UserHomes.
	ErrNotHome    = errors.New("supernode: not a home of this mailbox")
	ErrBadPadding = errors.New("mailbox: bad padding")
)

// MailboxID is the mailbox of username on the network of the auth server
// server: SHA-256 over a domain label, the server's peer ID bytes, a 0 byte
// and the username. Senders and the owner compute it alike; the supernode
// stores only this hash, never the name.
func MailboxID(server peer.ID, username string) []byte {
	h := sha256.New()
	h.Write([]byte(mailboxDomain))
	h.Write([]byte(server))
	h.Write([]byte{0})
	h.Write([]byte(username))
	return h.Sum(nil)
}

// DeviceMailboxID is the mailbox of one device of username: SHA-256 over
// another domain label and the server's peer ID, the username and the
// device's peer ID, each prefixed by its length (so no two triples hash the
// same input). Mail sealed for one device only goes there.
//
// An account has one mailbox (MailboxID), which every device of it may
// drain, and each device one more: a supernode answers a device's fetch
// from both, in one seq order, and lets its acks delete from both and no
// other. A device mailbox lives at its account's homes (UserHomes), not at
// homes of its own ID, so that one fetch per home drains both: a put into
// one names the account's mailbox as its home (MailConn.PutDevice).
func DeviceMailboxID(server peer.ID, username string, device peer.ID) []byte {
	h := sha256.New()
	h.Write([]byte(deviceMailboxDomain))
	var n [binary.MaxVarintLen64]byte
	for _, f := range []string{string(server), username, string(device)} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// PutMail leaves item, sealed and padded by the caller (see Pad), in mailbox
// at the supernode sn, presenting the sender's ticket t (which must be h's).
// It returns the item's seq once the supernode has stored it durably.
// The caller has already connected h to sn. It opens a stream for this one
// request; a MailConn keeps one open for many.
func PutMail(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket, mailbox, item []byte) (uint64, error) {
	req, err := putRequest(t, mailbox, item)
	if err != nil {
		return 0, fmt.Errorf("putting mail: %w", err)
	}
	resp, err := Call[*wire.MailboxResponse](ctx, h, sn, wire.ProtoMailbox, req)
	if err != nil {
		return 0, fmt.Errorf("putting mail: %w", err)
	}
	return resp.GetSeq(), nil
}

func putRequest(t *wire.SignedTicket, mailbox, item []byte) (*wire.MailboxRequest, error) {
	if len(mailbox) != MailboxIDSize || len(item) == 0 || len(item) > wire.MaxMailItem {
		return nil, fmt.Errorf("%w: mailbox ID of %d bytes, item of %d bytes (limit %d)",
			ErrBadRequest, len(mailbox), len(item), wire.MaxMailItem)
	}
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: t, Mailbox: mailbox, Item: item}}}, nil
}

// FetchMail returns the items waiting in the mailbox of t's owner (h) at sn
// with seq greater than after, oldest first: at most limit of them (zero or
// more than wire.MailFetchLimit means wire.MailFetchLimit) and as many as
// fit in one answer. more reports that further items wait: fetch again with
// after set to the last seq returned. Items stay until AckMail.
func FetchMail(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket, after uint64, limit int) (items []*wire.StoredMail, more bool, err error) {
	limit = fetchLimit(limit)
	resp, err := Call[*wire.MailboxResponse](ctx, h, sn, wire.ProtoMailbox, fetchRequest(t, after, limit, nil))
	if err != nil {
		return nil, false, fmt.Errorf("fetching mail: %w", err)
	}
	return checkFetched(resp, after, limit)
}

func fetchLimit(limit int) int {
	if limit <= 0 || limit > wire.MailFetchLimit {
		return wire.MailFetchLimit
	}
	return limit
}

func fetchRequest(t *wire.SignedTicket, after uint64, limit int, ack []uint64) *wire.MailboxRequest {
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: t, After: after, Limit: uint32(limit), Ack: ack}}}
}

// checkFetched returns a fetch's items once they are in order, after
// after, and no more than asked: a supernode answering out of order would
// make a paging caller loop or skip items, so the answer is refused
// instead.
func checkFetched(resp *wire.MailboxResponse, after uint64, limit int) ([]*wire.StoredMail, bool, error) {
	last := after
	for _, it := range resp.GetItems() {
		if it.GetSeq() <= last {
			return nil, false, fmt.Errorf("fetching mail: %w: answer out of order: seq %d after %d", ErrProtocol, it.GetSeq(), last)
		}
		last = it.GetSeq()
	}
	if len(resp.GetItems()) > limit {
		return nil, false, fmt.Errorf("fetching mail: %w: %d items answered, %d asked", ErrProtocol, len(resp.GetItems()), limit)
	}
	return resp.GetItems(), resp.GetMore(), nil
}

// AckMail deletes the items seqs from the mailbox of t's owner (h) at sn.
// Seqs that are not in that mailbox (already deleted, or someone else's) are
// ignored. Long lists are sent in several requests.
func AckMail(ctx context.Context, h host.Host, sn peer.ID, t *wire.SignedTicket, seqs []uint64) error {
	for len(seqs) > 0 {
		n := min(len(seqs), MaxMailAck)
		if _, err := Call[*wire.MailboxResponse](ctx, h, sn, wire.ProtoMailbox, ackRequest(t, seqs[:n])); err != nil {
			return fmt.Errorf("acknowledging mail: %w", err)
		}
		seqs = seqs[n:]
	}
	return nil
}

func ackRequest(t *wire.SignedTicket, seqs []uint64) *wire.MailboxRequest {
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: t, Seqs: seqs}}}
}
