package room

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"eserver/node/wire"
)

// Apply is the state after op, which Verify returned, follows st: st's
// room, at st's next position after st's head, with the author's
// authority in st. It never changes st. An op Verify did not return is
// refused: the ticket and signatures are checked there, once.
func Apply(st *State, op *Op) (*State, error) {
	if op == nil || !op.verified {
		return nil, errors.New("room: applying an op Verify did not return")
	}
	if op.Room != st.Room {
		return nil, fmt.Errorf("%w: op of %q, state of %q", ErrWrongRoom, op.Room, st.Room)
	}
	if err := checkPosition(op, st); err != nil {
		return nil, err
	}
	if op.Time.Before(st.Time) {
		return nil, fmt.Errorf("%w: signed at %v, before the op it follows (%v)", ErrBadTime, op.Time, st.Time)
	}
	return transition(st, op)
}

// Step verifies s against st and applies it: the next state and the op.
func Step(st *State, s *wire.SignedRoomOp, now time.Time, c Checks) (*State, *Op, error) {
	op, err := Verify(s, st, now, c)
	if err != nil {
		return nil, nil, err
	}
	next, err := Apply(st, op)
	if err != nil {
		return nil, nil, err
	}
	return next, op, nil
}

// Replay is the state of room after ops, a chain from its genesis op, each
// verified against the state before it. A member joining, or a home
// catching up from another, rebuilds the state this way from nothing but
// the ops; a chain a home reordered, cut or spliced fails here.
func Replay(room string, ops []*wire.SignedRoomOp, now time.Time, c Checks) (*State, error) {
	st := New(room)
	for i, s := range ops {
		next, _, err := Step(st, s, now, c)
		if err != nil {
			return nil, fmt.Errorf("op %d of %d: %w", i+1, len(ops), err)
		}
		st = next
	}
	return st, nil
}

