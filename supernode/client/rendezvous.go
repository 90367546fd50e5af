package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// lookupBatch is how many usernames the client asks for in one request at
// first; it halves the batch when the rendezvous answers too_many (its
// MaxLookup is lower, or the answer would not fit in a frame).
const lookupBatch = 256

// VisibilityTokenSize is the size of a visibility token: a random secret a
// user gives each contact, which the contact presents to look up the user's
// peer record.
const VisibilityTokenSize = 16

// VisibilityHash is what a user publishes for a token it gave out: the
// supernode can check a presented token but learns nothing it could present.
func VisibilityHash(token []byte) [32]byte {
	// On the stack for tokens of the usual size: a rendezvous hashes each
	// token of every lookup.
	var buf [len(visibilityDomain) + 2*VisibilityTokenSize]byte
	return sha256.Sum256(append(append(buf[:0], visibilityDomain...), token...))
}

const visibilityDomain = "eserver-visibility-v1"

// Found is one looked-up contact whose ticket and signed record verified.
type Found struct {
	Username string
	// Ticket is the user's device ticket, or — when the user gave us no
	// visibility token — its public card (Ticket.Card set): enough to seal
	// mail to the device and start a contact request.
	Ticket *ticket.Ticket
	// Addrs has the user's addresses only when the user allowed us to see
	// them (Rendezvous.Tokens) and is online; otherwise only Addrs.ID is set.
	Addrs peer.AddrInfo
}

// User is everything a lookup found of one username: each of its devices
// the rendezvous answered, and the account's device list if it served one.
type User struct {
	Username string
	// Devices are the user's live devices, the most recently published
	// first (never empty): what Found is for one device.
	Devices []Found
	// List is the account's device list, served to askers the user
	// allowed: signed by the key it names, for this username. Whether
	// that key is the account's identity is the caller's to check, against
	// the one it pinned (a rendezvous may serve a list of any key). Nil
	// when none was served: the account has none yet, we may not see it,
	// or the rendezvous predates lists. Shared with Known: do not change it.
	List *ticket.Devices
}

// Rendezvous is the client of a rendezvous. Its zero value is usable: AuthServer then
// comes from the caller's own ticket.
type Rendezvous struct {
	// AuthServer is the server whose tickets returned entries must carry;
	// empty means the server named in the caller's own ticket.
	AuthServer peer.ID
	// Now is the clock for ticket expiry; nil means time.Now.
	Now func() time.Time
	// Tokens are the visibility tokens, by username, that the users we
	// look up gave us: with one a lookup returns the ticket and, while the
	// user is online, its addresses; without one only the card (Found.Ticket
	// with Card set).
	Tokens map[string][]byte
	// Allowed are the tokens we gave our contacts: Publish shows our
	// record to their holders only.
	Allowed [][]byte
	// Extra are addresses Publish adds to the host's own, such as circuit
	// addresses through relays where the host holds a reservation.
	Extra []ma.Multiaddr
	// Known, if set, remembers the entries Lookup verified: a lookup names
	// them by tag and the rendezvous answers the unchanged ones without
	// their bytes. A node that looks the same contacts up again and again
	// keeps one.
	Known *Known
	// Card is the public card of the ticket Publish presents (the auth
	// server's, ticket.SignCard): what the rendezvous shows askers without
	// a token. Without one, such askers find nothing.
	Card *wire.SignedTicket
	// Devices is the account's device list, signed by its account
	// identity (ticket.SignDevices), that Publish presents: it must be the
	// ticket's account's and name the ticket's device, or the publish is
	// refused (ErrBadDevices). The rendezvous shows it to the askers the
	// user allowed. Nil presents none; the rendezvous keeps the list
	// another device of the account published.
	Devices *wire.SignedAccountDevices
}

// Publish is Rendezvous{}.Publish: the record is shown to no one (see
// Rendezvous.Allowed) and no card is published, so only askers with a token
// find the user at all.
func Publish(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket) error {
	return Rendezvous{}.Publish(ctx, h, rendezvous, t)
}

