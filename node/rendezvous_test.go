package node

import (
	"crypto/ed25519"
	"testing"

	"eserver/supernode/client"
)

// TestRendezvousDeviceList: a node publishes its account's signed device
// list with its record, and a contact's lookup at the node's homes gets
// it, signed by the identity the contact pins, naming the device.
func TestRendezvousDeviceList(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	as, _ := alice.current()
	bs, _ := bob.current()
	key := as.identity.Key()
	if key == nil {
		t.Fatal("alice has no account identity")
	}
	as.discovery.Republish()
	waitUntil(t, "alice's list at her homes", func() bool {
		for _, home := range bs.discovery.HomesOf("alice") {
			if bs.discovery.Connect(ctx(t), home) != nil {
				continue
			}
			us, err := client.Rendezvous{Tokens: bs.contacts.Tokens()}.LookupDevices(ctx(t), bs.host, home.ID, bs.tk().Signed, []string{"alice"})
			if err != nil || len(us) != 1 || us[0].List == nil {
				continue
			}
			l := us[0].List
			return l.AccountKey.Equal(key.Public().(ed25519.PublicKey)) && l.Has(as.host.ID()) && us[0].Devices[0].Ticket.Peer == as.host.ID()
		}
		return false
	})
}
