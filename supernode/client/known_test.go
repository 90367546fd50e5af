package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// TestKnownEntry: an entry answered unchanged stands for what we hold only
// when we named its tag in this request and still hold that very entry
// with a ticket valid now; anything else — a rendezvous answering
// unchanged to a name we named no tag for, or with a tag we did not name,
// an entry replaced meanwhile, an expired ticket — is dropped. An
// unchanged entry without a tag (a rendezvous that predates all_devices)
// is the first tag we named. A sent entry that fails verification is not
// remembered.
func TestKnownEntry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	addr := ma.StringCast("/ip4/192.0.2.1/tcp/4001")
	found := func(expiry time.Time) Found {
		return Found{Username: "alice", Ticket: &ticket.Ticket{Username: "alice", Expiry: expiry}, Addrs: peer.AddrInfo{Addrs: []ma.Multiaddr{addr}}}
	}
	held := func(expiry time.Time) *Found { f := found(expiry); return &f }
	tagA, tagB := [wire.RendezvousTagSize]byte{1}, [wire.RendezvousTagSize]byte{2}
	both := append(tagB[:], tagA[:]...)
	unchanged := func(tag []byte) *wire.RendezvousResponse_Entry {
		return &wire.RendezvousResponse_Entry{Username: "alice", Unchanged: true, Tag: tag}
	}
	for _, tc := range []struct {
		name   string
		held   *Found
		heldAs [wire.RendezvousTagSize]byte
		sent   map[string][]byte
		entry  *wire.RendezvousResponse_Entry
		ok     bool
	}{
		{"we named the tag of what we hold", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": tagA[:]}, unchanged(tagA[:]), true},
		{"one of several tags we named", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": both}, unchanged(tagA[:]), true},
		{"an older rendezvous names no tag: our first", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": tagA[:]}, unchanged(nil), true},
		{"an older rendezvous, and our first is another", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": both}, unchanged(nil), false},
		{"we named no tag for the name", held(now.Add(time.Hour)), tagA, nil, unchanged(tagA[:]), false},
		{"a tag we did not name", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": tagB[:]}, unchanged(tagA[:]), false},
		{"a short tag", held(now.Add(time.Hour)), tagA, map[string][]byte{"alice": tagA[:]}, unchanged(tagA[:8]), false},
		{"we hold another entry now", held(now.Add(time.Hour)), tagB, map[string][]byte{"alice": tagA[:]}, unchanged(tagA[:]), false},
		{"we hold nothing", nil, tagA, map[string][]byte{"alice": tagA[:]}, unchanged(tagA[:]), false},
		{"the ticket we hold expired", held(now), tagA, map[string][]byte{"alice": tagA[:]}, unchanged(tagA[:]), false},
	} {
		c := Rendezvous{Known: &Known{}}
		if tc.held != nil {
			c.Known.put("alice", []knownEntry{{tag: tc.heldAs, found: *tc.held}})
		}
		ke, err := c.entry("", tc.entry, tc.sent, now)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %+v, %v", tc.name, ke, err)
			continue
		}
		if tc.ok {
			ke.found.Addrs.Addrs[0] = nil // the caller's copy
			ke.found.Ticket.Username = "mallory"
			if g, err := c.entry("", tc.entry, tc.sent, now); err != nil || g.found.Addrs.Addrs[0] == nil || g.found.Ticket.Username != "alice" {
				t.Errorf("%s: a caller's change reached what is remembered: %+v, %v", tc.name, g, err)
			}
		}
	}

	c := Rendezvous{Known: &Known{}}
	bad := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: &wire.SignedTicket{Ticket: []byte("x"), Signature: []byte("y")}}
	if _, err := c.entry("", bad, nil, now); err == nil {
		t.Fatal("a forged entry verified")
	}
	if c.Known.appendTags(nil, "alice") != nil {
		t.Fatal("a forged entry was remembered")
	}
}

// TestEntryDevices: a device list an entry carries must verify and be the
// entry's user's, or the entry is dropped; its tag covers the list, and an
// entry without one has the tag it had before lists existed.
func TestEntryDevices(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	authKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := peer.IDFromPrivateKey(authKey)
	if err != nil {
		t.Fatal(err)
	}
	devKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := peer.IDFromPrivateKey(devKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ticket.Sign(authKey, ticket.Ticket{Username: "alice", Peer: dev, Device: "laptop", Issued: now, Expiry: now.Add(time.Hour), Role: ticket.RoleNode})
	if err != nil {
		t.Fatal(err)
	}
	_, account, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	list := func(user string, version uint64) *wire.SignedAccountDevices {
		sd, err := ticket.SignDevices(account, ticket.Devices{Username: user, Version: version, Issued: now, Devices: []ticket.Device{{Peer: dev, Added: now}}})
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	good := list("alice", 1)
	forged := &wire.SignedAccountDevices{Devices: good.Devices, Signature: append([]byte{good.Signature[0] ^ 1}, good.Signature[1:]...)}
	for _, tc := range []struct {
		name    string
		devices *wire.SignedAccountDevices
		ok      bool
	}{
		{"no list", nil, true},
		{"the user's list", good, true},
		{"a bad signature", forged, false},
		{"another user's list", list("bob", 1), false},
	} {
		c := Rendezvous{Known: &Known{}}
		e := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: st, Devices: tc.devices}
		ke, err := c.entry(server, e, nil, now)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.ok && (ke.devices == nil) != (tc.devices == nil) {
			t.Errorf("%s: list %+v", tc.name, ke.devices)
		}
	}
	plain := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: st}
	with := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: st, Devices: good}
	newer := &wire.RendezvousResponse_Entry{Username: "alice", Ticket: st, Devices: list("alice", 2)}
	if EntryTag(plain) == EntryTag(with) || EntryTag(with) == EntryTag(newer) {
		t.Fatal("the tag does not cover the device list")
	}
	// Without a list, the parts (and so the tag) older clients hash.
	h := sha256.New()
	for _, part := range [][]byte{[]byte("eserver-rendezvous-entry-v1"), []byte("alice"), st.Ticket, st.Signature, nil, nil, nil} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write(part)
	}
	if tag := EntryTag(plain); string(tag[:]) != string(h.Sum(nil)[:wire.RendezvousTagSize]) {
		t.Fatal("an entry without a list has another tag than before lists")
	}
}

