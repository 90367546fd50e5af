package supernode

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// Defaults for the zero values of RendezvousConfig.
const (
	DefaultRendezvousTTL = 15 * time.Minute
	DefaultMaxLookup     = 1000
	// A node publishes every few minutes and looks its contacts up every
	// half minute or so, in batches; bursts cover a sign-in (publish,
	// re-publish with relay addresses, lookups of every contact) and the
	// greeting of contacts that come online together.
	DefaultRendezvousRate  = rate.Limit(5)
	DefaultRendezvousBurst = 100
)

// RendezvousConfig configures a Rendezvous. Zero values are documented
// defaults.
type RendezvousConfig struct {
	// AuthServer is the auth server whose tickets are accepted.
	AuthServer peer.ID
	// Revocations, if set, refuses tickets of revoked devices even
	// before they expire; nil revokes none.
	Revocations *client.Revocations
	// TTL is how long a published entry is returned; zero means 15 minutes.
	// Publishers re-publish well within it.
	TTL time.Duration
	// Now is the clock for ticket expiry and TTL; nil means time.Now.
	Now func() time.Time
	// Logger receives per-stream diagnostics; nil discards them.
	Logger *slog.Logger
	// MaxLookup is the most usernames one lookup may ask for; zero means 1000.
	MaxLookup int
	// Rate and Burst bound the requests (publishes and lookups together)
	// of one account; zero means DefaultRendezvousRate and
	// DefaultRendezvousBurst.
	Rate  rate.Limit
	Burst int
	// OnTicket, if set, is called with every ticket this rendezvous verified
	// (publish or lookup), after the check and outside any lock. It is the
	// hook by which other services learn who holds a valid ticket here: the
	// relay admits these peers (Admissions.AdmitTicket). It must not block.
	OnTicket func(*ticket.Ticket)
	// MaxBytes bounds the memory all entries together take (as estimated
	// by rvEntryCost); zero means CapsFor(0).RendezvousBytes.
	MaxBytes int64
}

// Rendezvous serves wire.ProtoRendezvous: ticket holders publish their signed
// peer record and look up others'. It keeps an entry per device of each
// username — a person signed in on three computers is online on all three,
// and messages fan out to each — and the account's signed device list.
// Entries live in memory only; a publisher re-publishes periodically, so a
// restart loses at most one TTL of state.
type Rendezvous struct {
	cfg RendezvousConfig
	log *slog.Logger

	mu        sync.Mutex
	users     map[string]*rvUser // username → its devices' entries
	used      int64              // rvEntryCost of every entry, rvListCost of every list
	lastSweep time.Time

	stats rvStats  // counters for Stats (metrics.go)
	lim   *buckets // per account

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.RendezvousRequest, *wire.RendezvousResponse]
}

// rvUser is what one username holds: an entry per device that published,
// each with its own expiry, and the account's device list. A device's
// publish replaces its own entry only.
type rvUser struct {
	// entries are the devices' entries by publish time, newest first: a
	// lookup answers them in this order, and an older client, which reads
	// the first entry only, gets the device that spoke last, as before.
	// At most wire.MaxAccountDevices; a new device past it pushes out the
	// oldest, so one account cannot fill the table.
	entries []rvEntry
	// list is the account's signed device list (keepList); nil until one
	// of the user's devices publishes one. It lives while the user has an
	// entry.
	list *rvList
}

// rvList is a verified device list as a rendezvous keeps it.
type rvList struct {
	signed  *wire.SignedAccountDevices
	key     ed25519.PublicKey
	version uint64
}

// rvEntry is one device's published record.
type rvEntry struct {
	ticket  *wire.SignedTicket
	card    *wire.SignedTicket // what askers without a token get; nil if none was published
	record  []byte
	allowed map[[32]byte]struct{} // visibility-token hashes that may see record
	peer    peer.ID
	expiry  time.Time // the ticket's
	at      time.Time // when it was published
	tags    rvTags
	// listTags are the tags of this entry's answers carrying list, made
	// when a lookup first sends it so (lazily: the list is the user's,
	// and changes without this device publishing).
	listTags rvListTags
}

// rvTags are the tags (client.EntryTag) of the answers an entry gives,
// made once when it is published: a lookup naming the tag of the answer
// it would get is answered unchanged, from memory, without the bytes.
type rvTags struct {
	full   [wire.RendezvousTagSize]byte // ticket and peer record, for token holders while fresh
	ticket [wire.RendezvousTagSize]byte // the ticket alone, for token holders once not fresh
	card   [wire.RendezvousTagSize]byte // the card, for everyone else
}

