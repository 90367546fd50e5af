package transfer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
)

// bigSize is the size of the end-to-end transfer: 64 MiB, less under the
// race detector or -short.
func bigSize() int64 {
	if raceEnabled || testing.Short() {
		return 16 << 20
	}
	return 64 << 20
}

func TestTransferLarge(t *testing.T) {
	p := newPair(t)
	size := bigSize()
	o, src := p.offer(t, "movie.mkv", size, 0)
	final := filepath.Join(p.dstDir, "movie.mkv")

	var updates []Progress
	var seen []bool // whether the final name existed at each update
	req := p.req(o)
	req.Progress = func(u Progress) {
		updates = append(updates, u)
		seen = append(seen, exists(final))
	}
	// The throttle's clock moves a quarter interval at every look, so at
	// most one look in four may bring an update: no wall clock involved.
	var looks atomic.Int64
	p.r.now = func() time.Time { return time.Unix(0, 0).Add(time.Duration(looks.Add(1)) * ProgressInterval / 4) }
	got, err := p.r.Receive(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got != final {
		t.Fatalf("final path %s, want %s", got, final)
	}
	// The last update comes after the rename; before it, no final name.
	if len(seen) < 2 || slices.Contains(seen[:len(seen)-1], true) {
		t.Fatalf("the final name appeared before the transfer finished (%v)", seen)
	}
	sameFile(t, src, final)
	if names := dirNames(t, p.dstDir); !slices.Equal(names, []string{"movie.mkv"}) {
		t.Fatalf("destination holds %q, want only the file", names)
	}
	if d, _ := p.r.Chunks.Done(o.ID); len(d) != 0 {
		t.Fatal("chunk map not forgotten after completion")
	}
	// Every chunk served exactly once.
	served := p.servedCounts()
	if uint64(len(served)) != o.Chunks() {
		t.Fatalf("%d chunks served, want %d", len(served), o.Chunks())
	}
	for i, n := range served {
		if n != 1 {
			t.Fatalf("chunk %d served %d times", i, n)
		}
	}
	// Progress: throttled, ends complete, counts up.
	if len(updates) == 0 || updates[len(updates)-1].Done != size || updates[len(updates)-1].Total != size {
		t.Fatalf("last progress %+v, want %d of %d", updates[len(updates)-1], size, size)
	}
	if n, max := looks.Load(), int(looks.Load()/4)+2; len(updates) > max || n < 8 {
		t.Fatalf("%d progress updates in %d looks at a clock a quarter interval apart, want at most %d (and 8 looks or more)", len(updates), n, max)
	}
	for k := 1; k < len(updates); k++ {
		if updates[k].Done < updates[k-1].Done {
			t.Fatal("progress went backwards")
		}
	}
	p.r.Close()
	p.s.Close()
	checkNoLeaks(t)
}

func TestEmptyFile(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "empty", 0, 0)
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
}

func TestNameCollision(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "a.bin", 300<<10, MinChunkSize)
	for _, n := range []string{"a.bin", "a (2).bin"} {
		if err := os.WriteFile(filepath.Join(p.dstDir, n), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(p.dstDir, "a (3).bin"); got != want {
		t.Fatalf("final path %s, want %s", got, want)
	}
	sameFile(t, src, got)
	if b, _ := os.ReadFile(filepath.Join(p.dstDir, "a.bin")); string(b) != "mine" {
		t.Fatal("an existing file was overwritten")
	}
}

// TestResumeAfterPause stops the receiver after some chunks (its context
// cancelled, standing in for a kill) and checks that the second run
// fetches exactly the chunks the map did not record.
func TestResumeAfterPause(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "resume.bin", 8<<20, MinChunkSize) // 128 chunks
	p.r.SyncBytes = 4 * MinChunkSize

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.r.written = cancelAfter(40, cancel)
	if _, err := p.r.Receive(ctx, p.req(o)); !errors.Is(err, context.Canceled) {
		t.Fatalf("paused receive: %v, want context.Canceled", err)
	}
	done, _ := p.r.Chunks.Done(o.ID)
	var had []uint64
	for i, d := range done {
		if d {
			had = append(had, uint64(i))
		}
	}
	if len(had) < 40 || uint64(len(had)) >= o.Chunks() {
		t.Fatalf("%d chunks done after the pause, want 40 to %d", len(had), o.Chunks()-1)
	}
	if exists(filepath.Join(p.dstDir, "resume.bin")) {
		t.Fatal("final name exists after a pause")
	}
	p.servedCounts()

	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	served := p.servedCounts()
	for _, i := range had {
		if served[i] != 0 {
			t.Fatalf("chunk %d was done before the pause but served again", i)
		}
	}
	if want := int(o.Chunks()) - len(had); len(served) != want {
		t.Fatalf("resume served %d chunks, want %d", len(served), want)
	}
}

