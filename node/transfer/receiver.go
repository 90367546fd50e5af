package transfer

import (
	"bufio"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Receiver fetches offered files. Its exported fields are its configuration;
// set them before the first Receive. Close cancels every Receive and waits
// for them.
type Receiver struct {
	Host host.Host
	// Chunks records finished chunks. If nil, an in-memory map is used and
	// a Receive resumes only within this Receiver's life.
	Chunks ChunkMap
	// FS is the file system written to; nil means OSFS.
	FS FS
	// SyncBytes and SyncInterval bound the data written between fsyncs
	// (zero means DefaultSyncBytes, DefaultSyncInterval). Chunks are marked
	// done only after the fsync that covers them, so this is how much a
	// crash may make us fetch again.
	SyncBytes    int64
	SyncInterval time.Duration

	// written, a test hook, is called after a chunk was written.
	written func(id ID, i uint64)
	// now, a test hook, is the clock Progress is throttled by; nil means
	// time.Now.
	now func() time.Time

	once   sync.Once
	mu     sync.Mutex
	active map[ID]*receiving
	closed bool
}

type receiving struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Request is one Receive.
type Request struct {
	Peer  peer.ID // the sender
	Offer Offer
	Dir   string // where the file goes; it must exist
	// Progress, if set, is called at most every ProgressInterval from the
	// receiving goroutine, and once at the end; it must return quickly.
	Progress func(Progress)
}

func (r *Receiver) init() {
	r.once.Do(func() {
		if r.Chunks == nil {
			r.Chunks = new(MemoryChunkMap)
		}
		if r.FS == nil {
			r.FS = OSFS{}
		}
		if r.SyncBytes <= 0 {
			r.SyncBytes = DefaultSyncBytes
		}
		if r.SyncInterval <= 0 {
			r.SyncInterval = DefaultSyncInterval
		}
		r.active = make(map[ID]*receiving)
	})
}

// Receive fetches the chunks of req.Offer that are not done yet and, once
// all are and the file's BLAKE3 matches, moves the file to its final name
// in req.Dir: the cleaned offered name, or "name (2).ext" and so on if that
// exists. It returns the final path.
//
// Until then the data lives in a hidden part file. Cancelling ctx pauses:
// the part file and the chunk map stay, and the next Receive of the same
// offer asks only for what is missing. Discard cancels for good.
func (r *Receiver) Receive(ctx context.Context, req Request) (string, error) {
	r.init()
	o := req.Offer
	if err := o.Check(); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc := &receiving{cancel: cancel, done: make(chan struct{})}
	defer close(rc.done)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", ErrClosed
	}
	if r.active[o.ID] != nil {
		r.mu.Unlock()
		return "", fmt.Errorf("transfer %s is already being received", o.ID)
	}
	r.active[o.ID] = rc
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.active, o.ID)
		r.mu.Unlock()
	}()

	j := &job{Receiver: r, req: req, o: &o, name: CleanName(o.Name),
		attempts: make(map[uint64]int), hash: NewHash()}
	j.part = partName(req.Dir, j.name, o.ID)
	if err := j.open(); err != nil {
		return "", err
	}
	defer j.closeFiles()
	defer j.tidy()
	j.prog = newProgress(req.Progress, o.ID, j.doneBytes(), o.Size)
	if r.now != nil {
		j.prog.now = r.now
	}
	for {
		rs := missingRanges(j.done, j.n)
		if len(rs) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("receiving %s: %w", o.ID, err)
		}
		if err := j.round(ctx, rs); err != nil {
			return "", fmt.Errorf("receiving %s: %w", o.ID, err)
		}
	}
	path, err := j.finish()
	if err != nil {
		return "", fmt.Errorf("receiving %s: %w", o.ID, err)
	}
	j.finished = true
	j.prog.finish()
	return path, nil
}

// Discard cancels a transfer for good: it stops a Receive in progress and
// waits for it, then removes the part file and forgets the chunk map.
func (r *Receiver) Discard(o Offer, dir string) error {
	r.init()
	r.mu.Lock()
	rc := r.active[o.ID]
	r.mu.Unlock()
	if rc != nil {
		rc.cancel()
		<-rc.done
	}
	part := partName(dir, CleanName(o.Name), o.ID)
	if err := r.FS.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", part, classify(err))
	}
	if err := r.Chunks.Forget(o.ID); err != nil {
		return fmt.Errorf("forgetting chunks of %s: %w", o.ID, err)
	}
	return nil
}

// Close cancels every Receive in progress and waits for them to return.
func (r *Receiver) Close() error {
	r.init()
	r.mu.Lock()
	r.closed = true
	var wait []*receiving
	for _, rc := range r.active {
		rc.cancel()
		wait = append(wait, rc)
	}
	r.mu.Unlock()
	for _, rc := range wait {
		<-rc.done
	}
	return nil
}

