package livestream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/poll"
)

// waitFor is how long a test waits for something that should happen at
// once; it only bounds a hang, nothing is timed.
const waitFor = 20 * time.Second

// TestOrderedComplete: 32 MiB in random-sized writes (from 1 byte to three
// frames) arrive byte-identical, and the sender's Close is the reader's EOF.
func TestOrderedComplete(t *testing.T) {
	s, r := pipe(t, "bulk")
	data := make([]byte, 32<<20)
	rand.Read(data)
	rng := mrand.New(mrand.NewPCG(1, 2))
	errc := make(chan error, 1)
	go func() {
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(3*MaxPayload))
			if rng.IntN(4) == 0 {
				n = min(len(rest), 1+rng.IntN(100))
			}
			if _, err := s.Write(rest[:n]); err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		errc <- s.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, not the %d sent", len(got), len(data))
	}
}

// TestManySmallWrites: 10,000 writes of 100 bytes arrive in order, and are
// coalesced into far fewer frames.
func TestManySmallWrites(t *testing.T) {
	s, r := pipe(t, "small")
	const n, size = 10000, 100
	go func() {
		msg := make([]byte, size)
		for i := range n {
			binary.BigEndian.PutUint64(msg, uint64(i))
			if _, err := s.Write(msg); err != nil {
				t.Error(err)
				return
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	msg := make([]byte, size)
	for i := range n {
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := binary.BigEndian.Uint64(msg); got != uint64(i) {
			t.Fatalf("message %d arrived as %d", i, got)
		}
	}
	if _, err := r.Read(msg); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	s.mu.Lock()
	frames := s.fc.seq
	s.mu.Unlock()
	if frames > n/10 {
		t.Fatalf("%d writes went out as %d frames: not coalesced", n, frames)
	}
	t.Logf("%d writes of %d B in %d frames", n, size, frames)
}

// TestLive: the first bytes reach the reader while the writer is still
// producing (here: stuck until the reader has them). No Flush: the flush
// timer sends them.
func TestLive(t *testing.T) {
	s, r := pipe(t, "audio")
	release := make(chan struct{})
	go func() {
		s.Write([]byte("first packet"))
		<-release // the producer has nothing more yet
		s.Write([]byte(", second"))
		s.Close()
	}()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, len("first packet"))
		_, err := io.ReadFull(r, b)
		if err != nil {
			got <- err.Error()
		}
		got <- string(b)
	}()
	select {
	case g := <-got:
		if g != "first packet" {
			t.Fatalf("got %q", g)
		}
	case <-time.After(waitFor):
		t.Fatal("the first write did not reach the reader while the writer waited")
	}
	close(release)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != ", second" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// TestBackPressure: a reader that reads 1 MiB and stops. The writer must
// block: what it managed to write stays under what the reader took plus
// the muxer's stream window plus this package's buffers, and the heap stops
// growing while the writer is stuck. Closing the reader then fails the
// blocked Write with ErrReceiverClosed.
func TestBackPressure(t *testing.T) {
	s, r := pipe(t, "flood")
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 32<<10)
		for {
			n, err := s.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
	}()
	const consumed = 1 << 20
	if _, err := io.CopyN(io.Discard, r, consumed); err != nil {
		t.Fatal(err)
	}
	// yamux's stream window grows to at most 16 MiB (go-libp2p's setting);
	// add the receiver's read buffer and frame, and the sender's frame.
	const window = 16 << 20
	bound := int64(consumed + window + 32<<10 + 2*MaxFrame + 32<<10)
	// Wait until the writer has made no progress for ten polls in a row;
	// past the bound it never will.
	last, still := written.Load(), 0
	poll.Until(t, "the writer blocks with the reader stopped", func() bool {
		w := written.Load()
		if w > bound {
			t.Fatalf("writer wrote %d bytes with the reader stopped, bound %d", w, bound)
		}
		if w == last {
			still++
		} else {
			last, still = w, 0
		}
		return still >= 10
	})
	var m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m2)

	w := written.Load()
	t.Logf("writer blocked after %.1f MiB (bound %.1f MiB); heap %+.1f MiB while blocked",
		float64(w)/(1<<20), float64(bound)/(1<<20), (float64(m2.HeapInuse)-float64(m1.HeapInuse))/(1<<20))
	if w > bound {
		t.Fatalf("writer wrote %d bytes with the reader stopped, bound %d", w, bound)
	}
	if grow := int64(m2.HeapInuse) - int64(m1.HeapInuse); grow > 4<<20 {
		t.Fatalf("heap grew %d bytes while the writer was blocked", grow)
	}
	select {
	case err := <-werr:
		t.Fatalf("writer stopped instead of blocking: %v", err)
	default:
	}
	r.Close()
	select {
	case err := <-werr:
		if !errors.Is(err, ErrReceiverClosed) {
			t.Fatalf("blocked Write after the receiver closed: %v, want ErrReceiverClosed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Write stayed blocked after the receiver closed")
	}
}

func TestWrongKey(t *testing.T) {
	a, b := connected(t)
	l := Listen(b, fixed(a.ID(), newKey(t)))
	defer l.Close()
	_, err := Open(context.Background(), a, b.ID(), newKey(t), "x")
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if r, err := l.Accept(ctx); err == nil {
		t.Fatalf("accepted %v with a wrong key", r.ID())
	}
}

// TestStrangerRefused: Allow sees the authenticated peer and the label and
// says no; the stranger gets ErrRefused, no key is looked up, nothing is
// accepted, and the bytes it sends after its header are not read.
func TestStrangerRefused(t *testing.T) {
	a, b := connected(t)
	var asked atomic.Int32
	var keyed atomic.Bool
	l := Listen(b, Config{
		Allow: func(p peer.ID, label string) bool {
			asked.Add(1)
			if p != a.ID() || label != "hi" {
				t.Errorf("Allow(%s, %q)", p, label)
			}
			return false
		},
		Key: func(peer.ID, ID, string) ([]byte, error) { keyed.Store(true); return newKey(t), nil },
	})
	defer l.Close()
	if _, err := Open(context.Background(), a, b.ID(), newKey(t), "hi"); !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	if asked.Load() != 1 || keyed.Load() {
		t.Fatalf("Allow asked %d times, key looked up: %v", asked.Load(), keyed.Load())
	}

	// By hand: header plus a flood. The answer is a refusal and the
	// stream ends; the flood is not consumed.
	st, err := a.NewStream(context.Background(), b.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	if err := writeMsg(st, &Header{Version: version, StreamId: make([]byte, IDSize), Label: "hi", Confirm: make([]byte, ConfirmLen)}); err != nil {
		t.Fatal(err)
	}
	go st.Write(make([]byte, 1<<20)) // fails or blocks; reset at the end
	st.SetReadDeadline(time.Now().Add(waitFor))
	bs, err := readMsgBytes(st, MaxResponse)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := decodeResponse(bs)
	if err != nil || resp.Status != Status_STATUS_REFUSED {
		t.Fatalf("response %v, %v", resp, err)
	}
	if n, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the refusal: %d, %v; want EOF", n, err)
	}
}

// TestNoKeyRefused: the contact is allowed but announced no key for this
// stream.
func TestNoKeyRefused(t *testing.T) {
	a, b := connected(t)
	l := Listen(b, Config{
		Allow: func(peer.ID, string) bool { return true },
		Key:   func(peer.ID, ID, string) ([]byte, error) { return nil, errors.New("no such stream") },
	})
	defer l.Close()
	if _, err := Open(context.Background(), a, b.ID(), newKey(t), "x"); !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	if _, err := Open(context.Background(), a, b.ID(), newKey(t)[:16], "x"); !errors.Is(err, ErrKeySize) {
		t.Fatalf("short key: err = %v", err)
	}
	if _, err := Open(context.Background(), a, b.ID(), newKey(t), string(make([]byte, MaxLabel+1))); !errors.Is(err, ErrLabel) {
		t.Fatalf("long label: err = %v", err)
	}
}

// TestBacklog: past Backlog unaccepted streams, openers hear "busy"; a
// Listener's Close resets those still waiting, whose Writes then fail.
func TestBacklog(t *testing.T) {
	a, b := connected(t)
	key := newKey(t)
	cfg := fixed(a.ID(), key)
	cfg.Backlog = 1
	l := Listen(b, cfg)
	s1, err := Open(context.Background(), a, b.ID(), key, "one")
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Abort()
	if _, err := Open(context.Background(), a, b.ID(), key, "two"); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	l.Close()
	if _, err := l.Accept(context.Background()); !errors.Is(err, ErrListenerClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	writeUntil(t, s1, []byte("anyone?"), ErrReceiverClosed)
	if _, err := Open(context.Background(), a, b.ID(), key, "three"); err == nil {
		t.Fatal("opened a stream to a closed listener")
	}
}

func TestSenderAbort(t *testing.T) {
	s, r := pipe(t, "x")
	s.Write([]byte("partial"))
	s.Flush()
	s.Abort()
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("got %q, %v; want ErrAborted", got, err)
	}
	if _, err := s.Write([]byte("more")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Abort: %v", err)
	}
}

// TestCutWithoutEnd: the transport stream ends (FIN, or a bare reset as from
// a cut connection) without the end frame: truncated, not EOF.
func TestCutWithoutEnd(t *testing.T) {
	for name, cut := range map[string]func(network.Stream){
		"fin":   func(s network.Stream) { s.CloseWrite() },
		"reset": func(s network.Stream) { s.Reset() },
	} {
		t.Run(name, func(t *testing.T) {
			s, r := pipe(t, "x")
			s.Write([]byte("partial"))
			s.Flush()
			cut(s.s)
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("got %q, %v; want ErrTruncated", got, err)
			}
			// A reset may overtake data in flight; a FIN may not.
			if name == "fin" && string(got) != "partial" {
				t.Fatalf("got %q before the cut", got)
			}
		})
	}
}

