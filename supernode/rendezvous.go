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
}

// Rendezvous serves wire.ProtoRendezvous: ticket holders publish their signed
// peer record and look up others'. Entries live in memory only; a publisher
// re-publishes periodically, so a restart loses at most one TTL of state.
type Rendezvous struct {
	cfg RendezvousConfig
	log *slog.Logger

	mu        sync.Mutex
	entries   map[string]rvEntry // username → latest publish (latest device wins)
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
	return r.lookup(k.GetUsernames(), k.GetTokens(), now), nil
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
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[t.Username] = e
	if now.Sub(r.lastSweep) >= r.cfg.TTL {
		for name, old := range r.entries {
			if !now.Before(old.expiry) {
				delete(r.entries, name)
			}
		}
		r.lastSweep = now
	}
	r.stats.published()
	r.log.Debug("published", "user", t.Username, "peer", t.Peer)
	return &wire.RendezvousResponse{}
}

// lookup answers, for each known name, to an asker presenting a token the
// user allowed, its ticket and, while the record is fresh, where it can be
// reached; to everyone else — strangers and blocked users alike — only its
// card: the account, device and box key a contact request needs (anyone
// may write to its mailboxes), without the device's name or the time it
// signed in.
func (r *Rendezvous) lookup(names []string, tokens [][]byte, now time.Time) *wire.RendezvousResponse {
	if len(names) > r.cfg.MaxLookup {
		return failed(wire.CodeTooMany)
	}
	if len(tokens) != 0 && len(tokens) != len(names) {
		return failed(wire.CodeBadRequest)
	}
	for _, n := range names {
		if n == "" || len(n) > wire.MaxUsername {
			return failed(wire.CodeBadRequest)
		}
	}
	resp := &wire.RendezvousResponse{}
	seen := make(map[string]bool, len(names))
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
		entry := &wire.RendezvousResponse_Entry{Username: n}
		switch {
		case len(tokens) > 0 && allows(e, tokens[i]):
			entry.Ticket = e.ticket
			if r.fresh(e, now) {
				entry.PeerRecord = e.record
			}
		case e.card != nil:
			entry.Card = e.card
		default:
			continue // nothing a stranger may see
		}
		resp.Entries = append(resp.Entries, entry)
	}
	r.mu.Unlock()
	// The answer must fit in one frame; the client asks again for fewer.
	if proto.Size(resp) > wire.MaxRendezvousFrame {
		return failed(wire.CodeTooMany)
	}
	r.stats.lookedUp(len(seen), resp)
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
