package rooms

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/internal/sntest"
)

// recorder is a joined member's stream as the home's write loop sees it:
// it keeps every write, and counts the deadlines set.
type recorder struct {
	network.Stream
	writes    [][]byte
	deadlines int
}

func (r *recorder) Write(b []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), b...))
	return len(b), nil
}

func (r *recorder) SetWriteDeadline(time.Time) error {
	r.deadlines++
	return nil
}

// TestWriteQueued: the events queued to a member go out in batches of at
// most wire.RoomWriteBatch bytes (an event larger than that alone), under
// a deadline set at the first write (and renewed at most once a second),
// and the member reads every event once, in queue order.
func TestWriteQueued(t *testing.T) {
	big := strings.Repeat("x", wire.RoomWriteBatch+100)
	tests := []struct {
		name  string
		texts []string
	}{
		{"one event", []string{"a"}},
		{"a full queue", func() []string {
			var out []string
			for i := range wire.RoomQueue {
				out = append(out, fmt.Sprintf("line %d %s", i, strings.Repeat("y", 500)))
			}
			return out
		}()},
		{"an event larger than a batch", []string{"before", big, "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue := make(chan frame, wire.RoomQueue)
			for _, s := range tt.texts {
				queue <- encodeEvent(&wire.RoomEvent{Kind: &wire.RoomEvent_Joined{Joined: s}})
			}
			rec := &recorder{}
			var w pusher
			for len(queue) > 0 {
				if err := w.writeQueued(rec, <-queue, queue); err != nil {
					t.Fatal(err)
				}
			}
			if rec.deadlines < 1 || rec.deadlines > len(rec.writes) || w.deadline.IsZero() {
				t.Errorf("%d deadlines for %d writes", rec.deadlines, len(rec.writes))
			}
			for i, w := range rec.writes {
				if len(w) > wire.RoomWriteBatch+wire.MaxRoomFrame {
					t.Errorf("write %d has %d bytes", i, len(w))
				}
			}
			if len(tt.texts) > 1 && len(rec.writes) >= len(tt.texts) && len(tt.texts[1]) < wire.RoomWriteBatch {
				t.Errorf("%d events in %d writes: not batched", len(tt.texts), len(rec.writes))
			}
			r := bytes.NewReader(bytes.Join(rec.writes, nil))
			for i, want := range tt.texts {
				var resp wire.RoomResponse
				if err := wire.ReadMsg(r, wire.MaxRoomFrame, &resp); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if got := resp.GetEvent().GetJoined(); got != want {
					t.Fatalf("event %d is %.20q, want %.20q", i, got, want)
				}
			}
			if r.Len() != 0 {
				t.Fatalf("%d bytes after the last event", r.Len())
			}
		})
	}
}

// TestBusyRoomBlocksNoOne: while a room's lock is held (as a busy room's
// send holds it across the store's transaction), the directory still
// answers with that room's members online, the online count reads, and
// others join another room; the count follows joins and leaves.
func TestBusyRoomBlocksNoOne(t *testing.T) {
	hm := newHome(t)
	alice, bob, carl := hm.member(t, "alice"), hm.member(t, "bob"), hm.member(t, "carl")
	for _, name := range []string{"busy", "quiet"} {
		if err := alice.createWith(name, "about "+name, room.Modes{Public: true}); err != nil {
			t.Fatal(err)
		}
	}
	alice.mustJoin("busy")
	bobSub := bob.mustJoin("busy")
	if n := hm.svc.Online("busy"); n != 2 {
		t.Fatalf("online %d, want 2", n)
	}

	m := hm.svc.membersOf("busy", false)
	m.mu.Lock()
	locked := true
	defer func() {
		if locked {
			m.mu.Unlock()
		}
	}()
	same(t, carl.mustList("", "", 10), "busy:2", "quiet:0")
	if n := hm.svc.Online("busy"); n != 2 {
		t.Fatalf("online %d under the room's lock, want 2", n)
	}
	carl.mustJoin("quiet")
	same(t, carl.mustList("", "", 10), "busy:2", "quiet:1")
	m.mu.Unlock()
	locked = false

	if err := bobSub.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := sntest.Ctx(t)
	for hm.svc.Online("busy") != 1 {
		// The home sees bob's stream end when its reader does.
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	same(t, carl.mustList("", "", 10), "busy:1", "quiet:1")
}
