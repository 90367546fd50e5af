package supernode

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/sqlite"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// holdCommits makes the group commit stop before committing its next batch
// until the returned release is called; held receives once it is holding.
func holdCommits(t *testing.T, g *groupCommit) (held <-chan struct{}, release func()) {
	t.Helper()
	h := make(chan struct{}, 1)
	gate := make(chan struct{})
	var once sync.Once
	f := func(*sql.Tx) error {
		once.Do(func() {
			h <- struct{}{}
			<-gate
		})
		return nil
	}
	g.beforeCommit.Store(&f)
	var rel sync.Once
	release = func() { rel.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return h, release
}

// waitWaiting waits until n writes are queued in g, waiting to be taken
// into a batch.
func waitWaiting(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for g.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes waiting to be taken, want %d", g.queued(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMailGroupCommitBatch: puts that wait while a commit is under way are
// committed together in the next transaction, and each is checked against
// the quotas in turn as if alone: of eight puts to a mailbox with room for
// five, five are stored and three refused, whatever their place in the
// batch, and the refusals undo nothing of the others.
func TestMailGroupCommitBatch(t *testing.T) {
	const quota, puts = 5, 8
	e := newMailEnv(t, MailboxConfig{Quota: quota, PutRate: rate.Inf})
	g := e.mb.db.writes
	held, release := holdCommits(t, g)
	ctx := sntest.Ctx(t)
	now := e.clock.Now()
	sender := func(i int) *ticket.Ticket { return &ticket.Ticket{Username: fmt.Sprintf("sender%d", i)} }

	// The first put is taken alone and held before its commit.
	first := make(chan error, 1)
	go func() {
		_, err := e.mb.put(ctx, sender(0), e.box("carol"), itemN(0), now)
		first <- err
	}()
	<-held
	type answer struct {
		resp *wire.MailboxResponse
		err  error
	}
	answers := make(chan answer, puts)
	for i := range puts {
		go func() {
			resp, err := e.mb.put(ctx, sender(i), e.box("bob"), itemN(i), now)
			answers <- answer{resp, err}
		}()
	}
	waitWaiting(t, g, puts)
	before := g.commits.Load()
	release()
	if err := <-first; err != nil {
		t.Fatalf("first put: %v", err)
	}
	stored, refused := map[uint64]bool{}, 0
	for range puts {
		a := <-answers
		switch {
		case a.err != nil:
			t.Fatalf("put: %v", a.err)
		case a.resp.Error == wire.CodeQuota:
			refused++
		case a.resp.Error != "":
			t.Fatalf("put refused with %q", a.resp.Error)
		case stored[a.resp.Seq]:
			t.Fatalf("seq %d answered twice", a.resp.Seq)
		default:
			stored[a.resp.Seq] = true
		}
	}
	if len(stored) != quota || refused != puts-quota {
		t.Fatalf("%d stored, %d refused; want %d and %d", len(stored), refused, quota, puts-quota)
	}
	if got := g.commits.Load() - before; got != 2 {
		t.Fatalf("%d commits for the held put and the %d waiting, want 2", got, puts)
	}
	if got := e.depthOf("bob"); got != quota {
		t.Fatalf("bob's mailbox holds %d items, want %d", got, quota)
	}
	if st := e.mb.Stats(); st.PutsStored != quota+1 || st.PutsOverQuota != puts-quota {
		t.Fatalf("stats %+v", st)
	}
	checkUsage(t, e.mb.db)
}

// TestMailConcurrentPuts: many accounts put at once over real streams; every
// put is answered with its own seq, and every item is stored exactly once,
// in its sender's order within its mailbox.
func TestMailConcurrentPuts(t *testing.T) {
	const senders, each = 16, 25
	e := newMailEnv(t, MailboxConfig{})
	ctx := sntest.Ctx(t)
	sn := e.h.ID()
	owner, ownerT := e.client("owner")
	type put struct{ sender, i int }
	seqs := make(map[uint64]put)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		h, st := e.client(fmt.Sprintf("sender%02d", s))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				item := client.Pad([]byte(fmt.Sprintf("from %02d item %03d", s, i)))
				seq, err := client.PutMail(ctx, h, sn, st, e.box("owner"), item)
				if err != nil {
					errs <- fmt.Errorf("sender %d put %d: %w", s, i, err)
					return
				}
				mu.Lock()
				if p, dup := seqs[seq]; dup {
					errs <- fmt.Errorf("seq %d answered to %v and %v", seq, p, put{s, i})
				}
				seqs[seq] = put{s, i}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	items, _ := fetchAll(t, owner, sn, ownerT, 0)
	if len(items) != senders*each || len(seqs) != senders*each {
		t.Fatalf("%d items stored, %d seqs answered; want %d", len(items), len(seqs), senders*each)
	}
	next := make([]int, senders)
	for _, it := range items {
		p, ok := seqs[it.Seq]
		if !ok {
			t.Fatalf("stored seq %d was never answered", it.Seq)
		}
		want := client.Pad([]byte(fmt.Sprintf("from %02d item %03d", p.sender, p.i)))
		if !bytes.Equal(it.Item, want) {
			t.Fatalf("seq %d holds another item than the one it was answered for", it.Seq)
		}
		if p.i != next[p.sender] {
			t.Fatalf("sender %d: item %d stored after item %d", p.sender, p.i, next[p.sender]-1)
		}
		next[p.sender]++
	}
	checkUsage(t, e.mb.db)
}

// TestMailFailedCommit: when a batch's commit fails, every put in it is
// answered with an error, none is stored, and the senders' byte budgets
// are given back; acks in a failed batch delete nothing. Over streams, the
// sender sees an error and no seq.
func TestMailFailedCommit(t *testing.T) {
	// A byte budget for exactly two items (it is at least MaxMailItem): a
	// failed put must give its share back.
	item := bytes.Repeat([]byte{7}, wire.MaxMailItem/2+1)
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf, SenderBytes: 2 * mailCost(len(item)), TTL: time.Hour})
	g := e.mb.db.writes
	ctx := sntest.Ctx(t)
	now := e.clock.Now()
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	sn := e.h.ID()

	errDisk := errors.New("disk on fire")
	fail := func(*sql.Tx) error { return errDisk }

	// A batch of puts held, then failed.
	held, release := holdCommits(t, g)
	first := make(chan error, 1)
	go func() {
		_, err := e.mb.put(ctx, &ticket.Ticket{Username: "first"}, e.box("bob"), item, now)
		first <- err
	}()
	<-held
	const puts = 6
	answers := make(chan error, puts)
	for i := range puts {
		go func() {
			resp, err := e.mb.put(ctx, &ticket.Ticket{Username: fmt.Sprintf("s%d", i)}, e.box("bob"), itemN(i), now)
			if err == nil {
				err = fmt.Errorf("answered %v", resp)
			}
			answers <- err
		}()
	}
	waitWaiting(t, g, puts)
	g.beforeCommit.Store(&fail)
	release()
	if err := <-first; err != nil {
		t.Fatalf("held put: %v", err)
	}
	for range puts {
		if err := <-answers; !errors.Is(err, errDisk) {
			t.Fatalf("put in a failed batch: %v, want the commit's error", err)
		}
	}
	if got := e.depthOf("bob"); got != 1 {
		t.Fatalf("bob's mailbox holds %d items after a failed batch, want only the held put's", got)
	}

	// Over a stream: the put fails, twice, yet the budget for two is intact.
	for range 2 {
		if seq, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); err == nil {
			t.Fatalf("put answered seq %d though its commit failed", seq)
		}
	}
	items, _ := fetchAll(t, bob, sn, bobT, 0)
	if err := client.AckMail(ctx, bob, sn, bobT, []uint64{items[0].Seq}); err == nil {
		t.Fatal("ack answered though its commit failed")
	}
	if got := e.depthOf("bob"); got != 1 {
		t.Fatalf("bob's mailbox holds %d items, want 1: a failed batch changed it", got)
	}
	g.beforeCommit.Store(nil)
	for i := range 2 {
		if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); err != nil {
			t.Fatalf("put %d within the budget after failed ones: %v", i, err)
		}
	}
	if _, err := client.PutMail(ctx, alice, sn, aliceT, e.box("bob"), item); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("put past the byte budget: %v, want ErrRateLimited", err)
	}
	checkUsage(t, e.mb.db)
}

