package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// captured is a ciphertext an eavesdropper recorded.
type captured struct {
	ct   []byte
	text string
}

// converse runs rounds of three messages each way and returns what an
// eavesdropper recorded in each direction.
func converse(t *testing.T, as, bs *Session, rounds int, tag string) (toBob, toAlice []captured) {
	t.Helper()
	for r := range rounds {
		for i := range 3 {
			text := fmt.Sprintf("%s a→b %d.%d", tag, r, i)
			ct := encrypt(t, as, text)
			decrypt(t, bs, ct, text)
			toBob = append(toBob, captured{ct, text})
		}
		for i := range 3 {
			text := fmt.Sprintf("%s b→a %d.%d", tag, r, i)
			ct := encrypt(t, bs, text)
			decrypt(t, as, ct, text)
			toAlice = append(toAlice, captured{ct, text})
		}
	}
	return toBob, toAlice
}

// TestForwardSecrecy: an attacker who later takes a device — its current
// session state, its identity keys, its signed prekey and KEM prekey, every
// prekey still in its store — cannot decrypt the messages recorded before.
func TestForwardSecrecy(t *testing.T) {
	t.Parallel()
	for _, o := range allOpts {
		t.Run(o.String(), func(t *testing.T) {
			alice, bob := newDevice(t), newDevice(t)
			as, bs, first := start(t, alice, bob, o)
			toBob, toAlice := converse(t, as, bs, 5, "past")
			toBob = append([]captured{{first, "hello bob"}}, toBob...)
			if len(bs.skipped) != 0 || len(as.skipped) != 0 {
				t.Fatal("skipped keys left; they would rightly still open their messages")
			}

			// Today's states: every message key of the past is gone.
			stolenBob, stolenAlice := steal(t, bs), steal(t, as)
			for _, c := range toBob {
				mustFail(t, stolenBob, c.ct, testAD, ErrOpen, ErrDuplicate, ErrNewSession)
			}
			for _, c := range toAlice {
				mustFail(t, stolenAlice, c.ct, testAD, ErrOpen, ErrDuplicate)
			}

			// Bob's long-term keys and his whole prekey store, replayed
			// against the recorded init message without the store's
			// memory of it.
			keys := bob.stolenStore()
			s, pt, err := Respond(bob.id, keys, alice.id.PeerID(), first, testAD)
			if o.oneTime || o.oneTimeKEM {
				// The one-time prekey it needs was deleted on use.
				if !errors.Is(err, ErrNoPrekey) {
					t.Fatalf("rebuilt the first session from long-term keys: %q, %v", pt, err)
				}
				return
			}
			// Without a one-time prekey, the signed and KEM prekeys
			// rebuild the start of the session, as in X3DH and PQXDH:
			// the initiator's first flight is exposed until the
			// responder rotates and deletes its signed prekey (and
			// its KEM prekey: either one alone is not enough).
			if err != nil || string(pt) != "hello bob" {
				t.Fatalf("no one-time prekey: expected the known exposure of the first flight, got %q, %v", pt, err)
			}
			for _, c := range toBob[1:4] {
				decrypt(t, s, c.ct, c.text) // the rest of the first flight
			}
			// Everything after bob's first reply is still out of reach:
			// it needs ratchet keys that existed only in memory.
			for _, c := range toBob[4:] {
				mustFail(t, s, c.ct, testAD, ErrOpen, ErrNewSession)
			}
			// And without either prekey, nothing opens.
			for _, drop := range []string{"signed", "kem"} {
				keys := bob.stolenStore()
				if drop == "signed" {
					keys.DeleteSignedPrekey(bob.spk.ID)
				} else {
					delete(keys.kem, bob.kem.ID)
				}
				if _, _, err := Respond(bob.id, keys, alice.id.PeerID(), first, testAD); !errors.Is(err, ErrNoPrekey) {
					t.Fatalf("without the %s prekey: %v", drop, err)
				}
			}
		})
	}
}

