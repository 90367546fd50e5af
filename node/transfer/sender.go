package transfer

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Share is a file offered to one peer.
type Share struct {
	Offer Offer
	Path  string
	// Peer is the only peer served. The identity is the authenticated
	// remote peer of the stream, never anything in the request.
	Peer peer.ID
	// Sent, if set, is told how many bytes of the file have been written
	// to the receiver so far (chunks re-sent count again), at most every
	// ProgressInterval and once more after the last chunk of a request.
	Sent func(bytes int64)
}

// Sender serves offered files on ProtocolID. Start it once; Close stops it,
// resets every stream in flight and waits for their goroutines.
type Sender struct {
	host host.Host

	// depth is how many sealed chunks may wait for the writer: one
	// goroutine reads and seals while the stream handler writes. Zero
	// makes each stream read, seal and write in turn (for the benchmark
	// that shows what the pipeline buys).
	depth int
	// Test hooks: served is called after a chunk frame was written, tamper
	// may change a sealed chunk before it is, noMap makes streams read
	// with pread instead of a mapping.
	served func(id ID, i uint64)
	noMap  bool
	tamper func(id ID, i uint64, ct []byte)

	mu      sync.Mutex
	shares  map[ID]*share
	started bool
	closed  bool
	wg      sync.WaitGroup
}

type share struct {
	Share
	size    int64
	modTime time.Time
	streams map[network.Stream]struct{}

	sentMu   sync.Mutex
	sent     int64
	reported time.Time
}

// wrote counts n more bytes of the file written, and reports them when due
// (or when last is set: the end of a request).
func (sh *share) wrote(n int64, last bool) {
	if sh.Sent == nil {
		return
	}
	sh.sentMu.Lock()
	sh.sent += n
	total, due := sh.sent, last || time.Since(sh.reported) >= ProgressInterval
	if due {
		sh.reported = time.Now()
	}
	sh.sentMu.Unlock()
	if due {
		sh.Sent(total)
	}
}

// NewSender returns a Sender on h; call Start to serve.
func NewSender(h host.Host) *Sender {
	return &Sender{host: h, depth: 3, shares: make(map[ID]*share)}
}

// Start registers the stream handler.
func (s *Sender) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.started {
		s.started = true
		s.host.SetStreamHandler(ProtocolID, s.handle)
	}
	return nil
}

