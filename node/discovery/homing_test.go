package discovery

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

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
