package supernode

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// benchMailConc is how many puts, or fetch+acks, are in flight at once in
// the mailbox benchmarks: senders (and owners) each with one request at a
// time, as many nodes are at a busy supernode.
const benchMailConc = 32

// benchFsync measures one fsync of a 200-byte write in dir (the file
// system the mailbox's database is on), as DESIGN.md §8's floor does, and
// returns it: the figure the rates are measured against in the same run.
func benchFsync(b *testing.B, dir string) time.Duration {
	b.Helper()
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 200)
	const rounds = 200
	start := time.Now()
	for i := range rounds {
		if _, err := f.WriteAt(buf, int64(i)*200); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / rounds
}

// reportRate reports n operations in d as ops/s and as ops per fsync
// time (above 1 only if commits are shared), beside the fsync itself.
func reportRate(b *testing.B, n int, d, fsync time.Duration, what string) {
	b.ReportMetric(float64(fsync.Microseconds()), "fsync-µs")
	perSec := float64(n) / d.Seconds()
	b.ReportMetric(perSec, what+"/s")
	b.ReportMetric(perSec*fsync.Seconds(), what+"/fsync")
	b.ReportMetric(0, "ns/op") // the rates are the figures; ns/op would repeat them
}

// reportBatches reports how many writes a commit held on average.
func reportBatches(b *testing.B, m *Mailbox, writes int) {
	if c := m.db.writes.commits.Load(); c > 0 {
		b.ReportMetric(float64(writes)/float64(c), "writes/commit")
	}
}

// mailBenchUsers returns n client hosts connected to the env's supernode,
// with tickets under prefix00…
func mailBenchUsers(e *mailEnv, prefix string, n int) ([]host.Host, []*wire.SignedTicket) {
	hs := make([]host.Host, n)
	sts := make([]*wire.SignedTicket, n)
	for i := range n {
		hs[i], sts[i] = e.client(fmt.Sprintf("%s%02d", prefix, i))
	}
	return hs, sts
}

// BenchmarkMailPut: benchMailConc senders each put 1 KiB padded items, one
// at a time, on the mailbox stream each keeps open (client.MailConn, as
// nodes do), into 32 mailboxes.
func BenchmarkMailPut(b *testing.B) { benchMailPut(b, true, 1) }

// BenchmarkMailPutPipelined4 is BenchmarkMailPut with four puts in flight
// on each sender's stream (a node mailing several contacts at once):
// 128 in flight in all, so the group commit's batches can fill.
func BenchmarkMailPutPipelined4(b *testing.B) { benchMailPut(b, true, 4) }

// BenchmarkMailPutPerStream is BenchmarkMailPut with a fresh stream per
// put (client.PutMail, as nodes did before MailConn and old nodes do).
func BenchmarkMailPutPerStream(b *testing.B) { benchMailPut(b, false, 1) }

