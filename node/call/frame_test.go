package call

import (
	"bytes"
	"errors"
	"testing"

	"eserver/node/wire"
)

func testKeys(t testing.TB) (caller, callee *Keys) {
	t.Helper()
	secret := bytes.Repeat([]byte{9}, wire.CallKeySize)
	caller, err := DeriveKeys(secret, []byte("call-1"), true)
	if err != nil {
		t.Fatal(err)
	}
	callee, err = DeriveKeys(secret, []byte("call-1"), false)
	if err != nil {
		t.Fatal(err)
	}
	return caller, callee
}

// TestSealOpen: a frame sealed by one side opens at the other with its
// sequence number, timestamp and packet; each direction has its own key,
// so a side cannot open what it sent itself (its frames reflected back).
func TestSealOpen(t *testing.T) {
	caller, callee := testKeys(t)
	for _, tc := range []struct {
		name     string
		from, to *Keys
		f        Frame
	}{
		{"caller to callee", caller, callee, Frame{Seq: 0, Timestamp: 0, Packet: []byte("opus packet")}},
		{"callee to caller", callee, caller, Frame{Seq: 7, Timestamp: 7 * uint32(wire.CallFrameSamples), Packet: []byte{1, 2, 3}}},
		{"the longest packet", caller, callee, Frame{Seq: 1 << 31, Timestamp: 1<<32 - 1, Packet: bytes.Repeat([]byte{5}, wire.MaxCallPacket)}},
		{"an empty packet (a gap in the sound)", callee, caller, Frame{Seq: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.from.Seal(nil, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > wire.MaxCallFrame || bytes.Contains(b, tc.f.Packet) && len(tc.f.Packet) > 4 {
				t.Fatalf("a sealed frame of %d bytes, or its packet readable in it", len(b))
			}
			got, err := tc.to.Open(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Seq != tc.f.Seq || got.Timestamp != tc.f.Timestamp || !bytes.Equal(got.Packet, tc.f.Packet) {
				t.Fatalf("opened %+v, sealed %+v", got, tc.f)
			}
			if _, err := tc.from.Open(b); !errors.Is(err, ErrForged) {
				t.Fatalf("the sender opened its own frame: %v", err)
			}
		})
	}
}

// TestOpenRefuses: a frame changed anywhere, of another call, or out of
// the size limits is refused with a clear error, and nothing of it is
// returned.
func TestOpenRefuses(t *testing.T) {
	caller, callee := testKeys(t)
	good, err := caller.Seal(nil, Frame{Seq: 42, Timestamp: 960, Packet: []byte("hello, bob")})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	other, err := DeriveKeys(bytes.Repeat([]byte{9}, wire.CallKeySize), []byte("call-2"), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		keys  *Keys
		frame []byte
		want  error
	}{
		{"sequence number changed", callee, flip(3), ErrForged},
		{"timestamp changed", callee, flip(7), ErrForged},
		{"packet changed", callee, flip(wire.CallFrameHeader + 1), ErrForged},
		{"tag changed", callee, flip(len(good) - 1), ErrForged},
		{"another call's keys", other, good, ErrForged},
		{"empty", callee, nil, ErrBadFrame},
		{"header only", callee, good[:wire.CallFrameHeader], ErrBadFrame},
		{"over the limit", callee, make([]byte, wire.MaxCallFrame+1), ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.keys.Open(tc.frame)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if f.Packet != nil {
				t.Fatalf("a refused frame gave a packet of %d bytes", len(f.Packet))
			}
		})
	}
	if _, err := caller.Seal(nil, Frame{Packet: make([]byte, wire.MaxCallPacket+1)}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("sealing an oversized packet: %v", err)
	}
}

// TestDeriveKeys: the secret must be whole and the call named; two calls
// with one secret have different keys.
func TestDeriveKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, wire.CallKeySize)
	for _, tc := range []struct {
		name   string
		secret []byte
		id     []byte
	}{
		{"short secret", secret[:16], []byte("c")},
		{"long secret", append(bytes.Clone(secret), 0), []byte("c")},
		{"no call ID", secret, nil},
	} {
		if _, err := DeriveKeys(tc.secret, tc.id, true); err == nil {
			t.Errorf("%s: keys derived", tc.name)
		}
	}
	a, _ := DeriveKeys(secret, []byte("a"), true)
	b, _ := DeriveKeys(secret, []byte("b"), false)
	sealed, err := a.Seal(nil, Frame{Packet: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(sealed); !errors.Is(err, ErrForged) {
		t.Fatalf("call b opened call a's frame: %v", err)
	}
}

// FuzzOpen: whatever arrives as a frame, Open returns a frame or an error,
// never panics, and a frame that opens was sealed under the key.
func FuzzOpen(f *testing.F) {
	caller, callee := testKeys(f)
	good, _ := caller.Seal(nil, Frame{Seq: 1, Timestamp: 960, Packet: []byte("seed")})
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, wire.CallFrameHeader+16))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := callee.Open(b)
		if err != nil {
			if fr.Packet != nil {
				t.Fatal("an error with a packet")
			}
			return
		}
		if !bytes.Equal(b, good) {
			t.Fatalf("a frame that was never sealed opened: %x", b)
		}
		if _, _, err := Header(b); err != nil {
			t.Fatal(err)
		}
	})
}
