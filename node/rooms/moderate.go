package rooms

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"eserver/node/api"
	"eserver/node/room"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// maxResign is how many times a change is signed again on a newer head
// when the home answers stale (someone else's op got there first): each
// retry reads the chain, so only a room changing faster than we can read
// it runs out.
const maxResign = 4

// change signs the op set makes on the room's state as we verified it and
// has it sequenced at the room's home. It checks the op against that state
// first (room.Verify), so a change we have no right to, or one that would
// change nothing, costs the home nothing: the first is ErrNotAllowed, the
// second done without an op. When the home answers stale, the chain is
// read and the op signed again on the new head — where it may now change
// nothing, or no longer be allowed (a deopped operator).
func (r *Rooms) change(ctx context.Context, name string, set func(op *wire.RoomOp, st *room.State) error) error {
	j, err := r.joinedRoom(name)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		j.mu.Lock()
		st, home := j.state, j.home
		j.mu.Unlock()
		if home == "" {
			return fmt.Errorf("%w: rejoining %q", api.ErrUnreachable, name)
		}
		tk := r.h.Ticket()
		op := room.Next(st, tk.Username, r.h.Now())
		if err := set(op, st); err != nil {
			return err
		}
		signed, err := room.Sign(signer{r.h}, tk.Signed, op)
		if err != nil {
			return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		if _, err := room.Verify(signed, st, r.h.Now(), r.checks()); err != nil {
			if errors.Is(err, room.ErrNoChange) {
				return nil
			}
			return fmt.Errorf("changing %q: %w", name, roomErr(err))
		}
		_, err = client.SubmitRoomOp(ctx, r.h.Libp2p(), home, tk.Signed, signed)
		switch {
		case err == nil:
			r.applied(j, signed)
			return nil
		case errors.Is(err, client.ErrStale) && attempt < maxResign:
			if err := r.catchUp(ctx, j, home); err != nil {
				return fmt.Errorf("%w: %v", api.ErrUnreachable, err)
			}
		default:
			return fmt.Errorf("changing %q: %w", name, mapErr(err))
		}
	}
}

// applied steps our state over an op the home sequenced and shows its
// line, unless the joined stream brought it first (then Step finds it
// stale and nothing is shown twice).
func (r *Rooms) applied(j *joined, signed *wire.SignedRoomOp) {
	j.mu.Lock()
	next, op, err := room.Step(j.state, signed, r.h.Now(), r.checks())
	if err == nil {
		j.state = next
	}
	j.mu.Unlock()
	if err == nil {
		r.showOp(op)
	}
}

// joinedRoom is the room name we joined: what we change is signed on the
// state we verified while joined.
func (r *Rooms) joinedRoom(name string) (*joined, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	j := r.joined[name]
	r.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("%w: not joined to %q", api.ErrNotAllowed, name)
	}
	return j, nil
}

// roomErr is the API's sentinel for node/room's verdict on an op of ours.
func roomErr(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, room.ErrNotAllowed), errors.Is(err, room.ErrBanned):
		sentinel = api.ErrNotAllowed
	default:
		sentinel = api.ErrBadRequest
	}
	return api.Mark(sentinel, err)
}

// user checks a username an op acts on.
func user(username string) error {
	if err := wire.ValidUsername(username); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return nil
}

// act makes the op set on a user: the moderation methods that take
// nothing but a username.
func (r *Rooms) act(ctx context.Context, name, username string, set func(op *wire.RoomOp)) error {
	if err := user(username); err != nil {
		return err
	}
	return r.change(ctx, name, func(op *wire.RoomOp, _ *room.State) error {
		set(op)
		return nil
	})
}

// RoomKick removes username from the room now; they may rejoin.
func (r *Rooms) RoomKick(ctx context.Context, name, username string) error {
	return r.act(ctx, name, username, func(op *wire.RoomOp) { op.Kind = &wire.RoomOp_Kick{Kick: username} })
}