// transition is the state after op in st, if op's author may make it: the
// rules of who may do what, in one place. It assumes op is at st's next
// position.
func transition(st *State, op *Op) (*State, error) {
	if st.Deleted {
		return nil, fmt.Errorf("%w: %q takes no more ops", ErrDeleted, st.Room)
	}
	if op.Kind == KindCreate {
		if st.Region != "" || strings.HasPrefix(op.Room, wire.RegionalRoomPrefix) {
			return nil, fmt.Errorf("%w: %q is a regional room's name; regional rooms belong to no one", ErrNotAllowed, op.Room)
		}
		next := st.Clone()
		next.Owner, next.Topic, next.Modes, next.Created = op.Author, op.Topic, op.Modes, op.Time
		return next.advance(op), nil
	}
	if st.Owner == "" && st.Region == "" {
		return nil, fmt.Errorf("%w: %q has no owner to authorise ops", ErrNotAllowed, st.Room)
	}
	if err := regionalRules(st, op); err != nil {
		return nil, err
	}
	next := st.Clone()
	// Bans that ended before this op are gone from its state on: every
	// replica prunes at the same op, so the lists stay equal, and a ban
	// list full of expired bans frees itself.
	for user, b := range next.Bans {
		if !b.activeAt(op.Time) {
			delete(next.Bans, user)
		}
	}
	if _, banned := next.Bans[op.Author]; banned {
		return nil, fmt.Errorf("%w: %q may not change %q", ErrBanned, op.Author, st.Room)
	}
	author := next.Role(op.Author)
	if st.Region != "" && op.Ticket != nil && op.Ticket.ModeratesRegion(st.Region) {
		// The auth server's operator named the author a moderator of
		// this region, in the very ticket the op verified under.
		author = RoleOp
	}
	target := next.Role(op.Target)
	_, targetBanned := next.Bans[op.Target]

	// moderator: the owner, or an operator acting on a member or on
	// themselves (stepping down) — never on the owner, whose standing only
	// a transfer changes, nor on another operator.
	moderator := func() error {
		switch {
		case author.rank() < RoleOp.rank():
			return fmt.Errorf("%w: %s needs an operator; %q is a %s", ErrNotAllowed, op.Kind, op.Author, author)
		case op.Target == "":
			return nil
		case target == RoleOwner:
			return fmt.Errorf("%w: %s of the owner %q", ErrNotAllowed, op.Kind, op.Target)
		case op.Target == op.Author:
			return nil
		case target == RoleOp && author != RoleOwner:
			return fmt.Errorf("%w: %s of the operator %q by an operator; only the owner acts on operators", ErrNotAllowed, op.Kind, op.Target)
		}
		return nil
	}
	owner := func() error {
		if author != RoleOwner {
			return fmt.Errorf("%w: %s needs the owner; %q is a %s", ErrNotAllowed, op.Kind, op.Author, author)
		}
		return nil
	}
	notSelf := func() error {
		if op.Target == op.Author {
			return fmt.Errorf("%w: %s of oneself", ErrNotAllowed, op.Kind)
		}
		return nil
	}
	notBanned := func() error {
		if targetBanned {
			return fmt.Errorf("%w: %q is banned from %q", ErrBanned, op.Target, st.Room)
		}
		return nil
	}
	limit := func(set map[string]bool, max int, what string) error {
		if len(set) >= max {
			return fmt.Errorf("%w: %d %s, limit %d", ErrTooMany, len(set), what, max)
		}
		return nil
	}
	noChange := func(what string) error {
		return fmt.Errorf("%w: %s", ErrNoChange, what)
	}
	// invited: may take part in st at all — for an invite-only room the
	// owner, operators, voiced and invited users; everyone else otherwise.
	invited := !st.Modes.InviteOnly || author.rank() > RoleMember.rank() || st.Invited[op.Author]

	var err error
	switch op.Kind {
	case KindTopic:
		switch {
		case st.Modes.TopicLocked && author.rank() < RoleOp.rank():
			err = fmt.Errorf("%w: the topic is locked to operators", ErrNotAllowed)
		case !invited:
			err = fmt.Errorf("%w: %q is not invited to %q", ErrNotAllowed, op.Author, st.Room)
		case op.Topic == st.Topic:
			err = noChange("the topic is already that")
		default:
			next.Topic = op.Topic
		}
	case KindModes:
		if err = moderator(); err == nil && op.Modes == st.Modes {
			err = noChange("the modes are already those")
		}
		next.Modes = op.Modes
	case KindOp:
		err = first(moderator, notSelf, notBanned)
		switch {
		case err != nil:
		case target == RoleOp:
			err = noChange(op.Target + " is an operator already")
		default:
			if err = limit(next.Operators, wire.MaxRoomOperators, "operators"); err == nil {
				next.Operators[op.Target] = true
			}
		}
	case KindDeop:
		if err = moderator(); err == nil && target != RoleOp {
			err = noChange(op.Target + " is not an operator")
		}
		delete(next.Operators, op.Target)
	case KindVoice:
		if err = first(moderator, notBanned); err == nil {
			if next.Voiced[op.Target] {
				err = noChange(op.Target + " has voice already")
			} else if err = limit(next.Voiced, wire.MaxRoomVoiced, "voiced users"); err == nil {
				next.Voiced[op.Target] = true
			}
		}
	case KindDevoice:
		if err = moderator(); err == nil && !next.Voiced[op.Target] {
			err = noChange(op.Target + " has no voice")
		}
		delete(next.Voiced, op.Target)
	case KindKick:
		// A kick changes no state: the homes remove the member now, and the
		// op in the chain is the record everyone sees.
		err = first(moderator, notSelf)
	case KindBan:
		if err = first(moderator, notSelf); err != nil {
			break
		}
		if b, ok := next.Bans[op.Target]; ok {
			if b.Until.Equal(op.Until) {
				err = noChange(op.Target + " is banned so already")
				break
			}
		} else if len(next.Bans) >= wire.MaxRoomBans {
			err = fmt.Errorf("%w: %d bans, limit %d", ErrTooMany, len(next.Bans), wire.MaxRoomBans)
			break
		}
		// A ban takes every right the user had in the room: a banned user
		// holds no role, and none can be given while the ban lasts.
		next.Bans[op.Target] = Ban{Until: op.Until, By: op.Author, At: op.Time}
		delete(next.Operators, op.Target)
		delete(next.Voiced, op.Target)
		delete(next.Invited, op.Target)
	case KindUnban:
		if err = moderator(); err == nil && !targetBanned {
			err = noChange(op.Target + " is not banned")
		}
		delete(next.Bans, op.Target)
	case KindInvite:
		switch err = first(moderator, notSelf, notBanned); {
		case err != nil:
		case target.rank() > RoleMember.rank() || next.Invited[op.Target]:
			err = noChange(op.Target + " may join already")
		default:
			if err = limit(next.Invited, wire.MaxRoomInvites, "invitations"); err == nil {
				next.Invited[op.Target] = true
			}
		}
	case KindDeleteMessage:
		// Anyone may delete their own message; moderators those of members
		// they may act on. The home checks the message's author against its
		// backlog before it deletes anything.
		if op.Target != op.Author {
			err = moderator()
		}
	case KindDeleteRoom:
		err = owner()
		next.Deleted = true
	case KindTransferOwner:
		switch err = first(owner, notBanned); {
		case err != nil:
		case op.Target == op.Author:
			err = noChange(op.Target + " owns the room already")
		case target != RoleOp:
			// The old owner becomes an operator: a hand-over keeps its
			// giver's standing, and the new owner can deop them.
			err = limit(next.Operators, wire.MaxRoomOperators, "operators")
		}
		if err == nil {
			delete(next.Operators, op.Target)
			next.Operators[op.Author] = true
			next.Owner = op.Target
		}
	default:
		err = fmt.Errorf("%w: kind %q", ErrMalformed, op.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s by %q in %q: %w", op.Kind, op.Author, st.Room, err)
	}
	return next.advance(op), nil
}

// regionalRules refuses in a regional room what needs an owner: it belongs
// to no one, so no one ops, invites, hands over or deletes it, and its
// moderators (the operator's, by their tickets: transition) keep it open
// to its region — no invitations, password, member limit or listing,
// which would shut out the people it is for or list it twice.
func regionalRules(st *State, op *Op) error {
	if st.Region == "" {
		return nil
	}
	switch op.Kind {
	case KindOp, KindDeop, KindInvite, KindDeleteRoom, KindTransferOwner:
		return fmt.Errorf("%w: %s in the regional room %q: it has no owner or operators, only its region's moderators",
			ErrNotAllowed, op.Kind, st.Room)
	case KindModes:
		if m := op.Modes; m.InviteOnly || m.Password.Set() || m.MemberLimit > 0 || m.Public {
			return fmt.Errorf("%w: a regional room stays open to its region: no invitations, password, member limit or listing",
				ErrNotAllowed)
		}
	}
	return nil
}

// first is the first error of checks, in order.
func first(checks ...func() error) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// advance moves s to op's position: its seq, head and time.
func (s *State) advance(op *Op) *State {
	s.Seq, s.Head, s.Time = op.Seq, op.Hash, op.Time
	return s
}
