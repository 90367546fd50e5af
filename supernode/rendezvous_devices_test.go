package supernode

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// Issue 17: one account on several devices. The rendezvous keeps an entry
// per (username, device) and answers them all, newest first.

// device is one signed-in device of a user: its host and its ticket.
type device struct {
	h  host.Host
	st *wire.SignedTicket
}

func (d device) id() peer.ID { return d.h.ID() }

// device signs user in on a new host whose ticket expires after life.
func (e *env) device(user string, life time.Duration) device {
	e.t.Helper()
	h := sntest.Host(e.t)
	h.Peerstore().AddAddrs(e.rvh.ID(), e.rvh.Addrs(), peerstore.PermanentAddrTTL)
	now := e.clock.Now()
	return device{h: h, st: sntest.SignTicket(e.t, e.auth, user, h.ID(), now, now.Add(life))}
}

// devices signs user in on n new hosts with day-long tickets.
func (e *env) devices(user string, n int) []device {
	ds := make([]device, n)
	for i := range ds {
		ds[i] = e.device(user, wire.TicketLifetime)
	}
	return ds
}

// publish publishes d's record with c's options and d's card, a second
// after the last publish, so each has its own time.
func (e *env) publish(d device, c client.Rendezvous) error {
	e.t.Helper()
	e.clock.Advance(time.Second)
	if c.Card == nil {
		c.Card = sntest.Card(e.t, e.auth, d.st)
	}
	return c.Publish(sntest.Ctx(e.t), d.h, e.rvh.ID(), d.st)
}

func (e *env) mustPublish(d device, c client.Rendezvous) {
	e.t.Helper()
	if err := e.publish(d, c); err != nil {
		e.t.Fatalf("publish %s: %v", d.id(), err)
	}
}

// lookupAll is asker's LookupDevices of names with c's options.
func (e *env) lookupAll(asker device, c client.Rendezvous, names ...string) []client.User {
	e.t.Helper()
	c.Now = e.clock.Now
	us, err := c.LookupDevices(sntest.Ctx(e.t), asker.h, e.rvh.ID(), asker.st, names)
	if err != nil {
		e.t.Fatalf("lookup: %v", err)
	}
	return us
}

// rawLookup sends q from asker as it is, with asker's ticket.
func (e *env) rawLookup(asker device, q *wire.Lookup) (*wire.RendezvousResponse, error) {
	e.t.Helper()
	q.Ticket = asker.st
	return client.Call[*wire.RendezvousResponse](sntest.Ctx(e.t), asker.h, e.rvh.ID(), wire.ProtoRendezvous,
		&wire.RendezvousRequest{Kind: &wire.RendezvousRequest_Lookup{Lookup: q}})
}

// peersOf are the devices of u, in the order answered.
func peersOf(u client.User) []peer.ID {
	ps := make([]peer.ID, len(u.Devices))
	for i, f := range u.Devices {
		ps[i] = f.Ticket.Peer
	}
	return ps
}

func ids(ds ...device) []peer.ID {
	ps := make([]peer.ID, len(ds))
	for i, d := range ds {
		ps[i] = d.id()
	}
	return ps
}