// TestResumeAfterRestart rebuilds both sides from scratch — new hosts with
// the same identities, a new Sender, a new Receiver whose only memory is the
// file-backed chunk map — and checks nothing complete is sent again.
func TestResumeAfterRestart(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "restart.bin", 8<<20, MinChunkSize)
	mapDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1 := &Receiver{Host: p.rh, SyncBytes: 4 * MinChunkSize, Chunks: &FileChunkMap{Dir: mapDir},
		written: cancelAfter(60, cancel)}
	if _, err := r1.Receive(ctx, p.req(o)); !errors.Is(err, context.Canceled) {
		t.Fatalf("paused receive: %v", err)
	}
	r1.Close()
	p.s.Close()
	p.sh.Close()
	p.rh.Close()

	sh := newHost(t, p.sid)
	rh := newHost(t, p.rid)
	connect(t, rh, sh)
	p.sh, p.rh = sh, rh
	p.startSender(t)
	if err := p.s.Add(Share{Offer: o, Path: src, Peer: rh.ID()}); err != nil {
		t.Fatal(err)
	}
	p.servedCounts()

	chunks := &FileChunkMap{Dir: mapDir}
	done, err := chunks.Done(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	r2 := &Receiver{Host: rh, Chunks: chunks}
	defer r2.Close()
	got, err := r2.Receive(context.Background(), Request{Peer: sh.ID(), Offer: o, Dir: p.dstDir})
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	served := p.servedCounts()
	n := 0
	for i, d := range done {
		if d {
			n++
			if served[uint64(i)] != 0 {
				t.Fatalf("chunk %d was recorded done but served again", i)
			}
		}
	}
	if n < 60 || len(served) != int(o.Chunks())-n {
		t.Fatalf("%d chunks recorded, %d served after the restart, want %d", n, len(served), int(o.Chunks())-n)
	}
	if names := dirNames(t, mapDir); len(names) != 0 {
		t.Fatalf("chunk map left behind: %q", names)
	}
}

func TestCorruptChunkRefetched(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "c.bin", 2<<20, MinChunkSize)
	var once sync.Once
	p.s.tamper = func(_ ID, i uint64, ct []byte) {
		if i == 5 {
			once.Do(func() { ct[100] ^= 1 })
		}
	}
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	if n := p.servedCounts()[5]; n != 2 {
		t.Fatalf("corrupted chunk served %d times, want 2", n)
	}
}

func TestPersistentCorruption(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "c.bin", 2<<20, MinChunkSize)
	p.s.tamper = func(_ ID, i uint64, ct []byte) {
		if i == 5 {
			ct[0] ^= 0x80
		}
	}
	_, err := p.r.Receive(context.Background(), p.req(o))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if n := p.servedCounts()[5]; n != MaxChunkAttempts {
		t.Fatalf("chunk served %d times, want %d", n, MaxChunkAttempts)
	}
	if exists(filepath.Join(p.dstDir, "c.bin")) {
		t.Fatal("final file exists after corruption")
	}
}

func TestWrongKey(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "k.bin", 2<<20, MinChunkSize)
	bad := o
	bad.Key[0] ^= 1
	_, err := p.r.Receive(context.Background(), p.req(bad))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	total := 0
	for _, n := range p.servedCounts() {
		total += n
	}
	// Rounds end after maxBadInARow failures, so a wrong key costs a few
	// chunks, not the file several times over. Frames already in flight
	// when a round is cut count too.
	if total > 3*MaxChunkAttempts*maxBadInARow+64 {
		t.Fatalf("%d chunks served for a wrong key", total)
	}
	if exists(filepath.Join(p.dstDir, "k.bin")) {
		t.Fatal("final file exists after a wrong key")
	}
}

