package keys

import (
	"context"
	"errors"
	"testing"

	"eserver/node/api"
	"eserver/node/ratchet"
	"eserver/node/store"
)

// kinds lists the kinds of events.
func kinds(evs []api.SecurityEvent) []api.SecurityKind {
	var out []api.SecurityKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// TestNoDowngradeOncePinned: once alice and bob spoke through the ratchet,
// alice never seals to bob's device with static keys. With every home
// withholding bob's bundle (these devices have no homes) and her session
// lost, she starts a new session from the bundle she kept; with no usable
// kept bundle either, Ensure and Seal answer ErrWaitingForKeys, and the
// front ends hear of it. Before, both cases went out in v1 boxes.
func TestNoDowngradeOncePinned(t *testing.T) {
	ctx := context.Background()
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	// Alice's first session with bob came from this bundle, fetched.
	if err := alice.keepBundle(bob.h.ID(), b); err != nil {
		t.Fatal(err)
	}
	sess, err := ratchet.Initiate(alice.id, bob.h.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.saveSession(bob.h.ID(), newSessionID(), sess); err != nil {
		t.Fatal(err)
	}
	first, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m1", "one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Open(alice.tick, first[0]); err != nil {
		t.Fatal(err)
	}

	// Alice's session is reset (bob said session_reset, or an attacker
	// made her drop it), and no home serves bob's bundle.
	if err := alice.Reset(bob.h.ID()); err != nil {
		t.Fatal(err)
	}
	if err := alice.Ensure(ctx, bob.tick); err != nil {
		t.Fatalf("Ensure with a kept bundle: %v", err)
	}
	envs, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m2", "two")})
	if err != nil {
		t.Fatal(err)
	}
	if envs[0].Scheme != schemeRatchet {
		t.Fatalf("after a reset with bundles withheld: scheme %d, want the ratchet", envs[0].Scheme)
	}
	if plain, err := bob.Open(alice.tick, envs[0]); err != nil || string(plain) != "two" {
		t.Fatalf("bob opened %q, %v", plain, err)
	}

	// Bob has spoken to alice through the ratchet too (he answered her
	// session start), but never fetched her bundle: with his session gone
	// and her homes silent, his messages wait; Seal refuses v1 even if the
	// caller skips Ensure.
	if err := bob.Reset(alice.h.ID()); err != nil {
		t.Fatal(err)
	}
	if err := bob.Ensure(ctx, alice.tick); !errors.Is(err, ErrWaitingForKeys) {
		t.Fatalf("Ensure for a pinned device with nothing to start from: %v, want ErrWaitingForKeys", err)
	}
	if envs, err := bob.Seal(alice.tick, []store.OutboxEntry{entry("r1", "reply")}); !errors.Is(err, ErrWaitingForKeys) || envs != nil {
		t.Fatalf("Seal for a pinned device without a session: %v, %d envelopes", err, len(envs))
	}
	if got := kinds(bob.told()); len(got) != 1 || got[0] != api.SecurityWaitingForKeys {
		t.Fatalf("bob's front ends heard %v, want one waitingForKeys", got)
	}
	// Alice's session start reaches him: his reply goes in it, and the
	// front ends hear the wait is over.
	more, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m3", "three")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Open(alice.tick, more[0]); err == nil {
		t.Fatal("a message in alice's old session opened after bob lost his")
	}
	if err := alice.Reset(bob.h.ID()); err != nil {
		t.Fatal(err)
	}
	if err := alice.Ensure(ctx, bob.tick); err != nil {
		t.Fatal(err)
	}
	again, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m4", "four")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Open(alice.tick, again[0]); err != nil {
		t.Fatal(err)
	}
	if envs, err := bob.Seal(alice.tick, []store.OutboxEntry{entry("r2", "reply")}); err != nil || envs[0].Scheme != schemeRatchet {
		t.Fatalf("bob's reply after alice's session start: %v", err)
	}
	if got := kinds(bob.told()); len(got) != 2 || got[1] != api.SecurityProtected {
		t.Fatalf("bob's front ends heard %v, want waitingForKeys then protected", got)
	}
}

// TestKeptBundleAges: a kept bundle starts sessions for keptBundleUse after
// it was fetched, no longer: past that a pinned device waits.
func TestKeptBundleAges(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.st.KeepBundle(bob.h.ID().String(), raw, alice.Now().Add(-keptBundleUse-1)); err != nil {
		t.Fatal(err)
	}
	if err := alice.Ensure(context.Background(), bob.tick); !errors.Is(err, ErrWaitingForKeys) {
		t.Fatalf("Ensure from a bundle kept too long: %v, want ErrWaitingForKeys", err)
	}
}

// TestFirstContactV1IsTold: a device never spoken to that has no bundle
// anywhere gets v1, and the front ends hear it, on both sides.
func TestFirstContactV1IsTold(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	if err := alice.Ensure(context.Background(), bob.tick); err != nil {
		t.Fatal(err)
	}
	envs, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m1", "hi")})
	if err != nil || envs[0].Scheme != schemeV1 {
		t.Fatalf("first contact without bundles: %v", err)
	}
	if got := kinds(alice.told()); len(got) != 1 || got[0] != api.SecuritySentUnprotected {
		t.Fatalf("alice heard %v, want sentUnprotected", got)
	}
	if _, err := bob.Open(alice.tick, envs[0]); err != nil {
		t.Fatal(err)
	}
	if got := kinds(bob.told()); len(got) != 1 || got[0] != api.SecurityReceivedUnprotected {
		t.Fatalf("bob heard %v, want receivedUnprotected", got)
	}
}

// TestOneTimeKEMUsedOnce: a session start that names a one-time KEM key
// uses it up; a second start naming the same key is refused, however it
// was made.
func TestOneTimeKEMUsedOnce(t *testing.T) {
	alice, carol, bob := newDevice(t, "alice"), newDevice(t, "carol"), newDevice(t, "bob")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := bob.newOneTimeKEMKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := decodeOneTimeKEM(pubs[0])
	if err != nil {
		t.Fatal(err)
	}
	with := *b
	with.OneTimeKEM = kem
	for i, d := range []*device{alice, carol} {
		sess, err := ratchet.Initiate(d.id, bob.h.ID(), &with)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.saveSession(bob.h.ID(), newSessionID(), sess); err != nil {
			t.Fatal(err)
		}
		envs, err := d.Seal(bob.tick, []store.OutboxEntry{entry("m", "hi")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bob.Open(d.tick, envs[0])
		if i == 0 && err != nil {
			t.Fatalf("first session start with the KEM key: %v", err)
		}
		if i == 1 && err == nil {
			t.Fatal("a one-time KEM key served two session starts")
		}
	}
	if _, err := bob.st.Prekey(store.PrekeyKEMOneTime, kem.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the used KEM key is still stored: %v", err)
	}
	ids, _ := bob.st.Prekeys(store.PrekeyKEMOneTime)
	if len(ids) != 1 {
		t.Fatalf("%d one-time KEM keys left, want the unused one", len(ids))
	}
}
