package room

import (
	"errors"
	"testing"
	"time"

	"eserver/node/wire"
)

// FuzzVerify feeds arbitrary bytes to Decode and, when they decode, to
// Verify against the lounge: nothing panics, every refusal wraps one of the
// package's sentinels, and whatever verifies applies at the next position
// with the hash of its own bytes.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	base, chain := lounge(w)
	at := base.Time.Add(time.Second)
	for _, s := range chain {
		f.Add(wire.MustMarshal(s))
	}
	for _, kind := range []func(*wire.RoomOp){topic("t"), ban("tina", at.Add(time.Hour)), modes(Modes{Public: true}), transfer("oscar"), deleteMessage("m", "tina")} {
		o := Next(base, "olivia", at)
		kind(o)
		f.Add(wire.MustMarshal(w.sign("olivia", o)))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x10})
	sentinels := []error{ErrMalformed, ErrForged, ErrUnauthorized, ErrWrongRoom, ErrBadTime, ErrStale, ErrFork, ErrGap,
		ErrNotAllowed, ErrBanned, ErrNoChange, ErrTooMany, ErrDeleted}
	c := w.checks()
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v", err)
			}
			return
		}
		op, err := Verify(s, base, at, c)
		if err != nil {
			for _, e := range sentinels {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("Verify: an error without a sentinel: %v", err)
		}
		next, err := Apply(base, op)
		if err != nil {
			t.Fatalf("Apply of a verified op: %v", err)
		}
		if next.Seq != base.Seq+1 || next.Head != HashOp(s.Op) || op.Author != op.Ticket.Username {
			t.Fatalf("applied at %d with head %x by %q (ticket %q)", next.Seq, next.Head[:4], op.Author, op.Ticket.Username)
		}
	})
}
