package room

import (
	"bytes"
	"testing"
	"time"

	"eserver/node/wire"
)

// room is a state made directly (Admit reads state; how ops build it is
// tested elsewhere): owner olivia, operator oscar, victor voiced, mia
// invited, bart banned until an hour after t0.
func room(m Modes) *State {
	st := New("lounge")
	st.Owner, st.Modes, st.Seq, st.Time = "olivia", m, 7, t0
	st.Operators["oscar"] = true
	st.Voiced["victor"] = true
	st.Invited["mia"] = true
	st.Bans["bart"] = Ban{Until: t0.Add(time.Hour), By: "olivia", At: t0}
	return st
}

// sends is a member's record of admitted messages at the given offsets
// from t0.
func sends(offsets ...time.Duration) Recent {
	var r Recent
	for _, d := range offsets {
		r = r.add(t0.Add(d))
	}
	return r
}

func TestAdmit(t *testing.T) {
	old := t0.Add(-365 * 24 * time.Hour)
	member := Sender{Username: "sam", AccountCreated: old}
	as := func(user string) Sender { return Sender{Username: user, AccountCreated: old} }
	sec := time.Second
	regional := New("region-es")
	tests := []struct {
		name   string
		st     *State
		from   Sender
		now    time.Time
		recent Recent
		want   error
	}{
		{"open room", room(Modes{}), member, t0, Recent{}, nil},
		{"banned", room(Modes{}), as("bart"), t0.Add(time.Hour - time.Millisecond), Recent{}, ErrBanned},
		{"ban expired", room(Modes{}), as("bart"), t0.Add(time.Hour), Recent{}, nil},
		{"no room", New("lounge"), member, t0, Recent{}, ErrNoRoom},

		{"moderated, member muted", room(Modes{Moderated: true}), member, t0, Recent{}, ErrNotAllowed},
		{"moderated, voiced", room(Modes{Moderated: true}), as("victor"), t0, Recent{}, nil},
		{"moderated, operator", room(Modes{Moderated: true}), as("oscar"), t0, Recent{}, nil},
		{"moderated, owner", room(Modes{Moderated: true}), as("olivia"), t0, Recent{}, nil},

		{"invite-only, stranger", room(Modes{InviteOnly: true}), member, t0, Recent{}, ErrNotAllowed},
		{"invite-only, invited", room(Modes{InviteOnly: true}), as("mia"), t0, Recent{}, nil},
		{"invite-only, operator", room(Modes{InviteOnly: true}), as("oscar"), t0, Recent{}, nil},

		{"gate, new account", room(Modes{MinAccountMinutes: 60}), Sender{Username: "sam", AccountCreated: t0.Add(-59 * time.Minute)}, t0, Recent{}, ErrNotAllowed},
		{"gate, account just old enough", room(Modes{MinAccountMinutes: 60}), Sender{Username: "sam", AccountCreated: t0.Add(-60 * time.Minute)}, t0, Recent{}, nil},
		{"gate, age unknown", room(Modes{MinAccountMinutes: 60}), Sender{Username: "sam"}, t0, Recent{}, ErrNotAllowed},
		{"gate, voiced new account", room(Modes{MinAccountMinutes: 60}), Sender{Username: "victor", AccountCreated: t0}, t0, Recent{}, nil},
		{"gate, operator's new account", room(Modes{MinAccountMinutes: 60}), Sender{Username: "oscar", AccountCreated: t0}, t0, Recent{}, nil},

		{"regional, same region", regional, Sender{Username: "sam", Region: "ES"}, t0, Recent{}, nil},
		{"regional, another region", regional, Sender{Username: "sam", Region: "FR"}, t0, Recent{}, ErrNotAllowed},
		{"regional, no region", regional, Sender{Username: "sam"}, t0, Recent{}, ErrNotAllowed},

		{"slow mode, too soon", room(Modes{SlowSeconds: 30, FloodOff: true}), member, t0.Add(29 * sec), sends(0), ErrRateLimited},
		{"slow mode, in time", room(Modes{SlowSeconds: 30, FloodOff: true}), member, t0.Add(30 * sec), sends(0), nil},
		{"slow mode, operator exempt", room(Modes{SlowSeconds: 30, FloodOff: true}), as("oscar"), t0.Add(sec), sends(0), nil},
		{"slow mode, voiced not exempt", room(Modes{SlowSeconds: 30, FloodOff: true}), as("victor"), t0.Add(sec), sends(0), ErrRateLimited},
		{"slow mode, clock stepped back", room(Modes{SlowSeconds: 30, FloodOff: true}), member, t0.Add(-time.Hour), sends(0), ErrRateLimited},

		{"flood default, 4 in 10 s", room(Modes{}), member, t0.Add(9 * sec), sends(0, sec, 2*sec, 3*sec), nil},
		{"flood default, 5 in 10 s", room(Modes{}), member, t0.Add(9 * sec), sends(0, sec, 2*sec, 3*sec, 4*sec), ErrRateLimited},
		{"flood default, the oldest left the window", room(Modes{}), member, t0.Add(10 * sec), sends(0, sec, 2*sec, 3*sec, 4*sec), nil},
		{"flood binds operators too", room(Modes{}), as("oscar"), t0.Add(5 * sec), sends(0, sec, 2*sec, 3*sec, 4*sec), ErrRateLimited},
		{"flood off", room(Modes{FloodOff: true}), member, t0.Add(5 * sec), sends(0, sec, 2*sec, 3*sec, 4*sec), nil},
		{"flood set to 2 in 60 s", room(Modes{FloodMessages: 2, FloodSeconds: 60}), member, t0.Add(50 * sec), sends(0, 10*sec), ErrRateLimited},
		{"flood at its largest", room(Modes{FloodMessages: wire.MaxRoomFloodMessages, FloodSeconds: 60}), member, t0.Add(30 * sec),
			sends(0, 1*sec, 2*sec, 3*sec, 4*sec, 5*sec, 6*sec, 7*sec, 8*sec, 9*sec, 10*sec, 11*sec, 12*sec, 13*sec, 14*sec, 15*sec, 16*sec, 17*sec, 18*sec, 19*sec), ErrRateLimited},
		{"flood at its largest, one out", room(Modes{FloodMessages: wire.MaxRoomFloodMessages, FloodSeconds: 60}), member, t0.Add(60 * sec),
			sends(0, 1*sec, 2*sec, 3*sec, 4*sec, 5*sec, 6*sec, 7*sec, 8*sec, 9*sec, 10*sec, 11*sec, 12*sec, 13*sec, 14*sec, 15*sec, 16*sec, 17*sec, 18*sec, 19*sec), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Admit(tt.st, tt.from, tt.now, tt.recent)
			is(t, err, tt.want)
			last, _ := got.last()
			switch {
			case err == nil && (got.n != min(tt.recent.n+1, wire.MaxRoomFloodMessages) || !last.Equal(tt.now)):
				t.Fatalf("an admitted message not recorded: %+v", got)
			case err != nil && got != tt.recent:
				t.Fatal("a refused message recorded")
			}
		})
	}
}

