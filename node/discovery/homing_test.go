package discovery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/wire"
	"eserver/supernode/client"
)

// TestMailHomesCoverSendersViews: wherever a sender leaves our mail — our
// homes as it sees them, with up to wire.MailSpareHomes supernodes down in
// its view — is among the supernodes we fetch from (with none down in
// ours). The soak found mail at a supernode ranked fourth for its
// recipient, left by a sender that had seen one of the first three fail.
func TestMailHomesCoverSendersViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	ids := make([]peer.ID, 12)
	for i := range ids {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = peer.IDFromPublicKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	server := ids[0]
	for trial := range 500 {
		n := wire.Homes + 1 + rng.IntN(len(ids)-wire.Homes-1)
		sns := slices.Clone(ids[1 : 1+min(n, len(ids)-1)])
		user := fmt.Sprintf("user%d", trial)
		ours := client.UserHomes(server, user, sns, wire.Homes+wire.MailSpareHomes)
		// The sender sees up to MailSpareHomes supernodes down.
		down := rng.IntN(wire.MailSpareHomes + 1)
		view := slices.Clone(sns)
		rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
		view = view[down:]
		for _, h := range client.UserHomes(server, user, view, wire.Homes) {
			if !slices.Contains(ours, h) {
				t.Fatalf("trial %d: %d supernodes, %d down for the sender: it leaves mail at %s, which we never fetch from (%v)",
					trial, len(sns), down, h, ours)
			}
		}
	}
	// The claim is not vacuous: with fewer spares it fails.
	found := false
	for trial := 0; trial < 500 && !found; trial++ {
		user := fmt.Sprintf("user%d", trial)
		sns := ids[1:]
		ours := client.UserHomes(server, user, sns, wire.Homes)
		view := slices.DeleteFunc(slices.Clone(sns), func(p peer.ID) bool { return p == ours[0] })
		for _, h := range client.UserHomes(server, user, view, wire.Homes) {
			found = found || !slices.Contains(ours, h)
		}
	}
	if !found {
		t.Fatal("with no spare homes, a sender's view never left mail outside them: the test proves nothing")
	}
}

// TestMailHomesCoverListsThatDiffer: a sender leaves our mail at our homes
// as its list shows them, and its list may differ from ours: supernodes we
// saw fail (dead in our view) that it did not, and supernodes our list
// lost (the registry's answer lacked one restarting, or we refreshed
// during a partition) that its list still has. Wherever it leaves the
// mail, we fetch from there, as long as we knew that supernode within
// rememberFor. The soak left mail at op4 for a node whose list lacked it.
func TestMailHomesCoverListsThatDiffer(t *testing.T) {
	ids := peerIDs(t, 16)
	server, sns := ids[0], ids[1:]
	rng := rand.New(rand.NewPCG(16, 2))
	shuffled := func(n int) []peer.ID {
		v := slices.Clone(sns[:n])
		rng.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
		return v
	}
	for trial := range 2000 {
		user := fmt.Sprintf("user%d", trial)
		n := wire.Homes + 1 + rng.IntN(len(sns)-wire.Homes)
		all := shuffled(n) // every supernode we know or knew lately
		// Ours: some dead in our view, some gone from our list.
		ourLive := all[rng.IntN(n/2+1):]
		// The sender's: up to MailSpareHomes down in its view, the rest
		// live — those we saw fail and those our list lost among them.
		view := slices.Clone(all)
		rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
		view = view[rng.IntN(wire.MailSpareHomes+1):]
		ours := mailHomesAmong(server, user, ourLive, all)
		if len(ours) > wire.Homes+wire.MailSpareHomes+wire.MailHomeWindow {
			t.Fatalf("trial %d: %d places to fetch from", trial, len(ours))
		}
		for _, h := range client.UserHomes(server, user, view, wire.Homes) {
			if !slices.Contains(ours, h) {
				t.Fatalf("trial %d: the sender leaves mail at %s, which we never fetch from (%v)", trial, h, ours)
			}
		}
	}

	// The table: the soak's case and its neighbours, against the homes and
	// spares among the live supernodes alone (what nodes fetched from
	// before), which miss the first two.
	user := "user23"
	order := client.UserHomes(server, user, sns, len(sns)) // best first
	without := func(drop ...peer.ID) []peer.ID {
		return slices.DeleteFunc(slices.Clone(sns), func(p peer.ID) bool { return slices.Contains(drop, p) })
	}
	for _, tc := range []struct {
		name      string
		live, all []peer.ID
		leftAt    peer.ID // where the sender left our mail
		liveAlone bool    // whether the live supernodes' homes and spares cover it
	}{
		{"our list lost our first home", without(order[0]), sns, order[0], false},
		{"we saw our first two homes fail", without(order[:2]...), sns, order[1], false},
		{"three down in our view, the sender's third home", without(order[:3]...), sns, order[2], false},
		{"lists agree, the sender saw two fail", sns, sns, order[4], true},
		{"the sender saw three fail", sns, sns, order[5], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mailHomesAmong(server, user, tc.live, tc.all); !slices.Contains(got, tc.leftAt) {
				t.Fatalf("mail at %s is not fetched: we fetch from %v", tc.leftAt, got)
			}
			old := client.UserHomes(server, user, tc.live, wire.Homes+wire.MailSpareHomes)
			if slices.Contains(old, tc.leftAt) != tc.liveAlone {
				t.Fatalf("the live supernodes' homes and spares cover it: %v, want %v", !tc.liveAlone, tc.liveAlone)
			}
		})
	}
}

