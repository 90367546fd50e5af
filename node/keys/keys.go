// Package keys is the security stage of the node's message pipeline: the
// device's end-to-end keys, its prekeys and their publication, the
// ratchet sessions with contacts' devices, and safety numbers.
//
// Every envelope to a contact's
// device is sealed with a Double Ratchet session with that device
// (node/ratchet), started PQXDH-style from the bundle the device published
// at its homes — so the first message to an offline contact already has
// forward secrecy and post-quantum protection. Sessions live in the store,
// sealed with the storage key.
//
// Once two devices have had a session, the pair never falls back to static
// keys: the device is pinned (store.PinRatchet) and the last verified
// bundle of it is kept, so a new session (ours lost, or reset by the
// other side) starts from a fresh bundle, or from the kept one when no home
// serves one, or else messages wait in the outbox and the user is told
// ("waiting for bob's keys"). Only a device never spoken to through the
// ratchet that has published no bundle anywhere (an older release, or a
// first contact whose homes hold nothing) is sealed to with v1 (e2e.V1),
// and the user is told; the next message after its bundle is seen starts a
// session. v1 is still accepted from contacts, so conversations from
// before the ratchet carry on, and the user is told of that too.
package keys

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/e2e"
	"eserver/node/payload"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Envelope schemes (wire.Envelope.scheme).
const (
	schemeV1      = 0
	schemeRatchet = 2
)

// Retry windows and the life of a kept bundle.
const (
	// noBundleRetry is how long a device never spoken to that published no
	// bundle is sealed to with v1 before its homes are asked again.
	noBundleRetry = 2 * time.Minute
	// waitRetry is how often the homes of a pinned device with no usable
	// bundle are asked again while messages wait for it.
	waitRetry = 30 * time.Second
	// keptBundleUse is how long after we fetched it a kept bundle may start
	// a session. A directory serves a bundle up to wire.PrekeyBundleTTL
	// after its last publish, and a device publishes a new signed prekey
	// weekly, so a bundle is at most two weeks old when fetched; its owner
	// keeps the private half 37 days (prekeyRotate+prekeyGrace): two more
	// weeks of use still leave a week for the message to be read.
	keptBundleUse = 14 * 24 * time.Hour
)

// errNoBundle: the contact's device published no prekey bundle (yet).
var errNoBundle = errors.New("no prekey bundle published")

// ErrWaitingForKeys is Ensure's and Seal's answer for a contact's device we
// have spoken to through the ratchet but hold no session with, when no
// bundle of it is to be had (none served, none kept recently enough): the
// messages wait in the outbox rather than go with static keys.
var ErrWaitingForKeys = errors.New("waiting for the contact's prekeys")

// Host is what the capability needs from the node.
type Host interface {
	Store() *store.Store
	// Libp2p is the node's host: our device's peer ID, and the stream to
	// the prekey directories.
	Libp2p() host.Host
	// Emit tells the front ends (the security events).
	Emit(e api.Event)
	// Ticket is our current ticket.
	Ticket() *ticket.Ticket
	Me() string
	// AccountKey is our account identity's public key; nil while this
	// device holds none (safety numbers are then the devices').
	AccountKey() ed25519.PublicKey
	Now() time.Time
	Log() *slog.Logger
	// HomesOf are the supernodes that keep username's prekeys (and mail).
	HomesOf(username string) []peer.AddrInfo
	// ConnectHome connects to a home, marking it dead when it does not
	// answer.
	ConnectHome(ctx context.Context, home peer.AddrInfo) error
	// UpdateContact changes username's entry under the node's contact
	// lock (api.ErrNotContact when there is none) and tells the front
	// ends.
	UpdateContact(username string, change func(*store.Contact) error) error
}

