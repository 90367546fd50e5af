package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/internal/benchproc"
	"eserver/node/room"
	"eserver/node/wire"
	snclient "eserver/supernode/client"
)

// reply is a worker's answer to one command.
type reply struct {
	Retries int `json:"retries,omitempty"` // connect: dials repeated after a timeout

	// run: the messages this worker sent (their sequence numbers and send
	// times, Unix ns), refusals, and latencies of sends, pings and joins.
	Seqs         []int   `json:"seqs,omitempty"`
	At           []int64 `json:"at,omitempty"`
	SendErrs     int     `json:"sendErrs,omitempty"`
	FirstSendErr string  `json:"firstSendErr,omitempty"`
	Send         []int64 `json:"send,omitempty"`
	Ping         []int64 `json:"ping,omitempty"`
	Join         []int64 `json:"join,omitempty"`
	JoinErrs     int     `json:"joinErrs,omitempty"`
	FirstJoinErr string  `json:"firstJoinErr,omitempty"`

	// receipts and collect: what this worker's members received.
	Receipts int64   `json:"receipts,omitempty"`
	Latest   []int64 `json:"latest,omitempty"` // by sequence number: the last receipt, Unix ns
	Count    []int32 `json:"count,omitempty"`  // by sequence number: members that received it
	Bad      int     `json:"bad,omitempty"`    // messages that did not decode or verify
	Dups     int64   `json:"dups,omitempty"`   // messages a member received again
	// By the index of the members' home in the room's order: first
	// receipts and receipts again (which home fails its members).
	ByHome     []int64        `json:"byHome,omitempty"`
	DupsByHome []int64        `json:"dupsByHome,omitempty"`
	Ended      map[string]int `json:"ended,omitempty"` // joined streams the home ended, by reason
}

// plan is the "run" command's argument: when and how fast to send.
type plan struct {
	Start    int64   `json:"start"` // Unix ns of message 0
	Rate     float64 `json:"rate"`  // messages per second, all workers together
	Msgs     int     `json:"msgs"`
	Duration int64   `json:"duration"` // ns
	PingRate float64 `json:"pingRate"` // all workers together
	Joins    int     `json:"joins"`    // all workers together
}

// member is one simulated member.
type member struct {
	i    int
	name string
	h    host.Host
	key  crypto.PrivKey
	st   *wire.SignedTicket
	home peer.ID
	sub  *snclient.Subscription
	// seen marks the messages this member received, by sequence number:
	// only a first receipt counts. Only its reader touches it.
	seen []uint64
}

// worker runs members [lo, hi) and joiners [jlo, jhi).
type worker struct {
	ctx     context.Context
	authID  peer.ID
	members []*member
	joiners []*member
	// Receipts by message sequence number, over this worker's members.
	latest   []atomic.Int64
	count    []atomic.Int32
	receipts atomic.Int64
	bad      atomic.Int64
	dups     atomic.Int64
	byHome   []atomic.Int64 // first receipts, by the member's home index
	dupsHome []atomic.Int64
	mu       sync.Mutex
	ended    map[string]int
	readers  sync.WaitGroup
}

// workerGCPercent is the workers' GOGC.
const workerGCPercent = 800

