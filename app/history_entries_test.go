package app

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// bobEntries is a conversation with bob as the node keeps it, oldest
// first: a message with an emoticon, nudges both ways and two files.
func bobEntries(at time.Time) []api.Message {
	min := func(n int) time.Time { return at.Add(time.Duration(n) * time.Minute) }
	return []api.Message{
		{ID: "m1", From: "bob", To: "alice", Text: "hi alice :) lunch?", Time: min(1), State: api.StateReceived},
		{ID: "n1", From: "bob", To: "alice", Kind: api.KindNudge, Time: min(2), State: api.StateReceived},
		{ID: "n2", From: "alice", To: "bob", Kind: api.KindNudge, Time: min(3), State: api.StateDelivered},
		{ID: "f1", From: "alice", To: "bob", Kind: api.KindFile, Text: "zanzibar.png", Time: min(4), State: api.StateDelivered,
			File: &api.FileNote{Size: 19 << 10, State: api.TransferDone}},
		{ID: "f2", From: "bob", To: "alice", Kind: api.KindFile, Text: "menu.pdf", Time: min(5), State: api.StateReceived,
			File: &api.FileNote{Size: 3 << 20, State: api.TransferDone}},
	}
}

// TestHistoryShowsEntries (issue 14, item 6): browsing a conversation by
// day shows its nudges and files as the chat window told them, in order
// with the messages, and a message's emoticons as pictures; a search that
// finds a file shows its line with the matched words in bold, and a
// conversation's events read as its window said them.
func TestHistoryShowsEntries(t *testing.T) {
	a, fake, h := historyApp(t)
	at := time.Date(2026, 11, 21, 12, 30, 0, 0, time.Local)
	fake.Messages = map[string][]api.Message{"bob": bobEntries(at)}
	h.with.SetSelected("Bob (bob)")
	want := []string{
		"Saturday 21 November 2026 |  | ",
		"Bob | 12:35 | menu.pdf (3.0 MB) received from Bob.",
		"You to Bob | 12:34 | zanzibar.png (19 KB) sent to Bob.",
		"You to Bob | 12:33 | You have just sent a nudge.",
		"Bob | 12:32 | Bob has just sent you a nudge!",
		"Bob | 12:31 | hi alice <smile> lunch?",
	}
	if got := shownHits(t, h); !slices.Equal(got, want) {
		t.Fatalf("browsing bob:\n%q\nwant\n%q", got, want)
	}

	conv := "#000000000000000000000000000000ee"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: conv,
		Members: []string{"alice", "bob", "carol"}}, Joined: "alice", By: "bob"}})
	entry := func(seq int64, m api.Message, marks ...[2]int) api.HistoryHit {
		m.Time = at
		return api.HistoryHit{Message: m, Seq: seq, Snippet: m.Text, Marks: marks}
	}
	fake.Hits = []api.HistoryHit{
		entry(9, api.Message{ID: "f9", From: "bob", To: "alice", Kind: api.KindFile, Text: "zanzibar beach.jpg",
			File: &api.FileNote{Size: 2 << 10, State: api.TransferDeclined}}, [2]int{0, 8}),
	}
	test.Type(h.search, "zanzibar")
	when := at.Format("Mon 2 Jan 2006 15:04")
	want = []string{"Bob | " + when + " | You declined [zanzibar] beach.jpg (2 KB) from Bob."}
	if got := shownHits(t, h); !slices.Equal(got, want) {
		t.Fatalf("a file found:\n%q\nwant\n%q", got, want)
	}
	// A conversation's events, named as its window named them.
	fake.Hits = []api.HistoryHit{
		entry(8, api.Message{ID: "j1", From: "bob", To: conv, Kind: api.KindJoined, Text: "alice"}),
		entry(7, api.Message{ID: "j2", From: "alice", To: conv, Kind: api.KindJoined, Text: "carol"}),
		entry(6, api.Message{ID: "l1", From: "carol", To: conv, Kind: api.KindLeft, Text: "carol"}),
		entry(5, api.Message{ID: "l2", From: "alice", To: conv, Kind: api.KindLeft, Text: "alice"}),
	}
	h.with.SetSelected(allContacts())
	h.search.SetText("a") // in every member's username
	want = []string{
		"Bob in Bob and Carol | " + when + " | Bob invited you into a conversation with Carol.",
		"You in Bob and Carol | " + when + " | You invited Carol.",
		"Carol in Bob and Carol | " + when + " | Carol has left the conversation.",
		"You in Bob and Carol | " + when + " | You have left the conversation.",
	}
	if got := shownHits(t, h); !slices.Equal(got, want) {
		t.Fatalf("conversation events:\n%q\nwant\n%q", got, want)
	}
	// Clicking an entry's text opens its conversation, as a message does:
	// the text takes the tap, and hands it to the row.
	var row *historyRow
	for _, o := range test.LaidOutObjects(h.list) {
		if r, ok := o.(*historyRow); ok && r.Visible() && row == nil {
			row = r
		}
	}
	test.Tap(row.snippet)
	if c := a.chats[conv]; c == nil || !c.shown {
		t.Fatal("an entry did not open its conversation")
	}
}