// Keys is the capability for one session: the device's identity, the
// ratchet sessions (under mu) and the prekeys' publication (under its own
// lock).
type Keys struct {
	h   Host
	id  *ratchet.Identity
	v1  e2e.Scheme // v1 boxes, and the anonymous outer layer of mail
	pre prekeyStore

	// mu serializes every use of the ratchet sessions, kept opened in
	// live (sessions.go).
	mu       sync.Mutex
	live     map[peer.ID][]*liveSession
	noBundle map[peer.ID]time.Time        // devices last found without a bundle: when to ask again
	told     map[peer.ID]api.SecurityKind // the outbound state the front ends last heard of, per device
	toldIn   map[peer.ID]bool             // devices whose v1 message the front ends heard of

	pub publication
}

// New returns the capability for the device whose libp2p key is key and
// whose X25519 identity (the ticket's box key) is box.
func New(h Host, key crypto.PrivKey, box *ecdh.PrivateKey) (*Keys, error) {
	v1, err := e2e.NewV1(key, box)
	if err != nil {
		return nil, err
	}
	id, err := ratchet.NewIdentity(key, box)
	if err != nil {
		return nil, err
	}
	k := &Keys{h: h, id: id, v1: v1, noBundle: map[peer.ID]time.Time{}, live: map[peer.ID][]*liveSession{},
		told: map[peer.ID]api.SecurityKind{}, toldIn: map[peer.ID]bool{},
		pub: publication{published: map[peer.ID]time.Time{}, checked: map[peer.ID]time.Time{}}}
	k.pre = prekeyStore{st: h.Store(), consumed: k.recheckPrekeys}
	return k, nil
}

// OpenAnonymous opens the anonymous outer layer of a mail item sealed to
// our box key.
func (k *Keys) OpenAnonymous(item []byte) ([]byte, error) { return k.v1.OpenAnonymous(item) }

// MarkNoBundle records that p's device published no prekey bundle: its
// homes are not asked again until then (what Ensure records after a lookup
// that found none). A device never spoken to is sealed to with v1 until
// then; a pinned one waits.
func (k *Keys) MarkNoBundle(p peer.ID, until time.Time) {
	k.mu.Lock()
	k.noBundle[p] = until
	k.mu.Unlock()
}

// Ensure makes sure a ratchet session with the device of t exists, starting
// one from its bundle: fresh from its homes, or the one kept from an earlier
// fetch when they serve none. A device never spoken to through the ratchet
// that has no bundle anywhere is not an error: it is sealed to with v1. A
// pinned device with no usable bundle gives ErrWaitingForKeys.
func (k *Keys) Ensure(ctx context.Context, t *ticket.Ticket) error {
	k.mu.Lock()
	has, err := k.sessionsLocked(t.Peer)
	until, known := k.noBundle[t.Peer]
	k.mu.Unlock()
	if err != nil || len(has) > 0 {
		return err
	}
	pinned, kept, err := k.pinned(t.Peer)
	if err != nil {
		return err
	}
	from, fresh := kept, false
	if !known || !time.Now().Before(until) || kept == nil {
		var fetchErr error
		if known && time.Now().Before(until) {
			fetchErr = errNoBundle // asked a moment ago
		} else {
			from, fetchErr = k.fetchBundle(ctx, t)
			fresh = fetchErr == nil
		}
		switch {
		case fetchErr == nil:
		case kept != nil:
			// A home that withholds bundles (or none reachable) cannot
			// push a pinned device down to static keys.
			from = kept
			k.h.Log().Info("no fresh prekey bundle: starting from the one kept", "username", t.Username, "peer", t.Peer, "err", fetchErr)
		case pinned:
			k.mu.Lock()
			if !known || !time.Now().Before(until) {
				k.noBundle[t.Peer] = time.Now().Add(waitRetry)
			}
			k.tellLocked(t, api.SecurityWaitingForKeys)
			k.mu.Unlock()
			return fmt.Errorf("%w: %s: %v", ErrWaitingForKeys, t.Username, fetchErr)
		case errors.Is(fetchErr, errNoBundle):
			k.mu.Lock()
			if !known || !time.Now().Before(until) {
				k.noBundle[t.Peer] = time.Now().Add(noBundleRetry)
				k.h.Log().Info("contact's device has no prekey bundle: sealing with v1", "username", t.Username, "peer", t.Peer)
			}
			k.mu.Unlock()
			return nil
		default:
			return fetchErr
		}
	}
	sess, err := ratchet.Initiate(k.id, t.Peer, from)
	if err != nil {
		return fmt.Errorf("starting a session with %s: %w", t.Username, err)
	}
	if !bytes.Equal(sess.Remote().DH, t.BoxKey) {
		// The bundle is signed by the device, but its identity key must be
		// the one the auth server vouched for in the ticket.
		return fmt.Errorf("%s's bundle names an identity key its ticket does not", t.Username)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.noBundle, t.Peer)
	if has, err := k.sessionsLocked(t.Peer); err != nil || len(has) > 0 {
		return err // another caller got there first
	}
	if fresh {
		if err := k.keepBundle(t.Peer, from); err != nil {
			return err
		}
	} else if err := k.h.Store().PinRatchet(t.Peer.String()); err != nil {
		return err
	}
	if err := k.saveSession(t.Peer, newSessionID(), sess); err != nil {
		return err
	}
	k.tellLocked(t, api.SecurityProtected)
	return nil
}

