package room

import (
	"crypto/subtle"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/argon2"

	"eserver/node/wire"
)

// Modes are a room's settings (wire.RoomModes). The zero Modes is an
// unlisted, open room with flood protection at its default.
type Modes struct {
	Public            bool // listed in the directory
	InviteOnly        bool
	Password          Password // zero: none
	MemberLimit       int      // 0: none
	Moderated         bool     // only voiced users, operators and the owner post
	SlowSeconds       int      // one message per this many seconds per member; 0: off
	TopicLocked       bool     // only operators and the owner set the topic
	MinAccountMinutes int      // younger accounts may read but not post
	FloodOff          bool
	FloodMessages     int // with FloodSeconds; both 0: the default
	FloodSeconds      int
}

// Flood is the flood limit in force: at most n messages per member within
// window; n is 0 when flood protection is off.
func (m Modes) Flood() (n int, window time.Duration) {
	switch {
	case m.FloodOff:
		return 0, 0
	case m.FloodMessages == 0 && m.FloodSeconds == 0:
		return wire.DefaultRoomFloodMessages, wire.DefaultRoomFloodWindow
	}
	return m.FloodMessages, time.Duration(m.FloodSeconds) * time.Second
}

// Validate checks every mode against its limit.
func (m Modes) Validate() error {
	bad := func(what string, v, max int) error {
		return fmt.Errorf("%w: %s %d outside 0..%d", ErrMalformed, what, v, max)
	}
	switch {
	case m.MemberLimit < 0 || m.MemberLimit > wire.MaxRoomMembers:
		return bad("member limit", m.MemberLimit, wire.MaxRoomMembers)
	case m.SlowSeconds < 0 || m.SlowSeconds > wire.MaxRoomSlowSeconds:
		return bad("slow mode seconds", m.SlowSeconds, wire.MaxRoomSlowSeconds)
	case m.MinAccountMinutes < 0 || m.MinAccountMinutes > wire.MaxRoomMinAccountMinutes:
		return bad("minimum account age", m.MinAccountMinutes, wire.MaxRoomMinAccountMinutes)
	case m.FloodMessages < 0 || m.FloodMessages > wire.MaxRoomFloodMessages:
		return bad("flood messages", m.FloodMessages, wire.MaxRoomFloodMessages)
	case m.FloodSeconds < 0 || m.FloodSeconds > wire.MaxRoomFloodSeconds:
		return bad("flood seconds", m.FloodSeconds, wire.MaxRoomFloodSeconds)
	case (m.FloodMessages == 0) != (m.FloodSeconds == 0):
		// A limit of n messages in no time, or none in n seconds, means
		// nothing; off is FloodOff.
		return fmt.Errorf("%w: flood limit of %d messages in %d seconds", ErrMalformed, m.FloodMessages, m.FloodSeconds)
	}
	return nil
}

// Wire is m as it travels in an op.
func (m Modes) Wire() *wire.RoomModes {
	w := &wire.RoomModes{
		Public:            m.Public,
		InviteOnly:        m.InviteOnly,
		MemberLimit:       uint32(m.MemberLimit),
		Moderated:         m.Moderated,
		SlowSeconds:       uint32(m.SlowSeconds),
		TopicLocked:       m.TopicLocked,
		MinAccountMinutes: uint32(m.MinAccountMinutes),
		FloodOff:          m.FloodOff,
		FloodMessages:     uint32(m.FloodMessages),
		FloodSeconds:      uint32(m.FloodSeconds),
	}
	if m.Password.Set() {
		w.PasswordSalt = m.Password.Salt[:]
		w.PasswordHash = m.Password.Hash[:]
	}
	return w
}

// modesFromWire decodes and validates w; nil is the zero Modes.
func modesFromWire(w *wire.RoomModes) (Modes, error) {
	if w == nil {
		return Modes{}, nil
	}
	// On a 32-bit int a count past MaxInt32 turns negative here, and
	// Validate refuses it like any other out of range.
	m := Modes{
		Public:            w.Public,
		InviteOnly:        w.InviteOnly,
		MemberLimit:       int(w.MemberLimit),
		Moderated:         w.Moderated,
		SlowSeconds:       int(w.SlowSeconds),
		TopicLocked:       w.TopicLocked,
		MinAccountMinutes: int(w.MinAccountMinutes),
		FloodOff:          w.FloodOff,
		FloodMessages:     int(w.FloodMessages),
		FloodSeconds:      int(w.FloodSeconds),
	}
	switch {
	case len(w.PasswordSalt) == 0 && len(w.PasswordHash) == 0:
	case len(w.PasswordSalt) == wire.RoomPasswordSalt && len(w.PasswordHash) == wire.RoomPasswordHash:
		copy(m.Password.Salt[:], w.PasswordSalt)
		copy(m.Password.Hash[:], w.PasswordHash)
		if !m.Password.Set() {
			return Modes{}, fmt.Errorf("%w: all-zero password hash", ErrMalformed)
		}
	default:
		return Modes{}, fmt.Errorf("%w: password salt of %d bytes and hash of %d, want %d and %d or none",
			ErrMalformed, len(w.PasswordSalt), len(w.PasswordHash), wire.RoomPasswordSalt, wire.RoomPasswordHash)
	}
	return m, m.Validate()
}

// Password is a room password as the state holds it: a random salt and the
// Argon2id hash of the password under it, never the password. Every member
// and home sees it in the chain, so a guess costs an Argon2id evaluation.
// The zero Password is "no password".
type Password struct {
	Salt [wire.RoomPasswordSalt]byte
	Hash [wire.RoomPasswordHash]byte
}

// Argon2id parameters of room passwords, fixed by the protocol (a change
// makes every stored hash unverifiable): OWASP's minimum for servers, since
// a home evaluates it on every join attempt with a password.
const (
	passwordTime    = 2
	passwordMemory  = 19 << 10 // KiB
	passwordThreads = 1
)

// NewPassword hashes password under a salt drawn from random (crypto/rand's
// Reader in production). An empty password is no password.
func NewPassword(password string, random io.Reader) (Password, error) {
	var p Password
	if password == "" {
		return p, nil
	}
	if len(password) > wire.MaxRoomPassword {
		return p, fmt.Errorf("%w: password of %d bytes, limit %d", ErrMalformed, len(password), wire.MaxRoomPassword)
	}
	if _, err := io.ReadFull(random, p.Salt[:]); err != nil {
		return p, fmt.Errorf("drawing a password salt: %w", err)
	}
	copy(p.Hash[:], argon2.IDKey([]byte(password), p.Salt[:], passwordTime, passwordMemory, passwordThreads, wire.RoomPasswordHash))
	return p, nil
}

// Set reports whether p is a password (not the zero Password).
func (p Password) Set() bool { return p != Password{} }

// Matches reports whether password is p's. It costs an Argon2id evaluation
// unless the password is longer than any room password may be.
func (p Password) Matches(password string) bool {
	if !p.Set() || len(password) > wire.MaxRoomPassword {
		return false
	}
	h := argon2.IDKey([]byte(password), p.Salt[:], passwordTime, passwordMemory, passwordThreads, wire.RoomPasswordHash)
	return subtle.ConstantTimeCompare(h, p.Hash[:]) == 1
}
