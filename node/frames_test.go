package node

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/internal/attack"
	"eserver/node/api"
	"eserver/node/wire"
)

// TestMessageStreamMemoryAttacks (issue 21, part 1): strangers who open
// message streams to a node and send partial frames, trickles or 2,000
// streams at once pin no more than its budget for inbound message frames,
// and a contact's message still arrives while they do.
func TestMessageStreamMemoryAttacks(t *testing.T) {
	attack.SkipUnderRace(t)
	if testing.Short() {
		t.Skip("runs three attacks on a node")
	}
	server := testServer(t)
	alice, bob := friends(t, server)
	sess, err := bob.current()
	if err != nil {
		t.Fatal(err)
	}
	h := sess.Libp2p()
	n := 0
	attack.Check(t, attack.Target{
		Server:   peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()},
		Protocol: wire.ProtoMsg, MaxFrame: wire.MaxMsgFrame,
		Budget: sess.delivery.InboundBudget(),
		Legit: func(t *testing.T) error {
			n++
			text := fmt.Sprintf("still here %d", n)
			if _, err := alice.Send(ctx(t), "bob", text); err != nil {
				return err
			}
			bob.waitFor("the message during the attack", func(e api.Event) bool { return e.Message != nil && e.Message.Text == text })
			return nil
		},
	})
}
