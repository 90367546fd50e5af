package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

func newDevice(t testing.TB) *V1 {
	t.Helper()
	ik, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewV1(ik, bk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewV1RejectsBadKeys(t *testing.T) {
	ecdsaKey, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewV1(ecdsaKey, bk); err == nil {
		t.Error("NewV1 accepted an ECDSA identity")
	}
	if _, err := NewV1(nil, bk); err == nil {
		t.Error("NewV1 accepted a nil identity")
	}
	if _, err := NewV1(ed, nil); err == nil {
		t.Error("NewV1 accepted a nil box key")
	}
}

func TestRoundTrip(t *testing.T) {
	a, b := newDevice(t), newDevice(t)
	for _, tc := range []struct {
		name      string
		ad, plain []byte
	}{
		{"empty", nil, nil},
		{"text", []byte("envelope-1"), []byte("hello, world")},
		{"large", []byte("x"), bytes.Repeat([]byte{0xAB}, wire.MaxChatText)},
		{"to self", []byte("ad"), []byte("note to self")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to, recv := b, b
			if tc.name == "to self" {
				to, recv = a, a
			}
			sealed, err := a.Seal(to.Self(), tc.ad, tc.plain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := recv.Open(a.Self(), tc.ad, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plain) {
				t.Fatalf("plaintext = %q, want %q", got, tc.plain)
			}
			if len(tc.plain) > 8 && bytes.Contains(sealed, tc.plain) {
				t.Fatal("sealed message contains the plaintext")
			}
		})
	}
	// Two seals of the same message differ (fresh ephemeral key and nonce).
	s1, _ := a.Seal(b.Self(), nil, []byte("same"))
	s2, _ := a.Seal(b.Self(), nil, []byte("same"))
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals are identical")
	}
}

func TestSealRejectsBadRecipient(t *testing.T) {
	a, b := newDevice(t), newDevice(t)
	for _, tc := range []struct {
		name string
		to   Peer
	}{
		{"short box key", Peer{ID: b.Self().ID, BoxKey: make([]byte, 31)}},
		{"no box key", Peer{ID: b.Self().ID}},
		{"no id", Peer{BoxKey: b.Self().BoxKey}},
		{"low-order box key", Peer{ID: b.Self().ID, BoxKey: make([]byte, 32)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Seal(tc.to, nil, []byte("x")); err == nil {
				t.Fatal("Seal succeeded")
			}
		})
	}
}

// mutate decodes a sealed box, applies f and re-encodes it.
func mutate(t *testing.T, sealed []byte, f func(*wire.SealedBox)) []byte {
	t.Helper()
	var box wire.SealedBox
	if err := proto.Unmarshal(sealed, &box); err != nil {
		t.Fatal(err)
	}
	f(&box)
	out, err := proto.Marshal(&box)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flip(b []byte) { b[len(b)/2] ^= 0x01 }

func TestOpenFailures(t *testing.T) {
	a, b, c := newDevice(t), newDevice(t), newDevice(t)
	ad, plain := []byte("envelope-7"), []byte("secret text")
	sealed, err := a.Seal(b.Self(), ad, plain)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := c.Seal(b.Self(), ad, plain) // C pretends to be A
	if err != nil {
		t.Fatal(err)
	}
	otherEph, _ := GenerateBoxKey()

	for _, tc := range []struct {
		name   string
		recv   *V1
		from   Peer
		ad     []byte
		sealed []byte
		want   error
	}{
		{"wrong recipient", c, a.Self(), ad, sealed, ErrOpen},
		{"forged sender", b, a.Self(), ad, forged, ErrOpen},
		{"claimed wrong sender", b, c.Self(), ad, sealed, ErrOpen},
		{"different ad", b, a.Self(), []byte("envelope-8"), sealed, ErrOpen},
		{"missing ad", b, a.Self(), nil, sealed, ErrOpen},
		{"tampered ciphertext", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { flip(x.Ciphertext) }), ErrOpen},
		{"tampered nonce", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { flip(x.Nonce) }), ErrOpen},
		{"tampered ephemeral", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { flip(x.Ephemeral) }), ErrOpen},
		{"replaced ephemeral", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { x.Ephemeral = otherEph.PublicKey().Bytes() }), ErrOpen},
		{"tampered signature", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { flip(x.Signature) }), ErrOpen},
		{"sender ID without key", b, Peer{ID: "not a peer id"}, ad, sealed, ErrOpen},
		{"short signature", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { x.Signature = x.Signature[:63] }), ErrMalformed},
		{"short nonce", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { x.Nonce = x.Nonce[:12] }), ErrMalformed},
		{"short ephemeral", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { x.Ephemeral = nil }), ErrMalformed},
		{"short ciphertext", b, a.Self(), ad, mutate(t, sealed, func(x *wire.SealedBox) { x.Ciphertext = x.Ciphertext[:15] }), ErrMalformed},
		{"garbage", b, a.Self(), ad, []byte{0xff, 0xff, 0xff}, ErrMalformed},
		{"empty", b, a.Self(), ad, nil, ErrMalformed},
		{"too large", b, a.Self(), ad, make([]byte, MaxSealedSize+1), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.recv.Open(tc.from, tc.ad, tc.sealed)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
			if got != nil {
				t.Fatal("Open returned plaintext with an error")
			}
		})
	}
	// The untouched message still opens.
	if _, err := b.Open(a.Self(), ad, sealed); err != nil {
		t.Fatal(err)
	}
}

