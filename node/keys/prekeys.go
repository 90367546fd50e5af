package keys

import (
	"bytes"
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
	"eserver/supernode/client"
)

// Prekeys: so that a contact can start an end-to-end session with this
// device while it is offline (PQXDH), the device keeps a signed X25519
// prekey and a signed ML-KEM-768 prekey (rotated weekly; old ones kept a
// while for late session starts) and pools of one-time X25519 and one-time
// ML-KEM-768 prekeys, and publishes the public halves at its homes' prekey
// directories. Each one-time key is published to exactly one home, so no
// two contacts can be handed the same one; with a one-time KEM key each
// session start has its own post-quantum secret, and the last-resort KEM
// key serves only when a home has run out.
const (
	prekeyRotate          = 7 * 24 * time.Hour   // a new signed and KEM prekey this often
	prekeyGrace           = 30 * 24 * time.Hour  // old ones kept this long, for messages still in mailboxes
	OneTimeBatch          = 50                   // one-time keys published to a home at a time
	oneTimeLow            = 15                   // a home with fewer left gets a new batch
	OneTimeKEMBatch       = 20                   // one-time KEM keys published to a home at a time (1.2 KiB each)
	oneTimeKEMLow         = 8                    // a home with fewer left gets a new batch
	oneTimeKeep           = 90 * 24 * time.Hour  // unused one-time keys older than this are dropped
	prekeyRepublish       = 6 * time.Hour        // bundles are republished this often (tickets renew)
	prekeyCheck           = 30 * time.Minute     // between republishes, homes are asked what is left this often
	settingNextOneTime    = "e2e.nextOneTime"    // the next one-time key ID: IDs are never reused
	settingNextOneTimeKEM = "e2e.nextOneTimeKEM" // the same for one-time KEM keys
)

// oneTimeKEMSize is a one-time KEM prekey as the directory carries it: a
// 4-byte big-endian ID, the encapsulation key and its signature.
const oneTimeKEMSize = 4 + mlkem.EncapsulationKeySize768 + 64

// prekeyStore is ratchet.PrekeyStore over the account's SQLite store.
// consumed, if set, is called after a session start used a one-time key.
type prekeyStore struct {
	st       *store.Store
	consumed func()
}

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

func (p prekeyStore) kem(kind store.PrekeyKind, id uint32) (*mlkem.DecapsulationKey768, error) {
	k, err := p.st.Prekey(kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ratchet.ErrNoPrekey, err)
	}
	if err != nil {
		return nil, err
	}
	defer clear(k.Private)
	return mlkem.NewDecapsulationKey768(k.Private)
}

func (p prekeyStore) KEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	return p.kem(store.PrekeyKEM, id)
}

func (p prekeyStore) OneTimeKEMPrekey(id uint32) (*mlkem.DecapsulationKey768, error) {
	return p.kem(store.PrekeyKEMOneTime, id)
}

// Consume deletes the one-time keys of both kinds an accepted session start
// used, with its init ID, in one transaction: a one-time KEM key serves one
// session start, even if two race or one is replayed.
func (p prekeyStore) Consume(c ratchet.Consumption) error {
	var oneTime, oneTimeKEM *uint32
	if c.HasOneTime {
		oneTime = &c.OneTimeID
	}
	if c.HasOneTimeKEM {
		oneTimeKEM = &c.OneTimeKEMID
	}
	err := p.st.ConsumeInit(c.InitID[:], c.SignedPrekeyID, oneTime, oneTimeKEM)
	switch {
	case errors.Is(err, store.ErrReplayed):
		return fmt.Errorf("%w: %v", ratchet.ErrReplay, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ratchet.ErrNoPrekey, err)
	}
	if err == nil && (oneTime != nil || oneTimeKEM != nil) && p.consumed != nil {
		p.consumed()
	}
	return err
}

// publication is this device's current bundle and where it went.
type publication struct {
	mu        sync.Mutex
	bundle    *ratchet.Bundle       // current signed and KEM prekey, no one-time key
	published map[peer.ID]time.Time // home → when it last took our bundle
	checked   map[peer.ID]time.Time // home → when it last told us what it has left
	ticket    time.Time             // issue time of the ticket published with it
}

