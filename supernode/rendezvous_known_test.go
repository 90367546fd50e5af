package supernode

import (
	"errors"
	"testing"
	"time"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// TestLookupUnchanged: an entry is answered unchanged only when the asker
// names the tag of exactly the answer it may see now; any other tag —
// another asker's fuller answer, a card where a token now sees more, the
// answer before a re-publish — gets that answer's bytes, and malformed
// tags are refused.
func TestLookupUnchanged(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	tok := []byte("token-for-bob-16")
	publish := func() {
		t.Helper()
		c := client.Rendezvous{Allowed: [][]byte{tok}, Card: sntest.Card(t, e.auth, aliceT)}
		if err := c.Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(token []byte, known [][]byte, names ...string) (*wire.RendezvousResponse, error) {
		var tokens [][]byte
		if token != nil {
			tokens = [][]byte{token}
		}
		return client.Call[*wire.RendezvousResponse](ctx, bob, e.rvh.ID(), wire.ProtoRendezvous, &wire.RendezvousRequest{
			Kind: &wire.RendezvousRequest_Lookup{Lookup: &wire.Lookup{Ticket: bobT, Usernames: names, Tokens: tokens, Known: known}},
		})
	}
	tagOf := func(token []byte) []byte {
		t.Helper()
		resp, err := lookup(token, nil, "alice")
		if err != nil || len(resp.Entries) != 1 {
			t.Fatalf("lookup: %v, %+v", err, resp)
		}
		tag := client.EntryTag(resp.Entries[0])
		return tag[:]
	}
	publish()
	full, card := tagOf(tok), tagOf(nil)
	publish() // a new record (signed anew), the same ticket and card
	fresh := tagOf(tok)
	if string(fresh) == string(full) {
		t.Fatal("a re-published record has the old tag")
	}

	const (
		unchanged = iota
		sent
	)
	for _, tc := range []struct {
		name  string
		token []byte
		known []byte
		want  int
	}{
		{"the token holder names what it holds", tok, fresh, unchanged},
		{"a stranger names the card it holds", nil, card, unchanged},
		{"a stranger names a token holder's answer", nil, fresh, sent},
		{"a wrong token names a token holder's answer", []byte("token-guessed-00"), fresh, sent},
		{"the token holder names the card", tok, card, sent},
		{"the token holder names the answer before a re-publish", tok, full, sent},
		{"no tag", tok, []byte{}, sent},
	} {
		resp, err := lookup(tc.token, [][]byte{tc.known}, "alice")
		if err != nil || len(resp.Entries) != 1 {
			t.Fatalf("%s: %v, %+v", tc.name, err, resp)
		}
		got := resp.Entries[0]
		switch {
		case tc.want == unchanged && (!got.Unchanged || got.Ticket != nil || got.Card != nil || got.PeerRecord != nil || got.Username != "alice"):
			t.Errorf("%s: got %+v, want alice unchanged and nothing else", tc.name, got)
		case tc.want == sent && (got.Unchanged || got.Ticket == nil && got.Card == nil):
			t.Errorf("%s: got %+v, want the entry sent", tc.name, got)
		case tc.want == sent && got.Ticket != nil && tc.token == nil:
			t.Errorf("%s: a stranger got the ticket", tc.name)
		}
	}

	for _, tc := range []struct {
		name  string
		known [][]byte
		names []string
	}{
		{"a short tag", [][]byte{fresh[:8]}, []string{"alice"}},
		{"a long tag", [][]byte{append(fresh, 0)}, []string{"alice"}},
		{"fewer tags than names", [][]byte{fresh}, []string{"alice", "carol"}},
	} {
		if _, err := lookup(nil, tc.known, tc.names...); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want %v", tc.name, err, client.ErrBadRequest)
		}
	}
}

// TestKnownLookup: a client with a Known gets from memory what the
// rendezvous answers unchanged, a copy each time, and drops an entry once
// its ticket expired although the rendezvous still calls it unchanged.
func TestKnownLookup(t *testing.T) {
	e := newEnv(t, RendezvousConfig{})
	ctx := sntest.Ctx(t)
	alice, aliceT := e.client("alice")
	bob, bobT := e.client("bob")
	tok := []byte("token-for-bob-16")
	if err := (client.Rendezvous{Allowed: [][]byte{tok}}).Publish(ctx, alice, e.rvh.ID(), aliceT); err != nil {
		t.Fatal(err)
	}
	known := &client.Known{}
	now := e.clock.Now()
	c := client.Rendezvous{Tokens: map[string][]byte{"alice": tok}, Known: known, Now: func() time.Time { return now }}
	for i := range 3 {
		found, err := c.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"})
		if err != nil || len(found) != 1 || found[0].Ticket.Username != "alice" || found[0].Ticket.Peer != alice.ID() || len(found[0].Addrs.Addrs) == 0 {
			t.Fatalf("lookup %d: %v, %+v", i, err, found)
		}
		found[0].Addrs.Addrs = nil // the caller's copy
		found[0].Ticket.Username = "mallory"
	}
	// The rendezvous's clock lags; ours says alice's ticket expired.
	now = now.Add(wire.TicketLifetime)
	if found, err := c.Lookup(ctx, bob, e.rvh.ID(), bobT, []string{"alice"}); err != nil || len(found) != 0 {
		t.Fatalf("after expiry: %v, %+v, want nothing", err, found)
	}
}