// pinned reports whether p's device has spoken to us through the ratchet,
// and returns the bundle of it we kept if it may still start a session.
func (k *Keys) pinned(p peer.ID) (bool, *ratchet.Bundle, error) {
	pin, err := k.h.Store().Pinned(p.String())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	if pin.Bundle == nil || k.h.Now().Sub(pin.Fetched) > keptBundleUse {
		return true, nil, nil
	}
	b, err := ratchet.UnmarshalBundle(pin.Bundle)
	if err != nil || b.Verify(p) != nil {
		return true, nil, nil // the stored row is damaged: as if none were kept
	}
	return true, b, nil
}

// keepBundle keeps a verified bundle of p's device, without its one-time
// keys (each serves one session start only), and pins the device.
func (k *Keys) keepBundle(p peer.ID, b *ratchet.Bundle) error {
	plain := *b
	plain.OneTime, plain.OneTimeKEM = nil, nil
	raw, err := plain.MarshalBinary()
	if err != nil {
		return err
	}
	return k.h.Store().KeepBundle(p.String(), raw, k.h.Now())
}

// tellLocked tells the front ends when the outbound state of t's device
// changed: sealed with static keys, waiting for keys, or protected again
// after one of those. Callers hold k.mu.
func (k *Keys) tellLocked(t *ticket.Ticket, kind api.SecurityKind) {
	last, ok := k.told[t.Peer]
	if last == kind || (kind == api.SecurityProtected && !ok) {
		return // nothing new; a session from the start needs no notice
	}
	k.told[t.Peer] = kind
	k.h.Emit(api.Event{Security: &api.SecurityEvent{Contact: t.Username, Kind: kind, Time: k.h.Now()}})
}

// fetchBundle asks the homes of t's user for the bundle of t's device.
func (k *Keys) fetchBundle(ctx context.Context, t *ticket.Ticket) (*ratchet.Bundle, error) {
	var errs []error
	for _, home := range k.h.HomesOf(t.Username) {
		if err := k.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		devs, err := client.FetchPrekeys(ctx, k.h.Libp2p(), home.ID, k.h.Ticket().Signed, t.Username)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", home.ID, err))
			continue
		}
		for _, d := range devs {
			if d.Peer != t.Peer {
				continue
			}
			b, err := ratchet.UnmarshalBundle(d.Bundle)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: bundle of %s: %w", home.ID, t.Username, err))
				continue
			}
			if len(d.OneTime) > 0 {
				if b.OneTime, err = decodeOneTime(d.OneTime); err != nil {
					b.OneTime = nil // the signed keys still make a session
				}
			}
			if len(d.OneTimeKEM) > 0 {
				if b.OneTimeKEM, err = decodeOneTimeKEM(d.OneTimeKEM); err == nil && b.Verify(t.Peer) != nil {
					err = errors.New("bad signature")
				}
				if err != nil {
					// A bad one-time KEM key (the home's doing: the
					// device signs them) leaves the last-resort one.
					k.h.Log().Info("dropping a one-time KEM prekey", "username", t.Username, "home", home.ID, "err", err)
					b.OneTimeKEM = nil
				}
			}
			if err := b.Verify(t.Peer); err != nil {
				errs = append(errs, fmt.Errorf("%s: bundle of %s: %w", home.ID, t.Username, err))
				continue
			}
			return b, nil
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nil, errNoBundle
}

