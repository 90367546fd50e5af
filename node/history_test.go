package node

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"eserver/node/api"
)

// TestSearchHistory: alice and bob chat over real hosts; each finds the
// conversation in their own history, newest first, with marks on the words.
func TestSearchHistory(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	carol := newTestNode(t, server, "carol")

	if _, err := alice.SearchHistory(ctx(t), api.HistoryQuery{Text: "x"}); err != nil {
		t.Fatalf("search of an empty history: %v", err)
	}
	if _, err := carol.SearchHistory(ctx(t), api.HistoryQuery{Text: "lunch"}); !errors.Is(err, api.ErrNotLoggedIn) {
		t.Fatalf("search while signed out: %v, want ErrNotLoggedIn", err)
	}

	texts := []struct {
		from *testNode
		to   string
		text string
	}{
		{alice, "bob", "Shall we have lunch on Friday?"},
		{bob, "alice", "Friday works. The Thai place?"},
		{alice, "bob", "Thai it is — see you at lunch"},
	}
	var ids []string
	for _, m := range texts {
		id, err := m.from.Send(ctx(t), m.to, m.text)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		other := bob
		if m.from == bob {
			other = alice
		}
		other.collect(m.from.name, 1)
	}

	for _, tn := range []*testNode{alice, bob} {
		peer := "bob"
		if tn == bob {
			peer = "alice"
		}
		hits, err := tn.SearchHistory(ctx(t), api.HistoryQuery{Text: "LUNCH"})
		if err != nil {
			t.Fatalf("%s: %v", tn.name, err)
		}
		if got := hitIDs(hits); !slices.Equal(got, []string{ids[2], ids[0]}) {
			t.Fatalf("%s: lunch hits %v, want %v (newest first)", tn.name, got, []string{ids[2], ids[0]})
		}
		h := hits[0]
		if h.From != "alice" || h.To != "bob" || h.Text != texts[2].text || h.Seq <= hits[1].Seq || h.Time.IsZero() {
			t.Errorf("%s: hit %+v", tn.name, h)
		}
		if len(h.Marks) != 1 || h.Snippet[h.Marks[0][0]:h.Marks[0][1]] != "lunch" {
			t.Errorf("%s: snippet %q marks %v", tn.name, h.Snippet, h.Marks)
		}
		// The last word is a prefix, every word must match, With filters.
		for _, tc := range []struct {
			q    api.HistoryQuery
			want []string
		}{
			{api.HistoryQuery{Text: "thai pl"}, []string{ids[1]}},
			{api.HistoryQuery{Text: "fri"}, []string{ids[1], ids[0]}},
			{api.HistoryQuery{Text: "friday", With: peer}, []string{ids[1], ids[0]}},
			{api.HistoryQuery{Text: "friday", With: "carol"}, nil},
			{api.HistoryQuery{Text: "lunch", Limit: 1}, []string{ids[2]}},
			{api.HistoryQuery{Text: "lunch", Before: hits[0].Seq}, []string{ids[0]}},
		} {
			got, err := tn.SearchHistory(ctx(t), tc.q)
			if err != nil || !slices.Equal(hitIDs(got), tc.want) {
				t.Errorf("%s: %+v: %v, %v; want %v", tn.name, tc.q, hitIDs(got), err, tc.want)
			}
		}
		for _, q := range []api.HistoryQuery{
			{Text: ""}, {Text: " ?! "}, {Text: strings.Repeat("word ", 40)},
			{Text: "lunch", Limit: -1}, {Text: "lunch", Before: -1},
			{Text: "lunch", With: "Not A Name!"}, {Text: "lunch", With: tn.name},
		} {
			if _, err := tn.SearchHistory(ctx(t), q); !errors.Is(err, api.ErrBadRequest) {
				t.Errorf("%s: %+v: %v, want ErrBadRequest", tn.name, q, err)
			}
		}
	}
}

func hitIDs(hs []api.HistoryHit) []string {
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	return ids
}
