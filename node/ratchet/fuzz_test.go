package ratchet

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Every decoder has a fuzz target. Besides not panicking, each checks what
// must hold for any input: errors are the package's sentinels, a failed
// decrypt changes nothing, and what decodes re-encodes stably.

var sentinels = []error{ErrMalformed, ErrOpen, ErrDuplicate, ErrTooManySkipped, ErrBadSignature,
	ErrWrongPeer, ErrNoPrekey, ErrReplay, ErrNewSession, ErrTooLarge}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzUnmarshalBundle(f *testing.F) {
	d := fixedDevice(f, 7)
	for _, o := range allOpts {
		f.Add(mustMarshal(f, d.bundle(f, o)))
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalBundle(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := UnmarshalBundle(mustMarshal(t, b))
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded bundle does not survive re-encoding: %v", err)
		}
		// Only d signed anything here.
		if err := b.Verify(b.PeerID); err == nil && b.PeerID != d.id.PeerID() {
			t.Fatalf("verified a bundle of %s, who signed nothing", b.PeerID)
		}
	})
}

func FuzzParseInit(f *testing.F) {
	alice, bob := newDevice(f), newDevice(f)
	s, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(f, opts{true, true}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encrypt(f, s, "init"))
	_, _, as, _ := established(f, opts{})
	f.Add(encrypt(f, as, "normal"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, ok, err := ParseInit(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || ok {
				t.Fatalf("ParseInit: %v, %v", ok, err)
			}
			return
		}
		if IsInit(msg) != ok {
			t.Fatal("IsInit disagrees with ParseInit")
		}
		if ok {
			if _, err := ed25519Key(info.Sender); err != nil || len(info.IdentityDH) != KeySize {
				t.Fatalf("init info passed with a bad sender or key: %v", err)
			}
		}
	})
}

func FuzzUnmarshalSession(f *testing.F) {
	alice, bob := newDevice(f), newDevice(f)
	pending, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(f, opts{oneTime: true}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(snapshot(f, pending))
	_, _, as, bs := established(f, opts{})
	encrypt(f, as, "skipped")
	deliver(f, as, bs, "received")
	f.Add(snapshot(f, as))
	f.Add(snapshot(f, bs))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSession(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		enc := snapshot(t, s)
		again, err := UnmarshalSession(enc)
		if err != nil {
			t.Fatalf("re-encoded session does not decode: %v", err)
		}
		if !bytes.Equal(enc, snapshot(t, again)) {
			t.Fatal("session encoding is not stable")
		}
		// Whatever decodes is usable without panicking.
		if ct, err := s.Encrypt([]byte("x"), nil); err == nil {
			if _, err := again.Decrypt(ct, nil); err == nil {
				t.Fatal("a session decrypted its own message")
			}
		}
	})
}

// FuzzDecrypt feeds arbitrary messages to live sessions: each input is a
// stored session (seeded with real ones, so the message part runs against
// live state) and a message. A failure changes nothing; a success is a
// message that was sent.
func FuzzDecrypt(f *testing.F) {
	alice, bob := newDevice(f), newDevice(f)
	as, bs, first := start(f, alice, bob, opts{})
	f.Add(snapshot(f, bs), first, testAD) // the init message again
	for i, text := range []string{"a", "b", "c", "d"} {
		ct := encrypt(f, as, text)
		if i%2 == 0 {
			decrypt(f, bs, ct, text) // delivered; odd ones stay skipped
		}
		f.Add(snapshot(f, bs), ct, testAD)
	}
	reply := encrypt(f, bs, "reply")
	f.Add(snapshot(f, as), reply, testAD)
	decrypt(f, as, reply, "reply")
	for _, text := range []string{"e", "f"} {
		f.Add(snapshot(f, bs), encrypt(f, as, text), testAD) // a new chain
	}
	f.Add(snapshot(f, bs), []byte{}, []byte{})
	sent := map[string]bool{"hello bob": true, "a": true, "b": true, "c": true, "d": true, "e": true, "f": true, "reply": true}
	f.Fuzz(func(t *testing.T, state, msg, ad []byte) {
		s, err := UnmarshalSession(state)
		if err != nil {
			return // FuzzUnmarshalSession's business
		}
		before := snapshot(t, s)
		pt, err := s.Decrypt(msg, ad)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v is no sentinel", err)
			}
			if !bytes.Equal(before, snapshot(t, s)) {
				t.Fatalf("failed decrypt (%v) changed the session", err)
			}
			return
		}
		if !sent[string(pt)] || !bytes.Equal(ad, testAD) {
			t.Fatalf("decrypted %q with ad %q, which nobody sent", pt, ad)
		}
	})
}

// FuzzRespond feeds arbitrary init messages to Respond (with a fresh copy
// of bob's store each time): a failure consumes nothing, a success is alice's
// message. Bob and alice have fixed keys, so the seeds made by the fuzzing
// coordinator open in its workers too.
func FuzzRespond(f *testing.F) {
	alice, bob := fixedDevice(f, 1), fixedDevice(f, 2)
	for _, o := range allOpts {
		s, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(f, o))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encrypt(f, s, "hello"))
	}
	_, _, as, _ := established(f, opts{})
	f.Add(encrypt(f, as, "not an init message"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		store := bob.stolenStore()
		before := storeState(store)
		s, pt, err := Respond(bob.id, store, alice.id.PeerID(), msg, testAD)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v is no sentinel", err)
			}
			if after := storeState(store); after != before {
				t.Fatalf("failed Respond (%v) changed the store: %s → %s", err, before, after)
			}
			return
		}
		if string(pt) != "hello" || !s.Remote().Equal(alice.id.Public()) {
			t.Fatalf("accepted %q from %s", pt, s.Remote().PeerID)
		}
	})
}