func newSessionID() []byte {
	id := make([]byte, 16)
	rand.Read(id) // never fails (crypto/rand's documented contract)
	return id
}

// saveSession makes sess, with id, p's most recently used session and
// stores it before it returns. Callers hold k.mu.
func (k *Keys) saveSession(p peer.ID, id []byte, sess *ratchet.Session) error {
	k.addLocked(p, id, sess)
	return k.saveLocked(p)
}

// Seal seals the entries for the device of to: with the most recently used
// ratchet session, or — only for a device never spoken to through the
// ratchet — v1 when there is none; a pinned device without a session gets
// ErrWaitingForKeys, whatever the caller did before. A sessionless entry (a
// resend request, which carries message IDs only) is always v1, signed by
// our device key, so it opens whatever session state the recipient holds.
// The session is saved once, after the last entry and before any envelope
// leaves, so a crash can never send two messages under one key.
func (k *Keys) Seal(to *ticket.Ticket, entries []store.OutboxEntry) ([]*wire.Envelope, error) {
	pend, out, err := k.seal(to, entries)
	if err != nil || pend == nil {
		return out, err
	}
	// Outside mu: the commit may wait for a group that is being written.
	if err := pend.Wait(); err != nil {
		return nil, fmt.Errorf("saving the session with %s: %w", to.Username, err)
	}
	return out, nil
}

// seal seals entries as Seal says and submits the session's new state
// (pend nil when no session was used).
func (k *Keys) seal(to *ticket.Ticket, entries []store.OutboxEntry) (pend *store.Pending, out []*wire.Envelope, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out = make([]*wire.Envelope, 0, len(entries))
	stored, err := k.sessionsLocked(to.Peer)
	if err != nil {
		return nil, nil, err
	}
	var ls *liveSession
	if len(stored) > 0 {
		ls = stored[0]
	} else if slices.ContainsFunc(entries, func(e store.OutboxEntry) bool { return !e.Sessionless }) {
		if _, err := k.h.Store().Pinned(to.Peer.String()); err == nil {
			k.tellLocked(to, api.SecurityWaitingForKeys)
			return nil, nil, fmt.Errorf("%w: %s has no session with us", ErrWaitingForKeys, to.Username)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		k.tellLocked(to, api.SecuritySentUnprotected)
	}
	used := false
	for _, e := range entries {
		if ls == nil || e.Sessionless {
			sealed, err := k.v1.Seal(e2e.Peer{ID: to.Peer, BoxKey: to.BoxKey}, []byte(e.ID), e.Payload)
			if err != nil {
				return nil, nil, fmt.Errorf("sealing %s: %w", e.ID, err)
			}
			out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeV1})
			continue
		}
		sealed, err := ls.s.Encrypt(e.Payload, []byte(e.ID))
		if err != nil {
			return nil, nil, fmt.Errorf("sealing %s: %w", e.ID, err)
		}
		out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeRatchet})
		used = true
	}
	if !used {
		return nil, out, nil
	}
	k.useLocked(to.Peer, ls)
	pend, err = k.submitLocked(to.Peer)
	if err != nil {
		return nil, nil, fmt.Errorf("saving the session with %s: %w", to.Username, err)
	}
	return pend, out, nil
}

// Open opens an envelope from the device of t. t comes from the
// authenticated stream's hello, or from a mail item's sender ticket — which
// anyone could copy: a ratchet message proves its sender by decrypting
// under a session with t's device (or, for a session start, by the
// identity signature and DH the ratchet checks), a v1 box by its signature.
func (k *Keys) Open(t *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	return k.open(t, env, true)
}

