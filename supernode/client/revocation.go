package client

// Device revocation as a supernode (or a node) sees it: the auth server's signed
// revocation log (wire.FetchRevocations on the registry protocol), polled
// into a set of revoked peer IDs that every service consults after it has
// verified a ticket. A ticket is checked offline against the server's key,
// so without this set a revoked device's ticket would keep working here
// until it expired.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Revocation polling defaults.
const (
	// DefaultRevocationRetries is how many times a failed poll is retried
	// before waiting for the next interval (or Kick).
	DefaultRevocationRetries = 3
	// DefaultRevocationRetryDelay is the first retry's delay; each further
	// retry waits twice as long, never longer than the poll interval.
	DefaultRevocationRetryDelay = time.Second
	// maxRevocationPages bounds the pages one poll follows, so a server
	// that keeps answering "more" cannot keep the loop from its ticker.
	maxRevocationPages = 64
)

// Errors callers branch on.
var (
	// ErrTicketRevoked means a ticket verified but its device was revoked
	// by its account.
	ErrTicketRevoked = errors.New("supernode: ticket revoked")
	// ErrRevocationGap means a revocation page starts after the serial this
	// set has reached: applying it would skip entries. Fetch from Serial().
	ErrRevocationGap = errors.New("supernode: revocation list does not follow on")
)

// Revocations is the set of device peer IDs the auth server revoked, kept
// current by Serve. Its methods are safe for concurrent use, and Revoked
// and Check are safe on a nil *Revocations (nothing is revoked), so a
// service can hold an optional one. Set the exported fields, then call
// Serve once.
type Revocations struct {
	// Auth is the auth server's peer ID; every list must be signed by it.
	// Required.
	Auth peer.ID
	// Fetch returns the signed page of the log after serial since. Nil
	// means FetchRevocations from Auth over the registry protocol, with
	// Host and Ticket; a supernode in the auth server's own process sets it
	// to the server's SignedRevocations instead (a host cannot dial
	// itself).
	Fetch func(ctx context.Context, since uint64) (*wire.SignedRevocations, error)
	// Host fetches when Fetch is nil; Auth's addresses must be in its
	// peerstore (or a connection open).
	Host host.Host
	// Ticket returns Host's current ticket (any role) for fetching when
	// Fetch is nil; it is called before every fetch, so a renewed ticket
	// is picked up.
	Ticket func() *wire.SignedTicket
	// Interval between polls; zero means wire.RevocationPollInterval.
	Interval time.Duration
	// Retries of a failed poll before waiting for the next interval; zero
	// means DefaultRevocationRetries, negative means none.
	Retries int
	// RetryDelay before the first retry; zero means
	// DefaultRevocationRetryDelay.
	RetryDelay time.Duration
	// Now is the clock for horizons; nil means time.Now.
	Now func() time.Time
	// OnRevoke, if set, is called once for each peer that becomes revoked
	// here, outside any lock: e.g. supernode.Admissions.Revoke, and closing the
	// peer's connections. It must not block.
	OnRevoke func(peer.ID)
	// Logger; nil discards.
	Logger *slog.Logger

	once sync.Once
	kick chan struct{}

	mu      sync.RWMutex
	revoked map[peer.ID]time.Time // peer → horizon: its last ticket's expiry
	serial  uint64
	updated time.Time // last successful poll
}

func (r *Revocations) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		r.revoked = make(map[peer.ID]time.Time)
	})
}

func (r *Revocations) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Revoked reports whether p's device was revoked. A nil set revokes none.
func (r *Revocations) Revoked(p peer.ID) bool {
	if r == nil {
		return false
	}
	r.init()
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.revoked[p]
	return ok
}

// Check returns ErrTicketRevoked (wrapped) when t's device was revoked: the
// step a service takes right after ticket.VerifyFor. A nil set passes every
// ticket.
func (r *Revocations) Check(t *ticket.Ticket) error {
	if t != nil && r.Revoked(t.Peer) {
		return fmt.Errorf("%w: device %s of %q", ErrTicketRevoked, t.Peer, t.Username)
	}
	return nil
}

// Serial is the log serial the set has caught up to.
func (r *Revocations) Serial() uint64 {
	r.init()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.serial
}

// Len is the number of revoked peers held (until their horizons pass).
func (r *Revocations) Len() int {
	r.init()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.revoked)
}

// Updated is when the last poll succeeded; zero before the first.
func (r *Revocations) Updated() time.Time {
	r.init()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.updated
}

// Kick makes Serve poll now instead of at the next interval. Kicks while a
// poll is pending collapse into one; it never blocks.
func (r *Revocations) Kick() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Apply verifies sr against Auth and adds its entries. It refuses a page
// that starts after Serial() (ErrRevocationGap); a page that brings nothing
// new changes nothing. Entries whose horizon has passed are skipped: every
// ticket of theirs has expired, and the mail TTL after it (the auth server
// counts it into the horizon) has run out.
func (r *Revocations) Apply(sr *wire.SignedRevocations) error {
	_, err := r.apply(sr)
	return err
}