// signList signs user's device list of peers, version, with key.
func signList(t *testing.T, key ed25519.PrivateKey, user string, version uint64, peers ...peer.ID) *wire.SignedAccountDevices {
	t.Helper()
	d := ticket.Devices{Username: user, Version: version, Issued: time.Now()}
	for _, p := range peers {
		d.Devices = append(d.Devices, ticket.Device{Peer: p, Added: time.Now()})
	}
	sd, err := ticket.SignDevices(key, d)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func accountKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRendezvousDevices: three devices of alice publish; a contact's lookup
// gets all three, the most recently published first, each with its ticket
// and addresses; one device re-publishing moves it first and drops none;
// Lookup, as node/discovery uses it, gets the latest device.
func TestRendezvousDevices(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 3)
	bob := e.device("bob", time.Hour)
	for _, d := range alice {
		e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}})
	}
	bobC := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}}
	check := func(step string, want ...device) {
		t.Helper()
		us := e.lookupAll(bob, bobC, "alice", "carol", "alice")
		if len(us) != 1 || us[0].Username != "alice" || !slices.Equal(peersOf(us[0]), ids(want...)) {
			t.Fatalf("%s: found %+v, want alice on %v", step, us, ids(want...))
		}
		for _, f := range us[0].Devices {
			if f.Username != "alice" || f.Ticket.Card || f.Ticket.Username != "alice" || f.Addrs.ID != f.Ticket.Peer || len(f.Addrs.Addrs) == 0 {
				t.Fatalf("%s: a contact got %+v", step, f)
			}
		}
		found, err := bobC.Lookup(sntest.Ctx(t), bob.h, e.rvh.ID(), bob.st, []string{"alice"})
		if err != nil || len(found) != 1 || found[0].Ticket.Peer != want[0].id() {
			t.Fatalf("%s: Lookup %+v, %v; want the latest device %s", step, found, err, want[0].id())
		}
		if err := bob.h.Connect(sntest.Ctx(t), us[0].Devices[len(want)-1].Addrs); err != nil {
			t.Fatalf("%s: dialling the oldest device at its looked-up addresses: %v", step, err)
		}
	}
	check("three devices", alice[2], alice[1], alice[0])
	e.mustPublish(alice[0], client.Rendezvous{Allowed: [][]byte{tok}})
	check("the first re-published", alice[0], alice[2], alice[1])
	if n := e.rv.Len(); n != 3 {
		t.Fatalf("Len %d, want 3 devices online", n)
	}
}

// TestRendezvousDeviceExpiry: each device's entry lives by its own ticket
// and its own publish: one whose ticket expired goes alone, one that
// stopped publishing loses its addresses alone.
func TestRendezvousDeviceExpiry(t *testing.T) {
	const ttl = 10 * time.Minute
	e := newEnv(t, RendezvousConfig{TTL: ttl})
	tok := []byte("token-for-bob-16")
	short := e.device("alice", 5*time.Minute) // its ticket expires before the TTL
	long := e.devices("alice", 2)
	bob := e.device("bob", wire.TicketLifetime)
	for _, d := range []device{short, long[0], long[1]} {
		e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}})
	}
	bobC := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}, Known: &client.Known{}}
	steps := []struct {
		advance  time.Duration
		publish  []device // before the lookup
		tickets  []device
		withAddr []device
	}{
		{0, nil, []device{long[1], long[0], short}, []device{long[1], long[0], short}},
		{5 * time.Minute, nil, []device{long[1], long[0]}, []device{long[1], long[0]}}, // short's ticket expired
		{0, []device{long[1]}, []device{long[1], long[0]}, []device{long[1], long[0]}},
		{5 * time.Minute, nil, []device{long[1], long[0]}, []device{long[1]}}, // long[0]'s record is TTL old
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		for _, d := range s.publish {
			e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}})
		}
		us := e.lookupAll(bob, bobC, "alice")
		if len(us) != 1 || !slices.Equal(peersOf(us[0]), ids(s.tickets...)) {
			t.Fatalf("step %d: found %+v, want %v", i, us, ids(s.tickets...))
		}
		var withAddr []peer.ID
		for _, f := range us[0].Devices {
			if len(f.Addrs.Addrs) > 0 {
				withAddr = append(withAddr, f.Ticket.Peer)
			}
		}
		if !slices.Equal(withAddr, ids(s.withAddr...)) {
			t.Fatalf("step %d: addresses for %v, want %v", i, withAddr, ids(s.withAddr...))
		}
		if n := e.rv.Len(); n != len(s.withAddr) {
			t.Fatalf("step %d: Len %d, want %d", i, n, len(s.withAddr))
		}
	}
}

// bigRecord are addresses that make a device's peer record nearly
// ticket.MaxPeerRecord bytes.
func bigRecord() []ma.Multiaddr {
	var addrs []ma.Multiaddr
	for i := range 28 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/dns4/%03d%s.example/tcp/4001", i, strings.Repeat("x", 230))))
	}
	return addrs
}