// Lookup is Rendezvous{}.Lookup: returned tickets must be issued by the server
// that issued t.
func Lookup(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket, usernames []string) ([]Found, error) {
	return Rendezvous{}.Lookup(ctx, h, rendezvous, t, usernames)
}

// Publish announces h's current listen addresses at the rendezvous, in a
// peer record signed with h's key, under ticket t (which must be h's).
func (c Rendezvous) Publish(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket) error {
	key := h.Peerstore().PrivKey(h.ID())
	if key == nil {
		return fmt.Errorf("publishing: no private key for %s", h.ID())
	}
	addrs := append(append([]ma.Multiaddr(nil), h.Addrs()...), c.Extra...)
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: h.ID(), Addrs: addrs}), key)
	if err != nil {
		return fmt.Errorf("publishing: sealing peer record: %w", err)
	}
	rec, err := env.Marshal()
	if err != nil {
		return fmt.Errorf("publishing: encoding peer record: %w", err)
	}
	allowed := make([][]byte, 0, len(c.Allowed))
	for _, tok := range c.Allowed {
		h := VisibilityHash(tok)
		allowed = append(allowed, h[:])
	}
	_, err = Call[*wire.RendezvousResponse](ctx, h, rendezvous, wire.ProtoRendezvous, &wire.RendezvousRequest{
		Kind: &wire.RendezvousRequest_Publish{Publish: &wire.Publish{Ticket: t, PeerRecord: rec, Allowed: allowed, Card: c.Card, Devices: c.Devices}},
	})
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	return nil
}

// Lookup asks the rendezvous where usernames can be reached, presenting the
// caller's ticket t, and returns for each the device that published last
// (LookupDevices has them all). Each entry is verified here as well —
// ticket signed by the auth server, for a requested username, peer record
// signed by the ticket's peer — and entries that fail are dropped, so a
// lying rendezvous can hide contacts but not impersonate them. Unknown or
// stale usernames are simply absent from the result.
func (c Rendezvous) Lookup(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket, usernames []string) ([]Found, error) {
	users, err := c.LookupDevices(ctx, h, rendezvous, t, usernames)
	if err != nil {
		return nil, err
	}
	found := make([]Found, len(users))
	for i, u := range users {
		found[i] = u.Devices[0]
	}
	return found, nil
}

// LookupDevices is Lookup for every live device of each username: one User
// per username found, in the order asked (as the rendezvous answers), its devices the most recently
// published first, with the account's device list when the rendezvous
// served one (its signature checked, for the username). A device the
// rendezvous answers twice counts once.
func (c Rendezvous) LookupDevices(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket, usernames []string) ([]User, error) {
	server := c.AuthServer
	if server == "" {
		var err error
		if server, err = serverOf(t); err != nil {
			return nil, fmt.Errorf("looking up: own ticket: %w", err)
		}
	}
	// Deduplicate so batches carry only distinct names.
	want := make(map[string]bool, len(usernames))
	names := make([]string, 0, len(usernames))
	for _, n := range usernames {
		if !want[n] {
			want[n] = true
			names = append(names, n)
		}
	}

	var users []User
	batch := lookupBatch
	for len(names) > 0 {
		n := min(batch, len(names))
		known := c.knownTags(names[:n])
		entries, err := c.lookupOnce(ctx, h, rendezvous, t, names[:n], known)
		if errors.Is(err, ErrTooMany) && n > 1 {
			batch = n / 2
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up: %w", err)
		}
		users = append(users, c.collect(server, names[:n], entries, known, c.now())...)
		names = names[n:]
	}
	return users, nil
}

