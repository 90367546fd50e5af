// Package keys is the security stage of the node's message pipeline: the
// device's end-to-end keys, its prekeys and their publication, the
// ratchet sessions with contacts' devices, and safety numbers.
//
// Every envelope to a contact's
// device is sealed with a Double Ratchet session with that device
// (node/ratchet), started PQXDH-style from the bundle the device published
// at its homes — so the first message to an offline contact already has
// forward secrecy and post-quantum protection. Sessions live in the store,
// sealed with the storage key. A contact whose device published no bundle
// (an older release) gets v1 (e2e.V1) until it does; v1 is still accepted
// from contacts, so conversations from before the ratchet carry on.
package keys

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

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

// noBundleRetry is how long a device that published no bundle is sealed to
// with v1 before its homes are asked again.
const noBundleRetry = 10 * time.Minute

// errNoBundle: the contact's device published no prekey bundle (yet).
var errNoBundle = errors.New("no prekey bundle published")

// Host is what the capability needs from the node.
type Host interface {
	Store() *store.Store
	// Libp2p is the node's host: our device's peer ID, and the stream to
	// the prekey directories.
	Libp2p() host.Host
	// Ticket is our current ticket.
	Ticket() *ticket.Ticket
	Me() string
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

	// mu serializes every use of the ratchet sessions: each encrypt and
	// decrypt is a read-modify-write of a session row.
	mu       sync.Mutex
	noBundle map[peer.ID]time.Time // devices last found without a bundle

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
	return &Keys{h: h, id: id, v1: v1, pre: prekeyStore{h.Store()}, noBundle: map[peer.ID]time.Time{},
		pub: publication{published: map[peer.ID]time.Time{}}}, nil
}

// OpenAnonymous opens the anonymous outer layer of a mail item sealed to
// our box key.
func (k *Keys) OpenAnonymous(item []byte) ([]byte, error) { return k.v1.OpenAnonymous(item) }

// MarkNoBundle records that p's device published no prekey bundle: it is
// sealed to with v1 until then, without asking its homes again (what
// Ensure records after a lookup that found none).
func (k *Keys) MarkNoBundle(p peer.ID, until time.Time) {
	k.mu.Lock()
	k.noBundle[p] = until
	k.mu.Unlock()
}

// Ensure makes sure a ratchet session with the device of t exists,
// fetching its bundle from its homes if need be. A device without a bundle
// is not an error: it is sealed to with v1.
func (k *Keys) Ensure(ctx context.Context, t *ticket.Ticket) error {
	k.mu.Lock()
	has, err := k.h.Store().Sessions(t.Peer.String())
	until, known := k.noBundle[t.Peer]
	k.mu.Unlock()
	if err != nil || len(has) > 0 || (known && time.Now().Before(until)) {
		return err
	}
	b, err := k.fetchBundle(ctx, t)
	if errors.Is(err, errNoBundle) {
		k.mu.Lock()
		k.noBundle[t.Peer] = time.Now().Add(noBundleRetry)
		k.mu.Unlock()
		k.h.Log().Info("contact's device has no prekey bundle: sealing with v1", "username", t.Username, "peer", t.Peer)
		return nil
	}
	if err != nil {
		return err
	}
	sess, err := ratchet.Initiate(k.id, t.Peer, b)
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
	if has, err := k.h.Store().Sessions(t.Peer.String()); err != nil || len(has) > 0 {
		return err // another caller got there first
	}
	return k.saveSession(t.Peer, newSessionID(), sess)
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

// saveSession stores sess as used now. Callers hold k.mu.
func (k *Keys) saveSession(p peer.ID, id []byte, sess *ratchet.Session) error {
	state, err := sess.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(state)
	return k.h.Store().PutSession(store.Session{PeerID: p.String(), ID: id, State: state, Used: time.Now()})
}

// Seal seals the entries for the device of to: with the most recently used
// ratchet session, or v1 when there is none — and v1 always for a
// sessionless entry, which must open whatever session state the recipient
// holds. The session is saved once, after the last entry and before any
// envelope leaves, so a crash can never send two messages under one key.
func (k *Keys) Seal(to *ticket.Ticket, entries []store.OutboxEntry) ([]*wire.Envelope, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*wire.Envelope, 0, len(entries))
	stored, err := k.h.Store().Sessions(to.Peer.String())
	if err != nil {
		return nil, err
	}
	var sess *ratchet.Session
	if len(stored) > 0 {
		sess, err = ratchet.UnmarshalSession(stored[0].State)
		clear(stored[0].State)
		if err != nil {
			return nil, fmt.Errorf("session with %s: %w", to.Username, err)
		}
	}
	used := false
	for _, e := range entries {
		if sess == nil || e.Sessionless {
			sealed, err := k.v1.Seal(e2e.Peer{ID: to.Peer, BoxKey: to.BoxKey}, []byte(e.ID), e.Payload)
			if err != nil {
				return nil, fmt.Errorf("sealing %s: %w", e.ID, err)
			}
			out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeV1})
			continue
		}
		sealed, err := sess.Encrypt(e.Payload, []byte(e.ID))
		if err != nil {
			return nil, fmt.Errorf("sealing %s: %w", e.ID, err)
		}
		out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeRatchet})
		used = true
	}
	if used {
		if err := k.saveSession(to.Peer, stored[0].ID, sess); err != nil {
			return nil, fmt.Errorf("saving the session with %s: %w", to.Username, err)
		}
	}
	return out, nil
}

// Open opens an envelope from the device of t. t comes from the
// authenticated stream's hello, or from a mail item's sender ticket — which
// anyone could copy: a ratchet message proves its sender by decrypting
// under a session with t's device (or, for a session start, by the
// identity signature and DH the ratchet checks), a v1 box by its signature.
func (k *Keys) Open(t *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	switch env.Scheme {
	case schemeV1:
		return k.v1.Open(e2e.Peer{ID: t.Peer, BoxKey: t.BoxKey}, []byte(env.Id), env.Sealed)
	case schemeRatchet:
	default:
		return nil, fmt.Errorf("unknown envelope scheme %d", env.Scheme)
	}
	ad := []byte(env.Id)
	k.mu.Lock()
	defer k.mu.Unlock()
	stored, err := k.h.Store().Sessions(t.Peer.String())
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, st := range stored {
		sess, err := ratchet.UnmarshalSession(st.State)
		clear(st.State)
		if err != nil {
			lastErr = err
			continue
		}
		plain, err := sess.Decrypt(env.Sealed, ad)
		if err != nil {
			lastErr = err
			if errors.Is(err, ratchet.ErrDuplicate) {
				return nil, err
			}
			continue
		}
		if err := k.saveSession(t.Peer, st.ID, sess); err != nil {
			return nil, err
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
	return plain, nil
}

// Reset drops our sessions with a device that told us it has none
// matching: the next message starts a new one.
func (k *Keys) Reset(p peer.ID) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.h.Log().Info("contact's device lost our session: starting a new one", "peer", p)
	return k.h.Store().DeleteSessions(p.String())
}
