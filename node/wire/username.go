package wire

import (
	"errors"
	"fmt"
)

// ErrBadUsername is what ValidUsername returns, wrapped, for a name no
// account can have.
var ErrBadUsername = errors.New("invalid username")

// ValidUsername reports whether name is a valid account name: 3 to
// MaxUsername lowercase letters, digits, '.', '_' or '-'. The auth server
// enforces it at sign-up; nodes check it first so an obviously bad name
// fails without a round trip, and refuse it in what peers send them. It is
// the one place the rule is written.
func ValidUsername(name string) error {
	if len(name) < 3 || len(name) > MaxUsername {
		return fmt.Errorf("%w: a username is 3 to %d characters", ErrBadUsername, MaxUsername)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: a username holds only lowercase letters, digits, '.', '_' and '-'", ErrBadUsername)
		}
	}
	return nil
}
