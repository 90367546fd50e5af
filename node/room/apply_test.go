package room

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// TestAuthority is every op kind by every role in the lounge: the owner may
// do everything, operators everything but deop another operator, delete
// the room or hand it over; voiced users, members and strangers nothing
// (topic locked); the banned nothing, with ErrBanned.
func TestAuthority(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	kinds := []struct {
		name string
		kind func(*wire.RoomOp)
		opOK bool // an operator may do it
	}{
		{"topic", topic("new topic"), true},
		{"modes", modes(Modes{InviteOnly: true, TopicLocked: true, SlowSeconds: 5}), true},
		{"op", opUser("tina"), true},
		{"deop another operator", deop("otto"), false},
		{"voice", voice("tina"), true},
		{"devoice", devoice("victor"), true},
		{"kick", kick("tina"), true},
		{"ban", ban("tina", t0.Add(time.Hour)), true},
		{"unban", unban("bart"), true},
		{"invite", invite("sam"), true},
		{"delete another's message", deleteMessage("m1", "tina"), true},
		{"delete room", deleteRoom(), false},
		{"transfer owner", transfer("oscar"), false},
	}
	roles := []struct {
		role   string
		author string
	}{
		{"owner", "olivia"}, {"op", "oscar"}, {"voiced", "victor"}, {"member", "mia"}, {"banned", "bart"}, {"stranger", "sam"},
	}
	for _, k := range kinds {
		for _, r := range roles {
			var want error
			switch r.role {
			case "owner":
			case "op":
				if !k.opOK {
					want = ErrNotAllowed
				}
			case "banned":
				want = ErrBanned
			default:
				want = ErrNotAllowed
			}
			t.Run(k.name+"/"+r.role, func(t *testing.T) {
				next, err := w.try(base, r.author, base.Time.Add(time.Second), k.kind)
				is(t, err, want)
				if err == nil && (next.Seq != base.Seq+1 || next.Head == base.Head) {
					t.Fatalf("state not advanced: seq %d → %d", base.Seq, next.Seq)
				}
			})
		}
	}
}

// TestTargets is the rules about whom an op may act on: nobody acts on the
// owner but by a transfer, operators not on each other, a banned user gets
// no role, and ops that change nothing say so.
func TestTargets(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	tests := []struct {
		name   string
		author string
		kind   func(*wire.RoomOp)
		want   error
	}{
		{"op kicks the owner", "oscar", kick("olivia"), ErrNotAllowed},
		{"op bans the owner", "oscar", ban("olivia", time.Time{}), ErrNotAllowed},
		{"op deops the owner", "oscar", deop("olivia"), ErrNotAllowed},
		{"op ops the owner", "oscar", opUser("olivia"), ErrNotAllowed},
		{"op devoices the owner", "oscar", devoice("olivia"), ErrNotAllowed},
		{"op deletes the owner's message", "oscar", deleteMessage("m1", "olivia"), ErrNotAllowed},
		{"op kicks another op", "oscar", kick("otto"), ErrNotAllowed},
		{"op bans another op", "oscar", ban("otto", time.Time{}), ErrNotAllowed},
		{"op deletes another op's message", "oscar", deleteMessage("m1", "otto"), ErrNotAllowed},
		{"op steps down", "oscar", deop("oscar"), nil},
		{"op bans itself", "oscar", ban("oscar", time.Time{}), ErrNotAllowed},
		{"owner kicks an op", "olivia", kick("otto"), nil},
		{"owner bans an op", "olivia", ban("otto", time.Time{}), nil},
		{"owner bans itself", "olivia", ban("olivia", time.Time{}), ErrNotAllowed},
		{"owner kicks itself", "olivia", kick("olivia"), ErrNotAllowed},
		{"owner deops itself", "olivia", deop("olivia"), ErrNotAllowed},
		{"owner transfers to itself", "olivia", transfer("olivia"), ErrNoChange},
		{"op ops a banned user", "oscar", opUser("bart"), ErrBanned},
		{"owner ops a banned user", "olivia", opUser("bart"), ErrBanned},
		{"voice a banned user", "olivia", voice("bart"), ErrBanned},
		{"invite a banned user", "olivia", invite("bart"), ErrBanned},
		{"transfer to a banned user", "olivia", transfer("bart"), ErrBanned},
		{"op an operator", "olivia", opUser("otto"), ErrNoChange},
		{"deop a member", "olivia", deop("tina"), ErrNoChange},
		{"voice the voiced", "oscar", voice("victor"), ErrNoChange},
		{"devoice the unvoiced", "oscar", devoice("tina"), ErrNoChange},
		{"unban the unbanned", "oscar", unban("tina"), ErrNoChange},
		{"invite the invited", "oscar", invite("mia"), ErrNoChange},
		{"invite an operator", "olivia", invite("otto"), ErrNoChange},
		{"ban the banned the same way", "oscar", ban("bart", time.Time{}), ErrNoChange},
		{"ban the banned for an hour instead", "oscar", ban("bart", t0.Add(time.Hour)), nil},
		{"same topic", "oscar", topic("welcome"), ErrNoChange},
		{"same modes", "oscar", modes(base.Modes), ErrNoChange},
		{"member deletes own message", "mia", deleteMessage("m1", "mia"), nil},
		{"stranger deletes own message", "sam", deleteMessage("m1", "sam"), nil},
		{"banned deletes own message", "bart", deleteMessage("m1", "bart"), ErrBanned},
		{"owner deletes own message", "olivia", deleteMessage("m1", "olivia"), nil},
		{"create again", "olivia", func(o *wire.RoomOp) {
			o.Kind = &wire.RoomOp_Create{Create: &wire.RoomCreate{}}
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.try(base, tt.author, base.Time.Add(time.Second), tt.kind)
			is(t, err, tt.want)
		})
	}
}

