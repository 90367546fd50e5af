package ratchet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// Benchmark payload sizes: a typical chat line and a larger message. The
// bare-cipher baseline uses the same sizes, so ratios come from one run.
var benchSizes = []int{256, 1024}

// BenchmarkRatchetEncryptDecrypt is one message, encrypted by alice and
// decrypted by bob, in a steady one-way flow (no DH ratchet step).
func BenchmarkRatchetEncryptDecrypt(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			_, _, as, bs := established(b, opts{})
			msg := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				ct, err := as.Encrypt(msg, testAD)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bs.Decrypt(ct, testAD); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRatchetAlternating is one message in a conversation where the
// sides take turns, so every message brings a DH ratchet step (an X25519
// key generation and two key agreements at the receiver).
func BenchmarkRatchetAlternating(b *testing.B) {
	_, _, as, bs := established(b, opts{})
	msg := bytes.Repeat([]byte("x"), 256)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		from, to := as, bs
		if i%2 == 1 {
			from, to = bs, as
		}
		i++
		ct, err := from.Encrypt(msg, testAD)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := to.Decrypt(ct, testAD); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionStart is a whole session start: Initiate (verifying the
// bundle), the first message, and Respond opening it.
func BenchmarkSessionStart(b *testing.B) {
	for _, o := range []opts{{}, {oneTime: true}} {
		name := map[bool]string{false: "last-resort", true: "one-time"}[o.oneTime]
		b.Run(name, func(b *testing.B) {
			alice, bob := newDevice(b), newDevice(b)
			var bundles []*Bundle
			if o.oneTime {
				// A fresh one-time prekey for every start, made before
				// the clock runs.
				for len(bundles) < b.N {
					first := uint32(1000 + len(bundles))
					pubs, privs, err := GenerateOneTimePrekeys(first, min(b.N-len(bundles), MaxPrekeyBatch))
					if err != nil {
						b.Fatal(err)
					}
					bob.store.AddOneTimePrekeys(first, privs)
					for i := range pubs {
						bd, err := bob.id.NewBundle(bob.spk, bob.kem, &pubs[i], nil)
						if err != nil {
							b.Fatal(err)
						}
						bundles = append(bundles, bd)
					}
				}
			}
			last := bob.bundle(b, opts{})
			msg := bytes.Repeat([]byte("x"), 256)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				bd := last
				if o.oneTime {
					bd = bundles[i]
				}
				s, err := Initiate(alice.id, bob.id.PeerID(), bd)
				if err != nil {
					b.Fatal(err)
				}
				first, err := s.Encrypt(msg, testAD)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, testAD); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSessionMarshal is storing an established session, which the node
// does after every message, and loading one. Loading costs an X25519
// base-point multiplication: crypto/ecdh derives the public key of the
// ratchet private key eagerly.
func BenchmarkSessionMarshal(b *testing.B) {
	_, _, _, bs := established(b, opts{})
	enc := snapshot(b, bs)
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bs.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := UnmarshalSession(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBareXChaCha20Poly1305 is the baseline: seal and open of the same
// payload with a random nonce, nothing else.
func BenchmarkBareXChaCha20Poly1305(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, chacha20poly1305.KeySize)
			rand.Read(key)
			aead, err := chacha20poly1305.NewX(key)
			if err != nil {
				b.Fatal(err)
			}
			nonce := make([]byte, chacha20poly1305.NonceSizeX)
			msg := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				rand.Read(nonce)
				ct := aead.Seal(nil, nonce, msg, testAD)
				if _, err := aead.Open(nil, nonce, ct, testAD); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