func TestSealAtSizeLimit(t *testing.T) {
	a, b := newDevice(t), newDevice(t)
	if _, err := a.Seal(b.Self(), nil, make([]byte, MaxSealedSize)); err == nil {
		t.Fatal("Seal produced a message larger than MaxSealedSize")
	}
}

func FuzzOpen(f *testing.F) {
	a, b := newDevice(f), newDevice(f)
	ad, plain := []byte("envelope"), []byte("fuzz me")
	sealed, err := a.Seal(b.Self(), ad, plain)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, ad)
	f.Add(sealed[:len(sealed)-1], ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0x0a, 0x20}, ad)
	f.Fuzz(func(t *testing.T, in, ad2 []byte) {
		got, err := b.Open(a.Self(), ad2, in)
		if err != nil {
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Only the genuine message (perhaps re-encoded) can open.
		if !bytes.Equal(got, plain) || !bytes.Equal(ad2, ad) {
			t.Fatalf("opened forged input: %q with ad %q", got, ad2)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	alice, bob := newDevice(b), newDevice(b)
	to, from := bob.Self(), alice.Self()
	ad, msg := []byte("envelope-id"), bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		sealed, err := alice.Seal(to, ad, msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Open(from, ad, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareXChaCha20Poly1305 is the AEAD alone, for comparison with
// BenchmarkSealOpen (whose cost is mostly X25519 and Ed25519).
func BenchmarkBareXChaCha20Poly1305(b *testing.B) {
	key := make([]byte, chacha20poly1305.KeySize)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		b.Fatal(err)
	}
	ad, msg := []byte("envelope-id"), bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := rand.Read(nonce); err != nil {
			b.Fatal(err)
		}
		ct := aead.Seal(nil, nonce, msg, ad)
		if _, err := aead.Open(nil, nonce, ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAnonymousBox(t *testing.T) {
	bob := newAnonTestDevice(t)
	carol := newAnonTestDevice(t)
	msg := []byte("mail for bob")
	sealed, err := SealAnonymous(bob.Self().BoxKey, msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bob.OpenAnonymous(sealed)
	if err != nil || string(got) != string(msg) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := carol.OpenAnonymous(sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("carol opened bob's mail: %v", err)
	}
	for i := range sealed {
		tampered := append([]byte(nil), sealed...)
		tampered[i] ^= 0x40
		if _, err := bob.OpenAnonymous(tampered); err == nil {
			t.Fatalf("tampered byte %d accepted", i)
		}
	}
	if _, err := SealAnonymous(bob.Self().BoxKey, make([]byte, MaxAnonSize)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized box: %v", err)
	}
}

func newAnonTestDevice(t *testing.T) *V1 {
	t.Helper()
	id, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	box, err := GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewV1(id, box)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func FuzzOpenAnonymous(f *testing.F) {
	id, _, _ := crypto.GenerateEd25519Key(nil)
	box, _ := GenerateBoxKey()
	v, _ := NewV1(id, box)
	s, _ := SealAnonymous(v.Self().BoxKey, []byte("hello"))
	f.Add(s)
	f.Fuzz(func(t *testing.T, b []byte) {
		if pt, err := v.OpenAnonymous(b); err == nil && string(pt) != "hello" {
			t.Fatalf("opened forged box to %q", pt)
		}
	})
}
