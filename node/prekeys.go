package node

import (
	"context"
	"crypto/ecdh"
	"crypto/mlkem"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/supernode"
)

// Prekeys: so that a contact can start an end-to-end session with this
// device while it is offline (PQXDH), the device keeps a signed X25519
// prekey and a signed ML-KEM-768 prekey (rotated weekly; old ones kept a
// while for late session starts) and a pool of one-time X25519 prekeys,
// and publishes the public halves at its homes' prekey directories. Each
// one-time key is published to exactly one home, so no two contacts can be
// handed the same one.
const (
	prekeyRotate       = 7 * 24 * time.Hour  // a new signed and KEM prekey this often
	prekeyGrace        = 30 * 24 * time.Hour // old ones kept this long, for messages still in mailboxes
	oneTimeBatch       = 50                  // one-time keys published to a home at a time
	oneTimeLow         = 15                  // a home with fewer left gets a new batch
	oneTimeKeep        = 90 * 24 * time.Hour // unused one-time keys older than this are dropped
	prekeyRepublish    = 6 * time.Hour       // bundles are republished this often (tickets renew)
	settingNextOneTime = "e2e.nextOneTime"   // the next one-time key ID: IDs are never reused
)

// prekeyStore is ratchet.PrekeyStore over the account's SQLite store.
type prekeyStore struct{ st *store.Store }

var _ ratchet.PrekeyStore = prekeyStore{}

func (p prekeyStore) x25519(kind store.PrekeyKind, id uint32) (*ecdh.PrivateKey, error) {
	k, err := p.st.Prekey(kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ratchet.ErrNoPrekey, err)
	}
	if err != nil {
		return nil, err
	}
	defer clear(k.Private)
	return ecdh.X25519().NewPrivateKey(k.Private)
}

func (p prekeyStore) SignedPrekey(id uint32) (*ecdh.PrivateKey, error) {
	return p.x25519(store.PrekeySigned, id)
}

func (p prekeyStore) OneTimePrekey(id uint32) (*ecdh.PrivateKey, error) {
	return p.x25519(store.PrekeyOneTime, id)
}

func (p prekeyStore) KEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	k, err := p.st.Prekey(store.PrekeyKEM, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ratchet.ErrNoPrekey, err)
	}
	if err != nil {
		return nil, err
	}
	defer clear(k.Private)
	return mlkem.NewDecapsulationKey768(k.Private)
}

// OneTimeKEMPrekey: this device publishes no one-time KEM prekeys (the
// signed last-resort one gives the post-quantum part; one-time X25519 keys
// give the extra forward secrecy of the first flight).
func (p prekeyStore) OneTimeKEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	return nil, fmt.Errorf("%w: no one-time KEM prekeys here", ratchet.ErrNoPrekey)
}

func (p prekeyStore) Consume(c ratchet.Consumption) error {
	if c.HasOneTimeKEM {
		return fmt.Errorf("%w: no one-time KEM prekeys here", ratchet.ErrNoPrekey)
	}
	var oneTime *uint32
	if c.HasOneTime {
		oneTime = &c.OneTimeID
	}
	err := p.st.ConsumeInit(c.InitID[:], c.SignedPrekeyID, oneTime)
	switch {
	case errors.Is(err, store.ErrReplayed):
		return fmt.Errorf("%w: %v", ratchet.ErrReplay, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ratchet.ErrNoPrekey, err)
	}
	return err
}

// prekeys keeps this device's prekeys and their publication.
type prekeys struct {
	mu        sync.Mutex
	bundle    *ratchet.Bundle       // current signed and KEM prekey, no one-time key
	published map[peer.ID]time.Time // home → when it last took our bundle
	ticket    time.Time             // issue time of the ticket published with it
}

// settingBundle keeps the published bundle (public keys and signatures),
// so a restart republishes the same one instead of rotating.
const settingBundle = "e2e.bundle"

// currentBundle returns the bundle to publish, rotating the signed and KEM
// prekeys when they are due and dropping those past their grace period.
func (s *session) currentBundle() (*ratchet.Bundle, error) {
	s.pre.mu.Lock()
	defer s.pre.mu.Unlock()
	now := s.n.cfg.Now()
	b := s.pre.bundle
	if b == nil {
		if v, _ := s.store.Setting(settingBundle); v != "" {
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				if stored, err := ratchet.UnmarshalBundle(raw); err == nil && stored.Verify(s.host.ID()) == nil {
					b = stored
				}
			}
		}
	}
	if b != nil {
		spk, err1 := s.store.Prekey(store.PrekeySigned, b.SignedPrekey.ID)
		kem, err2 := s.store.Prekey(store.PrekeyKEM, b.KEMPrekey.ID)
		clear(spk.Private)
		clear(kem.Private)
		if err1 == nil && err2 == nil && now.Sub(spk.Created) < prekeyRotate {
			s.pre.bundle = b
			return b, nil
		}
	}
	b, err := s.rotatePrekeys(now)
	if err != nil {
		return nil, err
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := s.store.SetSetting(settingBundle, base64.StdEncoding.EncodeToString(raw)); err != nil {
		return nil, err
	}
	s.pre.bundle = b
	s.pre.published = map[peer.ID]time.Time{} // a new bundle goes to every home
	return b, nil
}

