package livestream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The frame layer, driven with crafted frames: everything an attacker on the
// path (or a buggy peer) could do to a stream must fail to read, and never
// deliver a byte that was not sent in that place.

var (
	testKey            = bytes.Repeat([]byte{7}, KeySize)
	testID             = ID{1, 2, 3}
	testOpener         = peer.ID("opener")
	testReceiver       = peer.ID("receiver")
	testNonce          = bytes.Repeat([]byte{9}, NonceSize)
	frameTestPayloads  = []string{"first", "", "third frame", strings.Repeat("x", 1000)}
	errorsFromTheLayer = []error{ErrAuth, ErrMalformed, ErrTruncated, ErrTooLong}
)

func testCrypto(key []byte, id ID, nonce []byte, dir byte) frameCrypto {
	return newFrameCrypto(dataAEAD(key, id, "label", testOpener, testReceiver, nonce, dir), id, dir)
}

// sealed returns each frame separately: the payloads as data frames, then
// the end frame.
func sealed(t testing.TB, payloads []string) [][]byte {
	c := testCrypto(testKey, testID, testNonce, dirOpenerToReceiver)
	var frames [][]byte
	buf := make([]byte, frameBufSize)
	for _, p := range payloads {
		f, err := c.sealFrame(buf, frameData, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, bytes.Clone(f))
	}
	f, err := c.sealFrame(buf, frameEnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append(frames, bytes.Clone(f))
}

// readAll reads frames until the end frame or an error; it returns the
// payloads read before.
func readAll(stream []byte, key []byte, id ID, nonce []byte, dir byte) ([]string, error) {
	c := testCrypto(key, id, nonce, dir)
	r := bufio.NewReader(bytes.NewReader(stream))
	var got []string
	var buf []byte
	for {
		typ, p, err := c.readFrame(r, &buf)
		if err != nil {
			return got, err
		}
		if typ == frameEnd {
			return got, nil
		}
		got = append(got, string(p))
	}
}

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFrameRoundTrip(t *testing.T) {
	f := sealed(t, frameTestPayloads)
	got, err := readAll(join(f...), testKey, testID, testNonce, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(frameTestPayloads) {
		t.Fatalf("got %q", got)
	}
	// In-place sealing from the frame buffer gives the same frame as
	// sealing from a separate slice.
	c1 := testCrypto(testKey, testID, testNonce, 0)
	c2 := testCrypto(testKey, testID, testNonce, 0)
	b1, b2 := make([]byte, frameBufSize), make([]byte, frameBufSize)
	n := copy(b1[payloadOff:], "in place")
	x, _ := c1.sealFrame(b1, frameData, b1[payloadOff:payloadOff+n])
	y, _ := c2.sealFrame(b2, frameData, []byte("in place"))
	if !bytes.Equal(x, y) {
		t.Fatal("in-place seal differs")
	}
}

func TestFrameReorderReplayDrop(t *testing.T) {
	f := sealed(t, frameTestPayloads) // f[0..3] data, f[4] end
	for _, tc := range []struct {
		name   string
		stream []byte
		good   int // payloads that may be delivered before the failure
	}{
		{"swapped", join(f[0], f[2], f[1], f[3], f[4]), 1},
		{"replayed", join(f[0], f[1], f[1], f[2], f[3], f[4]), 2},
		{"replayed first", join(f[0], f[0], f[1], f[2], f[3], f[4]), 1},
		{"dropped", join(f[0], f[2], f[3], f[4]), 1},
		{"end moved early", join(f[0], f[4]), 1},
		{"end of another length", join(f[0], f[1], f[2], f[3], sealed(t, frameTestPayloads[:2])[2]), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.stream, testKey, testID, testNonce, 0)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("err = %v, want ErrAuth", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(frameTestPayloads[:tc.good]) {
				t.Fatalf("delivered %q before failing", got)
			}
		})
	}
}

func TestFrameTruncation(t *testing.T) {
	f := sealed(t, frameTestPayloads)
	all := join(f...)
	noEnd := join(f[:4]...)
	for _, tc := range []struct {
		name   string
		stream []byte
	}{
		{"empty", nil},
		{"no end frame", noEnd},
		{"cut inside end frame", all[:len(all)-1]},
		{"cut inside data frame", noEnd[:len(noEnd)-500]},
		{"cut inside length", join(f[0], f[3][:1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.stream, testKey, testID, testNonce, 0)
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", err)
			}
		})
	}
}

