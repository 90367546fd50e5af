package ticket

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// signRaw signs a hand-made list, as a buggy or compromised server might.
func signRaw(t testing.TB, key crypto.PrivKey, w *wire.RevocationList) *wire.SignedRevocations {
	t.Helper()
	raw, err := proto.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(append([]byte(revocationContext), raw...))
	if err != nil {
		t.Fatal(err)
	}
	return &wire.SignedRevocations{List: raw, Signature: sig}
}

func TestRevocationsSignVerify(t *testing.T) {
	serverKey, server := newKey(t)
	otherKey, _ := newKey(t)
	_, dev1 := newKey(t)
	_, dev2 := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	in := RevocationList{Since: 3, Serial: 9, Issued: now, More: true, Entries: []Revocation{
		{Serial: 4, Peer: dev1, Horizon: now.Add(time.Hour)},
		{Serial: 9, Peer: dev2, Horizon: now.Add(2 * time.Hour)},
	}}
	sr, err := SignRevocations(serverKey, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyRevocations(server, sr)
	if err != nil {
		t.Fatal(err)
	}
	if got.Server != server || got.Since != 3 || got.Serial != 9 || !got.More || !got.Issued.Equal(now) ||
		len(got.Entries) != 2 || got.Entries[0] != in.Entries[0] || got.Entries[1] != in.Entries[1] || got.Signed != sr {
		t.Fatalf("round trip: %+v", got)
	}

	entry := func(serial uint64, p []byte) *wire.Revocation {
		return &wire.Revocation{Serial: serial, PeerId: p, HorizonUnix: now.Unix()}
	}
	many := make([]*wire.Revocation, wire.MaxRevocationEntries+1)
	for i := range many {
		many[i] = entry(uint64(i+1), []byte(dev1))
	}
	tampered := proto.Clone(sr).(*wire.SignedRevocations)
	tampered.List = bytes.Clone(tampered.List)
	tampered.List[len(tampered.List)-1] ^= 1
	bad := []struct {
		name string
		sr   *wire.SignedRevocations
	}{
		{"nil", nil},
		{"empty", &wire.SignedRevocations{}},
		{"no signature", &wire.SignedRevocations{List: sr.List}},
		{"tampered", tampered},
		{"signed by another key", signRaw(t, otherKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: 1})},
		{"names another server", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(dev1), Serial: 1})},
		{"since after serial", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Since: 5, Serial: 4})},
		{"entry at since", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Since: 5, Serial: 9,
			Entries: []*wire.Revocation{entry(5, []byte(dev1))}})},
		{"entry after serial", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: 9,
			Entries: []*wire.Revocation{entry(10, []byte(dev1))}})},
		{"entries out of order", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: 9,
			Entries: []*wire.Revocation{entry(3, []byte(dev1)), entry(2, []byte(dev2))}})},
		{"malformed peer ID", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: 9,
			Entries: []*wire.Revocation{entry(3, []byte("junk"))}})},
		{"one entry over the limit", signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: uint64(len(many)), Entries: many})},
		{"over the size limit", &wire.SignedRevocations{List: make([]byte, maxRevocationList+1), Signature: sr.Signature}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyRevocations(server, tt.sr); !errors.Is(err, ErrBadRevocations) {
				t.Fatalf("got %v, want ErrBadRevocations", err)
			}
		})
	}
	// Exactly at the entry limit is fine.
	atLimit := signRaw(t, serverKey, &wire.RevocationList{ServerPeerId: []byte(server), Serial: uint64(len(many) - 1), Entries: many[:len(many)-1]})
	if l, err := VerifyRevocations(server, atLimit); err != nil || len(l.Entries) != wire.MaxRevocationEntries {
		t.Fatalf("at the limit: %v", err)
	}
}

// FuzzVerifyRevocations decodes arbitrary list bytes under a valid signature
// (a buggy or compromised server) and arbitrary signatures: whatever it
// accepts is well-formed.
func FuzzVerifyRevocations(f *testing.F) {
	serverKey, server := newKey(f)
	_, dev := newKey(f)
	sr, _ := SignRevocations(serverKey, RevocationList{Since: 1, Serial: 2, Issued: time.Unix(1e9, 0),
		Entries: []Revocation{{Serial: 2, Peer: dev, Horizon: time.Unix(2e9, 0)}}})
	f.Add(sr.List, sr.Signature, true)
	f.Add([]byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, body, sig []byte, resign bool) {
		if resign {
			sig, _ = serverKey.Sign(append([]byte(revocationContext), body...))
		}
		l, err := VerifyRevocations(server, &wire.SignedRevocations{List: body, Signature: sig})
		if err != nil {
			return
		}
		if l.Server != server || l.Since > l.Serial || len(l.Entries) > wire.MaxRevocationEntries {
			t.Fatalf("accepted a malformed list: %+v", l)
		}
		last := l.Since
		for _, e := range l.Entries {
			if e.Serial <= last || e.Serial > l.Serial || e.Peer == "" {
				t.Fatalf("accepted a bad entry %+v in %+v", e, l)
			}
			last = e.Serial
		}
	})
}
