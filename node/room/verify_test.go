package room

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// signRaw signs op bytes b as user's device would, under context.
func (w *world) signRaw(user string, b []byte, context string) *wire.SignedRoomOp {
	w.t.Helper()
	d := w.dev(user)
	sig, err := d.key.Sign(append([]byte(context), b...))
	if err != nil {
		w.t.Fatal(err)
	}
	return &wire.SignedRoomOp{Op: b, Signature: sig, Ticket: d.ticket}
}

// revoked is a Revoker of a set of peers.
type revoked map[string]bool

func (r revoked) Check(t *ticket.Ticket) error {
	if r[string(t.Peer)] {
		return errors.New("device revoked")
	}
	return nil
}

// TestForgery is every way to present an op its author did not sign, or
// signed without the right to: each is refused, and the state is the same.
func TestForgery(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	opBytes := func(author string, kind func(*wire.RoomOp)) []byte {
		op := Next(base, author, at)
		kind(op)
		return wire.MustMarshal(op)
	}
	banBytes := opBytes("olivia", ban("oscar", time.Time{}))
	olivia := w.dev("olivia")
	mallory := w.dev("mallory")
	otherServer, _ := newKey(t)

	// A home holds its own key and a supernode ticket, never a member's.
	homeKey, homeID := newKey(t)
	homeTicket := signTicket(t, w.serverKey, "olivia", homeID, t0.Add(-time.Hour), t0.Add(time.Hour), ticket.RoleSupernode)
	homeSig, _ := homeKey.Sign(append([]byte(SigningContext), banBytes...))

	expired := signTicket(t, w.serverKey, "olivia", olivia.id, t0.Add(-48*time.Hour), at, ticket.RoleNode)
	future := signTicket(t, w.serverKey, "olivia", olivia.id, at.Add(time.Hour), at.Add(24*time.Hour), ticket.RoleNode)
	foreign := signTicket(t, otherServer, "olivia", olivia.id, t0.Add(-time.Hour), t0.Add(time.Hour), ticket.RoleNode)

	good := w.signRaw("olivia", banBytes, SigningContext)
	with := func(f func(*wire.SignedRoomOp)) *wire.SignedRoomOp {
		s := proto.Clone(good).(*wire.SignedRoomOp)
		f(s)
		return s
	}
	tampered := with(func(s *wire.SignedRoomOp) {
		s.Op = opBytes("olivia", ban("otto", time.Time{}))
	})
	tests := []struct {
		name    string
		s       *wire.SignedRoomOp
		revoked revoked
		want    error
	}{
		{"genuine", good, nil, nil},
		{"signed by another device with the owner's ticket", with(func(s *wire.SignedRoomOp) {
			s.Signature, _ = mallory.key.Sign(append([]byte(SigningContext), banBytes...))
		}), nil, ErrForged},
		{"another user's ticket and device for the owner's op", with(func(s *wire.SignedRoomOp) {
			s.Signature, _ = mallory.key.Sign(append([]byte(SigningContext), banBytes...))
			s.Ticket = mallory.ticket
		}), nil, ErrForged},
		{"a home signs as the owner", with(func(s *wire.SignedRoomOp) {
			s.Signature, s.Ticket = homeSig, homeTicket
		}), nil, ErrUnauthorized},
		{"a home alters the signed op", tampered, nil, ErrForged},
		{"wrong context string", w.signRaw("olivia", banBytes, "eserver-group-event-v1\x00"), nil, ErrForged},
		{"no context string", w.signRaw("olivia", banBytes, ""), nil, ErrForged},
		{"ticket expired at the op's time", with(func(s *wire.SignedRoomOp) { s.Ticket = expired }), nil, ErrUnauthorized},
		{"ticket issued after the op", with(func(s *wire.SignedRoomOp) { s.Ticket = future }), nil, ErrUnauthorized},
		{"ticket of another auth server", with(func(s *wire.SignedRoomOp) { s.Ticket = foreign }), nil, ErrForged},
		{"ticket's signature broken", with(func(s *wire.SignedRoomOp) {
			s.Ticket = proto.Clone(s.Ticket).(*wire.SignedTicket)
			s.Ticket.Signature[0] ^= 1
		}), nil, ErrForged},
		{"device revoked", good, revoked{string(olivia.id): true}, ErrUnauthorized},
		{"another device revoked", good, revoked{string(mallory.id): true}, nil},
		{"no signature", with(func(s *wire.SignedRoomOp) { s.Signature = nil }), nil, ErrMalformed},
		{"no ticket", with(func(s *wire.SignedRoomOp) { s.Ticket = nil }), nil, ErrMalformed},
		{"a member signs a ban", w.signRaw("mia", opBytes("mia", ban("oscar", time.Time{})), SigningContext), nil, ErrNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.checks()
			if tt.revoked != nil {
				c.Revoked = tt.revoked
			}
			next, _, err := Step(base, tt.s, at, c)
			is(t, err, tt.want)
			if err == nil && next.Operators["oscar"] {
				t.Fatal("ban applied without effect")
			}
		})
	}
}

