package app

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// hit is a search hit as the node gives it, the marks on every occurrence
// of word in text.
func hit(seq int64, from, to, text, word string) api.HistoryHit {
	h := api.HistoryHit{
		Message: api.Message{ID: fmt.Sprintf("m%d", seq), From: from, To: to, Text: text,
			Time: time.Date(2026, 3, 4, 12, 30, 0, 0, time.Local), State: api.StateReceived},
		Seq: seq, Snippet: text,
	}
	lower := strings.ToLower(text)
	for at := 0; word != ""; {
		i := strings.Index(lower[at:], word)
		if i < 0 {
			break
		}
		h.Marks = append(h.Marks, [2]int{at + i, at + i + len(word)})
		at += i + len(word)
	}
	return h
}

// historyApp is alice signed in with contacts bob and carol and a history
// viewer opened from the File menu whose searches run as soon as typed.
func historyApp(t *testing.T) (*App, *fakeAPI, *historyWindow) {
	t.Helper()
	a, fake := signedIn(t)
	for _, c := range []api.Contact{contact("bob", api.StatusOnline), contact("carol", api.StatusAway)} {
		a.apply(api.Event{Contact: &c})
	}
	fake.Hits = []api.HistoryHit{
		hit(9, "bob", "alice", "Lunch at noon? lunch is on me", "lunch"),
		hit(7, "alice", "carol", "no lunch today, sorry", "lunch"),
		hit(5, "carol", "alice", "see you at the concert", "concert"),
		hit(2, "alice", "bob", "lunch tomorrow?", "lunch"),
	}
	var item *fyne.MenuItem
	for _, m := range a.main.win.MainMenu().Items {
		for _, it := range m.Items {
			if it.Label == "View history..." {
				item = it
			}
		}
	}
	if item == nil {
		t.Fatal("no View history... in the main window's menus")
	}
	item.Action()
	h := a.history
	if h == nil || !slices.Contains(a.fyne.Driver().AllWindows(), h.win) {
		t.Fatal("View history... opened no window")
	}
	h.debounce = func(run func()) { run() }
	h.win.Resize(fyne.NewSize(560, 520))
	return a, fake, h
}

// shownRows is what the result list shows: "name | when | snippet" with
// the bold words in [brackets].
func shownHits(t *testing.T, h *historyWindow) []string {
	t.Helper()
	var out []string
	for _, o := range test.LaidOutObjects(h.list) {
		r, ok := o.(*historyRow)
		if !ok || !r.Visible() {
			continue
		}
		out = append(out, r.name.Text+" | "+r.when.Text+" | "+drawnText(r.snippet))
	}
	return out
}

// drawnText is what m draws, left to right: its runs of text, the bold
// ones in [brackets], and its emoticons as <name>; a gap between two
// pieces shows as a space.
func drawnText(m *messageText) string {
	objs := test.WidgetRenderer(m).Objects()
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(a, b fyne.CanvasObject) int {
		return cmp.Compare(a.Position().X, b.Position().X)
	})
	var b strings.Builder
	end := float32(0)
	for i, o := range objs {
		if i > 0 && o.Position().X > end+0.5 {
			b.WriteString(" ")
		}
		end = o.Position().X + o.Size().Width
		switch o := o.(type) {
		case *canvas.Text:
			if o.TextStyle.Bold {
				b.WriteString("[" + o.Text + "]")
			} else {
				b.WriteString(o.Text)
			}
		case *canvas.Image:
			name := strings.TrimSuffix(strings.TrimPrefix(o.Resource.Name(), "emoticon-"), ".png")
			b.WriteString("<" + name + ">")
		}
	}
	return b.String()
}

func searchCalls(fake *fakeAPI) []string {
	var out []string
	for _, c := range fake.Calls() {
		if strings.HasPrefix(c, "SearchHistory") {
			out = append(out, c)
		}
	}
	return out
}

