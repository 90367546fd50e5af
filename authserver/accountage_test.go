package authserver

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// TestTicketAccountCreated: every ticket the server issues carries when
// the account was registered, from the store, rounded up to
// ticket.AccountGrain: a fresh account's within the grain of its
// registration and never after the ticket, an old account's its old time
// (the clock injected), and a renewal the same time as the login it renews.
// The card carries none.
func TestTicketAccountCreated(t *testing.T) {
	start0 := time.Unix(1_800_000_000, 0).Truncate(ticket.AccountGrain).Add(3*time.Minute + 17*time.Second)
	clk := &clock{t: start0}
	f := start(t, "", clk)
	c := newClient(t)

	if code := register(t, c, f, "veteran", "pw-veteran"); code != "" {
		t.Fatalf("register veteran: %q", code)
	}
	veteranCreated := clk.Now()
	clk.Advance(400 * 24 * time.Hour)
	if code := register(t, c, f, "newcomer", "pw-newcomer"); code != "" {
		t.Fatalf("register newcomer: %q", code)
	}
	newcomerCreated := clk.Now()
	clk.Advance(time.Minute) // signs in a minute after signing up

	signIn := func(c host.Host, user string) (*ticket.Ticket, *wire.LoginResult) {
		t.Helper()
		lr := loginResult(t, c, f, user, "pw-"+user)
		tk, err := ticket.Verify(f.info.ID, lr.Ticket, clk.Now())
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return tk, lr
	}
	tests := []struct {
		user    string
		created time.Time
	}{
		{"newcomer", newcomerCreated},
		{"veteran", veteranCreated},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			c := newClient(t)
			tk, lr := signIn(c, tt.user)
			got := tk.AccountCreated
			if got.Before(tt.created) || got.Sub(tt.created) >= ticket.AccountGrain || got.After(tk.Issued) {
				t.Fatalf("account created %v in the ticket, registered %v, ticket issued %v", got, tt.created, tk.Issued)
			}
			if want := ticket.CoarseCreated(tt.created, tk.Issued); !got.Equal(want) {
				t.Fatalf("account created %v in the ticket, want %v", got, want)
			}

			card, err := ticket.VerifyCard(f.info.ID, lr.Card, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !card.AccountCreated.IsZero() {
				t.Fatalf("the card tells strangers the account's age: %v", card.AccountCreated)
			}

			// Renewal, hours later: a new ticket, the same account age.
			clk.Advance(5 * time.Hour)
			r := ask(t, c, f, renewReq(lr.Ticket))
			rl, ok := r.Kind.(*wire.AuthResponse_LoginResult)
			if !ok {
				t.Fatalf("renew: %q", errCode(r))
			}
			renewed, err := ticket.Verify(f.info.ID, rl.LoginResult.Ticket, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !renewed.Issued.After(tk.Issued) {
				t.Fatalf("renewal issued %v, not after the login's %v", renewed.Issued, tk.Issued)
			}
			if want := ticket.CoarseCreated(tt.created, renewed.Issued); !renewed.AccountCreated.Equal(want) {
				t.Fatalf("renewal says account created %v, want %v", renewed.AccountCreated, want)
			}
			if tt.user == "veteran" && !renewed.AccountCreated.Equal(tk.AccountCreated) {
				t.Fatalf("renewal changed the account's age: %v, was %v", renewed.AccountCreated, tk.AccountCreated)
			}
		})
	}
}