// recheckPrekeys makes the next Publish ask every home what it has left:
// a session start just used one of our one-time keys.
func (k *Keys) recheckPrekeys() {
	k.pub.mu.Lock()
	clear(k.pub.checked)
	k.pub.mu.Unlock()
}

// settingBundle keeps the published bundle (public keys and signatures),
// so a restart republishes the same one instead of rotating.
const settingBundle = "e2e.bundle"

// currentBundle returns the bundle to publish, rotating the signed and KEM
// prekeys when they are due and dropping those past their grace period.
func (k *Keys) currentBundle() (*ratchet.Bundle, error) {
	k.pub.mu.Lock()
	defer k.pub.mu.Unlock()
	now := k.h.Now()
	b := k.pub.bundle
	if b == nil {
		if v, _ := k.h.Store().Setting(settingBundle); v != "" {
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				if stored, err := ratchet.UnmarshalBundle(raw); err == nil && stored.Verify(k.h.Libp2p().ID()) == nil {
					b = stored
				}
			}
		}
	}
	if b != nil {
		spk, err1 := k.h.Store().Prekey(store.PrekeySigned, b.SignedPrekey.ID)
		kem, err2 := k.h.Store().Prekey(store.PrekeyKEM, b.KEMPrekey.ID)
		clear(spk.Private)
		clear(kem.Private)
		if err1 == nil && err2 == nil && now.Sub(spk.Created) < prekeyRotate {
			k.pub.bundle = b
			return b, nil
		}
	}
	b, err := k.rotatePrekeys(now)
	if err != nil {
		return nil, err
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := k.h.Store().SetSetting(settingBundle, base64.StdEncoding.EncodeToString(raw)); err != nil {
		return nil, err
	}
	k.pub.bundle = b
	k.pub.published = map[peer.ID]time.Time{} // a new bundle goes to every home
	return b, nil
}

