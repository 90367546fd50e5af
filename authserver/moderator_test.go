package authserver

import (
	"errors"
	"slices"
	"testing"
	"time"

	"eserver/node/ticket"
)

// TestModeratorTickets: the operator's grants go into every node ticket of
// the account, at login and at renewal, sorted and each once; other
// accounts' tickets and every card carry none.
func TestModeratorTickets(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	f := startOn(t, "", clk, func(c *Config) {
		c.Moderators = []Moderator{{"mod", "FR"}, {"mod", "ES"}, {"mod", "ES"}}
	})
	c := newClient(t)
	for _, u := range []string{"mod", "bob"} {
		if code := register(t, c, f, u, "pw-"+u); code != "" {
			t.Fatalf("register %s: %q", u, code)
		}
	}
	for _, tc := range []struct {
		user string
		want []string
	}{{"mod", []string{"ES", "FR"}}, {"bob", nil}} {
		t.Run(tc.user, func(t *testing.T) {
			lr := loginResult(t, newClient(t), f, tc.user, "pw-"+tc.user)
			tk, err := ticket.Verify(f.info.ID, lr.Ticket, clk.Now())
			if err != nil || !slices.Equal(tk.Moderates, tc.want) {
				t.Fatalf("%s's ticket moderates %v (%v), want %v", tc.user, tk.Moderates, err, tc.want)
			}
			card, err := ticket.VerifyCard(f.info.ID, lr.Card, clk.Now())
			if err != nil || len(card.Moderates) != 0 {
				t.Fatalf("the card: %v, %v", card.Moderates, err)
			}
		})
	}
}

func TestParseModerator(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Moderator
		err  bool
	}{
		{"alice=ES", Moderator{"alice", "ES"}, false},
		{" alice = fr ", Moderator{"alice", "FR"}, false},
		{"alice", Moderator{}, true},
		{"alice=Spain", Moderator{}, true},
		{"Not A User=ES", Moderator{}, true},
		{"=ES", Moderator{}, true},
	} {
		got, err := ParseModerator(tc.in)
		if (err != nil) != tc.err || got != tc.want || (err != nil && !errors.Is(err, ErrBadModerator)) {
			t.Errorf("ParseModerator(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := newModerators([]Moderator{{"alice", "XX1"}}); !errors.Is(err, ErrBadModerator) {
		t.Errorf("a grant of a region that is none: %v", err)
	}
}