func TestHistorySearch(t *testing.T) {
	_, fake, h := historyApp(t)
	if got := h.win.Title(); got != "Message history (test)" {
		t.Errorf("title %q", got)
	}
	if h.win.Canvas().Focused() != h.search {
		t.Error("the search box does not have the focus")
	}
	test.Type(h.search, "lunch")
	// Filtering as you type: each pause searched what the box held.
	if got := searchCalls(fake); !slices.Equal(got, []string{`SearchHistory "l" "" 50 0`, `SearchHistory "lu" "" 50 0`,
		`SearchHistory "lun" "" 50 0`, `SearchHistory "lunc" "" 50 0`, `SearchHistory "lunch" "" 50 0`}) {
		t.Errorf("searches %q", got)
	}
	when := time.Date(2026, 3, 4, 12, 30, 0, 0, time.Local).Format("Mon 2 Jan 2006 15:04")
	want := []string{
		"Bob | " + when + " | [Lunch] at noon? [lunch] is on me",
		"You to Carol | " + when + " | no [lunch] today, sorry",
		"You to Bob | " + when + " | [lunch] tomorrow?",
	}
	if got := shownHits(t, h); !slices.Equal(got, want) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
	if h.status.Text != "3 messages found." || h.more.Visible() {
		t.Errorf("status %q, more shown %v", h.status.Text, h.more.Visible())
	}

	// Every word must match.
	test.Type(h.search, " noon")
	if got := shownHits(t, h); len(got) != 1 || !strings.HasPrefix(got[0], "Bob |") {
		t.Errorf("lunch noon: rows %q", got)
	}

	// The "with" filter: every contact, by name, then back to all.
	if !slices.Equal(h.with.Options, []string{allContacts(), "Bob (bob)", "Carol (carol)"}) {
		t.Fatalf("with options %q", h.with.Options)
	}
	h.search.SetText("lunch")
	h.with.SetSelected("Carol (carol)")
	if got := shownHits(t, h); len(got) != 1 || !strings.HasPrefix(got[0], "You to Carol |") {
		t.Errorf("with carol: rows %q", got)
	}
	if calls := searchCalls(fake); calls[len(calls)-1] != `SearchHistory "lunch" "carol" 50 0` {
		t.Errorf("last search %q", calls[len(calls)-1])
	}
	h.with.SetSelected(allContacts())
	if got := shownHits(t, h); len(got) != 3 {
		t.Errorf("all contacts again: rows %q", got)
	}

	// Nothing found is said, not shown as an error.
	h.search.SetText("zeppelin")
	if len(shownHits(t, h)) != 0 || h.status.Text != "No messages found." {
		t.Errorf("zeppelin: rows %q, status %q", shownHits(t, h), h.status.Text)
	}
}

func TestHistoryEmptyQuery(t *testing.T) {
	_, fake, h := historyApp(t)
	test.Type(h.search, "lunch")
	if len(shownHits(t, h)) != 3 {
		t.Fatal("no results to clear")
	}
	before := len(searchCalls(fake))
	h.search.SetText("")
	if len(shownHits(t, h)) != 0 || h.status.Text != browseHint() || h.more.Visible() {
		t.Errorf("empty box: rows %q, status %q", shownHits(t, h), h.status.Text)
	}
	h.search.SetText("   ")
	if got := len(searchCalls(fake)); got != before {
		t.Errorf("an empty box searched: %q", searchCalls(fake)[before:])
	}
	// Only punctuation: the node refuses it; the window just asks for a word.
	h.search.SetText("?!")
	if len(shownHits(t, h)) != 0 || h.status.Text != "Type a word to search." {
		t.Errorf("punctuation: rows %q, status %q", shownHits(t, h), h.status.Text)
	}
	for _, w := range fyne.CurrentApp().Driver().AllWindows() {
		if c := w.Canvas(); c != nil && len(c.Overlays().List()) > 0 {
			t.Errorf("window %q shows a dialog", w.Title())
		}
	}
}

func TestHistoryOpensChat(t *testing.T) {
	a, _, h := historyApp(t)
	test.Type(h.search, "concert")
	if got := shownHits(t, h); len(got) != 1 {
		t.Fatalf("rows %q", got)
	}
	h.list.Select(0)
	chat := a.chats["carol"]
	if chat == nil || !chat.shown {
		t.Fatal("activating a hit did not open the conversation with carol")
	}
	// Our own message opens the conversation with its recipient.
	h.search.SetText("tomorrow")
	h.list.Select(0)
	if chat := a.chats["bob"]; chat == nil || !chat.shown {
		t.Fatal("activating our own message did not open the conversation with bob")
	}
}

func TestHistoryPaging(t *testing.T) {
	_, fake, h := historyApp(t)
	fake.Hits = nil
	for seq := int64(120); seq > 0; seq-- {
		fake.Hits = append(fake.Hits, hit(seq, "bob", "alice", fmt.Sprintf("note %d", seq), "note"))
	}
	test.Type(h.search, "note")
	if len(h.hits) != historyPage || !h.more.Visible() || h.status.Text != "50 messages found so far." {
		t.Fatalf("first page: %d hits, more %v, status %q", len(h.hits), h.more.Visible(), h.status.Text)
	}
	test.Tap(h.more)
	test.Tap(h.more)
	if len(h.hits) != 120 || h.more.Visible() || h.status.Text != "120 messages found." {
		t.Fatalf("after paging: %d hits, more %v, status %q", len(h.hits), h.more.Visible(), h.status.Text)
	}
	for i, hit := range h.hits {
		if want := int64(120 - i); hit.Seq != want {
			t.Fatalf("hit %d has seq %d, want %d (in order, no repeats)", i, hit.Seq, want)
		}
	}
	// A new search starts from the first page again.
	h.search.SetText("note 7")
	if len(h.hits) > historyPage || h.hits[0].Seq != 117 {
		t.Errorf("new search: %d hits from seq %d", len(h.hits), h.hits[0].Seq)
	}
}

