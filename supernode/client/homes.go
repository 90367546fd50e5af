package client

import (
	"bytes"
	"crypto/sha256"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"
)

// homesLabel separates home scores from any other hash of the same inputs.
const homesLabel = "eserver-homes-v1"

// UserHomes picks the n home supernodes of username, on the network of the
// auth server server, among sns: HomesFor keyed by the user's mailbox ID.
// Homes are keyed by the mailbox ID, not the name, so that a supernode,
// which sees only mailbox IDs in puts, can tell whether it is one of a
// mailbox's homes (and refuse mail for mailboxes it is not home to), and
// anyone able to address a mailbox can find its homes.
func UserHomes(server peer.ID, username string, sns []peer.ID, n int) []peer.ID {
	return HomesFor(string(MailboxID(server, username)), sns, n)
}

// HomesFor picks the n home supernodes of key among sns by rendezvous
// (highest-random-weight) hashing: each supernode scores
// SHA-256(label || peer ID bytes || key) and the n highest scores win.
// Users' homes are keyed by their mailbox IDs (UserHomes).
// Every node that knows the same supernodes computes the same homes with no
// coordination, and a supernode joining or leaving moves only the users it
// wins or loses — everyone else keeps their homes. Duplicates in sns count
// once; fewer than n supernodes means all of them. The result is ordered by
// score, best first, so callers that want fewer than n take a prefix.
func HomesFor(key string, sns []peer.ID, n int) []peer.ID {
	if n <= 0 || len(sns) == 0 {
		return nil
	}
	type scored struct {
		id    peer.ID
		score [sha256.Size]byte
	}
	seen := make(map[peer.ID]bool, len(sns))
	all := make([]scored, 0, len(sns))
	buf := make([]byte, 0, len(homesLabel)+64+len(key))
	for _, id := range sns {
		if seen[id] {
			continue
		}
		seen[id] = true
		buf = append(buf[:0], homesLabel...)
		buf = append(buf, id...)
		buf = append(buf, key...)
		all = append(all, scored{id: id, score: sha256.Sum256(buf)})
	}
	sort.Slice(all, func(i, j int) bool {
		if c := bytes.Compare(all[i].score[:], all[j].score[:]); c != 0 {
			return c > 0
		}
		return all[i].id < all[j].id
	})
	out := make([]peer.ID, 0, min(n, len(all)))
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.id)
	}
	return out
}
