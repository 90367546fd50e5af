package presence

import (
	"fmt"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/wire"
)

// TestAvailability: the order a contact's devices' statuses merge in, one
// pair at a time, both ways round.
func TestAvailability(t *testing.T) {
	tests := []struct{ a, b, want api.Status }{
		{api.StatusOnline, api.StatusBusy, api.StatusOnline},
		{api.StatusOnline, api.StatusAway, api.StatusOnline},
		{api.StatusBusy, api.StatusPhone, api.StatusBusy},
		{api.StatusBusy, api.StatusAway, api.StatusBusy},
		{api.StatusPhone, api.StatusBRB, api.StatusPhone},
		{api.StatusBRB, api.StatusAway, api.StatusBRB},
		{api.StatusAway, api.StatusLunch, api.StatusAway},
		{api.StatusLunch, api.StatusOffline, api.StatusLunch},
		{api.StatusOnline, api.StatusOnline, api.StatusOnline},
		{api.StatusOffline, api.StatusOffline, api.StatusOffline},
	}
	for _, tc := range tests {
		for _, order := range [][2]api.Status{{tc.a, tc.b}, {tc.b, tc.a}} {
			a := &account{}
			for i, s := range order {
				a.apply(report{peer: fmt.Sprint("d", i), status: s, now: time.Unix(1, 0)})
			}
			if got := a.view().status; got != tc.want {
				t.Errorf("%s + %s = %s, want %s", order[0], order[1], got, tc.want)
			}
		}
	}
	// Every status a user may choose has its place; invisible (never sent
	// to contacts) ranks with offline.
	for _, s := range api.Statuses {
		if r := rank(s); (r == len(availability)) != (s == api.StatusInvisible) {
			t.Errorf("rank(%s) = %d", s, r)
		}
	}
}

// step is one presence in a merge test: from device peer, its status,
// nick and subnick, and when it set them (seconds; 0: never, or an
// older peer), arriving at second at.
type step struct {
	at                int64
	peer              string
	status            api.Status
	nick, subnick     string
	nickAt, subnickAt int64
	goodbye           bool // only "offline", no fields
	// what the contact shows after it
	wantStatus  api.Status
	wantNick    string
	wantSubnick string
	wantArrived bool
}

