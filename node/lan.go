package node

import (
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
func (s *session) startLAN() {
	svc := mdns.NewMdnsService(s.host, mdnsService, lanNotifee{s})
	if err := svc.Start(); err != nil {
		s.n.log.Info("LAN discovery unavailable", "err", err)
		return
	}
	s.goTracked(func() {
		<-s.ctx.Done()
		svc.Close()
	})
}

type lanNotifee struct{ s *session }

// HandlePeerFound is called by mDNS for every node announcing itself.
func (l lanNotifee) HandlePeerFound(ai peer.AddrInfo) {
	l.s.foundOnLAN(ai)
}

// foundOnLAN remembers a contact's LAN addresses and greets it.
func (s *session) foundOnLAN(ai peer.AddrInfo) {
	if s.ctx.Err() != nil || ai.ID == s.host.ID() {
		return
	}
	username := s.contactOf(ai.ID)
	if username == "" {
		return // not a device we know: ignored
	}
	c, err := s.store.Contact(username)
	if err != nil || api.Relation(c.Relation) == api.RelationBlocked {
		return
	}
	s.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, lanAddrTTL)
	s.n.log.Debug("contact found on the LAN", "contact", username, "addrs", ai.Addrs)
	if api.Relation(c.Relation) == api.RelationAccepted {
		s.presence.SendTo(username) // it answers with its own
	}
	s.courierFor(username).poke()
}