// TestTamperedFrameOnWire: a frame altered between the hosts (written here
// behind the Sender's back) fails the receiver with ErrAuth, and the
// receiver's reset tells the sender ErrRejected.
func TestTamperedFrameOnWire(t *testing.T) {
	s, r := pipe(t, "x")
	s.mu.Lock()
	frame, _ := s.fc.sealFrame(s.buf, frameData, []byte("genuine"))
	frame[len(frame)-1] ^= 1
	s.s.Write(frame)
	s.mu.Unlock()
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	writeUntil(t, s, []byte("more"), ErrRejected)
}

// TestCloseFromReceiverSide: closing the receiver mid-stream ends a writer
// with ErrReceiverClosed and a reader blocked in Read with ErrClosed.
func TestCloseFromReceiverSide(t *testing.T) {
	s, r := pipe(t, "x")
	readErr := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		readErr <- err
	}()
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let Read block
	r.Close()
	if err := <-readErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Read after Close: %v, want ErrClosed", err)
	}
	writeUntil(t, s, make([]byte, 1024), ErrReceiverClosed)
	if err := s.Close(); !errors.Is(err, ErrReceiverClosed) {
		t.Fatalf("Close: %v", err)
	}
}

// TestOpenCancelled: a receiver that never answers holds Open only until
// its context ends.
func TestOpenCancelled(t *testing.T) {
	a, b := connected(t)
	b.SetStreamHandler(ProtocolID, func(s network.Stream) {
		io.Copy(io.Discard, s) // reads the header, never answers
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Open(ctx, a, b.ID(), newKey(t), "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestManyStreams: several streams at once to one listener, each whole and
// to its own key, and every goroutine gone afterwards (noLeaks).
func TestManyStreams(t *testing.T) {
	a, b := connected(t)
	keys := sync.Map{}
	l := Listen(b, Config{
		Allow: func(p peer.ID, _ string) bool { return p == a.ID() },
		Key: func(_ peer.ID, id ID, _ string) ([]byte, error) {
			k, ok := keys.Load(id)
			if !ok {
				return nil, errors.New("unknown stream")
			}
			return k.([]byte), nil
		},
	})
	defer l.Close()
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := l.Accept(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, bytes.Repeat([]byte(r.Label()), 10000)) {
				t.Errorf("stream %s: %d bytes, %v", r.Label(), len(got), err)
			}
		})
		wg.Go(func() {
			// The node would announce id and key in its E2E channel;
			// here a hook on the first Key lookup stands in for that.
			key := newKey(t)
			s, err := openAnnounced(a, b.ID(), key, string(rune('a'+i)), &keys)
			if err != nil {
				t.Error(err)
				return
			}
			s.Write(bytes.Repeat([]byte(s.Label()), 10000))
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// openAnnounced stands in for the node: it picks the id, "announces" id and
// key to the receiver, then opens.
func openAnnounced(a host.Host, to peer.ID, key []byte, label string, announced *sync.Map) (*Sender, error) {
	id := NewID()
	announced.Store(id, key)
	return OpenWithID(context.Background(), a, to, id, key, label)
}