// Close removes the stream handler, resets every stream in flight and waits
// until no goroutine of the Sender is left.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.started {
		s.host.RemoveStreamHandler(ProtocolID)
	}
	for _, sh := range s.shares {
		for st := range sh.streams {
			st.Reset()
		}
	}
	s.shares = nil
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Add offers a file. It records the file's size and modification time now
// and refuses to serve it once either changes: a changed file is not the one
// whose hash the offer carries. A change it cannot see (a file rewritten at
// the same size before this Add) costs no secrecy — every stream seals
// under its own derived key (chunkKey) — and the receiver's whole-file
// hash refuses the bytes.
func (s *Sender) Add(sh Share) error {
	if err := sh.Offer.Check(); err != nil {
		return err
	}
	fi, err := os.Stat(sh.Path)
	if err != nil {
		return fmt.Errorf("offering %s: %w", sh.Path, classify(err))
	}
	if fi.Size() != sh.Offer.Size {
		return fmt.Errorf("%w: %s is %d bytes, offer says %d", ErrChanged, sh.Path, fi.Size(), sh.Offer.Size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.shares[sh.Offer.ID]; ok {
		return fmt.Errorf("transfer %s already offered", sh.Offer.ID)
	}
	s.shares[sh.Offer.ID] = &share{Share: sh, size: fi.Size(), modTime: fi.ModTime(),
		streams: make(map[network.Stream]struct{})}
	return nil
}

// Cancel withdraws an offer and resets its streams in flight. Later Gets
// for it are refused.
func (s *Sender) Cancel(id ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shares[id]
	if sh == nil {
		return
	}
	delete(s.shares, id)
	for st := range sh.streams {
		st.Reset()
	}
}

func (s *Sender) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if err := s.serve(st); err != nil {
		st.Reset()
		return
	}
	st.Close()
}

// serve answers one Get: the stages are read request → check peer → check
// file → send chunks.
func (s *Sender) serve(st network.Stream) error {
	st.SetDeadline(time.Now().Add(RequestTimeout))
	b, err := readFrame(st, MaxGetFrame)
	if err != nil {
		return err
	}
	id, rs, err := decodeGet(b)
	if err != nil {
		return err
	}
	remote := st.Conn().RemotePeer()

	s.mu.Lock()
	sh := s.shares[id]
	if sh == nil || sh.Peer != remote {
		// The same answer for unknown, cancelled and someone else's, so a
		// stranger learns nothing about what we offer.
		s.mu.Unlock()
		return writeFrame(st, &Reply{Status: Status_STATUS_REFUSED})
	}
	sh.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(sh.streams, st)
		s.mu.Unlock()
	}()

	last := rs[len(rs)-1]
	if last.first+last.count > sh.Offer.Chunks() {
		return writeFrame(st, &Reply{Status: Status_STATUS_BAD_REQUEST})
	}
	f, err := os.Open(sh.Path)
	if err != nil {
		return writeFrame(st, &Reply{Status: Status_STATUS_CHANGED})
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != sh.size || !fi.ModTime().Equal(sh.modTime) {
		return writeFrame(st, &Reply{Status: Status_STATUS_CHANGED})
	}
	// A fresh salt, so a fresh chunk key, for every stream: whatever the
	// file holds now, no chunk nonce is used twice under one key.
	salt := newSalt()
	aead, err := streamAEAD(sh.Offer.Key, salt, sh.Offer.ID)
	if err != nil {
		return err
	}
	if err := writeFrame(st, &Reply{Status: Status_STATUS_OK, Salt: salt}); err != nil {
		return err
	}
	src := &source{f: f, size: sh.size, noMap: s.noMap}
	defer src.close() // after the pipeline's goroutine is gone
	if s.depth == 0 {
		return s.sendInTurn(st, src, sh, aead, rs)
	}
	return s.sendPipelined(st, src, sh, aead, rs)
}

// sealed is one chunk frame ready to write.
type sealed struct {
	i     uint64
	frame []byte
	buf   []byte
	err   error
}

// sendPipelined reads and seals in one goroutine while this one writes, so
// on two cores the seal of chunk i+1 overlaps the copy of chunk i through
// TLS and yamux.
func (s *Sender) sendPipelined(st network.Stream, src *source, sh *share, aead cipher.AEAD, rs []chunkRange) error {
	ctx, cancel := context.WithCancel(context.Background())
	var pwg sync.WaitGroup
	defer pwg.Wait() // runs after cancel
	defer cancel()

	bufSize := frameHeadroom + sh.Offer.chunkSize() + Overhead
	free := make(chan []byte, s.depth)
	for range s.depth {
		free <- make([]byte, bufSize)
	}
	full := make(chan sealed, s.depth)
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		defer close(full)
		for _, r := range rs {
			for i := r.first; i < r.first+r.count; i++ {
				var buf []byte
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				frame, err := s.seal(src, sh, aead, i, buf)
				select {
				case full <- sealed{i, frame, buf, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}
	}()
	for c := range full {
		if c.err != nil {
			return c.err
		}
		if err := s.write(st, sh, c.i, c.frame); err != nil {
			return err
		}
		free <- c.buf
	}
	return nil
}

// sendInTurn reads, seals and writes each chunk in turn.
func (s *Sender) sendInTurn(st network.Stream, src *source, sh *share, aead cipher.AEAD, rs []chunkRange) error {
	buf := make([]byte, frameHeadroom+sh.Offer.chunkSize()+Overhead)
	for _, r := range rs {
		for i := r.first; i < r.first+r.count; i++ {
			frame, err := s.seal(src, sh, aead, i, buf)
			if err != nil {
				return err
			}
			if err := s.write(st, sh, i, frame); err != nil {
				return err
			}
		}
	}
	return nil
}

// seal seals chunk i with the stream's cipher into buf behind the frame
// headroom — from the file's mapping, or read into buf and sealed in
// place — and returns the whole frame.
func (s *Sender) seal(src *source, sh *share, aead cipher.AEAD, i uint64, buf []byte) ([]byte, error) {
	n := sh.Offer.chunkLen(i)
	off := int64(i) * int64(sh.Offer.chunkSize())
	nc, a := nonce(i), ad(&sh.Offer, i)
	var ct []byte
	if plain := src.mapped(off, n); plain != nil {
		var err error
		ct, err = sealMapped(aead, buf[frameHeadroom:frameHeadroom], nc[:], plain, a[:])
		if err != nil {
			return nil, fmt.Errorf("reading chunk %d of %s: %w", i, sh.Path, err)
		}
	} else {
		plain := buf[frameHeadroom : frameHeadroom+n]
		if m, err := src.f.ReadAt(plain, off); m != n {
			if err == nil || errors.Is(err, io.EOF) {
				err = ErrChanged // the file shrank under us
			}
			return nil, fmt.Errorf("reading chunk %d of %s: %w", i, sh.Path, err)
		}
		ct = aead.Seal(plain[:0], nc[:], plain, a[:])
	}
	if s.tamper != nil {
		s.tamper(sh.Offer.ID, i, ct)
	}
	return putChunkHeader(buf, i, len(ct)), nil
}

func (s *Sender) write(st network.Stream, sh *share, i uint64, frame []byte) error {
	st.SetWriteDeadline(time.Now().Add(FrameTimeout))
	if _, err := st.Write(frame); err != nil {
		return fmt.Errorf("writing chunk %d: %w", i, err)
	}
	sh.wrote(int64(sh.Offer.chunkLen(i)), i+1 == sh.Offer.Chunks())
	if s.served != nil {
		s.served(sh.Offer.ID, i)
	}
	return nil
}
