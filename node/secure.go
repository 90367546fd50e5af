package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/e2e"
	"eserver/node/payload"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode"
)

// The security layer of the message pipeline: every envelope to a contact's
// device is sealed with a Double Ratchet session with that device
// (node/ratchet), started PQXDH-style from the bundle the device published
// at its homes — so the first message to an offline contact already has
// forward secrecy and post-quantum protection. Sessions live in the store,
// sealed with the storage key. A contact whose device published no bundle
// (an older release) gets v1 (e2e.V1) until it does; v1 is still accepted
// from contacts, so conversations from before the ratchet carry on.

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

// crypt is a session's end-to-end state.
type crypt struct {
	id  *ratchet.Identity
	pre prekeyStore

	// mu serializes every use of the ratchet sessions: each encrypt and
	// decrypt is a read-modify-write of a session row.
	mu       sync.Mutex
	noBundle map[peer.ID]time.Time // devices last found without a bundle
}

// ensureSession makes sure a ratchet session with the device of t exists,
// fetching its bundle from its homes if need be. A device without a bundle
// is not an error: it is sealed to with v1.
func (s *session) ensureSession(ctx context.Context, t *ticket.Ticket) error {
	s.crypt.mu.Lock()
	has, err := s.store.Sessions(t.Peer.String())
	until, known := s.crypt.noBundle[t.Peer]
	s.crypt.mu.Unlock()
	if err != nil || len(has) > 0 || (known && time.Now().Before(until)) {
		return err
	}
	b, err := s.fetchBundle(ctx, t)
	if errors.Is(err, errNoBundle) {
		s.crypt.mu.Lock()
		s.crypt.noBundle[t.Peer] = time.Now().Add(noBundleRetry)
		s.crypt.mu.Unlock()
		s.n.log.Info("contact's device has no prekey bundle: sealing with v1", "username", t.Username, "peer", t.Peer)
		return nil
	}
	if err != nil {
		return err
	}
	sess, err := ratchet.Initiate(s.crypt.id, t.Peer, b)
	if err != nil {
		return fmt.Errorf("starting a session with %s: %w", t.Username, err)
	}
	if !bytes.Equal(sess.Remote().DH, t.BoxKey) {
		// The bundle is signed by the device, but its identity key must be
		// the one the auth server vouched for in the ticket.
		return fmt.Errorf("%s's bundle names an identity key its ticket does not", t.Username)
	}
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	delete(s.crypt.noBundle, t.Peer)
	if has, err := s.store.Sessions(t.Peer.String()); err != nil || len(has) > 0 {
		return err // another caller got there first
	}
	return s.saveSession(t.Peer, newSessionID(), sess)
}

// fetchBundle asks the homes of t's user for the bundle of t's device.
func (s *session) fetchBundle(ctx context.Context, t *ticket.Ticket) (*ratchet.Bundle, error) {
	var errs []error
	for _, home := range s.homesOf(t.Username) {
		if err := s.connectRendezvous(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		devs, err := supernode.FetchPrekeys(ctx, s.host, home.ID, s.tk().Signed, t.Username)
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

// saveSession stores sess as used now. Callers hold crypt.mu.
func (s *session) saveSession(p peer.ID, id []byte, sess *ratchet.Session) error {
	state, err := sess.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(state)
	return s.store.PutSession(store.Session{PeerID: p.String(), ID: id, State: state, Used: time.Now()})
}

// seal seals the entries for the device of to: with the most recently used
// ratchet session, or v1 when there is none. The session is saved once,
// after the last entry and before any envelope leaves, so a crash can
// never send two messages under one key.
func (s *session) seal(to *ticket.Ticket, entries []store.OutboxEntry) ([]*wire.Envelope, error) {
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	out := make([]*wire.Envelope, 0, len(entries))
	stored, err := s.store.Sessions(to.Peer.String())
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		for _, e := range entries {
			sealed, err := s.sealV1.Seal(e2e.Peer{ID: to.Peer, BoxKey: to.BoxKey}, []byte(e.ID), e.Payload)
			if err != nil {
				return nil, fmt.Errorf("sealing %s: %w", e.ID, err)
			}
			out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeV1})
		}
		return out, nil
	}
	sess, err := ratchet.UnmarshalSession(stored[0].State)
	clear(stored[0].State)
	if err != nil {
		return nil, fmt.Errorf("session with %s: %w", to.Username, err)
	}
	for _, e := range entries {
		sealed, err := sess.Encrypt(e.Payload, []byte(e.ID))
		if err != nil {
			return nil, fmt.Errorf("sealing %s: %w", e.ID, err)
		}
		out = append(out, &wire.Envelope{Id: e.ID, Sealed: sealed, Scheme: schemeRatchet})
	}
	if err := s.saveSession(to.Peer, stored[0].ID, sess); err != nil {
		return nil, fmt.Errorf("saving the session with %s: %w", to.Username, err)
	}
	return out, nil
}

// openEnvelope opens an envelope from the device of t. t comes from the
// authenticated stream's hello, or from a mail item's sender ticket — which
// anyone could copy: a ratchet message proves its sender by decrypting
// under a session with t's device (or, for a session start, by the
// identity signature and DH the ratchet checks), a v1 box by its signature.
func (s *session) openEnvelope(t *ticket.Ticket, env *wire.Envelope) ([]byte, error) {
	switch env.Scheme {
	case schemeV1:
		return s.sealV1.Open(e2e.Peer{ID: t.Peer, BoxKey: t.BoxKey}, []byte(env.Id), env.Sealed)
	case schemeRatchet:
	default:
		return nil, fmt.Errorf("unknown envelope scheme %d", env.Scheme)
	}
	ad := []byte(env.Id)
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	stored, err := s.store.Sessions(t.Peer.String())
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
		if err := s.saveSession(t.Peer, st.ID, sess); err != nil {
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
	sess, plain, err := ratchet.Respond(s.crypt.id, s.crypt.pre, t.Peer, env.Sealed, ad)
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
	if err := s.saveSession(t.Peer, newSessionID(), sess); err != nil {
		return nil, err
	}
	return plain, nil
}

// resetSessions drops our sessions with a device that told us it has none
// matching: the next message starts a new one.
func (s *session) resetSessions(p peer.ID) error {
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	s.n.log.Info("contact's device lost our session: starting a new one", "peer", p)
	return s.store.DeleteSessions(p.String())
}