func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	index := fs.Int("index", 0, "this worker's number")
	workers := fs.Int("workers", 1, "workers")
	lo := fs.Int("lo", 0, "first member here")
	hi := fs.Int("hi", 0, "last member here, exclusive")
	jlo := fs.Int("jlo", 0, "first joiner here")
	jhi := fs.Int("jhi", 0, "last joiner here, exclusive")
	members := fs.Int("members", 0, "members over all workers (joiners are numbered after them)")
	homesArg := fs.String("homes", "", "the room's homes, comma-separated, primary first")
	msgs := fs.Int("msgs", 0, "messages the run sends")
	addrs := fs.Int("addrs", 32, "loopback addresses")
	verify := fs.Int("verify", 1, "members that verify every message")
	setupConc := fs.Int("setup-conc", 32, "concurrent connects and joins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	auth, err := benchproc.AuthFromEnv(envAuthKey)
	if err != nil {
		return err
	}
	// A worker holds hundreds of libp2p hosts, whose heap the collector
	// would otherwise mark again every few megabytes of decoded events:
	// the load generator spends memory (this machine has plenty) rather
	// than the CPU it shares with the homes under test. The homes keep
	// the default, as a production supernode does.
	debug.SetGCPercent(workerGCPercent)
	var homes []peer.AddrInfo
	for _, a := range strings.Split(*homesArg, ",") {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return err
		}
		homes = append(homes, *ai)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{ctx: ctx, authID: auth.ID, latest: make([]atomic.Int64, *msgs), count: make([]atomic.Int32, *msgs), ended: map[string]int{},
		byHome: make([]atomic.Int64, len(homes)), dupsHome: make([]atomic.Int64, len(homes))}
	mk := func(i int) *member { return &member{i: i, name: fmt.Sprintf("m%06d", i), home: homes[i%len(homes)].ID} }
	for i := *lo; i < *hi; i++ {
		w.members = append(w.members, mk(i))
	}
	for i := *jlo; i < *jhi; i++ {
		w.joiners = append(w.joiners, mk(i))
	}
	all := append(append([]*member(nil), w.members...), w.joiners...)
	defer func() {
		cancel()
		for _, m := range all {
			if m.sub != nil {
				_ = m.sub.Close()
			}
		}
		w.readers.Wait()
		for _, m := range all {
			if m.h != nil {
				_ = m.h.Close()
			}
		}
	}()

	return benchproc.Serve(os.Stdin, os.Stdout, "", func(cmd, arg string) (any, error) {
		switch cmd {
		case "connect":
			var retries atomic.Int64
			err := benchproc.Parallel(len(all), *setupConc, func(j int) error {
				m := all[j]
				return m.connect(ctx, auth.Key, homes[m.i%len(homes)], fmt.Sprintf("127.0.0.%d", 2+m.i%*addrs), &retries)
			})
			return reply{Retries: int(retries.Load())}, err
		case "join":
			return nil, benchproc.Parallel(len(w.members), *setupConc, func(j int) error {
				m := w.members[j]
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				sub, err := snclient.JoinRoom(cctx, m.h, m.home, m.st, roomName, "", nil)
				if err != nil {
					return fmt.Errorf("member %d joining: %w", m.i, err)
				}
				m.sub = sub
				w.readers.Add(1)
				go w.read(m, j < *verify, true)
				return nil
			})
		case "run":
			var p plan
			if err := json.Unmarshal([]byte(arg), &p); err != nil {
				return nil, err
			}
			return w.run(p, *index, *workers, *jlo-*members), nil
		case "receipts":
			return reply{Receipts: w.receipts.Load()}, nil
		case "collect":
			r := reply{Latest: make([]int64, len(w.latest)), Count: make([]int32, len(w.count)), Bad: int(w.bad.Load()), Dups: w.dups.Load()}
			for i := range w.latest {
				r.Latest[i], r.Count[i] = w.latest[i].Load(), w.count[i].Load()
			}
			for i := range w.byHome {
				r.ByHome, r.DupsByHome = append(r.ByHome, w.byHome[i].Load()), append(r.DupsByHome, w.dupsHome[i].Load())
			}
			w.mu.Lock()
			r.Ended = w.ended
			w.mu.Unlock()
			return r, nil
		case "quit":
			return nil, benchproc.ErrQuit
		}
		return nil, fmt.Errorf("unknown command %q", cmd)
	})
}