// checkUsage checks the usage rows the triggers keep against the items.
func checkUsage(t *testing.T, d *mailDB) {
	t.Helper()
	var bad int
	if err := d.db.QueryRow(`SELECT
		(SELECT count(*) FROM mail_usage u WHERE u.items != (SELECT count(*) FROM mail)
			OR u.bytes != (SELECT coalesce(sum(length(item)), 0) FROM mail)) +
		(SELECT count(*) FROM mail_box_usage b WHERE b.items != (SELECT count(*) FROM mail m WHERE m.mailbox = b.mailbox)
			OR b.bytes != (SELECT sum(length(item)) FROM mail m WHERE m.mailbox = b.mailbox)) +
		(SELECT count(DISTINCT mailbox) FROM mail) - (SELECT count(*) FROM mail_box_usage)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("usage rows disagree with the items (%d)", bad)
	}
}

// TestMailBoxUsageMigration: a database of schema 2 with items gets their
// per-mailbox usage, and quotas hold on it.
func TestMailBoxUsageMigration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mailbox.db")
	old, err := sqlite.Open(p, sqlite.Options{Migrations: mailMigrationFS, Dir: "migrations/mailbox", Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b := randomMailbox(t), randomMailbox(t)
	for i, box := range [][]byte{a, a, a, b} {
		if _, err := old.Exec(`INSERT INTO mail (mailbox, item, stored) VALUES (?, ?, ?)`, box, make([]byte, 100*(i+1)), time.Now().UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := openMailDB(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	checkUsage(t, d)
	now := time.Now()
	put := func(box []byte, n int) error {
		_, err := d.put(context.Background(), box, make([]byte, n), now, now.Add(-time.Hour), 4, 1000, 1<<30)
		return err
	}
	if err := put(a, 1); err != nil { // a: 3 items of 600 bytes
		t.Fatalf("put within quota: %v", err)
	}
	if err := put(a, 1); !errors.Is(err, errOverQuota) {
		t.Fatalf("fifth item: %v, want errOverQuota", err)
	}
	if err := put(b, 601); !errors.Is(err, errOverQuota) { // b: 400 bytes
		t.Fatalf("put past the byte quota: %v, want errOverQuota", err)
	}
	if err := put(b, 600); err != nil {
		t.Fatalf("put up to the byte quota: %v", err)
	}
	if _, err := d.ack(context.Background(), ownedBoxes{a, nil}, []uint64{1, 2, 3, 5}); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, d)
}

// TestMailCrashKeepsAcknowledged re-runs this test binary as a child whose
// mailbox takes puts from many senders at once, printing each seq once its
// put is answered; the parent kills it with SIGKILL in mid-run, with
// batches in flight, and checks that every answered put survived, intact.
func TestMailCrashKeepsAcknowledged(t *testing.T) {
	if path := os.Getenv("ESERVER_MAILBOX_CRASH_CHILD"); path != "" {
		mailCrashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "mailbox.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMailCrashKeepsAcknowledged$")
	cmd.Env = append(os.Environ(), "ESERVER_MAILBOX_CRASH_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 600
	acked := map[uint64]string{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "PUT" {
			continue
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked[seq] = f[2]
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before being killed (%d puts): %v", len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}
	d, err := openMailDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for seq, want := range acked {
		var item []byte
		if err := d.db.QueryRow(`SELECT item FROM mail WHERE seq = ?`, int64(seq)).Scan(&item); err != nil {
			t.Fatalf("seq %d answered before SIGKILL is lost: %v", seq, err)
		}
		if string(bytes.TrimRight(item, "\x00")) != want {
			t.Fatalf("seq %d holds %q, answered for %q", seq, bytes.TrimRight(item, "\x00"), want)
		}
	}
	n, err := d.depth(nil)
	if err != nil {
		t.Fatal(err)
	}
	checkUsage(t, d)
	t.Logf("%d puts answered before SIGKILL, all present; %d items stored", len(acked), n)
}

// mailCrashChild puts items from 16 senders at once until killed, printing
// "PUT seq item" for each answered put.
func mailCrashChild(t *testing.T, path string) {
	m, err := NewMailbox(MailboxConfig{DBPath: path, AuthServer: sntest.ID(t, sntest.Key(t)), PutRate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	for s := range 16 {
		go func() {
			sender := &ticket.Ticket{Username: fmt.Sprintf("sender%02d", s)}
			box := client.MailboxID(m.cfg.AuthServer, fmt.Sprintf("owner%d", s%4))
			for i := 0; ; i++ {
				item := fmt.Sprintf("s%02d-i%06d", s, i)
				resp, err := m.put(context.Background(), sender, box, []byte(item), time.Now())
				if err != nil || resp.Error != "" {
					fmt.Fprintf(os.Stderr, "put: %v %v\n", err, resp)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "PUT %d %s\n", resp.Seq, item)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}
