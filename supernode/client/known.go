package client

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// EntryTag is the tag of a lookup entry: a hash of everything it carries
// (username, ticket, peer record, card and, when it carries one, the
// account's device list), each part length-prefixed. An asker names the
// tags of the entries it holds (Lookup.known_devices) and the rendezvous
// answers an entry whose tag is the one it would send as unchanged,
// without its bytes, so a node looking its contacts up every half minute
// neither receives nor verifies again what it already has. A tag stands
// for a verified entry only on the asker's side, which verified the bytes
// it hashed. The list's parts are hashed only when present, so an entry
// without one has the tag it had before entries carried lists, and an
// older client's tags still name them.
func EntryTag(e *wire.RendezvousResponse_Entry) [wire.RendezvousTagSize]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(part []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
	}
	for _, part := range [][]byte{[]byte("eserver-rendezvous-entry-v1"), []byte(e.GetUsername()),
		e.GetTicket().GetTicket(), e.GetTicket().GetSignature(), e.GetPeerRecord(),
		e.GetCard().GetTicket(), e.GetCard().GetSignature()} {
		write(part)
	}
	if d := e.GetDevices(); d != nil {
		write(d.GetDevices())
		write(d.GetSignature())
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return [wire.RendezvousTagSize]byte(sum[:wire.RendezvousTagSize])
}

// maxKnown bounds the entries (devices) a Known remembers, all usernames
// together: a node's contacts' devices, and the strangers it looked up.
// When full it is emptied and fills again.
const maxKnown = 10000

// Known remembers the lookup entries a client verified, by username, with
// their tags (Rendezvous.Known): the entries of the last answer for each
// username, one per device. Its zero value is ready; it is safe for
// concurrent lookups.
type Known struct {
	mu      sync.Mutex
	entries map[string][]knownEntry
	n       int // entries in all of entries' slices
}

type knownEntry struct {
	tag   [wire.RendezvousTagSize]byte
	found Found
	// devices is the device list the entry carried, verified; nil when
	// it carried none.
	devices *ticket.Devices
}

// appendTags appends the tags of the entries remembered for name to buf,
// concatenated as Lookup.known_devices takes them.
func (k *Known) appendTags(buf []byte, name string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.entries[name] {
		buf = append(buf, e.tag[:]...)
	}
	return buf
}

// get returns a copy of what the entry remembered for name under tag
// verified to, while its ticket (or card) is still valid at now.
func (k *Known) get(name string, tag []byte, now time.Time) (knownEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	es := k.entries[name]
	i := slices.IndexFunc(es, func(e knownEntry) bool { return string(e.tag[:]) == string(tag) })
	if i < 0 {
		return knownEntry{}, false
	}
	if !now.Before(es[i].found.Ticket.Expiry) {
		k.entries[name] = slices.Delete(es, i, i+1)
		k.n--
		return knownEntry{}, false
	}
	e := es[i]
	e.found = copyFound(e.found)
	return e, true
}

// put remembers es, verified from the last answer for name, in place of
// what was remembered for it.
func (k *Known) put(name string, es []knownEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.entries[name]
	if slices.EqualFunc(old, es, func(a, b knownEntry) bool { return a.tag == b.tag }) {
		// The answer named what we hold, in the same order (the usual
		// case: every entry unchanged), and entries of one tag verified
		// to the same: nothing to copy.
		return
	}
	k.n -= len(old)
	if k.entries == nil || k.n+len(es) > maxKnown {
		k.entries, k.n = make(map[string][]knownEntry), 0
	}
	held := make([]knownEntry, len(es))
	for i, e := range es {
		e.found = copyFound(e.found)
		held[i] = e
	}
	k.entries[name] = held
	k.n += len(held)
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