// job is the state of one Receive.
type job struct {
	*Receiver
	req  Request
	o    *Offer
	name string
	part string
	f    File
	// direct is the part file opened for direct writes (direct.go), or nil.
	direct File
	n      uint64 // chunks
	done   []bool // chunks marked in the chunk map, len n

	// hash covers chunks [0, hashed) in order: the done prefix is read back
	// at the start, then chunks arriving in order are hashed as they are
	// written; finish reads back whatever is left.
	hash   hash.Hash
	hashed uint64

	attempts map[uint64]int // authentication failures per chunk
	created  bool           // this Receive created the part file
	finished bool

	pending      []uint64      // written, not yet fsynced and marked
	syncing      chan struct{} // closed when the background sync ends; nil if none
	syncBatch    []uint64      // the chunks it covers
	syncErr      error
	pendingBytes int64
	lastSync     time.Time
	prog         *progress
}

// open opens (or creates) the part file and loads the chunk map, hashing the
// done prefix.
func (j *job) open() error {
	j.n = j.o.Chunks()
	done, err := j.Chunks.Done(j.o.ID)
	if err != nil {
		return fmt.Errorf("loading chunk map: %w", err)
	}
	j.done = make([]bool, j.n)
	copy(j.done, done)
	f, err := j.FS.OpenFile(j.part, os.O_RDWR, 0)
	fresh := errors.Is(err, fs.ErrNotExist)
	if fresh {
		// A map without its part file (deleted by hand) describes nothing.
		if err := j.Chunks.Forget(j.o.ID); err != nil {
			return fmt.Errorf("resetting chunk map: %w", err)
		}
		clear(j.done)
		f, err = j.FS.OpenFile(j.part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", j.part, classify(err))
	}
	j.f = f
	j.created = fresh
	if oDirect != 0 && j.o.chunkSize()%directAlign == 0 {
		// Failing is no error: not every file system takes O_DIRECT, and
		// ordinary writes work everywhere.
		if d, err := j.FS.OpenFile(j.part, os.O_WRONLY|oDirect, 0); err == nil {
			j.direct = d
		}
	}
	j.lastSync = time.Now()
	for j.hashed < j.n && j.done[j.hashed] {
		if err := j.hashFromDisk(j.hashed); err != nil {
			return err
		}
	}
	return nil
}

// tidy removes a part file this Receive created if it failed before any
// chunk was done: a refused or unreachable transfer leaves nothing behind.
func (j *job) tidy() {
	if j.finished || !j.created || slices.Contains(j.done, true) || len(j.pending) > 0 || len(j.syncBatch) > 0 {
		return
	}
	j.closeFiles()
	j.FS.Remove(j.part)
}

// closeFiles closes the part file's descriptors.
func (j *job) closeFiles() {
	if j.direct != nil {
		j.direct.Close()
		j.direct = nil
	}
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// writeAt writes p at off in the part file, directly when it can.
func (j *job) writeAt(p []byte, off int64) error {
	if j.direct != nil && directOK(p, off) {
		_, err := j.direct.WriteAt(p, off)
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// The file system took O_DIRECT at open but refuses the write:
		// ordinary writes from now on.
		j.direct.Close()
		j.direct = nil
	}
	_, err := j.f.WriteAt(p, off)
	return err
}

// doneBytes is the size of the chunks already done.
func (j *job) doneBytes() int64 {
	var b int64
	for i, d := range j.done {
		if d {
			b += int64(j.o.chunkLen(uint64(i)))
		}
	}
	return b
}

// hashFromDisk reads chunk i back from the part file into the hash.
func (j *job) hashFromDisk(i uint64) error {
	buf := make([]byte, j.o.chunkLen(i))
	if _, err := j.f.ReadAt(buf, int64(i)*int64(j.o.chunkSize())); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading back chunk %d: %w", i, classify(err))
	}
	j.hash.Write(buf)
	j.hashed = i + 1
	return nil
}

// opened is a chunk the reader goroutine read and tried to open.
type opened struct {
	i     uint64
	plain []byte // nil if authentication failed
	buf   []byte
}

// round asks for rs on one stream and writes what arrives. It returns nil
// when the stream ended with every chunk delivered or the round was cut
// short by bad chunks; the caller asks again for what is still missing.
func (j *job) round(ctx context.Context, rs []chunkRange) (err error) {
	// Whatever happens, what was written is synced and marked: a pause
	// keeps every byte it got.
	defer func() {
		if ferr := j.flush(); ferr != nil && err == nil {
			err = ferr
		}
	}()
	dctx, dcancel := context.WithTimeout(ctx, DialTimeout)
	// A relayed connection (circuit v2) is a "limited" one to libp2p; it is
	// the last resort, and the relays for ticket holders are sized for
	// transfers, so it is allowed.
	st, err := j.Host.NewStream(network.WithAllowLimitedConn(dctx, "file transfer"), j.req.Peer, ProtocolID)
	dcancel()
	if err != nil {
		return fmt.Errorf("opening stream to %s: %w", j.req.Peer, err)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	ok := false
	defer func() {
		if ok {
			st.Close()
		}
	}()
	defer func() {
		if !ok {
			st.Reset()
		}
	}()
	st.SetDeadline(time.Now().Add(RequestTimeout))
	if err := writeFrame(st, encodeGet(j.o.ID, rs)); err != nil {
		return ctxErr(ctx, err)
	}
	st.CloseWrite()
	b, err := readFrame(st, MaxReplyFrame)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("reading reply: %w", err))
	}
	status, salt, err := decodeReply(b)
	if err != nil {
		return err
	}
	if err := replyErr(status); err != nil {
		return err
	}
	aead, err := streamAEAD(j.o.Key, salt, j.o.ID)
	if err != nil {
		return err
	}

	// The reader goroutine reads and opens chunks while this one writes
	// them to disk.
	const depth = 3
	free := make(chan []byte, depth)
	for range depth {
		free <- AlignedBuf(j.o.chunkSize() + Overhead)
	}
	got := make(chan opened, depth)
	rctx, rcancel := context.WithCancel(ctx)
	var rerr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		defer close(got)
		rerr = j.read(rctx, st, aead, rs, free, got)
	}()
	defer rwg.Wait()
	defer rcancel()
	defer func() {
		if !ok {
			st.Reset() // unblocks the reader if we return first
		}
	}()

	badInARow := 0
	for c := range got {
		if c.plain == nil {
			j.attempts[c.i]++
			if j.attempts[c.i] >= MaxChunkAttempts {
				return fmt.Errorf("%w: chunk %d failed authentication %d times (wrong key or a damaged sender)", ErrCorrupt, c.i, j.attempts[c.i])
			}
			if badInARow++; badInARow >= maxBadInARow {
				return nil // ask again; attempts bound how often
			}
			free <- c.buf
			continue
		}
		badInARow = 0
		if err := j.write(c.i, c.plain); err != nil {
			return err
		}
		free <- c.buf
	}
	rwg.Wait()
	if rerr != nil {
		return ctxErr(ctx, rerr)
	}
	ok = true
	return nil
}

