package audio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"eserver/node/wire"
)

// ErrClosed: a Read or Write on a source or sink after its Close.
var ErrClosed = errors.New("audio: closed")

// Source gives 20 ms frames of 48 kHz mono audio, as a microphone does.
type Source interface {
	// Read fills pcm (wire.CallFrameSamples long) with the next frame,
	// blocking until it is due or captured, or ctx is done. A source
	// never returns io.EOF: a file source sends silence after its end.
	Read(ctx context.Context, pcm []int16) error
	Close() error
}

// Sink takes 20 ms frames of 48 kHz mono audio, as a speaker does.
type Sink interface {
	Write(pcm []int16) error
	Close() error
}

// maxLag is how far a file source's reader may fall behind its clock
// before the clock restarts from now: a microphone whose reader stalls
// drops what it captured meanwhile, it does not hand over a burst.
const maxLag = 200 * time.Millisecond

// fileSource plays samples read at open on a real-time clock.
type fileSource struct {
	mu     sync.Mutex
	pcm    []int16
	pos    int
	start  time.Time
	frames int // frames handed out since start
	closed bool
}

// OpenFileSource opens a WAV file (16-bit PCM, any channels downmixed,
// any rate from 8 to 192 kHz resampled linearly) or, when the name ends
// .pcm or .raw, raw 48 kHz mono s16le samples, as a Source paced in real
// time: frame n is due 20 ms × (n+1) after the first Read, as a
// microphone's is, and after the file's end come silent frames.
func OpenFileSource(path string) (Source, error) {
	pcm, err := readAudioFile(path)
	if err != nil {
		return nil, err
	}
	return &fileSource{pcm: pcm}, nil
}

func (s *fileSource) Read(ctx context.Context, pcm []int16) error {
	if len(pcm) != wire.CallFrameSamples {
		return fmt.Errorf("%w: reading into %d samples, want %d", ErrFrameSize, len(pcm), wire.CallFrameSamples)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := time.Now()
	if s.start.IsZero() || now.Sub(s.due()) > maxLag {
		s.start, s.frames = now, 0
	}
	wait := s.due().Sub(now)
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	n := copy(pcm, s.pcm[s.pos:])
	s.pos += n
	clear(pcm[n:])
	s.frames++
	return nil
}

// due is when the next frame is: the end of its 20 ms.
func (s *fileSource) due() time.Time {
	return s.start.Add(time.Duration(s.frames+1) * wire.CallFrameDuration)
}

func (s *fileSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.pcm = nil
	return nil
}

// fileSink writes frames to a WAV or raw file.
type fileSink struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	wav    bool
	bytes  int64 // sample bytes written
	closed bool
	buf    []byte
}

// maxWAVData is the most sample bytes a WAV's 32-bit sizes can describe.
const maxWAVData = math.MaxUint32 - 36

// CreateFileSink creates (or truncates) path and returns a Sink that
// writes a 48 kHz mono 16-bit WAV there, its header's sizes fixed up at
// Close; or raw s16le samples when the name ends .pcm or .raw.
func CreateFileSink(path string) (Sink, error) {
	return createSink(path, isRaw(path))
}

func createSink(path string, raw bool) (*fileSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	s := &fileSink{f: f, w: bufio.NewWriterSize(f, 64<<10), wav: !raw}
	if s.wav {
		// Sizes of 0 for now: a reader takes that as "to the end of
		// the file", so a sink that never reaches Close still leaves a
		// readable file.
		if _, err := s.w.Write(wavHeader(0)); err != nil {
			f.Close()
			return nil, fmt.Errorf("audio: writing %s: %w", path, err)
		}
	}
	return s, nil
}

func (s *fileSink) Write(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	n := int64(2 * len(pcm))
	if s.wav && s.bytes+n > maxWAVData {
		return fmt.Errorf("audio: %s: a WAV file holds at most %d bytes of samples", s.f.Name(), int64(maxWAVData))
	}
	s.buf = s.buf[:0]
	for _, v := range pcm {
		s.buf = binary.LittleEndian.AppendUint16(s.buf, uint16(v))
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("audio: writing %s: %w", s.f.Name(), err)
	}
	s.bytes += n
	return nil
}

// Close flushes the samples, writes the WAV header's real sizes and
// closes the file.
func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.w.Flush()
	if err == nil && s.wav {
		_, err = s.f.WriteAt(wavHeader(uint32(s.bytes)), 0)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audio: closing %s: %w", s.f.Name(), err)
	}
	return nil
}
