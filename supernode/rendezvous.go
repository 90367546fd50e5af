package supernode

import (
	"context"
	"io"
	"log/slog"
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
// peer record and look up others'. Entries live in memory only; a publisher
// re-publishes periodically, so a restart loses at most one TTL of state.
type Rendezvous struct {
	cfg RendezvousConfig
	log *slog.Logger

	mu        sync.Mutex
	entries   map[string]rvEntry // username → latest publish (latest device wins)
	used      int64              // rvEntryCost of every entry
	lastSweep time.Time

	stats rvStats  // counters for Stats (metrics.go)
	lim   *buckets // per account

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.RendezvousRequest, *wire.RendezvousResponse]
}

// rvEntry is one published record.
type rvEntry struct {
	ticket  *wire.SignedTicket
	card    *wire.SignedTicket // what askers without a token get; nil if none was published
	record  []byte
	allowed map[[32]byte]struct{} // visibility-token hashes that may see record
	peer    peer.ID
	expiry  time.Time // the ticket's
	at      time.Time // when it was published
	tags    rvTags
}

// rvTags are the tags (client.EntryTag) of the answers an entry gives,
// made once when it is published: a lookup naming the tag of the answer
// it would get is answered unchanged, from memory, without the bytes.
type rvTags struct {
	full   [wire.RendezvousTagSize]byte // ticket and peer record, for token holders while fresh
	ticket [wire.RendezvousTagSize]byte // the ticket alone, for token holders once not fresh
	card   [wire.RendezvousTagSize]byte // the card, for everyone else
}

func makeTags(name string, e rvEntry) rvTags {
	return rvTags{
		full:   client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket, PeerRecord: e.record}),
		ticket: client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Ticket: e.ticket}),
		card:   client.EntryTag(&wire.RendezvousResponse_Entry{Username: name, Card: e.card}),
	}
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
		cfg:     cfg,
		log:     log.With("service", "rendezvous"),
		entries: make(map[string]rvEntry),
		lim:     newBuckets(cfg.Rate, cfg.Burst),
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
	k := rq.Msg.GetLookup()
	return r.lookup(k.GetUsernames(), k.GetTokens(), k.GetKnown(), now), nil
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
	var prev int64
	if old, ok := r.entries[t.Username]; ok {
		prev = rvEntryCost(t.Username, old)
	}
	// An entry that grows the table past its cap is refused; one no larger
	// than the owner's previous is always taken. A full table is swept
	// first, but at most once per sweepEvery, so a flood of publishes
	// against a table of live entries costs one pass, not one each.
	if cost > prev && r.used-prev+cost > r.cfg.MaxBytes && now.Sub(r.lastSweep) >= sweepEvery {
		r.sweepLocked(now)
		if old, ok := r.entries[t.Username]; ok {
			prev = rvEntryCost(t.Username, old)
		} else {
			prev = 0
		}
	}
	if cost > prev && r.used-prev+cost > r.cfg.MaxBytes {
		r.stats.full.Add(1)
		r.log.Debug("publish refused: rendezvous full", "user", t.Username, "cost", cost, "used", r.used)
		return failed(wire.CodeFull)
	}
	r.used += cost - prev
	r.entries[t.Username] = e
	r.stats.published()
	r.log.Debug("published", "user", t.Username, "peer", t.Peer)
	return &wire.RendezvousResponse{}
}

// lookup answers, for each known name, to an asker presenting a token the
// user allowed, its ticket and, while the record is fresh, where it can be
// reached; to everyone else — strangers and blocked users alike — only its
// card: the account, device and box key a contact request needs (anyone
// may write to its mailboxes), without the device's name or the time it
// signed in. An entry whose answer has the tag the asker names in known is
// answered unchanged: the asker holds it already.
func (r *Rendezvous) lookup(names []string, tokens, known [][]byte, now time.Time) *wire.RendezvousResponse {
	if len(names) > r.cfg.MaxLookup {
		return failed(wire.CodeTooMany)
	}
	if len(tokens) != 0 && len(tokens) != len(names) || len(known) != 0 && len(known) != len(names) {
		return failed(wire.CodeBadRequest)
	}
	for _, k := range known {
		if len(k) != 0 && len(k) != wire.RendezvousTagSize {
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
		e, ok := r.entries[n]
		if !ok || !now.Before(e.expiry) || r.cfg.Revocations.Revoked(e.peer) {
			continue // a revoked device is not shown, even before its ticket expires
		}
		var entry wire.RendezvousResponse_Entry
		var tag *[wire.RendezvousTagSize]byte
		switch {
		case len(tokens) > 0 && allows(e, tokens[i]):
			entry.Ticket, tag = e.ticket, &e.tags.ticket
			if r.fresh(e, now) {
				entry.PeerRecord, tag = e.record, &e.tags.full
				answered++
			}
		case e.card != nil:
			entry.Card, tag = e.card, &e.tags.card
		default:
			continue // nothing a stranger may see
		}
		// Compared only with the tag of what this asker may see: naming
		// another answer's tag gets that other answer's bytes, never a
		// hint.
		if len(known) > 0 && string(known[i]) == string(tag[:]) {
			entry = wire.RendezvousResponse_Entry{Unchanged: true}
		}
		entry.Username = n
		resp.Entries = append(resp.Entries, &entry)
	}
	r.mu.Unlock()
	// The answer must fit in one frame; the client asks again for fewer.
	if proto.Size(resp) > wire.MaxRendezvousFrame {
		return failed(wire.CodeTooMany)
	}
	r.stats.lookedUp(len(seen), answered)
	return resp
}

// Len is the number of entries a lookup would return now: the ticket
// holders online at this rendezvous.
func (r *Rendezvous) Len() int {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.entries {
		if r.fresh(e, now) {
			n++
		}
	}
	return n
}

// allows reports whether token is one e's user gave out.
func allows(e rvEntry, token []byte) bool {
	if len(token) == 0 {
		return false
	}
	_, ok := e.allowed[client.VisibilityHash(token)]
	return ok
}

// fresh reports whether e's record may still be returned at now.
func (r *Rendezvous) fresh(e rvEntry, now time.Time) bool {
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
// record and token hashes, plus a fixed overhead.
func rvEntryCost(name string, e rvEntry) int64 {
	return rvEntryOverhead + int64(len(name)) + int64(proto.Size(e.ticket)) + int64(proto.Size(e.card)) +
		int64(len(e.record)) + int64(len(e.allowed))*rvTokenCost
}

// sweepLocked forgets the entries whose tickets expired and drops the peer
// record of those not fresh any more (lookups never return it; the token
// hashes stay, as token holders still get the ticket until it expires).
func (r *Rendezvous) sweepLocked(now time.Time) {
	for name, e := range r.entries {
		switch {
		case !now.Before(e.expiry):
			r.used -= rvEntryCost(name, e)
			delete(r.entries, name)
		case !r.fresh(e, now) && e.record != nil:
			r.used -= rvEntryCost(name, e)
			e.record = nil
			r.used += rvEntryCost(name, e)
			r.entries[name] = e
		}
	}
	r.lastSweep = now
}
