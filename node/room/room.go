// Package room is a chat room's agreed state and the signed operations that
// change it: who owns the room, its operators, voiced members, bans,
// invitations, topic and modes, and the hash chain of ops signed by the
// owner's and operators' devices that produced them. The room's homes
// (supernodes) and its members run the same code here, so they agree on the
// state from nothing but the ops and the auth server's public key.
//
// It holds no networking and no storage: Verify checks one SignedRoomOp
// against the state at its position in the chain, Apply makes the next state,
// and Admit and AdmitJoin are the moderation checks a home runs before it fans
// a message out or lets a member in. Everything is a pure function of its
// arguments (the clock is one of them), so every home reaches the same
// verdict. docs/ROOMS.md explains the model and what a home can and cannot do.
package room

import (
	"errors"
	"maps"
	"time"

	"eserver/node/wire"
)

// Errors callers branch on. Every error this package returns wraps one of
// them, with the detail beside it.
var (
	// ErrMalformed: the bytes are not a well-formed op of this version
	// (encoding, sizes, a field out of its limits, an unknown field).
	ErrMalformed = errors.New("room: malformed op")
	// ErrForged: a signature does not verify — the device's over the op
	// under the room-op context, or the auth server's over the ticket — or
	// the ticket belongs to another user than the op's author.
	ErrForged = errors.New("room: forged op")
	// ErrUnauthorized: the ticket is genuine but was not valid at the op's
	// time, is not a node's, or its device is revoked.
	ErrUnauthorized = errors.New("room: ticket not valid for this op")
	// ErrWrongRoom: the op is for another room.
	ErrWrongRoom = errors.New("room: op of another room")
	// ErrBadTime: the op's time is in the future, before the op it follows,
	// or (for a home sequencing new ops) too old.
	ErrBadTime = errors.New("room: op time out of range")
	// ErrStale: the op follows an older head than the state's (it is a
	// replay, or its author signed before seeing a newer op): the author
	// re-signs on the new head if the change is still wanted.
	ErrStale = errors.New("room: op built on a stale head")
	// ErrFork: the op is at the next position but follows another op than
	// the state's head: its author holds another history of the room.
	ErrFork = errors.New("room: op follows another history")
	// ErrGap: the op is beyond the next position: ops in between are
	// missing (dropped, or not yet received).
	ErrGap = errors.New("room: ops missing before this one")
	// ErrNotAllowed: the author's role does not allow this op on this
	// target, or the sender may not post or join (muted, new account,
	// another region, not invited).
	ErrNotAllowed = errors.New("room: not allowed")
	// ErrBanned: the author or sender is banned, or the op would give a
	// banned user a role.
	ErrBanned = errors.New("room: banned")
	// ErrNoChange: the op would change nothing (op an operator, unban
	// someone not banned, set the topic it has); the caller may treat the
	// change as done.
	ErrNoChange = errors.New("room: op changes nothing")
	// ErrTooMany: the op would grow a list of the state past its limit
	// (operators, voiced, bans, invitations).
	ErrTooMany = errors.New("room: list at its limit")
	// ErrDeleted: the room was deleted; its chain takes no more ops.
	ErrDeleted = errors.New("room: deleted")
	// ErrNoRoom: the state has no genesis op yet (and is not a regional
	// room): there is no room to post in or join.
	ErrNoRoom = errors.New("room: not created")
	// ErrRateLimited: slow mode or flood protection refuses the message.
	ErrRateLimited = errors.New("room: rate limited")
	// ErrRoomFull: the room is at its member limit.
	ErrRoomFull = errors.New("room: full")
	// ErrWrongPassword: the room has a password and this is not it.
	ErrWrongPassword = errors.New("room: wrong password")
)

// Hash is the SHA-256 chain hash of an op (HashOp); the zero Hash is the
// "previous op" of a room's genesis op.
type Hash [32]byte

// Role is what a user is in a room, from most to least rights. The strings
// are the API's.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleOp     Role = "op"
	RoleVoice  Role = "voice"
	RoleMember Role = "member"
)

// rank orders roles for comparisons: owner 3, op 2, voice 1, member 0.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleOp:
		return 2
	case RoleVoice:
		return 1
	}
	return 0
}

// Ban is one ban in force.
type Ban struct {
	Until time.Time // zero: until unbanned
	By    string    // who banned
	At    time.Time // the ban op's time
}

// activeAt reports whether the ban is still in force at t.
func (b Ban) activeAt(t time.Time) bool { return b.Until.IsZero() || t.Before(b.Until) }

// State is a room's agreed state after the op at Seq, whose hash is Head.
// States are values: Apply returns a new one and never changes its input,
// so a caller may keep the state at any position. Treat the maps as
// read-only; Clone gives a copy to change.
type State struct {
	Room    string
	Seq     uint64    // the position of the last op applied; 0 before the genesis op
	Head    Hash      // the hash of that op; zero before the genesis op
	Time    time.Time // that op's signed time; a next op may not be older
	Created time.Time // the genesis op's time
	Owner   string
	// Region is the country code of a regional room ("ES"), "" for every
	// other room. It comes from the name (wire.RoomRegion): regional rooms
	// belong to no user, so no op creates or changes one.
	Region    string
	Topic     string
	Modes     Modes
	Operators map[string]bool // besides the owner
	Voiced    map[string]bool
	Invited   map[string]bool
	Bans      map[string]Ban // in force at Time; expired ones are pruned as ops apply
	Deleted   bool
}

// New is the state of room before its genesis op. A regional room's name
// gives a state with its Region set and no owner, which takes no op.
func New(room string) *State {
	return &State{
		Room:      room,
		Region:    wire.RoomRegion(room),
		Operators: map[string]bool{},
		Voiced:    map[string]bool{},
		Invited:   map[string]bool{},
		Bans:      map[string]Ban{},
	}
}

// Clone is a deep copy of s.
func (s *State) Clone() *State {
	c := *s
	c.Operators = maps.Clone(s.Operators)
	c.Voiced = maps.Clone(s.Voiced)
	c.Invited = maps.Clone(s.Invited)
	c.Bans = maps.Clone(s.Bans)
	for _, m := range []*map[string]bool{&c.Operators, &c.Voiced, &c.Invited} {
		if *m == nil {
			*m = map[string]bool{}
		}
	}
	if c.Bans == nil {
		c.Bans = map[string]Ban{}
	}
	return &c
}

// Exists reports whether s is a room one can join or post in: created by
// its genesis op (or regional) and not deleted.
func (s *State) Exists() bool {
	return (s.Owner != "" || s.Region != "") && !s.Deleted
}

// Role is user's role in the room; a banned user's is RoleMember (ask
// BannedAt).
func (s *State) Role(user string) Role {
	switch {
	case user == "":
		return RoleMember
	case user == s.Owner:
		return RoleOwner
	case s.Operators[user]:
		return RoleOp
	case s.Voiced[user]:
		return RoleVoice
	}
	return RoleMember
}

// BannedAt reports whether user is banned at t, and the ban.
func (s *State) BannedAt(user string, t time.Time) (Ban, bool) {
	b, ok := s.Bans[user]
	if !ok || !b.activeAt(t) {
		return Ban{}, false
	}
	return b, true
}