// TestUnlockedTopic: without the topic lock anyone who may take part sets
// the topic — in an invite-only room the invited, not strangers.
func TestUnlockedTopic(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	unlocked, _ := w.step(base, "olivia", at, modes(Modes{InviteOnly: true}))
	at = at.Add(time.Second)
	for _, tt := range []struct {
		author string
		want   error
	}{{"mia", nil}, {"victor", nil}, {"sam", ErrNotAllowed}, {"bart", ErrBanned}} {
		t.Run(tt.author, func(t *testing.T) {
			_, err := w.try(unlocked, tt.author, at, topic("by "+tt.author))
			is(t, err, tt.want)
		})
	}
	public, _ := w.step(unlocked, "olivia", at, modes(Modes{Public: true}))
	if _, err := w.try(public, "sam", at.Add(time.Second), topic("by sam")); err != nil {
		t.Fatalf("a stranger sets an open public room's topic: %v", err)
	}
}

// TestEffects checks what each allowed op does to the state, and that
// Apply never changes the state it started from.
func TestEffects(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	before := base.Clone()
	at := base.Time.Add(time.Second)
	tests := []struct {
		name   string
		author string
		kind   func(*wire.RoomOp)
		check  func(*State) error
	}{
		{"ban takes every role", "olivia", ban("otto", time.Time{}), func(s *State) error {
			if s.Operators["otto"] || s.Role("otto") != RoleMember {
				return fmt.Errorf("otto still %s", s.Role("otto"))
			}
			if b := s.Bans["otto"]; b.By != "olivia" || !b.At.Equal(at) || !b.Until.IsZero() {
				return fmt.Errorf("ban %+v", b)
			}
			return nil
		}},
		{"ban takes the invitation", "oscar", ban("mia", at.Add(time.Hour)), func(s *State) error {
			if s.Invited["mia"] {
				return fmt.Errorf("mia still invited")
			}
			return nil
		}},
		{"transfer makes the old owner an operator", "olivia", transfer("oscar"), func(s *State) error {
			if s.Owner != "oscar" || s.Operators["oscar"] || !s.Operators["olivia"] || s.Role("olivia") != RoleOp {
				return fmt.Errorf("owner %q, operators %v", s.Owner, slices.Sorted(maps.Keys(s.Operators)))
			}
			return nil
		}},
		{"topic", "oscar", topic("hello there"), func(s *State) error {
			if s.Topic != "hello there" {
				return fmt.Errorf("topic %q", s.Topic)
			}
			return nil
		}},
		{"modes", "oscar", modes(Modes{Public: true, SlowSeconds: 30}), func(s *State) error {
			if s.Modes != (Modes{Public: true, SlowSeconds: 30}) {
				return fmt.Errorf("modes %+v", s.Modes)
			}
			return nil
		}},
		{"unban", "oscar", unban("bart"), func(s *State) error {
			if _, ok := s.Bans["bart"]; ok {
				return fmt.Errorf("bart still banned")
			}
			return nil
		}},
		{"delete room", "olivia", deleteRoom(), func(s *State) error {
			if !s.Deleted || s.Exists() {
				return fmt.Errorf("not deleted")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := Next(base, tt.author, at)
			tt.kind(op)
			s := w.sign(tt.author, op)
			next, got, err := Step(base, s, at, w.checks())
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(next); err != nil {
				t.Fatal(err)
			}
			if next.Seq != base.Seq+1 || next.Head != HashOp(s.Op) || next.Head != got.Hash || !next.Time.Equal(at) {
				t.Fatalf("position: seq %d head %x time %v", next.Seq, next.Head[:4], next.Time)
			}
			if !reflect.DeepEqual(base, before) {
				t.Fatal("Apply changed the state it started from")
			}
		})
	}
}

// TestDeletedRoom: a deleted room's chain takes no more ops, and no one
// posts or joins.
func TestDeletedRoom(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	gone, _ := w.step(base, "olivia", base.Time.Add(time.Second), deleteRoom())
	_, err := w.try(gone, "olivia", gone.Time.Add(time.Second), topic("back"))
	is(t, err, ErrDeleted)
	_, err = Admit(gone, Sender{Username: "olivia"}, gone.Time, Recent{})
	is(t, err, ErrDeleted)
	is(t, AdmitJoin(gone, Sender{Username: "olivia"}, "", 0, gone.Time), ErrDeleted)
}

// TestBanExpiry: a ban with an expiry ends by itself — the user may act
// and post again — and leaves the state at the first op after it.
func TestBanExpiry(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	until := at.Add(time.Hour)
	banned, _ := w.step(base, "olivia", at, ban("tina", until))
	_, err := w.try(banned, "tina", until.Add(-time.Second), deleteMessage("m1", "tina"))
	is(t, err, ErrBanned)
	_, err = w.try(banned, "olivia", until.Add(-time.Second), voice("tina"))
	is(t, err, ErrBanned)
	after, err := w.try(banned, "olivia", until, voice("tina"))
	is(t, err, nil)
	if _, ok := after.Bans["tina"]; ok {
		t.Fatal("an expired ban stayed in the state after the next op")
	}
	if _, ok := banned.BannedAt("tina", until); ok {
		t.Fatal("BannedAt the ban's end says banned")
	}
	if _, ok := banned.BannedAt("tina", until.Add(-time.Millisecond)); !ok {
		t.Fatal("BannedAt before the ban's end says not banned")
	}
}

// TestListLimits: the operator and ban lists stop at their limits, so a
// room's state stays bounded whatever its owner signs.
func TestListLimits(t *testing.T) {
	w := newWorld(t)
	base, _ := lounge(w)
	at := base.Time.Add(time.Second)
	// fill is the lounge with n more entries made by set.
	fill := func(n int, set func(*State, string)) *State {
		s := base.Clone()
		for i := range n {
			set(s, fmt.Sprintf("user%d", i))
		}
		return s
	}
	tests := []struct {
		name string
		st   *State
		kind func(*wire.RoomOp)
		want error
	}{
		{"operators below the limit", fill(wire.MaxRoomOperators-3, func(s *State, u string) { s.Operators[u] = true }), opUser("tina"), nil},
		{"operators at the limit", fill(wire.MaxRoomOperators-2, func(s *State, u string) { s.Operators[u] = true }), opUser("tina"), ErrTooMany},
		{"bans below the limit", fill(wire.MaxRoomBans-2, func(s *State, u string) { s.Bans[u] = Ban{} }), ban("tina", time.Time{}), nil},
		{"bans at the limit", fill(wire.MaxRoomBans-1, func(s *State, u string) { s.Bans[u] = Ban{} }), ban("tina", time.Time{}), ErrTooMany},
		{"expired bans free the list", fill(wire.MaxRoomBans-1, func(s *State, u string) { s.Bans[u] = Ban{Until: at} }), ban("tina", time.Time{}), nil},
		{"re-ban at the limit", fill(wire.MaxRoomBans-1, func(s *State, u string) { s.Bans[u] = Ban{} }), ban("bart", at.Add(time.Hour)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.try(tt.st, "olivia", at, tt.kind)
			is(t, err, tt.want)
		})
	}
}

// TestRegionalRoom: no one creates (and so owns) a regional room; its
// state has the region from its name.
func TestRegionalRoom(t *testing.T) {
	w := newWorld(t)
	for _, name := range []string{"region-es", "region-europe"} {
		t.Run(name, func(t *testing.T) {
			s := w.sign("olivia", Create(name, "olivia", t0, "", Modes{}))
			_, _, err := Step(New(name), s, t0, w.checks())
			is(t, err, ErrNotAllowed)
		})
	}
	if st := New("region-es"); st.Region != "ES" || !st.Exists() {
		t.Fatalf("regional state: region %q, exists %v", st.Region, st.Exists())
	}
	if st := New("lounge"); st.Region != "" || st.Exists() {
		t.Fatalf("plain state: region %q, exists %v", st.Region, st.Exists())
	}
}

// TestRegionalModerators: a regional room belongs to no one, and its
// region's moderators — those whose ticket the auth server signed naming
// that region — act as its operators: they ban, mute, set the topic and
// slow mode, the chain starting at their first op. A moderator of another
// region and a plain user cannot; no one ops, invites, deletes or hands the
// room over, nor closes it to its region.
func TestRegionalModerators(t *testing.T) {
	w := newWorld(t)
	mod := func(user string, regions ...string) {
		k, id := newKey(t)
		st, err := ticket.Sign(w.serverKey, ticket.Ticket{Username: user, Peer: id, Device: "laptop",
			Issued: t0.Add(-time.Hour), Expiry: t0.Add(23 * time.Hour), Role: ticket.RoleNode, Moderates: regions})
		if err != nil {
			t.Fatal(err)
		}
		w.devices[user] = &device{user: user, key: k, id: id, ticket: st}
	}
	mod("esmod", "ES")
	mod("frmod", "FR", "PT")
	st := New("region-es")
	st, _ = w.step(st, "esmod", t0, ban("spammer", time.Time{}))
	if st.Seq != 1 || st.Owner != "" {
		t.Fatalf("the regional chain's first op: seq %d, owner %q", st.Seq, st.Owner)
	}
	st, _ = w.step(st, "esmod", t0.Add(time.Second), modes(Modes{SlowSeconds: 10, Moderated: true}))
	st, _ = w.step(st, "esmod", t0.Add(2*time.Second), voice("sam"))
	st, _ = w.step(st, "esmod", t0.Add(3*time.Second), topic("Hola"))
	if _, banned := st.BannedAt("spammer", t0); !banned || !st.Modes.Moderated || !st.Voiced["sam"] || st.Topic != "Hola" {
		t.Fatalf("the regional state: %+v", st)
	}
	at := t0.Add(time.Minute)
	for _, tc := range []struct {
		name, user string
		kind       func(*wire.RoomOp)
		want       error
	}{
		{"a moderator of other regions bans", "frmod", ban("sam", time.Time{}), ErrNotAllowed},
		{"a user bans", "sam", ban("esmod", time.Time{}), ErrNotAllowed},
		{"a user unbans himself", "spammer", unban("spammer"), ErrBanned},
		{"the moderator ops someone", "esmod", opUser("sam"), ErrNotAllowed},
		{"the moderator invites", "esmod", invite("sam"), ErrNotAllowed},
		{"the moderator deletes the room", "esmod", deleteRoom(), ErrNotAllowed},
		{"the moderator hands it over", "esmod", transfer("sam"), ErrNotAllowed},
		{"the moderator makes it invite-only", "esmod", modes(Modes{InviteOnly: true}), ErrNotAllowed},
		{"the moderator lists it", "esmod", modes(Modes{Public: true}), ErrNotAllowed},
		{"the moderator caps it", "esmod", modes(Modes{MemberLimit: 5}), ErrNotAllowed},
		{"the moderator unbans", "esmod", unban("spammer"), nil},
		{"the moderator kicks", "esmod", kick("sam"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.try(st, tc.user, at, tc.kind)
			is(t, err, tc.want)
		})
	}
	// The first op of a regional chain follows nothing, as a genesis op.
	op := Next(New("region-es"), "esmod", t0)
	op.Seq = 2
	op.Kind = &wire.RoomOp_Topic{Topic: "x"}
	if _, _, err := Step(New("region-es"), w.sign("esmod", op), t0, w.checks()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a regional op at position 2 after nothing: %v", err)
	}
}

// TestReplayAgrees: two replicas replaying the same chain reach equal
// states, the one the ops built step by step.
func TestReplayAgrees(t *testing.T) {
	w := newWorld(t)
	st, chain := lounge(w)
	a, err := Replay("lounge", chain, st.Time, w.checks())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Replay("lounge", slices.Clone(chain), st.Time.Add(24*time.Hour), w.checks())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, st) || !reflect.DeepEqual(a, b) {
		t.Fatalf("replicas differ:\n%+v\n%+v\n%+v", st, a, b)
	}
	if st.Owner != "olivia" || st.Role("oscar") != RoleOp || st.Role("victor") != RoleVoice || st.Role("mia") != RoleMember ||
		!st.Invited["tina"] || st.Topic != "welcome" || st.Seq != uint64(len(chain)) {
		t.Fatalf("lounge: %+v", st)
	}
}
