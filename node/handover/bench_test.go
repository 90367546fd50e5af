package handover

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/wire"
)

// benchMessages is the hand-over BENCHMARKS.md reports (issue 17).
const benchMessages = 100_000

// countingWriter counts the bytes of the frames a hand-over sends.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }
func (c *countingWriter) SetDeadline(time.Time) error { return nil }

// BenchmarkHandover hands 100,000 messages over between two devices on
// 127.0.0.1 — read from one store, framed, sent, checked and stored at a
// fresh store, a chunk per transaction — and, as the baseline in the same
// run, moves the same bytes through a raw libp2p stream between the same
// hosts. It reports messages/s and the hand-over's time as a multiple of
// the raw stream's.
func BenchmarkHandover(b *testing.B) {
	old := newDevice(b)
	fill(b, old, benchMessages, time.Duration(benchMessages+1)*time.Hour)
	since := testNow.Add(-time.Duration(benchMessages+1) * time.Hour)

	// The bytes the hand-over puts on the stream.
	cw := &countingWriter{}
	c := chunker{w: cw, sent: func(int) {}}
	for cursor := int64(0); ; {
		ms, next, err := old.st.HistoryPage(since, cursor, wire.MaxHandoverMessages)
		if err != nil {
			b.Fatal(err)
		}
		for i := range ms {
			c.add(Encode(&ms[i]))
		}
		if len(ms) < wire.MaxHandoverMessages {
			break
		}
		cursor = next
	}
	c.finish()
	wireBytes := cw.n

	const rawProto = protocol.ID("/eserver-bench/raw/1.0.0")
	old.h.SetStreamHandler(rawProto, func(st network.Stream) {
		defer st.Close()
		buf := make([]byte, 256<<10)
		for left := wireBytes; left > 0; {
			n := min(left, int64(len(buf)))
			if _, err := st.Write(buf[:n]); err != nil {
				st.Reset()
				return
			}
			left -= n
		}
	})

	var handover, raw time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fresh := newDevice(b)
		pair(b, old, fresh)
		b.StartTimer()

		start := time.Now()
		res, err := fresh.x.Fetch(context.Background(), old.h.ID(), since)
		if err != nil {
			b.Fatal(err)
		}
		handover += time.Since(start)
		if res.Added != benchMessages {
			b.Fatalf("added %d of %d", res.Added, benchMessages)
		}

		start = time.Now()
		st, err := fresh.h.NewStream(context.Background(), old.h.ID(), rawProto)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, st)
		if err != nil || n != wireBytes {
			b.Fatalf("raw stream: %d of %d bytes: %v", n, wireBytes, err)
		}
		st.Close()
		raw += time.Since(start)
	}
	b.ReportMetric(float64(benchMessages*b.N)/handover.Seconds(), "msgs/s")
	b.ReportMetric(float64(wireBytes*int64(b.N))/handover.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(wireBytes*int64(b.N))/raw.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(handover.Seconds()/raw.Seconds(), "x-raw")
	b.ReportMetric(float64(wireBytes)/benchMessages, "B/msg")
}