// RoomBan bans username from the room for d, or until unbanned when d is
// 0; a ban already in force is replaced (a new expiry).
func (r *Rooms) RoomBan(ctx context.Context, name, username string, d time.Duration) error {
	if err := user(username); err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%w: a ban of %v", api.ErrBadRequest, d)
	}
	return r.change(ctx, name, func(op *wire.RoomOp, _ *room.State) error {
		b := &wire.RoomBan{Username: username}
		if d > 0 {
			b.UntilUnixMilli = r.h.Now().Add(d).UnixMilli()
		}
		op.Kind = &wire.RoomOp_Ban{Ban: b}
		return nil
	})
}

// RoomUnban lifts username's ban.
func (r *Rooms) RoomUnban(ctx context.Context, name, username string) error {
	return r.act(ctx, name, username, func(op *wire.RoomOp) { op.Kind = &wire.RoomOp_Unban{Unban: username} })
}

// RoomOp makes username an operator (on) or no longer one.
func (r *Rooms) RoomOp(ctx context.Context, name, username string, on bool) error {
	return r.act(ctx, name, username, func(op *wire.RoomOp) {
		if on {
			op.Kind = &wire.RoomOp_Op{Op: username}
		} else {
			op.Kind = &wire.RoomOp_Deop{Deop: username}
		}
	})
}

// RoomVoice lets username post in a moderated room (on) or no longer.
func (r *Rooms) RoomVoice(ctx context.Context, name, username string, on bool) error {
	return r.act(ctx, name, username, func(op *wire.RoomOp) {
		if on {
			op.Kind = &wire.RoomOp_Voice{Voice: username}
		} else {
			op.Kind = &wire.RoomOp_Devoice{Devoice: username}
		}
	})
}

// RoomInvite lets username join the room while it is invite-only.
func (r *Rooms) RoomInvite(ctx context.Context, name, username string) error {
	return r.act(ctx, name, username, func(op *wire.RoomOp) { op.Kind = &wire.RoomOp_Invite{Invite: username} })
}

// RoomSetTopic sets the room's topic ("" clears it).
func (r *Rooms) RoomSetTopic(ctx context.Context, name, topic string) error {
	if len(topic) > wire.MaxRoomTopic || !utf8.ValidString(topic) {
		return fmt.Errorf("%w: a topic is valid UTF-8 of at most %d bytes", api.ErrBadRequest, wire.MaxRoomTopic)
	}
	return r.change(ctx, name, func(op *wire.RoomOp, _ *room.State) error {
		op.Kind = &wire.RoomOp_Topic{Topic: topic}
		return nil
	})
}