// TestRendezvousDeviceBound: a username holds at most
// wire.MaxAccountDevices entries; a device past it pushes out the oldest
// publish, and memory is counted per entry. The answer for one user with
// that many devices, each with a record of nearly the largest size, still
// fits a frame: past wire.MaxRendezvousRecords the oldest devices come
// without their records.
func TestRendezvousDeviceBound(t *testing.T) {
	e := newEnv(t, RendezvousConfig{Burst: 1000})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", wire.MaxAccountDevices+1)
	bob := e.device("bob", time.Hour)
	big := client.Rendezvous{Allowed: [][]byte{tok}, Extra: bigRecord()}
	for _, d := range alice[:wire.MaxAccountDevices] {
		e.mustPublish(d, big)
	}
	usage := func() int64 {
		t.Helper()
		e.rv.mu.Lock()
		defer e.rv.mu.Unlock()
		var sum int64
		for name, u := range e.rv.users {
			for _, en := range u.entries {
				sum += rvEntryCost(name, en)
			}
			sum += rvListCost(u.list)
		}
		if sum != e.rv.used {
			t.Fatalf("usage %d, entries' cost %d", e.rv.used, sum)
		}
		return sum
	}
	full := usage()
	e.mustPublish(alice[wire.MaxAccountDevices], big)
	if got := usage(); got > full+full/int64(2*wire.MaxAccountDevices) {
		t.Fatalf("usage %d after a device pushed out another of the same size, was %d", got, full)
	}
	bobC := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}}
	us := e.lookupAll(bob, bobC, "alice")
	want := slices.Clone(alice[1:])
	slices.Reverse(want)
	if len(us) != 1 || !slices.Equal(peersOf(us[0]), ids(want...)) {
		t.Fatalf("found %d devices, want the %d newest, newest first", len(us[0].Devices), wire.MaxAccountDevices)
	}
	records := 0
	for i, f := range us[0].Devices {
		if len(f.Addrs.Addrs) == 0 {
			break
		}
		if i != records {
			t.Fatalf("device %d has addresses after one without", i)
		}
		records++
	}
	if records == 0 || records == wire.MaxAccountDevices {
		t.Fatalf("%d of %d devices came with records of ~8 KiB, want those within %d bytes", records, wire.MaxAccountDevices, wire.MaxRendezvousRecords)
	}
	// The device pushed out comes back by pushing out the next oldest.
	e.mustPublish(alice[0], big)
	us = e.lookupAll(bob, bobC, "alice")
	if got := peersOf(us[0]); len(got) != wire.MaxAccountDevices || got[0] != alice[0].id() || slices.Contains(got, alice[1].id()) {
		t.Fatalf("after the first device came back: %v", got)
	}
	// Another user is not affected by alice's devices.
	carol := e.device("carol", time.Hour)
	e.mustPublish(carol, client.Rendezvous{})
	if us := e.lookupAll(bob, client.Rendezvous{}, "carol"); len(us) != 1 || len(us[0].Devices) != 1 {
		t.Fatalf("carol: %+v", us)
	}
}