// FuzzLookupAnswer feeds arbitrary bytes, as a rendezvous's lookup answer,
// to what the client makes of it (collect), holding a Known with one entry
// of alice's that the asker named: whatever they are, every user returned
// was asked for, has between one and wire.MaxAccountDevices distinct
// devices, each verified for that username, and a list only of its own.
func FuzzLookupAnswer(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	authKey, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	server, err := peer.IDFromPrivateKey(authKey)
	if err != nil {
		f.Fatal(err)
	}
	var sts []*wire.SignedTicket
	var peers []peer.ID
	for i := range 2 {
		k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{byte(2 + i)}, 64)))
		if err != nil {
			f.Fatal(err)
		}
		p, err := peer.IDFromPrivateKey(k)
		if err != nil {
			f.Fatal(err)
		}
		st, err := ticket.Sign(authKey, ticket.Ticket{Username: "alice", Peer: p, Device: "d", Issued: now, Expiry: now.Add(time.Hour), Role: ticket.RoleNode})
		if err != nil {
			f.Fatal(err)
		}
		sts, peers = append(sts, st), append(peers, p)
	}
	list, err := ticket.SignDevices(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32)), ticket.Devices{
		Username: "alice", Version: 1, Issued: now, Devices: []ticket.Device{{Peer: peers[0], Added: now}, {Peer: peers[1], Added: now}}})
	if err != nil {
		f.Fatal(err)
	}
	held := [wire.RendezvousTagSize]byte{9}
	enc := func(es ...*wire.RendezvousResponse_Entry) []byte {
		b, err := proto.Marshal(&wire.RendezvousResponse{Entries: es})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(enc(&wire.RendezvousResponse_Entry{Username: "alice", Ticket: sts[0], Devices: list}, &wire.RendezvousResponse_Entry{Username: "alice", Ticket: sts[1]}))
	f.Add(enc(&wire.RendezvousResponse_Entry{Username: "alice", Ticket: sts[0]}, &wire.RendezvousResponse_Entry{Username: "alice", Ticket: sts[0]}))
	f.Add(enc(&wire.RendezvousResponse_Entry{Username: "alice", Unchanged: true, Tag: held[:]}, &wire.RendezvousResponse_Entry{Username: "bob", Ticket: sts[1]}))
	f.Add(enc(&wire.RendezvousResponse_Entry{Username: "alice", Unchanged: true}, &wire.RendezvousResponse_Entry{Username: "alice", Ticket: sts[1], Devices: &wire.SignedAccountDevices{Devices: []byte("x")}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp wire.RendezvousResponse
		if proto.Unmarshal(data, &resp) != nil {
			return
		}
		c := Rendezvous{Known: &Known{}}
		c.Known.put("alice", []knownEntry{{tag: held, found: Found{Username: "alice", Ticket: &ticket.Ticket{Username: "alice", Peer: peers[1], Expiry: now.Add(time.Hour)}}}})
		users := c.collect(server, []string{"alice", "carol"}, resp.GetEntries(), map[string][]byte{"alice": held[:]}, now)
		for _, u := range users {
			if u.Username != "alice" && u.Username != "carol" {
				t.Fatalf("a user not asked for: %q", u.Username)
			}
			if len(u.Devices) == 0 || len(u.Devices) > wire.MaxAccountDevices {
				t.Fatalf("%q with %d devices", u.Username, len(u.Devices))
			}
			seen := map[peer.ID]bool{}
			for _, d := range u.Devices {
				if d.Username != u.Username || d.Ticket.Username != u.Username || seen[d.Ticket.Peer] {
					t.Fatalf("%q: device %+v", u.Username, d)
				}
				seen[d.Ticket.Peer] = true
			}
			if u.List != nil && u.List.Username != u.Username {
				t.Fatalf("%q with the list of %q", u.Username, u.List.Username)
			}
		}
	})
}
