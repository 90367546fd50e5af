package supernode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"

	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// rawStream is a pipelined mailbox stream driven by hand: requests are
// written without reading, answers read later, in order.
type rawStream struct {
	t testing.TB
	s network.Stream
}

func (e *mailEnv) rawStream(h host.Host, pid string) *rawStream {
	e.t.Helper()
	s, err := h.NewStream(sntest.Ctx(e.t), e.h.ID(), protocol.ID(pid))
	if err != nil {
		e.t.Fatalf("new stream: %v", err)
	}
	e.t.Cleanup(func() { _ = s.Reset() })
	_ = s.SetDeadline(time.Now().Add(wire.MailboxTimeout))
	return &rawStream{t: e.t, s: s}
}

func (r *rawStream) send(req *wire.MailboxRequest) {
	r.t.Helper()
	if err := wire.WriteMsg(r.s, req); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawStream) sendBytes(b []byte) {
	r.t.Helper()
	if _, err := r.s.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawStream) recv() *wire.MailboxResponse {
	r.t.Helper()
	var resp wire.MailboxResponse
	if err := wire.ReadMsg(r.s, wire.MaxMailboxFrame, &resp); err != nil {
		r.t.Fatalf("read answer: %v", err)
	}
	return &resp
}

func putReq(st *wire.SignedTicket, box, item []byte) *wire.MailboxRequest {
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: st, Mailbox: box, Item: item}}}
}

func fetchReq(st *wire.SignedTicket, after uint64, limit uint32, ack ...uint64) *wire.MailboxRequest {
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Fetch{Fetch: &wire.MailFetch{Ticket: st, After: after, Limit: limit, Ack: ack}}}
}

func ackReq(st *wire.SignedTicket, seqs ...uint64) *wire.MailboxRequest {
	return &wire.MailboxRequest{Kind: &wire.MailboxRequest_Ack{Ack: &wire.MailAck{Ticket: st, Seqs: seqs}}}
}

// TestMailPipelinedInOrder: requests written on one stream without waiting
// are answered in the order sent, each after the ones before it took
// effect: the puts in order of their seqs, a fetch after them sees them
// all, a fetch carrying an ack no longer sees what it acknowledged, and an
// ack then empties the mailbox.
func TestMailPipelinedInOrder(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf})
	bob, bobT := e.client("bob")
	const puts = 20
	r := e.rawStream(bob, wire.ProtoMailboxStream)
	for i := range puts {
		r.send(putReq(bobT, e.box("bob"), itemN(i)))
	}
	r.send(fetchReq(bobT, 0, 0))
	// The ack of the first half rides on the fetch of the second.
	r.send(fetchReq(bobT, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
	r.send(ackReq(bobT, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20))
	r.send(fetchReq(bobT, 0, 0))

	var last uint64
	for i := range puts {
		a := r.recv()
		if a.Error != "" || a.Seq <= last {
			t.Fatalf("put %d answered %v after seq %d", i, a, last)
		}
		last = a.Seq
	}
	if a := r.recv(); a.Error != "" || len(a.Items) != puts {
		t.Fatalf("fetch after %d puts answered %d items (%q)", puts, len(a.Items), a.Error)
	} else {
		for i, it := range a.Items {
			if !bytes.Equal(it.Item, itemN(i)) || it.Seq != uint64(i+1) {
				t.Fatalf("item %d: seq %d, another item than put", i, it.Seq)
			}
		}
	}
	if a := r.recv(); a.Error != "" || len(a.Items) != puts/2 || a.Items[0].Seq != puts/2+1 {
		t.Fatalf("fetch with the ack of 1–10 answered %d items from seq %d (%q)", len(a.Items), a.Items[0].GetSeq(), a.Error)
	}
	if a := r.recv(); a.Error != "" {
		t.Fatalf("ack answered %q", a.Error)
	}
	if a := r.recv(); a.Error != "" || len(a.Items) != 0 {
		t.Fatalf("fetch after acking all answered %d items (%q)", len(a.Items), a.Error)
	}
	if got := e.depthOf("bob"); got != 0 {
		t.Fatalf("%d items left", got)
	}
	// The client's end closes its side: the supernode ends the stream.
	_ = r.s.CloseWrite()
	var resp wire.MailboxResponse
	if err := wire.ReadMsg(r.s, wire.MaxMailboxFrame, &resp); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v, want EOF", err)
	}
	checkUsage(t, e.mb.db)
}

