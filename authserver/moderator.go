package authserver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"eserver/node/wire"
)

// Regional chat rooms belong to no user, so no owner can appoint their
// operators: the auth server's operator names their moderators
// (eserver-auth --moderator USER=CODE), and the server signs the regions an
// account moderates into each of its node tickets (ticket.Ticket.Moderates).
// A room's homes and members take a regional room's moderation op from an
// author whose ticket names that room's region (node/room), so the
// authority is as good as the auth server's signature, and a grant the
// operator withdraws lapses with the account's tickets, within a day.

// ErrBadModerator is what ParseModerator returns, wrapped, for a grant
// that cannot be used.
var ErrBadModerator = errors.New("bad moderator grant")

// Moderator is the operator's statement that Username moderates the
// regional room of Region.
type Moderator struct {
	Username string
	Region   string // wire.ValidRegion
}

func (m Moderator) String() string { return m.Username + "=" + m.Region }

// ParseModerator parses "USER=CODE", e.g. "alice=ES" (the code in either
// case, stored in uppercase).
func ParseModerator(s string) (Moderator, error) {
	user, code, ok := strings.Cut(s, "=")
	if !ok {
		return Moderator{}, fmt.Errorf("%w: %q: want USER=CODE, e.g. alice=ES", ErrBadModerator, s)
	}
	m := Moderator{Username: strings.TrimSpace(user), Region: strings.ToUpper(strings.TrimSpace(code))}
	if err := wire.ValidUsername(m.Username); err != nil {
		return Moderator{}, fmt.Errorf("%w: %q: %w", ErrBadModerator, s, err)
	}
	if err := wire.ValidRegion(m.Region); err != nil {
		return Moderator{}, fmt.Errorf("%w: %q: %w", ErrBadModerator, s, err)
	}
	return m, nil
}

// moderators maps a username to the regions it moderates, sorted: what
// goes into its tickets.
type moderators map[string][]string

// newModerators checks the grants: each valid, at most
// wire.MaxModeratedRegions regions per account (a grant repeated counts
// once).
func newModerators(ms []Moderator) (moderators, error) {
	out := moderators{}
	for _, m := range ms {
		if err := wire.ValidUsername(m.Username); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadModerator, m, err)
		}
		if err := wire.ValidRegion(m.Region); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadModerator, m, err)
		}
		rs := out[m.Username]
		if !slices.Contains(rs, m.Region) {
			rs = append(rs, m.Region)
			slices.Sort(rs)
		}
		if len(rs) > wire.MaxModeratedRegions {
			return nil, fmt.Errorf("%w: %s moderates more than %d regions", ErrBadModerator, m.Username, wire.MaxModeratedRegions)
		}
		out[m.Username] = rs
	}
	return out, nil
}
