package transfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/zeebo/blake3"
)

// benchSize is the file moved per op.
const benchSize = 256 << 20

const rawProto = "/eserver/bench-raw/1.0.0"

// benchEnv is a pair of hosts, a source file and its hash, shared by the
// sub-benchmarks of one benchmark.
type benchEnv struct {
	*pair
	src string
	sum [HashSize]byte
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	p := newPair(b)
	src := writeFile(b, p.srcDir, "bench.bin", benchSize, 42)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{pair: p, src: src, sum: blake3.Sum256(data)}
	p.s.served = nil
	// The raw baseline: the same file, the same hosts, one bare stream.
	p.sh.SetStreamHandler(rawProto, func(st network.Stream) {
		defer st.Close()
		f, err := os.Open(src)
		if err != nil {
			st.Reset()
			return
		}
		defer f.Close()
		io.Copy(st, f)
	})
	return e
}

// transfer moves the file once through Sender and Receiver.
func (e *benchEnv) transfer(b *testing.B, chunkSize int) {
	o := Offer{ID: NewID(), Name: "bench.bin", Size: benchSize, ChunkSize: chunkSize, Key: NewKey(), Hash: e.sum}
	if err := e.s.Add(Share{Offer: o, Path: e.src, Peer: e.rh.ID()}); err != nil {
		b.Fatal(err)
	}
	got, err := e.r.Receive(context.Background(), e.req(o))
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	e.s.Cancel(o.ID)
	os.Remove(got)
	b.StartTimer()
}

// raw moves the file once over a bare stream into a file, fsynced like the
// receiver's, so the ratio charges the engine only for what it adds.
func (e *benchEnv) raw(b *testing.B, toDisk bool) {
	st, err := e.rh.NewStream(context.Background(), e.sh.ID(), rawProto)
	if err != nil {
		b.Fatal(err)
	}
	var w io.Writer = io.Discard
	var f *os.File
	if toDisk {
		f, err = os.Create(filepath.Join(e.dstDir, "raw.bin"))
		if err != nil {
			b.Fatal(err)
		}
		w = f
	}
	n, err := io.Copy(w, st)
	if err != nil || n != benchSize {
		b.Fatalf("raw copy: %d bytes, %v", n, err)
	}
	st.Close()
	if f != nil {
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StopTimer()
		os.Remove(f.Name())
		b.StartTimer()
	}
}

// heapPeak samples the live heap (without stopping the world) until stop
// and reports the peak above the level at the start, in MiB. Both sides
// live in this process, so it is the sum of sender and receiver.
func heapPeak(b *testing.B) (stop func()) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MiB")
	}
}

// BenchmarkTransfer moves 256 MiB per op between two real hosts on
// loopback through the whole engine: read, seal, stream, open, write,
// hash, fsync, rename.
func BenchmarkTransfer(b *testing.B) {
	e := newBenchEnv(b)
	for _, cs := range []int{256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", cs>>10), func(b *testing.B) {
			b.SetBytes(benchSize)
			stop := heapPeak(b)
			for b.Loop() {
				e.transfer(b, cs)
			}
			stop()
		})
	}
	// Fsync only at the end, to show what crash-safe progress costs.
	b.Run(fmt.Sprintf("chunk=%dKiB/sync-at-end", DefaultChunkSize>>10), func(b *testing.B) {
		e.r.SyncBytes, e.r.SyncInterval = 1<<40, time.Hour
		defer func() { e.r.SyncBytes, e.r.SyncInterval = DefaultSyncBytes, DefaultSyncInterval }()
		b.SetBytes(benchSize)
		for b.Loop() {
			e.transfer(b, DefaultChunkSize)
		}
	})
	// The same without the sender's read/seal pipeline, to show what it buys.
	b.Run(fmt.Sprintf("chunk=%dKiB/in-turn", DefaultChunkSize>>10), func(b *testing.B) {
		e.s.depth = 0
		defer func() { e.s.depth = 3 }()
		b.SetBytes(benchSize)
		for b.Loop() {
			e.transfer(b, DefaultChunkSize)
		}
	})
	// The same reading with pread instead of a mapping, to show what it buys.
	b.Run(fmt.Sprintf("chunk=%dKiB/pread", DefaultChunkSize>>10), func(b *testing.B) {
		e.s.noMap = true
		defer func() { e.s.noMap = false }()
		b.SetBytes(benchSize)
		for b.Loop() {
			e.transfer(b, DefaultChunkSize)
		}
	})
}

// BenchmarkRawStreamCopy is the baseline: the same file over one bare
// libp2p stream (TCP + TLS + yamux) between the same kind of hosts, into
// io.Discard and into an fsynced file.
func BenchmarkRawStreamCopy(b *testing.B) {
	e := newBenchEnv(b)
	for _, toDisk := range []bool{false, true} {
		b.Run(map[bool]string{false: "discard", true: "file"}[toDisk], func(b *testing.B) {
			b.SetBytes(benchSize)
			stop := heapPeak(b)
			for b.Loop() {
				e.raw(b, toDisk)
			}
			stop()
		})
	}
}

// BenchmarkTransferRatio alternates a raw copy (into an fsynced file) and a
// transfer on the same hosts, and reports the transfer's throughput as a
// percentage of the raw copy's measured in the same run.
func BenchmarkTransferRatio(b *testing.B) {
	e := newBenchEnv(b)
	var rawT, xferT time.Duration
	for b.Loop() {
		t0 := time.Now()
		e.raw(b, true)
		t1 := time.Now()
		e.transfer(b, DefaultChunkSize)
		rawT += t1.Sub(t0)
		xferT += time.Since(t1)
	}
	b.ReportMetric(100*rawT.Seconds()/xferT.Seconds(), "%-of-raw")
	b.ReportMetric(float64(benchSize)*float64(b.N)/rawT.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(float64(benchSize)*float64(b.N)/xferT.Seconds()/1e6, "xfer-MB/s")
}