// TestHistoryDebounce types with the real debounce: one search, once the
// typing pauses.
//
// Fyne's test driver runs fyne.Do at once on the calling goroutine — here
// the debounce timer's — where the real driver hands the function to the
// UI goroutine. So the timer's function is passed back to this goroutine,
// which stands for the UI's: the debounce runs as it is, its timer and all,
// and every widget is touched from one goroutine, as in the app.
func TestHistoryDebounce(t *testing.T) {
	a, fake := signedIn(t)
	a.showHistory()
	h := a.history
	due := make(chan func(), 8)
	debounce := h.debounce
	h.debounce = func(run func()) { debounce(func() { due <- run }) }
	test.Type(h.search, "lunch")
	select {
	case run := <-due:
		run()
	case <-time.After(10 * time.Second):
		t.Fatal("no search after typing paused")
	}
	select {
	case <-due:
		t.Error("a second search for one pause in typing")
	case <-time.After(2 * searchDelay):
	}
	if got := searchCalls(fake); !slices.Equal(got, []string{`SearchHistory "lunch" "" 50 0`}) {
		t.Errorf("searches %q, want one for the whole word", got)
	}
}

func TestHistorySignOutForgetsSearch(t *testing.T) {
	a, _, h := historyApp(t)
	test.Type(h.search, "lunch")
	h.with.SetSelected("Bob (bob)")
	a.apply(api.Event{SignedOut: true})
	if h.search.Text != "" || len(h.hits) != 0 || h.with.Selected != allContacts() || h.win == nil {
		t.Errorf("after sign-out: search %q, %d hits, with %q", h.search.Text, len(h.hits), h.with.Selected)
	}
}

// TestMarkPieces: a snippet's marked words are bold pieces, emoticons
// stay pictures, and bad marks are ignored, never a panic or a cut
// character.
func TestMarkPieces(t *testing.T) {
	show := func(ps []textPiece) string {
		var b strings.Builder
		for _, p := range ps {
			switch {
			case p.Emoticon:
				b.WriteString("<" + p.Text + ">")
			case p.Bold:
				b.WriteString("[" + p.Text + "]")
			default:
				b.WriteString(p.Text)
			}
		}
		return b.String()
	}
	for _, tc := range []struct {
		snippet string
		marks   [][2]int
		want    string
	}{
		{"say hi", [][2]int{{4, 6}}, "say [hi]"},
		{"hi hi", [][2]int{{0, 2}, {3, 5}}, "[hi] [hi]"},
		{"plain", nil, "plain"},
		{"", nil, ""},
		{"…Grüße aus", [][2]int{{3, 10}}, "…[Grüße] aus"},
		{"lunch :) at noon", [][2]int{{0, 5}, {12, 16}}, "[lunch] <:)> at [noon]"},
		{"abc", [][2]int{{2, 9}}, "abc"},
		{"abc", [][2]int{{-1, 1}}, "abc"},
		{"abc", [][2]int{{2, 1}}, "abc"},
		{"abc abc", [][2]int{{4, 7}, {0, 3}}, "abc [abc]"},
		{"ü", [][2]int{{1, 2}}, "ü"},
	} {
		if got := show(markPieces(parseEmoticons(tc.snippet), tc.snippet, tc.marks)); got != tc.want {
			t.Errorf("markPieces(%q, %v) = %q, want %q", tc.snippet, tc.marks, got, tc.want)
		}
	}
}

// TestHistoryConversationHit: a hit in a multi-party conversation names its
// author and the conversation, and opens the conversation, not a chat with
// its author alone.
func TestHistoryConversationHit(t *testing.T) {
	a, fake, h := historyApp(t)
	id := "#000000000000000000000000000000ee"
	a.apply(api.Event{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: id,
		Members: []string{"alice", "bob", "carol"}}, Joined: "carol", By: "alice"}})
	fake.Hits = []api.HistoryHit{hit(11, "bob", id, "picnic on sunday", "picnic")}
	test.Type(h.search, "picnic")
	if got := shownHits(t, h); len(got) != 1 || !strings.HasPrefix(got[0], "Bob in Bob and Carol |") {
		t.Fatalf("rows %q", got)
	}
	h.list.Select(0)
	if chat := a.chats[id]; chat == nil || !chat.shown {
		t.Fatal("the hit did not open the conversation")
	}
	if a.chats["bob"] != nil && a.chats["bob"].shown {
		t.Fatal("the hit opened a chat with its author alone")
	}
}