// rotatePrekeys makes a new signed and KEM prekey, and a bundle of them,
// and deletes the prekeys past their grace period.
func (k *Keys) rotatePrekeys(now time.Time) (*ratchet.Bundle, error) {
	next := func(kind store.PrekeyKind) (uint32, error) {
		ids, err := k.h.Store().Prekeys(kind)
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
	spk, spkPriv, err := k.id.GenerateSignedPrekey(sid)
	if err != nil {
		return nil, err
	}
	kpk, dk, err := k.id.GenerateKEMPrekey(kid)
	if err != nil {
		return nil, err
	}
	b, err := k.id.NewBundle(spk, kpk, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := k.h.Store().PutPrekeys([]store.Prekey{
		{Kind: store.PrekeySigned, ID: sid, Private: spkPriv.Bytes(), Created: now},
		{Kind: store.PrekeyKEM, ID: kid, Private: dk.Bytes(), Created: now},
	}); err != nil {
		return nil, err
	}
	for _, kind := range []store.PrekeyKind{store.PrekeySigned, store.PrekeyKEM} {
		ids, err := k.h.Store().Prekeys(kind)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			pk, err := k.h.Store().Prekey(kind, id)
			if err == nil && now.Sub(pk.Created) > prekeyRotate+prekeyGrace {
				if err := k.h.Store().DeletePrekey(kind, id); err != nil {
					return nil, err
				}
			}
			clear(pk.Private)
		}
	}
	k.h.Log().Info("new prekeys", "signed", sid, "kem", kid)
	return b, nil
}

// Publish puts the bundle at every home whose copy is older than
// prekeyRepublish (or any copy, with force), and asks the others what they
// have left every prekeyCheck (or at once after a session start used one
// of our one-time keys), topping up each kind of one-time key a home is
// low on.
func (k *Keys) Publish(ctx context.Context, force bool) error {
	b, err := k.currentBundle()
	if err != nil {
		return fmt.Errorf("prekey bundle: %w", err)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	var errs []error
	k.pub.mu.Lock()
	if issued := k.h.Ticket().Issued; !issued.Equal(k.pub.ticket) {
		// The directory keeps a bundle as long as the ticket it came with:
		// a renewed ticket goes out at once.
		k.pub.ticket = issued
		k.pub.published = map[peer.ID]time.Time{}
	}
	k.pub.mu.Unlock()
	for _, home := range k.h.HomesOf(k.h.Me()) {
		k.pub.mu.Lock()
		last, ok := k.pub.published[home.ID]
		checked, fresh := k.pub.checked[home.ID]
		k.pub.mu.Unlock()
		republish := !ok || force || time.Since(last) >= prekeyRepublish
		if !republish && fresh && time.Since(checked) < prekeyCheck {
			continue
		}
		if err := k.h.ConnectHome(ctx, home); err != nil {
			errs = append(errs, err)
			continue
		}
		var left client.PrekeyCounts
		var err error
		if republish {
			left, err = client.PublishAllPrekeys(ctx, k.h.Libp2p(), home.ID, k.h.Ticket().Signed, raw, nil, nil, false)
		} else {
			var st client.PrekeyStatus
			st, err = client.PrekeysStatus(ctx, k.h.Libp2p(), home.ID, k.h.Ticket().Signed)
			left = client.PrekeyCounts{OneTime: st.OneTimeLeft, OneTimeKEM: st.OneTimeKEMLeft}
			if err == nil && !st.Found {
				// The home lost our entry (restored, or it swept it):
				// publish again in full.
				left, err = client.PublishAllPrekeys(ctx, k.h.Libp2p(), home.ID, k.h.Ticket().Signed, raw, nil, nil, false)
				republish = true
			}
		}
		if err == nil && (left.OneTime < oneTimeLow || left.OneTimeKEM < oneTimeKEMLow) {
			var batch, kemBatch [][]byte
			if left.OneTime < oneTimeLow {
				batch, err = k.newOneTimeKeys(OneTimeBatch)
			}
			if err == nil && left.OneTimeKEM < oneTimeKEMLow {
				kemBatch, err = k.newOneTimeKEMKeys(OneTimeKEMBatch)
			}
			if err == nil {
				left, err = client.PublishAllPrekeys(ctx, k.h.Libp2p(), home.ID, k.h.Ticket().Signed, raw, batch, kemBatch, false)
				republish = true
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", home.ID, err))
			continue
		}
		k.h.Log().Debug("prekeys at a home", "supernode", home.ID, "one_time_left", left.OneTime, "one_time_kem_left", left.OneTimeKEM)
		k.pub.mu.Lock()
		if republish {
			k.pub.published[home.ID] = time.Now()
		}
		k.pub.checked[home.ID] = time.Now()
		k.pub.mu.Unlock()
	}
	return errors.Join(errs...)
}

// newOneTimeKeys makes n one-time prekeys, stores their private halves and
// returns the public ones as the directory carries them: a 4-byte
// big-endian ID and the 32-byte key. Unused ones past oneTimeKeep go.
func (k *Keys) newOneTimeKeys(n int) ([][]byte, error) {
	k.pub.mu.Lock()
	defer k.pub.mu.Unlock()
	first := k.nextOneTimeID(settingNextOneTime, n)
	pubs, privs, err := ratchet.GenerateOneTimePrekeys(first, n)
	if err != nil {
		return nil, err
	}
	keys := make([]store.Prekey, len(privs))
	out := make([][]byte, len(pubs))
	for i := range pubs {
		keys[i] = store.Prekey{Kind: store.PrekeyOneTime, ID: pubs[i].ID, Private: privs[i].Bytes()}
		out[i] = binary.BigEndian.AppendUint32(nil, pubs[i].ID)
		out[i] = append(out[i], pubs[i].Pub...)
	}
	if err := k.keepOneTime(store.PrekeyOneTime, settingNextOneTime, first, keys); err != nil {
		return nil, err
	}
	return out, nil
}

// newOneTimeKEMKeys makes n signed one-time KEM prekeys, stores their
// private halves and returns the public ones as the directory carries them
// (oneTimeKEMSize bytes each). Unused ones past oneTimeKeep go.
func (k *Keys) newOneTimeKEMKeys(n int) ([][]byte, error) {
	k.pub.mu.Lock()
	defer k.pub.mu.Unlock()
	first := k.nextOneTimeID(settingNextOneTimeKEM, n)
	pubs, privs, err := k.id.GenerateOneTimeKEMPrekeys(first, n)
	if err != nil {
		return nil, err
	}
	keys := make([]store.Prekey, len(privs))
	out := make([][]byte, len(pubs))
	for i := range pubs {
		keys[i] = store.Prekey{Kind: store.PrekeyKEMOneTime, ID: pubs[i].ID, Private: privs[i].Bytes()}
		out[i] = binary.BigEndian.AppendUint32(make([]byte, 0, oneTimeKEMSize), pubs[i].ID)
		out[i] = append(out[i], pubs[i].EncapsulationKey...)
		out[i] = append(out[i], pubs[i].Sig...)
	}
	if err := k.keepOneTime(store.PrekeyKEMOneTime, settingNextOneTimeKEM, first, keys); err != nil {
		return nil, err
	}
	return out, nil
}

// nextOneTimeID is the first ID of a batch of n one-time prekeys, from the
// counter kept in setting. Callers hold k.pub.mu.
func (k *Keys) nextOneTimeID(setting string, n int) uint32 {
	v, _ := k.h.Store().Setting(setting)
	first, _ := strconv.ParseUint(v, 10, 32)
	if first == 0 || first+uint64(n) > 1<<32-1 {
		first = 1 // after four billion keys, start over: the old ones are long gone
	}
	return uint32(first)
}

// keepOneTime stores a new batch of one-time prekeys of kind, whose IDs
// start at first, moves the counter in setting past them, and drops the
// unused ones of that kind older than oneTimeKeep. Callers hold k.pub.mu.
func (k *Keys) keepOneTime(kind store.PrekeyKind, setting string, first uint32, keys []store.Prekey) error {
	now := k.h.Now()
	for i := range keys {
		keys[i].Created = now
	}
	// The counter moves first: a crash between the two writes skips IDs
	// rather than reusing them.
	if err := k.h.Store().SetSetting(setting, strconv.FormatUint(uint64(first)+uint64(len(keys)), 10)); err != nil {
		return err
	}
	if err := k.h.Store().PutPrekeys(keys); err != nil {
		return err
	}
	ids, err := k.h.Store().Prekeys(kind)
	if err != nil {
		return nil // pruning waits for the next batch
	}
	for _, id := range ids {
		pk, err := k.h.Store().Prekey(kind, id)
		if err == nil && now.Sub(pk.Created) > oneTimeKeep {
			_ = k.h.Store().DeletePrekey(kind, id)
		}
		clear(pk.Private)
	}
	return nil
}

// decodeOneTimeKEM reads a one-time KEM prekey as the directory carries it.
// Its signature is checked with the bundle (ratchet.Bundle.Verify).
func decodeOneTimeKEM(b []byte) (*ratchet.KEMPrekey, error) {
	if len(b) != oneTimeKEMSize {
		return nil, fmt.Errorf("one-time KEM prekey of %d bytes, want %d", len(b), oneTimeKEMSize)
	}
	ek := b[4 : 4+mlkem.EncapsulationKeySize768]
	return &ratchet.KEMPrekey{ID: binary.BigEndian.Uint32(b), EncapsulationKey: bytes.Clone(ek),
		Sig: bytes.Clone(b[4+mlkem.EncapsulationKeySize768:])}, nil
}

// decodeOneTime reads a one-time prekey as the directory carries it.
func decodeOneTime(b []byte) (*ratchet.OneTimePrekey, error) {
	if len(b) != 4+ratchet.KeySize {
		return nil, fmt.Errorf("one-time prekey of %d bytes, want %d", len(b), 4+ratchet.KeySize)
	}
	return &ratchet.OneTimePrekey{ID: binary.BigEndian.Uint32(b), Pub: append([]byte(nil), b[4:]...)}, nil
}
