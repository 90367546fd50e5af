package ratchet

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestBundleMarshal: a bundle survives encoding with and without its
// optional prekeys, and still verifies.
func TestBundleMarshal(t *testing.T) {
	d := newDevice(t)
	for _, o := range allOpts {
		b := d.bundle(t, o)
		enc := mustMarshal(t, b)
		if len(enc) > MaxBundleSize {
			t.Fatalf("%v: bundle of %d bytes over MaxBundleSize", o, len(enc))
		}
		got, err := UnmarshalBundle(enc)
		if err != nil {
			t.Fatalf("%v: %v", o, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("%v: bundle changed through encoding:\n%+v\n%+v", o, got, b)
		}
		if err := got.Verify(d.id.PeerID()); err != nil {
			t.Fatalf("%v: decoded bundle: %v", o, err)
		}
	}
}

// TestBundleUnmarshalInvalid breaks a valid encoded bundle one field at a
// time: each is refused with ErrMalformed.
func TestBundleUnmarshalInvalid(t *testing.T) {
	d := newDevice(t)
	enc := mustMarshal(t, d.bundle(t, opts{true, true}))
	short := make([]byte, KeySize-1)
	badKEM := bytes.Repeat([]byte{0xFF}, len(d.kem.EncapsulationKey)) // coefficients not reduced
	cases := []struct {
		name   string
		mutate func(w *WireBundle)
	}{
		{"version 0", func(w *WireBundle) { w.Version = 0 }},
		{"version 2", func(w *WireBundle) { w.Version = 2 }},
		{"unknown field", func(w *WireBundle) { w.ProtoReflect().SetUnknown([]byte{0x48, 0x01}) }},
		{"unknown field in a prekey", func(w *WireBundle) { w.SignedPrekey.ProtoReflect().SetUnknown([]byte{0x20, 0x01}) }},
		{"no signed prekey", func(w *WireBundle) { w.SignedPrekey = nil }},
		{"no KEM prekey", func(w *WireBundle) { w.KemPrekey = nil }},
		{"peer ID garbage", func(w *WireBundle) { w.PeerId = []byte{0, 1, 2} }},
		{"no peer ID", func(w *WireBundle) { w.PeerId = nil }},
		{"identity DH key short", func(w *WireBundle) { w.IdentityDh = short }},
		{"signed prekey short", func(w *WireBundle) { w.SignedPrekey.Pub = short }},
		{"one-time prekey short", func(w *WireBundle) { w.OneTime.Pub = short }},
		{"KEM prekey short", func(w *WireBundle) { w.KemPrekey.EncapsulationKey = w.KemPrekey.EncapsulationKey[1:] }},
		{"KEM prekey not reduced", func(w *WireBundle) { w.KemPrekey.EncapsulationKey = badKEM }},
		{"one-time KEM prekey not reduced", func(w *WireBundle) { w.OneTimeKem.EncapsulationKey = badKEM }},
		{"identity signature short", func(w *WireBundle) { w.IdentitySig = w.IdentitySig[1:] }},
		{"one-time KEM signature missing", func(w *WireBundle) { w.OneTimeKem.Sig = nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w WireBundle
			if err := proto.Unmarshal(enc, &w); err != nil {
				t.Fatal(err)
			}
			c.mutate(&w)
			b, err := proto.Marshal(&w)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := UnmarshalBundle(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// TestGenerators checks prekey batches: numbering, limits, and that a bundle
// cannot be assembled from another identity's prekeys.
func TestGenerators(t *testing.T) {
	d := newDevice(t)
	pubs, privs, err := GenerateOneTimePrekeys(math.MaxUint32-2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pubs {
		if p.ID != math.MaxUint32-2+uint32(i) || !bytes.Equal(p.Pub, privs[i].PublicKey().Bytes()) {
			t.Fatalf("one-time prekey %d: ID %d", i, p.ID)
		}
	}
	kems, dks, err := d.id.GenerateOneTimeKEMPrekeys(7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if kems[1].ID != 8 || !bytes.Equal(kems[1].EncapsulationKey, dks[1].EncapsulationKey().Bytes()) {
		t.Fatal("one-time KEM prekeys misnumbered")
	}
	for _, bad := range []struct {
		first uint32
		n     int
	}{{0, 0}, {0, -1}, {0, MaxPrekeyBatch + 1}, {math.MaxUint32 - 1, 3}} {
		if _, _, err := GenerateOneTimePrekeys(bad.first, bad.n); err == nil {
			t.Errorf("GenerateOneTimePrekeys(%d, %d) accepted", bad.first, bad.n)
		}
		if _, _, err := d.id.GenerateOneTimeKEMPrekeys(bad.first, bad.n); err == nil {
			t.Errorf("GenerateOneTimeKEMPrekeys(%d, %d) accepted", bad.first, bad.n)
		}
	}
	other := newDevice(t)
	if _, err := d.id.NewBundle(other.spk, d.kem, nil, nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bundle with another identity's signed prekey: %v", err)
	}
	if _, err := d.id.NewBundle(d.spk, d.kem, nil, &d.kem); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bundle with a last-resort KEM prekey as one-time: %v", err)
	}
	if _, err := NewIdentity(nil, nil); err == nil {
		t.Fatal("identity without keys")
	}
}

// TestParseInit: ParseInit tells init messages from normal ones and refuses
// what is neither.
func TestParseInit(t *testing.T) {
	alice, bob := newDevice(t), newDevice(t)
	s, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{oneTimeKEM: true}))
	if err != nil {
		t.Fatal(err)
	}
	info, ok, err := ParseInit(encrypt(t, s, "x"))
	if err != nil || !ok {
		t.Fatalf("init message: %v, %v", ok, err)
	}
	if info.Sender != alice.id.PeerID() || !info.KEMOneTime || info.KEMPrekeyID != firstOTKEM || info.HasOneTime {
		t.Fatalf("init info %+v", info)
	}
	_, _, as, _ := established(t, opts{})
	if _, ok, err := ParseInit(encrypt(t, as, "x")); ok || err != nil {
		t.Fatalf("normal message: %v, %v", ok, err)
	}
	for _, garbage := range [][]byte{nil, {0x08, 0x01}, []byte("hello")} {
		if _, _, err := ParseInit(garbage); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseInit(%q): %v", garbage, err)
		}
		if IsInit(garbage) {
			t.Fatalf("IsInit(%q)", garbage)
		}
	}
}
