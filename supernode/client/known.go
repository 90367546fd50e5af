package client

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"eserver/node/wire"
)

// EntryTag is the tag of a lookup entry: a hash of everything it carries
// (username, ticket, peer record, card), each part length-prefixed. An
// asker names the tags of the entries it holds (Lookup.known) and the
// rendezvous answers an entry whose tag is the one it would send as
// unchanged, without its bytes, so a node looking its contacts up every
// half minute neither receives nor verifies again what it already has.
// A tag stands for a verified entry only on the asker's side, which
// verified the bytes it hashed.
func EntryTag(e *wire.RendezvousResponse_Entry) [wire.RendezvousTagSize]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, part := range [][]byte{[]byte("eserver-rendezvous-entry-v1"), []byte(e.GetUsername()),
		e.GetTicket().GetTicket(), e.GetTicket().GetSignature(), e.GetPeerRecord(),
		e.GetCard().GetTicket(), e.GetCard().GetSignature()} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return [wire.RendezvousTagSize]byte(sum[:wire.RendezvousTagSize])
}

// maxKnown bounds the entries a Known remembers: a node's contacts, and
// the strangers it looked up. When full it is emptied and fills again.
const maxKnown = 10000

// Known remembers the lookup entries a client verified, by username, with
// their tags (Rendezvous.Known). Its zero value is ready; it is safe for
// concurrent lookups.
type Known struct {
	mu      sync.Mutex
	entries map[string]knownEntry
}

type knownEntry struct {
	tag   [wire.RendezvousTagSize]byte
	found Found
}

// tag is the tag of the entry remembered for name, or nil.
func (k *Known) tag(name string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[name]
	if !ok {
		return nil
	}
	return e.tag[:]
}

// get returns a copy of what the entry remembered for name under tag
// verified to, while its ticket (or card) is still valid at now.
func (k *Known) get(name string, tag []byte, now time.Time) (Found, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[name]
	if !ok || string(e.tag[:]) != string(tag) {
		return Found{}, false
	}
	if !now.Before(e.found.Ticket.Expiry) {
		delete(k.entries, name)
		return Found{}, false
	}
	return copyFound(e.found), true
}

// put remembers f, verified from an entry with tag.
func (k *Known) put(name string, tag [wire.RendezvousTagSize]byte, f Found) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.entries == nil || len(k.entries) >= maxKnown {
		k.entries = make(map[string]knownEntry)
	}
	k.entries[name] = knownEntry{tag: tag, found: copyFound(f)}
}

// copyFound copies f so that neither the caller nor Known sees the other's
// changes to its ticket or addresses (a ticket's own slices are shared:
// nobody changes a verified ticket's key or regions).
func copyFound(f Found) Found {
	t := *f.Ticket
	f.Ticket = &t
	f.Addrs.Addrs = slices.Clone(f.Addrs.Addrs)
	return f
}