// TestForgetListed: a supernode dropped from the list is remembered for
// rememberFor, then forgotten; past the bound the longest unlisted go
// first, and the current list is never forgotten.
func TestForgetListed(t *testing.T) {
	ids := peerIDs(t, 6)
	now := time.Now()
	listed := map[peer.ID]listedSupernode{}
	for i, id := range ids {
		// ids[0] was listed longest ago, ids[5] now.
		listed[id] = listedSupernode{at: now.Add(-time.Duration(len(ids)-1-i) * rememberFor / 4)}
	}
	if n := forgetListed(listed, now, len(ids)); n != 1 || len(listed) != 5 || !listed[ids[0]].at.IsZero() {
		t.Fatalf("after rememberFor: %d forgotten, %d remembered; want all but the one unlisted for longer", n, len(listed))
	}
	if n := forgetListed(listed, now, 2); n != 3 || len(listed) != 2 || listed[ids[4]].at.IsZero() || listed[ids[5]].at.IsZero() {
		t.Fatalf("past the bound: %d forgotten, %v left; want the two listed last", n, listed)
	}
	if n := forgetListed(listed, now, 2); n != 0 {
		t.Fatalf("nothing to forget, yet %d forgotten", n)
	}
}

// TestListedStored: what a session remembers of the supernodes listed
// comes back in the next one as it was, less what is too old by then, and
// a damaged setting reads as nothing remembered.
func TestListedStored(t *testing.T) {
	ids := peerIDs(t, 3)
	now := time.Unix(1_800_000_000, 0)
	a := ma.StringCast("/ip4/127.0.0.1/tcp/1865")
	listed := map[peer.ID]listedSupernode{
		ids[0]: {addrs: peer.AddrInfo{ID: ids[0], Addrs: []ma.Multiaddr{a}}, at: now},
		ids[1]: {addrs: peer.AddrInfo{ID: ids[1]}, at: now.Add(-rememberFor / 2)},
		ids[2]: {addrs: peer.AddrInfo{ID: ids[2]}, at: now.Add(-rememberFor / 2)},
	}
	raw := encodeListed(listed)
	got := decodeListed(raw, now, 10)
	if len(got) != 3 || !got[ids[0]].at.Equal(now) || len(got[ids[0]].addrs.Addrs) != 1 || !got[ids[0]].addrs.Addrs[0].Equal(a) {
		t.Fatalf("read back: %v, want %v", got, listed)
	}
	if got := decodeListed(raw, now.Add(rememberFor*3/4), 10); len(got) != 1 || got[ids[0]].at.IsZero() {
		t.Fatalf("read back later: %v, want only the one listed last", got)
	}
	if got := decodeListed(raw, now, 1); len(got) != 1 || got[ids[0]].at.IsZero() {
		t.Fatalf("read back with room for one: %v, want the one listed last", got)
	}
	for _, bad := range []string{"", "{", `[{"id":"not a peer"}]`, `[{"id":7}]`} {
		if got := decodeListed(bad, now, 10); len(got) != 0 {
			t.Fatalf("%q read as %v", bad, got)
		}
	}
}

func peerIDs(t *testing.T, n int) []peer.ID {
	t.Helper()
	ids := make([]peer.ID, n)
	for i := range ids {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = peer.IDFromPublicKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestClearBackoff: after a partition, dials to a supernode fail with
// libp2p's dial backoff for minutes though the supernode is back; once the
// registry lists it again, the node dials it at once.
func TestClearBackoff(t *testing.T) {
	sn, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ai := peer.AddrInfo{ID: sn.ID(), Addrs: sn.Addrs()}
	sw := h.Network().(*swarm.Swarm)
	for _, a := range ai.Addrs {
		sw.Backoff().AddBackoff(ai.ID, a) // as the partition's failed dials left it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); !errors.Is(err, swarm.ErrDialBackoff) {
		t.Fatalf("dial in backoff: %v, want %v (the test proves nothing)", err, swarm.ErrDialBackoff)
	}
	clearBackoff(h, []client.Supernode{{Addrs: ai}})
	if err := h.Connect(ctx, ai); err != nil {
		t.Fatalf("dial once the registry lists the supernode: %v", err)
	}
}
