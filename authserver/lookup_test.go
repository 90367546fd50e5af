package authserver

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"eserver/node/wire"
)

func lookupReq(st *wire.SignedTicket, username string) *wire.AuthRequest {
	return &wire.AuthRequest{Kind: &wire.AuthRequest_LookupUser{LookupUser: &wire.LookupUser{Ticket: st, Username: username}}}
}

// TestLookupUser: a signed-in user learns whether an account exists (issue
// 14, item 3: a mistyped contact used to sit "pending" for ever). Only a
// node ticket presented by its own device may ask, and each account may ask
// DefaultLookupRate times per LookupWindow, found or not, across all its
// devices — so the list of accounts cannot be read out quickly.
func TestLookupUser(t *testing.T) { forEngines(t, testLookupUser) }

func testLookupUser(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	laptop, phone, bobs := newClient(t), newClient(t), newClient(t)
	for _, u := range []string{"alice", "bob"} {
		if got := register(t, laptop, f, u, "pw-"+u); got != "" {
			t.Fatal(got)
		}
	}
	lt := mustLogin(t, laptop, f, "alice")
	pt := mustLogin(t, phone, f, "alice")
	bt := mustLogin(t, bobs, f, "bob")

	exists := func(r *wire.AuthResponse) (bool, string) {
		if u, ok := r.Kind.(*wire.AuthResponse_UserLookup); ok {
			return u.UserLookup.GetExists(), ""
		}
		return false, errCode(r)
	}
	if yes, code := exists(ask(t, laptop, f, lookupReq(lt, "bob"))); !yes || code != "" {
		t.Fatalf("bob: exists %v, error %q", yes, code)
	}
	if yes, code := exists(ask(t, laptop, f, lookupReq(lt, "nosuchuser"))); yes || code != "" {
		t.Fatalf("nosuchuser: exists %v, error %q", yes, code)
	}
	refused := []struct {
		name string
		from host.Host
		req  *wire.AuthRequest
		want string
	}{
		{"no ticket", laptop, lookupReq(nil, "bob"), CodeBadRequest},
		{"a ticket stolen from another device", bobs, lookupReq(lt, "bob"), CodeUnauthorized},
		{"a name no account can have", laptop, lookupReq(lt, "Bob Smith"), CodeBadRequest},
	}
	for _, tt := range refused {
		if _, code := exists(ask(t, tt.from, f, tt.req)); code != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, code, tt.want)
		}
	}

	// Two done; the account's devices share what is left of its allowance.
	for i := 2; i < DefaultLookupRate; i++ {
		c, st := laptop, lt
		if i%2 == 1 {
			c, st = phone, pt
		}
		if _, code := exists(ask(t, c, f, lookupReq(st, "carol"))); code != "" {
			t.Fatalf("lookup %d: %q", i+1, code)
		}
	}
	if _, code := exists(ask(t, phone, f, lookupReq(pt, "bob"))); code != CodeRateLimited {
		t.Fatalf("lookup past the limit: %q, want %q", code, CodeRateLimited)
	}
	// Another account has its own allowance.
	if yes, code := exists(ask(t, bobs, f, lookupReq(bt, "alice"))); !yes || code != "" {
		t.Fatalf("bob's lookup of alice: exists %v, error %q", yes, code)
	}
	// The window slides: alice may ask again once it has passed.
	clk.Advance(LookupWindow)
	lt = mustLogin(t, laptop, f, "alice") // the old ticket may have expired meanwhile
	if yes, code := exists(ask(t, laptop, f, lookupReq(lt, "bob"))); !yes || code != "" {
		t.Fatalf("after the window: exists %v, error %q", yes, code)
	}
}

// mustLogin signs user in from c with the password the tests register
// ("pw-" + user) and returns the ticket.
func mustLogin(t *testing.T, c host.Host, f *fixture, user string) *wire.SignedTicket {
	t.Helper()
	code, st := login(t, c, f, user, []byte("pw-"+user))
	if code != "" {
		t.Fatalf("login %s: %q", user, code)
	}
	return st
}
