package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// device is one test device: identity, published prekeys and their store.
type device struct {
	id        *Identity
	store     *MemoryStore
	spk       SignedPrekey
	spkPriv   *ecdh.PrivateKey
	kem       KEMPrekey
	kemPriv   *mlkem.DecapsulationKey768
	ots       []OneTimePrekey
	otKEMs    []KEMPrekey
	nextOT    int
	nextOTKEM int
}

const (
	firstOT    = 100
	firstOTKEM = 200
)

func newDevice(tb testing.TB) *device {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return deviceFrom(tb, key, dh)
}

// fixedDevice is a device whose identity is fixed by seed (prekeys are not),
// for pinned vectors.
func fixedIdentity(tb testing.TB, seed byte) *Identity {
	tb.Helper()
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		tb.Fatal(err)
	}
	dh, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{seed ^ 0x55}, KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := NewIdentity(key, dh)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func deviceFrom(tb testing.TB, key crypto.PrivKey, dh *ecdh.PrivateKey) *device {
	tb.Helper()
	id, err := NewIdentity(key, dh)
	if err != nil {
		tb.Fatal(err)
	}
	d := &device{id: id, store: NewMemoryStore()}
	if d.spk, d.spkPriv, err = id.GenerateSignedPrekey(1); err != nil {
		tb.Fatal(err)
	}
	if d.kem, d.kemPriv, err = id.GenerateKEMPrekey(1); err != nil {
		tb.Fatal(err)
	}
	ots, otPrivs, err := GenerateOneTimePrekeys(firstOT, 4)
	if err != nil {
		tb.Fatal(err)
	}
	otKEMs, otKEMPrivs, err := id.GenerateOneTimeKEMPrekeys(firstOTKEM, 2)
	if err != nil {
		tb.Fatal(err)
	}
	d.ots, d.otKEMs = ots, otKEMs
	d.store.AddSignedPrekey(d.spk.ID, d.spkPriv)
	d.store.AddKEMPrekey(d.kem.ID, d.kemPriv)
	d.store.AddOneTimePrekeys(firstOT, otPrivs)
	d.store.AddOneTimeKEMPrekeys(firstOTKEM, otKEMPrivs)
	return d
}

type opts struct{ oneTime, oneTimeKEM bool }

func (o opts) String() string {
	return fmt.Sprintf("opk=%v,otkem=%v", o.oneTime, o.oneTimeKEM)
}

var allOpts = []opts{{false, false}, {true, false}, {false, true}, {true, true}}

// bundle returns d's bundle, handing out the next unused one-time prekeys
// as a supernode would.
func (d *device) bundle(tb testing.TB, o opts) *Bundle {
	tb.Helper()
	var ot *OneTimePrekey
	var otk *KEMPrekey
	if o.oneTime {
		ot = &d.ots[d.nextOT]
		d.nextOT++
	}
	if o.oneTimeKEM {
		otk = &d.otKEMs[d.nextOTKEM]
		d.nextOTKEM++
	}
	b, err := d.id.NewBundle(d.spk, d.kem, ot, otk)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// stolenStore is a copy of d's store as it is now, without its memory of
// accepted init messages: what an attacker who copied the prekeys has.
func (d *device) stolenStore() *MemoryStore {
	s := NewMemoryStore()
	d.store.mu.Lock()
	defer d.store.mu.Unlock()
	s.signed = maps.Clone(d.store.signed)
	s.kem = maps.Clone(d.store.kem)
	s.oneTime = maps.Clone(d.store.oneTime)
	s.oneTimeKEM = maps.Clone(d.store.oneTimeKEM)
	return s
}

// storeState summarises what Respond may change in a store.
func storeState(s *MemoryStore) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.accepted {
		n += len(m)
	}
	return fmt.Sprintf("ot=%d otkem=%d accepted=%d", len(s.oneTime), len(s.oneTimeKEM), n)
}

var testAD = []byte("envelope-id")

// start has alice initiate with bob's bundle and bob respond to her first
// message; it returns both sessions and that init message.
func start(tb testing.TB, alice, bob *device, o opts) (as, bs *Session, first []byte) {
	tb.Helper()
	as, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(tb, o))
	if err != nil {
		tb.Fatal(err)
	}
	first = encrypt(tb, as, "hello bob")
	bs, pt, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, testAD)
	if err != nil {
		tb.Fatal(err)
	}
	if string(pt) != "hello bob" {
		tb.Fatalf("first message %q", pt)
	}
	return as, bs, first
}

