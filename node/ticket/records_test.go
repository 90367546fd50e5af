package ticket

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestVerifiedRecordsHoldNothingElse: once a peer record verified, the
// remembered record passes exactly those bytes for that signer: a changed
// byte or another signer still fail, a caller changing the record it got
// changes nothing remembered, and the memory stays bounded.
func TestVerifiedRecordsHoldNothingElse(t *testing.T) {
	key, id := newKey(t)
	otherKey, other := newKey(t)
	addr := ma.StringCast("/ip4/192.0.2.1/tcp/4001")
	env, err := SealRecord(key, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time from memory
		rec, err := VerifyRecord(id, env)
		if err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
		if rec.PeerID != id || len(rec.Addrs) != 1 || !rec.Addrs[0].Equal(addr) {
			t.Fatalf("verify %d: got %+v", i, rec)
		}
		rec.Addrs[0] = ma.StringCast("/ip4/198.51.100.1/tcp/1") // the caller's copy
		rec.Addrs = append(rec.Addrs, addr)
	}
	if rec, err := VerifyRecord(id, env); err != nil || len(rec.Addrs) != 1 || !rec.Addrs[0].Equal(addr) {
		t.Fatalf("after callers changed their copies: %+v, %v", rec, err)
	}
	changed := append([]byte(nil), env...)
	changed[len(changed)-1] ^= 1
	byOther, err := SealRecord(otherKey, peer.AddrInfo{ID: other, Addrs: []ma.Multiaddr{addr}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer peer.ID
		env    []byte
	}{
		{"a changed byte", id, changed},
		{"the record for another signer", other, env},
		{"another peer's record", id, byOther},
	} {
		if _, err := VerifyRecord(tc.signer, tc.env); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want %v", tc.name, err, ErrBadRecord)
		}
	}

	m := recordMemo{seen: map[[32]byte]*peer.PeerRecord{}}
	for i := range recordMemoSize + 10 {
		m.add(recordKey(id, []byte{byte(i), byte(i >> 8)}), &peer.PeerRecord{PeerID: id})
	}
	if n := len(m.seen); n > recordMemoSize || n == 0 {
		t.Fatalf("%d records remembered, bound %d", n, recordMemoSize)
	}
}
