package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestSenderFileChanges: a file that changes after it was offered is never
// served as if it were the offered one, whether the sender reads it through
// a mapping or with pread — and a file shrinking under the mapping while it
// is read is an error of that transfer, not a crash of the program.
func TestSenderFileChanges(t *testing.T) {
	for _, noMap := range []bool{false, true} {
		for _, c := range []struct {
			name   string
			change func(t *testing.T, path string, o Offer)
			during bool // change while chunks are being served
		}{
			{"shrunk before", shrink, false},
			{"touched before", touch, false},
			{"shrunk while served", shrink, true},
		} {
			name := c.name
			if noMap {
				name += ", pread"
			}
			t.Run(name, func(t *testing.T) {
				p := newPair(t)
				p.s.noMap = noMap
				o, src := p.offer(t, "c.bin", 64*MinChunkSize, MinChunkSize)
				if c.during {
					var served atomic.Int32
					p.s.served = func(ID, uint64) {
						if served.Add(1) == 4 {
							c.change(t, src, o)
						}
					}
				} else {
					c.change(t, src, o)
				}
				_, err := p.r.Receive(context.Background(), p.req(o))
				if err == nil {
					t.Fatal("a changed file was received")
				}
				if !c.during && !errors.Is(err, ErrChanged) {
					t.Fatalf("got %v, want ErrChanged", err)
				}
				if c.during {
					// The stream broke mid-way; asking again is refused.
					if _, err := p.r.Receive(context.Background(), p.req(o)); !errors.Is(err, ErrChanged) {
						t.Fatalf("asking again: %v, want ErrChanged", err)
					}
				}
				if exists(filepath.Join(p.dstDir, "c.bin")) {
					t.Fatal("the final name exists")
				}
				// The sender still serves other files.
				o2, src2 := p.offer(t, "other.bin", 5*MinChunkSize, MinChunkSize)
				p.s.served = nil
				got, err := p.r.Receive(context.Background(), p.req(o2))
				if err != nil {
					t.Fatal(err)
				}
				sameFile(t, src2, got)
			})
		}
	}
}

func shrink(t *testing.T, path string, o Offer) {
	if err := os.Truncate(path, o.Size/4); err != nil {
		t.Error(err)
	}
}

func touch(t *testing.T, path string, _ Offer) {
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Error(err)
	}
}

// TestSealMappedFault: touching a mapped page past a shrunk file's end is
// ErrChanged, and the program goes on.
func TestSealMappedFault(t *testing.T) {
	path := writeFile(t, t.TempDir(), "m.bin", 4*MinChunkSize, 1)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := mapFile(f, 0, 4*MinChunkSize)
	if data == nil {
		t.Skip("no file mapping on this platform")
	}
	defer unmapFile(data)
	aead, err := newAEAD(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	nc := nonce(0)
	dst := make([]byte, 0, MinChunkSize+Overhead)
	if _, err := sealMapped(aead, dst, nc[:], data[:MinChunkSize], nil); err != nil {
		t.Fatalf("sealing a mapped chunk: %v", err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err = sealMapped(aead, dst, nc[:], data[2*MinChunkSize:3*MinChunkSize], nil)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("sealing past the end of a shrunk file: %v, want ErrChanged", err)
	}
}

// TestSourceWindows: chunks read through the moving window are the file's
// bytes wherever they fall — across window edges, backwards, at the end —
// and the mapping never holds more than a window and a chunk.
func TestSourceWindows(t *testing.T) {
	size := int64(2*mapWindow + 3*MaxChunkSize + 12345)
	path := writeFile(t, t.TempDir(), "w.bin", size, 7)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &source{f: f, size: size}
	defer src.close()
	reads := []struct {
		off int64
		n   int
	}{
		{0, MinChunkSize},
		{mapWindow - 100, MaxChunkSize}, // across the first window's end
		{mapWindow + MaxChunkSize, MinChunkSize + 1000},
		{12345, MaxChunkSize}, // backwards
		{size - 17, 17},       // the short tail
		{size - MaxChunkSize, MaxChunkSize},
		{3 * MinChunkSize, MinChunkSize},
	}
	for _, r := range reads {
		got := src.mapped(r.off, r.n)
		if got == nil {
			t.Skip("no file mapping on this platform")
		}
		if string(got) != string(want[r.off:r.off+int64(r.n)]) {
			t.Fatalf("bytes [%d,+%d) differ from the file's", r.off, r.n)
		}
		if len(src.win) > mapWindow+MaxChunkSize {
			t.Fatalf("window of %d bytes", len(src.win))
		}
	}
}