// TestFloodSequence drives one member through the default flood limit on
// an injected clock: five messages pass, the sixth within 10 s does not,
// and once the first is 10 s old the member may post again.
func TestFloodSequence(t *testing.T) {
	st := room(Modes{})
	from := Sender{Username: "sam", AccountCreated: t0.Add(-time.Hour)}
	var r Recent
	var err error
	now := t0
	for i := range 5 {
		if r, err = Admit(st, from, now, r); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		now = now.Add(time.Second)
	}
	_, err = Admit(st, from, now, r)
	is(t, err, ErrRateLimited)
	_, err = Admit(st, from, t0.Add(10*time.Second), r)
	is(t, err, nil)
	// Far more messages than the record holds keep it bounded.
	for i := range 3 * wire.MaxRoomFloodMessages {
		r = r.add(t0.Add(time.Duration(i) * time.Minute))
	}
	if int(r.n) != wire.MaxRoomFloodMessages {
		t.Fatalf("record holds %d", r.n)
	}
	if last, _ := r.last(); !last.Equal(t0.Add(time.Duration(3*wire.MaxRoomFloodMessages-1) * time.Minute)) {
		t.Fatalf("last send %v", last)
	}
}

func TestAdmitJoin(t *testing.T) {
	// A fixed reader makes the salt, so the test draws no randomness it
	// cannot repeat.
	pw, err := NewPassword("sesame", bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	sam := Sender{Username: "sam"}
	tests := []struct {
		name     string
		st       *State
		from     Sender
		password string
		members  int
		now      time.Time
		want     error
	}{
		{"open room", room(Modes{}), sam, "", 10, t0, nil},
		{"banned", room(Modes{}), Sender{Username: "bart"}, "", 0, t0, ErrBanned},
		{"ban over", room(Modes{}), Sender{Username: "bart"}, "", 0, t0.Add(time.Hour), nil},
		{"invite-only, stranger", room(Modes{InviteOnly: true}), sam, "", 0, t0, ErrNotAllowed},
		{"invite-only, invited", room(Modes{InviteOnly: true}), Sender{Username: "mia"}, "", 0, t0, nil},
		{"below the limit", room(Modes{MemberLimit: 10}), sam, "", 9, t0, nil},
		{"at the limit", room(Modes{MemberLimit: 10}), sam, "", 10, t0, ErrRoomFull},
		{"at the limit, operator", room(Modes{MemberLimit: 10}), Sender{Username: "oscar"}, "", 10, t0, nil},
		{"at the largest room", room(Modes{}), sam, "", wire.MaxRoomMembers, t0, ErrRoomFull},
		{"password right", room(Modes{Password: pw}), sam, "sesame", 0, t0, nil},
		{"password wrong", room(Modes{Password: pw}), sam, "Sesame", 0, t0, ErrWrongPassword},
		{"password missing", room(Modes{Password: pw}), sam, "", 0, t0, ErrWrongPassword},
		{"password, owner", room(Modes{Password: pw}), Sender{Username: "olivia"}, "", 0, t0, nil},
		{"regional room, anyone reads", New("region-es"), Sender{Username: "sam", Region: "FR"}, "", 0, t0, nil},
		{"no room", New("lounge"), sam, "", 0, t0, ErrNoRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is(t, AdmitJoin(tt.st, tt.from, tt.password, tt.members, tt.now), tt.want)
		})
	}
}

// TestPassword: the state holds a salted hash the password matches, and
// only it; the password itself appears nowhere in the op's bytes.
func TestPassword(t *testing.T) {
	pw, err := NewPassword("correct horse", bytes.NewReader(bytes.Repeat([]byte{1}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewPassword("correct horse", bytes.NewReader(bytes.Repeat([]byte{2}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if !pw.Set() || !pw.Matches("correct horse") || pw.Matches("correct horse ") || pw.Hash == other.Hash {
		t.Fatal("password hashing")
	}
	b := wire.MustMarshal(Create("lounge", "olivia", t0, "", Modes{Password: pw}))
	if bytes.Contains(b, []byte("correct horse")) {
		t.Fatal("the password is in the op")
	}
	if none, _ := NewPassword("", nil); none.Set() || none.Matches("") {
		t.Fatal("an empty password is a password")
	}
	if _, err := NewPassword(string(make([]byte, wire.MaxRoomPassword+1)), bytes.NewReader(make([]byte, 16))); err == nil {
		t.Fatal("an overlong password hashed")
	}
}