// TestPostCompromiseSecurity: an attacker copies one device's whole session
// state and then only listens, feeding its copy every message the victim
// receives. The copy reads the victim's traffic until the victim has
// received a new ratchet key and answered; after that it reads nothing.
func TestPostCompromiseSecurity(t *testing.T) {
	t.Parallel()
	for _, victimIsBob := range []bool{true, false} {
		name := map[bool]string{true: "bob robbed", false: "alice robbed"}[victimIsBob]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, as, bs := established(t, opts{oneTime: true})
			converse(t, as, bs, 2, "before")
			victim, peer := bs, as
			if !victimIsBob {
				victim, peer = as, bs
			}
			// The last event was: victim sent, peer received.
			deliver(t, victim, peer, "victim speaks")
			thief := steal(t, victim)

			// Still compromised: the victim's current sending chain, and
			// the peer's next message (to the victim's ratchet key the
			// thief holds).
			y0 := encrypt(t, victim, "y0")
			decrypt(t, peer, y0, "y0")
			if h, b := thiefReadsOutgoing(t, thief, y0); !h || !b {
				t.Fatalf("thief cannot read y0 (header %v, body %v): the test does not compromise anything", h, b)
			}
			x1 := encrypt(t, peer, "x1")
			decrypt(t, victim, x1, "x1") // the victim ratchets: a fresh key
			decrypt(t, thief, x1, "x1")  // the thief ratchets its own

			// Healed: the victim's reply is under a chain from its fresh
			// ratchet key. Its header key was derived one step earlier
			// (header encryption lags one ratchet step), so the header
			// still opens — the body does not.
			y1 := encrypt(t, victim, "y1")
			decrypt(t, peer, y1, "y1")
			if _, b := thiefReadsOutgoing(t, thief, y1); b {
				t.Fatal("thief reads the body of the victim's reply after it ratcheted")
			}
			// From the peer's next message on, nothing opens.
			for i := range 5 {
				x := encrypt(t, peer, fmt.Sprint("x", i+2))
				decrypt(t, victim, x, fmt.Sprint("x", i+2))
				mustFail(t, thief, x, testAD, ErrOpen)
				y := encrypt(t, victim, fmt.Sprint("y", i+2))
				decrypt(t, peer, y, fmt.Sprint("y", i+2))
				if h, b := thiefReadsOutgoing(t, thief, y); h || b {
					t.Fatalf("thief reads y%d (header %v, body %v)", i+2, h, b)
				}
			}
		})
	}
}

// thiefReadsOutgoing reports whether a stolen state opens a message its
// victim sent: the header under its sending or next sending header key, the
// body under any of the next MaxSkip keys of its sending chain.
func thiefReadsOutgoing(t *testing.T, thief *Session, ct []byte) (headerOK, bodyOK bool) {
	t.Helper()
	m, err := decodeMessage(ct)
	if err != nil {
		t.Fatal(err)
	}
	for _, hk := range []*[KeySize]byte{&thief.st.hks, &thief.st.nhks} {
		if _, ok := openHeader(hk, m.Header, thief.sendHeaderAD); ok {
			headerOK = true
		}
	}
	ad := bodyAD(thief.sendBodyAD, m.Header, testAD)
	ck := thief.st.cks
	for range MaxSkip {
		mk := kdfCK(&ck)
		if _, err := openBody(&mk, m.Body, ad); err == nil {
			bodyOK = true
		}
	}
	return headerOK, bodyOK
}