// TestEllipsize: a one-line text cut at the width ends in an ellipsis,
// runs cut between letters, an emoticon that does not fit left out.
func TestEllipsize(t *testing.T) {
	measure := func(s string, bold bool) float32 {
		w := float32(utf8.RuneCountInString(s)) * 10
		if bold {
			w += 2
		}
		return w
	}
	for _, tc := range []struct {
		in   string
		maxW float32
		want string
	}{
		{"hello world", 200, "hello world"},
		{"hello world", 80, "hello w…"},
		{"hi :) there", 50, "hi…"},
		{"hi :) there", 70, "hi <:)>…"},
		{"abc", 5, "…"},
	} {
		items, _ := flowLayoutStyled(flowTokens(parseEmoticons(tc.in)), float32(math.Inf(1)), measure, 20)
		var b strings.Builder
		for i, it := range ellipsize(items, tc.maxW, measure) {
			if i > 0 && it.text != ellipsis {
				b.WriteString(" ")
			}
			if it.emoticon {
				b.WriteString("<" + it.text + ">")
			} else {
				b.WriteString(it.text)
			}
		}
		if got := b.String(); got != tc.want {
			t.Errorf("ellipsize(%q, %v) = %q, want %q", tc.in, tc.maxW, got, tc.want)
		}
	}
}

// TestChatShowsEntries: a conversation opened again shows the nudges and
// files of its history as lines among the messages — once, also when the
// window showed one before its history arrived.
func TestChatShowsEntries(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 30, 0, 0, time.Local)
	useFakeClock(t, at.Add(time.Hour))
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	fake.Messages = map[string][]api.Message{"bob": bobEntries(at)}
	a.openChat("bob")
	c := a.chats["bob"]
	want := []string{
		"— " + c.days[0].label.Text + " —",
		"hi alice :) lunch?",
		"! Bob has just sent you a nudge!",
		"! You have just sent a nudge.",
		"! zanzibar.png (19 KB) sent to Bob.",
		"! menu.pdf (3.0 MB) received from Bob.",
	}
	if got := conversation(c); !slices.Equal(got, want) {
		t.Fatalf("reopened conversation:\n%q\nwant\n%q", got, want)
	}

	// The window shows a nudge and a file's end before its history comes.
	c.hide()
	delete(a.chats, "bob")
	fake.Messages = map[string][]api.Message{}
	a.apply(api.Event{Nudge: &api.NudgeEvent{From: "bob", Time: at.Add(2 * time.Minute)}})
	c = a.chats["bob"]
	c.setTransfer(api.Transfer{ID: "f2", Peer: "bob", Name: "menu.pdf", Size: 3 << 20, State: api.TransferDone})
	c.setHistory(bobEntries(at))
	n := map[string]int{}
	for _, line := range conversation(c) {
		n[line]++
	}
	if n["! Bob has just sent you a nudge!"] != 1 || n["! menu.pdf (3.0 MB) received from Bob."] != 1 || n["hi alice :) lunch?"] != 1 {
		t.Fatalf("lines told twice or not at all: %q", conversation(c))
	}
}