// TestWrongHash: every chunk authenticates but the whole file is not what
// the offer's Hash names — one flipped bit, or the file's SHA-256 as a
// version 1 offer carried it — so Receive fails with ErrCorrupt and leaves
// neither a file nor a chunk map behind.
func TestWrongHash(t *testing.T) {
	for _, c := range []struct {
		name string
		bad  func(o *Offer, src string)
	}{
		{"flipped bit", func(o *Offer, _ string) { o.Hash[0] ^= 1 }},
		{"SHA-256", func(o *Offer, src string) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			o.Hash = sha256.Sum256(data)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t)
			o, src := p.offer(t, "h.bin", 1<<20, MinChunkSize)
			bad := o
			c.bad(&bad, src)
			_, err := p.r.Receive(context.Background(), p.req(bad))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "BLAKE3") {
				t.Fatalf("got %v, want ErrCorrupt from the whole-file check", err)
			}
			if names := dirNames(t, p.dstDir); len(names) != 0 {
				t.Fatalf("left behind: %q", names)
			}
			if d, _ := p.r.Chunks.Done(o.ID); len(d) != 0 {
				t.Fatal("chunk map kept after a whole-file mismatch")
			}
			// The true hash then fetches the file afresh.
			got, err := p.r.Receive(context.Background(), p.req(o))
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, src, got)
		})
	}
}

// TestNewOfferHash: an offer's Hash is BLAKE3-256 of the file's bytes,
// whatever their length relative to BLAKE3's 1 KiB chunks and the
// transfer's chunks, and NewHash computes the same.
func TestNewOfferHash(t *testing.T) {
	if h := NewHash(); h.Size() != HashSize {
		t.Fatalf("NewHash().Size() = %d, want %d", h.Size(), HashSize)
	}
	dir := t.TempDir()
	for _, size := range []int64{0, 1, 1023, 1024, 1025, 64 << 10, MinChunkSize + 1, 1<<20 + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := writeFile(t, dir, fmt.Sprintf("f%d.bin", size), size, uint64(size)+7)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			o, err := NewOffer(path, MinChunkSize)
			if err != nil {
				t.Fatal(err)
			}
			if want := blake3.Sum256(data); o.Hash != want {
				t.Fatalf("offer hash %x, want BLAKE3 %x", o.Hash, want)
			}
			h := NewHash()
			h.Write(data)
			if got := h.Sum(nil); string(got) != string(o.Hash[:]) {
				t.Fatalf("NewHash gives %x, the offer %x", got, o.Hash)
			}
			if sha := sha256.Sum256(data); o.Hash == sha {
				t.Fatal("the offer carries SHA-256")
			}
		})
	}
}

// TestStrangerRefused: a stranger (and another contact) asking for a
// transfer offered to someone else gets a refusal frame and nothing else.
func TestStrangerRefused(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "secret.bin", 1<<20, MinChunkSize)
	stranger := newHost(t, nil)
	connect(t, stranger, p.sh)

	st, err := stranger.NewStream(context.Background(), p.sh.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(st, encodeGet(o.ID, []chunkRange{{0, o.Chunks()}})); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := readAll(st)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{2, 0x08, byte(Status_STATUS_REFUSED)}
	if string(b) != string(want) {
		t.Fatalf("stranger got %x, want only the refusal %x", b, want)
	}

	r := &Receiver{Host: stranger}
	defer r.Close()
	dir := t.TempDir()
	if _, err := r.Receive(context.Background(), Request{Peer: p.sh.ID(), Offer: o, Dir: dir}); !errors.Is(err, ErrRefused) {
		t.Fatalf("stranger's receive: %v, want ErrRefused", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("stranger's receive left %q", names)
	}
	if len(p.servedCounts()) != 0 {
		t.Fatal("chunks served to a stranger")
	}
}

func readAll(st interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := st.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
	}
}

// TestSenderCancel: cancelling on the sender side resets the transfer in
// flight and refuses the next Get.
func TestSenderCancel(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "x.bin", 8<<20, MinChunkSize)
	p.r.SyncBytes = MinChunkSize
	var served atomic.Int32
	p.s.served = func(ID, uint64) {
		if served.Add(1) == 10 {
			go p.s.Cancel(o.ID)
		}
	}
	_, err := p.r.Receive(context.Background(), p.req(o))
	if err == nil {
		t.Fatal("receive succeeded after the sender cancelled")
	}
	if _, err := p.r.Receive(context.Background(), p.req(o)); !errors.Is(err, ErrRefused) {
		t.Fatalf("after cancel: %v, want ErrRefused", err)
	}
	if err := p.r.Discard(o, p.dstDir); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, p.dstDir); len(names) != 0 {
		t.Fatalf("left behind: %q", names)
	}
}