// TestMailPipelinedRefusals: on one stream, bad requests and requests with
// a stranger's, a forged or an expired ticket are each answered with their
// refusal in their turn, and the requests around them are served; nothing
// the refused ones asked for happened.
func TestMailPipelinedRefusals(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf})
	bob, bobT := e.client("bob")
	_, carolT := e.client("carol") // valid, but carol's device, not bob's
	forged := &wire.SignedTicket{Ticket: bobT.Ticket, Signature: bytes.Clone(bobT.Signature)}
	forged.Signature[0] ^= 1
	now := e.clock.Now()
	expired := sntest.SignTicket(t, e.auth, "bob", bob.ID(), now.Add(-2*wire.TicketLifetime), now.Add(-time.Minute))
	otherServer := sntest.SignTicket(t, sntest.Key(t), "bob", bob.ID(), now, now.Add(wire.TicketLifetime))

	r := e.rawStream(bob, wire.ProtoMailboxStream)
	steps := []struct {
		name string
		send func()
		want string
	}{
		{"put", func() { r.send(putReq(bobT, e.box("bob"), itemN(1))) }, ""},
		{"put with a short mailbox ID", func() { r.send(putReq(bobT, e.box("bob")[:31], itemN(2))) }, wire.CodeBadRequest},
		{"a frame that does not decode", func() { r.sendBytes([]byte{2, 0, 0}) }, wire.CodeBadRequest},
		{"a request of no kind", func() { r.send(&wire.MailboxRequest{}) }, wire.CodeBadRequest},
		{"put with a stranger's ticket", func() { r.send(putReq(carolT, e.box("bob"), itemN(3))) }, wire.CodeUnauthorized},
		{"fetch with a stranger's ticket", func() { r.send(fetchReq(carolT, 0, 0)) }, wire.CodeUnauthorized},
		{"ack with a forged ticket", func() { r.send(ackReq(forged, 1)) }, wire.CodeUnauthorized},
		{"fetch+ack with a forged ticket", func() { r.send(fetchReq(forged, 0, 0, 1)) }, wire.CodeUnauthorized},
		{"put with an expired ticket", func() { r.send(putReq(expired, e.box("bob"), itemN(4))) }, wire.CodeUnauthorized},
		{"ack with another server's ticket", func() { r.send(ackReq(otherServer, 1)) }, wire.CodeUnauthorized},
		{"ack of too many", func() { r.send(ackReq(bobT, make([]uint64, client.MaxMailAck+1)...)) }, wire.CodeBadRequest},
		{"put", func() { r.send(putReq(bobT, e.box("bob"), itemN(5))) }, ""},
		{"fetch", func() { r.send(fetchReq(bobT, 0, 0)) }, ""},
	}
	for _, s := range steps {
		s.send()
	}
	var fetched *wire.MailboxResponse
	for i, s := range steps {
		a := r.recv()
		if a.Error != s.want {
			t.Fatalf("answer %d (%s): %q, want %q", i, s.name, a.Error, s.want)
		}
		fetched = a
	}
	if len(fetched.Items) != 2 || !bytes.Equal(fetched.Items[0].Item, itemN(1)) || !bytes.Equal(fetched.Items[1].Item, itemN(5)) {
		t.Fatalf("bob's mailbox holds %d items, want only the two good puts", len(fetched.Items))
	}
	// After a ticket expires mid-stream, the stream's next request is
	// refused though the same ticket passed before.
	e.clock.Advance(wire.TicketLifetime + time.Minute)
	r.send(fetchReq(bobT, 0, 0))
	if a := r.recv(); a.Error != wire.CodeUnauthorized {
		t.Fatalf("fetch with a ticket expired since the stream opened: %q", a.Error)
	}
	if st := e.mb.Stats(); st.PutsStored != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMailPipelinedInFlightBound: a client that writes more requests than
