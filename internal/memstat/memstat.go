// Package memstat lets the memory benchmark (scripts/membench) read a
// running desktop program's Go memory, which /proc cannot tell apart from
// the C libraries' (GL, SQLite): when $ESERVER_MEMSTAT names a file, the
// program writes its Go runtime's memory figures there as JSON on SIGUSR1,
// and its heap profile (as of the last collection) beside it, with ".pprof"
// appended. Without the variable nothing is installed.
//
// Writing a snapshot forces no collection: it shows the heap as the user's
// program holds it at that moment.
package memstat

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
)

// Env names the file snapshots are written to.
const Env = "ESERVER_MEMSTAT"

// Snapshot is the Go side of a process's memory, in bytes.
type Snapshot struct {
	// Mapped is every byte the Go runtime holds from the OS, less what it
	// released: the part of RSS Go is responsible for (at most; some
	// pages may never have been touched).
	Mapped uint64 `json:"mapped"`
	// HeapObjects are the bytes in heap objects, live and not yet swept.
	HeapObjects uint64 `json:"heapObjects"`
	// HeapLive is what the last collection found reachable.
	HeapLive uint64 `json:"heapLive"`
	// HeapGoal is the heap size at which the next collection finishes.
	HeapGoal uint64 `json:"heapGoal"`
	// HeapFree is heap memory free for reuse but not returned to the OS;
	// HeapUnused is the unused part of spans in use (fragmentation).
	HeapFree   uint64 `json:"heapFree"`
	HeapUnused uint64 `json:"heapUnused"`
	// Stacks are goroutine stacks; Other is the runtime's metadata,
	// buffers and the like.
	Stacks uint64 `json:"stacks"`
	Other  uint64 `json:"other"`
	// Cycles counts completed collections (forced ones included).
	Cycles uint64 `json:"cycles"`
}

// Read returns the current figures.
func Read() Snapshot {
	names := []string{
		"/memory/classes/total:bytes",
		"/memory/classes/heap/released:bytes",
		"/memory/classes/heap/objects:bytes",
		"/gc/heap/live:bytes",
		"/gc/heap/goal:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/memory/classes/os-stacks:bytes",
		"/gc/cycles/total:gc-cycles",
	}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0 // a metric this Go does not have
		}
		return s[i].Value.Uint64()
	}
	snap := Snapshot{
		Mapped:      v(0) - v(1),
		HeapObjects: v(2),
		HeapLive:    v(3),
		HeapGoal:    v(4),
		HeapFree:    v(5),
		HeapUnused:  v(6),
		Stacks:      v(7) + v(8),
		Cycles:      v(9),
	}
	snap.Other = snap.Mapped - min(snap.Mapped, snap.HeapObjects+snap.HeapFree+snap.HeapUnused+snap.Stacks)
	return snap
}

// Install starts answering SIGUSR1 when $ESERVER_MEMSTAT is set, until the
// returned stop is called. Without the variable it does nothing.
func Install() (stop func()) {
	path := os.Getenv(Env)
	if path == "" {
		return func() {}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-sig:
				if err := write(path); err != nil {
					fmt.Fprintln(os.Stderr, "memstat:", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-finished
	}
}

// write saves a snapshot and the heap profile, each by rename so a reader
// never sees half a file: the JSON last, so its appearance means both are
// there.
func write(path string) error {
	snap := Read()
	if err := writeFile(path+".pprof", func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) }); err != nil {
		return err
	}
	return writeFile(path, func(f *os.File) error { return json.NewEncoder(f).Encode(snap) })
}

func writeFile(path string, fill func(*os.File) error) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