// TestFrameTamper flips every bit of a short stream, one at a time: every
// flip must fail, and no corrupted payload may come out.
func TestFrameTamper(t *testing.T) {
	f := sealed(t, []string{"hello", "world"})
	all := join(f...)
	for i := range all {
		for bit := range 8 {
			mut := bytes.Clone(all)
			mut[i] ^= 1 << bit
			got, err := readAll(mut, testKey, testID, testNonce, 0)
			if err == nil {
				t.Fatalf("byte %d bit %d: flip not detected", i, bit)
			}
			if !isOurs(err) {
				t.Fatalf("byte %d bit %d: error %v is no sentinel", i, bit, err)
			}
			for j, p := range got {
				if p != []string{"hello", "world"}[j] {
					t.Fatalf("byte %d bit %d: delivered tampered %q", i, bit, p)
				}
			}
		}
	}
}

func isOurs(err error) bool {
	for _, s := range errorsFromTheLayer {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestFrameBinding: a frame only opens in its own stream, direction, key
// and receiver nonce — the last is what makes a replayed stream fail.
func TestFrameBinding(t *testing.T) {
	stream := join(sealed(t, []string{"secret"})...)
	other := bytes.Repeat([]byte{8}, KeySize)
	for _, tc := range []struct {
		name  string
		key   []byte
		id    ID
		nonce []byte
		dir   byte
	}{
		{"wrong key", other, testID, testNonce, 0},
		{"other stream", testKey, ID{9}, testNonce, 0},
		{"replayed to a new nonce", testKey, testID, bytes.Repeat([]byte{1}, NonceSize), 0},
		{"other direction", testKey, testID, testNonce, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(stream, tc.key, tc.id, tc.nonce, tc.dir)
			if !errors.Is(err, ErrAuth) || len(got) != 0 {
				t.Fatalf("got %q, %v; want ErrAuth", got, err)
			}
		})
	}
	// The label and both peers are bound too.
	a := dataAEAD(testKey, testID, "label", testOpener, testReceiver, testNonce, 0)
	for _, b := range []any{
		dataAEAD(testKey, testID, "labem", testOpener, testReceiver, testNonce, 0),
		dataAEAD(testKey, testID, "label", testReceiver, testOpener, testNonce, 0),
	} {
		n := make([]byte, 24)
		ct := a.Seal(nil, n, []byte("x"), nil)
		if _, err := b.(interface {
			Open(dst, nonce, ct, ad []byte) ([]byte, error)
		}).Open(nil, n, ct, nil); err == nil {
			t.Fatal("data key does not depend on label or peers")
		}
	}
}

// TestFrameLimits: a frame of exactly MaxFrame reads; one byte more is
// refused from its length prefix alone, before allocating or reading.
func TestFrameLimits(t *testing.T) {
	c := testCrypto(testKey, testID, testNonce, 0)
	buf := make([]byte, frameBufSize)
	full, err := c.sealFrame(buf, frameData, bytes.Repeat([]byte{'a'}, MaxPayload))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := binary.Uvarint(full); n != MaxFrame {
		t.Fatalf("full frame is %d bytes, want MaxFrame %d", n, MaxFrame)
	}
	got, err := readAll(join(full, sealedEnd(t, &c)), testKey, testID, testNonce, 0)
	if err != nil || len(got) != 1 || len(got[0]) != MaxPayload {
		t.Fatalf("full frame: %d payloads, %v", len(got), err)
	}

	over := binary.AppendUvarint(nil, MaxFrame+1)
	var fbuf []byte
	rc := testCrypto(testKey, testID, testNonce, 0)
	_, _, err = rc.readFrame(bufio.NewReader(bytes.NewReader(over)), &fbuf)
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if cap(fbuf) != 0 {
		t.Fatalf("allocated %d bytes for a refused frame", cap(fbuf))
	}
	huge := binary.AppendUvarint(nil, 1<<62)
	if _, _, err = rc.readFrame(bufio.NewReader(bytes.NewReader(huge)), &fbuf); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	overflow := bytes.Repeat([]byte{0xff}, 11)
	if _, _, err = rc.readFrame(bufio.NewReader(bytes.NewReader(overflow)), &fbuf); !errors.Is(err, ErrMalformed) {
		t.Fatalf("overflowing prefix: err = %v, want ErrMalformed", err)
	}
	short := append(binary.AppendUvarint(nil, tagSize), make([]byte, tagSize)...)
	if _, _, err = rc.readFrame(bufio.NewReader(bytes.NewReader(short)), &fbuf); !errors.Is(err, ErrMalformed) {
		t.Fatalf("frame shorter than type+tag: err = %v, want ErrMalformed", err)
	}
	// Unknown type: refused before authentication is even tried.
	f := sealed(t, []string{"x"})[0]
	f[1] = 3
	if _, _, err = rc.readFrame(bufio.NewReader(bytes.NewReader(f)), &fbuf); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown type: err = %v, want ErrMalformed", err)
	}
}

