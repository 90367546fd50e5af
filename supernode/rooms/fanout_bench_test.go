package rooms

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// BenchmarkFanOut measures one home's fan-out: N members (libp2p hosts
// in this process, each its own TCP connection to the home on 127.0.0.1)
// joined to one room, 8 of them posting b.N messages in all at once; an
// op is one message received by every member. ROOMS_FANOUT_N sets N
// (default 200). Members and home share this process's CPU, so ns/op is
// the whole room's cost per message, the members' decoding included.
func BenchmarkFanOut(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("ROOMS_FANOUT_N")); err == nil && v > 0 {
		n = v
	}
	const senders = 8
	// The home takes any number of members: libp2p's default resource
	// manager would refuse connections past a few hundred (a supernode
	// sizes its own, supernode.ResourceLimits).
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.ConnectionManager(connmgr.NullConnMgr{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	hm := newHomeOn(b, h)
	owner := hm.member(b, "owner")
	owner.create("bench", room.Modes{FloodOff: true})
	members := make([]*member, n)
	subs := make([]*client.Subscription, n)
	for i := range members {
		members[i] = hm.member(b, fmt.Sprintf("m%04d", i))
		subs[i] = members[i].mustJoin("bench")
	}
	// Sign every message first: signing is the senders' cost, not the
	// home's.
	msgs := make([][]*wire.SignedRoomMessage, senders)
	index := make(map[string]int, b.N) // message signature → its number
	for i := range b.N {
		m := members[i%senders]
		s, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: "bench", Id: wire.NewID(), Author: m.user,
			TimeUnixMilli: hm.w.clock.Now().UnixMilli(), Text: "a message of about the size people write in a busy room, one line or two"})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i%senders] = append(msgs[i%senders], s)
		index[string(s.GetSignature())] = i
	}
	if len(index) != b.N {
		b.Fatal("signatures repeat")
	}
	// sentAt[i] is when message i's send began; last[r][i] when reader r
	// got it.
	sentAt := make([]time.Time, b.N)
	last := make([][]time.Time, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var got sync.WaitGroup
	got.Add(n)
	errs := make(chan error, n+senders)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for r, sub := range subs {
		last[r] = make([]time.Time, b.N)
		go func() {
			defer got.Done()
			for seen := 0; seen < b.N; {
				ev, err := sub.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("after %d messages: %w", seen, err)
					return
				}
				if m := ev.GetMessage(); m != nil {
					last[r][index[string(m.GetSignature())]] = time.Now()
					seen++
				}
			}
		}()
	}
	var sent sync.WaitGroup
	for i := range senders {
		sent.Add(1)
		go func() {
			defer sent.Done()
			m := members[i]
			for k, s := range msgs[i] {
				sentAt[k*senders+i] = time.Now()
				if err := client.SendRoomMessage(ctx, m.h, hm.h.ID(), m.st, s, nil); err != nil {
					errs <- fmt.Errorf("send: %w", err)
					return
				}
			}
		}()
	}
	sent.Wait()
	got.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "deliveries/s")
	// Fan-out of a message: its last receipt among all members, from the
	// start of its send.
	fan := make([]time.Duration, b.N)
	for i := range fan {
		for r := range last {
			fan[i] = max(fan[i], last[r][i].Sub(sentAt[i]))
		}
	}
	slices.Sort(fan)
	b.ReportMetric(float64(fan[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(fan[b.N*99/100].Microseconds())/1000, "p99-ms")
}