// TestChain is the hash chain at work: each op is accepted only at its own
// position after its own predecessor, so a replay, a reorder, a drop or a
// splice of another history is refused.
func TestChain(t *testing.T) {
	w := newWorld(t)
	base, chain := lounge(w)
	at := base.Time.Add(time.Second)
	a := w.sign("olivia", func() *wire.RoomOp { o := Next(base, "olivia", at); topic("a")(o); return o }())
	afterA, _, err := Step(base, a, at, w.checks())
	if err != nil {
		t.Fatal(err)
	}
	b := w.sign("oscar", func() *wire.RoomOp { o := Next(afterA, "oscar", at); kick("tina")(o); return o }())
	if _, _, err := Step(afterA, b, at, w.checks()); err != nil {
		t.Fatal(err)
	}
	// c is signed concurrently with a, on the same head: whichever the
	// sequencing home takes first, the other is stale.
	c := w.sign("oscar", func() *wire.RoomOp { o := Next(base, "oscar", at); voice("tina")(o); return o }())
	// A fork: an op at afterA's next position, but following c instead of a.
	afterC, _, err := Step(base, c, at, w.checks())
	if err != nil {
		t.Fatal(err)
	}
	forked := w.sign("olivia", func() *wire.RoomOp { o := Next(afterC, "olivia", at); topic("f")(o); return o }())
	badPrev := Next(base, "olivia", at)
	badPrev.Prev = chain[1].Op[:32]
	topic("x")(badPrev)

	tests := []struct {
		name string
		ops  []*wire.SignedRoomOp
		want error
	}{
		{"in order", append(chain[:len(chain):len(chain)], a, b), nil},
		{"a home reorders two ops", append(chain[:len(chain):len(chain)], b, a), ErrGap},
		{"a home drops one", append(chain[:len(chain):len(chain)], b), ErrGap},
		{"an op replayed", append(chain[:len(chain):len(chain)], a, a), ErrStale},
		{"an old op replayed", append(chain[:len(chain):len(chain)], a, chain[2]), ErrStale},
		{"a concurrent op after the first", append(chain[:len(chain):len(chain)], a, c), ErrStale},
		{"a fork spliced in", append(chain[:len(chain):len(chain)], a, forked), ErrFork},
		{"wrong prev hash", append(chain[:len(chain):len(chain)], w.sign("olivia", badPrev)), ErrFork},
		{"the genesis op dropped", chain[1:], ErrGap},
		{"two genesis ops", append([]*wire.SignedRoomOp{chain[0]}, chain...), ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Replay("lounge", tt.ops, at, w.checks())
			is(t, err, tt.want)
			if err == nil && st.Seq != uint64(len(tt.ops)) {
				t.Fatalf("replayed to %d, want %d", st.Seq, len(tt.ops))
			}
		})
	}
	if _, err := Replay("other", chain, at, w.checks()); !errors.Is(err, ErrWrongRoom) {
		t.Fatalf("a chain replayed as another room's: %v", err)
	}
}

