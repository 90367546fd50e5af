package room

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// msg is a message by user in lounge at t0 with text.
func msg(user, text string) *wire.RoomMessage {
	return &wire.RoomMessage{Room: "lounge", Id: "m1", Author: user, TimeUnixMilli: t0.UnixMilli(), Text: text}
}

// face gives m a nick and a picture hash of n bytes.
func face(m *wire.RoomMessage, nick string, n int) *wire.RoomMessage {
	m.Nick = nick
	if n > 0 {
		m.Avatar = []byte(strings.Repeat("h", n))
	}
	return m
}

// sealedMsg is a well-formed sealed message by user.
func sealedMsg(user string) *wire.RoomMessage {
	m := msg(user, "")
	m.Sealed = &wire.RoomSealed{KeyId: make([]byte, wire.RoomKeyID), Nonce: make([]byte, wire.RoomSealNonce),
		Ciphertext: make([]byte, wire.RoomSealTag+5)}
	return m
}

func (w *world) signMsg(user string, m *wire.RoomMessage) *wire.SignedRoomMessage {
	w.t.Helper()
	d := w.dev(user)
	s, err := SignMessage(d.key, d.ticket, m)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func TestVerifyMessage(t *testing.T) {
	w := newWorld(t)
	good := w.signMsg("alice", msg("alice", "hello"))
	m, err := VerifyMessage(good, t0, Checks{Server: w.server, MaxAge: wire.MaxClockSkew})
	if err != nil {
		t.Fatal(err)
	}
	if m.Author != "alice" || m.Text != "hello" || m.Room != "lounge" || m.Ticket.Username != "alice" || !m.Time.Equal(t0) {
		t.Fatalf("verified %+v", m)
	}

	bob := w.dev("bob")
	nodeRole := func(role string) *wire.SignedRoomMessage {
		d := w.dev("alice")
		st := signTicket(t, w.serverKey, "alice", d.id, t0.Add(-time.Hour), t0.Add(time.Hour), role)
		s, err := SignMessage(d.key, st, msg("alice", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	opContext := func() *wire.SignedRoomMessage {
		// alice's device signs the message bytes under the room-op context.
		s := w.signMsg("alice", msg("alice", "hi"))
		sig, err := w.dev("alice").key.Sign(append([]byte(SigningContext), s.Message...))
		if err != nil {
			t.Fatal(err)
		}
		s.Signature = sig
		return s
	}
	for _, tt := range []struct {
		name string
		s    *wire.SignedRoomMessage
		now  time.Time
		c    Checks
		want error
	}{
		{"nil", nil, t0, Checks{}, ErrMalformed},
		{"empty text", w.signMsg("alice", msg("alice", "")), t0, Checks{}, ErrMalformed},
		{"text at the limit", w.signMsg("alice", msg("alice", strings.Repeat("a", wire.MaxRoomText))), t0, Checks{}, nil},
		{"text past the limit", func() *wire.SignedRoomMessage {
			s := w.signMsg("alice", msg("alice", "x"))
			s.Message = wire.MustMarshal(msg("alice", strings.Repeat("a", wire.MaxRoomText+1)))
			return s
		}(), t0, Checks{}, ErrMalformed},
		{"nick and picture", w.signMsg("alice", face(msg("alice", "hi"), "Alice ✿", 32)), t0, Checks{}, nil},
		{"nick and longest text", w.signMsg("alice", face(msg("alice", strings.Repeat("a", wire.MaxRoomText)), strings.Repeat("n", wire.MaxNick), 32)), t0, Checks{}, nil},
		{"nick past the limit", w.signMsg("alice", face(msg("alice", "hi"), strings.Repeat("n", wire.MaxNick+1), 0)), t0, Checks{}, ErrMalformed},
		{"nick not UTF-8", func() *wire.SignedRoomMessage {
			s := w.signMsg("alice", msg("alice", "hi"))
			s.Message = protowire.AppendBytes(protowire.AppendTag(s.Message, 7, protowire.BytesType), []byte{0xff})
			return s
		}(), t0, Checks{}, ErrMalformed},
		{"short picture hash", w.signMsg("alice", face(msg("alice", "hi"), "", 31)), t0, Checks{}, ErrMalformed},
		{"long picture hash", w.signMsg("alice", face(msg("alice", "hi"), "", 33)), t0, Checks{}, ErrMalformed},
		{"sealed with a nick", w.signMsg("alice", face(sealedMsg("alice"), "Alice", 0)), t0, Checks{}, ErrMalformed},
		{"sealed with a picture", w.signMsg("alice", face(sealedMsg("alice"), "", 32)), t0, Checks{}, ErrMalformed},
		{"sealed", w.signMsg("alice", sealedMsg("alice")), t0, Checks{}, nil},
		{"bad room", w.signMsg("alice", &wire.RoomMessage{Room: "X", Id: "1", Author: "alice", TimeUnixMilli: 1, Text: "a"}), t0, Checks{}, ErrMalformed},
		{"no id", w.signMsg("alice", &wire.RoomMessage{Room: "lounge", Author: "alice", TimeUnixMilli: t0.UnixMilli(), Text: "a"}), t0, Checks{}, ErrMalformed},
		{"author is not the ticket's", w.signMsg("alice", msg("bob", "I am bob")), t0, Checks{}, ErrForged},
		{"another device's signature", func() *wire.SignedRoomMessage {
			s := w.signMsg("alice", msg("alice", "x"))
			sig, _ := bob.key.Sign(append([]byte(MessageContext), s.Message...))
			s.Signature = sig
			return s
		}(), t0, Checks{}, ErrForged},
		{"changed byte", func() *wire.SignedRoomMessage {
			s := w.signMsg("alice", msg("alice", "pay 10"))
			s.Message = wire.MustMarshal(msg("alice", "pay 99"))
			return s
		}(), t0, Checks{}, ErrForged},
		{"room-op context", opContext(), t0, Checks{}, ErrForged},
		{"supernode ticket", nodeRole(ticket.RoleSupernode), t0, Checks{}, ErrUnauthorized},
		{"ticket of another server", func() *wire.SignedRoomMessage {
			other := newWorld(t)
			return other.signMsg("alice", msg("alice", "x"))
		}(), t0, Checks{}, ErrForged},
		{"expired at its time", w.signMsg("alice", &wire.RoomMessage{Room: "lounge", Id: "1", Author: "alice", TimeUnixMilli: t0.Add(30 * time.Hour).UnixMilli(), Text: "a"}), t0.Add(30 * time.Hour), Checks{}, ErrUnauthorized},
		{"future", good, t0.Add(-wire.MaxClockSkew - time.Second), Checks{}, ErrBadTime},
		{"too old for a home", good, t0.Add(wire.MaxClockSkew + time.Second), Checks{MaxAge: wire.MaxClockSkew}, ErrBadTime},
		{"old without MaxAge", good, t0.Add(time.Hour), Checks{}, nil},
		{"revoked", good, t0, Checks{Revoked: revokeAll{}}, ErrUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Server = w.server
			_, err := VerifyMessage(tt.s, tt.now, c)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// revokeAll revokes every device.
type revokeAll struct{}

func (revokeAll) Check(t *ticket.Ticket) error { return errors.New("revoked") }

// FuzzVerifyMessage feeds arbitrary bytes to DecodeMessage and
// VerifyMessage: nothing panics, refusals wrap a sentinel, and what
// verifies is by its ticket's user.
func FuzzVerifyMessage(f *testing.F) {
	w := newWorld(f)
	f.Add(wire.MustMarshal(w.signMsg("alice", msg("alice", "hello"))))
	f.Add(wire.MustMarshal(w.signMsg("alice", msg("bob", "hello"))))
	f.Add([]byte{})
	c := Checks{Server: w.server, MaxAge: wire.MaxClockSkew}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeMessage: %v", err)
			}
			return
		}
		m, err := VerifyMessage(s, t0, c)
		if err != nil {
			for _, e := range []error{ErrMalformed, ErrForged, ErrUnauthorized, ErrBadTime} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("VerifyMessage: an error without a sentinel: %v", err)
		}
		if m.Author != m.Ticket.Username || m.Text == "" {
			t.Fatalf("verified %+v", m)
		}
	})
}
