package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestFramingRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := []*Frame{
		{Kind: &Frame_Envelope{Envelope: &Envelope{Id: "a", Sealed: []byte("x")}}},
		{Kind: &Frame_Ack{Ack: &Ack{Id: "a"}}},
		{}, // an empty message is a valid zero-length frame
		{Kind: &Frame_Envelope{Envelope: &Envelope{Id: "big", Sealed: bytes.Repeat([]byte{7}, 60<<10)}}},
	}
	for _, m := range msgs {
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf, MaxMsgFrame)
	for i, want := range msgs {
		var got Frame
		if err := r.ReadMsg(&got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("frame %d: got %v", i, &got)
		}
	}
	var f Frame
	if err := r.ReadMsg(&f); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadMsgLimits(t *testing.T) {
	frame := func(n int) []byte {
		b := binary.AppendUvarint(nil, uint64(n))
		body, _ := proto.Marshal(&Envelope{Sealed: make([]byte, n-4)})
		return append(b, body...)
	}
	atLimit := frame(MaxMsgFrame)
	if got := binary.AppendUvarint(nil, MaxMsgFrame); !bytes.HasPrefix(atLimit, got) {
		t.Fatal("test frame does not have the limit's length")
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		substr  string
	}{
		{"exactly at the limit", atLimit, nil, ""},
		{"one over the limit", binary.AppendUvarint(nil, MaxMsgFrame+1), ErrFrameTooLarge, ""},
		{"huge length, no body", binary.AppendUvarint(nil, 1<<62), ErrFrameTooLarge, ""},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11), nil, "frame length"},
		{"truncated body", []byte{10, 1, 2}, nil, "frame body"},
		{"truncated length", []byte{0x80}, nil, "frame length"},
		{"not protobuf", []byte{3, 0xff, 0xff, 0xff}, nil, "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Both readers must agree: the buffered one and the one-shot one.
			for _, read := range []func(io.Reader, *Envelope) error{
				func(r io.Reader, m *Envelope) error { return NewReader(r, MaxMsgFrame).ReadMsg(m) },
				func(r io.Reader, m *Envelope) error { return ReadMsg(r, MaxMsgFrame, m) },
			} {
				var m Envelope
				err := read(bytes.NewReader(tt.in), &m)
				switch {
				case tt.wantErr == nil && tt.substr == "":
					if err != nil {
						t.Fatalf("unexpected error %v", err)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("error %v, want %v", err, tt.wantErr)
					}
				default:
					if err == nil || !strings.Contains(err.Error(), tt.substr) {
						t.Fatalf("error %v, want one about %q", err, tt.substr)
					}
				}
			}
		})
	}
}

// TestReadMsgStopsAtFrameEnd checks that the one-shot reader leaves the next
// frame unread, so request/response protocols can share a stream.
func TestReadMsgStopsAtFrameEnd(t *testing.T) {
	var buf bytes.Buffer
	WriteMsg(&buf, &Ack{Id: "1"})
	WriteMsg(&buf, &Ack{Id: "2"})
	var a, b Ack
	if err := ReadMsg(&buf, MaxMsgFrame, &a); err != nil {
		t.Fatal(err)
	}
	if err := ReadMsg(&buf, MaxMsgFrame, &b); err != nil {
		t.Fatal(err)
	}
	if a.Id != "1" || b.Id != "2" {
		t.Fatalf("read %q, %q", a.Id, b.Id)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame decoder as every message
// type a peer can send first or later on a stream.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	WriteMsg(&seed, &Frame{Kind: &Frame_Envelope{Envelope: &Envelope{Id: "x", Sealed: []byte{1, 2}}}})
	f.Add(seed.Bytes())
	f.Add([]byte{0})
	f.Add(binary.AppendUvarint(nil, MaxMsgFrame+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []proto.Message{&Frame{}, &Hello{}, &AuthRequest{}, &AuthResponse{}, &RendezvousRequest{}, &RendezvousResponse{}, &Payload{}, &SealedBox{}, &Ticket{}} {
			r := NewReader(bytes.NewReader(data), MaxMsgFrame)
			for range 4 {
				if err := r.ReadMsg(m); err != nil {
					break
				}
				// Whatever decoded must encode again within the limit it came under.
				if b, err := proto.Marshal(m); err != nil || len(b) > MaxMsgFrame {
					t.Fatalf("re-encoding %T: %d bytes, %v", m, len(b), err)
				}
			}
		}
	})
}

func TestValidUsername(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"bob", true},
		{"a.b_c-9", true},
		{strings.Repeat("a", MaxUsername), true},
		{strings.Repeat("a", MaxUsername+1), false},
		{"ab", false},
		{"", false},
		{"Bob", false},
		{"bob smith", false},
		{"bob@example", false},
		{"bøb", false},
	}
	for _, tc := range tests {
		err := ValidUsername(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidUsername(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadUsername) {
			t.Errorf("ValidUsername(%q) = %v, not ErrBadUsername", tc.name, err)
		}
	}
}

func TestValidRegion(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"ES", true},
		{"DE", true},
		{"XA", true}, // user-assigned: an operator's own region
		{"", false},  // none known is not a code
		{"es", false},
		{"E", false},
		{"ESP", false},
		{"E1", false},
		{"É", false}, // two bytes, not two letters
		{"E\x00", false},
	}
	for _, tc := range tests {
		err := ValidRegion(tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("ValidRegion(%q) = %v, want ok=%v", tc.code, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRegion) {
			t.Errorf("ValidRegion(%q) = %v, not ErrBadRegion", tc.code, err)
		}
	}
}