func sealedEnd(t testing.TB, c *frameCrypto) []byte {
	f, err := c.sealFrame(make([]byte, frameBufSize), frameEnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCounterExhausted: the sender refuses to wrap its counter (the nonce
// would repeat); the receiver refuses past it too.
func TestCounterExhausted(t *testing.T) {
	c := testCrypto(testKey, testID, testNonce, 0)
	c.seq = 1<<64 - 1
	if _, err := c.sealFrame(make([]byte, frameBufSize), frameData, nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func TestHandshakeDecoders(t *testing.T) {
	good := &Header{Version: version, StreamId: make([]byte, IDSize), Label: strings.Repeat("é", MaxLabel/2), Confirm: make([]byte, ConfirmLen)}
	b, _ := proto.Marshal(good)
	if len(b) > MaxHeader {
		t.Fatalf("a header at the label limit is %d bytes, over MaxHeader %d", len(b), MaxHeader)
	}
	if _, err := decodeHeader(b); err != nil {
		t.Fatalf("header with a %d-byte label: %v", len(good.Label), err)
	}
	bad := map[string]func(h *Header){
		"label over limit": func(h *Header) { h.Label = strings.Repeat("a", MaxLabel+1) },
		"version":          func(h *Header) { h.Version = 2 },
		"short id":         func(h *Header) { h.StreamId = h.StreamId[:15] },
		"long confirm":     func(h *Header) { h.Confirm = make([]byte, 33) },
	}
	for name, mod := range bad {
		h := proto.Clone(good).(*Header)
		mod(h)
		b, _ := proto.Marshal(h)
		if _, err := decodeHeader(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// Invalid UTF-8 (proto3 Marshal refuses to write it, so craft it).
	raw := protowire.AppendTag(nil, 1, protowire.VarintType)
	raw = protowire.AppendVarint(raw, version)
	raw = protowire.AppendTag(raw, 2, protowire.BytesType)
	raw = protowire.AppendBytes(raw, make([]byte, IDSize))
	raw = protowire.AppendTag(raw, 3, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte{0xff, 0xfe})
	raw = protowire.AppendTag(raw, 4, protowire.BytesType)
	raw = protowire.AppendBytes(raw, make([]byte, ConfirmLen))
	if _, err := decodeHeader(raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("invalid UTF-8 label: err = %v", err)
	}
	unknown := protowire.AppendTag(bytes.Clone(b), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 1)
	b, _ = proto.Marshal(good)
	if _, err := decodeHeader(append(b, unknown[len(b):]...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown field: err = %v", err)
	}

	ok, _ := proto.Marshal(&Response{Status: Status_STATUS_OK, Nonce: make([]byte, NonceSize), Confirm: make([]byte, ConfirmLen)})
	if _, err := decodeResponse(ok); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Response{
		"ok without nonce":     {Status: Status_STATUS_OK, Confirm: make([]byte, ConfirmLen)},
		"refusal with a nonce": {Status: Status_STATUS_REFUSED, Nonce: make([]byte, NonceSize)},
		"unspecified":          {},
		"unknown status":       {Status: 42},
		"short confirm":        {Status: Status_STATUS_OK, Nonce: make([]byte, NonceSize), Confirm: make([]byte, 31)},
	} {
		b, _ := proto.Marshal(r)
		if _, err := decodeResponse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// A handshake message over its limit is refused from the prefix.
	msg := binary.AppendUvarint(nil, MaxHeader+1)
	if _, err := readMsgBytes(io.MultiReader(bytes.NewReader(msg), failReader{t}), MaxHeader); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
}

// failReader fails the test if anything reads it.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("read past a refused length prefix")
	return 0, io.EOF
}
