package wire

import (
	"errors"
	"fmt"
)

// ErrBadRegion is what ValidRegion returns, wrapped, for a code no region
// pass may carry.
var ErrBadRegion = errors.New("invalid region")

// RegionLength is the length of a region code: an ISO 3166-1 alpha-2
// country code.
const RegionLength = 2

// MaxRegionPass is the most bytes of a serialized RegionPass (about 130:
// a username, two peer IDs, a code and two times) that is signed or
// accepted, so whoever is presented one bounds it before decoding.
const MaxRegionPass = 512

// ValidRegion reports whether code is a region a region pass may carry:
// two uppercase ASCII letters, as ISO 3166-1 alpha-2 writes a country
// ("ES", "DE"). ticket.SignPass checks what it signs with it, and
// ticket.VerifyPass what it reads, so a room name or a directory filter
// built from a pass's region never holds anything else. Whether a code is
// assigned by ISO is not checked: an operator may name a user-assigned one
// (AA, QM–QZ, XA–XZ) for a region of its own. The empty region (none
// known) is not a code: the auth server then issues no pass.
func ValidRegion(code string) error {
	if len(code) != RegionLength {
		return fmt.Errorf("%w: %q is not two letters", ErrBadRegion, code)
	}
	for _, c := range []byte(code) {
		if c < 'A' || c > 'Z' {
			return fmt.Errorf("%w: %q is not two uppercase letters A-Z", ErrBadRegion, code)
		}
	}
	return nil
}