// TestRendezvousDeviceVisibility: each device is shown as its own publish
// allows: a device that blocked bob hides from him at once, although
// another device of the same account still allows him; a stranger sees
// every device's card and nothing more, and never the device list.
func TestRendezvousDeviceVisibility(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tokBob := []byte("token-for-bob-16")
	alice := e.devices("alice", 2)
	bob := e.device("bob", time.Hour)
	carol := e.device("carol", time.Hour)
	key := accountKey(t)
	list := signList(t, key, "alice", 1, ids(alice...)...)
	e.mustPublish(alice[0], client.Rendezvous{Allowed: [][]byte{tokBob}, Devices: list})
	e.mustPublish(alice[1], client.Rendezvous{Allowed: [][]byte{tokBob}, Devices: list})

	type view struct {
		tickets, cards []peer.ID
		list           bool
	}
	sees := func(asker device, token []byte) view {
		t.Helper()
		var v view
		c := client.Rendezvous{Tokens: map[string][]byte{"alice": token}}
		k := &client.Known{}
		for _, known := range []*client.Known{nil, k, k} { // with a Known, twice: sent, then unchanged
			if known != nil {
				c.Known = known
			}
			us := e.lookupAll(asker, c, "alice")
			if len(us) != 1 {
				t.Fatalf("found %+v: a stranger too gets the cards", us)
			}
			v = view{list: us[0].List != nil}
			for _, f := range us[0].Devices {
				if f.Ticket.Card {
					if f.Ticket.Device != "" || len(f.Addrs.Addrs) > 0 {
						t.Fatalf("a card tells too much: %+v", f)
					}
					v.cards = append(v.cards, f.Ticket.Peer)
				} else {
					v.tickets = append(v.tickets, f.Ticket.Peer)
				}
			}
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		asker device
		token []byte
		want  view
	}{
		{"bob, allowed by both", bob, tokBob, view{tickets: ids(alice[1], alice[0]), list: true}},
		{"carol, a stranger", carol, nil, view{cards: ids(alice[1], alice[0])}},
		{"carol with a guessed token", carol, []byte("token-guessed-00"), view{cards: ids(alice[1], alice[0])}},
		// A device of alice's own, without a token: how her devices find
		// each other.
		{"alice's own device", alice[0], nil, view{tickets: ids(alice[1], alice[0]), list: true}},
	} {
		if got := sees(tc.asker, tc.token); !slices.Equal(got.tickets, tc.want.tickets) || !slices.Equal(got.cards, tc.want.cards) || got.list != tc.want.list {
			t.Errorf("%s: sees %+v, want %+v", tc.name, got, tc.want)
		}
	}

	// alice blocks bob on her first device; the second has not heard yet.
	e.mustPublish(alice[0], client.Rendezvous{Devices: list})
	if got, want := sees(bob, tokBob), (view{tickets: ids(alice[1]), cards: ids(alice[0]), list: true}); !slices.Equal(got.tickets, want.tickets) || !slices.Equal(got.cards, want.cards) || got.list != want.list {
		t.Fatalf("after a block on one device: %+v, want %+v", got, want)
	}
	// And on the second: bob is a stranger now, and gets no list.
	e.mustPublish(alice[1], client.Rendezvous{})
	if got, want := sees(bob, tokBob), (view{cards: ids(alice[1], alice[0])}); !slices.Equal(got.tickets, want.tickets) || !slices.Equal(got.cards, want.cards) || got.list {
		t.Fatalf("after a block on both: %+v, want %+v", got, want)
	}
}

// tagsOf are the tags of resp's entries for name, concatenated.
func tagsOf(resp *wire.RendezvousResponse, name string) []byte {
	var out []byte
	for _, en := range resp.Entries {
		if en.Username == name {
			tag := client.EntryTag(en)
			out = append(out, tag[:]...)
		}
	}
	return out
}

// TestLookupUnchangedDevices: the unchanged answer works per device: an
// asker names the tags of every entry it holds for a username, and each
// entry it holds is answered unchanged, naming its tag, wherever it now
// stands; a device that re-published is sent again, as is the entry that
// carried the device list before another device became the newest.
// Malformed tags are refused.
func TestLookupUnchangedDevices(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 3)
	bob := e.device("bob", time.Hour)
	list := signList(t, accountKey(t), "alice", 1, ids(alice...)...)
	for _, d := range alice {
		e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}, Devices: list})
	}
	lookup := func(known []byte) *wire.RendezvousResponse {
		t.Helper()
		q := &wire.Lookup{Usernames: []string{"alice"}, Tokens: [][]byte{tok}, AllDevices: true}
		if known != nil {
			q.KnownDevices = [][]byte{known}
		}
		resp, err := e.rawLookup(bob, q)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// unchanged says which entries came unchanged, by their tag's place
	// in known, -1 for those sent.
	unchanged := func(resp *wire.RendezvousResponse, known []byte) []int {
		t.Helper()
		var out []int
		for _, en := range resp.Entries {
			if !en.Unchanged {
				if en.Ticket == nil && en.Card == nil {
					t.Fatalf("a sent entry without its ticket or card: %+v", en)
				}
				out = append(out, -1)
				continue
			}
			if en.Ticket != nil || en.PeerRecord != nil || en.Card != nil || en.Devices != nil || en.Username != "alice" {
				t.Fatalf("an unchanged entry carries more: %+v", en)
			}
			i := 0
			for ; i*wire.RendezvousTagSize < len(known); i++ {
				if string(known[i*wire.RendezvousTagSize:(i+1)*wire.RendezvousTagSize]) == string(en.Tag) {
					break
				}
			}
			if i*wire.RendezvousTagSize >= len(known) {
				t.Fatalf("unchanged naming a tag we did not send: %x", en.Tag)
			}
			out = append(out, i)
		}
		return out
	}
	first := lookup(nil)
	if len(first.Entries) != 3 || first.Entries[0].Devices == nil || first.Entries[1].Devices != nil || first.Entries[2].Devices != nil {
		t.Fatalf("the list should come on the first entry alone: %+v", first.Entries)
	}
	held := tagsOf(first, "alice")
	if got := unchanged(lookup(held), held); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("asked again: %v, want every entry unchanged", got)
	}
	// The tags in another order: each still names its entry.
	swapped := slices.Concat(held[32:48], held[0:16], held[16:32])
	if got := unchanged(lookup(swapped), swapped); !slices.Equal(got, []int{1, 2, 0}) {
		t.Fatalf("tags in another order: %v, want [1 2 0]", got)
	}
	// Only the tag of the newest device: the others are sent.
	if got := unchanged(lookup(held[:16]), held[:16]); !slices.Equal(got, []int{0, -1, -1}) {
		t.Fatalf("one tag held: %v, want [0 -1 -1]", got)
	}
	// The oldest device re-publishes: it is sent (first now, with the list),
	// the former first is sent without the list, the middle one unchanged.
	e.mustPublish(alice[0], client.Rendezvous{Allowed: [][]byte{tok}})
	resp := lookup(held)
	if got := unchanged(resp, held); !slices.Equal(got, []int{-1, -1, 1}) {
		t.Fatalf("after the oldest re-published: %v, want [-1 -1 1]", got)
	}
	if resp.Entries[0].Devices == nil || resp.Entries[1].Devices != nil {
		t.Fatal("the list did not move to the newest device's entry")
	}
	// A new list changes the entry that carries it although its device
	// did not publish: alice[2] hides from bob (he gets its card), and
	// publishes a list of another key; the list moves to the first entry
	// bob gets a ticket for, alice[1]'s, which is sent again with it.
	e.mustPublish(alice[1], client.Rendezvous{Allowed: [][]byte{tok}})
	held = tagsOf(lookup(nil), "alice") // alice[1] with the list, alice[0], alice[2]
	newList := signList(t, accountKey(t), "alice", 1, ids(alice...)...)
	e.mustPublish(alice[2], client.Rendezvous{Devices: newList})
	resp = lookup(held)
	if got := unchanged(resp, held); !slices.Equal(got, []int{-1, -1, 1}) {
		t.Fatalf("after a new list from another device: %v, want [-1 -1 1]", got)
	}
	if resp.Entries[0].Card == nil || resp.Entries[0].Devices != nil || !proto.Equal(resp.Entries[1].Devices, newList) {
		t.Fatalf("the new list should come on alice[1]'s entry, after alice[2]'s card: %+v", resp.Entries)
	}
	held = tagsOf(resp, "alice")
	held = slices.Concat(held[:32], tagsOf(lookup(nil), "alice")[32:]) // the unchanged one's tag, as a client holds it
	if got := unchanged(lookup(held), held); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("asked again: %v, want every entry unchanged", got)
	}

	tag := held[:wire.RendezvousTagSize]
	for _, tc := range []struct {
		name string
		q    *wire.Lookup
	}{
		{"a short tag", &wire.Lookup{Usernames: []string{"alice"}, AllDevices: true, KnownDevices: [][]byte{tag[:8]}}},
		{"a tag and a half", &wire.Lookup{Usernames: []string{"alice"}, AllDevices: true, KnownDevices: [][]byte{append(slices.Clone(tag), tag[:8]...)}}},
		{"more tags than devices", &wire.Lookup{Usernames: []string{"alice"}, AllDevices: true, KnownDevices: [][]byte{slices.Repeat(tag, wire.MaxAccountDevices+1)}}},
		{"fewer tag lists than names", &wire.Lookup{Usernames: []string{"alice", "carol"}, AllDevices: true, KnownDevices: [][]byte{tag}}},
		{"known_devices without all_devices", &wire.Lookup{Usernames: []string{"alice"}, KnownDevices: [][]byte{tag}}},
	} {
		if _, err := e.rawLookup(bob, tc.q); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want %v", tc.name, err, client.ErrBadRequest)
		}
	}
	if _, err := e.rawLookup(bob, &wire.Lookup{Usernames: []string{"alice"}, AllDevices: true, KnownDevices: [][]byte{slices.Repeat(tag, wire.MaxAccountDevices)}}); err != nil {
		t.Errorf("MaxAccountDevices tags: %v", err)
	}
}