// rotatePrekeys makes a new signed and KEM prekey, and a bundle of them,
// and deletes the prekeys past their grace period.
func (s *session) rotatePrekeys(now time.Time) (*ratchet.Bundle, error) {
	next := func(kind store.PrekeyKind) (uint32, error) {
		ids, err := s.store.Prekeys(kind)
		if err != nil {
			return 0, err
		}
		var top uint32
		for _, id := range ids {
			top = max(top, id)
		}
		return top + 1, nil
	}
	sid, err := next(store.PrekeySigned)
	if err != nil {
		return nil, err
	}
	kid, err := next(store.PrekeyKEM)
	if err != nil {
		return nil, err
	}
	spk, spkPriv, err := s.crypt.id.GenerateSignedPrekey(sid)
	if err != nil {
		return nil, err
	}
	kpk, dk, err := s.crypt.id.GenerateKEMPrekey(kid)
	if err != nil {
		return nil, err
	}
	b, err := s.crypt.id.NewBundle(spk, kpk, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutPrekeys([]store.Prekey{
		{Kind: store.PrekeySigned, ID: sid, Private: spkPriv.Bytes(), Created: now},
		{Kind: store.PrekeyKEM, ID: kid, Private: dk.Bytes(), Created: now},
	}); err != nil {
		return nil, err
	}
	for _, kind := range []store.PrekeyKind{store.PrekeySigned, store.PrekeyKEM} {
		ids, err := s.store.Prekeys(kind)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			k, err := s.store.Prekey(kind, id)
			if err == nil && now.Sub(k.Created) > prekeyRotate+prekeyGrace {
				if err := s.store.DeletePrekey(kind, id); err != nil {
					return nil, err
				}
			}
			clear(k.Private)
		}
	}
	s.n.log.Info("new prekeys", "signed", sid, "kem", kid)
	return b, nil
}

// publishPrekeys puts the bundle at every home whose copy is older than
// prekeyRepublish (or any copy, with force), topping up its one-time keys.
func (s *session) publishPrekeys(ctx context.Context, force bool) error {
	b, err := s.currentBundle()
	if err != nil {
		return fmt.Errorf("prekey bundle: %w", err)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	var errs []error
	s.pre.mu.Lock()
	if issued := s.tk().Issued; !issued.Equal(s.pre.ticket) {
		// The directory keeps a bundle as long as the ticket it came with:
		// a renewed ticket goes out at once.
		s.pre.ticket = issued
		s.pre.published = map[peer.ID]time.Time{}
	}
	s.pre.mu.Unlock()
	for _, home := range s.homesOf(s.me()) {
		s.pre.mu.Lock()
		last, ok := s.pre.published[home.ID]
		s.pre.mu.Unlock()
		if ok && !force && time.Since(last) < prekeyRepublish {
			continue
		}
		if err := s.connectRendezvous(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		left, err := supernode.PublishPrekeys(ctx, s.host, home.ID, s.tk().Signed, raw, nil, false)
		if err == nil && left < oneTimeLow {
			var batch [][]byte
			if batch, err = s.newOneTimeKeys(oneTimeBatch); err == nil {
				left, err = supernode.PublishPrekeys(ctx, s.host, home.ID, s.tk().Signed, raw, batch, false)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", home.ID, err))
			continue
		}
		s.n.log.Debug("published prekeys", "supernode", home.ID, "one_time_left", left)
		s.pre.mu.Lock()
		s.pre.published[home.ID] = time.Now()
		s.pre.mu.Unlock()
	}
	return errors.Join(errs...)
}

// newOneTimeKeys makes n one-time prekeys, stores their private halves and
// returns the public ones as the directory carries them: a 4-byte
// big-endian ID and the 32-byte key. Unused ones past oneTimeKeep go.
func (s *session) newOneTimeKeys(n int) ([][]byte, error) {
	s.pre.mu.Lock()
	defer s.pre.mu.Unlock()
	v, _ := s.store.Setting(settingNextOneTime)
	first, _ := strconv.ParseUint(v, 10, 32)
	if first == 0 {
		first = 1
	}
	if first+uint64(n) > 1<<32-1 {
		first = 1 // after four billion keys, start over: the old ones are long gone
	}
	pubs, privs, err := ratchet.GenerateOneTimePrekeys(uint32(first), n)
	if err != nil {
		return nil, err
	}
	now := s.n.cfg.Now()
	keys := make([]store.Prekey, len(privs))
	out := make([][]byte, len(pubs))
	for i := range pubs {
		keys[i] = store.Prekey{Kind: store.PrekeyOneTime, ID: pubs[i].ID, Private: privs[i].Bytes(), Created: now}
		out[i] = binary.BigEndian.AppendUint32(nil, pubs[i].ID)
		out[i] = append(out[i], pubs[i].Pub...)
	}
	// The counter moves first: a crash between the two writes skips IDs
	// rather than reusing them.
	if err := s.store.SetSetting(settingNextOneTime, strconv.FormatUint(first+uint64(n), 10)); err != nil {
		return nil, err
	}
	if err := s.store.PutPrekeys(keys); err != nil {
		return nil, err
	}
	ids, err := s.store.Prekeys(store.PrekeyOneTime)
	if err == nil {
		for _, id := range ids {
			k, err := s.store.Prekey(store.PrekeyOneTime, id)
			if err == nil && now.Sub(k.Created) > oneTimeKeep {
				_ = s.store.DeletePrekey(store.PrekeyOneTime, id)
			}
			clear(k.Private)
		}
	}
	return out, nil
}

// decodeOneTime reads a one-time prekey as the directory carries it.
func decodeOneTime(b []byte) (*ratchet.OneTimePrekey, error) {
	if len(b) != 4+ratchet.KeySize {
		return nil, fmt.Errorf("one-time prekey of %d bytes, want %d", len(b), 4+ratchet.KeySize)
	}
	return &ratchet.OneTimePrekey{ID: binary.BigEndian.Uint32(b), Pub: append([]byte(nil), b[4:]...)}, nil
}