// collect makes one answer's entries into users, in the order answered
// (a rendezvous answers in the order asked, each name's entries
// together), and remembers them in c.Known. Entries that fail (entry),
// name a user we did not ask for or whose entries came already, repeat a
// device or come past wire.MaxAccountDevices for their name are dropped.
func (c Rendezvous) collect(server peer.ID, names []string, entries []*wire.RendezvousResponse_Entry, known map[string][]byte, now time.Time) []User {
	open := make(map[string]bool, len(names)) // asked, and its entries not come yet
	for _, n := range names {
		open[n] = true
	}
	// One backing array for every name's entries: a lookup of a contact
	// list allocates per answer, not per contact.
	type run struct {
		name     string
		from, to int
	}
	var runs []run
	flat := make([]knownEntry, 0, len(entries))
	for _, e := range entries {
		n := e.GetUsername()
		if len(runs) == 0 || runs[len(runs)-1].name != n {
			if !open[n] {
				continue
			}
			open[n] = false
			runs = append(runs, run{n, len(flat), len(flat)})
		}
		r := &runs[len(runs)-1]
		if r.to-r.from >= wire.MaxAccountDevices {
			continue
		}
		ke, err := c.entry(server, e, known, now)
		if err != nil || slices.ContainsFunc(flat[r.from:r.to], func(h knownEntry) bool { return h.found.Ticket.Peer == ke.found.Ticket.Peer }) {
			continue
		}
		flat = append(flat, ke)
		r.to++
	}
	founds := make([]Found, len(flat))
	users := make([]User, 0, len(runs))
	for _, r := range runs {
		if r.from == r.to {
			continue
		}
		es := flat[r.from:r.to]
		if c.Known != nil {
			c.Known.put(r.name, es)
		}
		u := User{Username: r.name, Devices: founds[r.from:r.to:r.to]}
		for i, e := range es {
			u.Devices[i] = e.found
			if u.List == nil {
				u.List = e.devices
			}
		}
		users = append(users, u)
	}
	return users
}

func (c Rendezvous) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// knownTags are the tags of the entries c.Known holds for names, by name,
// concatenated; nil when it holds none.
func (c Rendezvous) knownTags(names []string) map[string][]byte {
	if c.Known == nil {
		return nil
	}
	var tags map[string][]byte
	var buf []byte // one array for every name's tags
	for _, n := range names {
		from := len(buf)
		buf = c.Known.appendTags(buf, n)
		if len(buf) > from {
			if tags == nil {
				tags = make(map[string][]byte)
			}
			tags[n] = buf[from:len(buf):len(buf)]
		}
	}
	return tags
}

// entry is what one returned entry stands for: verified here, or — when
// the rendezvous answered it unchanged, naming a tag we sent (known, by
// name) — what the entry of that tag verified to, its ticket still valid
// now. A device list it carries must verify and be the entry's user's.
func (c Rendezvous) entry(server peer.ID, e *wire.RendezvousResponse_Entry, known map[string][]byte, now time.Time) (knownEntry, error) {
	name := e.GetUsername()
	if e.GetUnchanged() {
		tag := e.GetTag()
		if tag == nil && len(known[name]) >= wire.RendezvousTagSize {
			// A rendezvous that predates all_devices answers the one
			// tag it reads, Lookup.known: our first.
			tag = known[name][:wire.RendezvousTagSize]
		}
		if !namedTag(known[name], tag) {
			return knownEntry{}, fmt.Errorf("entry for %q unchanged from nothing we named", name)
		}
		ke, ok := c.Known.get(name, tag, now)
		if !ok {
			return knownEntry{}, fmt.Errorf("entry for %q unchanged from one we no longer hold", name)
		}
		return ke, nil
	}
	f, err := verifyEntry(server, e, now)
	if err != nil {
		return knownEntry{}, err
	}
	ke := knownEntry{found: f}
	if sd := e.GetDevices(); sd != nil {
		d, err := ticket.VerifyDevices(sd)
		if err != nil {
			return knownEntry{}, fmt.Errorf("entry for %q: %w", name, err)
		}
		if d.Username != name {
			return knownEntry{}, fmt.Errorf("entry for %q carries the device list of %q", name, d.Username)
		}
		ke.devices = d
	}
	if c.Known != nil {
		ke.tag = EntryTag(e)
	}
	return ke, nil
}

