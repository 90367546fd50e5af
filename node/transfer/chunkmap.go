package transfer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// ChunkMap records which chunks of a transfer are on disk. The node keeps it
// in SQLite; MemoryChunkMap and FileChunkMap are for tests and tools.
//
// The receiver calls MarkDone only after the fsync that covers those chunks'
// bytes, so a map that is durable when MarkDone returns never claims a chunk
// a crash lost.
type ChunkMap interface {
	// Done returns, for each chunk index, whether it is done; indexes past
	// the slice's end are not. An unknown transfer has none done.
	Done(id ID) ([]bool, error)
	// MarkDone records chunks as done, all at once (one transaction: the
	// receiver marks a whole fsync's worth of chunks per call).
	MarkDone(id ID, indexes ...uint64) error
	// Forget drops everything recorded about the transfer.
	Forget(id ID) error
}

// MemoryChunkMap is a ChunkMap in memory. The zero value is ready to use.
type MemoryChunkMap struct {
	mu   sync.Mutex
	done map[ID][]bool
}

var _ ChunkMap = (*MemoryChunkMap)(nil)

func (m *MemoryChunkMap) Done(id ID) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]bool(nil), m.done[id]...), nil
}

func (m *MemoryChunkMap) MarkDone(id ID, indexes ...uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		m.done = make(map[ID][]bool)
	}
	d := m.done[id]
	for _, i := range indexes {
		if i >= maxChunks {
			return fmt.Errorf("chunk index %d out of range", i)
		}
		for uint64(len(d)) <= i {
			d = append(d, false)
		}
		d[i] = true
	}
	m.done[id] = d
	return nil
}

func (m *MemoryChunkMap) Forget(id ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.done, id)
	return nil
}

// FileChunkMap is a ChunkMap kept in a directory: one append-only file of
// 8-byte big-endian indexes per transfer, fsynced on every MarkDone. A torn
// last record (a crash mid-append) is ignored, so the file survives kill -9.
type FileChunkMap struct {
	Dir string
	mu  sync.Mutex
}

var _ ChunkMap = (*FileChunkMap)(nil)

func (m *FileChunkMap) path(id ID) string { return filepath.Join(m.Dir, id.String()+".chunks") }

func (m *FileChunkMap) Done(id ID) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := os.ReadFile(m.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading chunk map: %w", err)
	}
	return parseChunkLog(b, maxChunks)
}

// parseChunkLog decodes a FileChunkMap file.
// Indexes at or past limit are refused: the file is ours, but a damaged one
// must not make Done allocate without bound.
func parseChunkLog(b []byte, limit uint64) ([]bool, error) {
	var d []bool
	for len(b) >= 8 {
		i := binary.BigEndian.Uint64(b)
		b = b[8:]
		if i >= limit {
			return nil, fmt.Errorf("chunk map: index %d out of range", i)
		}
		if uint64(len(d)) <= i {
			d = append(d, make([]bool, int(i)+1-len(d))...)
		}
		d[i] = true
	}
	return d, nil
}

func (m *FileChunkMap) MarkDone(id ID, indexes ...uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := os.OpenFile(m.path(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening chunk map: %w", classify(err))
	}
	defer f.Close()
	// Cut a torn record first so new records stay aligned.
	if fi, err := f.Stat(); err == nil && fi.Size()%8 != 0 {
		if err := f.Truncate(fi.Size() - fi.Size()%8); err != nil {
			return fmt.Errorf("repairing chunk map: %w", classify(err))
		}
	}
	buf := make([]byte, 0, 8*len(indexes))
	for _, i := range indexes {
		buf = binary.BigEndian.AppendUint64(buf, i)
	}
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("writing chunk map: %w", classify(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing chunk map: %w", classify(err))
	}
	return nil
}

func (m *FileChunkMap) Forget(id ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.Remove(m.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing chunk map: %w", err)
	}
	return nil
}
