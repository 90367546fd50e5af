package livestream

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// Every decoder has a fuzz target: no panic, only this package's
// sentinels, and what decodes re-encodes to something that decodes alike.

func FuzzDecodeHeader(f *testing.F) {
	good, _ := proto.Marshal(&Header{Version: version, StreamId: make([]byte, IDSize), Label: "audio", Confirm: make([]byte, ConfirmLen)})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(h.Label) > MaxLabel || len(h.StreamId) != IDSize || len(h.Confirm) != ConfirmLen {
			t.Fatalf("accepted %v", h)
		}
		again, err := proto.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if h2, err := decodeHeader(again); err != nil || !proto.Equal(h, h2) {
			t.Fatalf("re-encoded header: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	ok, _ := proto.Marshal(&Response{Status: Status_STATUS_OK, Nonce: make([]byte, NonceSize), Confirm: make([]byte, ConfirmLen)})
	refused, _ := proto.Marshal(&Response{Status: Status_STATUS_REFUSED})
	f.Add(ok)
	f.Add(refused)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if r.Status == Status_STATUS_OK && (len(r.Nonce) != NonceSize || len(r.Confirm) != ConfirmLen) {
			t.Fatalf("accepted %v", r)
		}
		again, _ := proto.Marshal(r)
		if r2, err := decodeResponse(again); err != nil || !proto.Equal(r, r2) {
			t.Fatalf("re-encoded response: %v", err)
		}
	})
}

// FuzzReadFrames feeds arbitrary bytes to the frame reader as a stream.
// Forging a frame is beyond a fuzzer, so whatever it makes must fail — but
// a prefix of genuine frames (the seeds) must still be delivered as sent.
func FuzzReadFrames(f *testing.F) {
	frames := sealed(f, []string{"one", "", "three"})
	f.Add(join(frames...))
	f.Add(join(frames[:2]...))
	f.Add(frames[0][:3])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := testCrypto(testKey, testID, testNonce, 0)
		r := bufio.NewReader(bytes.NewReader(b))
		var buf []byte
		want := []string{"one", "", "three"}
		for i := 0; ; i++ {
			typ, p, err := c.readFrame(r, &buf)
			if err != nil {
				if !isOurs(err) {
					t.Fatalf("error %v is no sentinel", err)
				}
				if cap(buf) > MaxFrame {
					t.Fatalf("frame buffer grew to %d", cap(buf))
				}
				return
			}
			if typ == frameEnd {
				if i != 3 {
					t.Fatalf("end frame accepted at %d", i)
				}
				return
			}
			if i >= 3 || string(p) != want[i] {
				t.Fatalf("frame %d delivered %q", i, p)
			}
		}
	})
}