// wire.MailboxInFlight while none can be answered (the commits are held)
// has exactly MailboxInFlight read; the supernode reads no further until
// answers go out, and then every request is answered, in order.
func TestMailPipelinedInFlightBound(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf})
	bob, bobT := e.client("bob")
	g := e.mb.db.writes
	held, release := holdCommits(t, g)
	const extra = 10
	total := wire.MailboxInFlight + extra
	r := e.rawStream(bob, wire.ProtoMailboxStream)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range total {
			if err := wire.WriteMsg(r.s, putReq(bobT, e.box("bob"), itemN(i))); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	}()
	<-held
	waitReaderBlocked(t)
	if got := g.submitted.Load(); got != uint64(wire.MailboxInFlight) {
		t.Fatalf("%d requests read with none answered, want the bound %d", got, wire.MailboxInFlight)
	}
	release()
	<-sent
	var last uint64
	for i := range total {
		a := r.recv()
		if a.Error != "" || a.Seq <= last {
			t.Fatalf("put %d answered %v after seq %d", i, a, last)
		}
		last = a.Seq
	}
	if got := e.depthOf("bob"); got != total {
		t.Fatalf("%d stored, want %d", got, total)
	}
}

// waitReaderBlocked waits until a pipelined stream's reader is blocked
// waiting for an answer to go out (its in-flight slots all taken), not in
// the middle of reading.
func waitReaderBlocked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		buf := make([]byte, 1<<22)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			head, rest, _ := strings.Cut(g, "\n")
			if strings.Contains(head, "[select") && strings.HasPrefix(rest, "eserver/pipeline.(*Service[...]).readInOrder(") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream's reader never blocked on its in-flight bound")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMailOneRequestPerStream: an old client — one request on a stream of
// wire.ProtoMailbox, its side closed, one answer — is served as before.
func TestMailOneRequestPerStream(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf})
	bob, bobT := e.client("bob")
	for i, req := range []*wire.MailboxRequest{
		putReq(bobT, e.box("bob"), itemN(1)),
		fetchReq(bobT, 0, 0),
		ackReq(bobT, 1),
		fetchReq(bobT, 0, 0),
	} {
		r := e.rawStream(bob, wire.ProtoMailbox)
		r.send(req)
		if err := r.s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		a := r.recv()
		switch {
		case a.Error != "":
			t.Fatalf("request %d: %q", i, a.Error)
		case i == 1 && len(a.Items) != 1, i == 3 && len(a.Items) != 0:
			t.Fatalf("fetch %d: %d items", i, len(a.Items))
		}
		var more wire.MailboxResponse
		if err := wire.ReadMsg(r.s, wire.MaxMailboxFrame, &more); !errors.Is(err, io.EOF) {
			t.Fatalf("request %d: after the answer: %v, want EOF", i, err)
		}
	}
}