// connect makes the member's host and ticket and connects it to its home;
// a dial that times out while hundreds of others are handshaking is
// retried, and counted.
func (m *member) connect(ctx context.Context, authKey crypto.PrivKey, home peer.AddrInfo, ip string, retries *atomic.Int64) error {
	h, err := benchproc.NewHost(ip, true)
	if err != nil {
		return err
	}
	m.h, m.key = h, h.Peerstore().PrivKey(h.ID())
	if m.st, err = benchproc.SignTicket(authKey, m.name, device, h); err != nil {
		return err
	}
	for try := range 4 {
		if try > 0 {
			retries.Add(1)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = h.Connect(cctx, home)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("member %d to %s: %w", m.i, home.ID, err)
}

// read takes the events of m's joined stream until it ends. A recording
// member notes when each message arrived; a verifying one also checks its
// signature and ticket. A member dropped as lagging joins again naming
// the last position it saw, as a node does, and reads on from there.
func (w *worker) read(m *member, verify, record bool) {
	defer w.readers.Done()
	sub := m.sub
	defer func() { _ = sub.Close() }()
	var last uint64
	for {
		ev, err := sub.Next(w.ctx)
		if err != nil {
			if w.ctx.Err() != nil {
				return
			}
			why := "error"
			if errors.Is(err, snclient.ErrRoomEnded) {
				why = err.Error()[strings.LastIndex(err.Error(), ": ")+2:]
			}
			if why == "lagging" {
				_ = sub.Close()
				if again, err := w.rejoin(m, last); err == nil {
					sub = again
					why = "lagging (caught up on rejoining)"
				}
			}
			w.mu.Lock()
			w.ended[why]++
			w.mu.Unlock()
			if why == "lagging (caught up on rejoining)" {
				continue
			}
			return
		}
		last = max(last, ev.Position)
		sm := ev.GetMessage()
		if sm == nil || !record {
			continue
		}
		at := time.Now().UnixNano()
		var msg wire.RoomMessage
		if err := proto.Unmarshal(sm.Message, &msg); err != nil {
			w.bad.Add(1)
			continue
		}
		if verify {
			if _, err := room.VerifyMessage(sm, time.Now(), room.Checks{Server: w.authID}); err != nil {
				w.bad.Add(1)
				continue
			}
		}
		seq, err := strconv.Atoi(strings.TrimPrefix(msg.Id, "m"))
		if err != nil || seq < 0 || seq >= len(w.latest) {
			w.bad.Add(1)
			continue
		}
		if m.seen == nil {
			m.seen = make([]uint64, (len(w.latest)+63)/64)
		}
		bit := uint64(1) << (seq % 64)
		if m.seen[seq/64]&bit != 0 {
			w.dups.Add(1)
			w.dupsHome[m.i%len(w.byHome)].Add(1)
			continue
		}
		m.seen[seq/64] |= bit
		for {
			old := w.latest[seq].Load()
			if old >= at || w.latest[seq].CompareAndSwap(old, at) {
				break
			}
		}
		w.count[seq].Add(1)
		w.receipts.Add(1)
		w.byHome[m.i%len(w.byHome)].Add(1)
	}
}

// rejoin joins m to the room again after position after, at its home,
// trying a few times.
func (w *worker) rejoin(m *member, after uint64) (*snclient.Subscription, error) {
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(w.ctx, wire.RoomTimeout)
		var sub *snclient.Subscription
		sub, err = snclient.JoinRoomAfter(ctx, m.h, m.home, m.st, roomName, "", nil, after)
		cancel()
		if err == nil {
			return sub, nil
		}
	}
	return nil, err
}

// run sends this worker's share of the messages on schedule (message k at
// Start + k/Rate, by worker k mod workers, from its members in turn), pings
// the homes on schedule, and joins its joiners spread over the middle 80 %
// of the sends, all at once; it returns when all are done.
func (w *worker) run(p plan, index, workers, firstJoin int) reply {
	var r reply
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Unix(0, p.Start)
	at := func(sec float64) time.Time { return start.Add(time.Duration(sec * 1e9)) }
	wait := func(t time.Time) { time.Sleep(time.Until(t)) }
	text := strings.Repeat("a room message of about a hundred and sixty bytes, as people write them. ", 3)[:160]

	wg.Go(func() {
		for k := index; k < p.Msgs; k += workers {
			wait(at(float64(k) / p.Rate))
			m := w.members[(k/workers)%len(w.members)]
			wg.Go(func() {
				t := time.Now()
				err := m.send(w.ctx, k, text)
				d := time.Since(t)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					r.SendErrs++
					r.FirstSendErr = cmp(r.FirstSendErr, err.Error())
					return
				}
				r.Seqs, r.At, r.Send = append(r.Seqs, k), append(r.At, t.UnixNano()), append(r.Send, int64(d))
			})
		}
	})
	wg.Go(func() {
		for j := index; float64(j)/p.PingRate < time.Duration(p.Duration).Seconds(); j += workers {
			wait(at(float64(j) / p.PingRate))
			m := w.members[(j/workers)%len(w.members)]
			wg.Go(func() {
				t := time.Now()
				err := benchproc.PingOnce(w.ctx, m.h, m.home)
				d := time.Since(t)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					r.Ping = append(r.Ping, int64(d))
				}
			})
		}
	})
	secs := time.Duration(p.Duration).Seconds()
	for j, m := range w.joiners {
		g := firstJoin + j // this joiner's number among all
		wg.Go(func() {
			wait(at(secs * (0.1 + 0.8*float64(g)/float64(p.Joins))))
			t := time.Now()
			err := w.join(m)
			d := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.JoinErrs++
				r.FirstJoinErr = cmp(r.FirstJoinErr, err.Error())
				return
			}
			r.Join = append(r.Join, int64(d))
		})
	}
	wg.Wait()
	return r
}