// TestDiscard cancels a receive in progress for good: no stray files and
// no chunk map remain.
func TestDiscard(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "d.bin", 8<<20, MinChunkSize)
	p.r.SyncBytes = MinChunkSize
	mapDir := t.TempDir()
	p.r.Chunks = &FileChunkMap{Dir: mapDir}
	errc := make(chan error, 1)
	req := p.req(o)
	started := make(chan struct{})
	var once sync.Once
	req.Progress = func(Progress) { once.Do(func() { close(started) }) }
	go func() {
		_, err := p.r.Receive(context.Background(), req)
		errc <- err
	}()
	<-started
	if err := p.r.Discard(o, p.dstDir); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("discarded receive returned %v", err)
	}
	if names := dirNames(t, p.dstDir); len(names) != 0 {
		t.Fatalf("left behind: %q", names)
	}
	if names := dirNames(t, mapDir); len(names) != 0 {
		t.Fatalf("chunk map left behind: %q", names)
	}
}

// TestConcurrentTransfers runs two transfers over one connection at once,
// each on its own stream, and checks that both make progress together
// rather than one after the other.
func TestConcurrentTransfers(t *testing.T) {
	p := newPair(t)
	size := bigSize() / 2
	oa, srcA := p.offer(t, "a.bin", size, 0)
	ob, srcB := p.offer(t, "b.bin", size, 0)
	// Chunks written to disk per transfer, counted at the receiver:
	// progress callbacks are throttled, so they would understate a short
	// transfer, and the sender's count runs ahead by the muxer's window.
	// The first chunk of each waits until both transfers have one: what is
	// measured is how the muxer shares the connection once both run, not
	// how soon the scheduler started the second (under -race on a loaded
	// machine it once started after the first had all its 8 chunks).
	var mu sync.Mutex
	sent := map[ID]int64{}
	both := make(chan struct{})
	var bothOnce sync.Once
	p.r.written = func(id ID, i uint64) {
		mu.Lock()
		sent[id]++
		started := len(sent) == 2
		mu.Unlock()
		if started {
			bothOnce.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second): // the other never started: the check below says so
		}
	}
	var atFinish [2]int64 // chunks of the other transfer written when one finished
	var wg sync.WaitGroup
	run := func(o, other Offer, slot int, src string) {
		defer wg.Done()
		got, err := p.r.Receive(context.Background(), p.req(o))
		mu.Lock()
		atFinish[slot] = sent[other.ID]
		mu.Unlock()
		if err != nil {
			t.Error(err)
			return
		}
		sameFile(t, src, got)
	}
	wg.Add(2)
	go run(oa, ob, 0, srcA)
	go run(ob, oa, 1, srcB)
	wg.Wait()
	if n := len(p.rh.Network().ConnsToPeer(p.sh.ID())); n != 1 {
		t.Fatalf("%d connections, want the transfers to share one", n)
	}
	// Whichever finished first, the other had come a good way: the muxer
	// interleaves the streams rather than running them one after another.
	n := int64(oa.Chunks())
	if first := min(atFinish[0], atFinish[1]); first < n/4 {
		t.Fatalf("when one transfer finished the other had %d of %d chunks", first, n)
	}
	t.Logf("other transfer's chunks written when each finished: %d, %d of %d", atFinish[0], atFinish[1], n)
}

// TestCloseStopsEverything closes both sides in the middle of a transfer
// and checks no goroutine of the package is left.
func TestCloseStopsEverything(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "c.bin", 16<<20, MinChunkSize)
	errc := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	req := p.req(o)
	req.Progress = func(Progress) { once.Do(func() { close(started) }) }
	go func() {
		_, err := p.r.Receive(context.Background(), req)
		errc <- err
	}()
	<-started
	p.s.Close()
	p.r.Close()
	if err := <-errc; err == nil {
		t.Fatal("receive finished despite Close")
	}
	if _, err := p.r.Receive(context.Background(), req); !errors.Is(err, ErrClosed) {
		t.Fatalf("receive after Close: %v", err)
	}
	checkNoLeaks(t)
}

func TestUnknownPeerDialFails(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "u.bin", 1<<20, MinChunkSize)
	req := p.req(o)
	req.Peer = peer.ID("nobody")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.r.Receive(ctx, req); err == nil {
		t.Fatal("receive from an unknown peer succeeded")
	}
}

// TestSenderReportsSent: a sender told of the bytes it wrote reaches the
// whole file's size by the end.
func TestSenderReportsSent(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "sent.bin", 4<<20, MinChunkSize)
	var mu sync.Mutex
	var last int64
	p.s.Cancel(o.ID)
	if err := p.s.Add(Share{Offer: o, Path: src, Peer: p.rh.ID(), Sent: func(n int64) {
		mu.Lock()
		last = n
		mu.Unlock()
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.r.Receive(context.Background(), p.req(o)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last != o.Size {
		t.Fatalf("the sender reported %d bytes sent, want %d", last, o.Size)
	}
}