// TestTamper flips one bit in every byte of an init message and of a normal
// message in turn, and appends and truncates: each is refused, the session
// and the store are unchanged, and the original still opens afterwards.
func TestTamper(t *testing.T) {
	t.Parallel()
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1 << (i % 8)
		return c
	}
	variants := func(t *testing.T, msg []byte) (out [][]byte) {
		for i := range msg {
			out = append(out, flip(msg, i))
		}
		for n := range len(msg) {
			out = append(out, msg[:n])
		}
		// Appending bytes: a field number 0, or a field of a later
		// version.
		out = append(out, append(bytes.Clone(msg), 0), append(bytes.Clone(msg), 0x30, 0x01))
		// Protobuf has several encodings of some values (a bool is any
		// non-zero varint): a variant that decodes to the very same
		// fields is the same message, not a forgery, so it is left out.
		orig, err := decodeMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		kept := out[:0]
		for _, v := range out {
			if m, err := decodeMessage(v); err == nil && proto.Equal(m, orig) {
				continue
			}
			kept = append(kept, v)
		}
		return kept
	}

	t.Run("init message", func(t *testing.T) {
		t.Parallel()
		alice, bob := newDevice(t), newDevice(t)
		as, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{true, true}))
		if err != nil {
			t.Fatal(err)
		}
		first := encrypt(t, as, "first")
		before := storeState(bob.store)
		vs := variants(t, first)
		if raceEnabled {
			// Each variant is a whole Respond (ML-KEM decapsulation,
			// four X25519, an Ed25519 check). Under -race, flip only
			// every fourth byte of the KEM ciphertext, which is three
			// quarters of the message; a run without -race flips all.
			ctStart := bytes.Index(first, initCiphertext(t, first))
			kept := vs[:0]
			for i, v := range vs {
				inCT := i < len(first) && i >= ctStart && i < ctStart+mlkem.CiphertextSize768
				if !inCT || i%4 == 0 {
					kept = append(kept, v)
				}
			}
			vs = kept
		}
		// Each variant costs a whole Respond; two workers halve the
		// wait on a two-core machine under -race.
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := w; i < len(vs); i += 2 {
					if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), vs[i], testAD); err == nil {
						t.Errorf("variant %d accepted", i)
						return
					}
				}
			})
		}
		wg.Wait()
		if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, []byte("other ad")); !errors.Is(err, ErrOpen) {
			t.Fatalf("wrong ad: %v", err)
		}
		if after := storeState(bob.store); after != before {
			t.Fatalf("refused init messages changed the store: %s → %s", before, after)
		}
		if _, pt, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, testAD); err != nil || string(pt) != "first" {
			t.Fatalf("original after tampering: %q, %v", pt, err)
		}
	})
	t.Run("message", func(t *testing.T) {
		t.Parallel()
		_, _, as, bs := established(t, opts{})
		for _, newChain := range []bool{false, true} {
			if newChain {
				deliver(t, bs, as, "turn") // alice's next message ratchets
			}
			msg := encrypt(t, as, "payload")
			for _, v := range variants(t, msg) {
				mustFail(t, bs, v, testAD)
			}
			mustFail(t, bs, msg, []byte("other ad"), ErrOpen)
			mustFail(t, bs, msg, nil, ErrOpen)
			decrypt(t, bs, msg, "payload")
		}
	})
	t.Run("reflected", func(t *testing.T) {
		_, _, as, bs := established(t, opts{})
		mustFail(t, as, encrypt(t, as, "to myself"), testAD, ErrOpen)
		mustFail(t, bs, encrypt(t, bs, "to myself"), testAD, ErrOpen)
	})
}

// initCiphertext returns the KEM ciphertext of an init message.
func initCiphertext(t *testing.T, msg []byte) []byte {
	t.Helper()
	m, err := decodeMessage(msg)
	if err != nil || m.Init == nil {
		t.Fatalf("not an init message: %v", err)
	}
	return m.Init.KemCiphertext
}

