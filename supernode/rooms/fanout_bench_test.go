package rooms

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

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
	hm := newHome(b)
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
	for i := range b.N {
		m := members[i%senders]
		s, err := room.SignMessage(m.key, m.st, &wire.RoomMessage{Room: "bench", Id: wire.NewID(), Author: m.user,
			TimeUnixMilli: hm.w.clock.Now().UnixMilli(), Text: "a message of about the size people write in a busy room, one line or two"})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i%senders] = append(msgs[i%senders], s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var got sync.WaitGroup
	got.Add(n)
	errs := make(chan error, n+senders)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, sub := range subs {
		go func() {
			defer got.Done()
			for seen := 0; seen < b.N; {
				ev, err := sub.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("after %d messages: %w", seen, err)
					return
				}
				if ev.GetMessage() != nil {
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
			for _, s := range msgs[i] {
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
}
