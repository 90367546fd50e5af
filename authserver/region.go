package authserver

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/phuslu/iploc"

	"eserver/node/wire"
)

// The region is what makes regional rooms "server-verified": the auth
// server, not the client, says which country a login came from, from the
// address it sees, and signs it into a region pass (ticket.SignPass)
// issued beside the ticket. Not into the ticket: that travels to everyone
// the user talks to, and the country must go only where the user presents
// the pass, to the homes of a regional room they post in. It is as good as
// the address: behind a relay, a VPN or a proxy it is theirs.
//
// The country database is github.com/phuslu/iploc (MIT), which embeds
// IP2Location LITE data (CC BY-SA 4.0, attributed in README.md): 4.5 MB
// more in the binary, and a binary search per lookup (16 ns for an
// operator range, 65–80 ns in the database here) that allocates nothing.
// Its IPv6 table is unpacked at the first public IPv6 lookup of the
// process, once: about 60 ms and 11 MB of heap. It is left lazy on
// purpose: the auth server bundled in the desktop app sees only LAN and
// loopback addresses, which never reach the database, and should not
// carry the table for nothing.

// ErrBadRegionRange is what ParseRegionRange and New return, wrapped, for
// an operator's range that cannot be used.
var ErrBadRegionRange = errors.New("bad region range")

// unknownRegion is what the database answers for an address it places in
// no country (reserved, private and unallocated ranges).
const unknownRegion = "ZZ"

// RegionRange is an operator's statement that the addresses of Prefix are
// in region Code (eserver-auth --region CIDR=CODE). Ranges win over the
// country database, and a longer prefix over a shorter one.
type RegionRange struct {
	Prefix netip.Prefix
	Code   string // wire.ValidRegion
}

func (r RegionRange) String() string { return r.Prefix.String() + "=" + r.Code }

// ParseRegionRange parses "CIDR=CODE", e.g. "127.1.0.0/16=ES" or
// "2001:db8::/32=de". The code is taken in either case and stored in
// uppercase; the prefix must be written in its canonical form (no host
// bits set), so a typo such as 10.1.2.3/8 is caught rather than silently
// widened.
func ParseRegionRange(s string) (RegionRange, error) {
	cidr, code, ok := strings.Cut(s, "=")
	if !ok {
		return RegionRange{}, fmt.Errorf("%w: %q: want CIDR=CODE, e.g. 127.1.0.0/16=ES", ErrBadRegionRange, s)
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return RegionRange{}, fmt.Errorf("%w: %q: %v", ErrBadRegionRange, s, err)
	}
	r := RegionRange{Prefix: p, Code: strings.ToUpper(strings.TrimSpace(code))}
	if err := r.check(); err != nil {
		return RegionRange{}, fmt.Errorf("%q: %w", s, err)
	}
	return r, nil
}

// ParseRegionRanges parses every "CIDR=CODE" of specs (ParseRegionRange)
// and checks that no prefix is given twice, as New does: what
// eserver-auth's --region flags need before anything starts.
func ParseRegionRanges(specs []string) ([]RegionRange, error) {
	rs := make([]RegionRange, 0, len(specs))
	for _, s := range specs {
		r, err := ParseRegionRange(s)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if _, err := sortRanges(rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// check reports what is wrong with r, if anything.
func (r RegionRange) check() error {
	p := r.Prefix
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: no prefix", ErrBadRegionRange)
	case p.Addr().Zone() != "":
		return fmt.Errorf("%w: %s: a prefix has no zone", ErrBadRegionRange, p)
	case p.Addr().Is4In6():
		// Remote addresses are unmapped before the lookup, so such a range
		// would never match.
		return fmt.Errorf("%w: %s: write an IPv4-mapped range as IPv4 (%s)", ErrBadRegionRange, p,
			netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	case p != p.Masked():
		return fmt.Errorf("%w: %s has host bits set: did you mean %s?", ErrBadRegionRange, p, p.Masked())
	}
	if err := wire.ValidRegion(r.Code); err != nil {
		return fmt.Errorf("%w: %w: a region is an ISO 3166-1 alpha-2 country code such as ES", ErrBadRegionRange, err)
	}
	if r.Code == unknownRegion {
		return fmt.Errorf("%w: ZZ means \"no region\" to the country database: leave the range out", ErrBadRegionRange)
	}
	return nil
}

// regions places a remote address in a region: the operator's ranges
// first (longest prefix wins), then no region for loopback, private and
// link-local addresses, then the country database.
type regions struct {
	ranges     []RegionRange // longest prefix first
	moderators moderators    // the regional rooms' moderators (moderator.go)
}

// newRegions checks the operator's ranges (each valid, no prefix named
// twice) and moderator grants, and readies the database.
func newRegions(ranges []RegionRange, grants []Moderator) (*regions, error) {
	for _, r := range ranges {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("region range %s: %w", r, err)
		}
	}
	rs, err := sortRanges(ranges)
	if err != nil {
		return nil, err
	}
	mods, err := newModerators(grants)
	if err != nil {
		return nil, err
	}
	return &regions{ranges: rs, moderators: mods}, nil
}

// sortRanges returns a copy of ranges, longest prefix first (the order
// lookup tries them in), or an error when a prefix is given twice: even
// with the same code, one of the two is a mistake.
func sortRanges(ranges []RegionRange) ([]RegionRange, error) {
	rs := slices.Clone(ranges)
	// Equal lengths in address order, so that duplicates meet.
	slices.SortStableFunc(rs, func(a, b RegionRange) int {
		if c := cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()); c != 0 {
			return c
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	for i := 1; i < len(rs); i++ {
		if rs[i].Prefix == rs[i-1].Prefix {
			return nil, fmt.Errorf("%w: %s is given twice (=%s and =%s)", ErrBadRegionRange, rs[i].Prefix, rs[i-1].Code, rs[i].Code)
		}
	}
	return rs, nil
}

// lookup returns the region of ip, or "" when it has none.
func (t *regions) lookup(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	for _, r := range t.ranges {
		if r.Prefix.Contains(ip) {
			return r.Code
		}
	}
	// Addresses that say nothing of where a person is: this machine, a
	// LAN, a link. The database answers ZZ for them too; not asking it
	// keeps that so whatever its data says.
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return ""
	}
	code := iploc.IPCountry(ip)
	if code == unknownRegion || wire.ValidRegion(code) != nil {
		return ""
	}
	return code
}
