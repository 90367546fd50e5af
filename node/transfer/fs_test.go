package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// faultFS is OSFS with failures injected: writes fail with writeErr once
// more than writeLimit bytes were written, opens fail with openErr, writes
// through a descriptor opened for direct I/O fail with directErr.
type faultFS struct {
	OSFS
	mu           sync.Mutex
	written      int64
	writeLimit   int64
	writeErr     error
	syncErr      error
	openErr      error
	linkErr      error
	directErr    error
	directWrites int // writes that went through a direct descriptor
	log          *opLog
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if f.openErr != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: f.openErr}
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, direct: oDirect != 0 && flag&oDirect != 0}, nil
}

func (f *faultFS) Link(o, n string) error {
	if f.linkErr != nil {
		return &os.LinkError{Op: "link", Old: o, New: n, Err: f.linkErr}
	}
	return f.OSFS.Link(o, n)
}

type faultFile struct {
	File
	fs     *faultFS
	direct bool
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	if f.direct {
		if f.fs.directErr != nil {
			f.fs.mu.Unlock()
			return 0, &os.PathError{Op: "write", Path: "part", Err: f.fs.directErr}
		}
		f.fs.directWrites++
	}
	over := f.fs.writeErr != nil && f.fs.written+int64(len(b)) > f.fs.writeLimit
	if !over {
		f.fs.written += int64(len(b))
	}
	f.fs.mu.Unlock()
	if over {
		// A real ENOSPC may leave part of the write behind.
		f.File.WriteAt(b[:len(b)/2], off)
		return len(b) / 2, &os.PathError{Op: "write", Path: "part", Err: f.fs.writeErr}
	}
	n, err := f.File.WriteAt(b, off)
	f.fs.log.add(fmt.Sprintf("write %d", off))
	return n, err
}

func (f *faultFile) Sync() error {
	if f.fs.syncErr != nil {
		return &os.PathError{Op: "sync", Path: "part", Err: f.fs.syncErr}
	}
	f.fs.log.add("sync")
	return f.File.Sync()
}

// opLog records writes, syncs and marks in order.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(s string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ops = append(l.ops, s)
	l.mu.Unlock()
}

type loggingMap struct {
	MemoryChunkMap
	log *opLog
	cs  int64
}

func (m *loggingMap) MarkDone(id ID, is ...uint64) error {
	for _, i := range is {
		m.log.add(fmt.Sprintf("mark %d", int64(i)*m.cs))
	}
	return m.MemoryChunkMap.MarkDone(id, is...)
}

// TestSyncBeforeMark checks the crash-safety order: every chunk marked done
// was written, and a sync came between its write and its mark.
func TestSyncBeforeMark(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "s.bin", 4<<20, MinChunkSize)
	log := new(opLog)
	p.r.FS = &faultFS{log: log}
	p.r.Chunks = &loggingMap{log: log, cs: MinChunkSize}
	p.r.SyncBytes = 5 * MinChunkSize
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	written := map[string]int{} // write op → position
	syncs := []int{}
	marks := 0
	for k, op := range log.ops {
		switch {
		case op == "sync":
			syncs = append(syncs, k)
		case op[:5] == "write":
			written[op[6:]] = k
		default:
			marks++
			w, ok := written[op[5:]]
			if !ok {
				t.Fatalf("%s at %d before its write", op, k)
			}
			if !slices.ContainsFunc(syncs, func(s int) bool { return s > w && s < k }) {
				t.Fatalf("%s at %d with no sync after its write at %d", op, k, w)
			}
		}
	}
	if marks != int(o.Chunks()) {
		t.Fatalf("%d marks, want %d", marks, o.Chunks())
	}
}

// TestDiskFull: ENOSPC mid-way is a clear ErrDiskFull, nothing appears at
// the final name, every chunk the map records is intact on disk, and once
// there is space the same transfer resumes and completes.
func TestDiskFull(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "full.bin", 4<<20, MinChunkSize)
	ffs := &faultFS{writeLimit: 20*MinChunkSize + 100, writeErr: syscall.ENOSPC}
	p.r.FS = ffs
	p.r.SyncBytes = 3 * MinChunkSize
	_, err := p.r.Receive(context.Background(), p.req(o))
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ErrDiskFull wrapping ENOSPC", err)
	}
	t.Log(err)
	if exists(filepath.Join(p.dstDir, "full.bin")) {
		t.Fatal("final name exists after a full disk")
	}
	checkDoneIntact(t, p.r.Chunks, o, src, partName(p.dstDir, "full.bin", o.ID))

	ffs.mu.Lock()
	ffs.writeErr = nil
	ffs.mu.Unlock()
	p.servedCounts()
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	if n := len(p.servedCounts()); n >= int(o.Chunks()) {
		t.Fatalf("resume after disk full fetched all %d chunks again", n)
	}
}

