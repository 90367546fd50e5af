package keys

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/wire"
)

// The ratchet sessions are kept in memory, opened, from their first use
// on, and written sealed to the store in the same transaction as what
// used them: the outbox entry an envelope was sealed for (Queue), the
// messages a batch of envelopes carried (Persist). Decoding and sealing a
// session for every envelope was most of a message's CPU, and writing it
// on its own an fsync more on the path.
//
// Every write of a session goes through the store's group commit and is
// submitted under mu, so the file sees the states in the order they were
// reached: a later state is never overwritten by an earlier one. The state
// written is always the newest in memory, which is never behind what left
// the process: an envelope leaves only after the transaction that stored
// it (and a state at least as new as the one that sealed it) committed, so
// a crash can never seal again under a key already used.

// liveSession is one session with a device, opened.
type liveSession struct {
	id    []byte
	s     *ratchet.Session
	used  time.Time
	dirty bool // changed since it was last submitted for writing
}

// sessionsLocked returns the sessions with p, most recently used first,
// reading them from the store on first use. Callers hold k.mu.
func (k *Keys) sessionsLocked(p peer.ID) ([]*liveSession, error) {
	if ss, ok := k.live[p]; ok {
		return ss, nil
	}
	stored, err := k.h.Store().Sessions(p.String())
	if err != nil {
		return nil, err
	}
	var ss []*liveSession
	for _, st := range stored {
		sess, err := ratchet.UnmarshalSession(st.State)
		clear(st.State)
		if err != nil {
			// A damaged row opens nothing: as if it were not there, as
			// before the cache (the store keeps it until it ages out).
			k.h.Log().Info("dropping an undecodable session", "peer", p, "err", err)
			continue
		}
		ss = append(ss, &liveSession{id: st.ID, s: sess, used: st.Used})
	}
	k.live[p] = ss
	return ss, nil
}

// useLocked marks ls as just used (first in p's list) and changed.
func (k *Keys) useLocked(p peer.ID, ls *liveSession) {
	ss := k.live[p]
	for i, x := range ss {
		if x == ls {
			copy(ss[1:i+1], ss[:i])
			ss[0] = ls
			break
		}
	}
	ls.used, ls.dirty = time.Now(), true
}

// addLocked makes sess, with id, p's most recently used session, keeping
// at most store.MaxSessionsPerPeer, as the store does.
func (k *Keys) addLocked(p peer.ID, id []byte, sess *ratchet.Session) *liveSession {
	ls := &liveSession{id: id, s: sess, used: time.Now(), dirty: true}
	ss := append([]*liveSession{ls}, k.live[p]...)
	if len(ss) > store.MaxSessionsPerPeer {
		ss = ss[:store.MaxSessionsPerPeer]
	}
	k.live[p] = ss
	return ls
}

// writesLocked returns the ops writing p's changed sessions as they are
// now, and marks them written.
func (k *Keys) writesLocked(p peer.ID) ([]store.Op, error) {
	var ops []store.Op
	// Oldest first, so the store's "keep the newest few" trims the same
	// ones the list dropped.
	ss := k.live[p]
	for i := len(ss) - 1; i >= 0; i-- {
		ls := ss[i]
		if !ls.dirty {
			continue
		}
		state, err := ls.s.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encoding the session with %s: %w", p, err)
		}
		op, err := k.h.Store().SessionOp(store.Session{PeerID: p.String(), ID: ls.id, State: state, Used: ls.used})
		clear(state)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		ls.dirty = false
	}
	return ops, nil
}

// submitLocked submits ops together with the writes of p's changed
// sessions, in one transaction. On an error nothing was submitted.
func (k *Keys) submitLocked(p peer.ID, ops ...store.Op) (*store.Pending, error) {
	w, err := k.writesLocked(p)
	if err != nil {
		return nil, err
	}
	return k.h.Store().Submit(append(ops, w...)...), nil
}

// marshalEnvelope is a ratchet envelope as an outbox entry keeps it.
func marshalEnvelope(id string, sealed []byte) ([]byte, error) {
	raw, err := proto.Marshal(&wire.Envelope{Id: id, Sealed: sealed, Scheme: schemeRatchet})
	if err != nil {
		return nil, fmt.Errorf("encoding envelope %s: %w", id, err)
	}
	return raw, nil
}

// saveLocked writes p's changed sessions and waits for the commit. No op
// of the group commit takes k.mu, so waiting under it is safe, only slow:
// for the rare paths (a session started, mail opened one by one).
func (k *Keys) saveLocked(p peer.ID) error {
	pend, err := k.submitLocked(p)
	if err != nil {
		return err
	}
	return pend.Wait()
}

// Queue seals the outbox entry e for the device to under our most recently
// used session with it, when there is one and e is not sessionless
// (e.Sealed and its fields are set), and submits op — which must store e,
// reading its fields when it runs — with the session's new state, in one
// transaction. Without a session, op is submitted alone and e goes
// unsealed: the courier seals it when it sends it. Wait on the result
// before telling anyone e is stored.
func (k *Keys) Queue(to peer.ID, e *store.OutboxEntry, op store.Op) (*store.Pending, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.Sessionless || to == "" {
		return k.h.Store().Submit(op), nil
	}
	ss, err := k.sessionsLocked(to)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return k.h.Store().Submit(op), nil
	}
	ls := ss[0]
	sealed, err := ls.s.Encrypt(e.Payload, []byte(e.ID))
	if err != nil {
		return nil, fmt.Errorf("sealing %s: %w", e.ID, err)
	}
	env, err := marshalEnvelope(e.ID, sealed)
	if err != nil {
		return nil, err
	}
	k.useLocked(to, ls)
	e.Sealed, e.SealedPeer, e.SealedSession = env, to.String(), ls.id
	return k.submitLocked(to, op)
}

// Current reports whether an entry sealed at queue time for device p
// under session id may still be sent as it is: that session is still one
// of ours with p. (A reset, or a new session the contact started, leaves
// it behind: the entry is sealed again.)
func (k *Keys) Current(p peer.ID, id []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	ss, err := k.sessionsLocked(p)
	if err != nil {
		return false
	}
	for _, ls := range ss {
		if string(ls.id) == string(id) {
			return true
		}
	}
	return false
}

// Persist submits ops (a received batch's messages) with the writes of
// the sessions with the devices ps that opened it since they were last
// written, in one transaction: the state that consumed a message's key is
// stored with the message, before its ack. A mail drain's batch comes from
// several devices.
func (k *Keys) Persist(ps []peer.ID, ops ...store.Op) (*store.Pending, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range ps {
		w, err := k.writesLocked(p)
		if err != nil {
			return nil, err
		}
		ops = append(ops, w...)
	}
	return k.h.Store().Submit(ops...), nil
}