// namedTag reports whether tag is one of sent (tags of RendezvousTagSize
// bytes, concatenated).
func namedTag(sent, tag []byte) bool {
	if len(tag) != wire.RendezvousTagSize {
		return false
	}
	for ; len(sent) >= wire.RendezvousTagSize; sent = sent[wire.RendezvousTagSize:] {
		if string(sent[:wire.RendezvousTagSize]) == string(tag) {
			return true
		}
	}
	return false
}

// lookupOnce sends one lookup request for every device of names, naming
// the tags of the entries we hold (known, by name).
func (c Rendezvous) lookupOnce(ctx context.Context, h host.Host, rendezvous peer.ID, t *wire.SignedTicket, names []string, known map[string][]byte) ([]*wire.RendezvousResponse_Entry, error) {
	var tokens [][]byte
	if len(c.Tokens) > 0 {
		tokens = make([][]byte, len(names))
		for i, n := range names {
			tokens[i] = c.Tokens[n]
		}
	}
	// known_devices names every entry we hold; known the first alone, for
	// a rendezvous that predates all_devices and answers one entry per
	// name (it ignores the fields it does not know).
	var tags, first [][]byte
	if len(known) > 0 {
		tags, first = make([][]byte, len(names)), make([][]byte, len(names))
		for i, n := range names {
			tags[i] = known[n]
			if len(tags[i]) >= wire.RendezvousTagSize {
				first[i] = tags[i][:wire.RendezvousTagSize]
			}
		}
	}
	resp, err := Call[*wire.RendezvousResponse](ctx, h, rendezvous, wire.ProtoRendezvous, &wire.RendezvousRequest{
		Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: t, Usernames: names, Tokens: tokens, Known: first, AllDevices: true, KnownDevices: tags}},
	})
	if err != nil {
		return nil, err
	}
	return resp.GetEntries(), nil
}

// verifyEntry checks one returned entry against the auth server's key: its
// ticket, or — for askers the user gave no token — its card, which carries
// no peer record.
func verifyEntry(server peer.ID, e *wire.RendezvousResponse_Entry, now time.Time) (Found, error) {
	if e.GetTicket() == nil {
		t, err := ticket.VerifyCard(server, e.GetCard(), now)
		if err != nil {
			return Found{}, fmt.Errorf("entry card: %w", err)
		}
		if t.Username != e.GetUsername() {
			return Found{}, fmt.Errorf("entry for %q carries the card of %q", e.GetUsername(), t.Username)
		}
		return Found{Username: t.Username, Ticket: t, Addrs: peer.AddrInfo{ID: t.Peer}}, nil
	}
	t, err := ticket.Verify(server, e.GetTicket(), now)
	if err != nil {
		return Found{}, fmt.Errorf("entry ticket: %w", err)
	}
	if t.Username != e.GetUsername() {
		return Found{}, fmt.Errorf("entry for %q carries the ticket of %q", e.GetUsername(), t.Username)
	}
	f := Found{Username: t.Username, Ticket: t, Addrs: peer.AddrInfo{ID: t.Peer}}
	if len(e.GetPeerRecord()) == 0 {
		return f, nil // not allowed to see where it is, or offline
	}
	rec, err := ticket.VerifyRecord(t.Peer, e.GetPeerRecord())
	if err != nil {
		return Found{}, fmt.Errorf("entry record: %w", err)
	}
	f.Addrs.Addrs = rec.Addrs
	return f, nil
}

// serverOf reads which auth server issued t. It is the caller's own ticket,
// so the signature is the server's business; returned entries are verified
// against this server's key.
func serverOf(t *wire.SignedTicket) (peer.ID, error) {
	if t == nil {
		return "", ticket.ErrMalformed
	}
	var w wire.Ticket
	if err := proto.Unmarshal(t.GetTicket(), &w); err != nil {
		return "", fmt.Errorf("%w: %v", ticket.ErrMalformed, err)
	}
	id, err := peer.IDFromBytes(w.GetServerPeerId())
	if err != nil {
		return "", fmt.Errorf("%w: server peer ID: %v", ticket.ErrMalformed, err)
	}
	return id, nil
}