// TestKnownLookupDevices: a client with a Known gets every device from
// memory when the rendezvous answers them unchanged, and the device list
// with them.
func TestKnownLookupDevices(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 3)
	bob := e.device("bob", time.Hour)
	list := signList(t, accountKey(t), "alice", 7, ids(alice...)...)
	for _, d := range alice {
		e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}, Devices: list})
	}
	c := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}, Known: &client.Known{}}
	for i := range 3 {
		us := e.lookupAll(bob, c, "alice")
		if len(us) != 1 || !slices.Equal(peersOf(us[0]), ids(alice[2], alice[1], alice[0])) || us[0].List == nil || us[0].List.Version != 7 {
			t.Fatalf("lookup %d: %+v", i, us)
		}
		for _, f := range us[0].Devices {
			if len(f.Addrs.Addrs) == 0 {
				t.Fatalf("lookup %d: a device without addresses", i)
			}
		}
		us[0].Devices[0].Addrs.Addrs = nil // the caller's copy
		us[0].Devices[0].Ticket.Username = "mallory"
	}
	// One device re-publishes: the answer is the new order, the others
	// still from memory.
	e.mustPublish(alice[1], client.Rendezvous{Allowed: [][]byte{tok}})
	if us := e.lookupAll(bob, c, "alice"); !slices.Equal(peersOf(us[0]), ids(alice[1], alice[2], alice[0])) || us[0].List == nil {
		t.Fatalf("after a re-publish: %+v", us)
	}
}

