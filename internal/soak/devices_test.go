package soak

import (
	"slices"
	"testing"
)

func TestTwinAccounts(t *testing.T) {
	for _, tc := range []struct {
		nodes, twins int
		want         []int
	}{
		{12, 2, []int{0, 6}},
		{12, 0, nil},
		{5, 2, []int{0, 2}},
		{3, 5, []int{0, 1, 2}},
	} {
		if got := twinAccounts(tc.nodes, min(tc.twins, tc.nodes)); !slices.Equal(got, tc.want) {
			t.Errorf("twinAccounts(%d, %d) = %v, want %v", tc.nodes, tc.twins, got, tc.want)
		}
	}
}

// TestReaders: a message to an account on two devices is read at both;
// what one device of an account writes is read at its other device too,
// not at itself; a conversation's at the other members' first devices.
func TestReaders(t *testing.T) {
	s := &run{}
	for _, u := range []string{"u0", "u1", "u2"} {
		s.nodes = append(s.nodes, &node{user: u})
	}
	s.twins = []*node{{user: "u0", dev: 1}}
	s.groups = []group{{id: "#g", members: []int{0, 1, 2}}}
	at := func(rs []reader) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.at.name()+" with "+r.with)
		}
		return out
	}
	for _, tc := range []struct {
		c    Conv
		want []string
	}{
		{Conv{From: "u1", To: "u0"}, []string{"u0 with u1", "u0#2 with u1"}},
		{Conv{From: "u0", To: "u1"}, []string{"u1 with u0", "u0#2 with u1"}},
		{Conv{From: "u0", To: "u1", Dev: 1}, []string{"u1 with u0", "u0 with u1"}},
		{Conv{From: "u1", To: "u2"}, []string{"u2 with u1"}},
		{Conv{From: "u1", To: "#g"}, []string{"u0 with #g", "u0#2 with #g", "u2 with #g"}},
		{Conv{From: "u0", To: "#g", Dev: 1}, []string{"u1 with #g", "u2 with #g", "u0 with #g"}},
	} {
		if got := at(s.readers(tc.c)); !slices.Equal(got, tc.want) {
			t.Errorf("readers(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	if got := s.twinOf(0); got != 3 {
		t.Errorf("twinOf(0) = %d, want 3 (all()'s index)", got)
	}
	if got := s.twinOf(1); got != -1 {
		t.Errorf("twinOf(1) = %d, want -1", got)
	}
}