// established is start plus one reply, so both sides have ratcheted.
func established(tb testing.TB, o opts) (alice, bob *device, as, bs *Session) {
	tb.Helper()
	alice, bob = newDevice(tb), newDevice(tb)
	as, bs, _ = start(tb, alice, bob, o)
	deliver(tb, bs, as, "hello alice")
	return alice, bob, as, bs
}

func encrypt(tb testing.TB, s *Session, text string) []byte {
	tb.Helper()
	ct, err := s.Encrypt([]byte(text), testAD)
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

func decrypt(tb testing.TB, s *Session, ct []byte, want string) {
	tb.Helper()
	pt, err := s.Decrypt(ct, testAD)
	if err != nil {
		tb.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		tb.Fatalf("decrypted %q, want %q", pt, want)
	}
}

// deliver sends text from one session to the other.
func deliver(tb testing.TB, from, to *Session, text string) {
	tb.Helper()
	decrypt(tb, to, encrypt(tb, from, text), text)
}

func snapshot(tb testing.TB, s *Session) []byte {
	tb.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// steal is an attacker's copy of a session's whole state.
func steal(tb testing.TB, s *Session) *Session {
	tb.Helper()
	c, err := UnmarshalSession(snapshot(tb, s))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// mustFail decrypts ct expecting one of the errors in want, and the session
// unchanged.
func mustFail(tb testing.TB, s *Session, ct, ad []byte, want ...error) error {
	tb.Helper()
	before := snapshot(tb, s)
	pt, err := s.Decrypt(ct, ad)
	if err == nil {
		tb.Fatalf("decrypted %q, want an error", pt)
	}
	if len(want) > 0 {
		ok := false
		for _, w := range want {
			ok = ok || errors.Is(err, w)
		}
		if !ok {
			tb.Fatalf("error %v, want one of %v", err, want)
		}
	}
	if !bytes.Equal(before, snapshot(tb, s)) {
		tb.Fatalf("failed decrypt (%v) changed the session", err)
	}
	return err
}

func mustMarshal(tb testing.TB, b *Bundle) []byte {
	tb.Helper()
	out, err := b.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// fixedDevice is a device whose identity and prekeys all follow from seed,
// so every process of a fuzz run (the coordinator makes the seed corpus,
// workers run it) has the same one.
func fixedDevice(tb testing.TB, seed byte) *device {
	tb.Helper()
	id := fixedIdentity(tb, seed)
	d := &device{id: id, store: NewMemoryStore()}
	x := func(b byte) *ecdh.PrivateKey {
		k, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{b}, KeySize))
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	kem := func(b byte) *mlkem.DecapsulationKey768 {
		k, err := mlkem.NewDecapsulationKey768(bytes.Repeat([]byte{b}, mlkem.SeedSize))
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	sign := func(msg []byte) []byte {
		sig, err := id.key.Sign(msg)
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
	pid, idDH := id.PeerID(), id.Public().DH
	d.spkPriv, d.kemPriv = x(seed^0xA1), kem(seed^0xA2)
	spkPub, ek := d.spkPriv.PublicKey().Bytes(), d.kemPriv.EncapsulationKey().Bytes()
	d.spk = SignedPrekey{ID: 1, Pub: spkPub, Sig: sign(signedPrekeyTranscript(pid, idDH, 1, spkPub))}
	d.kem = KEMPrekey{ID: 1, EncapsulationKey: ek, Sig: sign(kemPrekeyTranscript(false, pid, idDH, 1, ek))}
	d.store.AddSignedPrekey(1, d.spkPriv)
	d.store.AddKEMPrekey(1, d.kemPriv)
	for i := range 4 {
		k := x(seed ^ byte(0xB0+i))
		d.ots = append(d.ots, OneTimePrekey{ID: firstOT + uint32(i), Pub: k.PublicKey().Bytes()})
		d.store.AddOneTimePrekeys(firstOT+uint32(i), []*ecdh.PrivateKey{k})
	}
	for i := range 2 {
		k := kem(seed ^ byte(0xC0+i))
		ek := k.EncapsulationKey().Bytes()
		id := firstOTKEM + uint32(i)
		d.otKEMs = append(d.otKEMs, KEMPrekey{ID: id, EncapsulationKey: ek, Sig: sign(kemPrekeyTranscript(true, pid, idDH, id, ek))})
		d.store.AddOneTimeKEMPrekeys(id, []*mlkem.DecapsulationKey768{k})
	}
	return d
}