// read is the reader goroutine: it reads the chunk frames of rs in order
// and opens each in place with the stream's cipher.
func (j *job) read(ctx context.Context, st network.Stream, aead cipher.AEAD, rs []chunkRange, free chan []byte, got chan<- opened) error {
	br := bufio.NewReaderSize(st, 64<<10)
	k, next := 0, rs[0].first
	want := func(i uint64) (int, bool) {
		if k >= len(rs) || i != next {
			return 0, false
		}
		return j.o.chunkLen(i) + Overhead, true
	}
	for k < len(rs) {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		st.SetReadDeadline(time.Now().Add(FrameTimeout))
		i, ct, err := readChunkFrame(br, buf, want)
		if err == io.EOF {
			return fmt.Errorf("%w: stream ended before chunk %d", ErrProtocol, next)
		}
		if err != nil {
			return err
		}
		if next++; next == rs[k].first+rs[k].count {
			if k++; k < len(rs) {
				next = rs[k].first
			}
		}
		nc, a := nonce(i), ad(j.o, i)
		plain, err := aead.Open(ct[:0], nc[:], ct, a[:])
		if err != nil {
			plain = nil
		}
		select {
		case got <- opened{i, plain, buf}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Nothing may follow the last chunk.
	st.SetReadDeadline(time.Now().Add(RequestTimeout))
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: data after the last chunk", ErrProtocol)
	}
	return nil
}

// write puts chunk i on disk and hashes it if it is next in order.
func (j *job) write(i uint64, plain []byte) error {
	if err := j.writeAt(plain, int64(i)*int64(j.o.chunkSize())); err != nil {
		return fmt.Errorf("writing chunk %d to %s: %w", i, j.part, classify(err))
	}
	if i == j.hashed {
		j.hash.Write(plain)
		j.hashed++
		for j.hashed < j.n && j.done[j.hashed] {
			if err := j.hashFromDisk(j.hashed); err != nil {
				return err
			}
		}
	}
	if j.written != nil {
		j.written(j.o.ID, i)
	}
	j.pending = append(j.pending, i)
	j.pendingBytes += int64(len(plain))
	j.prog.add(int64(len(plain)))
	if j.pendingBytes >= j.SyncBytes || time.Since(j.lastSync) >= j.SyncInterval {
		return j.syncInBackground()
	}
	return nil
}

// syncInBackground hands the pending chunks to a goroutine that fsyncs the
// part file and then marks them, so the disk's writeback overlaps the next
// chunks' arrival instead of stalling the stream. At most one sync is in
// flight; while it runs, new chunks keep accumulating.
func (j *job) syncInBackground() error {
	if j.syncing != nil {
		select {
		case <-j.syncing:
		default:
			return nil // still busy; these chunks go with the next one
		}
		if err := j.collect(); err != nil {
			return err
		}
	}
	batch := j.pending
	j.pending = nil
	j.pendingBytes = 0
	j.lastSync = time.Now()
	j.syncBatch = batch
	done := make(chan struct{})
	j.syncing = done
	go func() {
		defer close(done)
		j.syncErr = j.syncAndMark(batch)
	}()
	return nil
}

// collect waits for the sync in flight, if any, and records its chunks.
func (j *job) collect() error {
	if j.syncing == nil {
		return nil
	}
	<-j.syncing
	j.syncing = nil
	if j.syncErr != nil {
		return j.syncErr
	}
	for _, i := range j.syncBatch {
		j.done[i] = true
	}
	j.syncBatch = nil
	return nil
}

// syncAndMark fsyncs the part file, then marks the chunks: every one of
// them was written before the fsync began, so it covers them.
func (j *job) syncAndMark(batch []uint64) error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", j.part, classify(err))
	}
	if err := j.Chunks.MarkDone(j.o.ID, batch...); err != nil {
		return fmt.Errorf("marking chunks done: %w", err)
	}
	return nil
}