// TestMailConn: a node's MailConn pipelines calls from many goroutines on
// one stream, survives the supernode closing the stream (a restart), and
// falls back to one request per stream at a supernode without
// ProtoMailboxStream — where an ack riding on a fetch would be ignored, so
// it is sent on its own.
func TestMailConn(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{PutRate: rate.Inf})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	put := client.NewMailConn(alice, e.h.ID())
	defer put.Close()
	const senders, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := put.Put(ctx, aliceT, e.box("bob"), itemN(s*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Today's supernode: the newest version, which keeps device mailboxes.
	if n := streamsTo(alice, e.h.ID(), wire.ProtoMailboxDevices); n != 1 {
		t.Fatalf("%d mailbox streams open from alice, want 1", n)
	}

	fetch := client.NewMailConn(bob, e.h.ID())
	defer fetch.Close()
	drain := func(what string, want int) {
		t.Helper()
		var after uint64
		var ack []uint64
		got := 0
		for {
			items, _, err := fetch.Fetch(ctx, bobT, after, 7, ack)
			if err != nil {
				t.Fatalf("%s: fetch: %v", what, err)
			}
			if len(items) == 0 {
				break
			}
			got += len(items)
			ack = ack[:0]
			for _, it := range items {
				ack = append(ack, it.Seq)
				after = it.Seq
			}
		}
		if got != want {
			t.Fatalf("%s: drained %d items, want %d", what, got, want)
		}
		if n := e.depthOf("bob"); n != 0 {
			t.Fatalf("%s: %d items left after draining with acks on fetches", what, n)
		}
	}
	drain("pipelined", senders*each)

	// The supernode restarts: the kept streams are reset; the next calls
	// go out on fresh ones.
	e.reopen()
	if _, err := put.Put(ctx, aliceT, e.box("bob"), itemN(0)); err != nil {
		t.Fatalf("put after the supernode restarted: %v", err)
	}
	drain("after a restart", 1)

	// A supernode of before ProtoMailboxStream: one request per stream,
	// fetches' acks ignored.
	old := sntest.Host(t)
	oldMB := e.mb
	l := pipeline.NewListener(nil)
	t.Cleanup(func() { l.Close() })
	legacy := &pipeline.Service[*wire.MailboxRequest, *wire.MailboxResponse]{
		Protocol: wire.ProtoMailbox, MaxRequest: wire.MaxMailboxFrame, Timeout: wire.MailboxTimeout,
		Auth: authenticator(e.authID, e.clock.Now, nil), Credentials: mailboxCredentials,
		Process: func(ctx context.Context, r *pipeline.Request[*wire.MailboxRequest]) (*wire.MailboxResponse, error) {
			if f := r.Msg.GetFetch(); f != nil {
				f.Ack = nil // unknown to it
			}
			return oldMB.process(ctx, r)
		},
		Refuse: refuseWith[*wire.MailboxRequest](mailFailed),
	}
	legacy.Attach(l, old)
	for _, h := range []host.Host{alice, bob} {
		if err := h.Connect(ctx, peer.AddrInfo{ID: old.ID(), Addrs: old.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	put2 := client.NewMailConn(alice, old.ID())
	defer put2.Close()
	for i := range 3 {
		if _, err := put2.Put(ctx, aliceT, e.box("bob"), itemN(i)); err != nil {
			t.Fatalf("put at an old supernode: %v", err)
		}
	}
	fetch = client.NewMailConn(bob, old.ID())
	defer fetch.Close()
	drain("at an old supernode", 3)
}

// streamsTo counts h's open streams of protocol pid to p.
func streamsTo(h host.Host, p peer.ID, pid string) int {
	n := 0
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if string(s.Protocol()) == pid {
				n++
			}
		}
	}
	return n
}

func TestMailConnClosed(t *testing.T) {
	e := newMailEnv(t, MailboxConfig{})
	alice, aliceT := e.client("alice")
	c := client.NewMailConn(alice, e.h.ID())
	if _, err := c.Put(sntest.Ctx(t), aliceT, e.box("bob"), itemN(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(sntest.Ctx(t), aliceT, e.box("bob"), itemN(2)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("put after Close: %v, want ErrClosed", err)
	}
	if n := goroutinesIn("client.(*mailStream).read("); n != 0 {
		t.Fatalf("%d stream readers outlived Close", n)
	}
}

// TestMailPipelinedCrash re-runs this test binary as a child holding a
// supernode's mailbox on a real host, with senders pipelining puts on kept
// streams and an owner draining with acks riding on its fetches; the child
// prints each put's seq once answered and each ack once the fetch carrying
// it is answered. The parent kills it with SIGKILL mid-run, with batches in
// flight, and checks that every answered put survived intact unless its
// ack was sent, and that no answered ack came undone.
func TestMailPipelinedCrash(t *testing.T) {
	if path := os.Getenv("ESERVER_MAILBOX_PIPE_CRASH_CHILD"); path != "" {
		mailPipeCrashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "mailbox.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMailPipelinedCrash$")
	cmd.Env = append(os.Environ(), "ESERVER_MAILBOX_PIPE_CRASH_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 800
	put := map[uint64]string{}
	acked := map[uint64]bool{}  // acks answered: gone for good
	acking := map[uint64]bool{} // acks sent: maybe gone
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		switch {
		case f[0] == "PUT" && len(f) == 3:
			put[seq] = f[2]
		case f[0] == "ACKING":
			acking[seq] = true
		case f[0] == "ACK":
			acked[seq] = true
		default:
			continue
		}
		if len(put) >= killAfter && len(acked) > 0 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before being killed (%d puts, %d acks)", len(put), len(acked))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}
	d, err := openMailDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for seq := range acked {
		var n int
		if err := d.db.QueryRow(`SELECT count(*) FROM mail WHERE seq = ?`, int64(seq)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("seq %d, whose ack was answered before SIGKILL, is back (%d, %v)", seq, n, err)
		}
	}
	for seq, want := range put {
		if acking[seq] {
			continue // its ack was sent: present or not, nothing answered is contradicted
		}
		var item []byte
		if err := d.db.QueryRow(`SELECT item FROM mail WHERE seq = ?`, int64(seq)).Scan(&item); err != nil {
			t.Fatalf("seq %d answered before SIGKILL is lost: %v", seq, err)
		}
		if string(bytes.TrimRight(item, "\x00")) != want {
			t.Fatalf("seq %d holds %q, answered for %q", seq, bytes.TrimRight(item, "\x00"), want)
		}
	}
	checkUsage(t, d)
	t.Logf("%d puts and %d acks answered before SIGKILL, all kept", len(put), len(acked))
}

// mailPipeCrashChild serves a mailbox on a host; 4 senders with 8 puts in
// flight each on one kept stream put items for "owner", who drains them
// with acks riding on fetches; it prints "PUT seq item" and "ACK seq" as
// they are answered, until killed.
func mailPipeCrashChild(t *testing.T, path string) {
	authKey := fixedKey(t, 1)
	auth := sntest.ID(t, authKey)
	m, err := NewMailbox(MailboxConfig{DBPath: path, AuthServer: auth, PutRate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	sn := sntest.Host(t)
	m.Attach(sn)
	ctx := context.Background()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	emit := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(w, format, args...)
		w.Flush()
		mu.Unlock()
	}
	user := func(name string) (*client.MailConn, *wire.SignedTicket) {
		h := sntest.Host(t)
		if err := h.Connect(ctx, peer.AddrInfo{ID: sn.ID(), Addrs: sn.Addrs()}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		return client.NewMailConn(h, sn.ID()), sntest.SignTicket(t, authKey, name, h.ID(), now, now.Add(wire.TicketLifetime))
	}
	box := client.MailboxID(auth, "owner")
	for s := range 4 {
		conn, st := user(fmt.Sprintf("sender%d", s))
		for g := range 8 {
			go func() {
				for i := 0; ; i++ {
					item := fmt.Sprintf("s%d-g%d-i%06d", s, g, i)
					seq, err := conn.Put(ctx, st, box, []byte(item))
					if err != nil {
						fmt.Fprintf(os.Stderr, "put: %v\n", err)
						os.Exit(1)
					}
					emit("PUT %d %s\n", seq, item)
				}
			}()
		}
	}
	conn, st := user("owner")
	go func() {
		var after uint64
		var ack []uint64
		for {
			// Announced before it is sent: an ack may be committed and
			// the process killed before its answer is printed.
			for _, seq := range ack {
				emit("ACKING %d\n", seq)
			}
			items, _, err := conn.Fetch(ctx, st, after, 16, ack)
			if err != nil {
				fmt.Fprintf(os.Stderr, "fetch: %v\n", err)
				os.Exit(1)
			}
			for _, seq := range ack {
				emit("ACK %d\n", seq)
			}
			ack = ack[:0]
			for _, it := range items {
				ack = append(ack, it.Seq)
				after = it.Seq
			}
		}
	}()
	select {}
}
