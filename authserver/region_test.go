package authserver

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	nodelogin "eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
)

func mustRanges(t testing.TB, specs ...string) []RegionRange {
	t.Helper()
	var rs []RegionRange
	for _, s := range specs {
		r, err := ParseRegionRange(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestRegionLookup: operator ranges first, the longest prefix among them
// winning; then no region for loopback, private and link-local addresses;
// then the embedded database.
func TestRegionLookup(t *testing.T) {
	rs, err := newRegions(mustRanges(t,
		"127.1.0.0/16=ES", "127.2.0.0/16=DE", "127.2.3.0/24=FR", "127.0.0.0/8=IT",
		"10.9.0.0/16=pt", "fd00:1::/32=SE", "130.206.0.0/16=PT",
	), nil)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := newRegions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *regions
		ip   string
		want string
	}{
		{"operator range", rs, "127.1.0.5", "ES"},
		{"another operator range", rs, "127.2.0.5", "DE"},
		{"longer prefix inside it wins", rs, "127.2.3.4", "FR"},
		{"beside the longer prefix", rs, "127.2.4.4", "DE"},
		{"shortest range catches the rest", rs, "127.0.0.1", "IT"},
		{"IPv4-mapped address", rs, "::ffff:127.1.0.9", "ES"},
		{"private address an operator named", rs, "10.9.1.1", "PT"},
		{"private address no one named", rs, "10.1.2.3", ""},
		{"private IPv6 an operator named", rs, "fd00:1::5", "SE"},
		{"operator wins over the database", rs, "130.206.1.1", "PT"},
		{"database beside operator ranges", rs, "193.0.6.139", "NL"},

		{"loopback", bare, "127.0.0.1", ""},
		{"loopback elsewhere in 127/8", bare, "127.1.0.5", ""},
		{"10/8", bare, "10.1.2.3", ""},
		{"172.16/12", bare, "172.31.255.1", ""},
		{"192.168/16", bare, "192.168.1.1", ""},
		{"IPv6 loopback", bare, "::1", ""},
		{"IPv6 unique local", bare, "fc00::1", ""},
		{"IPv6 link-local", bare, "fe80::1", ""},
		{"IPv4 link-local", bare, "169.254.1.1", ""},
		{"unspecified", bare, "0.0.0.0", ""},
		{"documentation range: the database knows no country", bare, "192.0.2.1", ""},
		{"IPv6 documentation range", bare, "2001:db8::1", ""},
		// Allocations held by the same national networks for decades:
		// Spain's research network and the RIPE NCC in Amsterdam.
		{"database: RedIRIS", bare, "130.206.1.1", "ES"},
		{"database: RIPE NCC", bare, "193.0.6.139", "NL"},
		{"database: RIPE NCC over IPv6", bare, "2001:67c:2e8::1", "NL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("lookup(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
	if got := rs.lookup(netip.Addr{}); got != "" {
		t.Fatalf("an unknown address got region %q", got)
	}
}

// TestRegionLookupAllocs: every login looks its address up; doing so must
// not allocate, with operator ranges or without, IPv4 or IPv6.
func TestRegionLookupAllocs(t *testing.T) {
	rs, err := newRegions(mustRanges(t, "127.1.0.0/16=ES", "127.2.0.0/16=DE", "2001:db8::/32=FR"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"127.1.0.5", "193.0.6.139", "2001:67c:2e8::1", "10.0.0.1", "::ffff:130.206.1.1"} {
		a := netip.MustParseAddr(ip)
		if n := testing.AllocsPerRun(100, func() { rs.lookup(a) }); n != 0 {
			t.Errorf("lookup(%s) allocates %v times", ip, n)
		}
	}
}

func BenchmarkRegionLookup(b *testing.B) {
	rs, err := newRegions(mustRanges(b, "127.1.0.0/16=ES", "127.2.0.0/16=DE", "127.2.3.0/24=FR"), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, ip := range []string{"127.2.3.4", "193.0.6.139", "2001:67c:2e8::1"} {
		a := netip.MustParseAddr(ip)
		b.Run(ip, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs.lookup(a)
			}
		})
	}
}

// TestParseRegionRange: what --region accepts, and a clear error for what
// it does not.
func TestParseRegionRange(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the range as stored; "" for an error
		errPart string // what the error must say
	}{
		{"127.1.0.0/16=ES", "127.1.0.0/16=ES", ""},
		{"127.1.0.0/16=es", "127.1.0.0/16=ES", ""},
		{" 127.1.0.0/16 = de ", "127.1.0.0/16=DE", ""},
		{"2001:db8::/32=FR", "2001:db8::/32=FR", ""},
		{"193.0.6.139/32=NL", "193.0.6.139/32=NL", ""},
		{"127.1.0.0/16", "", "want CIDR=CODE"},
		{"127.1.0.0=ES", "", "no '/'"},
		{"127.1.0.5/16=ES", "", "did you mean 127.1.0.0/16"},
		{"300.1.0.0/16=ES", "", "300.1.0.0"},
		{"127.1.0.0/33=ES", "", "33"},
		{"fe80::%eth0/64=ES", "", "fe80::%eth0/64"},
		{"::ffff:127.1.0.0/112=ES", "", "write an IPv4-mapped range as IPv4 (127.1.0.0/16)"},
		{"127.1.0.0/16=", "", "not two letters"},
		{"127.1.0.0/16=ESP", "", "not two letters"},
		{"127.1.0.0/16=E1", "", "uppercase letters"},
		{"127.1.0.0/16=ZZ", "", "no region"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRegionRange(tc.in)
			if tc.want != "" {
				if err != nil || r.String() != tc.want {
					t.Fatalf("ParseRegionRange(%q) = %v, %v; want %s", tc.in, r, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrBadRegionRange) {
				t.Fatalf("ParseRegionRange(%q) = %v, %v; want %v", tc.in, r, err, ErrBadRegionRange)
			}
			if !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("ParseRegionRange(%q): %q does not say %q", tc.in, err, tc.errPart)
			}
		})
	}
}

// TestRegionConfig: New refuses a prefix given twice (even with the same
// code: one of them is a mistake) and a range that was never parsed.
func TestRegionConfig(t *testing.T) {
	tests := []struct {
		name    string
		ranges  []RegionRange
		errPart string
	}{
		{"same prefix, two codes", mustRanges(t, "127.1.0.0/16=ES", "127.2.0.0/16=DE", "127.1.0.0/16=FR"), "127.1.0.0/16 is given twice"},
		{"same prefix, same code", mustRanges(t, "127.1.0.0/16=ES", "127.1.0.0/16=ES"), "given twice"},
		{"not canonical", []RegionRange{{Prefix: netip.MustParsePrefix("127.1.2.3/16"), Code: "ES"}}, "host bits"},
		{"lowercase code", []RegionRange{{Prefix: netip.MustParsePrefix("127.1.0.0/16"), Code: "es"}}, "uppercase"},
		{"no prefix", []RegionRange{{Code: "ES"}}, "no prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{DBPath: t.TempDir() + "/auth.db", Key: mustEd25519(t), Regions: tc.ranges})
			if !errors.Is(err, ErrBadRegionRange) || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("New: %v; want %v saying %q", err, ErrBadRegionRange, tc.errPart)
			}
		})
	}
}

func mustEd25519(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clientOn is a client host whose connections leave from ip, so the
// server sees ip as the remote address (the TCP transport dials from its
// listen address).
func clientOn(t *testing.T, key crypto.PrivKey, ip string) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0")}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestRegionPass: a real auth server on 127.0.0.1 with --region ranges on
// loopback addresses; clients dialling from 127.1.0.5 and 127.2.0.5 get
// region passes for ES and DE beside their tickets, one from 127.0.0.1
// none; the passes belong to their own tickets only; neither ticket nor
// card carries a region, so what is shown to peers and strangers tells no
// country; a renewal's pass is for the address it comes from, not the old
// one's.
func TestRegionPass(t *testing.T) {
	f := startOn(t, "", &clock{t: time.Now()}, func(c *Config) {
		c.Regions = mustRanges(t, "127.1.0.0/16=ES", "127.2.0.0/16=DE")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	aliceKey := mustEd25519(t)
	tests := []struct {
		user, ip string
		key      crypto.PrivKey
		want     string // "" for no pass
	}{
		{"alice", "127.1.0.5", aliceKey, "ES"},
		{"bruno", "127.2.0.5", nil, "DE"},
		{"carla", "127.0.0.1", nil, ""},
	}
	results := map[string]*nodelogin.Result{}
	for _, tc := range tests {
		c := clientOn(t, tc.key, tc.ip)
		if err := nodelogin.Register(ctx, c, f.info, tc.user, "pw-"+tc.user); err != nil {
			t.Fatalf("register %s: %v", tc.user, err)
		}
		res, err := nodelogin.Login(ctx, c, f.info, nodelogin.Request{Username: tc.user, Password: "pw-" + tc.user, BoxKey: make([]byte, 32)})
		if err != nil {
			t.Fatalf("login %s: %v", tc.user, err)
		}
		// The server saw the address the client dialled from.
		if conns := f.h.Network().ConnsToPeer(c.ID()); len(conns) == 0 || !fromIP(conns[0].RemoteMultiaddr(), tc.ip) {
			t.Fatalf("%s: server sees %v, want %s", tc.user, conns, tc.ip)
		}
		switch p := res.RegionPass; {
		case tc.want == "" && p != nil:
			t.Errorf("%s from %s: region pass %+v, want none", tc.user, tc.ip, p)
		case tc.want != "" && (p == nil || p.Region != tc.want || p.Username != tc.user || p.Peer != c.ID()):
			t.Errorf("%s from %s: region pass %+v, want %s for %s", tc.user, tc.ip, p, tc.want, c.ID())
		case p != nil:
			// What a regional room's home will check: the pass against the
			// ticket it comes with.
			if _, err := ticket.VerifyPass(f.srv.ID(), p.Signed, res.Ticket, time.Now()); err != nil {
				t.Errorf("%s: pass refused with its own ticket: %v", tc.user, err)
			}
		}
		// Neither the ticket (shown to every peer) nor the card (shown to
		// strangers) says anything of a region.
		var w wire.Ticket
		for name, st := range map[string]*wire.SignedTicket{"ticket": res.Ticket.Signed, "card": res.Ticket.PublicCard} {
			if err := proto.Unmarshal(st.Ticket, &w); err != nil || len(w.ProtoReflect().GetUnknown()) != 0 {
				t.Errorf("%s: %s has fields a ticket does not define (%v): %x", tc.user, name, err, w.ProtoReflect().GetUnknown())
			}
		}
		results[tc.user] = res
	}

	// A pass shown with another user's ticket is refused.
	if _, err := ticket.VerifyPass(f.srv.ID(), results["alice"].RegionPass.Signed, results["bruno"].Ticket, time.Now()); !errors.Is(err, ticket.ErrPassMismatch) {
		t.Errorf("alice's pass with bruno's ticket: %v, want %v", err, ticket.ErrPassMismatch)
	}

	// alice's laptop travels: the same device renews from 127.2.0.5.
	moved := clientOn(t, aliceKey, "127.2.0.5")
	res, err := nodelogin.Renew(ctx, moved, f.info, results["alice"].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if res.RegionPass == nil || res.RegionPass.Region != "DE" {
		t.Fatalf("renewal from 127.2.0.5: region pass %+v, want DE", res.RegionPass)
	}
	// and from 127.0.0.1, where it is in no region: no pass.
	home := clientOn(t, aliceKey, "127.0.0.1")
	if res, err = nodelogin.Renew(ctx, home, f.info, res.Ticket); err != nil || res.RegionPass != nil {
		t.Fatalf("renewal from 127.0.0.1: region pass %+v, %v; want none", res.RegionPass, err)
	}
}

func fromIP(a ma.Multiaddr, ip string) bool {
	v, err := a.ValueForProtocol(ma.P_IP4)
	return err == nil && v == ip
}

// FuzzParseRegionRange: whatever --region accepts is a usable range that
// reads back the same from its own text.
func FuzzParseRegionRange(f *testing.F) {
	for _, s := range []string{"127.1.0.0/16=ES", "2001:db8::/32=de", "127.1.0.5/16=ES", "::ffff:1.2.3.0/120=FR", "=", "1.2.3.4/32=ZZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRegionRange(s)
		if err != nil {
			if !errors.Is(err, ErrBadRegionRange) {
				t.Fatalf("%q: error %v is not %v", s, err, ErrBadRegionRange)
			}
			return
		}
		if err := r.check(); err != nil {
			t.Fatalf("%q accepted as %v, which fails its own check: %v", s, r, err)
		}
		again, err := ParseRegionRange(r.String())
		if err != nil || again != r {
			t.Fatalf("%q → %v does not read back: %v, %v", s, r, again, err)
		}
	})
}
