package authserver

// Attacks on the auth server from issue 13 (items 5, 6 and 9): each test
// performs the attack against a real server on 127.0.0.1 and checks it no
// longer works.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/pake"
	"eserver/node/wire"
)

// startWith runs a server on a fresh database with its Config changed by mod.
func startWith(t *testing.T, clk *clock, mod func(*Config)) *fixture {
	t.Helper()
	return startOn(t, "", clk, mod)
}

// hangUp starts a login as user from c, reads the KE2 and hangs up, as a
// client does that learned from KE2 that its guess was wrong.
func hangUp(t *testing.T, c host.Host, f *fixture, user string) {
	t.Helper()
	pc, _ := pake.NewClient(user)
	ke1, err := pc.LoginStart([]byte("guess"))
	if err != nil {
		t.Fatal(err)
	}
	st := stream(t, c, f)
	send(t, st, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: user, Ke1: ke1}}})
	if r := recv(t, st); r.GetKe2() == nil {
		t.Fatalf("hang-up attempt answered %q, not KE2", errCode(r))
	}
	st.Reset()
}

// TestStrangersCannotLockOutDevices (item 6): an attacker who spends the
// account's and the address's whole failure allowance — hang-ups after KE2,
// wrong KE3s, and failures on other accounts from the same address — does
// not keep the owner's signed-in devices from signing in again or renewing.
// Strangers stay limited (a new device too: a hang-up after KE2 is a guess
// whose answer the client has). A device's own failures are limited per
// device and cost the account's other devices nothing.
func TestStrangersCannotLockOutDevices(t *testing.T) {
	forEngines(t, testStrangersCannotLockOutDevices)
}

func testStrangersCannotLockOutDevices(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	laptop, phone, attacker := newClient(t), newClient(t), newClient(t)
	if got := register(t, laptop, f, "alice", "right"); got != "" {
		t.Fatal(got)
	}
	if got, _ := login(t, laptop, f, "alice", []byte("right")); got != "" {
		t.Fatalf("laptop: %q", got)
	}
	got, pt := login(t, phone, f, "alice", []byte("right"))
	if got != "" {
		t.Fatalf("phone: %q", got)
	}

	// The attack: five hang-ups after KE2, then wrong KE3s, then the
	// address's allowance on other names (every client is on 127.0.0.1,
	// so the owner's devices share the attacker's address).
	for range DefaultMaxFailures {
		hangUp(t, attacker, f, "alice")
	}
	if got, _ := login(t, attacker, f, "alice", nil); got != CodeRateLimited {
		t.Fatalf("stranger past the account's allowance: %q", got)
	}
	for i := range DefaultMaxAddrFailures {
		if got, _ := login(t, attacker, f, fmt.Sprintf("victim%d", i), nil); got != CodeLoginFailed && got != CodeRateLimited {
			t.Fatalf("address attempt %d: %q", i+1, got)
		}
	}
	if got, _ := login(t, attacker, f, "fresh", nil); got != CodeRateLimited {
		t.Fatalf("stranger past the address's allowance: %q", got)
	}
	if got, _ := login(t, newClient(t), f, "alice", []byte("right")); got != CodeRateLimited {
		t.Fatalf("a new device during the attack: %q, want %q", got, CodeRateLimited)
	}

	// The owner's devices are not locked out.
	if got, _ := login(t, laptop, f, "alice", []byte("right")); got != "" {
		t.Fatalf("laptop signing in during the attack: %q", got)
	}
	if r := ask(t, phone, f, renewReq(pt)); r.GetLoginResult() == nil {
		t.Fatalf("phone renewing during the attack: %q", errCode(r))
	}

	// A device guessing (a stolen laptop) is limited on its own budget.
	for i := range DefaultMaxFailures {
		if got, _ := login(t, laptop, f, "alice", nil); got != CodeLoginFailed {
			t.Fatalf("laptop failure %d: %q", i+1, got)
		}
	}
	if got, _ := login(t, laptop, f, "alice", []byte("right")); got != CodeRateLimited {
		t.Fatalf("laptop past its own allowance: %q", got)
	}
	if got, _ := login(t, phone, f, "alice", []byte("right")); got != "" {
		t.Fatalf("phone after the laptop's failures: %q", got)
	}
}

// TestCompletedFailuresOnly (item 6): attempts that never got a KE2 — a
// malformed KE1, a refusal — cost nothing; an owner's right password from
// a new device is refused only after strangers' completed guesses.
func TestCompletedFailuresOnly(t *testing.T) { forEngines(t, testCompletedFailuresOnly) }

