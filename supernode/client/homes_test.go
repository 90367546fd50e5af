package client

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
)

func randomIDs(t testing.TB, n int) []peer.ID {
	t.Helper()
	ids := make([]peer.ID, n)
	for i := range ids {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = peer.IDFromPrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func users(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("user%04d", i)
	}
	return u
}

// TestHomesStable: a supernode that joins or leaves moves only the users
// whose homes it wins or held; everyone else keeps exactly the same homes,
// in the same order, whatever the order of the list.
func TestHomesStable(t *testing.T) {
	sns := randomIDs(t, 100)
	before := make(map[string][]peer.ID)
	for _, u := range users(1000) {
		before[u] = HomesFor(u, sns, wire.Homes)
		shuffled := slices.Clone(sns)
		slices.Reverse(shuffled)
		if got := HomesFor(u, append(shuffled, sns[:10]...), wire.Homes); !slices.Equal(got, before[u]) {
			t.Fatalf("%s: order or duplicates changed the homes: %v vs %v", u, got, before[u])
		}
	}

	// One leaves: only its users move, each by one home.
	gone := sns[42]
	left := slices.Delete(slices.Clone(sns), 42, 43)
	moved := 0
	for u, old := range before {
		now := HomesFor(u, left, wire.Homes)
		if !slices.Contains(old, gone) {
			if !slices.Equal(now, old) {
				t.Fatalf("%s moved though its homes %v did not include the one that left", u, old)
			}
			continue
		}
		moved++
		kept := slices.DeleteFunc(slices.Clone(old), func(id peer.ID) bool { return id == gone })
		if !slices.Equal(now[:len(kept)], kept) {
			t.Fatalf("%s: surviving homes %v not kept in %v", u, kept, now)
		}
	}
	// About Homes/100 of the users (30 of 1000) lose a home.
	if moved == 0 || moved > 100 {
		t.Fatalf("%d of 1000 users moved when one of 100 supernodes left", moved)
	}

	// One joins: users either keep their homes or take the newcomer in.
	joined := append(slices.Clone(sns), randomIDs(t, 1)...)
	newcomer := joined[len(joined)-1]
	for u, old := range before {
		now := HomesFor(u, joined, wire.Homes)
		if slices.Equal(now, old) {
			continue
		}
		if !slices.Contains(now, newcomer) {
			t.Fatalf("%s moved to %v without the newcomer", u, now)
		}
		rest := slices.DeleteFunc(slices.Clone(now), func(id peer.ID) bool { return id == newcomer })
		if !slices.Equal(rest, old[:len(rest)]) {
			t.Fatalf("%s: %v is not its old homes %v plus the newcomer", u, now, old)
		}
	}
}

// TestHomesSpread: 1000 users over 100 supernodes load them evenly enough —
// 30 homes each on average; no supernode is idle or carries triple.
func TestHomesSpread(t *testing.T) {
	sns := randomIDs(t, 100)
	load := make(map[peer.ID]int)
	for _, u := range users(1000) {
		h := HomesFor(u, sns, wire.Homes)
		if len(h) != wire.Homes {
			t.Fatalf("%s has %d homes", u, len(h))
		}
		for i, id := range h {
			if slices.Contains(h[i+1:], id) {
				t.Fatalf("%s: home %s twice", u, id)
			}
			load[id]++
		}
	}
	lo, hi := 1<<30, 0
	for _, id := range sns {
		lo, hi = min(lo, load[id]), max(hi, load[id])
	}
	// Binomial(1000, 0.03): mean 30, sd ~5.4; these bounds are > 5 sd out.
	if lo < 5 || hi > 65 {
		t.Fatalf("homes per supernode range from %d to %d; want about 30", lo, hi)
	}
	t.Logf("homes per supernode: min %d, max %d (mean 30)", lo, hi)
}

func TestHomesEdges(t *testing.T) {
	sns := randomIDs(t, 2)
	if got := HomesFor("alice", sns, 3); len(got) != 2 {
		t.Fatalf("2 supernodes, 3 wanted: %v", got)
	}
	if got := HomesFor("alice", nil, 3); got != nil {
		t.Fatalf("no supernodes: %v", got)
	}
	if got := HomesFor("alice", sns, 0); got != nil {
		t.Fatalf("0 wanted: %v", got)
	}
	if a, b := HomesFor("alice", sns, 1), HomesFor("alice", sns, 2); a[0] != b[0] {
		t.Fatal("fewer homes is not a prefix of more")
	}
}
