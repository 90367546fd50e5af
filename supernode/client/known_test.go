package client

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// TestKnownEntry: an entry answered unchanged stands for what we hold only
// when we named its tag in this request and still hold that very entry
// with a ticket valid now; anything else — a rendezvous answering
// unchanged to a name we named no tag for, an entry replaced meanwhile, an
// expired ticket — is dropped. A sent entry that fails verification is not
// remembered.
func TestKnownEntry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	addr := ma.StringCast("/ip4/192.0.2.1/tcp/4001")
	found := func(expiry time.Time) Found {
		return Found{Username: "alice", Ticket: &ticket.Ticket{Username: "alice", Expiry: expiry}, Addrs: peer.AddrInfo{Addrs: []ma.Multiaddr{addr}}}
	}
	held := func(expiry time.Time) *Found { f := found(expiry); return &f }
	tagA, tagB := [wire.RendezvousTagSize]byte{1}, [wire.RendezvousTagSize]byte{2}
	unchanged := &wire.RendezvousResponse_Entry{Username: "alice", Unchanged: true}
	for _, tc := range []struct {
		name   string
		held   *Found
		heldAs [wire.RendezvousTagSize]byte
		sent   map[string][]byte
		ok     bool
	}{
		{"we named the tag of what we hold", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": tagA[:]}, true},
		{"we named no tag for the name", held(now.Add(time.Hour)), tagA, nil, false},
		{"we hold another entry now", held(now.Add(time.Hour)), tagB, map[string][]byte{"alice": tagA[:]}, false},
		{"we hold nothing", nil, tagA, map[string][]byte{"alice": tagA[:]}, false},
		{"the ticket we hold expired", held(now), tagA, map[string][]byte{"alice": tagA[:]}, false},
	} {
		c := Rendezvous{Known: &Known{}}
		if tc.held != nil {
			c.Known.put("alice", tc.heldAs, *tc.held)
		}
		f, err := c.entry("", unchanged, tc.sent, now)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %+v, %v", tc.name, f, err)
			continue
		}
		if tc.ok {
			f.Addrs.Addrs[0] = nil // the caller's copy
			f.Ticket.Username = "mallory"
			if g, err := c.entry("", unchanged, tc.sent, now); err != nil || g.Addrs.Addrs[0] == nil || g.Ticket.Username != "alice" {
				t.Errorf("%s: a caller's change reached what is remembered: %+v, %v", tc.name, g, err)
			}
		}
	}

	c := Rendezvous{Known: &Known{}}
	bad := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: &wire.SignedTicket{Ticket: []byte("x"), Signature: []byte("y")}}
	if _, err := c.entry("", bad, nil, now); err == nil {
		t.Fatal("a forged entry verified")
	}
	if c.Known.tag("alice") != nil {
		t.Fatal("a forged entry was remembered")
	}
}