func testCompletedFailuresOnly(t *testing.T, db string) {
	f := start(t, db, &clock{t: time.Now()})
	c, attacker := newClient(t), newClient(t)
	if got := register(t, c, f, "alice", "right"); got != "" {
		t.Fatal(got)
	}
	for range 2 * DefaultMaxFailures {
		r := ask(t, attacker, f, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: "alice", Ke1: []byte("junk")}}})
		if got := errCode(r); got != CodeBadRequest {
			t.Fatalf("malformed KE1: %q", got)
		}
	}
	if got, _ := login(t, c, f, "alice", []byte("right")); got != "" {
		t.Fatalf("after malformed attempts: %q", got)
	}
}

// TestLimitKeys (item 6 and 5): limits key an IPv4 source by its address
// and an IPv6 source by its /64 (one host may use its whole /64), and the
// registration prefix limit keys /24 and /56.
func TestLimitKeys(t *testing.T) {
	tests := []struct {
		a, b       string
		sameAddr   bool
		samePrefix bool
	}{
		{"/ip6/2001:db8:1:2::1/tcp/1", "/ip6/2001:db8:1:2:ffff:ffff:ffff:fffe/udp/2/quic-v1", true, true},
		{"/ip6/2001:db8:1:2::1/tcp/1", "/ip6/2001:db8:1:3::1/tcp/1", false, true},
		{"/ip6/2001:db8:1:2::1/tcp/1", "/ip6/2001:db8:1:ff::1/tcp/1", false, true},
		{"/ip6/2001:db8:1:2::1/tcp/1", "/ip6/2001:db8:1:102::1/tcp/1", false, false},
		{"/ip4/192.0.2.1/tcp/1", "/ip4/192.0.2.1/udp/5/quic-v1", true, true},
		{"/ip4/192.0.2.1/tcp/1", "/ip4/192.0.2.200/tcp/1", false, true},
		{"/ip4/192.0.2.1/tcp/1", "/ip4/192.0.3.1/tcp/1", false, false},
		{"/ip4/192.0.2.1/tcp/1", "/ip6/::ffff:192.0.2.1/tcp/1", true, true},
		{"/ip4/192.0.2.1/tcp/1", "/ip6/2001:db8::/tcp/1", false, false},
	}
	for _, tt := range tests {
		ka, kb := sourceOf(ma.StringCast(tt.a)), sourceOf(ma.StringCast(tt.b))
		if (ka.addr == kb.addr) != tt.sameAddr {
			t.Errorf("%s and %s: address keys %q and %q, want same=%v", tt.a, tt.b, ka.addr, kb.addr, tt.sameAddr)
		}
		if (ka.prefix == kb.prefix) != tt.samePrefix {
			t.Errorf("%s and %s: prefix keys %q and %q, want same=%v", tt.a, tt.b, ka.prefix, kb.prefix, tt.samePrefix)
		}
	}
	if k := sourceOf(nil); k.addr == "" || k.prefix == "" {
		t.Errorf("no address: keys %+v", k)
	}
}

// revokeWith runs a revoke_device exchange from c with ticket st for
// target, proving pw as user's password (a nil pw forges KE3, as a thief
// who does not know it must). It returns the final error code, "" when
// revoked.
func revokeWith(t *testing.T, c host.Host, f *fixture, st *wire.SignedTicket, target peer.ID, user string, pw []byte) string {
	t.Helper()
	pc, ke1 := loginStart(t, user, pw)
	s := stream(t, c, f)
	send(t, s, &wire.AuthRequest{Kind: &wire.AuthRequest_RevokeDevice{RevokeDevice: &wire.RevokeDevice{Ticket: st, PeerId: []byte(target), Ke1: ke1}}})
	r := recv(t, s)
	k2, ok := r.Kind.(*wire.AuthResponse_Ke2)
	if !ok {
		return errCode(r)
	}
	ke3 := make([]byte, 64)
	if pw != nil {
		// Another account's password does not open alice's KE2: the
		// client sends a forged KE3 then.
		if k, _, err := pc.LoginFinish(k2.Ke2); err == nil {
			ke3 = k
		}
	}
	send(t, s, &wire.LoginFinish{Ke3: ke3})
	r = recv(t, s)
	if r.GetRevokeResult() == nil {
		return errCode(r)
	}
	return ""
}