func TestMerge(t *testing.T) {
	const far = 1 << 40 // a clock far ahead of ours
	tests := []struct {
		name  string
		steps []step
	}{
		{"laptop online and desktop away show online; the laptop signs out and shows away; both out, offline", []step{
			{at: 1, peer: "laptop", status: api.StatusOnline, nick: "Al", wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
			{at: 2, peer: "desktop", status: api.StatusAway, nick: "Al", wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
			{at: 3, peer: "laptop", goodbye: true, status: api.StatusOffline, wantStatus: api.StatusAway, wantNick: "Al"},
			{at: 4, peer: "desktop", goodbye: true, status: api.StatusOffline, wantStatus: api.StatusOffline, wantNick: "Al"},
		}},
		{"a nick changed on the desktop stays when the laptop speaks later with its older one", []step{
			{at: 10, peer: "laptop", status: api.StatusOnline, nick: "Old", nickAt: 5, wantStatus: api.StatusOnline, wantNick: "Old", wantArrived: true},
			{at: 20, peer: "desktop", status: api.StatusOnline, nick: "New", nickAt: 15, wantStatus: api.StatusOnline, wantNick: "New", wantArrived: true},
			{at: 30, peer: "laptop", status: api.StatusBusy, nick: "Old", nickAt: 5, wantStatus: api.StatusOnline, wantNick: "New"},
			{at: 40, peer: "desktop", goodbye: true, status: api.StatusOffline, wantStatus: api.StatusBusy, wantNick: "New"},
			// Signing in again with its old nick does not bring it back.
			{at: 50, peer: "desktop2", status: api.StatusAway, nick: "Old", nickAt: 5, wantStatus: api.StatusBusy, wantNick: "New", wantArrived: true},
		}},
		{"field by field: the laptop's newer subnick does not bring back its older nick", []step{
			{at: 10, peer: "laptop", status: api.StatusOnline, nick: "Old", nickAt: 5, subnick: "home", subnickAt: 5, wantStatus: api.StatusOnline, wantNick: "Old", wantSubnick: "home", wantArrived: true},
			{at: 20, peer: "desktop", status: api.StatusOnline, nick: "New", nickAt: 15, subnick: "home", subnickAt: 5, wantStatus: api.StatusOnline, wantNick: "New", wantSubnick: "home", wantArrived: true},
			{at: 30, peer: "laptop", status: api.StatusOnline, nick: "Old", nickAt: 5, subnick: "away from home", subnickAt: 25, wantStatus: api.StatusOnline, wantNick: "New", wantSubnick: "away from home"},
		}},
		{"the same change time: the larger peer ID wins, whichever arrives first", []step{
			{at: 10, peer: "b", status: api.StatusOnline, nick: "B", nickAt: 5, wantStatus: api.StatusOnline, wantNick: "B", wantArrived: true},
			{at: 20, peer: "a", status: api.StatusOnline, nick: "A", nickAt: 5, wantStatus: api.StatusOnline, wantNick: "B", wantArrived: true},
		}},
		{"an older peer sends no times: each of its presences is its latest", []step{
			{at: 10, peer: "old", status: api.StatusOnline, nick: "One", wantStatus: api.StatusOnline, wantNick: "One", wantArrived: true},
			{at: 20, peer: "old", status: api.StatusAway, nick: "Two", wantStatus: api.StatusAway, wantNick: "Two"},
		}},
		{"a clock far ahead is taken for our now, once", []step{
			{at: 10, peer: "ahead", status: api.StatusOnline, nick: "Ahead", nickAt: far, wantStatus: api.StatusOnline, wantNick: "Ahead", wantArrived: true},
			{at: 20, peer: "desktop", status: api.StatusOnline, nick: "Now", nickAt: 15, wantStatus: api.StatusOnline, wantNick: "Now", wantArrived: true},
			{at: 30, peer: "ahead", status: api.StatusBusy, nick: "Ahead", nickAt: far, wantStatus: api.StatusOnline, wantNick: "Now"},
		}},
		{"two devices saying the same", []step{
			{at: 1, peer: "laptop", status: api.StatusBusy, nick: "Al", wantStatus: api.StatusBusy, wantNick: "Al", wantArrived: true},
			{at: 2, peer: "desktop", status: api.StatusBusy, nick: "Al", wantStatus: api.StatusBusy, wantNick: "Al", wantArrived: true},
			{at: 3, peer: "desktop", status: api.StatusBusy, nick: "Al", wantStatus: api.StatusBusy, wantNick: "Al"},
		}},
		{"appearing offline on the laptop while the desktop is online shows the desktop", []step{
			{at: 1, peer: "laptop", status: api.StatusOnline, nick: "Al", wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
			{at: 2, peer: "desktop", status: api.StatusAway, nick: "Al", wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
			{at: 3, peer: "laptop", goodbye: true, status: api.StatusOffline, wantStatus: api.StatusAway, wantNick: "Al"},
		}},
		{"a goodbye from a device we did not know changes nothing", []step{
			{at: 1, peer: "laptop", status: api.StatusOnline, nick: "Al", wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
			{at: 2, peer: "phone", goodbye: true, status: api.StatusOffline, wantStatus: api.StatusOnline, wantNick: "Al", wantArrived: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &account{}
			for i, s := range tc.steps {
				r := report{peer: s.peer, status: s.status, now: time.Unix(s.at, 0), hasFields: !s.goodbye,
					fields:  [nFields]string{s.nick, s.subnick, "", ""},
					changed: [nFields]int64{s.nickAt * 1000, s.subnickAt * 1000, 0, 0}}
				if s.nickAt == far {
					r.changed[fieldNick] = far
				}
				arrived := a.apply(r)
				v := a.view()
				if v.status != s.wantStatus || v.fields[fieldNick] != s.wantNick || v.fields[fieldSubnick] != s.wantSubnick || arrived != s.wantArrived {
					t.Fatalf("step %d: %s/%q/%q arrived %v, want %s/%q/%q arrived %v", i, v.status, v.fields[fieldNick], v.fields[fieldSubnick], arrived,
						s.wantStatus, s.wantNick, s.wantSubnick, s.wantArrived)
				}
			}
		})
	}
}

// TestMergeBounded: an account keeps at most wire.MaxAccountDevices
// devices; one more pushes out the one heard from longest ago, and a
// device gone without a goodbye is forgotten.
func TestMergeBounded(t *testing.T) {
	a := &account{}
	t0 := time.Unix(1000, 0)
	a.apply(report{peer: "first", status: api.StatusOnline, now: t0})
	for i := range wire.MaxAccountDevices - 1 {
		a.apply(report{peer: fmt.Sprint("d", i), status: api.StatusAway, now: t0.Add(time.Duration(i+1) * time.Second)})
	}
	if len(a.devices) != wire.MaxAccountDevices || a.view().status != api.StatusOnline {
		t.Fatalf("%d devices showing %s, want %d showing online", len(a.devices), a.view().status, wire.MaxAccountDevices)
	}
	a.apply(report{peer: "one more", status: api.StatusAway, now: t0.Add(time.Hour)})
	if _, ok := a.devices["first"]; ok || len(a.devices) != wire.MaxAccountDevices {
		t.Fatalf("%d devices, the oldest kept: %v", len(a.devices), ok)
	}
	if a.view().status != api.StatusAway {
		t.Fatalf("shows %s after the online device was pushed out", a.view().status)
	}
	if !a.forget("one more") || a.forget("one more") || len(a.devices) != wire.MaxAccountDevices-1 {
		t.Fatalf("forget: %d devices left", len(a.devices))
	}
}