// benchMailPut runs benchMailConc senders, each with depth puts in flight.
func benchMailPut(b *testing.B, kept bool, depth int) {
	e := newMailEnv(b, MailboxConfig{PutRate: rate.Inf})
	fsync := benchFsync(b, filepath.Dir(e.cfg.DBPath))
	hs, sts := mailBenchUsers(e, "sender", benchMailConc)
	conns := mailBenchConns(b, e, hs)
	item := client.Pad(make([]byte, 600))
	ctx := sntest.Ctx(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchMailConc*depth)
	b.ResetTimer()
	start := time.Now()
	for s := range benchMailConc * depth {
		s %= benchMailConc
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				box := e.box(fmt.Sprintf("owner%02d", i%32))
				var err error
				if kept {
					_, err = conns[s].Put(ctx, sts[s], box, item)
				} else {
					_, err = client.PutMail(ctx, hs[s], e.h.ID(), sts[s], box, item)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if got := e.depth(); got != b.N {
		b.Fatalf("%d items stored, put %d", got, b.N)
	}
	reportRate(b, b.N, elapsed, fsync, "puts")
	reportBatches(b, e.mb, b.N)
}

// mailBenchConns returns a kept mailbox stream from each of hs to the env's
// supernode, closed when the benchmark ends.
func mailBenchConns(b *testing.B, e *mailEnv, hs []host.Host) []*client.MailConn {
	conns := make([]*client.MailConn, len(hs))
	for i, h := range hs {
		conns[i] = client.NewMailConn(h, e.h.ID())
		b.Cleanup(func() { _ = conns[i].Close() })
	}
	return conns
}

// BenchmarkMailFetchAck: benchMailConc owners drain their mailboxes one
// item at a time, as a node that finds a message waiting does: each fetch
// of one item carries the ack of the item before, on the stream each owner
// keeps open (client.MailConn), so a fetch+ack is one round trip. The
// items are loaded beforehand in one transaction.
func BenchmarkMailFetchAck(b *testing.B) { benchMailFetchAck(b, true) }

// BenchmarkMailFetchAckPerStream is BenchmarkMailFetchAck as nodes did it
// before MailConn: a fetch and then an ack, each on a fresh stream.
func BenchmarkMailFetchAckPerStream(b *testing.B) { benchMailFetchAck(b, false) }

func benchMailFetchAck(b *testing.B, kept bool) {
	e := newMailEnv(b, MailboxConfig{})
	fsync := benchFsync(b, filepath.Dir(e.cfg.DBPath))
	hs, sts := mailBenchUsers(e, "owner", benchMailConc)
	conns := mailBenchConns(b, e, hs)
	per := (b.N + benchMailConc - 1) / benchMailConc
	loadMail(b, e, per)
	ctx := sntest.Ctx(b)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchMailConc)
	b.ResetTimer()
	start := time.Now()
	for o := range benchMailConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var after uint64
			var ack []uint64
			for range per {
				var items []*wire.StoredMail
				var err error
				if kept {
					items, _, err = conns[o].Fetch(ctx, sts[o], after, 1, ack)
				} else {
					items, _, err = client.FetchMail(ctx, hs[o], e.h.ID(), sts[o], after, 1)
				}
				if err == nil && len(items) != 1 {
					err = fmt.Errorf("fetch after %d: %d items", after, len(items))
				}
				if err == nil {
					after = items[0].Seq
					ack = []uint64{after}
					if !kept {
						err = client.AckMail(ctx, hs[o], e.h.ID(), sts[o], ack)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
			if kept { // the last item's ack has no fetch to ride on
				if err := conns[o].Ack(ctx, sts[o], ack); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if got := e.depth(); got != 0 {
		b.Fatalf("%d items left after fetching and acking all", got)
	}
	reportRate(b, int(done.Load()), elapsed, fsync, "fetch+acks")
	reportBatches(b, e.mb, int(done.Load()))
}

// BenchmarkMailStorePut: the store alone, without libp2p: benchMailConc
// goroutines put 1 KiB items through the group commit, as the handlers do.
// The ceiling the disk sets, beside BenchmarkMailPut's figure.
func BenchmarkMailStorePut(b *testing.B) {
	e := newMailEnv(b, MailboxConfig{PutRate: rate.Inf})
	fsync := benchFsync(b, filepath.Dir(e.cfg.DBPath))
	item := client.Pad(make([]byte, 600))
	ctx := sntest.Ctx(b)
	now := e.clock.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchMailConc)
	b.ResetTimer()
	start := time.Now()
	for range benchMailConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := e.mb.db.put(ctx, e.box(fmt.Sprintf("owner%02d", i%32)), item, now, now.Add(-e.mb.cfg.TTL), e.mb.cfg.Quota, e.mb.cfg.QuotaBytes, e.mb.cfg.MaxBytes); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	reportRate(b, b.N, elapsed, fsync, "puts")
	reportBatches(b, e.mb, b.N)
}

// BenchmarkMailStoreFetchAck: the store alone, without libp2p:
// benchMailConc owners each fetch one item and acknowledge it, in turn, as
// BenchmarkMailFetchAck's owners do over streams.
func BenchmarkMailStoreFetchAck(b *testing.B) {
	e := newMailEnv(b, MailboxConfig{})
	fsync := benchFsync(b, filepath.Dir(e.cfg.DBPath))
	per := (b.N + benchMailConc - 1) / benchMailConc
	loadMail(b, e, per)
	ctx := sntest.Ctx(b)
	cutoff := e.clock.Now().Add(-e.mb.cfg.TTL)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchMailConc)
	b.ResetTimer()
	start := time.Now()
	for o := range benchMailConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("owner%02d", o)
			// The owner's two mailboxes, as a device's fetch reads them;
			// its items wait in the account's.
			box := ownedBoxes{e.box(owner), e.deviceBox(owner, peer.ID(owner))}
			var after uint64
			for range per {
				rows, _, err := e.mb.db.fetch(ctx, box, after, cutoff, 1, wire.MaxMailboxFrame, storedMailCost)
				if err == nil && len(rows) != 1 {
					err = fmt.Errorf("fetch after %d: %d items", after, len(rows))
				}
				if err == nil {
					after = rows[0].seq
					_, err = e.mb.db.ack(ctx, box, []uint64{after})
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	reportRate(b, int(done.Load()), elapsed, fsync, "fetch+acks")
	reportBatches(b, e.mb, int(done.Load()))
}

// loadMail stores per items in each of benchMailConc owners' mailboxes in
// one transaction.
func loadMail(b *testing.B, e *mailEnv, per int) {
	b.Helper()
	item := client.Pad(make([]byte, 600))
	now := e.clock.Now().UnixNano()
	if err := e.mb.db.db.Tx(func(tx *sql.Tx) error {
		for o := range benchMailConc {
			for range per {
				if _, err := tx.Exec(`INSERT INTO mail (mailbox, item, stored) VALUES (?, ?, ?)`, e.box(fmt.Sprintf("owner%02d", o)), item, now); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}