// apply is Apply, also reporting the page's More.
func (r *Revocations) apply(sr *wire.SignedRevocations) (more bool, err error) {
	r.init()
	l, err := ticket.VerifyRevocations(r.Auth, sr)
	if err != nil {
		return false, fmt.Errorf("applying revocations: %w", err)
	}
	now := r.now()
	var added []peer.ID
	r.mu.Lock()
	if l.Since > r.serial {
		have := r.serial
		r.mu.Unlock()
		return false, fmt.Errorf("%w: page after %d, have %d", ErrRevocationGap, l.Since, have)
	}
	for _, e := range l.Entries {
		if !now.Before(e.Horizon) {
			continue
		}
		old, ok := r.revoked[e.Peer]
		if !ok {
			added = append(added, e.Peer)
		}
		if e.Horizon.After(old) {
			r.revoked[e.Peer] = e.Horizon
		}
	}
	switch {
	case l.Serial > r.serial:
		r.serial = l.Serial
	case l.Since == 0 && l.Serial < r.serial:
		// A whole log whose serial is behind ours: the server's database
		// was restored from a backup. Follow it, or we would wait for
		// serials it will give to new revocations.
		r.serial = l.Serial
	}
	for p, h := range r.revoked {
		if !now.Before(h) {
			delete(r.revoked, p)
		}
	}
	r.mu.Unlock()
	if r.OnRevoke != nil {
		for _, p := range added {
			r.OnRevoke(p)
		}
	}
	return l.More, nil
}

// Serve polls the log at once, then every Interval and whenever kicked,
// until ctx ends; then it returns nil. A failed poll is retried up to
// Retries times with growing delays, then logged, and the set keeps what
// it had: a supernode outlives its auth server's restarts. Serve runs in
// the caller's goroutine and starts none.
func (r *Revocations) Serve(ctx context.Context) error {
	r.init()
	if r.Auth == "" || (r.Fetch == nil && (r.Host == nil || r.Ticket == nil)) {
		return errors.New("revocations: Auth, and Fetch or Host and Ticket, are required")
	}
	return pollLoop(ctx, r.Logger, r.Interval, wire.RevocationPollInterval, "fetching revocations", r.kick, r.poll, "auth", r.Auth)
}

// poll fetches and applies pages until the log is caught up, retrying a
// failure up to Retries times.
func (r *Revocations) poll(ctx context.Context, interval time.Duration) error {
	retries := r.Retries
	switch {
	case retries == 0:
		retries = DefaultRevocationRetries
	case retries < 0:
		retries = 0
	}
	delay := r.RetryDelay
	if delay <= 0 {
		delay = DefaultRevocationRetryDelay
	}
	for attempt := 0; ; attempt++ {
		err := r.catchUp(ctx)
		if err == nil {
			r.mu.Lock()
			r.updated = r.now()
			r.mu.Unlock()
			return nil
		}
		if attempt >= retries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(min(delay<<attempt, interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// catchUp fetches pages from Serial() on while they say more follows.
func (r *Revocations) catchUp(ctx context.Context) error {
	fetch := r.Fetch
	if fetch == nil {
		fetch = func(ctx context.Context, since uint64) (*wire.SignedRevocations, error) {
			t := r.Ticket()
			if t == nil {
				return nil, errors.New("no ticket to fetch revocations with yet")
			}
			return FetchRevocations(ctx, r.Host, r.Auth, t, since)
		}
	}
	for range maxRevocationPages {
		since := r.Serial()
		fctx, cancel := context.WithTimeout(ctx, wire.RegistryTimeout)
		sr, err := fetch(fctx, since)
		cancel()
		if err != nil {
			return fmt.Errorf("fetching revocations after %d: %w", since, err)
		}
		more, err := r.apply(sr)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if r.Serial() <= since {
			return fmt.Errorf("%w: page says more but brings the serial no further than %d", ErrProtocol, since)
		}
	}
	// The rest at once, but from the loop, which checks ctx and the ticker.
	r.Kick()
	return nil
}

// FetchRevocations asks the auth server auth for the page of its
// revocation log after serial since, presenting h's ticket t (any role).
// The answer is returned as signed, unverified: Revocations.Apply verifies
// it, and it can be passed on as is. auth's addresses must be known to h's
// peerstore (or a connection open).
func FetchRevocations(ctx context.Context, h host.Host, auth peer.ID, t *wire.SignedTicket, since uint64) (*wire.SignedRevocations, error) {
	resp, err := Call[*wire.RegistryResponse](ctx, h, auth, wire.ProtoRegistry, &wire.RegistryRequest{
		Kind: &wire.RegistryRequest_Revocations{Revocations: &wire.FetchRevocations{Ticket: t, Since: since}},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching revocations: %w", err)
	}
	if resp.GetRevocations() == nil {
		return nil, fmt.Errorf("fetching revocations: %w: no list in the answer", ErrProtocol)
	}
	return resp.GetRevocations(), nil
}