// TestRendezvousDeviceList: a device list signed by the account identity
// is kept per username and served to contacts; a forged one — a bad
// signature, another username's, one that does not name the publisher or
// names another box key for it, garbage — is refused at publish with
// bad_devices and changes nothing. Of one key the highest version is
// kept; of another key the latest published; a publish without a list
// keeps the one there; the list goes with the user's last entry.
func TestRendezvousDeviceList(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 3)
	mallory := e.device("mallory", time.Hour)
	bob := e.device("bob", time.Hour)
	key := accountKey(t)
	v2 := signList(t, key, "alice", 2, ids(alice...)...)
	e.mustPublish(alice[0], client.Rendezvous{Allowed: [][]byte{tok}, Devices: v2})
	bobC := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}}
	listOf := func() *ticket.Devices {
		t.Helper()
		us := e.lookupAll(bob, bobC, "alice")
		if len(us) != 1 {
			t.Fatalf("found %+v", us)
		}
		return us[0].List
	}
	is := func(d *ticket.Devices, sd *wire.SignedAccountDevices) bool {
		return d != nil && proto.Equal(d.Signed, sd)
	}
	sorted := ids(alice...)
	slices.SortFunc(sorted, func(a, b peer.ID) int { return strings.Compare(string(a), string(b)) })
	if d := listOf(); !is(d, v2) || !d.AccountKey.Equal(key.Public()) || d.Version != 2 || !slices.Equal(d.Peers(), sorted) {
		t.Fatalf("the contact got %+v", d)
	}

	badSig := signList(t, key, "alice", 3, ids(alice...)...)
	badSig.Signature[0] ^= 1
	withBox := func() *wire.SignedAccountDevices {
		d := ticket.Devices{Username: "alice", Version: 3, Issued: time.Now()}
		for _, p := range ids(alice...) {
			d.Devices = append(d.Devices, ticket.Device{Peer: p, BoxKey: make([]byte, 32), Added: time.Now()})
		}
		sd, err := ticket.SignDevices(key, d)
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}()
	for _, tc := range []struct {
		name string
		by   device
		list *wire.SignedAccountDevices
	}{
		{"a bad signature", alice[1], badSig},
		{"another username's list", alice[1], signList(t, key, "bob", 3, alice[1].id())},
		{"mallory presents alice's list", mallory, signList(t, key, "alice", 3, append(ids(alice...), mallory.id())...)},
		{"a list without the publisher", alice[1], signList(t, key, "alice", 3, alice[0].id(), alice[2].id())},
		{"the publisher with another box key", alice[1], withBox},
		{"garbage", alice[1], &wire.SignedAccountDevices{Devices: []byte("not a list"), Signature: make([]byte, ed25519.SignatureSize)}},
		{"no signature", alice[1], &wire.SignedAccountDevices{Devices: v2.Devices}},
	} {
		if err := e.publish(tc.by, client.Rendezvous{Allowed: [][]byte{tok}, Devices: tc.list}); !errors.Is(err, client.ErrBadDevices) {
			t.Errorf("%s: %v, want %v", tc.name, err, client.ErrBadDevices)
		}
	}
	// None of them changed anything: alice's list, and only her first device.
	if us := e.lookupAll(bob, bobC, "alice", "mallory"); len(us) != 1 || !slices.Equal(peersOf(us[0]), ids(alice[0])) || !is(us[0].List, v2) {
		t.Fatalf("after refused publishes: %+v", us)
	}

	other := accountKey(t)
	otherV1 := signList(t, other, "alice", 1, ids(alice...)...)
	for _, step := range []struct {
		name string
		by   device
		list *wire.SignedAccountDevices
		want *wire.SignedAccountDevices
	}{
		{"an older version of the same key", alice[1], signList(t, key, "alice", 1, ids(alice...)...), v2},
		{"the same version again", alice[2], signList(t, key, "alice", 2, alice[2].id()), v2},
		{"no list", alice[2], nil, v2},
		{"another key, a lower version: the latest publish", alice[1], otherV1, otherV1},
		{"the first key again", alice[0], v2, v2},
	} {
		e.mustPublish(step.by, client.Rendezvous{Allowed: [][]byte{tok}, Devices: step.list})
		if d := listOf(); !is(d, step.want) {
			t.Fatalf("%s: list %+v", step.name, d)
		}
	}

	// Every entry expires: the list with them.
	e.clock.Advance(wire.TicketLifetime + time.Minute)
	bob = e.device("bob", time.Hour)
	late := e.device("alice", time.Hour)
	e.mustPublish(late, client.Rendezvous{Allowed: [][]byte{tok}})
	if d := listOf(); d != nil {
		t.Fatalf("a list outlived every entry of its user: %+v", d)
	}
	e.rv.mu.Lock()
	defer e.rv.mu.Unlock()
	if u := e.rv.users["alice"]; len(u.entries) != 1 || u.list != nil {
		t.Fatalf("alice holds %d entries and list %v", len(u.entries), u.list)
	}
}