// checkDoneIntact checks that each chunk the map records is on disk.
func checkDoneIntact(t *testing.T, m ChunkMap, o Offer, src, part string) {
	t.Helper()
	done, err := m.Done(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	have, _ := os.ReadFile(part)
	n := 0
	for i, d := range done {
		if !d {
			continue
		}
		n++
		a, b := int64(i)*int64(o.chunkSize()), int64(i)*int64(o.chunkSize())+int64(o.chunkLen(uint64(i)))
		if int64(len(have)) < b || string(have[a:b]) != string(want[a:b]) {
			t.Fatalf("chunk %d is marked done but not intact on disk", i)
		}
	}
	if n == 0 {
		t.Fatal("no chunk was done before the failure; the test proves less than it should")
	}
}

func TestSyncFailsDiskFull(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "q.bin", 1<<20, MinChunkSize)
	p.r.FS = &faultFS{syncErr: syscall.EDQUOT}
	_, err := p.r.Receive(context.Background(), p.req(o))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("got %v, want ErrDiskFull", err)
	}
	if d, _ := p.r.Chunks.Done(o.ID); slices.Contains(d, true) {
		t.Fatal("chunks marked done although their sync failed")
	}
	if exists(filepath.Join(p.dstDir, "q.bin")) {
		t.Fatal("final name exists")
	}
}

func TestPermissionDenied(t *testing.T) {
	p := newPair(t)
	o, _ := p.offer(t, "p.bin", 1<<20, MinChunkSize)
	p.r.FS = &faultFS{openErr: syscall.EACCES}
	_, err := p.r.Receive(context.Background(), p.req(o))
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("got %v, want ErrPermission", err)
	}
	t.Log(err)
	if names := dirNames(t, p.dstDir); len(names) != 0 {
		t.Fatalf("left behind: %q", names)
	}
	if len(p.servedCounts()) != 0 {
		t.Fatal("fetched chunks with nowhere to put them")
	}
}

// TestNoHardLinks: on a file system without hard links the file still
// lands under a free name without overwriting anything.
func TestNoHardLinks(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "n.txt", 200<<10, MinChunkSize)
	if err := os.WriteFile(filepath.Join(p.dstDir, "n.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.r.FS = &faultFS{linkErr: syscall.EPERM}
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	if got != filepath.Join(p.dstDir, "n (2).txt") {
		t.Fatalf("final path %s", got)
	}
	sameFile(t, src, got)
	if b, _ := os.ReadFile(filepath.Join(p.dstDir, "n.txt")); string(b) != "mine" {
		t.Fatal("overwrote an existing file")
	}
	if names := dirNames(t, p.dstDir); len(names) != 2 {
		t.Fatalf("directory holds %q", names)
	}
}

func TestRealPermissionDenied(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root ignores directory permissions; TestPermissionDenied covers the error path")
	}
	p := newPair(t)
	o, _ := p.offer(t, "p.bin", 1<<20, MinChunkSize)
	os.Chmod(p.dstDir, 0o500)
	defer os.Chmod(p.dstDir, 0o700)
	if _, err := p.r.Receive(context.Background(), p.req(o)); !errors.Is(err, ErrPermission) {
		t.Fatalf("got %v, want ErrPermission", err)
	}
}

// directWorks reports whether dir's file system takes an aligned direct
// write, as the receiver would make it.
func directWorks(t *testing.T, dir string) bool {
	t.Helper()
	if oDirect == 0 {
		return false
	}
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_WRONLY|os.O_CREATE|oDirect, 0o600)
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	_, err = f.WriteAt(AlignedBuf(directAlign), 0)
	return err == nil
}

// TestDirectWrites: whole chunks of an aligned chunk size go to the disk
// directly, the short last chunk and unaligned chunk sizes through the page
// cache, a file system refusing direct writes makes the receiver fall back,
// and in every case the file arrives intact.
func TestDirectWrites(t *testing.T) {
	cases := []struct {
		name      string
		chunk     int
		size      int64
		directErr error
		direct    func(o Offer) int // direct writes expected if the file system takes them
	}{
		{"aligned", MinChunkSize, 5*MinChunkSize + 100, nil, func(o Offer) int { return int(o.Chunks()) - 1 }},
		{"aligned exact", 2 * MinChunkSize, 4 * MinChunkSize, nil, func(o Offer) int { return int(o.Chunks()) }},
		{"unaligned chunk size", MinChunkSize + 512, 5 * MinChunkSize, nil, func(Offer) int { return 0 }},
		{"refused", MinChunkSize, 5 * MinChunkSize, syscall.EINVAL, func(Offer) int { return 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t)
			o, src := p.offer(t, "d.bin", c.size, c.chunk)
			ffs := &faultFS{directErr: c.directErr}
			p.r.FS = ffs
			got, err := p.r.Receive(context.Background(), p.req(o))
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, src, got)
			want := 0
			if directWorks(t, p.dstDir) {
				want = c.direct(o)
			}
			if ffs.directWrites != want {
				t.Fatalf("%d direct writes, want %d", ffs.directWrites, want)
			}
		})
	}
}

func TestAlignedBuf(t *testing.T) {
	for _, n := range []int{1, directAlign, MinChunkSize + Overhead, MaxChunkSize + Overhead} {
		b := AlignedBuf(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("AlignedBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		if whole := n / directAlign * directAlign; whole > 0 && !directOK(b[:whole], 0) {
			t.Fatalf("AlignedBuf(%d) is not aligned", n)
		}
	}
	b := AlignedBuf(2 * directAlign)
	for _, c := range []struct {
		p   []byte
		off int64
		ok  bool
	}{
		{b, 0, true},
		{b, directAlign, true},
		{b, 512, false},
		{b[:directAlign+1], 0, false},
		{b[1 : directAlign+1], 0, false},
		{b[:0], 0, false},
	} {
		if directOK(c.p, c.off) != c.ok {
			t.Errorf("directOK(len %d, off %d) = %v", len(c.p), c.off, !c.ok)
		}
	}
}