// RoomSetModes changes the modes set in c and keeps the others. A new
// password is hashed here (room.NewPassword): the chain holds only its
// salt and hash.
func (r *Rooms) RoomSetModes(ctx context.Context, name string, c api.RoomModesChange) error {
	if c.Password != nil && len(*c.Password) > wire.MaxRoomPassword {
		return fmt.Errorf("%w: a room password is at most %d bytes", api.ErrBadRequest, wire.MaxRoomPassword)
	}
	for _, v := range []*int{c.Limit, c.SlowSeconds, c.MinAccountMinutes} {
		if v != nil && *v < 0 {
			return fmt.Errorf("%w: a negative mode", api.ErrBadRequest)
		}
	}
	// The password is hashed once, not on every re-sign: the same change
	// signed again is the same change.
	var pw room.Password
	if c.Password != nil && *c.Password != "" {
		var err error
		if pw, err = room.NewPassword(*c.Password, rand.Reader); err != nil {
			return fmt.Errorf("hashing the room password: %w", err)
		}
	}
	return r.change(ctx, name, func(op *wire.RoomOp, st *room.State) error {
		m := st.Modes
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		setInt := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		set(&m.Public, c.Public)
		set(&m.InviteOnly, c.InviteOnly)
		set(&m.Moderated, c.Moderated)
		set(&m.TopicLocked, c.TopicLocked)
		setInt(&m.MemberLimit, c.Limit)
		setInt(&m.SlowSeconds, c.SlowSeconds)
		setInt(&m.MinAccountMinutes, c.MinAccountMinutes)
		if c.Password != nil {
			m.Password = pw
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		op.Kind = &wire.RoomOp_Modes{Modes: m.Wire()}
		return nil
	})
}

// DeleteRoom ends the room for good; its home ends every member's joined
// stream, ours too, which forgets it.
func (r *Rooms) DeleteRoom(ctx context.Context, name string) error {
	return r.change(ctx, name, func(op *wire.RoomOp, _ *room.State) error {
		op.Kind = &wire.RoomOp_DeleteRoom{DeleteRoom: &wire.RoomDeleteRoom{}}
		return nil
	})
}

// RoomDeleteMessage deletes the message id for everyone. The op names the
// message's author, which the home checks against the message it keeps,
// so the message must still be in the room's backlog: we find its author
// there, verified.
func (r *Rooms) RoomDeleteMessage(ctx context.Context, name, id string) error {
	if id == "" || len(id) > wire.MaxRoomMessageID {
		return fmt.Errorf("%w: a message ID is 1 to %d bytes", api.ErrBadRequest, wire.MaxRoomMessageID)
	}
	msgs, err := r.RoomHistory(ctx, name, 0)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(msgs, func(m api.RoomMessage) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: no message %q in %q's backlog", api.ErrBadRequest, id, name)
	}
	author := msgs[i].From
	return r.change(ctx, name, func(op *wire.RoomOp, _ *room.State) error {
		op.Kind = &wire.RoomOp_DeleteMessage{DeleteMessage: &wire.RoomDeleteMessage{Id: id, Author: author}}
		return nil
	})
}

// RoomReport reports username (and the message messageID, if any) to the
// room's owner and operators, through the home we are joined at; it keeps
// the report for them while none of them is there.
func (r *Rooms) RoomReport(ctx context.Context, name, username, messageID, reason string) error {
	if err := user(username); err != nil {
		return err
	}
	switch {
	case len(messageID) > wire.MaxRoomMessageID:
		return fmt.Errorf("%w: a message ID is at most %d bytes", api.ErrBadRequest, wire.MaxRoomMessageID)
	case len(reason) > wire.MaxRoomReportReason || !utf8.ValidString(reason):
		return fmt.Errorf("%w: a reason is UTF-8 of at most %d bytes", api.ErrBadRequest, wire.MaxRoomReportReason)
	}
	j, err := r.joinedRoom(name)
	if err != nil {
		return err
	}
	j.mu.Lock()
	home := j.home
	j.mu.Unlock()
	if home == "" {
		return fmt.Errorf("%w: rejoining %q", api.ErrUnreachable, name)
	}
	rep := &wire.RoomReport{Room: name, Username: username, MessageId: messageID, Reason: reason}
	if err := client.ReportRoomMember(ctx, r.h.Libp2p(), home, r.h.Ticket().Signed, rep); err != nil {
		return fmt.Errorf("reporting in %q: %w", name, mapErr(err))
	}
	return nil
}

// showReport shows a report the home passed us, as the owner or an
// operator. Its reporter is the home's word (it verified the reporter's
// ticket); what it says is checked as the reporter's node checked it.
func (r *Rooms) showReport(j *joined, rep *wire.RoomReported) {
	q := rep.GetReport()
	if q.GetRoom() != j.room || wire.ValidUsername(rep.GetFrom()) != nil || wire.ValidUsername(q.GetUsername()) != nil ||
		len(q.GetMessageId()) > wire.MaxRoomMessageID || len(q.GetReason()) > wire.MaxRoomReportReason ||
		!utf8.ValidString(q.GetReason()) || !utf8.ValidString(q.GetMessageId()) {
		r.log.Warn("a malformed room report", "room", j.room)
		return
	}
	r.h.Emit(api.Event{RoomEvent: &api.RoomEvent{Room: j.room, Kind: api.RoomReported, Username: q.Username,
		By: rep.From, ID: q.MessageId, Reason: q.Reason}})
}

// setOnline records a joined or left line of our home.
func (j *joined) setOnline(user string, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.online == nil {
		j.online = map[string]bool{}
	}
	if on && len(j.online) < wire.MaxRoomMembers {
		j.online[user] = true
	} else if !on {
		delete(j.online, user)
	}
}

// RoomInfo is the state of a room we joined, as we verified it.
func (r *Rooms) RoomInfo(_ context.Context, name string) (api.RoomInfo, error) {
	j, err := r.joinedRoom(name)
	if err != nil {
		return api.RoomInfo{}, err
	}
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	tk := r.h.Ticket()
	role := api.RoomRole(st.Role(tk.Username))
	if tk.ModeratesRegion(st.Region) {
		role = api.RoomRoleOp // the auth server's operator made us its region's moderator
	}
	m := st.Modes
	flood, window := m.Flood()
	info := api.RoomInfo{
		Room: st.Room, Topic: st.Topic, Owner: st.Owner, Region: st.Region,
		Role: role, Encrypted: st.Modes.InviteOnly, // members seal (seal.go)
		Modes: api.RoomModesSettings{
			Public: m.Public, InviteOnly: m.InviteOnly, Moderated: m.Moderated, TopicLocked: m.TopicLocked,
			HasPassword: m.Password.Set(), Limit: m.MemberLimit, SlowSeconds: m.SlowSeconds,
			MinAccountMinutes: m.MinAccountMinutes, FloodMessages: flood, FloodSeconds: int(window / time.Second),
		},
		Operators: sortedKeys(st.Operators),
		Voiced:    sortedKeys(st.Voiced),
		Invited:   sortedKeys(st.Invited),
		Bans:      []api.RoomBanEntry{},
	}
	now := r.h.Now()
	for u := range st.Bans {
		if b, ok := st.BannedAt(u, now); ok {
			info.Bans = append(info.Bans, api.RoomBanEntry{Username: u, Until: b.Until})
		}
	}
	slices.SortFunc(info.Bans, func(a, b api.RoomBanEntry) int { return cmp.Compare(a.Username, b.Username) })
	return info, nil
}

// RoomMembers are the users joined at our home and everyone with a role
// in the room (owner, operators, voiced), banned users left out: owner
// first, then operators, voiced members and the rest, each by name.
// Status is online while a member is joined at our home, else offline.
func (r *Rooms) RoomMembers(_ context.Context, name string) ([]api.RoomMember, error) {
	j, err := r.joinedRoom(name)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	st := j.state
	online := make(map[string]bool, len(j.online))
	for u := range j.online {
		online[u] = true
	}
	j.mu.Unlock()
	now := r.h.Now()
	users := map[string]bool{}
	for _, set := range []map[string]bool{online, st.Operators, st.Voiced} {
		for u := range set {
			users[u] = true
		}
	}
	if st.Owner != "" {
		users[st.Owner] = true
	}
	out := make([]api.RoomMember, 0, len(users))
	for u := range users {
		if _, banned := st.BannedAt(u, now); banned {
			continue
		}
		status := api.StatusOffline
		if online[u] {
			status = api.StatusOnline
		}
		nick, pic := r.faceOf(name, u)
		out = append(out, api.RoomMember{Username: u, Role: api.RoomRole(st.Role(u)), Status: status, Nick: nick, AvatarPath: pic})
	}
	slices.SortFunc(out, func(a, b api.RoomMember) int {
		return cmp.Or(cmp.Compare(rank(a.Role), rank(b.Role)), cmp.Compare(a.Username, b.Username))
	})
	return out, nil
}

// rank orders roles for the member list: owner first.
func rank(r api.RoomRole) int {
	return slices.Index([]api.RoomRole{api.RoomRoleOwner, api.RoomRoleOp, api.RoomRoleVoice, api.RoomRoleMember}, r)
}

// sortedKeys are a state's set (never nil: the API shows [] not null).
func sortedKeys(m map[string]bool) []string {
	return append([]string{}, slices.Sorted(maps.Keys(m))...)
}