// TestTimes: an op's time lies between its predecessor's and the verifier's
// clock plus the skew, and, for a home sequencing it, within MaxAge.
func TestTimes(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	now := base.Time.Add(time.Hour)
	tests := []struct {
		name   string
		at     time.Time
		maxAge time.Duration
		want   error
	}{
		{"now", now, 0, nil},
		{"at the skew's end", now.Add(wire.MaxClockSkew), 0, nil},
		{"beyond the skew", now.Add(wire.MaxClockSkew + time.Millisecond), 0, ErrBadTime},
		{"with its predecessor", base.Time, 0, nil},
		{"before its predecessor", base.Time.Add(-time.Millisecond), 0, ErrBadTime},
		{"old, replaying", base.Time.Add(time.Second), 0, nil},
		{"old, sequencing", base.Time.Add(time.Second), wire.MaxClockSkew, ErrBadTime},
		{"recent, sequencing", now.Add(-wire.MaxClockSkew), wire.MaxClockSkew, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := Next(base, "olivia", tt.at)
			topic("then")(op)
			c := w.checks()
			c.MaxAge = tt.maxAge
			_, _, err := Step(base, w.sign("olivia", op), now, c)
			is(t, err, tt.want)
		})
	}
}

// TestMalformed is op bytes that are signed and carried correctly but are
// no valid op: each is refused before anything is applied.
func TestMalformed(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	next := func(f func(*wire.RoomOp)) []byte {
		o := Next(base, "olivia", at)
		topic("ok")(o)
		f(o)
		return wire.MustMarshal(o)
	}
	withUnknown := protowire.AppendVarint(protowire.AppendTag(next(func(*wire.RoomOp) {}), 99, protowire.VarintType), 1)
	nestedUnknown := func() []byte {
		modes := protowire.AppendVarint(protowire.AppendTag(wire.MustMarshal(&wire.RoomModes{Public: true}), 77, protowire.VarintType), 1)
		o := Next(base, "olivia", at)
		o.Kind = nil
		b := wire.MustMarshal(o)
		b = protowire.AppendTag(b, 12, protowire.BytesType)
		return protowire.AppendBytes(b, modes)
	}()
	long := strings.Repeat("x", wire.MaxRoomTopic)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"valid", next(func(*wire.RoomOp) {}), nil},
		{"topic at its limit", next(func(o *wire.RoomOp) { topic(long)(o) }), nil},
		{"topic over its limit", next(func(o *wire.RoomOp) { topic(long + "x")(o) }), ErrMalformed},
		{"control character in topic", next(func(o *wire.RoomOp) { topic("a\nb")(o) }), ErrMalformed},
		{"C1 control character in topic", next(func(o *wire.RoomOp) { topic("a\u0085b")(o) }), ErrMalformed},
		{"no kind", next(func(o *wire.RoomOp) { o.Kind = nil }), ErrMalformed},
		{"seq 0", next(func(o *wire.RoomOp) { o.Seq = 0 }), ErrMalformed},
		{"short prev", next(func(o *wire.RoomOp) { o.Prev = o.Prev[:31] }), ErrMalformed},
		{"zero prev after the genesis", next(func(o *wire.RoomOp) { o.Prev = make([]byte, 32) }), ErrMalformed},
		{"no time", next(func(o *wire.RoomOp) { o.TimeUnixMilli = 0 }), ErrMalformed},
		{"bad room name", next(func(o *wire.RoomOp) { o.Room = "Lounge" }), ErrMalformed},
		{"bad author", next(func(o *wire.RoomOp) { o.Author = "" }), ErrMalformed},
		{"bad target", next(func(o *wire.RoomOp) { opUser("Tina!")(o) }), ErrMalformed},
		{"ban ending before it starts", next(func(o *wire.RoomOp) { ban("tina", at)(o) }), ErrMalformed},
		{"empty message ID", next(func(o *wire.RoomOp) { deleteMessage("", "tina")(o) }), ErrMalformed},
		{"long message ID", next(func(o *wire.RoomOp) { deleteMessage(strings.Repeat("m", wire.MaxRoomMessageID+1), "tina")(o) }), ErrMalformed},
		{"empty modes: every default", next(func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Modes{} }), nil},
		{"slow mode over its limit", next(func(o *wire.RoomOp) { modes(Modes{SlowSeconds: wire.MaxRoomSlowSeconds + 1})(o) }), ErrMalformed},
		{"slow mode at its limit", next(func(o *wire.RoomOp) { modes(Modes{SlowSeconds: wire.MaxRoomSlowSeconds})(o) }), nil},
		{"member limit over", next(func(o *wire.RoomOp) { modes(Modes{MemberLimit: wire.MaxRoomMembers + 1})(o) }), ErrMalformed},
		{"flood over", next(func(o *wire.RoomOp) { modes(Modes{FloodMessages: wire.MaxRoomFloodMessages + 1, FloodSeconds: 1})(o) }), ErrMalformed},
		{"flood messages without seconds", next(func(o *wire.RoomOp) { modes(Modes{FloodMessages: 3})(o) }), ErrMalformed},
		{"gate over", next(func(o *wire.RoomOp) { modes(Modes{MinAccountMinutes: wire.MaxRoomMinAccountMinutes + 1})(o) }), ErrMalformed},
		{"huge count", next(func(o *wire.RoomOp) { o.Kind = &wire.RoomOp_Modes{Modes: &wire.RoomModes{SlowSeconds: 1<<32 - 1}} }), ErrMalformed},
		{"half a password", next(func(o *wire.RoomOp) {
			o.Kind = &wire.RoomOp_Modes{Modes: &wire.RoomModes{PasswordHash: make([]byte, 32)}}
		}), ErrMalformed},
		{"zero password", next(func(o *wire.RoomOp) {
			o.Kind = &wire.RoomOp_Modes{Modes: &wire.RoomModes{PasswordSalt: make([]byte, 16), PasswordHash: make([]byte, 32)}}
		}), ErrMalformed},
		{"an unknown field", withUnknown, ErrMalformed},
		{"an unknown field in the modes", nestedUnknown, ErrMalformed},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, ErrMalformed},
		{"too long", make([]byte, wire.MaxRoomOp+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Step(base, w.signRaw("olivia", tt.b, SigningContext), at, w.checks())
			is(t, err, tt.want)
		})
	}
}

