// Package sntest holds the test helpers the supernode services' tests and
// their clients' tests share: hosts on 127.0.0.1, keys, tickets and
// revocation pages signed by a test auth server, and a settable clock.
package sntest

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Clock is a settable time source shared by a service and the tickets.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at the current time.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Host is a libp2p host on 127.0.0.1, closed when the test ends.
func Host(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// Key is a new Ed25519 key.
func Key(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	return k
}

// ID is k's peer ID.
func ID(t testing.TB, k crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatalf("peer ID: %v", err)
	}
	return id
}

// SignTicket signs a node ticket for user on p with the auth server key
// server.
func SignTicket(t testing.TB, server crypto.PrivKey, user string, p peer.ID, issued, expiry time.Time) *wire.SignedTicket {
	t.Helper()
	st, err := ticket.Sign(server, ticket.Ticket{
		Username: user, Peer: p, Device: "dev-" + p.String()[:8],
		Issued: issued, Expiry: expiry, Role: ticket.RoleNode,
	})
	if err != nil {
		t.Fatalf("sign ticket: %v", err)
	}
	return st
}

// Card signs the public card of st (ticket.SignCard) with the auth server
// key server, as the auth server hands it out with the ticket.
func Card(t testing.TB, server crypto.PrivKey, st *wire.SignedTicket) *wire.SignedTicket {
	t.Helper()
	tk, err := ticket.VerifySignature(ID(t, server), st)
	if err != nil {
		t.Fatalf("card of a bad ticket: %v", err)
	}
	card, err := ticket.SignCard(server, *tk)
	if err != nil {
		t.Fatalf("sign card: %v", err)
	}
	return card
}

// RevocationList signs a revocation page with the auth server key key.
func RevocationList(t testing.TB, key crypto.PrivKey, since, serial uint64, more bool, entries ...ticket.Revocation) *wire.SignedRevocations {
	t.Helper()
	sr, err := ticket.SignRevocations(key, ticket.RevocationList{Since: since, Serial: serial, More: more, Issued: time.Unix(1e9, 0), Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// Ctx is a context for one test's requests: generous, and cancelled when
// the test ends.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