// TestForgedBundle: a bundle verifies only as its own peer's, with every key
// signed by that peer, each under its own label; Initiate refuses all others.
func TestForgedBundle(t *testing.T) {
	bob, mallory := newDevice(t), newDevice(t)
	good := bob.bundle(t, opts{true, true})
	if err := good.Verify(bob.id.PeerID()); err != nil {
		t.Fatal(err)
	}
	other := mallory.bundle(t, opts{true, true})
	clone := func() *Bundle {
		b, err := UnmarshalBundle(mustMarshal(t, good))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		forge  func() *Bundle
		expect error
	}{
		{"someone else's bundle", func() *Bundle { return other }, ErrWrongPeer},
		{"bob's peer ID on mallory's keys", func() *Bundle {
			b := *other
			b.PeerID = bob.id.PeerID()
			return &b
		}, ErrBadSignature},
		{"mallory's identity DH key", func() *Bundle {
			b := clone()
			b.IdentityDH = mallory.id.Public().DH
			return b
		}, ErrBadSignature},
		{"mallory's identity DH key with her signature", func() *Bundle {
			b := clone()
			b.IdentityDH, b.IdentitySig = other.IdentityDH, other.IdentitySig
			return b
		}, ErrBadSignature},
		{"mallory's signed prekey", func() *Bundle {
			b := clone()
			b.SignedPrekey = other.SignedPrekey
			return b
		}, ErrBadSignature},
		{"signed prekey ID changed", func() *Bundle {
			b := clone()
			b.SignedPrekey.ID++
			return b
		}, ErrBadSignature},
		{"mallory's KEM prekey", func() *Bundle {
			b := clone()
			b.KEMPrekey = other.KEMPrekey
			return b
		}, ErrBadSignature},
		{"KEM prekey ID changed", func() *Bundle {
			b := clone()
			b.KEMPrekey.ID++
			return b
		}, ErrBadSignature},
		{"one-time KEM prekey as last resort", func() *Bundle {
			b := clone()
			b.KEMPrekey = *b.OneTimeKEM
			return b
		}, ErrBadSignature},
		{"last-resort KEM prekey as one-time", func() *Bundle {
			b := clone()
			k := b.KEMPrekey
			b.OneTimeKEM = &k
			return b
		}, ErrBadSignature},
		{"mallory's one-time KEM prekey", func() *Bundle {
			b := clone()
			b.OneTimeKEM = other.OneTimeKEM
			return b
		}, ErrBadSignature},
		{"signature cut short", func() *Bundle {
			b := clone()
			b.SignedPrekey.Sig = b.SignedPrekey.Sig[:sigSize-1]
			return b
		}, ErrMalformed},
		{"identity DH key cut short", func() *Bundle {
			b := clone()
			b.IdentityDH = b.IdentityDH[:KeySize-1]
			return b
		}, ErrMalformed},
	}
	alice := newDevice(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.forge()
			if err := b.Verify(bob.id.PeerID()); !errors.Is(err, c.expect) {
				t.Fatalf("verify: %v, want %v", err, c.expect)
			}
			if _, err := Initiate(alice.id, bob.id.PeerID(), b); !errors.Is(err, c.expect) {
				t.Fatalf("initiate: %v, want %v", err, c.expect)
			}
		})
	}
	if err := good.Verify(""); !errors.Is(err, ErrWrongPeer) {
		t.Fatalf("no expected peer: %v", err)
	}
	if _, err := Initiate(bob.id, bob.id.PeerID(), good); !errors.Is(err, ErrWrongPeer) {
		t.Fatalf("session with oneself: %v", err)
	}
}

// TestForgedSender: Respond takes the sender from the caller and refuses an
// init message that names another peer, or that binds an identity DH key
// the named peer did not sign — and such refusals change nothing.
func TestForgedSender(t *testing.T) {
	alice, bob, mallory := newDevice(t), newDevice(t), newDevice(t)
	fromAlice, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{oneTime: true}))
	if err != nil {
		t.Fatal(err)
	}
	genuine := encrypt(t, fromAlice, "from alice")
	fromMallory, err := Initiate(mallory.id, bob.id.PeerID(), bob.bundle(t, opts{oneTime: true}))
	if err != nil {
		t.Fatal(err)
	}
	// Mallory rewrites her init header to name alice, keeping her own
	// identity DH key and signature.
	claimsAlice := rewriteInit(t, encrypt(t, fromMallory, "from alice, honest"), func(w *WireInit) {
		w.PeerId = []byte(alice.id.PeerID())
	})
	// ...or also presents alice's identity DH key with alice's genuine
	// identity signature (public, in alice's bundle), keeping the rest.
	claimsAliceKey := rewriteInit(t, encrypt(t, fromMallory, "from alice, honest"), func(w *WireInit) {
		w.PeerId = []byte(alice.id.PeerID())
		w.IdentityDh = alice.id.Public().DH
		w.IdentitySig = alice.id.sig
	})
	cases := []struct {
		name   string
		from   string
		msg    []byte
		expect error
	}{
		{"no authenticated sender", "", genuine, ErrWrongPeer},
		{"alice's message, transport says mallory", "mallory", genuine, ErrWrongPeer},
		{"alice's message given back to alice", "self", genuine, ErrWrongPeer},
		{"mallory claims alice's peer ID", "alice", claimsAlice, ErrBadSignature},
		{"mallory claims alice's peer ID and key", "alice", claimsAliceKey, ErrOpen},
		{"not an init message", "alice", encrypt(t, establishedWith(t, alice, bob), "normal"), ErrMalformed},
	}
	ids := map[string]*device{"alice": alice, "mallory": mallory}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, responder := ids[c.from].peerID(), bob
			if c.from == "self" {
				from, responder = alice.id.PeerID(), alice
			}
			before := storeState(responder.store)
			if _, pt, err := Respond(responder.id, responder.store, from, c.msg, testAD); !errors.Is(err, c.expect) {
				t.Fatalf("got %q, %v; want %v", pt, err, c.expect)
			}
			if after := storeState(responder.store); after != before {
				t.Fatalf("store changed: %s → %s", before, after)
			}
		})
	}
	if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), genuine, testAD); err != nil {
		t.Fatalf("genuine message after the forgeries: %v", err)
	}
}