// OpenDirect opens an envelope as Open does, but leaves the new state of
// an existing session in memory only: the caller stores it with what the
// envelope carried (Persist), before acknowledging it. A session started
// by the envelope is stored at once, as by Open.
func (k *Keys) OpenDirect(t *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	return k.open(t, env, false)
}

func (k *Keys) open(t *ticket.Ticket, env *wire.Envelope, save bool) ([]byte, error) {
	switch env.Scheme {
	case schemeV1:
		plain, err := k.v1.Open(e2e.Peer{ID: t.Peer, BoxKey: t.BoxKey}, []byte(env.Id), env.Sealed)
		if err == nil && !resendRequest(plain) { // a resend request is v1 by design and says nothing
			k.mu.Lock()
			if !k.toldIn[t.Peer] {
				k.toldIn[t.Peer] = true
				k.h.Emit(api.Event{Security: &api.SecurityEvent{Contact: t.Username, Kind: api.SecurityReceivedUnprotected, Time: k.h.Now()}})
			}
			k.mu.Unlock()
		}
		return plain, err
	case schemeRatchet:
	default:
		return nil, fmt.Errorf("unknown envelope scheme %d", env.Scheme)
	}
	ad := []byte(env.Id)
	k.mu.Lock()
	defer k.mu.Unlock()
	stored, err := k.sessionsLocked(t.Peer)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, ls := range stored {
		// Decrypt changes the session only when it succeeds.
		plain, err := ls.s.Decrypt(env.Sealed, ad)
		if err != nil {
			lastErr = err
			if errors.Is(err, ratchet.ErrDuplicate) {
				return nil, err
			}
			continue
		}
		k.useLocked(t.Peer, ls)
		if save {
			if err := k.saveLocked(t.Peer); err != nil {
				return nil, err
			}
		}
		return plain, nil
	}
	if !ratchet.IsInit(env.Sealed) {
		if lastErr == nil {
			lastErr = errors.New("no session with the sender")
		}
		return nil, fmt.Errorf("%w: %v", payload.ErrSessionReset, lastErr)
	}
	sess, plain, err := ratchet.Respond(k.id, k.pre, t.Peer, env.Sealed, ad)
	if err != nil {
		if errors.Is(err, ratchet.ErrReplay) {
			return nil, fmt.Errorf("%w: %v", ratchet.ErrDuplicate, err)
		}
		if errors.Is(err, ratchet.ErrNoPrekey) {
			return nil, fmt.Errorf("%w: %v", payload.ErrSessionReset, err)
		}
		return nil, err
	}
	if !bytes.Equal(sess.Remote().DH, t.BoxKey) {
		return nil, fmt.Errorf("session start from %s with an identity key its ticket does not name", t.Username)
	}
	if err := k.saveSession(t.Peer, newSessionID(), sess); err != nil {
		return nil, err
	}
	// The device speaks the ratchet: never seal to it with static keys
	// again. Our replies go in this session at once.
	if err := k.h.Store().PinRatchet(t.Peer.String()); err != nil {
		return nil, err
	}
	delete(k.noBundle, t.Peer)
	k.tellLocked(t, api.SecurityProtected)
	return plain, nil
}

// Reset drops our sessions with a device that told us it has none
// matching: the next message starts a new one.
func (k *Keys) Reset(p peer.ID) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.h.Log().Info("contact's device lost our session: starting a new one", "peer", p)
	k.live[p] = nil // loaded and empty: the delete below is in queue order
	return k.h.Store().Commit(k.h.Store().DeleteSessionsOp(p.String()))
}

// resendRequest reports whether plain is a resend request, which is sealed
// without a session on purpose (see Seal) and so is no sign of a contact
// writing without forward secrecy.
func resendRequest(plain []byte) bool {
	var p wire.Payload
	return proto.Unmarshal(plain, &p) == nil && p.GetResendRequest() != nil
}