// flush waits for a background sync, then syncs and marks what is left.
func (j *job) flush() error {
	if err := j.collect(); err != nil {
		return err
	}
	if len(j.pending) == 0 {
		return nil
	}
	if err := j.syncAndMark(j.pending); err != nil {
		return err
	}
	for _, i := range j.pending {
		j.done[i] = true
	}
	j.pending = j.pending[:0]
	j.pendingBytes = 0
	j.lastSync = time.Now()
	return nil
}

// finish checks the whole file's hash and moves it to its final name.
func (j *job) finish() (string, error) {
	for j.hashed < j.n {
		if err := j.hashFromDisk(j.hashed); err != nil {
			return "", err
		}
	}
	if sum := j.hash.Sum(nil); string(sum) != string(j.o.Hash[:]) {
		// Every chunk authenticated, so the sender sealed other bytes than
		// it hashed, or our disk changed them: start over next time.
		j.closeFiles()
		j.FS.Remove(j.part)
		j.Chunks.Forget(j.o.ID)
		return "", fmt.Errorf("%w: BLAKE3 of the received file does not match the offer", ErrCorrupt)
	}
	if err := j.f.Sync(); err != nil {
		return "", fmt.Errorf("syncing %s: %w", j.part, classify(err))
	}
	if j.direct != nil {
		j.direct.Close() // nothing buffered: its writes are in the file
		j.direct = nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return "", fmt.Errorf("closing %s: %w", j.part, classify(err))
	}
	final, err := j.place()
	if err != nil {
		return "", err
	}
	if err := j.FS.SyncDir(j.req.Dir); err != nil {
		return "", fmt.Errorf("syncing %s: %w", j.req.Dir, classify(err))
	}
	if err := j.Chunks.Forget(j.o.ID); err != nil {
		return "", fmt.Errorf("forgetting chunk map: %w", err)
	}
	return final, nil
}

// maxNameTries bounds the "name (n).ext" search.
const maxNameTries = 1000

// place gives the part file its final name without overwriting anything:
// a hard link fails if the name exists, so there is no check-then-rename
// race. Where hard links are unsupported, an exclusive create reserves the
// name and the rename replaces only our own empty placeholder.
func (j *job) place() (string, error) {
	for k := 1; k <= maxNameTries; k++ {
		final := filepath.Join(j.req.Dir, candidate(j.name, k))
		err := j.FS.Link(j.part, final)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			if err := j.FS.Remove(j.part); err != nil {
				return "", fmt.Errorf("removing %s: %w", j.part, classify(err))
			}
			return final, nil
		}
		if !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, os.ErrPermission) && !isNotSupported(err) {
			return "", fmt.Errorf("linking %s: %w", final, classify(err))
		}
		// No hard links here.
		ph, err := j.FS.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("creating %s: %w", final, classify(err))
		}
		ph.Close()
		if err := j.FS.Rename(j.part, final); err != nil {
			j.FS.Remove(final)
			return "", fmt.Errorf("renaming to %s: %w", final, classify(err))
		}
		return final, nil
	}
	return "", fmt.Errorf("no free name for %s in %s after %d tries", j.name, j.req.Dir, maxNameTries)
}

func isNotSupported(err error) bool {
	return errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}

// ctxErr prefers the context's error: a stream reset by our own pause is a
// pause, not a network failure.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
