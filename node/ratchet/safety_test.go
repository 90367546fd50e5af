package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// TestSafetyNumberVectors pins safety numbers and codes of fixed identities
// (Ed25519 seed = 32 bytes of n, X25519 key = 32 bytes of n^0x55). The
// numbers were checked against an independent implementation of the
// fingerprint (Python hashlib) when first computed.
func TestSafetyNumberVectors(t *testing.T) {
	ids := map[byte]*Identity{1: fixedIdentity(t, 1), 2: fixedIdentity(t, 2), 3: fixedIdentity(t, 3)}
	if got := ids[1].PeerID().String(); got != "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5" {
		t.Fatalf("fixed identity 1 is %s: the vectors below no longer apply", got)
	}
	vectors := []struct {
		a, b   byte
		number string
		code   string // SafetyCode(a, b), hex
	}{
		{1, 2, "69602 14701 68109 45754 22183 33806 70066 38487 73685 16399 86985 55817",
			"01ee231007e290f91cf34ddfdaeffd8d05375e07da7916351c27742301e7ee11132f791f7e927891c2cdb70132d4caf5b160add50f1fd1d200690b992938c95782"},
		{1, 3, "64196 62151 68593 61072 87187 68849 69602 14701 68109 45754 22183 33806",
			"01ee231007e290f91cf34ddfdaeffd8d05375e07da7916351c27742301e7ee1113ab10f5fd2444770db127eafbdad0111ba4521a30e5330095f3c9c4da52b1e5f1"},
		{2, 3, "64196 62151 68593 61072 87187 68849 70066 38487 73685 16399 86985 55817",
			"012f791f7e927891c2cdb70132d4caf5b160add50f1fd1d200690b992938c95782ab10f5fd2444770db127eafbdad0111ba4521a30e5330095f3c9c4da52b1e5f1"},
	}
	format := regexp.MustCompile(`^\d{5}( \d{5}){11}$`)
	for _, v := range vectors {
		a, b := ids[v.a].Public(), ids[v.b].Public()
		for _, pair := range [][2]PublicIdentity{{a, b}, {b, a}} {
			n, err := SafetyNumber(pair[0], pair[1])
			if err != nil {
				t.Fatal(err)
			}
			if n != v.number || !format.MatchString(n) {
				t.Errorf("SafetyNumber(%d, %d) = %q, want %q", v.a, v.b, n, v.number)
			}
		}
		code, err := SafetyCode(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(code) != v.code || len(code) != SafetyCodeSize {
			t.Errorf("SafetyCode(%d, %d) = %x", v.a, v.b, code)
		}
		// b scans a's screen.
		if err := CompareSafetyCode(b, a, code); err != nil {
			t.Errorf("%d scanning %d's code: %v", v.b, v.a, err)
		}
	}
}

// TestSafetyNumberChanges: the number changes with either half of an
// identity, and a code compares only between the two devices it names.
func TestSafetyNumberChanges(t *testing.T) {
	a, b, c := fixedIdentity(t, 1).Public(), fixedIdentity(t, 2).Public(), fixedIdentity(t, 3).Public()
	base, err := SafetyNumber(a, b)
	if err != nil {
		t.Fatal(err)
	}
	newDH := b
	newDH.DH = c.DH // same peer ID, another identity DH key
	newPeer := b
	newPeer.PeerID = c.PeerID // same DH key, another Ed25519 key
	for name, other := range map[string]PublicIdentity{"DH key": newDH, "peer ID": newPeer} {
		n, err := SafetyNumber(a, other)
		if err != nil {
			t.Fatal(err)
		}
		if n == base {
			t.Errorf("changing the %s leaves the safety number", name)
		}
	}

	code, err := SafetyCode(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ local, remote PublicIdentity }{
		"scanned by a third device":  {c, a},
		"scanned by its own device":  {a, b},
		"scanned after a key change": {newDH, a},
	} {
		if err := CompareSafetyCode(tc.local, tc.remote, code); !errors.Is(err, ErrSafetyMismatch) {
			t.Errorf("%s: %v, want ErrSafetyMismatch", name, err)
		}
	}
	for _, bad := range [][]byte{nil, code[:SafetyCodeSize-1], append([]byte{9}, code[1:]...)} {
		if err := CompareSafetyCode(b, a, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("malformed code %x: %v", bad, err)
		}
	}
	if _, err := SafetyNumber(a, PublicIdentity{PeerID: b.PeerID}); !errors.Is(err, ErrMalformed) {
		t.Errorf("identity without DH key: %v", err)
	}
}

// TestAccountSafetyNumber: between two accounts with identities the number
// is the same on both sides, changes with either identity key (and with
// nothing else), is never a device's number, and its code checks as a
// device code does.
func TestAccountSafetyNumber(t *testing.T) {
	key := func(b byte) ed25519.PublicKey {
		return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	}
	alice := AccountIdentity{Username: "alice", Key: key(1)}
	bob := AccountIdentity{Username: "bob", Key: key(2)}
	ab, err := SafetyNumber(alice, bob)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := SafetyNumber(bob, alice)
	if ab != ba || len(strings.ReplaceAll(ab, " ", "")) != 60 {
		t.Fatalf("alice sees %q, bob %q", ab, ba)
	}
	newBob, _ := SafetyNumber(alice, AccountIdentity{Username: "bob", Key: key(3)})
	if newBob == ab {
		t.Fatal("a new identity key left the number unchanged")
	}
	code, err := SafetyCode(bob, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := CompareSafetyCode(alice, bob, code); err != nil {
		t.Fatalf("alice scans bob's code: %v", err)
	}
	if err := CompareSafetyCode(alice, AccountIdentity{Username: "bob", Key: key(3)}, code); !errors.Is(err, ErrSafetyMismatch) {
		t.Fatalf("a code of another identity: %v", err)
	}
	// The same 32 bytes as a device's identity hash under another version.
	fa, _ := alice.fingerprint()
	if bytes.Equal(fa, iterate(safetyVersion, alice.Key, []byte("alice"))) {
		t.Fatal("account and device fingerprints share a version")
	}
	for _, bad := range []AccountIdentity{{Username: "alice"}, {Key: key(1)}, {Username: "alice", Key: key(1)[:31]}} {
		if _, err := SafetyNumber(bad, bob); !errors.Is(err, ErrMalformed) {
			t.Fatalf("SafetyNumber(%+v): %v", bad, err)
		}
	}
}