// TestLookupOldClient: a client that predates several devices — no
// all_devices, one known tag per name, reading the first entry — gets one
// entry per name, the latest device's, without the device list, and its
// tag still answers unchanged.
func TestLookupOldClient(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 2)
	bob := e.device("bob", time.Hour)
	list := signList(t, accountKey(t), "alice", 1, ids(alice...)...)
	for _, d := range alice {
		e.mustPublish(d, client.Rendezvous{Allowed: [][]byte{tok}, Devices: list})
	}
	old := func(known []byte) *wire.RendezvousResponse_Entry {
		t.Helper()
		q := &wire.Lookup{Usernames: []string{"alice", "alice"}, Tokens: [][]byte{tok, tok}}
		if known != nil {
			q.Known = [][]byte{known, known}
		}
		resp, err := e.rawLookup(bob, q)
		if err != nil || len(resp.Entries) != 1 {
			t.Fatalf("lookup: %v, %+v", err, resp)
		}
		return resp.Entries[0]
	}
	peerOf := func(en *wire.RendezvousResponse_Entry) peer.ID {
		t.Helper()
		tk, err := ticket.Verify(sntest.ID(t, e.auth), en.Ticket, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tk.Peer
	}
	en := old(nil)
	if peerOf(en) != alice[1].id() || en.Devices != nil || en.PeerRecord == nil {
		t.Fatalf("an old client got %+v, want the latest device with its record and no list", en)
	}
	tag := client.EntryTag(en)
	if got := old(tag[:]); !got.Unchanged || got.Tag != nil || got.Ticket != nil {
		t.Fatalf("with its tag: %+v, want unchanged as before", got)
	}
	e.mustPublish(alice[0], client.Rendezvous{Allowed: [][]byte{tok}})
	if got := old(tag[:]); got.Unchanged || peerOf(got) != alice[0].id() {
		t.Fatalf("after another device published: %+v, want it sent", got)
	}
	// And a new client's all_devices lookup carrying known too (for
	// rendezvous that predate it) is answered by known_devices.
	resp, err := e.rawLookup(bob, &wire.Lookup{Usernames: []string{"alice"}, Tokens: [][]byte{tok}, AllDevices: true, Known: [][]byte{tag[:]}})
	if err != nil || len(resp.Entries) != 2 || resp.Entries[0].Unchanged || resp.Entries[1].Unchanged {
		t.Fatalf("all_devices with known alone: %v, %+v", err, resp)
	}
}