// TestDecode: the wire form round-trips, and oversized or odd bytes are
// refused before anything else.
func TestDecode(t *testing.T) {
	w := newWorld(t)
	_, chain := lounge(w)
	b := wire.MustMarshal(chain[1])
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(s, chain[1]) {
		t.Fatal("decoded op differs")
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"too long", make([]byte, wire.MaxSignedRoomOp+1)},
		{"garbage", []byte{0x0a, 0xff}},
		{"empty", nil},
		{"unknown field", protowire.AppendVarint(protowire.AppendTag(b, 50, protowire.VarintType), 1)},
		{"huge signature", wire.MustMarshal(&wire.SignedRoomOp{Op: chain[1].Op, Signature: make([]byte, 200), Ticket: chain[1].Ticket})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestApplyNeedsVerify: Apply takes only what Verify returned, and a
// verified op only at its own position.
func TestApplyNeedsVerify(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	if _, err := Apply(base, &Op{Room: "lounge", Seq: base.Seq + 1, Prev: base.Head, Author: "olivia", Time: at, Kind: KindDeleteRoom}); err == nil {
		t.Fatal("Apply took an op Verify never saw")
	}
	o := Next(base, "olivia", at)
	topic("t")(o)
	op, err := Verify(w.sign("olivia", o), base, at, w.checks())
	if err != nil {
		t.Fatal(err)
	}
	next, err := Apply(base, op)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(next, op); !errors.Is(err, ErrStale) {
		t.Fatalf("applied twice: %v", err)
	}
}