// TestRevokeNeedsPassword (item 9): a thief holding a signed-in device
// cannot revoke its owner's other devices with the ticket alone, nor with
// a wrong password (which counts as a failed login); the password revokes
// them; a device may still revoke itself with its ticket alone.
func TestRevokeNeedsPassword(t *testing.T) {
	f := start(t, "", &clock{t: time.Now()})
	laptop, phone := newClient(t), newClient(t)
	if got := register(t, laptop, f, "alice", "right"); got != "" {
		t.Fatal(got)
	}
	_, lt := login(t, laptop, f, "alice", []byte("right"))
	_, stolen := login(t, phone, f, "alice", []byte("right"))

	if got := errCode(ask(t, phone, f, revokeReq(stolen, laptop.ID()))); got != CodeBadRequest {
		t.Fatalf("revoking another device with a ticket alone: %q, want %q", got, CodeBadRequest)
	}
	failed := f.srv.Stats().LoginsFailed
	if got := revokeWith(t, phone, f, stolen, laptop.ID(), "alice", nil); got != CodeLoginFailed {
		t.Fatalf("revoking with a wrong password: %q, want %q", got, CodeLoginFailed)
	}
	if got := f.srv.Stats().LoginsFailed; got != failed+1 {
		t.Fatalf("%d failed logins counted for a wrong password, want %d", got-failed, 1)
	}
	if r := ask(t, laptop, f, renewReq(lt)); r.GetLoginResult() == nil {
		t.Fatalf("laptop after the thief's attempts: %q", errCode(r))
	}
	// The password proof is of the ticket's account, whatever else is sent.
	if got := register(t, phone, f, "mallory", "mine"); got != "" {
		t.Fatal(got)
	}
	if got := revokeWith(t, phone, f, stolen, laptop.ID(), "mallory", []byte("mine")); got != CodeLoginFailed {
		t.Fatalf("revoking with another account's password: %q, want %q", got, CodeLoginFailed)
	}

	// The owner, with the password, revokes the stolen phone.
	if got := revokeWith(t, laptop, f, lt, phone.ID(), "alice", []byte("right")); got != "" {
		t.Fatalf("revoking with the password: %q", got)
	}
	if got := errCode(ask(t, phone, f, renewReq(stolen))); got != CodeDeviceRevoked {
		t.Fatalf("revoked phone renewing: %q", got)
	}
	// A device removing itself needs no password: it gives up only itself.
	if r := ask(t, laptop, f, revokeReq(lt, laptop.ID())); r.GetRevokeResult() == nil {
		t.Fatalf("self-revoke: %q", errCode(r))
	}
}

// TestRegistrationThrottle (item 5): one address creates at most
// DefaultRegisterRate accounts an hour; the next is refused with
// rate_limited before any OPAQUE work, from any client at that address;
// refused registrations (a taken name) do not count; an hour later it may
// register again.
func TestRegistrationThrottle(t *testing.T) { forEngines(t, testRegistrationThrottle) }

func testRegistrationThrottle(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	c := newClient(t)
	if got := register(t, c, f, "taken", "pw"); got != "" {
		t.Fatal(got)
	}
	for range DefaultRegisterRate {
		if got := register(t, c, f, "taken", "pw"); got != CodeUsernameTaken {
			t.Fatalf("taken name: %q", got)
		}
	}
	for i := range DefaultRegisterRate - 1 {
		if got := register(t, c, f, fmt.Sprintf("sybil%d", i), "pw"); got != "" {
			t.Fatalf("registration %d: %q", i+2, got)
		}
	}
	for _, who := range []host.Host{c, newClient(t)} {
		if got := register(t, who, f, "onemore", "pw"); got != CodeRateLimited {
			t.Fatalf("registration past the limit: %q, want %q", got, CodeRateLimited)
		}
	}
	if got := f.srv.Stats().RegistrationsRateLimited; got != 2 {
		t.Fatalf("%d refused registrations counted, want 2", got)
	}
	clk.Advance(time.Hour)
	if got := register(t, c, f, "onemore", "pw"); got != "" {
		t.Fatalf("an hour later: %q", got)
	}
}

// TestRegistrationProbes: "username taken" tells whether an account
// exists, so one address may start only RegisterProbeFactor times the
// register rate of registrations per window, whatever their outcome; past
// that a taken name and a free one get the same answer.
func TestRegistrationProbes(t *testing.T) { forEngines(t, testRegistrationProbes) }