// TestRendezvousDevicesConcurrent: devices of one account publishing, with
// and without a list, while a contact looks them up again and again with
// a Known, leave every device listed once (run with -race).
func TestRendezvousDevicesConcurrent(t *testing.T) {
	e := newEnv(t, RendezvousConfig{Rate: 1000, Burst: 1000})
	ctx := sntest.Ctx(t)
	tok := []byte("token-for-bob-16")
	alice := e.devices("alice", 3)
	bob := e.device("bob", time.Hour)
	list := signList(t, accountKey(t), "alice", 1, ids(alice...)...)
	const rounds = 15
	errs := make(chan error, len(alice)+1)
	for i, d := range alice {
		card := sntest.Card(t, e.auth, d.st) // here: t.Fatal only on the test's goroutine
		go func() {
			for j := range rounds {
				c := client.Rendezvous{Allowed: [][]byte{tok}, Card: card}
				if (i+j)%2 == 0 {
					c.Devices = list
				}
				if err := c.Publish(ctx, d.h, e.rvh.ID(), d.st); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		c := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}, Known: &client.Known{}}
		for range rounds {
			us, err := c.LookupDevices(ctx, bob.h, e.rvh.ID(), bob.st, []string{"alice"})
			if err != nil {
				errs <- err
				return
			}
			if len(us) == 1 && len(us[0].Devices) > len(alice) {
				errs <- fmt.Errorf("%d devices of %d", len(us[0].Devices), len(alice))
				return
			}
		}
		errs <- nil
	}()
	for range len(alice) + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	us := e.lookupAll(bob, client.Rendezvous{Tokens: map[string][]byte{"alice": tok}}, "alice")
	if len(us) != 1 || len(us[0].Devices) != len(alice) || us[0].List == nil {
		t.Fatalf("after concurrent publishes: %+v", us)
	}
}
