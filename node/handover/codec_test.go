package handover

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"eserver/node/store"
	"eserver/node/wire"
)

func okMessage() *wire.HandoverMessage {
	return &wire.HandoverMessage{Id: "m1", Peer: "bob", Text: "hi", TimeUnixNano: testNow.UnixNano(), State: store.StateReceived}
}

// TestDecode: a chunk within the protocol's limits decodes to the messages
// the store keeps; one out of them, or a refusal, gives a clear error and
// no message at all.
func TestDecode(t *testing.T) {
	with := func(f func(m *wire.HandoverMessage)) *wire.HandoverChunk {
		m := okMessage()
		f(m)
		return &wire.HandoverChunk{Messages: []*wire.HandoverMessage{okMessage(), m}}
	}
	many := func(n int) *wire.HandoverChunk {
		c := &wire.HandoverChunk{}
		for range n {
			c.Messages = append(c.Messages, okMessage())
		}
		return c
	}
	long := strings.Repeat("x", wire.MaxHandoverField)
	for _, tc := range []struct {
		name  string
		chunk *wire.HandoverChunk
		want  error // nil: decodes
	}{
		{"a message", with(func(*wire.HandoverMessage) {}), nil},
		{"the last, empty chunk", &wire.HandoverChunk{Done: true}, nil},
		{"messages at the limit", many(wire.MaxHandoverMessages), nil},
		{"one message too many", many(wire.MaxHandoverMessages + 1), ErrBadChunk},
		{"text at the limit", with(func(m *wire.HandoverMessage) { m.Text = strings.Repeat("a", wire.MaxChatText) }), nil},
		{"text over the limit", with(func(m *wire.HandoverMessage) { m.Text = strings.Repeat("a", wire.MaxChatText+1) }), ErrBadChunk},
		{"id at the limit", with(func(m *wire.HandoverMessage) { m.Id = long }), nil},
		{"id over the limit", with(func(m *wire.HandoverMessage) { m.Id = long + "x" }), ErrBadChunk},
		{"sender over the limit", with(func(m *wire.HandoverMessage) { m.Sender = long + "x" }), ErrBadChunk},
		{"no id", with(func(m *wire.HandoverMessage) { m.Id = "" }), ErrBadChunk},
		{"no peer", with(func(m *wire.HandoverMessage) { m.Peer = "" }), ErrBadChunk},
		{"unknown state", with(func(m *wire.HandoverMessage) { m.State = "read" }), ErrBadChunk},
		{"unknown kind", with(func(m *wire.HandoverMessage) { m.Kind = "poll" }), ErrBadChunk},
		{"no time", with(func(m *wire.HandoverMessage) { m.TimeUnixNano = 0 }), ErrBadChunk},
		{"negative file size", with(func(m *wire.HandoverMessage) { m.Kind, m.FileSize = store.EntryFile, -1 }), ErrBadChunk},
		{"negative call duration", with(func(m *wire.HandoverMessage) { m.Kind, m.CallDuration = store.EntryCall, -1 }), ErrBadChunk},
		{"call reason over the limit", with(func(m *wire.HandoverMessage) {
			m.Kind, m.CallReason = store.EntryCall, strings.Repeat("x", wire.MaxCallReason+1)
		}), ErrBadChunk},
		{"refused: not our device", &wire.HandoverChunk{Error: wire.CodeNotOwnDevice, Done: true}, ErrNotOwnDevice},
		{"refused: internal", &wire.HandoverChunk{Error: wire.CodeInternal, Done: true}, ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Decode(tc.chunk)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			if err != nil && ms != nil {
				t.Fatalf("a bad chunk gave %d messages", len(ms))
			}
			if err == nil && len(ms) != len(tc.chunk.Messages) {
				t.Fatalf("%d messages of %d", len(ms), len(tc.chunk.Messages))
			}
		})
	}
}

// TestEncodeDecode: every field of a stored entry survives the trip.
func TestEncodeDecode(t *testing.T) {
	for _, m := range []store.Message{
		{ID: "a", Peer: "bob", Text: "hello", Time: testNow, State: store.StateReceived, Device: "12D3", Order: 42},
		{ID: "b", Peer: "bob", Outgoing: true, Text: "hi", Time: testNow, State: store.StateQueued},
		{ID: "c", Peer: "#conv", Text: "in a group", Time: testNow, State: store.StateReceived, Sender: "carol"},
		{ID: "d", Peer: "bob", Kind: store.EntryFile, Text: "photo.png", Time: testNow, State: store.StateDelivered, Outgoing: true,
			File: &store.FileEntry{Size: 12345, State: "done"}},
		{ID: "e", Peer: "bob", Kind: store.EntryNudge, Time: testNow, State: store.StateReceived},
		{ID: "f", Peer: "bob", Kind: store.EntryCall, Time: testNow, State: store.StateDelivered, Outgoing: true,
			Call: &store.CallEntry{Reason: "hung up", Duration: 75}},
	} {
		b, err := proto.Marshal(&wire.HandoverChunk{Messages: []*wire.HandoverMessage{Encode(&m)}})
		if err != nil {
			t.Fatal(err)
		}
		var c wire.HandoverChunk
		if err := proto.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		ms, err := Decode(&c)
		if err != nil {
			t.Fatal(err)
		}
		got := ms[0]
		if got.ID != m.ID || got.Peer != m.Peer || got.Outgoing != m.Outgoing || got.Text != m.Text || !got.Time.Equal(m.Time) ||
			got.State != m.State || got.Sender != m.Sender || got.Kind != m.Kind || got.Device != m.Device || got.Order != m.Order ||
			(m.File != nil) != (got.File != nil) || (m.File != nil && *m.File != *got.File) ||
			(m.Call != nil) != (got.Call != nil) || (m.Call != nil && *m.Call != *got.Call) {
			t.Fatalf("%+v came back as %+v", m, got)
		}
	}
}