func testRegistrationProbes(t *testing.T, db string) {
	clk := &clock{t: time.Now()}
	f := start(t, db, clk)
	c := newClient(t)
	if got := register(t, c, f, "taken", "pw"); got != "" {
		t.Fatal(got)
	}
	for i := 1; i < DefaultRegisterRate*RegisterProbeFactor; i++ {
		if got := register(t, c, f, "taken", "pw"); got != CodeUsernameTaken {
			t.Fatalf("probe %d: %q", i, got)
		}
	}
	for _, name := range []string{"taken", "free"} {
		if got := register(t, c, f, name, "pw"); got != CodeRateLimited {
			t.Fatalf("%s name past the probe limit: %q, want %q", name, got, CodeRateLimited)
		}
	}
	clk.Advance(RegisterWindow)
	if got := register(t, c, f, "free", "pw"); got != "" {
		t.Fatalf("a window later: %q", got)
	}
}

// TestRegistrationThrottlePrefix: past the per-address limit, other
// addresses of one /24 share RegisterPrefixFactor times its allowance;
// another /24 is untouched; a negative rate turns the throttle off.
func TestRegistrationThrottlePrefix(t *testing.T) { forEngines(t, testRegistrationThrottlePrefix) }

func testRegistrationThrottlePrefix(t *testing.T, db string) {
	now := time.Now()
	f := start(t, db, &clock{t: now})
	src := func(a string) source { return sourceOf(ma.StringCast("/ip4/" + a + "/tcp/1")) }
	admitted := func(a string, n int) int {
		n0 := 0
		for range n {
			if ok, err := f.srv.admitRegistration(context.Background(), src(a), now); err != nil {
				t.Fatal(err)
			} else if ok {
				n0++
			}
		}
		return n0
	}
	perPrefix := DefaultRegisterRate * RegisterPrefixFactor
	got := 0
	for i := range RegisterPrefixFactor + 1 {
		got += admitted(fmt.Sprintf("198.51.100.%d", i+1), DefaultRegisterRate)
	}
	if got != perPrefix {
		t.Fatalf("%d registrations admitted from one /24, want %d", got, perPrefix)
	}
	if n := admitted("198.51.101.1", DefaultRegisterRate+1); n != DefaultRegisterRate {
		t.Fatalf("another /24: %d admitted, want %d", n, DefaultRegisterRate)
	}

	off := startWith(t, &clock{t: now}, func(c *Config) { c.RegisterRate = -1 })
	for i := range 3 * perPrefix {
		if ok, err := off.srv.admitRegistration(context.Background(), src("203.0.113.1"), now); err != nil || !ok {
			t.Fatalf("throttle off: registration %d refused", i+1)
		}
	}
}

// TestDeviceCap (item 5): an account holds at most MaxDevices devices with
// a live ticket; another is refused until one is revoked or its tickets
// expire, while the devices it has keep signing in.
func TestDeviceCap(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := startWith(t, clk, func(c *Config) { c.MaxDevices = 2 })
	laptop, phone, tablet := newClient(t), newClient(t), newClient(t)
	if got := register(t, laptop, f, "alice", "right"); got != "" {
		t.Fatal(got)
	}
	_, lt := login(t, laptop, f, "alice", []byte("right"))
	if got, _ := login(t, phone, f, "alice", []byte("right")); got != "" {
		t.Fatalf("second device: %q", got)
	}
	if got, _ := login(t, tablet, f, "alice", []byte("right")); got != CodeRateLimited {
		t.Fatalf("third device: %q, want %q", got, CodeRateLimited)
	}
	if got, _ := login(t, laptop, f, "alice", []byte("right")); got != "" {
		t.Fatalf("a device the account has: %q", got)
	}
	if got := revokeWith(t, laptop, f, lt, phone.ID(), "alice", []byte("right")); got != "" {
		t.Fatalf("revoke: %q", got)
	}
	if got, _ := login(t, tablet, f, "alice", []byte("right")); got != "" {
		t.Fatalf("after a revocation: %q", got)
	}
	clk.Advance(wire.TicketLifetime + time.Second)
	if got, _ := login(t, phone, f, "alice", []byte("right")); got != CodeDeviceRevoked {
		t.Fatalf("revoked device: %q", got)
	}
	if got, _ := login(t, newClient(t), f, "alice", []byte("right")); got != "" {
		t.Fatalf("after the others' tickets expired: %q", got)
	}
}
