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

// TestHistoryEntries: what the chat window shows between messages — a
// nudge, a file that arrived, someone invited into a conversation and
// leaving it — is in both sides' history in order with the messages, and
// search finds it.
func TestHistoryEntries(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	carol := newTestNode(t, server, "carol")
	carol.register()
	carol.login()
	befriend(t, alice, carol)

	if _, err := alice.Send(ctx(t), "bob", "look at this"); err != nil {
		t.Fatal(err)
	}
	bob.collect("alice", 1)
	if err := alice.Nudge(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("nudge", func(e api.Event) bool { return e.Nudge != nil })
	src, data := randomFile(t, t.TempDir(), "zanzibar.png", 19<<10)
	fileID, err := alice.SendFile(ctx(t), "bob", src)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(fileID, api.TransferIncoming)
	if err := bob.AcceptFile(ctx(t), fileID, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(fileID, api.TransferDone)
	alice.waitTransfer(fileID, api.TransferDone)

	type entry struct {
		kind     api.MessageKind
		from, to string
		text     string
	}
	entries := func(tn *testNode, with string) []entry {
		t.Helper()
		h, err := tn.History(ctx(t), with, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []entry
		for _, m := range h {
			out = append(out, entry{m.Kind, m.From, m.To, m.Text})
			if m.Kind == api.KindFile && (m.File == nil || m.File.Size != int64(len(data)) ||
				m.File.State != api.TransferDone || m.ID != fileID) {
				t.Errorf("%s: file entry %+v (%+v)", tn.name, m, m.File)
			}
		}
		return out
	}
	want := []entry{
		{api.KindMessage, "alice", "bob", "look at this"},
		{api.KindNudge, "alice", "bob", ""},
		{api.KindFile, "alice", "bob", "zanzibar.png"},
	}
	for _, tc := range []struct {
		tn   *testNode
		with string
	}{{alice, "bob"}, {bob, "alice"}} {
		if got := entries(tc.tn, tc.with); !slices.Equal(got, want) {
			t.Errorf("%s's history with %s:\n got %+v\nwant %+v", tc.tn.name, tc.with, got, want)
		}
		for q, kind := range map[string]api.MessageKind{"zanzib": api.KindFile, "nudge": api.KindNudge} {
			hits, err := tc.tn.SearchHistory(ctx(t), api.HistoryQuery{Text: q})
			if err != nil || len(hits) != 1 || hits[0].Kind != kind {
				t.Errorf("%s: search %q = %+v, %v", tc.tn.name, q, hits, err)
			}
		}
	}

	// alice brings carol in; carol leaves.
	conv, err := alice.Invite(ctx(t), "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{bob, carol} {
		tn.waitFor("the invitation", func(e api.Event) bool { return e.Conversation != nil && e.Conversation.ID == conv })
	}
	if err := carol.LeaveConversation(ctx(t), conv); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob} {
		tn.waitFor("carol leaving", func(e api.Event) bool { return e.Conversation != nil && e.Conversation.Left == "carol" })
	}
	for _, tc := range []struct {
		tn   *testNode
		want []entry
	}{
		{alice, []entry{{api.KindJoined, "alice", conv, "carol"}, {api.KindLeft, "carol", conv, "carol"}}},
		{bob, []entry{{api.KindJoined, "alice", conv, "bob"}, {api.KindLeft, "carol", conv, "carol"}}},
		{carol, []entry{{api.KindJoined, "alice", conv, "carol"}, {api.KindLeft, "carol", conv, "carol"}}},
	} {
		if got := entries(tc.tn, conv); !slices.Equal(got, tc.want) {
			t.Errorf("%s's history of the conversation:\n got %+v\nwant %+v", tc.tn.name, got, tc.want)
		}
	}
	if hits, err := bob.SearchHistory(ctx(t), api.HistoryQuery{Text: "carol left"}); err != nil || len(hits) != 1 || hits[0].Kind != api.KindLeft {
		t.Errorf("bob: search for carol leaving = %+v, %v", hits, err)
	}
}