// send posts message k, signed by m's device.
func (m *member) send(ctx context.Context, k int, text string) error {
	sm, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: roomName, Id: "m" + strconv.Itoa(k), Author: m.name,
		TimeUnixMilli: time.Now().UnixMilli(), Text: text})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wire.RoomTimeout)
	defer cancel()
	return snclient.SendRoomMessage(ctx, m.h, m.home, m.st, sm, nil)
}

// join is what a node does before it shows a room it found in the
// directory: look it up, join (the stream opens first so nothing is
// missed), read and verify the chain, read and verify the backlog. The
// joiner then stays, reading its stream without recording it.
func (w *worker) join(m *member) error {
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	found, err := snclient.ListRooms(ctx, m.h, m.home, m.st, roomName, "", 10)
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	listed := false
	for _, e := range found {
		listed = listed || e.Room == roomName
	}
	if !listed {
		return fmt.Errorf("the directory does not list %s", roomName)
	}
	sub, err := snclient.JoinRoom(ctx, m.h, m.home, m.st, roomName, "", nil)
	if err != nil {
		return fmt.Errorf("joining: %w", err)
	}
	var ops []*wire.SignedRoomOp
	for more := true; more; {
		var page []*wire.SignedRoomOp
		if page, more, err = snclient.RoomOpsSince(ctx, m.h, m.home, m.st, roomName, uint64(len(ops))); err != nil {
			_ = sub.Close()
			return fmt.Errorf("reading the chain: %w", err)
		}
		ops = append(ops, page...)
	}
	checks := room.Checks{Server: w.authID}
	if _, err := room.Replay(roomName, ops, time.Now(), checks); err != nil {
		_ = sub.Close()
		return fmt.Errorf("the chain: %w", err)
	}
	backlog, err := snclient.RoomBacklog(ctx, m.h, m.home, m.st, roomName, 0)
	if err != nil {
		_ = sub.Close()
		return fmt.Errorf("reading the backlog: %w", err)
	}
	for _, sm := range backlog {
		if _, err := room.VerifyMessage(sm, time.Now(), checks); err != nil {
			_ = sub.Close()
			return fmt.Errorf("the backlog: %w", err)
		}
	}
	w.mu.Lock()
	m.sub = sub
	w.mu.Unlock()
	w.readers.Add(1)
	go w.read(m, false, false)
	return nil
}