// TestHistoryBrowseByDay: with no words typed, choosing a contact shows
// the conversation with them newest first under day headings, a page at a
// time with "Older messages" (issue 14, item 6: the window was blank until
// something was typed).
func TestHistoryBrowseByDay(t *testing.T) {
	a, fake, h := historyApp(t)
	if h.status.Text != browseHint() || len(h.rows) != 0 {
		t.Fatalf("opened without a contact: status %q, %d rows", h.status.Text, len(h.rows))
	}
	// 60 messages over three days, oldest first as the node keeps them.
	start := time.Date(2026, 11, 19, 9, 0, 0, 0, time.Local)
	var msgs []api.Message
	for i := range 60 {
		from, to := "bob", "alice"
		if i%2 == 1 {
			from, to = to, from
		}
		msgs = append(msgs, api.Message{ID: fmt.Sprintf("b%02d", i), From: from, To: to, Text: fmt.Sprintf("message %d", i),
			Time: start.Add(time.Duration(i/20)*24*time.Hour + time.Duration(i%20)*time.Minute), State: api.StateReceived})
	}
	fake.Messages = map[string][]api.Message{"bob": msgs}

	h.with.SetSelected("Bob (bob)")
	if !fake.Called(`History bob 50 ""`) {
		t.Fatalf("calls %v", fake.Calls())
	}
	if len(h.hits) != historyPage || h.hits[0].ID != "b59" || h.hits[historyPage-1].ID != "b10" {
		t.Fatalf("first page: %d messages, from %s to %s", len(h.hits), h.hits[0].ID, h.hits[len(h.hits)-1].ID)
	}
	headings := func() []string {
		var out []string
		for _, r := range h.rows {
			if r.day != "" {
				out = append(out, r.day)
			}
		}
		return out
	}
	want := []string{"Saturday 21 November 2026", "Friday 20 November 2026", "Thursday 19 November 2026"}
	if got := headings(); !slices.Equal(got, want) {
		t.Fatalf("day headings %q, want %q", got, want)
	}
	if h.rows[0].day == "" || h.rows[1].hit.ID != "b59" {
		t.Fatalf("the list does not start with the newest day and its newest message: %+v", h.rows[:2])
	}
	if !h.more.Visible() || h.more.Text != "Older messages" || !strings.Contains(h.status.Text, "conversation with Bob") {
		t.Fatalf("more %v %q, status %q", h.more.Visible(), h.more.Text, h.status.Text)
	}
	// Drawn as the person sees it: a heading, then who said what.
	if got := shownHits(t, h); len(got) < 2 || !strings.HasPrefix(got[0], "Saturday 21 November 2026 |") ||
		!strings.HasPrefix(got[1], "You to Bob | 09:19 | message 59") {
		t.Fatalf("rows shown %q", got[:min(3, len(got))])
	}

	test.Tap(h.more)
	if !fake.Called(`History bob 50 "b10"`) || len(h.hits) != 60 || h.hits[59].ID != "b00" || h.more.Visible() {
		t.Fatalf("after Older messages: %d messages, last %s, more %v; calls %v", len(h.hits), h.hits[len(h.hits)-1].ID,
			h.more.Visible(), fake.Calls())
	}
	if got := headings(); !slices.Equal(got, want) {
		t.Fatalf("after paging, day headings %q", got)
	}
	// A heading opens nothing; a message opens the conversation.
	h.list.Select(0)
	if a.chats["bob"] != nil && a.chats["bob"].shown {
		t.Fatal("a day heading opened the conversation")
	}
	h.list.Select(1)
	if c := a.chats["bob"]; c == nil || !c.shown {
		t.Fatal("a message did not open the conversation")
	}
	// Typing words searches instead; emptying the box browses again.
	test.Type(h.search, "lunch")
	if len(headings()) != 0 || h.more.Text != "More results" {
		t.Fatalf("searching shows headings %q, more %q", headings(), h.more.Text)
	}
	h.search.SetText("")
	if len(headings()) != 3 || len(h.hits) != historyPage {
		t.Fatalf("browsing again: %d headings, %d messages", len(headings()), len(h.hits))
	}
	// A contact with no messages yet says so.
	h.with.SetSelected("Carol (carol)")
	if len(h.rows) != 0 || h.status.Text != "You have no messages with Carol yet." {
		t.Fatalf("carol: %d rows, status %q", len(h.rows), h.status.Text)
	}
}