// frames is a stream that keeps what is written, for the chunker.
type frames struct{ bytes.Buffer }

func (f *frames) SetDeadline(time.Time) error { return nil }

// TestChunkerLimits: however long the messages, the sender's chunks stay
// within the frame and message limits, and carry every message once.
func TestChunkerLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		n    int
	}{
		{"short", "hi", 2000},
		{"longest text", strings.Repeat("é", wire.MaxChatText/2), 100},
		{"none", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &frames{}
			sent := 0
			c := chunker{w: f, total: uint64(tc.n), sent: func(n int) { sent += n }}
			for i := range tc.n {
				m := okMessage()
				m.Text = tc.text
				m.Id = string(rune('a'+i%26)) + strings.Repeat("0", i%7)
				if err := c.add(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.finish(); err != nil {
				t.Fatal(err)
			}
			r := wire.NewReader(&f.Buffer, wire.MaxHandoverFrame)
			got, done := 0, false
			for !done {
				var ch wire.HandoverChunk
				if err := r.ReadMsg(&ch); err != nil {
					t.Fatalf("after %d messages: %v", got, err)
				}
				if len(ch.Messages) > wire.MaxHandoverMessages {
					t.Fatalf("a chunk of %d messages", len(ch.Messages))
				}
				if _, err := Decode(&ch); err != nil {
					t.Fatal(err)
				}
				got += len(ch.Messages)
				done = ch.Done
			}
			if got != tc.n || sent != tc.n || f.Len() != 0 {
				t.Fatalf("%d messages read, %d reported sent, %d bytes after the last chunk; want %d", got, sent, f.Len(), tc.n)
			}
		})
	}
}

// TestFrameLimit: a chunk larger than wire.MaxHandoverFrame is refused
// from its length, before its body is read.
func TestFrameLimit(t *testing.T) {
	var buf bytes.Buffer
	big := &wire.HandoverChunk{}
	for range wire.MaxHandoverFrame/wire.MaxChatText + 1 {
		m := okMessage()
		m.Text = strings.Repeat("a", wire.MaxChatText)
		big.Messages = append(big.Messages, m)
	}
	if err := wire.WriteMsg(&buf, big); err != nil {
		t.Fatal(err)
	}
	var c wire.HandoverChunk
	if err := wire.NewReader(&buf, wire.MaxHandoverFrame).ReadMsg(&c); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("a %d-byte chunk: %v", proto.Size(big), err)
	}
}

// TestSince: a request's time must be neither negative nor in the future.
func TestSince(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   int64
		ok   bool
	}{
		{"the epoch", 0, true},
		{"ninety days ago", testNow.Add(-DefaultWindow).UnixMilli(), true},
		{"within the skew", testNow.Add(wire.MaxClockSkew).UnixMilli(), true},
		{"in the future", testNow.Add(wire.MaxClockSkew + time.Second).UnixMilli(), false},
		{"negative", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Since(&wire.HandoverRequest{SinceUnixMilli: tc.ms}, testNow)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadChunk)) {
				t.Fatalf("Since(%d): %v", tc.ms, err)
			}
			if tc.ok && got.UnixMilli() != tc.ms {
				t.Fatalf("Since(%d) = %v", tc.ms, got)
			}
		})
	}
}

// FuzzDecodeChunk: whatever a device sends as a chunk frame, reading and
// decoding it never panics, and what decodes is within the limits.
func FuzzDecodeChunk(f *testing.F) {
	var buf bytes.Buffer
	wire.WriteMsg(&buf, &wire.HandoverChunk{Messages: []*wire.HandoverMessage{okMessage()}, Total: 1, Done: true})
	f.Add(buf.Bytes())
	f.Add([]byte{0x05, 0x0a, 0x03, 0x0a, 0x01, 0x61})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c wire.HandoverChunk
		if err := wire.NewReader(bytes.NewReader(b), wire.MaxHandoverFrame).ReadMsg(&c); err != nil {
			return
		}
		ms, err := Decode(&c)
		if err != nil {
			if ms != nil {
				t.Fatal("messages with an error")
			}
			return
		}
		if len(ms) > wire.MaxHandoverMessages {
			t.Fatalf("%d messages", len(ms))
		}
		for _, m := range ms {
			if m.ID == "" || m.Peer == "" || len(m.Text) > wire.MaxChatText || len(m.ID) > wire.MaxHandoverField {
				t.Fatalf("out of limits: %+v", m)
			}
		}
	})
}

// FuzzDecodeRequest: whatever an asker sends as its request, reading and
// checking it never panics, and a time it accepts is not in the future.
func FuzzDecodeRequest(f *testing.F) {
	var buf bytes.Buffer
	wire.WriteMsg(&buf, &wire.HandoverRequest{SinceUnixMilli: testNow.Add(-DefaultWindow).UnixMilli()})
	f.Add(buf.Bytes())
	f.Add([]byte{0x02, 0x08, 0x01})
	f.Add([]byte{0x41})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.HandoverRequest
		if err := wire.NewReader(bytes.NewReader(b), wire.MaxHandoverRequest).ReadMsg(&req); err != nil {
			return
		}
		since, err := Since(&req, testNow)
		if err == nil && since.After(testNow.Add(wire.MaxClockSkew)) {
			t.Fatalf("accepted %v", since)
		}
	})
}
