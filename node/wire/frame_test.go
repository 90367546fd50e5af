package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// meter is a Memory with a limit that records the most it ever held.
type meter struct {
	limit      int
	held, peak int
	refused    int
}

func (m *meter) ReserveMemory(size int, prio uint8) error {
	if m.limit > 0 && m.held+size > m.limit*(int(prio)+1)/256 {
		m.refused++
		return errors.New("meter: over the limit")
	}
	m.held += size
	m.peak = max(m.peak, m.held)
	return nil
}

func (m *meter) ReleaseMemory(size int) {
	m.held -= size
	if m.held < 0 {
		panic("meter: released more than reserved")
	}
}

func frameOf(t testing.TB, m proto.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMsg(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPartialFrameHoldsWhatArrived is the partial-frame attack on the
// decoder: a frame that claims 1 MiB and sends 10 KiB makes the reader
// hold (and account) about what arrived, never the claimed length.
func TestPartialFrameHoldsWhatArrived(t *testing.T) {
	const claim, sent = 1 << 20, 10 << 10
	in := append(binary.AppendUvarint(nil, claim), make([]byte, sent)...)
	m := &meter{}
	r := NewReader(bytes.NewReader(in), MaxContactsFrame)
	r.Mem = m
	var c ContactsRequest
	err := r.ReadMsg(&c)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadMsg: %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if m.peak > 2*sent+firstChunk {
		t.Fatalf("accounted %d bytes for %d that arrived of %d claimed", m.peak, sent, claim)
	}
	r.Release()
	if m.held != 0 {
		t.Fatalf("%d bytes still reserved after Release", m.held)
	}
}

// TestFrameAccounting: a whole frame is accounted while its message is in
// use, given back by Release or the next ReadMsg; a frame the memory
// refuses is ErrNoMemory, Discard skips it, and the next frame still reads.
func TestFrameAccounting(t *testing.T) {
	big := frameOf(t, &Envelope{Id: "big", Sealed: make([]byte, 40<<10)})
	small := frameOf(t, &Envelope{Id: "small"})
	var in []byte
	in = append(in, small...)
	in = append(in, big...)
	in = append(in, small...)
	// Room for small frames only: a large frame may take 3/4 of 32 KiB.
	m := &meter{limit: 32 << 10}
	r := NewReader(bytes.NewReader(in), MaxMsgFrame)
	r.Mem = m
	var e Envelope
	if err := r.ReadMsg(&e); err != nil || e.Id != "small" {
		t.Fatalf("first frame: %v %q", err, e.Id)
	}
	if m.held == 0 {
		t.Fatal("a decoded frame holds no reservation")
	}
	err := r.ReadMsg(&e)
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("large frame: %v, want %v", err, ErrNoMemory)
	}
	if m.peak > m.limit*(int(PrioLargeFrame)+1)/256 {
		t.Fatalf("a large frame took %d of %d bytes", m.peak, m.limit)
	}
	if err := r.Discard(); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	if err := r.ReadMsg(&e); err != nil || e.Id != "small" {
		t.Fatalf("frame after the refused one: %v %q", err, e.Id)
	}
	r.Release()
	if m.held != 0 {
		t.Fatalf("%d bytes reserved after Release", m.held)
	}
	if err := r.ReadMsg(&e); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
}

// TestSlowSenders: on a stream with deadlines, a frame that stalls after
// its first bytes, or trickles below the rate, is dropped with ErrTooSlow
// once the grace is over; an idle stream before a frame is not.
func TestSlowSenders(t *testing.T) {
	body := frameOf(t, &Envelope{Id: "x", Sealed: make([]byte, 4<<10)})
	tests := []struct {
		name string
		send func(w net.Conn)
	}{
		{"stalled: all but the last byte", func(w net.Conn) { w.Write(body[:len(body)-1]) }},
		{"stalled inside the length", func(w net.Conn) { w.Write([]byte{0x80}) }},
		{"trickle: a byte at a time", func(w net.Conn) {
			for _, b := range body {
				if _, err := w.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go tt.send(b)
			r := NewReader(a, MaxMsgFrame)
			r.MinRate, r.Grace = 10<<10, 20*time.Millisecond
			var e Envelope
			if err := r.ReadMsg(&e); !errors.Is(err, ErrTooSlow) {
				t.Fatalf("ReadMsg: %v, want %v", err, ErrTooSlow)
			}
		})
	}
	t.Run("idle before a frame, then quick", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			time.Sleep(50 * time.Millisecond) // longer than the grace: idling is not a frame
			b.Write(body)
		}()
		r := NewReader(a, MaxMsgFrame)
		r.MinRate, r.Grace = 10<<10, 20*time.Millisecond
		var e Envelope
		if err := r.ReadMsg(&e); err != nil || e.Id != "x" {
			t.Fatalf("ReadMsg: %v %q", err, e.Id)
		}
	})
}

// FuzzAccountedReader: whatever arrives, an accounted reader never holds
// more than its memory allows, nor more than twice what arrived, and gives
// it all back.
func FuzzAccountedReader(f *testing.F) {
	f.Add(frameOf(f, &Envelope{Id: "x", Sealed: make([]byte, 3000)}), 4096)
	f.Add(binary.AppendUvarint(nil, MaxMsgFrame), 1<<20)
	f.Add(append(binary.AppendUvarint(nil, 20000), make([]byte, 9000)...), 16000)
	f.Add([]byte{0x80, 0x80}, 100)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		if limit < 0 || limit > 1<<22 {
			return
		}
		m := &meter{limit: limit}
		r := NewReader(bytes.NewReader(data), MaxMsgFrame)
		r.Mem = m
		for range 4 {
			var e Envelope
			err := r.ReadMsg(&e)
			if (limit > 0 && m.held > limit) || m.held > 2*len(data)+firstChunk {
				t.Fatalf("holding %d bytes of %d allowed after %d arrived", m.held, limit, len(data))
			}
			if errors.Is(err, ErrNoMemory) {
				if derr := r.Discard(); derr != nil {
					break
				}
				continue
			}
			if err != nil {
				break
			}
		}
		r.Release()
		if m.held != 0 {
			t.Fatalf("%d bytes reserved after Release", m.held)
		}
	})
}
