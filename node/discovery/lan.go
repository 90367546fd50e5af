package discovery

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"eserver/node/api"
)

// LAN discovery: nodes announce themselves with mDNS, so two contacts on
// one network find each other's addresses without asking any supernode.
// What mDNS tells is only a hint: the peer still proves who it is with its
// ticket in the message protocol's Hello, and strangers' announcements are
// ignored.

// mdnsService is the DNS-SD service name EServer nodes announce.
const mdnsService = "_eserver-node._udp"

// lanAddrTTL is how long addresses learnt on the LAN are kept.
const lanAddrTTL = 10 * time.Minute

// startLAN announces this node on the LAN and listens for contacts.
func (d *Discovery) startLAN() {
	svc := mdns.NewMdnsService(d.h.Libp2p(), mdnsService, lanNotifee{d})
	if err := svc.Start(); err != nil {
		d.h.Log().Info("LAN discovery unavailable", "err", err)
		return
	}
	d.tasks.Go(func(ctx context.Context) {
		<-ctx.Done()
		svc.Close()
	})
}

type lanNotifee struct{ d *Discovery }

// HandlePeerFound is called by mDNS for every node announcing itself.
func (l lanNotifee) HandlePeerFound(ai peer.AddrInfo) {
	l.d.FoundOnLAN(ai)
}

// FoundOnLAN remembers a contact's LAN addresses and greets it.
func (d *Discovery) FoundOnLAN(ai peer.AddrInfo) {
	h := d.h.Libp2p()
	if d.ctx().Err() != nil || ai.ID == h.ID() {
		return
	}
	username := d.h.ContactOf(ai.ID)
	if username == "" {
		return // not a device we know: ignored
	}
	c, err := d.h.Store().Contact(username)
	if err != nil || api.Relation(c.Relation) == api.RelationBlocked {
		return
	}
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, lanAddrTTL)
	d.h.Log().Debug("contact found on the LAN", "contact", username, "addrs", ai.Addrs)
	if api.Relation(c.Relation) == api.RelationAccepted {
		d.h.Greet(username) // it answers with its own
	}
	d.h.Poke(username)
}
