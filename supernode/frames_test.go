package supernode

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/internal/attack"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestMemoryAttacks (issue 21, part 1): strangers who open streams and send
// frames claiming each protocol's largest size — stalling before the last
// byte, trickling, or 2,000 streams at once — pin no more than the
// service's request budget, and a legitimate request of a ticket holder
// still gets its answer while they do. Before, each such stream held the
// claimed length (1 MiB for contacts and mailbox) until its deadline.
func TestMemoryAttacks(t *testing.T) {
	attack.SkipUnderRace(t)
	if testing.Short() {
		t.Skip("sends a few hundred MB through loopback")
	}
	authKey := sntest.Key(t)
	res, err := SupernodeResources(0)
	if err != nil {
		t.Fatal(err)
	}
	snh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), res)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snh.Close() })
	svc, err := StartServices(snh, ServicesConfig{AuthServer: sntest.ID(t, authKey), MailboxDB: filepath.Join(t.TempDir(), "mailbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	sn := peer.AddrInfo{ID: snh.ID(), Addrs: snh.Addrs()}
	user := sntest.Host(t)
	if err := user.Connect(sntest.Ctx(t), sn); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := sntest.SignTicket(t, authKey, "alice", user.ID(), now, now.Add(time.Hour))
	bob := client.MailboxID(sntest.ID(t, authKey), "bob")

	for _, tt := range []struct {
		name   string
		pid    protocol.ID
		max    int
		budget *pipeline.Budget
		legit  func(ctx context.Context) error
	}{
		{"contacts", wire.ProtoContacts, wire.MaxContactsFrame, svc.Contacts.rpc.Budget, func(ctx context.Context) error {
			_, _, _, err := client.GetContacts(ctx, user, sn.ID, st)
			return err
		}},
		{"mailbox", wire.ProtoMailbox, wire.MaxMailboxFrame, svc.Mailbox.rpc.Budget, func(ctx context.Context) error {
			_, err := client.PutMail(ctx, user, sn.ID, st, bob, client.Pad([]byte("hi bob")))
			return err
		}},
		{"prekeys", wire.ProtoPrekeys, wire.MaxPrekeysFrame, svc.Prekeys.rpc.Budget, func(ctx context.Context) error {
			_, err := client.PrekeysStatus(ctx, user, sn.ID, st)
			return err
		}},
		{"rooms", wire.ProtoRoom, wire.MaxRoomRequest, svc.Rooms.Budget(), func(ctx context.Context) error {
			_, err := client.RoomBacklog(ctx, user, sn.ID, st, "lounge", 0)
			return err
		}},
		{"rendezvous", wire.ProtoRendezvous, wire.MaxRendezvousFrame, svc.Rendezvous.rpc.Budget, func(ctx context.Context) error {
			_, err := client.Lookup(ctx, user, sn.ID, st, []string{"bob"})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			attack.Check(t, attack.Target{Server: sn, Protocol: tt.pid, MaxFrame: tt.max, Budget: tt.budget,
				Legit: func(t *testing.T) error { return tt.legit(sntest.Ctx(t)) }})
		})
	}
}