// rvListTags are the tags of an entry's answers with the user's device
// list, for the list of.
type rvListTags struct {
	of     *rvList
	full   [wire.RendezvousTagSize]byte
	ticket [wire.RendezvousTagSize]byte
}

func makeTags(name string, e rvEntry) rvTags {
	return rvTags{
		full:   client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket, PeerRecord: e.record}),
		ticket: client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket}),
		card:   client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Card: e.card}),
	}
}

// listTagsFor returns e's tags of the answers carrying l, making them if
// they were made for another list (or none).
func (e *rvEntry) listTagsFor(name string, l *rvList) *rvListTags {
	if e.listTags.of != l {
		e.listTags = rvListTags{
			of:     l,
			full:   client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket, PeerRecord: e.record, Devices: l.signed}),
			ticket: client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket, Devices: l.signed}),
		}
	}
	return &e.listTags
}

// NewRendezvous returns a rendezvous service; Attach it to a host to serve.
func NewRendezvous(cfg RendezvousConfig) *Rendezvous {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultRendezvousTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxLookup <= 0 {
		cfg.MaxLookup = DefaultMaxLookup
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRendezvousRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultRendezvousBurst
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = CapsFor(0).RendezvousBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Rendezvous{
		cfg:   cfg,
		log:   log.With("service", "rendezvous"),
		users: make(map[string]*rvUser),
		lim:   newBuckets(cfg.Rate, cfg.Burst),
	}
	r.listen = pipeline.NewListener(r.log)
	r.rpc = &pipeline.Service[*wire.RendezvousRequest, *wire.RendezvousResponse]{
		Protocol:    wire.ProtoRendezvous,
		MaxRequest:  wire.MaxRendezvousFrame,
		Budget:      pipeline.NewServiceBudget(wire.RendezvousBudget, wire.MaxRendezvousFrame),
		Timeout:     wire.RendezvousTimeout,
		Auth:        authenticator(cfg.AuthServer, cfg.Now, cfg.Revocations),
		Credentials: rendezvousCredentials,
		Process:     r.process,
		Refuse:      refuseWith[*wire.RendezvousRequest](failed),
		Log:         r.log,
	}
	return r
}

// Attach serves the rendezvous protocol on h until Close. Attaching after
// Close does nothing.
func (r *Rendezvous) Attach(h host.Host) {
	serveOn(r.listen, h, r.rpc.Protocol, r.rpc.Timeout, r.serve)
}

// Close stops serving on every attached host, resets the streams in flight
// and waits for their handlers to return.
func (r *Rendezvous) Close() error {
	r.listen.Close()
	return nil
}

// serve runs one request from rw, sent by the authenticated remote peer,
// through the pipeline. An error means the stream should be reset: the
// request could not be read or the answer could not be written. Requests
// that decode but are refused get an error code, not an error.
func (r *Rendezvous) serve(rw io.ReadWriter, remote peer.ID) error {
	return r.rpc.Serve(r.listen.Context(), rw, remote, nil)
}

// rendezvousCredentials is what each request presents: its ticket.
func rendezvousCredentials(req *wire.RendezvousRequest) (pipeline.Credential, error) {
	switch k := req.GetKind().(type) {
	case *wire.RendezvousRequest_Publish:
		return pipeline.Ticket(k.Publish.GetTicket()), nil
	case *wire.RendezvousRequest_Lookup:
		return pipeline.Ticket(k.Lookup.GetTicket()), nil
	}
	return pipeline.Credential{}, errUnknownKind
}

// process is the process stage for one authenticated request.
func (r *Rendezvous) process(_ context.Context, rq *pipeline.Request[*wire.RendezvousRequest]) (*wire.RendezvousResponse, error) {
	now := r.cfg.Now()
	t := rq.Ticket
	if r.cfg.OnTicket != nil {
		// After the Authenticate stage, which refused revoked devices: a
		// revoked device is never admitted to the relay.
		r.cfg.OnTicket(t)
	}
	if !r.lim.allow(t.Username, now) {
		return failed(wire.CodeRateLimited), nil
	}
	if k := rq.Msg.GetPublish(); k != nil {
		return r.publish(t, k, now), nil
	}
	return r.lookup(rq.Msg.GetLookup(), t.Username, now), nil
}

func (r *Rendezvous) publish(t *ticket.Ticket, p *wire.Publish, now time.Time) *wire.RendezvousResponse {
	rec, allowed := p.GetPeerRecord(), p.GetAllowed()
	if _, err := ticket.VerifyRecord(t.Peer, rec); err != nil {
		r.log.Debug("peer record refused", "peer", t.Peer, "user", t.Username, "err", err)
		return failed(wire.CodeBadRequest)
	}
	if len(allowed) > MaxAllowed {
		return failed(wire.CodeBadRequest)
	}
	set := make(map[[32]byte]struct{}, len(allowed))
	for _, a := range allowed {
		if len(a) != 32 {
			return failed(wire.CodeBadRequest)
		}
		set[[32]byte(a)] = struct{}{}
	}
	// The card is shown to strangers in the user's name: it must be the
	// auth server's card of this very ticket.
	if p.GetCard() != nil {
		card, err := ticket.VerifyCard(r.cfg.AuthServer, p.GetCard(), now)
		if err != nil || !card.Matches(t) {
			r.log.Debug("card refused", "peer", t.Peer, "user", t.Username, "err", err)
			return failed(wire.CodeBadRequest)
		}
	}
	// The list is shown to the user's contacts in its name: it must verify
	// under the key it names, be this account's and name the publishing
	// device. Whether that key is the account's, the rendezvous cannot
	// tell; contacts check it against the one they pinned.
	var list *rvList
	if p.GetDevices() != nil {
		d, err := ticket.VerifyDevices(p.GetDevices())
		if err == nil {
			err = d.Check(t)
		}
		if err != nil {
			r.log.Debug("device list refused", "peer", t.Peer, "user", t.Username, "err", err)
			return failed(wire.CodeBadDevices)
		}
		list = &rvList{signed: p.GetDevices(), key: d.AccountKey, version: d.Version}
	}
	e := rvEntry{
		ticket:  t.Signed,
		card:    p.GetCard(),
		record:  append([]byte(nil), rec...),
		allowed: set,
		peer:    t.Peer,
		expiry:  t.Expiry,
		at:      now,
	}
	e.tags = makeTags(t.Username, e)
	cost := rvEntryCost(t.Username, e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= r.cfg.TTL {
		r.sweepLocked(now)
	}
	drop, keep, delta := r.planLocked(t.Username, e.peer, cost, list, now)
	// A publish that grows the table past its cap is refused; one that
	// does not grow it (a device replacing its entry with one no larger)
	// is always taken. A full table is swept first, but at most once per
	// sweepEvery, so a flood of publishes against a table of live entries
	// costs one pass, not one each.
	if delta > 0 && r.used+delta > r.cfg.MaxBytes && now.Sub(r.lastSweep) >= sweepEvery {
		r.sweepLocked(now)
		drop, keep, delta = r.planLocked(t.Username, e.peer, cost, list, now)
	}
	if delta > 0 && r.used+delta > r.cfg.MaxBytes {
		r.stats.full.Add(1)
		r.log.Debug("publish refused: rendezvous full", "user", t.Username, "cost", cost, "used", r.used)
		return failed(wire.CodeFull)
	}
	u := r.users[t.Username]
	if u == nil {
		u = &rvUser{}
		r.users[t.Username] = u
	}
	if drop >= 0 {
		u.entries = slices.Delete(u.entries, drop, drop+1)
	}
	u.entries = slices.Insert(u.entries, 0, e)
	u.list = keep
	r.used += delta
	r.stats.published()
	r.log.Debug("published", "user", t.Username, "peer", t.Peer, "devices", len(u.entries))
	return &wire.RendezvousResponse{}
}

// planLocked works out what a publish of an entry of cost for device p of
// name, with list (or nil), would do, changing nothing but the user's
// expired entries (forgotten first, so they never push out a live one):
// the index of the entry it replaces — the device's own, or at the bound
// the oldest — or -1, the list the user keeps, and how the memory used
// changes.
func (r *Rendezvous) planLocked(name string, p peer.ID, cost int64, list *rvList, now time.Time) (drop int, keep *rvList, delta int64) {
	drop, keep, delta = -1, list, cost
	u := r.users[name]
	if u == nil {
		return drop, keep, delta + rvListCost(keep)
	}
	r.sweepUserLocked(name, u, now)
	if r.users[name] == nil { // every entry had expired, and the list with them
		return drop, keep, delta + rvListCost(keep)
	}
	drop = slices.IndexFunc(u.entries, func(e rvEntry) bool { return e.peer == p })
	if drop < 0 && len(u.entries) >= wire.MaxAccountDevices {
		drop = len(u.entries) - 1 // the oldest publish
	}
	if drop >= 0 {
		delta -= rvEntryCost(name, u.entries[drop])
	}
	keep = keepList(u.list, list)
	if keep != u.list {
		delta += rvListCost(keep) - rvListCost(u.list)
	}
	return drop, keep, delta
}

// keepList is the device list a user keeps when one of its devices
// publishes l (nil: none) while it holds cur. Of one account key, the
// highest version: devices that have not heard of a change yet publish
// the older list, and must not undo it. Of another key, l, the latest
// published: the rendezvous cannot tell which key is the account's (the
// auth server knows, and contacts pin the one they trust and refuse a
// list of another), and an account whose identity was made anew must be
// able to show its new list.
func keepList(cur, l *rvList) *rvList {
	switch {
	case l == nil:
		return cur
	case cur == nil || !cur.key.Equal(l.key):
		return l
	case l.version > cur.version:
		return l
	}
	return cur
}

// lookup answers, for each known name, the entries of its live devices,
// the most recently published first, each device as it allows the asker:
// to an asker presenting a token the device's publish allowed, its ticket
// and, while the record is fresh, where it can be reached; to everyone
// else — strangers and blocked users alike — only its card: the account,
// device and box key a contact request and a message need (anyone may
// write to its mailboxes), without the device's name or the time it
// signed in. Askers allowed by one of the user's devices also get the
// account's device list, on the first entry that carries a ticket. A
// device of the account itself (the asker's ticket names it) sees all of
// its account's devices as a contact would: how an account's devices find
// each other.
//
// Visibility is per device, as each device's publish says, not the union
// of the user's devices' tokens: a device that has just blocked a contact
// publishes without its token and is hidden from it at once, although a
// device that has not heard of the block yet (or went offline an hour ago
// and keeps its entry until its ticket expires) still allows it. The
// union would show the blocking device's addresses to the blocked contact
// until every other device re-published or expired. Once devices share
// their contact lists their tokens agree, and per device is the union.
//
// Without all_devices (older clients) a name is answered with the first
// of these entries alone, without the list: the newest device the asker
// may see something of, as when one entry was kept per name. An entry
// whose answer has the tag the asker names in known (known_devices) is
// answered unchanged: the asker holds it already.
func (r *Rendezvous) lookup(q *wire.Lookup, asker string, now time.Time) *wire.RendezvousResponse {
	names, tokens, known, knownDevs, all := q.GetUsernames(), q.GetTokens(), q.GetKnown(), q.GetKnownDevices(), q.GetAllDevices()
	if len(names) > r.cfg.MaxLookup {
		return failed(wire.CodeTooMany)
	}
	if len(tokens) != 0 && len(tokens) != len(names) || len(known) != 0 && len(known) != len(names) ||
		len(knownDevs) != 0 && len(knownDevs) != len(names) {
		return failed(wire.CodeBadRequest)
	}
	// known_devices belongs to all_devices lookups; they may carry known
	// too, for rendezvous that predate all_devices, and it is ignored.
	if !all && len(knownDevs) != 0 {
		return failed(wire.CodeBadRequest)
	}
	for _, k := range known {
		if len(k) != 0 && len(k) != wire.RendezvousTagSize {
			return failed(wire.CodeBadRequest)
		}
	}
	for _, k := range knownDevs {
		if len(k)%wire.RendezvousTagSize != 0 || len(k) > wire.MaxAccountDevices*wire.RendezvousTagSize {
			return failed(wire.CodeBadRequest)
		}
	}
	for _, n := range names {
		if n == "" || len(n) > wire.MaxUsername {
			return failed(wire.CodeBadRequest)
		}
	}
	resp := &wire.RendezvousResponse{}
	seen := make(map[string]bool, len(names))
	answered := 0 // entries with addresses, unchanged or not
	r.mu.Lock()
	for i, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		u := r.users[n]
		if u == nil {
			continue
		}
		// The token's hash, once per name: each device's entry checks it.
		var token *[32]byte
		if len(tokens) > 0 && len(tokens[i]) > 0 {
			h := client.VisibilityHash(tokens[i])
			token = &h
		}
		var held []byte
		switch {
		case all && len(knownDevs) > 0:
			held = knownDevs[i]
		case !all && len(known) > 0:
			held = known[i]
		}
		listSent := !all || u.list == nil // older clients get none
		records := 0                      // bytes of peer records answered for n
		for j := range u.entries {
			e := &u.entries[j]
			if !now.Before(e.expiry) || r.cfg.Revocations.Revoked(e.peer) {
				continue // a revoked device is not shown, even before its ticket expires
			}
			var entry wire.RendezvousResponse_Entry
			var tag *[wire.RendezvousTagSize]byte
			switch {
			case n == asker || allows(e, token):
				entry.Ticket, tag = e.ticket, &e.tags.ticket
				fresh := r.fresh(e, now) && (!all || records+len(e.record) <= wire.MaxRendezvousRecords)
				if fresh {
					entry.PeerRecord, tag = e.record, &e.tags.full
					records += len(e.record)
					answered++
				}
				if !listSent {
					listSent = true
					lt := e.listTagsFor(n, u.list)
					entry.Devices, tag = u.list.signed, &lt.ticket
					if fresh {
						tag = &lt.full
					}
				}
			case e.card != nil:
				entry.Card, tag = e.card, &e.tags.card
			default:
				continue // nothing a stranger may see
			}
			// Compared only with the tag of what this asker may see: naming
			// another answer's tag gets that other answer's bytes, never a
			// hint.
			if held := heldTag(held, tag); held != nil {
				entry = wire.RendezvousResponse_Entry{Unchanged: true}
				if all {
					entry.Tag = held // the asker's own bytes: ours may change once unlocked
				}
			}
			entry.Username = n
			resp.Entries = append(resp.Entries, &entry)
			if !all {
				break
			}
		}
	}
	r.mu.Unlock()
	// The answer must fit in one frame; the client asks again for fewer.
	// One name's entries always fit: their records are bounded
	// (wire.MaxRendezvousRecords), their tickets and list small.
	if proto.Size(resp) > wire.MaxRendezvousFrame {
		return failed(wire.CodeTooMany)
	}
	r.stats.lookedUp(len(seen), answered)
	return resp
}

// heldTag returns the tag among held (tags of RendezvousTagSize bytes,
// concatenated) that equals tag, or nil.
func heldTag(held []byte, tag *[wire.RendezvousTagSize]byte) []byte {
	for len(held) >= wire.RendezvousTagSize {
		if string(held[:wire.RendezvousTagSize]) == string(tag[:]) {
			return held[:wire.RendezvousTagSize:wire.RendezvousTagSize]
		}
		held = held[wire.RendezvousTagSize:]
	}
	return nil
}

// Len is the number of device entries a lookup would return with a peer
// record now: the devices online at this rendezvous.
func (r *Rendezvous) Len() int {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.users {
		for i := range u.entries {
			if r.fresh(&u.entries[i], now) {
				n++
			}
		}
	}
	return n
}

// allows reports whether the token of hash token (nil: none) is one e's
// device gave out.
func allows(e *rvEntry, token *[32]byte) bool {
	if token == nil {
		return false
	}
	_, ok := e.allowed[*token]
	return ok
}

// fresh reports whether e's record may still be returned at now.
func (r *Rendezvous) fresh(e *rvEntry, now time.Time) bool {
	return now.Sub(e.at) < r.cfg.TTL && now.Before(e.expiry)
}

func failed(code string) *wire.RendezvousResponse {
	return &wire.RendezvousResponse{Error: code}
}

// Usage returns the memory all entries take, as rvEntryCost estimates it,
// and the cap on it.
func (r *Rendezvous) Usage() (used, limit int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used, r.cfg.MaxBytes
}

// rvEntryCost estimates the memory e takes under name: its ticket, card,
// record and token hashes, plus a fixed overhead. Each device's entry
// counts on its own.
func rvEntryCost(name string, e rvEntry) int64 {
	return rvEntryOverhead + int64(len(name)) + int64(proto.Size(e.ticket)) + int64(proto.Size(e.card)) +
		int64(len(e.record)) + int64(len(e.allowed))*rvTokenCost
}

// rvListCost estimates the memory a kept device list takes; nil takes
// none.
func rvListCost(l *rvList) int64 {
	if l == nil {
		return 0
	}
	return rvListOverhead + int64(len(l.signed.GetDevices())+len(l.signed.GetSignature())+len(l.key))
}

// sweepLocked forgets the entries whose tickets expired and drops the peer
// record of those not fresh any more (lookups never return it; the token
// hashes stay, as token holders still get the ticket until it expires).
func (r *Rendezvous) sweepLocked(now time.Time) {
	for name, u := range r.users {
		r.sweepUserLocked(name, u, now)
	}
	r.lastSweep = now
}

// sweepUserLocked is sweepLocked for one user; a user left without
// entries is forgotten, its device list with it.
func (r *Rendezvous) sweepUserLocked(name string, u *rvUser, now time.Time) {
	u.entries = slices.DeleteFunc(u.entries, func(e rvEntry) bool {
		if !now.Before(e.expiry) {
			r.used -= rvEntryCost(name, e)
			return true
		}
		return false
	})
	for i := range u.entries {
		if e := &u.entries[i]; !r.fresh(e, now) && e.record != nil {
			r.used -= rvEntryCost(name, *e)
			e.record = nil
			r.used += rvEntryCost(name, *e)
		}
	}
	if len(u.entries) == 0 {
		r.used -= rvListCost(u.list)
		delete(r.users, name)
	}
}
