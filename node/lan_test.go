package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
)

// TestLANDiscovery: bob's device moved (new addresses) and the supernodes
// know nothing of it; alice learns where he is from a LAN announcement and
// reaches him. A stranger's announcement changes nothing.
func TestLANDiscovery(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	alice, bob := friends(t, server)
	as, _ := alice.current()
	bs, _ := bob.current()

	// No rendezvous any more, and alice forgets every address she had for
	// bob: only the LAN can tell her where he is now.
	svc.Rendezvous.Close()
	as.host.Network().ClosePeer(bs.host.ID())
	as.host.Peerstore().ClearAddrs(bs.host.ID())
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	// And bob has seen alice go: a node answers a contact's presence with
	// its own only when it had the contact offline, so were alice's
	// disconnection still on its way to bob when her presence arrives, he
	// would not answer and she would never see him online.
	bob.waitContact("alice", api.RelationAccepted, api.StatusOffline)

	stranger := peer.AddrInfo{ID: "12D3KooWStrangerStrangerStrangerStrangerStrangerStr", Addrs: bs.host.Addrs()}
	as.discovery.FoundOnLAN(stranger)
	if len(as.host.Peerstore().Addrs(stranger.ID)) != 0 {
		t.Fatal("a stranger's LAN announcement was kept")
	}

	as.discovery.FoundOnLAN(peer.AddrInfo{ID: bs.host.ID(), Addrs: bs.host.Addrs()})
	alice.waitContact("bob", api.RelationAccepted, api.StatusOnline)
	if _, err := alice.Send(ctx(t), "bob", "found you on the LAN"); err != nil {
		t.Fatal(err)
	}
	if got := bob.collect("alice", 1); got[0].Text != "found you on the LAN" {
		t.Fatalf("bob got %q", got[0].Text)
	}
}