func (d *device) peerID() peer.ID {
	if d == nil {
		return ""
	}
	return d.id.PeerID()
}

// establishedWith starts a session from a to b and returns a's side after
// one reply.
func establishedWith(t *testing.T, a, b *device) *Session {
	t.Helper()
	as, bs, _ := start(t, a, b, opts{})
	deliver(t, bs, as, "reply")
	return as
}

// rewriteInit changes the init header of an encoded message.
func rewriteInit(t *testing.T, msg []byte, f func(w *WireInit)) []byte {
	t.Helper()
	m, err := decodeMessage(msg)
	if err != nil || m.Init == nil {
		t.Fatalf("not an init message: %v", err)
	}
	f(m.Init)
	out, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKeyCompromiseImpersonation: mallory holds bob's long-term identity
// keys (his Ed25519 key and identity DH key) and everything public about
// alice, including her identity signature, and the transport is taken to
// say the message comes from alice. She builds an init message in alice's
// name with every term of the key derivation right except DH1 =
// DH(IK_A, SPK_B), which needs alice's identity private key or bob's signed
// prekey private key — she has neither, and tries every DH she can compute.
// Bob refuses each with ErrOpen and his store is unchanged.
//
// Controls: the same construction with alice's real DH1 is accepted, so DH1
// is exactly what stops her; and with bob's signed prekey also stolen she
// succeeds — the known limit of X3DH and PQXDH, which signed-prekey rotation
// (and deleting old ones) bounds.
func TestKeyCompromiseImpersonation(t *testing.T) {
	alice, bob := newDevice(t), newDevice(t)
	bundle := bob.bundle(t, opts{oneTime: true})
	aliceIK, err := ecdh.X25519().NewPublicKey(alice.id.Public().DH)
	if err != nil {
		t.Fatal(err)
	}
	mallorysOwn, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bobIK := bob.id.dh // stolen
	attempt := func(dh1 func(spk *ecdh.PublicKey) ([]byte, error)) error {
		t.Helper()
		s, err := initiate(alice.id.Public(), alice.id.sig, bundle, dh1)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Respond(bob.id, bob.store, alice.id.PeerID(), encrypt(t, s, "I am alice"), testAD)
		return err
	}
	guesses := map[string]func(*ecdh.PublicKey) ([]byte, error){
		"DH(IK_B, IK_A)":      func(*ecdh.PublicKey) ([]byte, error) { return bobIK.ECDH(aliceIK) },
		"DH(IK_B, SPK_B)":     func(spk *ecdh.PublicKey) ([]byte, error) { return bobIK.ECDH(spk) },
		"DH(own key, SPK_B)":  func(spk *ecdh.PublicKey) ([]byte, error) { return mallorysOwn.ECDH(spk) },
		"DH(own key, IK_A)":   func(*ecdh.PublicKey) ([]byte, error) { return mallorysOwn.ECDH(aliceIK) },
		"random":              func(*ecdh.PublicKey) ([]byte, error) { b := make([]byte, KeySize); rand.Read(b); return b, nil },
		"zero (as if no DH1)": func(*ecdh.PublicKey) ([]byte, error) { return make([]byte, KeySize), nil },
	}
	before := storeState(bob.store)
	for name, dh1 := range guesses {
		if err := attempt(dh1); !errors.Is(err, ErrOpen) {
			t.Errorf("DH1 = %s: %v, want ErrOpen", name, err)
		}
	}
	if after := storeState(bob.store); after != before {
		t.Fatalf("impersonation attempts changed bob's store: %s → %s", before, after)
	}

	// Control: the real DH1 makes the same construction work.
	if err := attempt(alice.id.dh.ECDH); err != nil {
		t.Fatalf("control with alice's real DH1 refused: %v", err)
	}
	// Limit: with bob's signed prekey stolen too, DH1 = DH(SPK_B, IK_A).
	bundle = bob.bundle(t, opts{oneTime: true})
	if err := attempt(func(*ecdh.PublicKey) ([]byte, error) { return bob.spkPriv.ECDH(aliceIK) }); err != nil {
		t.Fatalf("with the signed prekey stolen, expected the known KCI limit to hold, got %v", err)
	}
}

// TestOneTimePrekeysOnce: a one-time prekey starts one session only, even if
// a supernode hands the same bundle to two initiators; a replayed init
// message starts nothing, with or without one-time prekeys.
func TestOneTimePrekeysOnce(t *testing.T) {
	for _, o := range allOpts {
		t.Run(o.String(), func(t *testing.T) {
			alice, carol, bob := newDevice(t), newDevice(t), newDevice(t)
			b := bob.bundle(t, o)
			s1, err := Initiate(alice.id, bob.id.PeerID(), b)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := Initiate(carol.id, bob.id.PeerID(), b)
			if err != nil {
				t.Fatal(err)
			}
			m1, m2 := encrypt(t, s1, "alice"), encrypt(t, s2, "carol")
			if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), m1, testAD); err != nil {
				t.Fatal(err)
			}
			if o.oneTime && bob.store.HasOneTime(b.OneTime.ID) {
				t.Fatal("one-time prekey kept after use")
			}
			if o.oneTimeKEM && bob.store.HasOneTimeKEM(b.OneTimeKEM.ID) {
				t.Fatal("one-time KEM prekey kept after use")
			}
			_, _, err = Respond(bob.id, bob.store, carol.id.PeerID(), m2, testAD)
			if o.oneTime || o.oneTimeKEM {
				if !errors.Is(err, ErrNoPrekey) {
					t.Fatalf("second use of a one-time prekey: %v", err)
				}
			} else if err != nil {
				t.Fatalf("last-resort prekeys serve many sessions: %v", err)
			}
			// Replaying alice's init message.
			_, _, err = Respond(bob.id, bob.store, alice.id.PeerID(), m1, testAD)
			if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrNoPrekey) {
				t.Fatalf("replayed init message: %v", err)
			}
			if !o.oneTime && !o.oneTimeKEM && !errors.Is(err, ErrReplay) {
				t.Fatalf("replayed init message without one-time prekeys: %v, want ErrReplay", err)
			}
			// Once the signed prekey is rotated out, the init message is
			// useless anyway and the store forgets it.
			bob.store.DeleteSignedPrekey(bob.spk.ID)
			if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), m1, testAD); !errors.Is(err, ErrNoPrekey) {
				t.Fatalf("after rotation: %v", err)
			}
		})
	}
}

// TestConcurrentRespond: of several Responds racing on one init message,
// exactly one starts a session.
func TestConcurrentRespond(t *testing.T) {
	for _, o := range []opts{{}, {oneTime: true}} {
		alice, bob := newDevice(t), newDevice(t)
		s, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, o))
		if err != nil {
			t.Fatal(err)
		}
		first := encrypt(t, s, "once")
		results := make(chan error, 8)
		for range cap(results) {
			go func() {
				_, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, testAD)
				results <- err
			}()
		}
		ok := 0
		for range cap(results) {
			if err := <-results; err == nil {
				ok++
			} else if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrNoPrekey) {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("%v: %d sessions from one init message", o, ok)
		}
	}
}
