package room

import (
	"fmt"
	"time"

	"eserver/node/wire"
)

// Sender is who wants to post in or join a room, as the home knows them
// from their verified ticket and the auth server's signed statements that
// go with it — never from what the message says.
type Sender struct {
	Username string
	// AccountCreated is when the account was created; zero when unknown,
	// which a room with a new-account gate refuses (it fails closed).
	AccountCreated time.Time
	// Region is the country code of the member's region pass, verified
	// against their ticket (ticket.VerifyPass); "" when they presented
	// none. The ticket itself carries no region.
	Region string
}

// Recent is the times of a member's last admitted messages in one room, as
// much as slow mode and the largest flood limit need: a fixed-size value
// (wire.MaxRoomFloodMessages times), so a home's memory per member is
// bounded whatever the member sends. The zero Recent is a member who sent
// nothing.
type Recent struct {
	times [wire.MaxRoomFloodMessages]int64 // unix milliseconds, a ring
	next  uint8                            // where the next time goes
	n     uint8                            // how many are set
}

// add is r with a send at t.
func (r Recent) add(t time.Time) Recent {
	r.times[r.next] = t.UnixMilli()
	r.next = uint8((int(r.next) + 1) % len(r.times))
	if int(r.n) < len(r.times) {
		r.n++
	}
	return r
}

// last is the newest send, if any.
func (r Recent) last() (time.Time, bool) {
	if r.n == 0 {
		return time.Time{}, false
	}
	i := (int(r.next) + len(r.times) - 1) % len(r.times)
	return time.UnixMilli(r.times[i]), true
}

// since counts the sends after t. A send stamped after now (the home's
// clock stepped back) still counts, so a clock change never frees a
// flooder.
func (r Recent) since(t time.Time) int {
	ms, count := t.UnixMilli(), 0
	for i := 0; i < int(r.n); i++ {
		if r.times[i] > ms {
			count++
		}
	}
	return count
}

// Admit decides whether from may post a message in st now, given recent,
// its last admitted messages in the room, and returns recent with this
// message added. Homes run it before fanning a message out, so moderation
// holds whatever the member's client does. The checks, in order:
// deleted or never created (ErrDeleted, ErrNoRoom); banned (ErrBanned);
// a regional room and another region, not invited to an invite-only room,
// muted in a moderated room, or younger than the new-account gate
// (ErrNotAllowed); slow mode and the flood limit (ErrRateLimited).
// The owner and operators pass the invitation, voice, gate and slow-mode
// checks; voiced users pass the gate; the flood limit binds everyone.
func Admit(st *State, from Sender, now time.Time, recent Recent) (Recent, error) {
	if err := present(st, from, now); err != nil {
		return recent, err
	}
	role := st.Role(from.Username)
	switch {
	case st.Region != "" && from.Region != st.Region:
		return recent, fmt.Errorf("%w: only %s may post in %q", ErrNotAllowed, st.Region, st.Room)
	case st.Modes.InviteOnly && role == RoleMember && !st.Invited[from.Username]:
		return recent, fmt.Errorf("%w: %q is not invited to %q", ErrNotAllowed, from.Username, st.Room)
	case st.Modes.Moderated && role == RoleMember:
		return recent, fmt.Errorf("%w: %q is moderated and %q has no voice", ErrNotAllowed, st.Room, from.Username)
	}
	if gate := time.Duration(st.Modes.MinAccountMinutes) * time.Minute; gate > 0 && role == RoleMember {
		if from.AccountCreated.IsZero() || now.Sub(from.AccountCreated) < gate {
			return recent, fmt.Errorf("%w: accounts younger than %v may not post in %q", ErrNotAllowed, gate, st.Room)
		}
	}
	if slow := time.Duration(st.Modes.SlowSeconds) * time.Second; slow > 0 && role.rank() < RoleOp.rank() {
		if last, ok := recent.last(); ok && now.Sub(last) < slow {
			return recent, fmt.Errorf("%w: slow mode, one message per %v", ErrRateLimited, slow)
		}
	}
	if n, window := st.Modes.Flood(); n > 0 && recent.since(now.Add(-window)) >= n {
		return recent, fmt.Errorf("%w: more than %d messages in %v", ErrRateLimited, n, window)
	}
	return recent.add(now), nil
}

// AdmitJoin decides whether from may join st now, with password (the
// room's, or "") and members already in the room: not banned (ErrBanned),
// invited to an invite-only room (ErrNotAllowed), below the member limit
// (ErrRoomFull), with the room's password (ErrWrongPassword). The owner and
// operators always join. Anyone may join a regional room to read it.
// A password costs an Argon2id evaluation: homes rate-limit join attempts.
func AdmitJoin(st *State, from Sender, password string, members int, now time.Time) error {
	if err := present(st, from, now); err != nil {
		return err
	}
	role := st.Role(from.Username)
	switch {
	case role.rank() >= RoleOp.rank():
		return nil
	case st.Modes.InviteOnly && role == RoleMember && !st.Invited[from.Username]:
		return fmt.Errorf("%w: %q is not invited to %q", ErrNotAllowed, from.Username, st.Room)
	case st.Modes.MemberLimit > 0 && members >= st.Modes.MemberLimit:
		return fmt.Errorf("%w: %q has %d members, its limit", ErrRoomFull, st.Room, members)
	case members >= wire.MaxRoomMembers:
		return fmt.Errorf("%w: %q has %d members, the most a room may", ErrRoomFull, st.Room, members)
	case st.Modes.Password.Set() && !st.Modes.Password.Matches(password):
		return fmt.Errorf("%w: for %q", ErrWrongPassword, st.Room)
	}
	return nil
}

// present checks that st is a room from may be in at now at all.
func present(st *State, from Sender, now time.Time) error {
	switch {
	case st.Deleted:
		return fmt.Errorf("%w: %q", ErrDeleted, st.Room)
	case !st.Exists():
		return fmt.Errorf("%w: %q", ErrNoRoom, st.Room)
	}
	if b, ok := st.BannedAt(from.Username, now); ok {
		if b.Until.IsZero() {
			return fmt.Errorf("%w: %q from %q", ErrBanned, from.Username, st.Room)
		}
		return fmt.Errorf("%w: %q from %q until %v", ErrBanned, from.Username, st.Room, b.Until)
	}
	return nil
}
